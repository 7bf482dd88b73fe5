//! What the session manager tells the rest of the node about ceremonies: the journal actor
//! records it, the metrics count it, the admin RPC shows it.

use protocol::{PartyIndex, PublicKey, SchemeId, SessionId, Signature, WalletId};
use store::CeremonyKind;

/// Where a session stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionStatus {
    /// Proposed; waiting for votes.
    Proposed,
    /// Running.
    Running,
    /// Committee setup finished and stored.
    SetupReady,
    /// Keygen finished and the share stored: the group key.
    KeyReady(PublicKey),
    /// Signing finished: one signature per payload, in order (each checked by this node).
    Signed(Vec<Signature>),
    /// Ended without a result, and why.
    Failed(SessionFailure),
    /// A presigning made this many presignatures, stored here.
    Presigned(u16),
}

/// Why a session ended without its result: typed, so a caller tells a refusal from an expiry,
/// a silent party from a cheating one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionFailure {
    /// Never started: a participant declined, or the proposal expired.
    #[error(transparent)]
    Abandoned(#[from] protocol::proposal::Abandoned),
    /// Every participant accepted but it could not start here.
    #[error("could not start: {0}")]
    NotStarted(String),
    /// It ran and failed (timeout, cheating, a contained panic, a store failure).
    #[error(transparent)]
    Ceremony(#[from] crate::session::SessionError),
}

impl SessionFailure {
    /// The parties blamed, if the ceremony named any.
    pub fn blamed(&self) -> Vec<PartyIndex> {
        match self {
            Self::Ceremony(e) => e.culprits(),
            Self::Abandoned(protocol::proposal::Abandoned::Unreachable { party }) => vec![*party],
            _ => Vec::new(),
        }
    }

    /// True when a participant's connection was lost and did not come back in time.
    pub fn unreachable(&self) -> bool {
        matches!(
            self,
            Self::Ceremony(crate::session::SessionError::Unreachable { .. })
                | Self::Abandoned(protocol::proposal::Abandoned::Unreachable { .. })
        )
    }

    /// True when it ran out of time waiting on a silent party (not cheating).
    pub fn timed_out(&self) -> bool {
        matches!(self, Self::Ceremony(crate::session::SessionError::Protocol(protocol::ProtocolError::Timeout { .. })))
    }
}

impl SessionStatus {
    /// True once the session can no longer change.
    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Proposed | Self::Running)
    }
}

/// One session as this node knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session.
    pub session: SessionId,
    /// What ceremony.
    pub kind: CeremonyKind,
    /// Its scheme (for a signing, known once the wallet is known here).
    pub scheme: Option<SchemeId>,
    /// The wallet created or used.
    pub wallet: Option<WalletId>,
    /// Who proposed it.
    pub proposer: PartyIndex,
    /// Who takes part.
    pub participants: Vec<PartyIndex>,
    /// Where it stands.
    pub status: SessionStatus,
    /// When this node first saw it, ms since the epoch.
    pub seen_ms: u64,
    /// When its session actor started here (`None`: never started: declined or expired).
    pub started_ms: Option<u64>,
    /// When it ended here, ms since the epoch.
    pub finished_ms: Option<u64>,
    /// The first party this node flagged in it (late, silent, refused) and how long after the
    /// start, ms.
    pub detected: Option<(PartyIndex, u64)>,
    /// Where its ceremony stood when last reported (kept after the end: where a failed one
    /// stopped).
    pub progress: Option<SessionProgress>,
}

/// A running ceremony's progress, as its session actor reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionProgress {
    /// The round it collects (the scheme's own numbering).
    pub round: u16,
    /// Rounds this node got through.
    pub completed: u16,
    /// How many rounds it has at most, if known.
    pub total: Option<u16>,
    /// Other participants heard from in the current round.
    pub heard: Vec<PartyIndex>,
    /// Other participants it still waits for in the current round.
    pub waiting: Vec<PartyIndex>,
    /// When the current round began, ms after the session started.
    pub round_started_ms: u64,
}

/// A ceremony's lifecycle, as the manager reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CeremonyEvent {
    /// Every participant accepted; this node started its session actor.
    Started {
        /// The session.
        session: SessionId,
        /// What ceremony.
        kind: CeremonyKind,
        /// Scheme.
        scheme: SchemeId,
        /// Wallet concerned.
        wallet: Option<WalletId>,
        /// Who takes part.
        participants: Vec<PartyIndex>,
    },
    /// The session produced its result (stored, for a setup or keygen).
    Completed {
        /// The session.
        session: SessionId,
        /// What ceremony.
        kind: CeremonyKind,
        /// Scheme.
        scheme: SchemeId,
        /// From start to result, ms.
        duration_ms: u64,
        /// For a signing of a transfer: its transaction.
        tx: Option<String>,
        /// For a signing: each signature with what it signs (kept in the journal).
        signatures: Vec<store::events::SignedPayload>,
    },
    /// The session ended without a result.
    Aborted {
        /// The session.
        session: SessionId,
        /// What ceremony.
        kind: CeremonyKind,
        /// Scheme.
        scheme: SchemeId,
        /// Why.
        reason: String,
        /// Parties blamed (cheating or silent).
        blamed: Vec<PartyIndex>,
        /// Cheating rather than silence or a local failure.
        misbehaviour: bool,
    },
    /// A proposal was abandoned before it started (declined or expired).
    Abandoned {
        /// The session it would have been.
        session: SessionId,
        /// Why.
        reason: String,
        /// Journaled: false for another member's proposal that this member never accepted
        /// (nothing of it ran here; a member flooding proposals must not fill the others'
        /// journals). Counted in the metrics either way.
        journaled: bool,
    },
    /// The DKG circuit breaker changed state.
    Breaker {
        /// The DKG that caused it, if one did.
        session: Option<SessionId>,
        /// Previous state.
        from: protocol::breaker::BreakerState,
        /// New state.
        to: protocol::breaker::BreakerState,
        /// Why.
        reason: String,
    },
    /// A coordinated abort was ignored (forged, unsigned, replayed, non-member, or at odds
    /// with what this node saw): counted, not journaled (a member could fill the journal).
    AbortIgnored {
        /// The session it named, if it decoded.
        session: Option<SessionId>,
        /// Who sent it.
        from: PartyIndex,
        /// Why, as a stable label.
        reason: &'static str,
    },
    /// A signing this node proposed used presignatures, or went without (and why).
    PoolUse {
        /// The wallet.
        wallet: WalletId,
        /// True when it named presignatures.
        hit: bool,
        /// `hit`, or why not: `raw` (a bare digest), `empty`, `fell_back` (a member lacked one).
        reason: &'static str,
    },
    /// Presignatures held here for a wallet and signer set, after a change.
    PoolLevel {
        /// The wallet.
        wallet: WalletId,
        /// The signer set.
        signers: Vec<PartyIndex>,
        /// How many are ready.
        level: usize,
    },
}

/// Something that wants to hear about ceremonies (the journal actor, metrics).
pub trait CeremonyListener: Send + Sync + 'static {
    /// Called once per event, in order, from the manager: must not block.
    fn on_ceremony(&self, event: &CeremonyEvent);
}
