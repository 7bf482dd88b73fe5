//! Fills a safe-prime file for CGGMP24 setups: `gen_primes <count> <out-file>`.
//! Uses every core. The test fixtures under `tests/fixtures/` were made with it; their primes
//! are public, so they are for tests and demos only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use protocol::primes::SafePrimes;
use protocol::schemes::cggmp24::generate_safe_primes;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().ok_or("usage: gen_primes <count> <out-file>")?.parse()?;
    let out = args.next().ok_or("usage: gen_primes <count> <out-file>")?;
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel::<SafePrimes>();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..threads {
        let (tx, next) = (tx.clone(), next.clone());
        handles.push(std::thread::spawn(move || {
            while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < count {
                let t = Instant::now();
                let set = generate_safe_primes(&mut rand_core::OsRng).expect("encode primes");
                eprintln!("one set in {:.1} s", t.elapsed().as_secs_f64());
                tx.send(set).expect("collector alive");
            }
        }));
    }
    drop(tx);
    let sets: Vec<SafePrimes> = rx.iter().collect();
    for h in handles {
        h.join().map_err(|_| "worker panicked")?;
    }
    std::fs::write(&out, bincode::serialize(&sets)?)?;
    eprintln!("{} sets in {:.1} s -> {out}", sets.len(), started.elapsed().as_secs_f64());
    Ok(())
}
