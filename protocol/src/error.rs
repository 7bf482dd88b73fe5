//! The protocol crate's errors. Whenever a peer caused one, it names the culprit.

use crate::ids::{PartyIndex, SchemeId, SessionId};

/// A message could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Bigger than the configured limit.
    #[error("message exceeds the {limit}-byte limit")]
    TooLarge {
        /// The limit in force.
        limit: u64,
    },
    /// Not a valid encoding.
    #[error("malformed message: {0}")]
    Malformed(String),
}

impl CodecError {
    pub(crate) fn from_bincode(e: &bincode::ErrorKind, limit: u64) -> Self {
        match e {
            bincode::ErrorKind::SizeLimit => CodecError::TooLarge { limit },
            other => CodecError::Malformed(other.to_string()),
        }
    }
}

/// Why a ceremony could not start, or ended without a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Threshold outside `2 <= t <= n`, or `n` too large.
    #[error("invalid threshold {threshold} of {parties}")]
    InvalidThreshold {
        /// Requested t.
        threshold: u16,
        /// Requested n.
        parties: u16,
    },
    /// A party index outside the committee.
    #[error("party {party} is not in a committee of {parties}")]
    UnknownParty {
        /// The index given.
        party: PartyIndex,
        /// Committee size.
        parties: u16,
    },
    /// Fewer signers than the threshold.
    #[error("signer set of {got} is smaller than the threshold {threshold}")]
    SignerSetTooSmall {
        /// Signers given.
        got: usize,
        /// Threshold of the key.
        threshold: u16,
    },
    /// The signer set is unusable for another reason (duplicates, this node not in it, a
    /// scheme that needs exactly t signers).
    #[error("invalid signer set: {0}")]
    InvalidSignerSet(String),
    /// The message to sign has the wrong shape for the scheme (e.g. not a 32-byte digest).
    #[error("invalid message to sign: {0}")]
    InvalidMessage(String),
    /// Material for one scheme handed to another.
    #[error("scheme mismatch: expected {expected}, got {got}")]
    SchemeMismatch {
        /// The scheme doing the work.
        expected: SchemeId,
        /// The scheme the material belongs to.
        got: SchemeId,
    },
    /// No scheme registered under that name.
    #[error("unknown scheme {0}")]
    UnknownScheme(SchemeId),
    /// The scheme does not implement this operation (yet).
    #[error("{scheme} does not support {operation}")]
    Unsupported {
        /// The scheme.
        scheme: SchemeId,
        /// The operation asked for.
        operation: &'static str,
    },
    /// The scheme needs a committee setup (CGGMP24 auxiliary info) that was not supplied or
    /// belongs to another committee.
    #[error("committee setup missing or mismatched: {0}")]
    SetupRequired(String),
    /// The safe-prime pool is empty; CGGMP24 setup cannot start without waiting minutes.
    #[error("no pregenerated safe primes available")]
    NoPrimesAvailable,
    /// Stored material (key share, setup, primes) did not decode or validate.
    #[error("corrupt or invalid stored material: {0}")]
    InvalidMaterial(String),

    /// A member sent a message that does not decode or does not fit the round.
    #[error("party {culprit} sent a malformed round-{round} message: {reason}")]
    Malformed {
        /// The sender.
        culprit: PartyIndex,
        /// The round of the envelope.
        round: u16,
        /// What was wrong.
        reason: String,
    },
    /// Zero-knowledge proof, commitment or share check failed.
    #[error("invalid proof or share from {culprits:?}: {reason}")]
    InvalidProof {
        /// The parties whose material failed verification.
        culprits: Vec<PartyIndex>,
        /// What the scheme reported.
        reason: String,
    },
    /// Two different messages for the same session, round and recipient from one sender.
    #[error("party {culprit} equivocated in round {round}")]
    Equivocation {
        /// The sender.
        culprit: PartyIndex,
        /// The round.
        round: u16,
    },
    /// A party reports a different view of an earlier broadcast round than ours: someone sent
    /// different broadcasts to different parties. The reporter is not necessarily the culprit.
    #[error("party {reported_by} saw a different round-{round} broadcast than we did")]
    InconsistentBroadcast {
        /// The party whose view differs.
        reported_by: PartyIndex,
        /// The broadcast round concerned.
        round: u16,
    },
    /// The scheme aborted; `culprits` lists whom it blamed, if anyone.
    #[error("ceremony aborted (blamed {culprits:?}): {reason}")]
    Aborted {
        /// Parties blamed by the scheme.
        culprits: Vec<PartyIndex>,
        /// The scheme's report.
        reason: String,
    },
    /// A round did not complete in time.
    #[error("round {round} timed out in session {session:?} waiting for {missing:?}")]
    Timeout {
        /// The session.
        session: SessionId,
        /// The round that stalled.
        round: u16,
        /// Parties whose messages never came.
        missing: Vec<PartyIndex>,
    },
    /// The ceremony already ended (with a result or an error); it accepts nothing more.
    #[error("ceremony already ended")]
    Finished,
    /// A signature failed verification.
    #[error("signature does not verify")]
    InvalidSignature,
    /// An encoding error on our own data.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A bug or an unexpected library failure not caused by any peer.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ProtocolError {
    /// The parties this error blames. Empty when no peer is at fault or blame is ambiguous.
    pub fn culprits(&self) -> Vec<PartyIndex> {
        match self {
            ProtocolError::Malformed { culprit, .. } | ProtocolError::Equivocation { culprit, .. } => {
                vec![*culprit]
            }
            ProtocolError::InvalidProof { culprits, .. } | ProtocolError::Aborted { culprits, .. } => culprits.clone(),
            ProtocolError::Timeout { missing, .. } => missing.clone(),
            _ => Vec::new(),
        }
    }

    /// True for failures a peer caused by cheating (as opposed to a timeout or a local error).
    /// A cryptographic failure must never be retried with the same material.
    pub fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            ProtocolError::Malformed { .. }
                | ProtocolError::InvalidProof { .. }
                | ProtocolError::Equivocation { .. }
                | ProtocolError::InconsistentBroadcast { .. }
                | ProtocolError::Aborted { .. }
        )
    }
}

/// Why one incoming message was set aside. Not fatal: the ceremony goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Belongs to another session (stale, replayed or misrouted).
    WrongSession {
        /// Claimed sender.
        sender: PartyIndex,
        /// The session it carried.
        session: SessionId,
    },
    /// Sender is not a participant of this ceremony.
    NotAParticipant {
        /// Claimed sender.
        sender: PartyIndex,
    },
    /// Claims to come from this node itself.
    FromSelf,
    /// Addressed to another party.
    NotForUs {
        /// Claimed sender.
        sender: PartyIndex,
        /// The addressee.
        recipient: PartyIndex,
    },
    /// A round number this ceremony does not have.
    UnknownRound {
        /// Claimed sender.
        sender: PartyIndex,
        /// The round it carried.
        round: u16,
    },
    /// The same message again (a replay or a retransmission); ignored.
    Duplicate {
        /// Sender.
        sender: PartyIndex,
        /// Round.
        round: u16,
    },
}
