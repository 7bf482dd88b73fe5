//! One-file encrypted backups of a node: a consistent RocksDB checkpoint and the node's files,
//! sealed under an operator passphrase (Argon2id, then ChaCha20-Poly1305). A passphrase check
//! is sealed apart from the body, so a wrong passphrase and a damaged file are told apart.
//!
//! Layout: `MPCBAK01`, u32 header length, header (bincode), body ciphertext. The header and the
//! magic are the body's associated data: changing any byte of the file fails to open.

use std::path::Path;

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::db::Db;
use crate::error::StoreError;
use crate::vault::KdfParams;

const MAGIC: &[u8; 8] = b"MPCBAK01";
const CHECK: &[u8] = b"mpc-node backup passphrase check v1";
/// Largest backup opened (the whole file is read into memory).
pub const MAX_BACKUP_BYTES: u64 = 1 << 30;
const MAX_HEADER: u32 = 4096;

/// What a backup holds: files by path relative to the data directory, and who made it.
#[derive(Clone, Serialize, Deserialize)]
pub struct Archive {
    /// The node's party index.
    pub party: u16,
    /// When it was made (Unix ms).
    pub created_ms: u64,
    /// The node's config file as it was (TOML).
    pub config: String,
    /// Files, path relative to the data directory (`db/...` is the database checkpoint).
    pub files: Vec<(String, Zeroizing<Vec<u8>>)>,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Archive(party {}, {} files)", self.party, self.files.len())
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    salt: [u8; 16],
    kdf: KdfParams,
    check_nonce: [u8; 12],
    check: Vec<u8>,
    body_nonce: [u8; 12],
    party: u16,
    created_ms: u64,
}

fn cipher(passphrase: &str, salt: &[u8; 16], kdf: KdfParams) -> Result<ChaCha20Poly1305, StoreError> {
    let params = Params::new(kdf.memory_kib, kdf.iterations, 1, Some(32))
        .map_err(|e| StoreError::InvalidInput(format!("argon2 parameters: {e}")))?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
        .map_err(|e| StoreError::InvalidInput(format!("argon2: {e}")))?;
    ChaCha20Poly1305::new_from_slice(key.as_ref()).map_err(|e| StoreError::InvalidInput(e.to_string()))
}

impl Db {
    /// A consistent copy of the database in `dir` (which must not exist), while it runs.
    pub fn checkpoint(&self, dir: &Path) -> Result<(), StoreError> {
        rocksdb::checkpoint::Checkpoint::new(&self.inner)?.create_checkpoint(dir)?;
        Ok(())
    }
}

/// Seals `archive` under `passphrase`.
pub fn seal(archive: &Archive, passphrase: &str, kdf: KdfParams) -> Result<Vec<u8>, StoreError> {
    if passphrase.len() < 12 {
        return Err(StoreError::InvalidInput("a backup passphrase has at least 12 characters".into()));
    }
    let mut salt = [0u8; 16];
    let (mut check_nonce, mut body_nonce) = ([0u8; 12], [0u8; 12]);
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut check_nonce);
    OsRng.fill_bytes(&mut body_nonce);
    let c = cipher(passphrase, &salt, kdf)?;
    let check = c
        .encrypt(&Nonce::from(check_nonce), Payload { msg: CHECK, aad: MAGIC })
        .map_err(|_| StoreError::InvalidInput("sealing the backup failed".into()))?;
    let header =
        Header { salt, kdf, check_nonce, check, body_nonce, party: archive.party, created_ms: archive.created_ms };
    let header = bincode::serialize(&header).map_err(|e| StoreError::InvalidInput(e.to_string()))?;
    let mut aad = MAGIC.to_vec();
    aad.extend_from_slice(&header);
    let plain = Zeroizing::new(bincode::serialize(archive).map_err(|e| StoreError::InvalidInput(e.to_string()))?);
    let body = c
        .encrypt(&Nonce::from(body_nonce), Payload { msg: &plain, aad: &aad })
        .map_err(|_| StoreError::InvalidInput("sealing the backup failed".into()))?;
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&(header.len() as u32).to_be_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Opens a sealed backup: [`StoreError::BackupPassphrase`] for a wrong passphrase,
/// [`StoreError::BackupDamaged`] for anything else that does not open.
pub fn open(bytes: &[u8], passphrase: &str) -> Result<Archive, StoreError> {
    let damaged = |why: &str| StoreError::BackupDamaged(why.to_owned());
    if bytes.len() < 12 || &bytes[..8] != MAGIC {
        return Err(damaged("not an mpc-node backup (bad magic)"));
    }
    let len = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if len > MAX_HEADER || bytes.len() < 12 + len as usize {
        return Err(damaged("truncated header"));
    }
    let header_bytes = &bytes[12..12 + len as usize];
    let header: Header = bincode::deserialize(header_bytes).map_err(|_| damaged("unreadable header"))?;
    if header.kdf.memory_kib > 1024 * 1024 || header.kdf.iterations > 64 {
        return Err(damaged("key-derivation cost out of range"));
    }
    let c = cipher(passphrase, &header.salt, header.kdf)?;
    c.decrypt(&Nonce::from(header.check_nonce), Payload { msg: &header.check, aad: MAGIC })
        .map_err(|_| StoreError::BackupPassphrase)?;
    let mut aad = MAGIC.to_vec();
    aad.extend_from_slice(header_bytes);
    let plain = Zeroizing::new(
        c.decrypt(&Nonce::from(header.body_nonce), Payload { msg: &bytes[12 + len as usize..], aad: &aad })
            .map_err(|_| damaged("the contents were altered or cut short"))?,
    );
    let archive: Archive = bincode::deserialize(&plain).map_err(|_| damaged("unreadable contents"))?;
    if archive.party != header.party || archive.created_ms != header.created_ms {
        return Err(damaged("header and contents disagree"));
    }
    Ok(archive)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const KDF: KdfParams = KdfParams { memory_kib: 64, iterations: 1 };

    fn archive() -> Archive {
        Archive {
            party: 3,
            created_ms: 42,
            config: "[node]".into(),
            files: vec![("identity.key".into(), Zeroizing::new(b"secret".to_vec()))],
        }
    }

    #[test]
    fn a_sealed_backup_opens_with_its_passphrase_only() {
        let sealed = seal(&archive(), "correct horse battery", KDF).unwrap();
        let opened = open(&sealed, "correct horse battery").unwrap();
        assert_eq!(opened.files[0].1.as_slice(), b"secret");
        assert!(!sealed.windows(6).any(|w| w == b"secret"), "plaintext in the file");
        assert!(matches!(open(&sealed, "wrong horse battery"), Err(StoreError::BackupPassphrase)));
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        let sealed = seal(&archive(), "correct horse battery", KDF).unwrap();
        for i in (0..sealed.len()).step_by(7) {
            let mut bad = sealed.clone();
            bad[i] ^= 0x20;
            assert!(open(&bad, "correct horse battery").is_err(), "byte {i} flipped and still opened");
        }
        assert!(matches!(
            open(&sealed[..sealed.len() - 1], "correct horse battery"),
            Err(StoreError::BackupDamaged(_))
        ));
        assert!(matches!(open(b"hello", "correct horse battery"), Err(StoreError::BackupDamaged(_))));
    }

    #[test]
    fn a_short_passphrase_is_refused() {
        assert!(matches!(seal(&archive(), "short", KDF), Err(StoreError::InvalidInput(_))));
    }
}
