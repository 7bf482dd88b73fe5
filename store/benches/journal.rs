//! Store benchmark, printed as a table: synced append vs a raw RocksDB synced put of the same
//! size, group-commit throughput, history reads at 1M events, projection lag under load, and
//! the time to rebuild every projection from 1M events.
//!
//! cargo bench -p store --bench journal [-- --quick] [-- --events N] [-- --json <path>]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::{SessionId, WalletId};
use store::events::TransactionInitiated;
use store::{AppendRequest, Db, DomainEvent, ExpectedVersion, Journal, Projections, StreamId};

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn event(i: u64) -> DomainEvent {
    let wallet = WalletId::new(&format!("w{}", i % 1000)).unwrap();
    if i % 4 == 3 {
        DomainEvent::BalanceObserved { wallet, chain: "ethereum".into(), amount: u128::from(i) }
    } else {
        DomainEvent::TransactionInitiated(TransactionInitiated {
            tx: format!("tx-{i}"),
            wallet,
            chain: "ethereum".into(),
            to: "0x00000000219ab540356cbb839cbe05303d7705fa".into(),
            amount: u128::from(i) * 1_000_000_000,
            fee_ceiling: Some(21_000 * 50_000_000_000),
        })
    }
}

fn stream(i: u64) -> StreamId {
    StreamId::Transaction(format!("tx-{i}"))
}

struct Out {
    rows: Vec<(String, String)>,
}

