//! CQRS read models fed from the journal: the wallets held here, the transfers not yet
//! finished, transaction history per wallet (newest first, paginated), balances per wallet and
//! chain, and the audit trail by time. One writer at a time applies events, so a reader that
//! needs its own write ([`Projections::refresh`]) and the follower never interleave. Each batch of
//! applied events and the checkpoint that records it are written together, so a projection is
//! never ahead of or behind what it says. They can be dropped and rebuilt by replay; a snapshot
//! of the aggregate state (balances, transaction owners) lets a rebuild of those skip the
//! events before it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use protocol::WalletId;
use rocksdb::{Direction, IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::error::StoreError;
use crate::events::{DomainEvent, StreamId};
use crate::journal::{Journal, RecordedEvent};
use crate::keys::{self, cf};

/// One line of a wallet's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Journal sequence (also the page cursor).
    pub seq: u64,
    /// Commit time, ms.
    pub recorded_at_ms: u64,
    /// Transaction concerned, if any.
    pub tx: Option<String>,
    /// The event.
    pub event: DomainEvent,
}

/// A page of history, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryPage {
    /// Entries, newest first.
    pub entries: Vec<HistoryEntry>,
    /// Pass as `before` to get the next (older) page; `None` at the end.
    pub next_before: Option<u64>,
}

/// A balance as last observed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// Chain name.
    pub chain: String,
    /// Amount in the chain's smallest unit.
    pub amount: u128,
    /// Journal sequence of the observation.
    pub seq: u64,
}

/// One audit line, with its place in the hash chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Journal sequence.
    pub seq: u64,
    /// Commit time, ms.
    pub recorded_at_ms: u64,
    /// Stream.
    pub stream: StreamId,
    /// The entry's hash.
    pub hash: [u8; 32],
    /// The previous entry's hash.
    pub prev_hash: [u8; 32],
    /// The event.
    pub event: DomainEvent,
}

/// A wallet this node holds a share of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletRow {
    /// Its id.
    pub wallet: WalletId,
    /// Scheme.
    pub scheme: protocol::SchemeId,
    /// Signers needed.
    pub threshold: u16,
    /// Committee size.
    pub parties: u16,
    /// Group public key.
    pub public_key: protocol::PublicKey,
    /// When it was created, ms since the epoch.
    pub created_ms: u64,
}

/// A transfer initiated and not yet confirmed or failed (here or reported by its proposer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenTransfer {
    /// Transaction id (its stream).
    pub tx: String,
    /// Paying wallet.
    pub wallet: WalletId,
    /// Chain name.
    pub chain: String,
}

type KeyValue = (Vec<u8>, Vec<u8>);

#[derive(Serialize, Deserialize, Default)]
struct Snapshot {
    seq: u64,
    balances: Vec<KeyValue>,
    tx_wallets: Vec<KeyValue>,
}

/// What a rebuild did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RebuildReport {
    /// Events replayed.
    pub replayed: u64,
    /// Where replay started (0 = from the beginning).
    pub from_snapshot: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// The read models.
#[derive(Clone)]
pub struct Projections {
    db: Db,
    /// Held while events are applied: one writer at a time.
    writer: Arc<std::sync::Mutex<()>>,
}

fn enc<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    bincode::serialize(v).map_err(|e| StoreError::corrupt("projection", e))
}

fn dec<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, StoreError> {
    bincode::deserialize(b).map_err(|e| StoreError::corrupt("projection", e))
}

impl Projections {
    /// Over `db`.
    pub fn new(db: Db) -> Self {
        Self { db, writer: Arc::new(std::sync::Mutex::new(())) }
    }

    /// The last journal sequence applied.
    pub fn applied(&self) -> Result<u64, StoreError> {
        match self.db.inner.get_cf(self.db.cf(cf::PROJ_STATE)?, keys::PROJ_CHECKPOINT)? {
            Some(b) => dec(&b),
            None => Ok(0),
        }
    }

    /// Events committed but not yet applied.
    pub fn lag(&self, journal: &Journal) -> Result<u64, StoreError> {
        Ok(journal.head()?.seq.saturating_sub(self.applied()?))
    }

