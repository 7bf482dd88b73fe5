//! The archive's figures against a real PostgreSQL (Debian's server, started here on a
//! loopback port) and a real journal (RocksDB in a temporary directory), printed as a table:
//!
//! - sink throughput: a journal of `MPC_BENCH_ENTRIES` entries (default 60 000) archived from 0;
//! - lag under a sustained load of `MPC_BENCH_RATE` entries/s (default 300: a member's journal
//!   under the soak test's ~100 signings/s, three entries per signing) for 30 s;
//! - catch-up after an outage of `MPC_BENCH_OUTAGE_S` seconds (default 30; the README's figure
//!   is from 300) with the load going on;
//! - history and audit query latency over 1 000 000 archived entries.
//!
//! `cargo bench -p node --bench archive` (needs `scripts/install-deps.sh --for-tests`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/suite/common/postgres.rs"]
mod postgres;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use node::archive::sink::{ArchiveSink, ArchiveStatus, SinkArgs};
use node::config::ArchiveSection;
use protocol::{SchemeId, SessionId, WalletId};
use ractor::Actor;
use store::events::{CeremonyKind, DomainEvent, StreamId};
use store::{AppendRequest, ExpectedVersion, Journal};

fn free_port() -> u16 {
    network::ports::free_loopback_port().unwrap()
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One signing as a member journals it: started and completed in its session's stream, and
/// every tenth a transfer's initiation in its own stream.
fn signing(journal: &Journal, i: u64) {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&i.to_be_bytes());
    let session = SessionId::from_bytes(id);
    let wallet = WalletId::new(&format!("w-{}", i % 50)).unwrap();
    let events = vec![
        DomainEvent::CeremonyStarted {
            session,
            kind: CeremonyKind::Sign,
            scheme: SchemeId::new_static("frost-ed25519"),
            wallet: Some(wallet.clone()),
            participants: vec![0, 1, 2],
        },
        DomainEvent::CeremonyCompleted { session, duration_ms: 7 },
    ];
    journal.append(AppendRequest::new(StreamId::Session(session), ExpectedVersion::Any, events)).unwrap();
    if i % 10 == 0 {
        let tx = format!("tx-0-{i:016x}");
        let t = store::events::TransactionInitiated {
            tx: tx.clone(),
            wallet,
            chain: "solana".into(),
            to: "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin".into(),
            amount: 1_000 + u128::from(i),
            fee_ceiling: None,
        };
        let request = AppendRequest::new(
            StreamId::Transaction(tx),
            ExpectedVersion::Any,
            vec![DomainEvent::TransactionInitiated(t)],
        );
        journal.append(request).unwrap();
    }
}

/// The sink's settings against the bench's server.
fn section(pg: &postgres::Postgres) -> ArchiveSection {
    ArchiveSection {
        url: pg.url(),
        password_env: None,
        source: None,
        batch: 1000,
        retry_max_ms: 1000,
        prune_after_s: None,
    }
}

