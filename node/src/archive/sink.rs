//! The journal sink: one actor that follows this node's journal into PostgreSQL.
//!
//! Each step is one PostgreSQL transaction: lock this source's position, read the journal
//! entries after it, check they continue the archived chain, insert them (and the read-model
//! rows they imply), move the position, commit. A crash on either side before the commit
//! leaves the position where it was, so the same entries are written again, once; after it,
//! they are never read again. PostgreSQL being down or slow only delays the sink: it reads the
//! journal and never blocks a writer, retries with a growing pause, and reports its lag.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::{json, Value};
use store::events::DomainEvent;
use store::journal::RawEntry;
use store::Journal;
use tokio_postgres::Client;

use super::{connect, migrate, ArchiveError};
use crate::config::ArchiveSection;

/// What the sink shares with `node_info` and the metrics, without a message.
#[derive(Debug, Default)]
pub struct ArchiveStatus {
    /// The last sequence PostgreSQL acknowledged.
    pub position: AtomicU64,
    /// Connected now.
    pub connected: AtomicBool,
    /// Entries written since start.
    pub written: AtomicU64,
    /// The last failure, cleared by the next success.
    pub last_error: Mutex<Option<String>>,
    /// Journal entries removed by retention since start.
    pub pruned: AtomicU64,
}

impl ArchiveStatus {
    /// As `node_info` shows it, `head` being the journal's head.
    pub fn view(&self, source: &str, head: u64) -> Value {
        let position = self.position.load(Ordering::Relaxed);
        json!({
            "source": source,
            "connected": self.connected.load(Ordering::Relaxed),
            "position": position,
            "lag_events": head.saturating_sub(position),
            "written": self.written.load(Ordering::Relaxed),
            "pruned": self.pruned.load(Ordering::Relaxed),
            "last_error": self.last_error.lock().ok().and_then(|e| e.clone()),
        })
    }

    fn failed(&self, e: &ArchiveError) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(e.to_string());
        }
    }
}

/// What the sink starts with.
pub struct SinkArgs {
    /// The journal it follows.
    pub journal: Arc<Journal>,
    /// `[archive]`.
    pub config: ArchiveSection,
    /// This node's rows' label.
    pub source: String,
    /// Shared status.
    pub status: Arc<ArchiveStatus>,
    /// The read models (retention never passes their checkpoint).
    pub projections: store::Projections,
}

/// The sink's one message: look for new entries (sent every 100 ms).
pub enum SinkMsg {
    /// Archive what is new, if connected (or due to reconnect).
    Poll,
}

/// The actor.
pub struct ArchiveSink;

/// Its state.
pub struct SinkState {
    args: SinkArgs,
    client: Option<Client>,
    pause_ms: u64,
    next_try: Instant,
    next_prune: Instant,
}

const POLL: Duration = Duration::from_millis(100);
const FIRST_PAUSE_MS: u64 = 250;
/// Batches per poll before letting the mailbox in (a long catch-up stays responsive).
const BATCHES_PER_POLL: usize = 20;

impl Actor for ArchiveSink {
    type Msg = SinkMsg;
    type State = SinkState;
    type Arguments = SinkArgs;

    async fn pre_start(&self, myself: ActorRef<SinkMsg>, args: SinkArgs) -> Result<SinkState, ActorProcessingErr> {
        myself.send_interval(POLL, || SinkMsg::Poll);
        Ok(SinkState {
            args,
            client: None,
            pause_ms: FIRST_PAUSE_MS,
            next_try: Instant::now(),
            next_prune: Instant::now(),
        })
    }

    async fn handle(
        &self,
        _: ActorRef<SinkMsg>,
        msg: SinkMsg,
        state: &mut SinkState,
    ) -> Result<(), ActorProcessingErr> {
        let SinkMsg::Poll = msg;
        state.poll().await;
        Ok(())
    }
}

impl SinkState {
    async fn poll(&mut self) {
        if self.client.is_none() {
            if Instant::now() < self.next_try {
                return;
            }
            match self.open().await {
                Ok(c) => {
                    self.client = Some(c);
                    self.pause_ms = FIRST_PAUSE_MS;
                    self.args.status.connected.store(true, Ordering::Relaxed);
                    tracing::info!(source = %self.args.source, "archive: connected");
                }
                Err(e) => return self.failed(e),
            }
        }
        for _ in 0..BATCHES_PER_POLL {
            let Some(client) = self.client.as_mut() else { return };
            let step = tokio::time::timeout(Duration::from_secs(60), step(client, &self.args));
            match step.await.unwrap_or(Err(ArchiveError::Timeout("an archive step"))) {
                Ok(0) => return self.retain().await,
                Ok(n) => {
                    self.args.status.written.fetch_add(n, Ordering::Relaxed);
                    if let Ok(mut last) = self.args.status.last_error.lock() {
                        *last = None;
                    }
                }
                Err(e) => return self.failed(e),
            }
        }
    }

