//! The encrypted vault: key shares, committee setups and safe primes, sealed with
//! ChaCha20-Poly1305 under a key derived from the operator's secret (Argon2id from a
//! passphrase, or a 32-byte key file). The wallet, scheme and party are associated data, so a
//! sealed share moved to another wallet or party fails to open. Plaintexts are zeroized.

use std::path::Path;

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use protocol::primes::{PrimePool, SafePrimes};
use protocol::{KeyShare, PartyIndex, SchemeId, SetupMaterial, WalletId};
use rand_core::{OsRng, RngCore};
use rocksdb::{IteratorMode, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::db::Db;
use crate::error::StoreError;
use crate::journal::SideWrite;
use crate::keys::{self, cf};

const CHECK_PLAINTEXT: &[u8] = b"mpc-node vault check v1";
const SEALED_LIMIT: u64 = 8 * 1024 * 1024;

/// Where the vault key comes from.
pub enum VaultSecret {
    /// A passphrase, stretched with Argon2id (salt and cost stored beside the vault).
    Passphrase(Zeroizing<String>),
    /// A file holding exactly 32 random bytes (or 64 hex characters).
    KeyFile(std::path::PathBuf),
}

/// Argon2id cost. The defaults follow OWASP's minimum (19 MiB, 2 passes); tests lower them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
}

impl Default for KdfParams {
    fn default() -> Self {
        Self { memory_kib: 19 * 1024, iterations: 2 }
    }
}

#[derive(Serialize, Deserialize)]
struct KdfRecord {
    salt: [u8; 16],
    params: KdfParams,
}

/// The opened vault.
pub struct Vault {
    pub(crate) db: Db,
    cipher: ChaCha20Poly1305,
}

fn read_key_file(path: &Path) -> Result<Zeroizing<[u8; 32]>, StoreError> {
    let raw = Zeroizing::new(std::fs::read(path)?);
    let mut key = Zeroizing::new([0u8; 32]);
    if raw.len() == 32 {
        key.copy_from_slice(&raw);
        return Ok(key);
    }
    let text =
        std::str::from_utf8(&raw).map_err(|_| StoreError::InvalidInput("key file is not 32 bytes or hex".into()))?;
    let decoded = Zeroizing::new(
        hex::decode(text.trim()).map_err(|_| StoreError::InvalidInput("key file is not 32 bytes or hex".into()))?,
    );
    if decoded.len() != 32 {
        return Err(StoreError::InvalidInput(format!("key file holds {} bytes, need 32", decoded.len())));
    }
    key.copy_from_slice(&decoded);
    Ok(key)
}

impl Vault {
    /// Opens the vault, creating its KDF record and check value on first use. A wrong secret is
    /// [`StoreError::WrongVaultKey`] here, never garbage later.
    pub fn open(db: Db, secret: VaultSecret, kdf: KdfParams) -> Result<Self, StoreError> {
        let meta = db.cf(cf::META)?;
        let key: Zeroizing<[u8; 32]> = match secret {
            VaultSecret::KeyFile(path) => read_key_file(&path)?,
            VaultSecret::Passphrase(pass) => {
                let record = match db.inner.get_cf(meta, keys::META_VAULT_KDF)? {
                    Some(b) => {
                        bincode::deserialize::<KdfRecord>(&b).map_err(|e| StoreError::corrupt("vault kdf record", e))?
                    }
                    None => {
                        let mut salt = [0u8; 16];
                        OsRng.fill_bytes(&mut salt);
                        let record = KdfRecord { salt, params: kdf };
                        let bytes =
                            bincode::serialize(&record).map_err(|e| StoreError::corrupt("vault kdf record", e))?;
                        let mut opts = WriteOptions::default();
                        opts.set_sync(true);
                        db.inner.put_cf_opt(meta, keys::META_VAULT_KDF, bytes, &opts)?;
                        record
                    }
                };
                let params = Params::new(record.params.memory_kib, record.params.iterations, 1, Some(32))
                    .map_err(|e| StoreError::InvalidInput(format!("argon2 parameters: {e}")))?;
                let mut key = Zeroizing::new([0u8; 32]);
                Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                    .hash_password_into(pass.as_bytes(), &record.salt, key.as_mut())
                    .map_err(|e| StoreError::InvalidInput(format!("argon2: {e}")))?;
                key
            }
        };
        let cipher = ChaCha20Poly1305::new_from_slice(key.as_ref())
            .map_err(|_| StoreError::InvalidInput("vault key must be 32 bytes".into()))?;
        let vault = Self { db, cipher };
        let meta = vault.db.cf(cf::META)?;
        match vault.db.inner.get_cf(meta, keys::META_VAULT_CHECK)? {
            Some(sealed) => {
                let plain = vault.open_sealed(&sealed, b"vault-check").map_err(|_| StoreError::WrongVaultKey)?;
                if plain.as_slice() != CHECK_PLAINTEXT {
                    return Err(StoreError::WrongVaultKey);
                }
            }
            None => {
                let sealed = vault.seal(CHECK_PLAINTEXT, b"vault-check")?;
                let mut opts = WriteOptions::default();
                opts.set_sync(true);
                vault.db.inner.put_cf_opt(meta, keys::META_VAULT_CHECK, sealed, &opts)?;
            }
        }
        Ok(vault)
    }