fn head(journal: &Journal) -> u64 {
    journal.head().unwrap().seq
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let entries = env("MPC_BENCH_ENTRIES", 60_000);
    let rate = env("MPC_BENCH_RATE", 300);
    let outage_s = env("MPC_BENCH_OUTAGE_S", 30);
    let pg = postgres::Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let journal = Arc::new(Journal::open(store::db::Db::open(&dir.path().join("db")).unwrap()).unwrap());
    let mut i = 0u64;
    while head(&journal) < entries {
        signing(&journal, i);
        i += 1;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let status = Arc::new(ArchiveStatus::default());
    let settings = section(&pg);
    let projections = store::Projections::new(journal.db().clone());
    let args = SinkArgs {
        journal: journal.clone(),
        config: settings,
        source: "bench".into(),
        status: status.clone(),
        projections,
    };
    let position = || status.position.load(Ordering::Relaxed);

    // 1. Throughput: a full journal archived from nothing.
    let t0 = Instant::now();
    let _sink = runtime.block_on(Actor::spawn(None, ArchiveSink, args)).unwrap();
    let total = head(&journal);
    while position() < total {
        std::thread::sleep(Duration::from_millis(20));
    }
    let throughput = total as f64 / t0.elapsed().as_secs_f64();

    // 2. Lag under a sustained load.
    let stop = Arc::new(AtomicBool::new(false));
    let (j, s) = (journal.clone(), stop.clone());
    let appender = std::thread::spawn(move || {
        let started = Instant::now();
        let mut n = 0u64;
        let mut k = 1_000_000u64;
        while !s.load(Ordering::Relaxed) {
            // Three entries per signing on average (2, and a transfer every tenth).
            let due = (started.elapsed().as_secs_f64() * rate as f64 / 2.1) as u64;
            while n < due {
                signing(&j, k);
                n += 1;
                k += 1;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let mut lags = Vec::new();
    let t1 = Instant::now();
    while t1.elapsed() < Duration::from_secs(30) {
        lags.push(head(&journal).saturating_sub(position()) as f64);
        std::thread::sleep(Duration::from_millis(50));
    }
    lags.sort_by(|a, b| a.total_cmp(b));

    // 3. An outage with the load going on, then the catch-up.
    pg.stop();
    let down = Instant::now();
    std::thread::sleep(Duration::from_secs(outage_s));
    let backlog = head(&journal).saturating_sub(position());
    pg.start_again();
    let up = Instant::now();
    while position() + 50 < head(&journal) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let catch_up = up.elapsed().as_secs_f64();
    let outage = down.elapsed().as_secs_f64() - catch_up;
    stop.store(true, Ordering::Relaxed);
    appender.join().unwrap();

    // 4. Queries over 1 000 000 archived entries (topped up with rows of the same shape).
    let have: u64 = pg.psql("SELECT count(*) FROM mpc_journal").parse().unwrap();
    let missing = 1_000_000u64.saturating_sub(have);
    let fill = format!(
        "INSERT INTO mpc_journal (source, seq, stream, stream_version, event_type, schema_version, recorded_at_ms,
             recorded_at, payload, event, prev_hash, hash)
         SELECT 'bench-1m', g, 'session/' || g, 1, 'CeremonyCompleted', 1, 1796515200000 + g * 50,
             to_timestamp((1796515200000 + g * 50)::float8 / 1000), '\\x00'::bytea,
             jsonb_build_object('type', 'CeremonyCompleted', 'duration_ms', 7), '\\x00'::bytea, '\\x00'::bytea
         FROM generate_series(1, {missing}) g;
         INSERT INTO mpc_history (source, wallet, seq, tx, event_type, recorded_at, event)
         SELECT source, 'w-' || (seq % 1000), seq, NULL, event_type, recorded_at, event
         FROM mpc_journal WHERE source = 'bench-1m';
         ANALYZE;"
    );
    pg.psql(&fill);
    let rows: u64 = pg.psql("SELECT count(*) FROM mpc_journal").parse().unwrap();
    let (history, page2, audit) = runtime.block_on(async {
        let client = node::archive::connect(&section(&pg)).await.unwrap();
        let first = client.prepare(README_HISTORY).await.unwrap();
        let audit = client.prepare(README_AUDIT).await.unwrap();
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for q in 0..2000u64 {
            let wallet = format!("w-{}", (q * 7919) % 1000);
            let t = Instant::now();
            let page = client.query(&first, &[&"bench-1m", &wallet, &i64::MAX, &50i64]).await.unwrap();
            a.push(t.elapsed().as_secs_f64() * 1000.0);
            let before: i64 = page.last().map(|r| r.get(0)).unwrap_or(i64::MAX);
            let t = Instant::now();
            client.query(&first, &[&"bench-1m", &wallet, &(before - 250_000), &50i64]).await.unwrap();
            b.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        for q in 0..500i64 {
            let from = 1796515200000i64 + (q * 99_991) % 49_000_000;
            let t = Instant::now();
            client
                .query(&audit, &[&"bench-1m", &(from as f64 / 1000.0), &((from + 60_000) as f64 / 1000.0), &1000i64])
                .await
                .unwrap();
            c.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        for v in [&mut a, &mut b, &mut c] {
            v.sort_by(|x, y| x.total_cmp(y));
        }
        (a, b, c)
    });

    println!("| archive (PostgreSQL {} on loopback, 2 cores) | figure |", pg.psql("SHOW server_version"));
    println!("|---|---|");
    println!("| sink throughput ({total} entries from 0, 1000 per transaction) | {throughput:.0} entries/s |");
    println!(
        "| lag under {rate} entries/s for 30 s | p50 {:.0}, p99 {:.0}, max {:.0} entries |",
        pct(&lags, 0.5),
        pct(&lags, 0.99),
        lags.last().unwrap()
    );
    println!("| outage of {outage:.0} s under that load | {backlog} entries behind; caught up {catch_up:.1} s after the database returned |");
    println!(
        "| history, first page of 50 (1 000 wallets, {rows} rows) | p50 {:.2} ms, p99 {:.2} ms |",
        pct(&history, 0.5),
        pct(&history, 0.99)
    );
    println!("| history, a page further back | p50 {:.2} ms, p99 {:.2} ms |", pct(&page2, 0.5), pct(&page2, 0.99));
    println!("| audit trail, a 1-minute range | p50 {:.2} ms, p99 {:.2} ms |", pct(&audit, 0.5), pct(&audit, 0.99));
}

/// The README's history query: a wallet's entries newest first, 50 a page, `$3` the page's
/// lower bound exclusive (`i64::MAX` for the first page).
const README_HISTORY: &str = "SELECT seq, tx, event_type, recorded_at, event FROM mpc_history
     WHERE source = $1 AND wallet = $2 AND seq < $3 ORDER BY seq DESC LIMIT $4";

/// The README's audit query: every entry in a time range, oldest first.
const README_AUDIT: &str = "SELECT seq, recorded_at, stream, event_type, event, encode(hash, 'hex')
     FROM mpc_journal WHERE source = $1 AND recorded_at >= to_timestamp($2) AND recorded_at < to_timestamp($3)
     ORDER BY recorded_at, seq LIMIT $4";
