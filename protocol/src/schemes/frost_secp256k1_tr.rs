//! FROST over secp256k1 with the Taproot ciphersuite (`frost-secp256k1-tr`): Bitcoin P2TR
//! key-path spends. The DKG already applies the BIP341 tweak with no script tree, so the group
//! key is the output key Q and plain signing yields BIP340 signatures valid under Q. Never call
//! the `*_with_tweak` functions on top: that would tweak twice.

use frost_secp256k1_tr::Secp256K1Sha256TR;
use k256::schnorr;

use super::frost::{Flavor, FrostScheme};
use crate::error::ProtocolError;
use crate::ids::SchemeId;

/// The scheme id.
pub const ID: SchemeId = SchemeId::new_static("frost-secp256k1-tr");

/// Taproot flavour: 32-byte x-only output keys, 32-byte sighash digests.
pub struct Taproot;

impl Flavor for Taproot {
    type C = Secp256K1Sha256TR;
    const ID: SchemeId = ID;

    fn encode_public_key(key: &frost_core::VerifyingKey<Self::C>) -> Result<Vec<u8>, ProtocolError> {
        let sec1 = key.serialize().map_err(|e| ProtocolError::Internal(e.to_string()))?;
        match sec1.len() {
            33 => Ok(sec1[1..].to_vec()),
            len => Err(ProtocolError::Internal(format!("unexpected {len}-byte secp256k1 key"))),
        }
    }

    /// Plain BIP340 verification (k256), independent of the frost code that signed.
    fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), ProtocolError> {
        let key = schnorr::VerifyingKey::from_bytes(public_key).map_err(|_| ProtocolError::InvalidSignature)?;
        let sig = schnorr::Signature::try_from(signature).map_err(|_| ProtocolError::InvalidSignature)?;
        key.verify_raw(message, &sig).map_err(|_| ProtocolError::InvalidSignature)
    }

    fn check_message(message: &[u8]) -> Result<(), ProtocolError> {
        if message.len() == 32 {
            Ok(())
        } else {
            Err(ProtocolError::InvalidMessage(format!("expected a 32-byte sighash, got {} bytes", message.len())))
        }
    }
}

/// The adapter.
pub fn scheme() -> FrostScheme<Taproot> {
    FrostScheme::new()
}