    /// A retention pass when one is due (caught up, `prune_after_s` set).
    async fn retain(&mut self) {
        let Some(after_s) = self.args.config.prune_after_s else { return };
        if Instant::now() < self.next_prune {
            return;
        }
        self.next_prune = Instant::now() + Duration::from_secs(after_s.clamp(1, 300));
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let before_ms = now_ms.saturating_sub(after_s.saturating_mul(1000));
        let position = self.args.status.position.load(Ordering::Relaxed);
        let (journal, projections) = (self.args.journal.clone(), self.args.projections.clone());
        let pass =
            tokio::task::spawn_blocking(move || super::retention::prune(&journal, &projections, position, before_ms))
                .await;
        match pass {
            Ok(Ok(p)) => {
                self.args.status.pruned.fetch_add(p.removed, Ordering::Relaxed);
                if p.removed > 0 {
                    tracing::info!(removed = p.removed, scanned = p.scanned, "archive: pruned journal entries");
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "archive: retention pass failed"),
            Err(e) => tracing::warn!(error = %e, "archive: retention pass panicked"),
        }
    }

    async fn open(&self) -> Result<Client, ArchiveError> {
        let mut client = connect(&self.args.config).await?;
        migrate(&mut client).await?;
        let row =
            client.query_opt("SELECT seq FROM mpc_archive_position WHERE source = $1", &[&self.args.source]).await?;
        let position = row.map_or(0, |r| r.get::<_, i64>(0)) as u64;
        self.args.status.position.store(position, Ordering::Relaxed);
        Ok(client)
    }

    fn failed(&mut self, e: ArchiveError) {
        if self.client.take().is_some() || self.pause_ms == FIRST_PAUSE_MS {
            tracing::warn!(source = %self.args.source, error = %e, "archive: falling behind; retrying");
        }
        self.args.status.connected.store(false, Ordering::Relaxed);
        self.args.status.failed(&e);
        self.next_try = Instant::now() + Duration::from_millis(self.pause_ms);
        self.pause_ms = (self.pause_ms * 2).min(self.args.config.retry_max_ms.max(FIRST_PAUSE_MS));
    }
}

/// One transaction: the entries after this source's position, their read-model rows, the new
/// position. Returns how many entries it archived.
async fn step(client: &mut Client, args: &SinkArgs) -> Result<u64, ArchiveError> {
    let source = args.source.as_str();
    let tx = client.transaction().await?;
    let row =
        tx.query_opt("SELECT seq, hash FROM mpc_archive_position WHERE source = $1 FOR UPDATE", &[&source]).await?;
    let (position, position_hash) = match row {
        Some(r) => (r.get::<_, i64>(0) as u64, r.get::<_, Vec<u8>>(1)),
        None => (0, vec![0u8; 32]),
    };
    let journal = args.journal.clone();
    let batch = args.config.batch as usize;
    let entries = tokio::task::spawn_blocking(move || journal.read_raw(position + 1, batch))
        .await
        .map_err(|_| ArchiveError::Timeout("reading the journal"))??;
    let Some(first) = entries.first() else {
        args.status.position.store(position, Ordering::Relaxed);
        return Ok(0);
    };
    if first.seq != position + 1 || first.prev_hash.as_slice() != position_hash.as_slice() {
        return Err(ArchiveError::Diverged(format!(
            "archived up to seq {position}, but the journal's next entry is seq {} with another previous hash",
            first.seq
        )));
    }
    let rows = Rows::of(&entries)?;
    tx.execute(
        "INSERT INTO mpc_journal (source, seq, stream, stream_version, event_type, schema_version, recorded_at_ms,
                                  recorded_at, payload, event, prev_hash, hash)
         SELECT $1, r.seq, r.stream, r.version, r.type, r.schema, r.ms, to_timestamp(r.ms::float8 / 1000), r.payload,
                r.event, r.prev, r.hash
         FROM UNNEST($2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::smallint[], $7::bigint[],
                     $8::bytea[], $9::jsonb[], $10::bytea[], $11::bytea[])
              AS r(seq, stream, version, type, schema, ms, payload, event, prev, hash)",
        &[
            &source,
            &rows.seq,
            &rows.stream,
            &rows.version,
            &rows.event_type,
            &rows.schema,
            &rows.ms,
            &rows.payload,
            &rows.event,
            &rows.prev,
            &rows.hash,
        ],
    )
    .await?;
    read_models(&tx, source, &entries, &rows).await?;
    let (last_seq, last_hash) = entries.last().map(|e| (e.seq, e.hash.to_vec())).unwrap_or((position, position_hash));
    tx.execute(
        "INSERT INTO mpc_archive_position (source, seq, hash, updated_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (source) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, updated_at = now()",
        &[&source, &(last_seq as i64), &last_hash],
    )
    .await?;
    tx.commit().await?;
    args.status.position.store(last_seq, Ordering::Relaxed);
    Ok(entries.len() as u64)
}

