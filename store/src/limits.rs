//! What the limiter granted, so that a restart does not reset a wallet's daily budget or its
//! message-diversity window. One small record per granted signing, keyed by time: loading is
//! one scan from a day ago, pruning one range delete.
//!
//! Records are written to the WAL without a sync each (a killed process keeps them); the
//! journal's synced appends sync the same WAL, and the limiter syncs it every second.

use protocol::limits::Grant;
use protocol::{SessionId, WalletId};
use rocksdb::{Direction, IteratorMode, WriteOptions};

use crate::db::Db;
use crate::error::StoreError;
use crate::keys::{self, cf};

/// Reads and writes granted signings.
#[derive(Clone)]
pub struct GrantLog {
    db: Db,
}

impl GrantLog {
    /// Over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Records a granted signing.
    pub fn record(&self, wallet: &WalletId, session: &SessionId, grant: &Grant) -> Result<(), StoreError> {
        let value = bincode::serialize(grant).map_err(|e| StoreError::corrupt("limits", e.to_string()))?;
        let mut opts = WriteOptions::default();
        opts.set_sync(false);
        let key = keys::limit_grant(grant.at_ms, wallet.as_str(), session.as_bytes());
        self.db.inner.put_cf_opt(self.db.cf(cf::LIMITS)?, key, value, &opts)?;
        Ok(())
    }

    /// Forgets one granted signing (its proposal never started).
    pub fn remove(&self, wallet: &WalletId, session: &SessionId, at_ms: u64) -> Result<(), StoreError> {
        let key = keys::limit_grant(at_ms, wallet.as_str(), session.as_bytes());
        self.db.inner.delete_cf(self.db.cf(cf::LIMITS)?, key)?;
        Ok(())
    }

    /// Makes the records written so far durable.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.db.inner.flush_wal(true)?;
        Ok(())
    }

    /// Every grant since `since_ms`, with its wallet. A record that does not decode is an
    /// error: a budget must not silently reset.
    pub fn since(&self, since_ms: u64) -> Result<Vec<(WalletId, Grant)>, StoreError> {
        let cf = self.db.cf(cf::LIMITS)?;
        let start = since_ms.to_be_bytes();
        let mut out = Vec::new();
        for item in self.db.inner.iterator_cf(cf, IteratorMode::From(&start, Direction::Forward)) {
            let (key, value) = item?;
            let wallet = wallet_of(&key).ok_or_else(|| StoreError::corrupt("limits", "bad key"))?;
            let grant: Grant =
                bincode::deserialize(&value).map_err(|e| StoreError::corrupt("limits", e.to_string()))?;
            out.push((wallet, grant));
        }
        Ok(out)
    }

    /// Forgets grants older than `before_ms`.
    pub fn prune(&self, before_ms: u64) -> Result<(), StoreError> {
        let cf = self.db.cf(cf::LIMITS)?;
        self.db.inner.delete_range_cf(cf, 0u64.to_be_bytes(), before_ms.to_be_bytes())?;
        Ok(())
    }
}

fn wallet_of(key: &[u8]) -> Option<WalletId> {
    let len = u32::from_be_bytes(key.get(8..12)?.try_into().ok()?) as usize;
    let text = std::str::from_utf8(key.get(12..12usize.checked_add(len)?)?).ok()?;
    WalletId::new(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_survive_reopening_and_old_ones_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let wallet = WalletId::new("w-1").unwrap();
        {
            let log = GrantLog::new(Db::open(dir.path()).unwrap());
            for (i, at) in [1_000u64, 2_000, 3_000].into_iter().enumerate() {
                let grant = Grant { at_ms: at, digests: vec![[i as u8; 32]], raw: i == 2 };
                log.record(&wallet, &SessionId::from_bytes([i as u8; 32]), &grant).unwrap();
            }
            log.sync().unwrap();
        }
        let log = GrantLog::new(Db::open(dir.path()).unwrap());
        let all = log.since(0).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[2], (wallet.clone(), Grant { at_ms: 3_000, digests: vec![[2; 32]], raw: true }));
        assert_eq!(log.since(2_000).unwrap().len(), 2);
        log.remove(&wallet, &SessionId::from_bytes([1; 32]), 2_000).unwrap();
        assert_eq!(log.since(0).unwrap().len(), 2, "a refunded grant is gone");
        log.prune(2_500).unwrap();
        assert_eq!(log.since(0).unwrap().len(), 1);
    }
}
