//! Retention: entries an archive already holds, older than an age, in streams the node never
//! reads again, are removed; each leaves a tombstone (its hashes and stream place) so the
//! journal's own chain check still runs from seq 1 without a gap.

use rocksdb::{Direction, IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};

use super::{Journal, StoredEntry};
use crate::error::StoreError;
use crate::keys::{self, cf};

const CURSOR: &[u8] = b"prune/cursor";
const TOMBSTONE_PREFIX: &[u8] = b"pruned/";

/// What is left of a pruned entry.
#[derive(Serialize, Deserialize)]
pub(super) struct Tombstone {
    pub(super) prev_hash: [u8; 32],
    pub(super) hash: [u8; 32],
}

pub(super) fn tombstone_key(seq: u64) -> Vec<u8> {
    let mut k = TOMBSTONE_PREFIX.to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// What one pruning pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Entries removed.
    pub removed: u64,
    /// Entries looked at (kept ones included).
    pub scanned: u64,
}

impl Journal {
    /// Removes entries up to seq `upto` (never the head) recorded before `before_ms` that
    /// `prunable(stream key, event type)` allows, looking at most at `max` entries from where the last pass
    /// stopped. Each removal, its stream-index entry and its tombstone go in one batch.
    pub fn prune(
        &self,
        upto: u64,
        before_ms: u64,
        prunable: &dyn Fn(&str, &str) -> bool,
        max: usize,
    ) -> Result<Pruned, StoreError> {
        let (events, index, meta) = (self.db.cf(cf::EVENTS)?, self.db.cf(cf::STREAM_INDEX)?, self.db.cf(cf::META)?);
        let upto = upto.min(self.head()?.seq.saturating_sub(1));
        let cursor = match self.db.inner.get_cf(meta, CURSOR)? {
            Some(b) => {
                u64::from_be_bytes(b.as_slice().try_into().map_err(|_| StoreError::corrupt("prune cursor", "length"))?)
            }
            None => 0,
        };
        let mut done = Pruned::default();
        let mut batch = WriteBatch::default();
        let mut last = cursor;
        let from = keys::event(cursor + 1);
        for item in self.db.inner.iterator_cf(events, IteratorMode::From(&from, Direction::Forward)).take(max) {
            let (_, v) = item?;
            let entry = StoredEntry::decode(&v)?;
            if entry.seq > upto || entry.recorded_at_ms >= before_ms {
                break;
            }
            done.scanned += 1;
            last = entry.seq;
            let stream = entry.stream.key();
            if !prunable(&stream, &entry.event_type) {
                continue;
            }
            let stone = Tombstone { prev_hash: entry.prev_hash, hash: entry.hash };
            let stone = bincode::serialize(&stone).map_err(|e| StoreError::corrupt("tombstone", e))?;
            batch.put_cf(meta, tombstone_key(entry.seq), stone);
            batch.delete_cf(index, keys::stream_index(&stream, entry.stream_version));
            batch.delete_cf(events, keys::event(entry.seq));
            done.removed += 1;
        }
        if last != cursor {
            batch.put_cf(meta, CURSOR, last.to_be_bytes());
            self.db.inner.write(batch)?;
        }
        Ok(done)
    }

    /// The tombstone of a pruned entry, if `seq` was pruned.
    pub(super) fn tombstone(&self, seq: u64) -> Result<Option<Tombstone>, StoreError> {
        match self.db.inner.get_cf(self.db.cf(cf::META)?, tombstone_key(seq))? {
            Some(b) => Ok(Some(bincode::deserialize(&b).map_err(|e| StoreError::corrupt("tombstone", e))?)),
            None => Ok(None),
        }
    }
}
