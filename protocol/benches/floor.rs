//! The library floor: DKG and signing per scheme, 3-of-5, all parties in one process and one
//! thread, no network. The networked node is later compared against these numbers.
//!
//! cargo bench -p protocol --bench floor [-- --json <path>] [-- --quick]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use protocol::primes::{MemoryPrimePool, SafePrimes};
use protocol::schemes::{self, SchemeEnv};
use protocol::sim::Sim;
use protocol::{KeyShare, KeygenParams, SessionId, SetupMaterial, SetupParams, SignParams, ThresholdScheme};

const N: u16 = 5;
const T: u16 = 3;

struct Row {
    scheme: String,
    step: &'static str,
    runs: usize,
    samples_ms: Vec<f64>,
    messages: usize,
    kib: f64,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn timed<O>(sim: impl FnOnce() -> Sim<O>) -> (f64, Vec<O>, usize, usize) {
    let sim = sim();
    let started = Instant::now();
    let report = sim.run();
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let (m, b) = (report.messages, report.bytes);
    (ms, report.into_result().map_err(|(p, e)| format!("party {p}: {e}")).unwrap(), m, b)
}

fn bench_scheme(scheme: &dyn ThresholdScheme, keygens: usize, signs: usize, rows: &mut Vec<Row>) {
    let name = scheme.id().to_string();
    let mut setups: Vec<Option<SetupMaterial>> = vec![None; N as usize];
    if scheme.needs_setup() {
        let sid = SessionId::derive("bench-setup", b"0");
        let (ms, out, m, b) = timed(|| {
            Sim::new((0..N).map(|i| {
                (
                    i,
                    scheme
                        .setup(&SetupParams { session: sid, me: i, parties: N, round_timeout_ms: u64::MAX / 4 })
                        .unwrap(),
                )
            }))
        });
        setups = out.into_iter().map(Some).collect();
        rows.push(Row {
            scheme: name.clone(),
            step: "setup (aux info)",
            runs: 1,
            samples_ms: vec![ms],
            messages: m,
            kib: b as f64 / 1024.0,
        });
    }
    let mut samples = Vec::new();
    let mut shares: Vec<KeyShare> = Vec::new();
    let (mut msgs, mut bytes) = (0, 0);
    for k in 0..keygens {
        let sid = SessionId::derive("bench-keygen", &k.to_be_bytes());
        let (ms, out, m, b) =
            timed(|| {
                Sim::new((0..N).map(|i| {
                    (i, scheme.keygen(&KeygenParams::new(sid, i, N, T), setups[i as usize].as_ref()).unwrap())
                }))
            });
        samples.push(ms);
        shares = out;
        (msgs, bytes) = (m, b);
    }
    rows.push(Row {
        scheme: name.clone(),
        step: "dkg",
        runs: keygens,
        samples_ms: samples,
        messages: msgs,
        kib: bytes as f64 / 1024.0,
    });

    let digest = [7u8; 32];
    let signers: Vec<u16> = (0..T).collect();
    let mut samples = Vec::new();
    for k in 0..signs {
        let sid = SessionId::derive("bench-sign", &k.to_be_bytes());
        let (ms, sigs, m, b) = timed(|| {
            Sim::new(signers.iter().map(|&i| {
                (i, scheme.sign(&shares[i as usize], &SignParams::new(sid, signers.clone(), digest.to_vec())).unwrap())
            }))
        });
        scheme.verify(&shares[0].public_key, &digest, &sigs[0]).unwrap();
        samples.push(ms);
        (msgs, bytes) = (m, b);
    }
    rows.push(Row {
        scheme: name,
        step: "sign",
        runs: signs,
        samples_ms: samples,
        messages: msgs,
        kib: bytes as f64 / 1024.0,
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let json = args.iter().position(|a| a == "--json").and_then(|i| args.get(i + 1)).cloned();
    let primes: Vec<SafePrimes> = bincode::deserialize(
        &std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/primes.bin")).unwrap(),
    )
    .unwrap();
    let registry = schemes::registry(&SchemeEnv { primes: Arc::new(MemoryPrimePool::new(primes)) });
    let mut rows = Vec::new();
    let (fk, fs, ck, cs) = if quick { (5, 10, 2, 1) } else { (50, 200, 10, 5) };
    for (name, keygens, signs) in [("frost-ed25519", fk, fs), ("frost-secp256k1-tr", fk, fs), ("cggmp24", ck, cs)] {
        eprintln!("benchmarking {name}...");
        bench_scheme(&*registry.by_name(name).unwrap(), keygens, signs, &mut rows);
    }
    println!("\nlibrary floor: {T}-of-{N}, all parties in one process, one thread\n");
    println!("| scheme | step | runs | p50 ms | p99 ms | min ms | messages | KiB on the wire |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut out = Vec::new();
    for r in &mut rows {
        r.samples_ms.sort_by(|a, b| a.total_cmp(b));
        let (p50, p99, min) = (pct(&r.samples_ms, 0.5), pct(&r.samples_ms, 0.99), r.samples_ms[0]);
        println!(
            "| {} | {} | {} | {p50:.2} | {p99:.2} | {min:.2} | {} | {:.1} |",
            r.scheme, r.step, r.runs, r.messages, r.kib
        );
        out.push(serde_json::json!({"scheme": r.scheme, "step": r.step, "runs": r.runs, "p50_ms": p50, "p99_ms": p99, "min_ms": min, "messages": r.messages, "kib": r.kib}));
    }
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
        eprintln!("wrote {path}");
    }
}
