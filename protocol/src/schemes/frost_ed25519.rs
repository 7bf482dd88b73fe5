//! FROST over Ed25519 (`frost-ed25519`): Solana keys and signatures.

use frost_ed25519::Ed25519Sha512;

use super::frost::{Flavor, FrostScheme};
use crate::error::ProtocolError;
use crate::ids::SchemeId;

/// The scheme id.
pub const ID: SchemeId = SchemeId::new_static("frost-ed25519");

/// Ed25519 flavour: 32-byte public keys, any message bytes.
pub struct Ed25519;

impl Flavor for Ed25519 {
    type C = Ed25519Sha512;
    const ID: SchemeId = ID;

    fn encode_public_key(key: &frost_core::VerifyingKey<Self::C>) -> Result<Vec<u8>, ProtocolError> {
        key.serialize().map_err(|e| ProtocolError::Internal(e.to_string()))
    }

    fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), ProtocolError> {
        let key = frost_ed25519::VerifyingKey::deserialize(public_key).map_err(|_| ProtocolError::InvalidSignature)?;
        let sig = frost_ed25519::Signature::deserialize(signature).map_err(|_| ProtocolError::InvalidSignature)?;
        key.verify(message, &sig).map_err(|_| ProtocolError::InvalidSignature)
    }

    fn check_message(_message: &[u8]) -> Result<(), ProtocolError> {
        Ok(())
    }
}

/// The adapter.
pub fn scheme() -> FrostScheme<Ed25519> {
    FrostScheme::new()
}
