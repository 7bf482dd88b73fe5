//! The coordinated abort: the party whose circuit breaker opened (or whose side of a DKG
//! failed) tells the others, signed with its node key. The abort carries each party's
//! broadcast state as the aborting party saw it and a Merkle root over them; a receiver acts
//! on it only if the signature, the membership, the session and those states agree with what
//! it saw itself.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::envelope::{decode_bounded, encode_bounded};
use crate::error::CodecError;
use crate::ids::{PartyIndex, SessionId};

/// Longest reason an abort carries, bytes.
pub const MAX_REASON: usize = 256;
/// Largest encoded abort body.
const MAX_BODY: u64 = 16 * 1024;

/// A party's broadcasts so far in a session: how many, and the hash over them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyState {
    /// The party.
    pub party: PartyIndex,
    /// Broadcasts admitted from it.
    pub count: u32,
    /// Hash over them, in round order.
    pub hash: [u8; 32],
}

/// What an abort says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbortBody {
    /// The session aborted.
    pub session: SessionId,
    /// Who aborts (the signer).
    pub by: PartyIndex,
    /// Why, in words (at most [`MAX_REASON`] bytes).
    pub reason: String,
    /// Whom it blames.
    pub blamed: Vec<PartyIndex>,
    /// For cheating (an invalid proof or share), rather than silence.
    pub misbehaviour: bool,
    /// Every other party's state as the signer saw it.
    pub states: Vec<PartyState>,
    /// [`merkle_root`] over `states`.
    pub root: [u8; 32],
}

/// An abort and its signature by the aborting node's identity key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedAbort {
    /// The encoded [`AbortBody`] (what is signed, after a domain tag).
    pub body: Vec<u8>,
    /// The signature.
    pub signature: Vec<u8>,
}

/// Why an abort was ignored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AbortRejection {
    /// The body does not decode, or its root does not match its states.
    #[error("malformed abort: {0}")]
    Malformed(String),
    /// The signature is not the claimed party's node key.
    #[error("abort signature does not verify for party {0}")]
    BadSignature(PartyIndex),
    /// The transport's sender is not the signer.
    #[error("abort signed by party {signer} relayed as party {sender}'s")]
    NotTheSigner {
        /// Who signed.
        signer: PartyIndex,
        /// Who sent.
        sender: PartyIndex,
    },
    /// The signer is not a participant of the session.
    #[error("party {0} is not a participant of the session it aborts")]
    NotAMember(PartyIndex),
    /// The session is unknown here or already ended (a replay).
    #[error("abort for a session not running here (unknown, ended or replayed)")]
    Stale,
    /// Its states contradict what this node saw.
    #[error("abort contradicts this node's view: {0}")]
    Disagrees(String),
}

impl AbortRejection {
    /// Stable label (metrics).
    pub fn label(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::BadSignature(_) => "bad_signature",
            Self::NotTheSigner { .. } => "not_the_signer",
            Self::NotAMember(_) => "not_a_member",
            Self::Stale => "stale",
            Self::Disagrees(_) => "disagrees",
        }
    }
}

impl AbortBody {
    /// A body over `states`, its root computed and its reason cut to [`MAX_REASON`].
    pub fn new(
        session: SessionId,
        by: PartyIndex,
        reason: &str,
        blamed: Vec<PartyIndex>,
        misbehaviour: bool,
        states: Vec<PartyState>,
    ) -> Self {
        let mut reason = reason.to_owned();
        if reason.len() > MAX_REASON {
            let mut cut = MAX_REASON;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
        }
        let root = merkle_root(&states);
        Self { session, by, reason, blamed, misbehaviour, states, root }
    }

    /// Encodes for signing.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        encode_bounded(self, MAX_BODY)
    }

    /// Decodes and checks the root and the reason's length.
    pub fn decode(bytes: &[u8]) -> Result<Self, AbortRejection> {
        let body: Self = decode_bounded(bytes, MAX_BODY).map_err(|e| AbortRejection::Malformed(e.to_string()))?;
        if body.reason.len() > MAX_REASON {
            return Err(AbortRejection::Malformed("reason too long".into()));
        }
        if merkle_root(&body.states) != body.root {
            return Err(AbortRejection::Malformed("root does not match the states".into()));
        }
        Ok(body)
    }
}

/// The bytes a node signs for an abort body: a domain tag, then the body.
pub fn signing_bytes(body: &[u8]) -> Vec<u8> {
    [b"mpc-node abort v1\0".as_slice(), body].concat()
}

/// The Merkle root over parties' states, in the order given (an odd node is paired with itself).
pub fn merkle_root(states: &[PartyState]) -> [u8; 32] {
    let mut level: Vec<[u8; 32]> = states
        .iter()
        .map(|s| {
            let mut h = Sha256::new();
            h.update([0u8]);
            h.update(s.party.to_be_bytes());
            h.update(s.count.to_be_bytes());
            h.update(s.hash);
            h.finalize().into()
        })
        .collect();
    if level.is_empty() {
        return [0; 32];
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| {
                let mut h = Sha256::new();
                h.update([1u8]);
                h.update(pair[0]);
                h.update(pair.get(1).unwrap_or(&pair[0]));
                h.finalize().into()
            })
            .collect();
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(party: PartyIndex, b: u8) -> PartyState {
        PartyState { party, count: 2, hash: [b; 32] }
    }

    #[test]
    fn a_tampered_state_or_root_is_refused() {
        let body = AbortBody::new(
            SessionId::derive("t", b"x"),
            1,
            "party 2 silent",
            vec![2],
            false,
            vec![state(0, 1), state(2, 3)],
        );
        let bytes = body.encode().unwrap();
        assert_eq!(AbortBody::decode(&bytes).unwrap(), body);
        let mut forged = body.clone();
        forged.states[1].hash = [9; 32];
        let err = AbortBody::decode(&forged.encode().unwrap()).unwrap_err();
        assert_eq!(err.label(), "malformed");
        assert_ne!(merkle_root(&[state(0, 1)]), merkle_root(&[state(0, 2)]));
        assert_eq!(AbortBody::new(body.session, 1, &"x".repeat(1000), vec![], false, vec![]).reason.len(), MAX_REASON);
    }
}