/// The journal columns of a batch, one vector per column (one UNNEST insert).
struct Rows {
    seq: Vec<i64>,
    stream: Vec<String>,
    version: Vec<i64>,
    event_type: Vec<String>,
    schema: Vec<i16>,
    ms: Vec<i64>,
    payload: Vec<Vec<u8>>,
    event: Vec<Value>,
    prev: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
    decoded: Vec<DomainEvent>,
}

impl Rows {
    fn of(entries: &[RawEntry]) -> Result<Self, ArchiveError> {
        let mut r = Rows {
            seq: Vec::new(),
            stream: Vec::new(),
            version: Vec::new(),
            event_type: Vec::new(),
            schema: Vec::new(),
            ms: Vec::new(),
            payload: Vec::new(),
            event: Vec::new(),
            prev: Vec::new(),
            hash: Vec::new(),
            decoded: Vec::new(),
        };
        for e in entries {
            let event = e.event()?;
            r.seq.push(e.seq as i64);
            r.stream.push(e.stream.clone());
            r.version.push(e.stream_version as i64);
            r.event_type.push(e.event_type.clone());
            r.schema.push(e.schema_version as i16);
            r.ms.push(e.recorded_at_ms as i64);
            r.payload.push(e.payload.clone());
            r.event.push(crate::rpc::event_json(&event));
            r.prev.push(e.prev_hash.to_vec());
            r.hash.push(e.hash.to_vec());
            r.decoded.push(event);
        }
        Ok(r)
    }
}

/// History rows (an event naming a wallet, or a transaction of one) and balances, as the
/// node's own projections derive them.
async fn read_models(
    tx: &tokio_postgres::Transaction<'_>,
    source: &str,
    entries: &[RawEntry],
    rows: &Rows,
) -> Result<(), ArchiveError> {
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    let (mut h_wallet, mut h_seq, mut h_tx, mut h_type, mut h_ms, mut h_event) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, (e, event)) in entries.iter().zip(&rows.decoded).enumerate() {
        let txid = event.transaction().map(str::to_owned);
        let wallet = match (event.wallet(), &txid) {
            (Some(w), _) => Some(w.to_string()),
            (None, Some(t)) => match owners.get(t) {
                Some(w) => Some(w.clone()),
                None => tx
                    .query_opt("SELECT wallet FROM mpc_tx_wallet WHERE source = $1 AND tx = $2", &[&source, t])
                    .await?
                    .map(|r| r.get::<_, String>(0)),
            },
            _ => None,
        };
        if let (DomainEvent::TransactionInitiated(t), Some(w)) = (event, &wallet) {
            owners.insert(t.tx.clone(), w.clone());
            tx.execute(
                "INSERT INTO mpc_tx_wallet (source, tx, wallet) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&source, &t.tx, w],
            )
            .await?;
        }
        if let DomainEvent::BalanceObserved { wallet, chain, amount } = event {
            tx.execute(
                "INSERT INTO mpc_balances (source, wallet, chain, amount, seq, observed_at)
                 VALUES ($1, $2, $3, $4::text::numeric, $5, to_timestamp($6::bigint::float8 / 1000))
                 ON CONFLICT (source, wallet, chain) DO UPDATE
                 SET amount = EXCLUDED.amount, seq = EXCLUDED.seq, observed_at = EXCLUDED.observed_at
                 WHERE mpc_balances.seq < EXCLUDED.seq",
                &[
                    &source,
                    &wallet.to_string(),
                    chain,
                    &amount.to_string(),
                    &(e.seq as i64),
                    &(e.recorded_at_ms as i64),
                ],
            )
            .await?;
        }
        if let Some(w) = wallet {
            h_wallet.push(w);
            h_seq.push(e.seq as i64);
            h_tx.push(txid);
            h_type.push(e.event_type.clone());
            h_ms.push(e.recorded_at_ms as i64);
            h_event.push(rows.event[i].clone());
        }
    }
    if !h_seq.is_empty() {
        tx.execute(
            "INSERT INTO mpc_history (source, wallet, seq, tx, event_type, recorded_at, event)
             SELECT $1, r.wallet, r.seq, r.tx, r.type, to_timestamp(r.ms::float8 / 1000), r.event
             FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::jsonb[])
                  AS r(wallet, seq, tx, type, ms, event)",
            &[&source, &h_wallet, &h_seq, &h_tx, &h_type, &h_ms, &h_event],
        )
        .await?;
    }
    Ok(())
}

/// Runs the sink, and starts it again should it ever stop (a panic in a handler), so the
/// archive keeps following the journal; never part of the node's restart budget.
pub fn spawn(args: impl Fn() -> SinkArgs + Send + 'static) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match Actor::spawn(None, ArchiveSink, args()).await {
                Ok((_, handle)) => {
                    let _ = handle.await;
                    tracing::error!("archive sink stopped; starting it again in 1 s");
                }
                Err(e) => tracing::error!(error = %e, "archive sink did not start; again in 1 s"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}
