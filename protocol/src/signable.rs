//! Forms of signing a member can read before it signs, and how it tells a smuggled
//! transaction from a harmless raw message.
//!
//! - [`PersonalMessage`]: EIP-191 (`personal_sign`): the member hashes the message itself.
//! - [`TypedData`]: EIP-712: the member hashes the typed data itself.
//! - [`is_solana_message`]: a raw Ed25519 message that is a Solana transaction paying from
//!   the wallet is a transfer nobody reviewed; members refuse it.

use alloy_primitives::keccak256;
use serde::{Deserialize, Serialize};

/// Which wallets this member signs raw digests or messages for: what it cannot read. Off
/// unless its own config names the wallet (or `"*"`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSigning {
    /// Wallet ids, or `"*"` for every wallet.
    pub raw_wallets: Vec<String>,
}

impl RawSigning {
    /// True when this member signs raw payloads for `wallet`.
    pub fn allows(&self, wallet: &crate::WalletId) -> bool {
        self.raw_wallets.iter().any(|w| w == "*" || w == wallet.as_str())
    }
}

/// Longest personal message accepted (bytes).
pub const MAX_PERSONAL_MESSAGE: usize = 16 * 1024;

/// An EIP-191 personal message and the digest signed for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalMessage {
    /// The message as the user reads it.
    pub message: Vec<u8>,
    /// keccak256("\x19Ethereum Signed Message:\n" ‖ len ‖ message): recomputed by every member.
    pub digest: Vec<u8>,
}

/// Why a readable form is not what it claims.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// Empty or too long.
    #[error("personal message must be 1..={MAX_PERSONAL_MESSAGE} bytes, got {0}")]
    Size(usize),
    /// The digest is not the message's.
    #[error("the digest is not the EIP-191 digest of the message")]
    Digest,
}

impl PersonalMessage {
    /// The message with its digest.
    pub fn new(message: Vec<u8>) -> Result<Self, FormError> {
        if message.is_empty() || message.len() > MAX_PERSONAL_MESSAGE {
            return Err(FormError::Size(message.len()));
        }
        let digest = eip191_digest(&message).to_vec();
        Ok(Self { message, digest })
    }

    /// Checks what a peer sent: size, and the digest recomputed here.
    pub fn check(&self) -> Result<(), FormError> {
        if self.message.is_empty() || self.message.len() > MAX_PERSONAL_MESSAGE {
            return Err(FormError::Size(self.message.len()));
        }
        if self.digest != eip191_digest(&self.message) {
            return Err(FormError::Digest);
        }
        Ok(())
    }
}

/// EIP-712 typed data (`eth_signTypedData_v4`) and its digest, recomputed by every member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypedData {
    /// The JSON document: `{types, primaryType, domain, message}`.
    pub json: String,
    /// keccak256(0x1901 ‖ domain separator ‖ message hash).
    pub digest: Vec<u8>,
}

impl TypedData {
    /// The document with its digest.
    pub fn new(json: String) -> Result<Self, crate::eip712::TypedDataError> {
        let digest = crate::eip712::typed_data_digest(&json)?.to_vec();
        Ok(Self { json, digest })
    }

    /// Checks what a peer sent: the digest recomputed here.
    pub fn check(&self) -> Result<(), crate::eip712::TypedDataError> {
        if crate::eip712::typed_data_digest(&self.json)?.as_slice() != self.digest.as_slice() {
            return Err(crate::eip712::TypedDataError::mismatch());
        }
        Ok(())
    }
}

/// The EIP-191 (version 0x45) digest of a personal message.
pub fn eip191_digest(message: &[u8]) -> [u8; 32] {
    let mut prefixed = format!("\x19Ethereum Signed Message:\n{}", message.len()).into_bytes();
    prefixed.extend_from_slice(message);
    keccak256(&prefixed).0
}

/// Reads a Solana compact-u16 length.
fn shortvec(bytes: &[u8], at: &mut usize) -> Option<usize> {
    let mut n = 0usize;
    for i in 0..3 {
        let b = *bytes.get(*at)?;
        *at += 1;
        n |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

fn take<'a>(bytes: &'a [u8], at: &mut usize, n: usize) -> Option<&'a [u8]> {
    let end = at.checked_add(n)?;
    let out = bytes.get(*at..end)?;
    *at = end;
    Some(out)
}

