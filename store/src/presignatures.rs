//! Sealed presignatures in the vault, by wallet, signer set and id. Each is taken once: the
//! synced write that deletes it also marks its id used, before the caller may issue a partial
//! signature with it, so after any crash a used presignature is gone and its id refused.

use std::collections::BTreeMap;

use protocol::presign::Presignature;
use protocol::{PartyIndex, SessionId, WalletId};
use rocksdb::{Direction, IteratorMode, WriteBatch, WriteOptions};
use zeroize::Zeroizing;

use crate::error::StoreError;
use crate::journal::SideWrite;
use crate::keys::{self, cf};
use crate::records::OneTime;
use crate::vault::Vault;

fn aad(key: &[u8]) -> Vec<u8> {
    [b"mpc-presig/v1/".as_slice(), key].concat()
}

fn nonce_key(id: &SessionId) -> Vec<u8> {
    keys::consumed(OneTime::Nonce.tag(), id.as_bytes())
}

impl Vault {
    fn used(&self, id: &SessionId) -> Result<bool, StoreError> {
        Ok(self.db.inner.get_cf(self.db.cf(cf::CONSUMED)?, nonce_key(id))?.is_some())
    }

    /// Seals presignatures as side writes, to commit with their `PresignaturesAdded` event. An
    /// id used before is refused: no presignature is ever stored twice.
    pub fn seal_presignatures(&self, items: &[Presignature]) -> Result<Vec<SideWrite>, StoreError> {
        let mut writes = Vec::with_capacity(items.len());
        for p in items {
            if self.used(&p.id)? {
                return Err(StoreError::InvalidInput(format!("presignature {} was used before", p.id)));
            }
            let key = keys::presignature(p.wallet.as_str(), &p.signers, p.id.as_bytes());
            let plain = Zeroizing::new(bincode::serialize(p).map_err(|e| StoreError::InvalidInput(e.to_string()))?);
            writes.push(SideWrite { cf: cf::VAULT, key: key.clone(), value: Some(self.seal(&plain, &aad(&key))?) });
        }
        Ok(writes)
    }

    /// Takes presignature `id` out of the vault for one use: deletes it and marks its id used
    /// in one synced write, then opens it. `None` if it is not here (never made, or used).
    pub fn take_presignature(
        &self,
        wallet: &WalletId,
        signers: &[PartyIndex],
        id: &SessionId,
    ) -> Result<Option<Presignature>, StoreError> {
        let key = keys::presignature(wallet.as_str(), signers, id.as_bytes());
        let vault = self.db.cf(cf::VAULT)?;
        let Some(sealed) = self.db.inner.get_cf(vault, &key)? else { return Ok(None) };
        let used = self.used(id)?;
        self.forget(&key, id)?;
        if used {
            return Ok(None);
        }
        let what = format!("presignature {id} of {wallet}");
        let plain =
            self.open_sealed(&sealed, &aad(&key)).map_err(|_| StoreError::VaultCorrupt { what: what.clone() })?;
        let p: Presignature =
            bincode::deserialize(&plain).map_err(|_| StoreError::VaultCorrupt { what: what.clone() })?;
        if p.id != *id || p.wallet != *wallet || p.signers != signers {
            return Err(StoreError::VaultCorrupt { what });
        }
        Ok(Some(p))
    }

    fn forget(&self, key: &[u8], id: &SessionId) -> Result<(), StoreError> {
        let mut wb = WriteBatch::default();
        wb.delete_cf(self.db.cf(cf::VAULT)?, key);
        wb.put_cf(self.db.cf(cf::CONSUMED)?, nonce_key(id), crate::journal::now_ms().to_be_bytes());
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.inner.write_opt(wb, &opts)?;
        Ok(())
    }

    /// Discards presignature `id` unused (its use is unknown, or a holder lacks it): it is
    /// marked used all the same. True if it was here.
    pub fn discard_presignature(
        &self,
        wallet: &WalletId,
        signers: &[PartyIndex],
        id: &SessionId,
    ) -> Result<bool, StoreError> {
        let key = keys::presignature(wallet.as_str(), signers, id.as_bytes());
        let here = self.db.inner.get_cf(self.db.cf(cf::VAULT)?, &key)?.is_some();
        self.forget(&key, id)?;
        Ok(here)
    }

    /// True when presignature `id` is here, unused.
    pub fn has_presignature(
        &self,
        wallet: &WalletId,
        signers: &[PartyIndex],
        id: &SessionId,
    ) -> Result<bool, StoreError> {
        let key = keys::presignature(wallet.as_str(), signers, id.as_bytes());
        Ok(self.db.inner.get_cf(self.db.cf(cf::VAULT)?, &key)?.is_some() && !self.used(id)?)
    }

    /// The ids of `wallet`'s presignatures for exactly `signers`, oldest key first.
    pub fn presignature_ids(&self, wallet: &WalletId, signers: &[PartyIndex]) -> Result<Vec<SessionId>, StoreError> {
        Ok(self.scan(wallet, signers)?.into_iter().map(|(_, id)| id).collect())
    }

    /// How many presignatures `wallet` has here, per signer set.
    pub fn presignature_sets(&self, wallet: &WalletId) -> Result<BTreeMap<Vec<PartyIndex>, usize>, StoreError> {
        let mut sets = BTreeMap::new();
        for (set, _) in self.scan(wallet, &[])? {
            *sets.entry(set).or_insert(0) += 1;
        }
        Ok(sets)
    }

    fn scan(&self, wallet: &WalletId, signers: &[PartyIndex]) -> Result<Vec<(Vec<PartyIndex>, SessionId)>, StoreError> {
        let wallet_prefix = keys::presignature_prefix(wallet.as_str(), &[]);
        let prefix = keys::presignature_prefix(wallet.as_str(), signers);
        let mut out = Vec::new();
        let mode = IteratorMode::From(&prefix, Direction::Forward);
        for item in self.db.inner.iterator_cf(self.db.cf(cf::VAULT)?, mode) {
            let (key, _) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            let rest = &key[wallet_prefix.len()..];
            let parsed = rest.get(..4).and_then(|n| {
                let n = u32::from_be_bytes(n.try_into().ok()?) as usize;
                let set = rest.get(4..4 + n)?;
                let id: [u8; 32] = rest.get(4 + n..)?.try_into().ok()?;
                Some((set.chunks(2).map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])).collect(), id))
            });
            let (set, id) = parsed.ok_or_else(|| StoreError::corrupt("presignature key", "unparsable"))?;
            out.push((set, SessionId::from_bytes(id)));
        }
        Ok(out)
    }

    /// Discards every presignature of `wallet` (it was discarded, or its shares changed),
    /// marking each used. Returns how many.
    pub fn discard_all_presignatures(&self, wallet: &WalletId) -> Result<usize, StoreError> {
        let all = self.scan(wallet, &[])?;
        for (set, id) in &all {
            self.forget(&keys::presignature(wallet.as_str(), set, id.as_bytes()), id)?;
        }
        Ok(all.len())
    }
}