    pub(crate) fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad })
            .map_err(|_| StoreError::InvalidInput("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub(crate) fn open_sealed(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, ()> {
        if sealed.len() < 12 + 16 || sealed.len() as u64 > SEALED_LIMIT {
            return Err(());
        }
        let (nonce, ct) = sealed.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| ())?;
        self.cipher.decrypt(&Nonce::from(nonce), Payload { msg: ct, aad }).map(Zeroizing::new).map_err(|_| ())
    }

    fn aad(kind: &str, wallet: &str, scheme: &SchemeId, party: PartyIndex) -> Vec<u8> {
        let mut aad = b"mpc-vault/v1/".to_vec();
        aad.extend_from_slice(&keys::vault(kind, wallet, scheme.as_str(), party));
        aad
    }

    /// Seals `share` of `wallet` as a side write, to commit atomically with its
    /// `KeySharesGenerated` event.
    pub fn seal_share(&self, wallet: &WalletId, share: &KeyShare) -> Result<SideWrite, StoreError> {
        let plain = Zeroizing::new(bincode::serialize(share).map_err(|e| StoreError::InvalidInput(e.to_string()))?);
        let aad = Self::aad("share", wallet.as_str(), &share.scheme, share.party);
        let sealed = self.seal(&plain, &aad)?;
        Ok(SideWrite {
            cf: cf::VAULT,
            key: keys::vault("share", wallet.as_str(), share.scheme.as_str(), share.party),
            value: Some(sealed),
        })
    }

    /// Deletes `wallet`'s share as a side write, to commit atomically with its discard event.
    pub fn delete_share(&self, wallet: &WalletId, scheme: &SchemeId, party: PartyIndex) -> SideWrite {
        SideWrite { cf: cf::VAULT, key: keys::vault("share", wallet.as_str(), scheme.as_str(), party), value: None }
    }

    /// Loads and opens a share. A flipped byte, a wrong key or a share moved from another
    /// wallet or party is [`StoreError::VaultCorrupt`].
    pub fn load_share(&self, wallet: &WalletId, scheme: &SchemeId, party: PartyIndex) -> Result<KeyShare, StoreError> {
        let what = format!("share of {wallet} ({scheme}, party {party})");
        let key = keys::vault("share", wallet.as_str(), scheme.as_str(), party);
        let sealed =
            self.db.inner.get_cf(self.db.cf(cf::VAULT)?, &key)?.ok_or_else(|| StoreError::NotFound(what.clone()))?;
        let plain = self
            .open_sealed(&sealed, &Self::aad("share", wallet.as_str(), scheme, party))
            .map_err(|_| StoreError::VaultCorrupt { what: what.clone() })?;
        let share: KeyShare =
            bincode::deserialize(&plain).map_err(|_| StoreError::VaultCorrupt { what: what.clone() })?;
        if share.scheme != *scheme || share.party != party {
            return Err(StoreError::VaultCorrupt { what });
        }
        Ok(share)
    }

    /// Seals a committee setup (CGGMP24 aux info) under `committee` (e.g. a hash of the
    /// member list), as a side write.
    pub fn seal_setup(&self, committee: &str, setup: &SetupMaterial) -> Result<SideWrite, StoreError> {
        let plain = Zeroizing::new(bincode::serialize(setup).map_err(|e| StoreError::InvalidInput(e.to_string()))?);
        let aad = Self::aad("setup", committee, &setup.scheme, setup.party);
        Ok(SideWrite {
            cf: cf::VAULT,
            key: keys::vault("setup", committee, setup.scheme.as_str(), setup.party),
            value: Some(self.seal(&plain, &aad)?),
        })
    }

    /// Loads a committee setup.
    pub fn load_setup(
        &self,
        committee: &str,
        scheme: &SchemeId,
        party: PartyIndex,
    ) -> Result<SetupMaterial, StoreError> {
        let what = format!("setup of {committee} ({scheme}, party {party})");
        let key = keys::vault("setup", committee, scheme.as_str(), party);
        let sealed =
            self.db.inner.get_cf(self.db.cf(cf::VAULT)?, &key)?.ok_or_else(|| StoreError::NotFound(what.clone()))?;
        let plain = self
            .open_sealed(&sealed, &Self::aad("setup", committee, scheme, party))
            .map_err(|_| StoreError::VaultCorrupt { what: what.clone() })?;
        bincode::deserialize(&plain).map_err(|_| StoreError::VaultCorrupt { what })
    }

    /// Adds sealed prime sets to the persistent pool (synced).
    pub fn add_primes(&self, sets: &[SafePrimes]) -> Result<(), StoreError> {
        let primes_cf = self.db.cf(cf::PRIMES)?;
        let mut wb = WriteBatch::default();
        for set in sets {
            let mut id = [0u8; 16];
            OsRng.fill_bytes(&mut id);
            let sealed = self.seal(set.0.expose(), &[b"mpc-primes/v1/".as_slice(), &id].concat())?;
            wb.put_cf(primes_cf, id, sealed);
        }
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.inner.write_opt(wb, &opts)?;
        Ok(())
    }

    /// Removes one prime set from the pool, durably, before handing it out: a set is never
    /// used twice, even across a crash.
    pub fn take_primes(&self) -> Result<Option<SafePrimes>, StoreError> {
        let primes_cf = self.db.cf(cf::PRIMES)?;
        let Some(item) = self.db.inner.iterator_cf(primes_cf, IteratorMode::Start).next() else {
            return Ok(None);
        };
        let (id, sealed) = item?;
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.inner.delete_cf_opt(primes_cf, &id, &opts)?;
        let plain = self
            .open_sealed(&sealed, &[b"mpc-primes/v1/".as_slice(), &id].concat())
            .map_err(|_| StoreError::VaultCorrupt { what: "prime set".into() })?;
        Ok(Some(SafePrimes(protocol::SecretBytes::new(plain.to_vec()))))
    }

    /// Prime sets left.
    pub fn primes_available(&self) -> Result<usize, StoreError> {
        let mut n = 0;
        for item in self.db.inner.iterator_cf(self.db.cf(cf::PRIMES)?, IteratorMode::Start) {
            item?;
            n += 1;
        }
        Ok(n)
    }
}

/// The vault as the prime pool CGGMP24 setups draw from.
pub struct PersistentPrimePool(pub std::sync::Arc<Vault>);

impl PrimePool for PersistentPrimePool {
    fn take(&self) -> Option<SafePrimes> {
        self.0.take_primes().ok().flatten()
    }

    fn available(&self) -> usize {
        self.0.primes_available().unwrap_or(0)
    }
}
