//! The one envelope every ceremony message travels in, and its bounded codec.

use bincode::Options;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::error::CodecError;
use crate::ids::{PartyIndex, SessionId};

/// Largest envelope a node accepts by default. CGGMP24's auxiliary-info rounds carry the
/// biggest messages (Paillier proofs, a few hundred KiB at 128-bit security).
pub const MAX_ENVELOPE_BYTES: u64 = 4 * 1024 * 1024;

/// Who a message is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Recipient {
    /// Every other participant of the ceremony.
    Broadcast,
    /// One participant alone (private round; the transport must encrypt it).
    Party(PartyIndex),
}

/// A ceremony message: bound to one session and one round, from one sender.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The ceremony this message belongs to.
    pub session: SessionId,
    /// The round within the ceremony, starting at 1.
    pub round: u16,
    /// Committee index of the author.
    pub sender: PartyIndex,
    /// Broadcast or one recipient.
    pub recipient: Recipient,
    /// The scheme's round message, encoded by its adapter.
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("session", &self.session)
            .field("round", &self.round)
            .field("sender", &self.sender)
            .field("recipient", &self.recipient)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

impl Envelope {
    /// Encodes for the wire.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        encode_bounded(self, MAX_ENVELOPE_BYTES)
    }

    /// Decodes peer bytes; never panics, refuses anything over `MAX_ENVELOPE_BYTES` or with
    /// trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        decode_bounded(bytes, MAX_ENVELOPE_BYTES)
    }
}

fn options(limit: u64) -> impl Options {
    bincode::DefaultOptions::new().with_limit(limit).with_fixint_encoding().reject_trailing_bytes()
}

/// Encodes `value` with bincode, refusing to produce more than `limit` bytes.
pub fn encode_bounded<T: Serialize>(value: &T, limit: u64) -> Result<Vec<u8>, CodecError> {
    options(limit).serialize(value).map_err(|e| CodecError::from_bincode(&e, limit))
}

/// Decodes `bytes` with bincode under a size limit: oversized length prefixes are refused
/// before anything is allocated, and trailing bytes are an error.
pub fn decode_bounded<T: DeserializeOwned>(bytes: &[u8], limit: u64) -> Result<T, CodecError> {
    if bytes.len() as u64 > limit {
        return Err(CodecError::TooLarge { limit });
    }
    options(limit).deserialize(bytes).map_err(|e| CodecError::from_bincode(&e, limit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Envelope {
        Envelope {
            session: SessionId::derive("t", b"x"),
            round: 2,
            sender: 3,
            recipient: Recipient::Party(1),
            payload: vec![1, 2, 3],
        }
    }

    #[test]
    fn roundtrip() {
        let e = sample();
        assert_eq!(Envelope::decode(&e.encode().unwrap()), Ok(e));
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = sample().encode().unwrap();
        bytes.push(0);
        assert!(matches!(Envelope::decode(&bytes), Err(CodecError::Malformed(_))));
    }

    #[test]
    fn huge_length_prefix_is_refused_without_allocating() {
        let mut bytes = sample().encode().unwrap();
        // The payload length prefix sits 8 bytes before the payload's 3 bytes.
        let at = bytes.len() - 3 - 8;
        bytes[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        // Refused either by the limit or by running out of input; serde caps preallocation.
        assert!(Envelope::decode(&bytes).is_err());
        bytes[at..at + 8].copy_from_slice(&(MAX_ENVELOPE_BYTES + 1).to_le_bytes());
        bytes.resize(bytes.len() + MAX_ENVELOPE_BYTES as usize, 0);
        assert!(Envelope::decode(&bytes).is_err());
    }

    #[test]
    fn oversized_input_is_refused() {
        let big = vec![0u8; MAX_ENVELOPE_BYTES as usize + 1];
        assert!(matches!(Envelope::decode(&big), Err(CodecError::TooLarge { .. })));
    }

    proptest! {
        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Envelope::decode(&bytes);
        }

        #[test]
        fn flipped_bytes_never_panic(idx in 0usize..64, bit in 0u8..8) {
            let mut bytes = sample().encode().unwrap();
            let i = idx % bytes.len();
            bytes[i] ^= 1 << bit;
            let _ = Envelope::decode(&bytes);
        }
    }
}
