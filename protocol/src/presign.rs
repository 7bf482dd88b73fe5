//! Presignatures: the message-independent part of an ECDSA signing, made ahead of time by the
//! signers together, so that signing a message later takes one round.
//!
//! Two rules keep them safe, and both are enforced at the edges that hold the material:
//! - one presignature signs at most one message (a second use leaks the key), so its holder
//!   consumes it durably before its partial signature leaves;
//! - it signs only a message whose preimage each signer has hashed itself ([`Preimage`]): on a
//!   bare digest a presigned signature can be forged (eprint 2021/1330 §1.1.2), so raw
//!   digests always go through full interactive signing.

use alloy_primitives::Keccak256;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ceremony::{Millis, DEFAULT_ROUND_TIMEOUT_MS};
use crate::ids::{PartyIndex, SchemeId, SessionId, WalletId};
use crate::scheme::PublicKey;
use crate::secret::SecretBytes;

/// Most presignatures one ceremony makes (each is a full presigning run, side by side).
pub const MAX_PRESIGN_BATCH: u16 = 16;

/// How a chain hashes what it signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Hashing {
    /// Ethereum: Keccak-256 (of the RLP of an unsigned transaction, or an EIP-191/712 preimage).
    Keccak256,
    /// Bitcoin segwit v0: SHA-256 twice (of the BIP143 preimage).
    DoubleSha256,
}

impl Hashing {
    /// The 32-byte digest of `bytes`.
    pub fn digest(self, bytes: &[u8]) -> [u8; 32] {
        match self {
            Self::Keccak256 => {
                let mut h = Keccak256::new();
                h.update(bytes);
                h.finalize().0
            }
            Self::DoubleSha256 => Sha256::digest(Sha256::digest(bytes)).into(),
        }
    }
}

/// What a digest is the hash of, as a signer re-derived it from the message or transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preimage {
    /// The hash function.
    pub hashing: Hashing,
    /// The bytes hashed.
    pub bytes: Vec<u8>,
}

impl Preimage {
    /// Its digest.
    pub fn digest(&self) -> [u8; 32] {
        self.hashing.digest(&self.bytes)
    }
}

/// One party's presignature. The secret holds the party's nonce shares and the public
/// commitments every holder checks partial signatures against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presignature {
    /// Scheme that owns the secret format.
    pub scheme: SchemeId,
    /// The same at every holder: the presigning part's session id.
    pub id: SessionId,
    /// The wallet whose key share made it.
    pub wallet: WalletId,
    /// Exactly the signers who made it, sorted: only they can sign with it, all together.
    pub signers: Vec<PartyIndex>,
    /// This holder.
    pub party: PartyIndex,
    /// The wallet's group key.
    pub public_key: PublicKey,
    /// Adapter-encoded (zeroized on drop).
    pub secret: SecretBytes,
}

/// Parameters of a presigning ceremony.
#[derive(Clone, Debug)]
pub struct PresignParams {
    /// Fresh session id; presignature `i` gets the batch part id of `i`.
    pub session: SessionId,
    /// The wallet.
    pub wallet: WalletId,
    /// Exactly t signers, this party among them.
    pub signers: Vec<PartyIndex>,
    /// How many to make, 1..=[`MAX_PRESIGN_BATCH`].
    pub count: u16,
    /// Per-round timeout.
    pub round_timeout_ms: Millis,
}

impl PresignParams {
    /// Parameters with the default round timeout.
    pub fn new(session: SessionId, wallet: WalletId, signers: Vec<PartyIndex>, count: u16) -> Self {
        Self { session, wallet, signers, count, round_timeout_ms: DEFAULT_ROUND_TIMEOUT_MS }
    }
}

/// What each payload of `signable` is the hash of, as this signer derives it itself: `None`
/// for what has no preimage a presignature may sign (a raw digest; a chain without one).
pub fn preimages_of(
    signable: &crate::proposal::Signable,
    chains: &crate::chains::Chains,
    key: &PublicKey,
) -> Result<Option<Vec<Preimage>>, String> {
    use crate::proposal::Signable;
    match signable {
        Signable::Raw(_) => Ok(None),
        Signable::PersonalMessage(m) => {
            m.check().map_err(|e| e.to_string())?;
            let mut bytes = format!("\x19Ethereum Signed Message:\n{}", m.message.len()).into_bytes();
            bytes.extend_from_slice(&m.message);
            Ok(Some(vec![Preimage { hashing: Hashing::Keccak256, bytes }]))
        }
        Signable::TypedData(d) => {
            d.check().map_err(|e| e.to_string())?;
            let bytes = crate::eip712::typed_data_preimage(&d.json).map_err(|e| e.to_string())?;
            Ok(Some(vec![Preimage { hashing: Hashing::Keccak256, bytes }]))
        }
        Signable::Transfer(intent) => {
            let chain = chains.get(&intent.chain).ok_or_else(|| format!("unknown chain {}", intent.chain))?;
            chain.preimages(key, &intent.unsigned).map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_their_chains() {
        // keccak256("") and sha256d("") are widely published.
        assert_eq!(
            hex::encode(Hashing::Keccak256.digest(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
        assert_eq!(
            hex::encode(Hashing::DoubleSha256.digest(b"")),
            "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456"
        );
    }
}
