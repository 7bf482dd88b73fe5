//! Identifiers shared by every ceremony: parties, sessions, schemes.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A party's 0-based index in the committee, the same on every node.
pub type PartyIndex = u16;

/// Identifies one ceremony execution. Derived from the proposal that started it and never
/// reused: every envelope carries it and every scheme binds it into its transcript where the
/// scheme allows (CGGMP24's execution id; FROST through the envelope check).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionId([u8; 32]);

impl SessionId {
    /// Derives a session id from a domain tag and the canonical bytes of a proposal.
    pub fn derive(domain: &str, proposal: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(b"mpc-node/session/v1");
        h.update((domain.len() as u64).to_be_bytes());
        h.update(domain.as_bytes());
        h.update(proposal);
        Self(h.finalize().into())
    }

    /// Wraps raw bytes (e.g. read back from the journal).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", &hex::encode(self.0)[..16])
    }
}

/// Names a threshold scheme. Each adapter declares its own constant, so adding a scheme does
/// not touch this file.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SchemeId(Cow<'static, str>);

impl SchemeId {
    /// A scheme id known at compile time.
    pub const fn new_static(name: &'static str) -> Self {
        Self(Cow::Borrowed(name))
    }

    /// A scheme id read from input (config, RPC, disk); check it against the registry.
    pub fn from_name(name: &str) -> Self {
        Self(Cow::Owned(name.to_owned()))
    }

    /// The scheme's stable name, e.g. `frost-ed25519`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SchemeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SchemeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SchemeId({})", self.0)
    }
}

/// A wallet's id: 1 to 64 characters of `a-z`, `0-9`, `-` and `_`, chosen by the operator or
/// derived by the node. Checked on construction, so a stored or received id is always valid.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct WalletId(String);

/// A string that is not a valid wallet id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid wallet id {0:?}: use 1-64 characters of a-z, 0-9, - and _")]
pub struct InvalidWalletId(pub String);

impl WalletId {
    /// Checks and wraps `id`.
    pub fn new(id: &str) -> Result<Self, InvalidWalletId> {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(id.to_owned()))
        } else {
            Err(InvalidWalletId(id.chars().take(80).collect()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for WalletId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        WalletId::new(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for WalletId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for WalletId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WalletId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_depend_on_domain_and_proposal() {
        let a = SessionId::derive("keygen", b"p1");
        assert_ne!(a, SessionId::derive("sign", b"p1"));
        assert_ne!(a, SessionId::derive("keygen", b"p2"));
        assert_eq!(a, SessionId::derive("keygen", b"p1"));
        // The domain length is framed, so shifting bytes between domain and proposal differs.
        assert_ne!(SessionId::derive("ab", b"c"), SessionId::derive("a", b"bc"));
    }

    #[test]
    fn wallet_ids_are_checked() {
        assert!(WalletId::new("treasury-1").is_ok());
        for bad in ["", "UPPER", "a b", "x/../y", &"a".repeat(65)] {
            assert!(WalletId::new(bad).is_err(), "{bad:?}");
        }
        let decoded: Result<WalletId, _> = bincode::deserialize(&bincode::serialize("Bad Id").unwrap());
        assert!(decoded.is_err(), "a stored invalid id must not decode");
    }
}