    /// Applies everything committed so far before returning: a reader's own writes are then
    /// visible (read your writes). Cheap when nothing is pending.
    pub fn refresh(&self, journal: &Journal) -> Result<u64, StoreError> {
        if self.lag(journal)? == 0 {
            return Ok(0);
        }
        self.catch_up(journal, 1024)
    }

    /// Applies every event after the checkpoint, in batches of `batch` events. Returns how many.
    pub fn catch_up(&self, journal: &Journal, batch: usize) -> Result<u64, StoreError> {
        let _writer = self.writer.lock().map_err(|_| StoreError::corrupt("projection", "writer lock poisoned"))?;
        let mut total = 0;
        loop {
            let from = self.applied()? + 1;
            let events = journal.read_all(from, batch.max(1))?;
            if events.is_empty() {
                return Ok(total);
            }
            total += events.len() as u64;
            self.apply(&events)?;
        }
    }

    fn apply(&self, events: &[RecordedEvent]) -> Result<(), StoreError> {
        let (history, balances, audit, state) = (
            self.db.cf(cf::PROJ_HISTORY)?,
            self.db.cf(cf::PROJ_BALANCES)?,
            self.db.cf(cf::PROJ_AUDIT)?,
            self.db.cf(cf::PROJ_STATE)?,
        );
        let mut wb = WriteBatch::default();
        // Owners staged in this batch: a transaction's later events may arrive in the same batch.
        let mut owners: BTreeMap<String, WalletId> = BTreeMap::new();
        let mut last = 0;
        for e in events {
            last = e.seq;
            let tx = e.event.transaction().map(str::to_owned);
            let wallet = match (e.event.wallet(), &tx) {
                (Some(w), _) => Some(w.clone()),
                (None, Some(t)) => match owners.get(t) {
                    Some(w) => Some(w.clone()),
                    None => match self.db.inner.get_cf(state, keys::tx_wallet(t))? {
                        Some(b) => Some(dec::<WalletId>(&b)?),
                        None => None,
                    },
                },
                _ => None,
            };
            if let (DomainEvent::TransactionInitiated(t), Some(w)) = (&e.event, &wallet) {
                owners.insert(t.tx.clone(), w.clone());
                wb.put_cf(state, keys::tx_wallet(&t.tx), enc(w)?);
            }
            if let Some(w) = &wallet {
                let entry = HistoryEntry { seq: e.seq, recorded_at_ms: e.recorded_at_ms, tx, event: e.event.clone() };
                wb.put_cf(history, keys::history(w.as_str(), e.seq), enc(&entry)?);
            }
            match &e.event {
                DomainEvent::WalletCreated { wallet, scheme, threshold, parties, public_key } => {
                    let row = WalletRow {
                        wallet: wallet.clone(),
                        scheme: scheme.clone(),
                        threshold: *threshold,
                        parties: *parties,
                        public_key: protocol::PublicKey { scheme: scheme.clone(), bytes: public_key.clone() },
                        created_ms: e.recorded_at_ms,
                    };
                    wb.put_cf(state, keys::wallet_row(wallet.as_str()), enc(&row)?);
                }
                DomainEvent::WalletDiscarded { wallet, .. } => {
                    wb.delete_cf(state, keys::wallet_row(wallet.as_str()));
                }
                DomainEvent::KeySharesReshared { wallet, threshold, .. } => {
                    if let Some(b) = self.db.inner.get_cf(state, keys::wallet_row(wallet.as_str()))? {
                        let row = WalletRow { threshold: *threshold, ..dec::<WalletRow>(&b)? };
                        wb.put_cf(state, keys::wallet_row(wallet.as_str()), enc(&row)?);
                    }
                }
                DomainEvent::TransactionInitiated(t) => {
                    let open = OpenTransfer { tx: t.tx.clone(), wallet: t.wallet.clone(), chain: t.chain.clone() };
                    wb.put_cf(state, keys::open_tx(&t.tx), enc(&open)?);
                }
                DomainEvent::TransactionConfirmed { tx, .. } | DomainEvent::TransactionFailed { tx, .. } => {
                    wb.delete_cf(state, keys::open_tx(tx));
                }
                _ => {}
            }
            if let DomainEvent::BalanceObserved { wallet, chain, amount } = &e.event {
                let b = Balance { chain: chain.clone(), amount: *amount, seq: e.seq };
                wb.put_cf(balances, keys::balance(wallet.as_str(), chain), enc(&b)?);
            }
            let a = AuditEntry {
                seq: e.seq,
                recorded_at_ms: e.recorded_at_ms,
                stream: e.stream.clone(),
                hash: e.hash,
                prev_hash: e.prev_hash,
                event: e.event.clone(),
            };
            wb.put_cf(audit, keys::audit(e.recorded_at_ms, e.seq), enc(&a)?);
        }
        wb.put_cf(state, keys::PROJ_CHECKPOINT, enc(&last)?);
        // Not synced: a read model lost in a crash is rebuilt from the (synced) journal.
        self.db.inner.write(wb)?;
        Ok(())
    }