/// True when `message` parses, to its last byte, as a Solana transaction message (legacy or
/// versioned) whose fee payer and first signer is `key`.
pub fn is_solana_message(message: &[u8], key: &[u8]) -> bool {
    parse_solana(message, key).unwrap_or(false)
}

fn parse_solana(m: &[u8], key: &[u8]) -> Option<bool> {
    let mut at = 0;
    let versioned = *m.first()? & 0x80 != 0;
    if versioned {
        at += 1;
    }
    let header = take(m, &mut at, 3)?;
    let accounts = shortvec(m, &mut at)?;
    if header[0] == 0 || accounts == 0 || usize::from(header[0]) > accounts {
        return Some(false);
    }
    let keys = take(m, &mut at, accounts.checked_mul(32)?)?;
    take(m, &mut at, 32)?; // recent blockhash
    for _ in 0..shortvec(m, &mut at)? {
        take(m, &mut at, 1)?; // program id index
        let n = shortvec(m, &mut at)?;
        take(m, &mut at, n)?;
        let n = shortvec(m, &mut at)?;
        take(m, &mut at, n)?;
    }
    if versioned {
        for _ in 0..shortvec(m, &mut at)? {
            take(m, &mut at, 32)?;
            let n = shortvec(m, &mut at)?;
            take(m, &mut at, n)?;
            let n = shortvec(m, &mut at)?;
            take(m, &mut at, n)?;
        }
    }
    Some(at == m.len() && &keys[..32] == key)
}

/// What a signing proposal signs. Decoded once with the control envelope; every payload it
/// names is checked for shape before a member reviews it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Signable {
    /// One raw message or digest, as the scheme takes it: no preimage to inspect.
    Raw(Vec<u8>),
    /// Every payload of an unsigned transaction, which each signer re-derives from the
    /// transaction's body and reviews against its own policy.
    Transfer(Box<crate::wallet::TransferIntent>),
    /// An EIP-191 personal message: each signer hashes it itself and signs that digest.
    PersonalMessage(Box<crate::signable::PersonalMessage>),
    /// EIP-712 typed data: each signer hashes the document itself and signs that digest.
    TypedData(Box<crate::signable::TypedData>),
}

impl Signable {
    /// The exact bytes to sign, in order: one signature each.
    pub fn payloads(&self) -> &[Vec<u8>] {
        match self {
            Self::Raw(p) => std::slice::from_ref(p),
            Self::Transfer(intent) => &intent.unsigned.payloads,
            Self::PersonalMessage(m) => std::slice::from_ref(&m.digest),
            Self::TypedData(d) => std::slice::from_ref(&d.digest),
        }
    }

    /// True when a member cannot read what it signs (a bare digest or message).
    pub fn is_raw(&self) -> bool {
        matches!(self, Self::Raw(_))
    }

    /// The transfer, if this signs one.
    pub fn intent(&self) -> Option<&crate::wallet::TransferIntent> {
        match self {
            Self::Raw(_) | Self::PersonalMessage(_) | Self::TypedData(_) => None,
            Self::Transfer(intent) => Some(intent),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chains::solana::Transfer;

    #[test]
    fn eip191_digest_matches_the_known_vector() {
        // personal_sign("hello"): a widely published test vector.
        assert_eq!(
            hex::encode(eip191_digest(b"hello")),
            "50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750"
        );
        let mut m = PersonalMessage::new(b"hello".to_vec()).unwrap();
        m.check().unwrap();
        m.digest[0] ^= 1;
        assert_eq!(m.check(), Err(FormError::Digest));
        assert!(PersonalMessage::new(Vec::new()).is_err());
    }

    #[test]
    fn a_solana_transfer_is_recognised_and_other_bytes_are_not() {
        let from = [7u8; 32];
        let t = Transfer { from, to: [9; 32], lamports: 5, recent_blockhash: [1; 32] };
        let message = t.message().unwrap();
        assert!(is_solana_message(&message, &from));
        assert!(!is_solana_message(&message, &[8; 32]), "another payer");
        let mut v0 = vec![0x80];
        v0.extend_from_slice(&message);
        v0.push(0); // no address table lookups
        assert!(is_solana_message(&v0, &from));
        assert!(!is_solana_message(&message[..message.len() - 1], &from));
        assert!(!is_solana_message(b"hello world", &from));
        assert!(!is_solana_message(&[], &from));
    }
}
