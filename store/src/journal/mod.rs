//! The append-only, hash-chained event journal with per-stream optimistic concurrency,
//! idempotent appends and group commit.
//!
//! Appenders queue their requests; whoever finds no commit in progress becomes the leader, takes
//! every queued request, and writes them in one synced RocksDB batch (group commit). Each
//! request is all-or-nothing. A failed write fails the journal closed: every later append is
//! refused until restart, so the node never carries on with state it could not persist.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Condvar, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rocksdb::{Direction, IteratorMode, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::db::Db;
use crate::error::StoreError;
use crate::events::{DomainEvent, StreamId};
use crate::keys::{self, cf};

mod prune;
mod types;

pub use prune::Pruned;

pub use types::*;

#[derive(Serialize, Deserialize)]
struct StoredEntry {
    seq: u64,
    stream: StreamId,
    stream_version: u64,
    event_type: String,
    schema_version: u16,
    recorded_at_ms: u64,
    payload: Vec<u8>,
    prev_hash: [u8; 32],
    hash: [u8; 32],
}

/// An entry's hash from its fields alone (what an archive needs to re-check the chain without
/// this store): SHA-256 over a length-prefixed framing of every field and the previous hash.
pub fn entry_hash(e: &RawEntry) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"mpc-journal/v1");
    h.update(e.seq.to_be_bytes());
    h.update((e.stream.len() as u64).to_be_bytes());
    h.update(e.stream.as_bytes());
    h.update(e.stream_version.to_be_bytes());
    h.update((e.event_type.len() as u64).to_be_bytes());
    h.update(e.event_type.as_bytes());
    h.update(e.schema_version.to_be_bytes());
    h.update(e.recorded_at_ms.to_be_bytes());
    h.update((e.payload.len() as u64).to_be_bytes());
    h.update(&e.payload);
    h.update(e.prev_hash);
    h.finalize().into()
}

impl StoredEntry {
    fn raw(&self) -> RawEntry {
        RawEntry {
            seq: self.seq,
            stream: self.stream.key(),
            stream_version: self.stream_version,
            event_type: self.event_type.clone(),
            schema_version: self.schema_version,
            recorded_at_ms: self.recorded_at_ms,
            payload: self.payload.clone(),
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }

    fn compute_hash(&self) -> [u8; 32] {
        entry_hash(&self.raw())
    }

    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        bincode::deserialize(bytes).map_err(|e| StoreError::corrupt("journal entry", e))
    }