    /// A wallet held here.
    pub fn wallet(&self, wallet: &WalletId) -> Result<Option<WalletRow>, StoreError> {
        match self.db.inner.get_cf(self.db.cf(cf::PROJ_STATE)?, keys::wallet_row(wallet.as_str()))? {
            Some(b) => Ok(Some(dec(&b)?)),
            None => Ok(None),
        }
    }

    /// Every wallet held here, by id.
    pub fn wallets(&self) -> Result<Vec<WalletRow>, StoreError> {
        self.rows(keys::WALLET_PREFIX)
    }

    /// Every transfer initiated and not yet confirmed or failed, by id.
    pub fn open_transfers(&self) -> Result<Vec<OpenTransfer>, StoreError> {
        self.rows(keys::OPEN_TX_PREFIX)
    }

    fn rows<T: serde::de::DeserializeOwned>(&self, prefix: &[u8]) -> Result<Vec<T>, StoreError> {
        let state = self.db.cf(cf::PROJ_STATE)?;
        let mut out = Vec::new();
        for item in self.db.inner.iterator_cf(state, IteratorMode::From(prefix, Direction::Forward)) {
            let (k, v) = item?;
            if !k.starts_with(prefix) {
                break;
            }
            out.push(dec(&v)?);
        }
        Ok(out)
    }

