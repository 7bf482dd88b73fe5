//! The limiter's check cost, next to the `governor` crate doing the same single-bucket check
//! in the same run (the ratio is the figure we track), and the memory per tracked key.
//!
//! Both read their clock on every check: ours is the limiter actor's own (`MsClock`).
//!
//! cargo bench -p actors --bench limiter
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use actors::limiter::MsClock;
use governor::{Quota, RateLimiter};
use protocol::limits::{Bucket, KeyedBuckets, Rate};

const CALLS: usize = 2_000_000;

fn system_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Per-call nanoseconds (timer overhead subtracted), and calls per second over a tight loop.
fn measure(mut check: impl FnMut() -> bool) -> (f64, f64, f64) {
    let mut empty = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let t = Instant::now();
        empty.push(t.elapsed().as_nanos() as f64);
    }
    empty.sort_by(f64::total_cmp);
    let overhead = empty[empty.len() / 2];
    let mut samples = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = Instant::now();
        black_box(check());
        samples.push((t.elapsed().as_nanos() as f64 - overhead).max(0.0));
    }
    samples.sort_by(f64::total_cmp);
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    let t = Instant::now();
    for _ in 0..CALLS {
        black_box(check());
    }
    let per_sec = CALLS as f64 / t.elapsed().as_secs_f64();
    (p(0.5), p(0.99), per_sec)
}

fn main() {
    let per_minute = 1_000_000u32;
    let rate = Rate::per_minute(per_minute);
    let clock = MsClock::default();
    let mut ours = Bucket::new();
    let (o50, o99, ops) = measure(|| ours.take(&rate, clock.now_ms(), 1).is_ok());
    let mut slow = Bucket::new();
    let (s50, s99, sps) = measure(|| slow.take(&rate, system_ms(), 1).is_ok());

    let quota =
        Quota::per_minute(NonZeroU32::new(per_minute).unwrap()).allow_burst(NonZeroU32::new(rate.capacity).unwrap());
    let governor = RateLimiter::direct(quota);
    let (g50, g99, gps) = measure(|| governor.check().is_ok());

    let mut keyed = KeyedBuckets::new(Rate::per_minute(100), 200_000);
    let names: Vec<String> = (0..100_000).map(|i| format!("api-key-{i:06}")).collect();
    for n in &names {
        keyed.take(n, None, clock.now_ms(), 1).unwrap();
    }
    let mut i = 0usize;
    let (k50, k99, kps) = measure(|| {
        i = (i + 7919) % names.len();
        keyed.take(&names[i], None, clock.now_ms(), 1).is_ok()
    });
    let heap = names.iter().map(|n| n.capacity()).sum::<usize>() as f64 / names.len() as f64;

    let (a50, a99, aps) = actor_round_trip();

    println!("| check (one core) | p50 | p99 | checks/s |");
    println!("|---|---|---|---|");
    println!("| ours: one bucket, limiter clock | {o50:.0} ns | {o99:.0} ns | {:.1} M |", ops / 1e6);
    println!("| ours: one bucket, system clock | {s50:.0} ns | {s99:.0} ns | {:.1} M |", sps / 1e6);
    println!("| governor: one bucket (quanta clock) | {g50:.0} ns | {g99:.0} ns | {:.1} M |", gps / 1e6);
    println!("| ours: 100k keyed buckets, String keys | {k50:.0} ns | {k99:.0} ns | {:.1} M |", kps / 1e6);
    println!("| limiter actor: a client check, message and reply | {a50:.0} ns | {a99:.0} ns | {:.2} M |", aps / 1e6);
    println!();
    println!(
        "ratio ours / governor: p50 {:.2}x, p99 {:.2}x, throughput {:.2}x",
        o50 / g50.max(1.0),
        o99 / g99.max(1.0),
        gps / ops
    );
    println!(
        "memory: a bucket is {} bytes; a tracked key costs {:.1} bytes of table (entry + control byte, at the table's load) plus its name's heap ({heap:.0} bytes here)",
        std::mem::size_of::<Bucket>() + std::mem::size_of::<Rate>(),
        keyed.bytes_per_key()
    );
}

/// A client check as the RPC makes it: a message to the limiter actor and its reply.
fn actor_round_trip() -> (f64, f64, f64) {
    use actors::limiter::{LimiterActor, LimiterArgs, LimiterMsg};
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let args = LimiterArgs {
            config: protocol::limits::LimitsConfig {
                per_key_per_min: 1_000_000,
                per_ip_per_min: 1_000_000,
                ..Default::default()
            },
            grants: None,
            journal: None,
            listeners: Vec::new(),
        };
        let (limiter, _) = ractor::Actor::spawn(None, LimiterActor, args).await.unwrap();
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        let calls = 200_000;
        let mut samples = Vec::with_capacity(calls);
        let start = Instant::now();
        for _ in 0..calls {
            let t = Instant::now();
            let r =
                ractor::call!(limiter, |reply| LimiterMsg::Client { key: "k".into(), rate: None, ip, cost: 1, reply });
            black_box(r.unwrap().is_ok());
            samples.push(t.elapsed().as_nanos() as f64);
        }
        let per_sec = calls as f64 / start.elapsed().as_secs_f64();
        samples.sort_by(f64::total_cmp);
        limiter.stop(None);
        (samples[samples.len() / 2], samples[samples.len() * 99 / 100], per_sec)
    })
}