    fn into_recorded(self) -> Result<RecordedEvent, StoreError> {
        let event = DomainEvent::decode(&self.event_type, self.schema_version, &self.payload)?;
        Ok(RecordedEvent {
            seq: self.seq,
            stream: self.stream,
            stream_version: self.stream_version,
            recorded_at_ms: self.recorded_at_ms,
            event,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct IdempotencyRecord {
    request_digest: [u8; 32],
    appended: Appended,
}

/// An append with its events already encoded (done by the caller's thread, not the leader's).
struct Staged {
    stream: StreamId,
    expected: ExpectedVersion,
    encoded: Vec<(String, u16, Vec<u8>)>,
    idempotency_key: Option<IdempotencyKey>,
    side_writes: Vec<SideWrite>,
}

struct Queue {
    pending: Vec<(u64, Staged)>,
    leader: bool,
    done: HashMap<u64, Result<Appended, StoreError>>,
    next_ticket: u64,
}

/// The journal. Share it behind an `Arc`; appends from many threads are group-committed.
pub struct Journal {
    db: Db,
    queue: Mutex<Queue>,
    committed: Condvar,
    head: Mutex<JournalHead>,
    failed: AtomicBool,
    subscribers: Mutex<Vec<Sender<u64>>>,
    sync: bool,
    inject_failure: AtomicBool,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::FailedClosed
}

impl Journal {
    /// Opens the journal in `db`, reading its head.
    pub fn open(db: Db) -> Result<Self, StoreError> {
        let head = match db.inner.get_cf(db.cf(cf::META)?, keys::META_HEAD)? {
            Some(bytes) => bincode::deserialize(&bytes).map_err(|e| StoreError::corrupt("journal head", e))?,
            None => JournalHead::default(),
        };
        Ok(Self {
            db,
            queue: Mutex::new(Queue { pending: Vec::new(), leader: false, done: HashMap::new(), next_ticket: 0 }),
            committed: Condvar::new(),
            head: Mutex::new(head),
            failed: AtomicBool::new(false),
            subscribers: Mutex::new(Vec::new()),
            sync: true,
            inject_failure: AtomicBool::new(false),
        })
    }

    /// Unsynced commits: for bulk loading benchmark fixtures only, never for a node.
    #[doc(hidden)]
    pub fn unsynced_for_bulk_load(mut self) -> Self {
        self.sync = false;
        self
    }

    /// The database this journal lives in.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// False once a write failed: the node must refuse new ceremonies.
    pub fn is_healthy(&self) -> bool {
        !self.failed.load(Ordering::SeqCst)
    }

    /// Whether new ceremonies may start: the journal has not failed closed, and the data
    /// directory has at least `min_free` bytes free.
    pub fn writable(&self, min_free: u64) -> Result<(), StoreError> {
        if !self.is_healthy() {
            return Err(StoreError::FailedClosed);
        }
        self.db.check_free(min_free)
    }

    /// The end of the log.
    pub fn head(&self) -> Result<JournalHead, StoreError> {
        self.head.lock().map(|h| *h).map_err(poisoned)
    }

    /// Receives the new head sequence after every commit.
    pub fn subscribe(&self) -> Result<Receiver<u64>, StoreError> {
        let (tx, rx) = channel();
        self.subscribers.lock().map_err(poisoned)?.push(tx);
        Ok(rx)
    }

    /// Appends events to a stream; see [`AppendRequest`]. Blocks until durably committed.
    pub fn append(&self, request: AppendRequest) -> Result<Appended, StoreError> {
        let mut encoded = Vec::with_capacity(request.events.len());
        for e in &request.events {
            encoded.push((e.event_type().to_owned(), e.schema_version(), e.encode()?));
        }
        self.append_staged(Staged {
            stream: request.stream,
            expected: request.expected,
            encoded,
            idempotency_key: request.idempotency_key,
            side_writes: request.side_writes,
        })
    }

    /// Appends an event exactly as an older release stored it (type, schema version, payload):
    /// for upcasting tests and migration tools.
    #[doc(hidden)]
    pub fn append_encoded(
        &self,
        stream: StreamId,
        event_type: &str,
        schema_version: u16,
        payload: Vec<u8>,
    ) -> Result<Appended, StoreError> {
        self.append_staged(Staged {
            stream,
            expected: ExpectedVersion::Any,
            encoded: vec![(event_type.to_owned(), schema_version, payload)],
            idempotency_key: None,
            side_writes: Vec::new(),
        })
    }

    /// Makes the next commit fail as a failed fsync would (tests of failing closed).
    #[doc(hidden)]
    pub fn inject_write_failure(&self) {
        self.inject_failure.store(true, Ordering::SeqCst);
    }

    fn append_staged(&self, request: Staged) -> Result<Appended, StoreError> {
        if !self.is_healthy() {
            return Err(StoreError::FailedClosed);
        }
        if request.encoded.is_empty() {
            return Err(StoreError::InvalidInput("an append needs at least one event".into()));
        }
        let mut q = self.queue.lock().map_err(poisoned)?;
        let ticket = q.next_ticket;
        q.next_ticket += 1;
        q.pending.push((ticket, request));
        loop {
            if let Some(result) = q.done.remove(&ticket) {
                return result;
            }
            if !q.leader {
                q.leader = true;
                let batch = std::mem::take(&mut q.pending);
                drop(q);
                let results = self.commit(batch);
                q = self.queue.lock().map_err(poisoned)?;
                q.leader = false;
                q.done.extend(results);
                self.committed.notify_all();
                continue;
            }
            q = self.committed.wait(q).map_err(poisoned)?;
        }
    }

    fn commit(&self, batch: Vec<(u64, Staged)>) -> Vec<(u64, Result<Appended, StoreError>)> {
        let start = match self.head() {
            Ok(h) => h,
            Err(e) => return fail_all(batch, || e.to_string()),
        };
        let mut head = start;
        let mut wb = WriteBatch::default();
        let mut stream_heads: HashMap<String, u64> = HashMap::new();
        let mut staged_keys: HashMap<IdempotencyKey, IdempotencyRecord> = HashMap::new();
        let now = now_ms();
        let mut results = Vec::with_capacity(batch.len());
        for (ticket, request) in batch {
            let r = self.stage(&mut wb, &mut head, &mut stream_heads, &mut staged_keys, request, now);
            results.push((ticket, r));
        }
        if head == start && results.iter().all(|(_, r)| r.as_ref().map(|a| a.deduplicated).unwrap_or(true)) {
            return results; // nothing to write
        }
        let write = (|| -> Result<(), StoreError> {
            let head_bytes = bincode::serialize(&head).map_err(|e| StoreError::corrupt("journal head", e))?;
            wb.put_cf(self.db.cf(cf::META)?, keys::META_HEAD, head_bytes);
            let mut opts = WriteOptions::default();
            opts.set_sync(self.sync);
            if self.inject_failure.swap(false, Ordering::SeqCst) {
                return Err(StoreError::Io(std::io::Error::other("injected fsync failure")));
            }
            self.db.inner.write_opt(wb, &opts)?;
            Ok(())
        })();
        if let Err(e) = write {
            self.failed.store(true, Ordering::SeqCst);
            let reason = e.to_string();
            return results
                .into_iter()
                .map(|(t, r)| (t, r.and_then(|_| Err(StoreError::WriteFailed(reason.clone())))))
                .collect();
        }
        if let Ok(mut h) = self.head.lock() {
            *h = head;
        }
        if let Ok(mut subs) = self.subscribers.lock() {
            subs.retain(|s| s.send(head.seq).is_ok());
        }
        results
    }

    fn stage(
        &self,
        wb: &mut WriteBatch,
        head: &mut JournalHead,
        stream_heads: &mut HashMap<String, u64>,
        staged_keys: &mut HashMap<IdempotencyKey, IdempotencyRecord>,
        request: Staged,
        now: u64,
    ) -> Result<Appended, StoreError> {
        let stream_key = request.stream.key();
        let mut digest = Sha256::new();
        digest.update(stream_key.as_bytes());
        for (event_type, version, payload) in &request.encoded {
            digest.update((event_type.len() as u64).to_be_bytes());
            digest.update(event_type.as_bytes());
            digest.update(version.to_be_bytes());
            digest.update((payload.len() as u64).to_be_bytes());
            digest.update(payload);
        }
        let request_digest: [u8; 32] = digest.finalize().into();

        if let Some(key) = request.idempotency_key {
            let previous = match staged_keys.get(&key) {
                Some(r) => Some((r.request_digest, r.appended)),
                None => self.idempotency_record(&key)?.map(|r| (r.request_digest, r.appended)),
            };
            if let Some((d, appended)) = previous {
                return if d == request_digest {
                    Ok(Appended { deduplicated: true, ..appended })
                } else {
                    Err(StoreError::IdempotencyMismatch { key: hex::encode(key.0) })
                };
            }
        }

        let actual = match stream_heads.get(&stream_key) {
            Some(v) => *v,
            None => self.stream_version_key(&stream_key)?,
        };
        let ok = match request.expected {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual == 0,
            ExpectedVersion::Exactly(v) => actual == v,
        };
        if !ok {
            return Err(StoreError::Conflict { stream: stream_key, expected: request.expected.to_string(), actual });
        }

        let (events_cf, index_cf, heads_cf) =
            (self.db.cf(cf::EVENTS)?, self.db.cf(cf::STREAM_INDEX)?, self.db.cf(cf::STREAM_HEADS)?);
        let first_seq = head.seq + 1;
        let mut version = actual;
        for (event_type, schema_version, payload) in request.encoded {
            version += 1;
            let mut entry = StoredEntry {
                seq: head.seq + 1,
                stream: request.stream.clone(),
                stream_version: version,
                event_type,
                schema_version,
                recorded_at_ms: now,
                payload,
                prev_hash: head.hash,
                hash: [0; 32],
            };
            entry.hash = entry.compute_hash();
            let bytes = bincode::serialize(&entry).map_err(|e| StoreError::corrupt("journal entry", e))?;
            wb.put_cf(events_cf, keys::event(entry.seq), bytes);
            wb.put_cf(index_cf, keys::stream_index(&stream_key, version), entry.seq.to_be_bytes());
            *head = JournalHead { seq: entry.seq, hash: entry.hash };
        }
        wb.put_cf(heads_cf, keys::stream_head(&stream_key), version.to_be_bytes());
        stream_heads.insert(stream_key, version);
        let appended = Appended { first_seq, last_seq: head.seq, stream_version: version, deduplicated: false };
        if let Some(key) = request.idempotency_key {
            let record = IdempotencyRecord { request_digest, appended };
            let bytes = bincode::serialize(&record).map_err(|e| StoreError::corrupt("idempotency record", e))?;
            wb.put_cf(self.db.cf(cf::IDEMPOTENCY)?, key.0, bytes);
            staged_keys.insert(key, record);
        }
        for w in request.side_writes {
            let cf = self.db.cf(w.cf)?;
            match w.value {
                Some(v) => wb.put_cf(cf, &w.key, v),
                None => wb.delete_cf(cf, &w.key),
            }
        }
        Ok(appended)
    }

    fn idempotency_record(&self, key: &IdempotencyKey) -> Result<Option<IdempotencyRecord>, StoreError> {
        match self.db.inner.get_cf(self.db.cf(cf::IDEMPOTENCY)?, key.0)? {
            Some(b) => Ok(Some(bincode::deserialize(&b).map_err(|e| StoreError::corrupt("idempotency record", e))?)),
            None => Ok(None),
        }
    }

    fn stream_version_key(&self, stream_key: &str) -> Result<u64, StoreError> {
        match self.db.inner.get_cf(self.db.cf(cf::STREAM_HEADS)?, keys::stream_head(stream_key))? {
            Some(b) => {
                let arr: [u8; 8] =
                    b.as_slice().try_into().map_err(|_| StoreError::corrupt("stream head", "bad length"))?;
                Ok(u64::from_be_bytes(arr))
            }
            None => Ok(0),
        }
    }

    /// A stream's version (its number of events; 0 when it does not exist).
    pub fn stream_version(&self, stream: &StreamId) -> Result<u64, StoreError> {
        self.stream_version_key(&stream.key())
    }

    /// Reads up to `limit` events of the global log from `from_seq` on.
    pub fn read_all(&self, from_seq: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let from = keys::event(from_seq.max(1));
        let iter = self.db.inner.iterator_cf(self.db.cf(cf::EVENTS)?, IteratorMode::From(&from, Direction::Forward));
        let mut out = Vec::new();
        for item in iter.take(limit) {
            let (_, v) = item?;
            out.push(StoredEntry::decode(&v)?.into_recorded()?);
        }
        Ok(out)
    }

    /// Reads up to `limit` entries from `from_seq` on exactly as stored (for an archive that
    /// re-checks the hash chain on its own).
    pub fn read_raw(&self, from_seq: u64, limit: usize) -> Result<Vec<RawEntry>, StoreError> {
        let from = keys::event(from_seq.max(1));
        let iter = self.db.inner.iterator_cf(self.db.cf(cf::EVENTS)?, IteratorMode::From(&from, Direction::Forward));
        let mut out = Vec::new();
        for item in iter.take(limit) {
            let (_, v) = item?;
            out.push(StoredEntry::decode(&v)?.raw());
        }
        Ok(out)
    }

    /// Reads one event by sequence.
    pub fn get(&self, seq: u64) -> Result<Option<RecordedEvent>, StoreError> {
        match self.db.inner.get_cf(self.db.cf(cf::EVENTS)?, keys::event(seq))? {
            Some(v) => Ok(Some(StoredEntry::decode(&v)?.into_recorded()?)),
            None => Ok(None),
        }
    }

    /// Reads up to `limit` events of one stream from version `from_version` on.
    pub fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let key = stream.key();
        let prefix = keys::stream_head(&key);
        let from = keys::stream_index(&key, from_version.max(1));
        let iter =
            self.db.inner.iterator_cf(self.db.cf(cf::STREAM_INDEX)?, IteratorMode::From(&from, Direction::Forward));
        let mut out = Vec::new();
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            let arr: [u8; 8] = v.as_ref().try_into().map_err(|_| StoreError::corrupt("stream index", "bad length"))?;
            let seq = u64::from_be_bytes(arr);
            match self.get(seq)? {
                Some(event) => out.push(event),
                // Pruned while this read ran (its index entry goes in the same batch).
                None if self.tombstone(seq)?.is_some() => {}
                None => return Err(StoreError::Tampered { seq, reason: "indexed entry missing".into() }),
            }
        }
        Ok(out)
    }

    /// Walks the whole log: contiguous sequence numbers, every hash recomputed and chained,
    /// every payload decodable, every stream index entry pointing back, and the stored head
    /// matching the last entry (a removed tail is caught).
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let head = self.head()?;
        let index_cf = self.db.cf(cf::STREAM_INDEX)?;
        let mut prev = [0u8; 32];
        let mut expected_seq = 1u64;
        // A pruned entry's tombstone stands in for it: its hashes still chain.
        let skip_pruned = |prev: &mut [u8; 32], expected: &mut u64, upto: u64| -> Result<(), StoreError> {
            while *expected < upto {
                let seq = *expected;
                let stone = self
                    .tombstone(seq)?
                    .ok_or(StoreError::Tampered { seq, reason: "sequence gap or reordered entry".into() })?;
                if stone.prev_hash != *prev {
                    return Err(StoreError::Tampered {
                        seq,
                        reason: "previous-hash link broken (pruned entry)".into(),
                    });
                }
                *prev = stone.hash;
                *expected += 1;
            }
            Ok(())
        };
        for item in self.db.inner.iterator_cf(self.db.cf(cf::EVENTS)?, IteratorMode::Start) {
            let (k, v) = item?;
            let at: [u8; 8] = k.as_ref().try_into().map_err(|_| StoreError::corrupt("journal key", "length"))?;
            skip_pruned(&mut prev, &mut expected_seq, u64::from_be_bytes(at))?;
            let seq = expected_seq;
            let tampered = |reason: &str| StoreError::Tampered { seq, reason: reason.to_owned() };
            if k.as_ref() != keys::event(seq) {
                return Err(tampered("sequence gap or reordered entry"));
            }
            let entry = StoredEntry::decode(&v).map_err(|e| tampered(&e.to_string()))?;
            if entry.seq != seq {
                return Err(tampered("entry carries another sequence number"));
            }
            if entry.prev_hash != prev {
                return Err(tampered("previous-hash link broken"));
            }
            if entry.compute_hash() != entry.hash {
                return Err(tampered("content does not match its hash"));
            }
            let index =
                self.db.inner.get_cf(index_cf, keys::stream_index(&entry.stream.key(), entry.stream_version))?;
            if index.as_deref() != Some(seq.to_be_bytes().as_slice()) {
                return Err(tampered("stream index does not point to this entry"));
            }
            prev = entry.hash;
            DomainEvent::decode(&entry.event_type, entry.schema_version, &entry.payload)
                .map_err(|e| tampered(&e.to_string()))?;
            expected_seq += 1;
        }
        while expected_seq <= head.seq && self.tombstone(expected_seq)?.is_some() {
            let next = expected_seq + 1;
            skip_pruned(&mut prev, &mut expected_seq, next)?;
        }
        let last = expected_seq - 1;
        if last != head.seq || prev != head.hash {
            return Err(StoreError::Tampered {
                seq: last.min(head.seq) + 1,
                reason: format!("log ends at {last} but the recorded head is {}", head.seq),
            });
        }
        Ok(VerifyReport { entries: last, head })
    }
}

fn fail_all<F: Fn() -> String>(batch: Vec<(u64, Staged)>, reason: F) -> Vec<(u64, Result<Appended, StoreError>)> {
    batch.into_iter().map(|(t, _)| (t, Err(StoreError::corrupt("commit", reason())))).collect()
}
