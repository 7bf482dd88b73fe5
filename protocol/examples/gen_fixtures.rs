//! Makes the CGGMP24 committee-setup fixtures the tests use: `gen_fixtures <primes-file>
//! <out-dir> <n>...` runs a setup for each committee size n from the primes file (party i
//! takes set i) and writes `setup-<n>.bin`. Test-only: the primes are public.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use protocol::primes::{MemoryPrimePool, SafePrimes};
use protocol::schemes::cggmp24;
use protocol::sim::Sim;
use protocol::{SessionId, SetupParams, ThresholdScheme};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [primes, out, sizes @ ..] = args.as_slice() else {
        return Err("usage: gen_fixtures <primes-file> <out-dir> <n>...".into());
    };
    let sets: Vec<SafePrimes> = bincode::deserialize(&std::fs::read(primes)?)?;
    for n in sizes {
        let n: u16 = n.parse()?;
        let started = Instant::now();
        let session = SessionId::derive("fixture-setup", &n.to_be_bytes());
        let parties = (0..n).map(|i| {
            // Each party draws its own set from a one-set pool.
            let pool = Arc::new(MemoryPrimePool::new(vec![sets[i as usize].clone()]));
            let scheme = cggmp24::scheme(pool);
            let params = SetupParams { session, me: i, parties: n, round_timeout_ms: 600_000 };
            (i, scheme.setup(&params).expect("setup starts"))
        });
        let report = Sim::new(parties).run();
        let (messages, bytes) = (report.messages, report.bytes);
        let setups = report.into_result().map_err(|(p, e)| format!("party {p}: {e}"))?;
        std::fs::write(format!("{out}/setup-{n}.bin"), bincode::serialize(&setups)?)?;
        eprintln!(
            "setup n={n}: {:.1} s, {messages} messages, {:.1} KiB",
            started.elapsed().as_secs_f64(),
            bytes as f64 / 1024.0
        );
    }
    Ok(())
}