    /// A wallet's history, newest first: up to `limit` entries older than `before` (a seq).
    pub fn history(&self, wallet: &WalletId, before: Option<u64>, limit: usize) -> Result<HistoryPage, StoreError> {
        let prefix = keys::history_prefix(wallet.as_str());
        let start = match before {
            Some(seq) => keys::history(wallet.as_str(), seq.saturating_sub(1)),
            None => prefix.clone(),
        };
        if before == Some(0) || before == Some(1) {
            return Ok(HistoryPage { entries: Vec::new(), next_before: None });
        }
        let iter =
            self.db.inner.iterator_cf(self.db.cf(cf::PROJ_HISTORY)?, IteratorMode::From(&start, Direction::Forward));
        let mut entries = Vec::new();
        let mut more = false;
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            if entries.len() == limit {
                more = true;
                break;
            }
            entries.push(dec::<HistoryEntry>(&v)?);
        }
        let next_before = if more { entries.last().map(|e| e.seq) } else { None };
        Ok(HistoryPage { entries, next_before })
    }

    /// A wallet's balances, by chain.
    pub fn balances(&self, wallet: &WalletId) -> Result<Vec<Balance>, StoreError> {
        let prefix = keys::history_prefix(wallet.as_str());
        let iter =
            self.db.inner.iterator_cf(self.db.cf(cf::PROJ_BALANCES)?, IteratorMode::From(&prefix, Direction::Forward));
        let mut out = Vec::new();
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            out.push(dec::<Balance>(&v)?);
        }
        out.sort_by(|a, b| a.chain.cmp(&b.chain));
        Ok(out)
    }

    /// Audit entries with `from_ms <= time < to_ms`, oldest first, at most `limit`.
    pub fn audit(&self, from_ms: u64, to_ms: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let start = keys::audit(from_ms, 0);
        let end = keys::audit(to_ms, 0);
        let iter =
            self.db.inner.iterator_cf(self.db.cf(cf::PROJ_AUDIT)?, IteratorMode::From(&start, Direction::Forward));
        let mut out = Vec::new();
        for item in iter {
            let (k, v) = item?;
            if k.as_ref() >= end.as_slice() || out.len() >= limit {
                break;
            }
            out.push(dec(&v)?);
        }
        Ok(out)
    }

    /// Saves the aggregate state (balances, transaction owners, wallets, open transfers) at the
    /// current checkpoint.
    pub fn snapshot(&self) -> Result<u64, StoreError> {
        let seq = self.applied()?;
        let collect = |name: &'static str, only_tx: bool| -> Result<Vec<KeyValue>, StoreError> {
            let mut out = Vec::new();
            for item in self.db.inner.iterator_cf(self.db.cf(name)?, IteratorMode::Start) {
                let (k, v) = item?;
                let state = [b"tx/".as_slice(), keys::WALLET_PREFIX, keys::OPEN_TX_PREFIX];
                if !only_tx || state.iter().any(|p| k.starts_with(p)) {
                    out.push((k.to_vec(), v.to_vec()));
                }
            }
            Ok(out)
        };
        let snap =
            Snapshot { seq, balances: collect(cf::PROJ_BALANCES, false)?, tx_wallets: collect(cf::PROJ_STATE, true)? };
        self.db.inner.put_cf(self.db.cf(cf::SNAPSHOTS)?, keys::SNAPSHOT_LATEST, enc(&snap)?)?;
        Ok(seq)
    }

    /// Drops every read model and replays the whole journal.
    pub fn rebuild(&self, journal: &Journal) -> Result<RebuildReport, StoreError> {
        let started = Instant::now();
        self.clear()?;
        let replayed = self.catch_up(journal, 4096)?;
        Ok(RebuildReport { replayed, from_snapshot: 0, elapsed: started.elapsed() })
    }

    /// Restores balances, transaction owners, wallets and open transfers from the latest snapshot and replays only the
    /// events after it. History and audit lines before the snapshot are not rebuilt by this
    /// (use [`Projections::rebuild`] for those).
    pub fn rebuild_from_snapshot(&self, journal: &Journal) -> Result<RebuildReport, StoreError> {
        let started = Instant::now();
        let snap: Snapshot = match self.db.inner.get_cf(self.db.cf(cf::SNAPSHOTS)?, keys::SNAPSHOT_LATEST)? {
            Some(b) => dec(&b)?,
            None => return self.rebuild(journal),
        };
        self.clear()?;
        let mut wb = WriteBatch::default();
        for (k, v) in &snap.balances {
            wb.put_cf(self.db.cf(cf::PROJ_BALANCES)?, k, v);
        }
        for (k, v) in &snap.tx_wallets {
            wb.put_cf(self.db.cf(cf::PROJ_STATE)?, k, v);
        }
        wb.put_cf(self.db.cf(cf::PROJ_STATE)?, keys::PROJ_CHECKPOINT, enc(&snap.seq)?);
        self.db.inner.write(wb)?;
        let replayed = self.catch_up(journal, 4096)?;
        Ok(RebuildReport { replayed, from_snapshot: snap.seq, elapsed: started.elapsed() })
    }

    fn clear(&self) -> Result<(), StoreError> {
        for name in cf::PROJECTIONS {
            let handle = self.db.cf(name)?;
            let mut wb = WriteBatch::default();
            // Every key in these families is below 0xFF.. of this length.
            wb.delete_range_cf(handle, [0u8].as_slice(), [0xFFu8; 64].as_slice());
            self.db.inner.write(wb)?;
        }
        Ok(())
    }

    /// Starts a thread that applies new events as the journal commits them (subscription),
    /// until the returned handle is stopped.
    pub fn spawn_follower(&self, journal: Arc<Journal>) -> Result<Follower, StoreError> {
        let rx = journal.subscribe()?;
        let stop = Arc::new(AtomicBool::new(false));
        let (me, stop2) = (self.clone(), stop.clone());
        let handle = std::thread::spawn(move || -> Result<(), StoreError> {
            me.catch_up(&journal, 1024)?;
            while !stop2.load(Ordering::SeqCst) {
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        while rx.try_recv().is_ok() {}
                        me.catch_up(&journal, 1024)?;
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            Ok(())
        });
        Ok(Follower { stop, handle: Some(handle) })
    }
}

/// A running projection follower.
pub struct Follower {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<(), StoreError>>>,
}

impl Follower {
    /// Stops the thread and returns its result.
    pub fn stop(mut self) -> Result<(), StoreError> {
        self.stop.store(true, Ordering::SeqCst);
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(StoreError::corrupt("projection follower", "thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