impl Out {
    fn row(&mut self, what: &str, value: String) {
        println!("| {what} | {value} |");
        self.rows.push((what.to_owned(), value));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let events: u64 = args
        .iter()
        .position(|a| a == "--events")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 100_000 } else { 1_000_000 });
    let json = args.iter().position(|a| a == "--json").and_then(|i| args.get(i + 1)).cloned();
    let dir = tempfile::tempdir().unwrap();
    let mut out = Out { rows: Vec::new() };
    println!("\nstore benchmark ({} events)\n\n| measure | value |\n|---|---|", events);

    // 1. Synced append latency vs a raw synced put of the same size.
    let journal = Arc::new(Journal::open(Db::open(&dir.path().join("latency")).unwrap()).unwrap());
    let n = if quick { 300 } else { 2000 };
    let mut append_ms = Vec::new();
    for i in 0..n {
        let t = Instant::now();
        journal.append(AppendRequest::new(stream(i), ExpectedVersion::NoStream, vec![event(i)])).unwrap();
        append_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    // A stored entry of these events is about 300 bytes (payload, stream, hashes).
    let entry_size = 300;
    let raw = rocksdb::DB::open_default(dir.path().join("raw")).unwrap();
    let mut opts = rocksdb::WriteOptions::default();
    opts.set_sync(true);
    let value = vec![7u8; entry_size];
    let mut raw_ms = Vec::new();
    for i in 0..n {
        let t = Instant::now();
        raw.put_opt(i.to_be_bytes(), &value, &opts).unwrap();
        raw_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (a50, a99, r50, r99) =
        (pct(append_ms.clone(), 0.5), pct(append_ms, 0.99), pct(raw_ms.clone(), 0.5), pct(raw_ms, 0.99));
    out.row("synced append p50 / p99 (ms)", format!("{a50:.3} / {a99:.3}"));
    out.row("raw RocksDB synced put p50 / p99 (ms)", format!("{r50:.3} / {r99:.3}"));
    out.row("append / raw put ratio p50 / p99", format!("{:.2} / {:.2}", a50 / r50, a99 / r99));
    drop(raw);

    // 2. Group commit: many appenders, one synced write per batch.
    for threads in [1u64, 16] {
        let per = if quick { 100 } else { 500 };
        let j = Arc::new(Journal::open(Db::open(&dir.path().join(format!("group{threads}"))).unwrap()).unwrap());
        let t = Instant::now();
        let hs: Vec<_> = (0..threads)
            .map(|k| {
                let j = j.clone();
                std::thread::spawn(move || {
                    for i in 0..per {
                        let id = k * 1_000_000 + i;
                        j.append(AppendRequest::new(stream(id), ExpectedVersion::NoStream, vec![event(id)])).unwrap();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let rate = (threads * per) as f64 / t.elapsed().as_secs_f64();
        out.row(&format!("synced appends/s, {threads} appender(s)"), format!("{rate:.0}"));
    }

    // 3. Projection lag under load (follower thread, 8 synced appenders).
    {
        let db = Db::open(&dir.path().join("lag")).unwrap();
        let j = Arc::new(Journal::open(db.clone()).unwrap());
        let p = Projections::new(db);
        let follower = p.spawn_follower(j.clone()).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let hs: Vec<_> = (0..8u64)
            .map(|k| {
                let (j, p, stop) = (j.clone(), p.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut lags = Vec::new();
                    let mut i = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let id = 10_000_000 + k * 1_000_000 + i;
                        let a = j
                            .append(AppendRequest::new(stream(id), ExpectedVersion::NoStream, vec![event(id)]))
                            .unwrap();
                        if i % 10 == 0 {
                            let t = Instant::now();
                            while p.applied().unwrap() < a.last_seq {
                                std::thread::sleep(Duration::from_micros(50));
                            }
                            lags.push(t.elapsed().as_secs_f64() * 1e3);
                        }
                        i += 1;
                    }
                    (lags, i)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(if quick { 2 } else { 5 }));
        stop.store(true, Ordering::SeqCst);
        let mut lags = Vec::new();
        let mut total = 0;
        for h in hs {
            let (l, i) = h.join().unwrap();
            lags.extend(l);
            total += i;
        }
        follower.stop().unwrap();
        out.row(
            "projection lag under load p50 / p99 (ms)",
            format!("{:.2} / {:.2} ({total} appends)", pct(lags.clone(), 0.5), pct(lags, 0.99)),
        );
    }

    // 4. 1M events: bulk load, rebuild every projection, then read history.
    let db = Db::open(&dir.path().join("big")).unwrap();
    let j = Journal::open(db.clone()).unwrap().unsynced_for_bulk_load();
    let t = Instant::now();
    let batch = 1000;
    for b in 0..events / batch {
        let evs: Vec<DomainEvent> = (b * batch..(b + 1) * batch).map(event).collect();
        let s = StreamId::Session(SessionId::derive("bulk", &b.to_be_bytes()));
        j.append(AppendRequest::new(s, ExpectedVersion::NoStream, evs)).unwrap();
    }
    db.flush().unwrap();
    out.row("bulk load (unsynced, 1000-event batches)", format!("{:.1} s", t.elapsed().as_secs_f64()));
    let p = Projections::new(db.clone());
    let report = p.rebuild(&j).unwrap();
    out.row(
        &format!("rebuild all projections from {} events", report.replayed),
        format!(
            "{:.1} s ({:.0} events/s)",
            report.elapsed.as_secs_f64(),
            report.replayed as f64 / report.elapsed.as_secs_f64()
        ),
    );
    db.flush().unwrap();
    let mut read_ms = Vec::new();
    for k in 0..2000u64 {
        let w = WalletId::new(&format!("w{}", (k * 7919) % 1000)).unwrap();
        let t = Instant::now();
        let page = p.history(&w, None, 50).unwrap();
        read_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(page.entries.len(), 50);
    }
    out.row(
        "history read, page of 50, p50 / p99 (ms)",
        format!("{:.3} / {:.3}", pct(read_ms.clone(), 0.5), pct(read_ms, 0.99)),
    );
    let t = Instant::now();
    let v = j.verify().unwrap();
    out.row(&format!("verify {} entries", v.entries), format!("{:.1} s", t.elapsed().as_secs_f64()));

    if let Some(path) = json {
        let map: serde_json::Map<String, serde_json::Value> =
            out.rows.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect();
        std::fs::write(&path, serde_json::to_string_pretty(&map).unwrap()).unwrap();
    }
}
