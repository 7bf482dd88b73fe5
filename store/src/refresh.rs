//! A refreshed share waits here, sealed beside the live one, from the moment this node computed
//! it until the refresh is known to have committed somewhere. It is written (synced) before this
//! node confirms the refresh to the others, so a crash at any point leaves the old share live
//! and the new one staged, never only one of them while the others moved on.

use protocol::{KeyShare, SessionId, WalletId};
use rocksdb::{Direction, IteratorMode, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::StoreError;
use crate::journal::SideWrite;
use crate::keys::{self, cf};
use crate::vault::Vault;

const KIND: &str = "staged";

/// A refreshed share and the refresh that made it.
#[derive(Serialize, Deserialize)]
pub struct StagedShare {
    /// The refresh session.
    pub session: SessionId,
    /// The new share.
    pub share: KeyShare,
}

fn key(wallet: &WalletId) -> Vec<u8> {
    keys::vault(KIND, wallet.as_str(), "", 0)
}

fn aad(key: &[u8]) -> Vec<u8> {
    [b"mpc-staged/v1/".as_slice(), key].concat()
}

impl Vault {
    /// Stages `share` made by refresh `session` for `wallet` (one synced write; it replaces an
    /// older staged share of that wallet).
    pub fn stage_share(&self, wallet: &WalletId, session: SessionId, share: &KeyShare) -> Result<(), StoreError> {
        let k = key(wallet);
        let staged = StagedShare { session, share: share.clone() };
        let plain = Zeroizing::new(bincode::serialize(&staged).map_err(|e| StoreError::InvalidInput(e.to_string()))?);
        let sealed = self.seal(&plain, &aad(&k))?;
        let mut wb = WriteBatch::default();
        wb.put_cf(self.db.cf(cf::VAULT)?, &k, sealed);
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.inner.write_opt(wb, &opts)?;
        Ok(())
    }

    /// The share staged for `wallet`, if any.
    pub fn staged_share(&self, wallet: &WalletId) -> Result<Option<StagedShare>, StoreError> {
        let k = key(wallet);
        let Some(sealed) = self.db.inner.get_cf(self.db.cf(cf::VAULT)?, &k)? else { return Ok(None) };
        let what = format!("staged share of {wallet}");
        let plain = self.open_sealed(&sealed, &aad(&k)).map_err(|_| StoreError::VaultCorrupt { what: what.clone() })?;
        let staged: StagedShare = bincode::deserialize(&plain).map_err(|_| StoreError::VaultCorrupt { what })?;
        Ok(Some(staged))
    }

    /// Removes `wallet`'s staged share, as a side write (committed with the refresh's event).
    pub fn unstage_share(&self, wallet: &WalletId) -> SideWrite {
        SideWrite { cf: cf::VAULT, key: key(wallet), value: None }
    }

    /// Every wallet with a staged share.
    pub fn staged_wallets(&self) -> Result<Vec<WalletId>, StoreError> {
        let mut prefix = Vec::new();
        keys::push_part(&mut prefix, KIND.as_bytes());
        let vault = self.db.cf(cf::VAULT)?;
        let mut out = Vec::new();
        for item in self.db.inner.iterator_cf(vault, IteratorMode::From(&prefix, Direction::Forward)) {
            let (k, _) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            if let Some(wallet) = keys::read_part(&k[prefix.len()..]).and_then(|w| std::str::from_utf8(w).ok()) {
                out.push(WalletId::new(wallet).map_err(|e| StoreError::corrupt("staged share key", e))?);
            }
        }
        Ok(out)
    }
}
