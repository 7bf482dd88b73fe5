//! Networked ceremonies through real `mpc-node` processes: a 3-of-5 committee on loopback,
//! each DKG and signing requested over the admin RPC and timed from the request to the answer
//! (proposal, votes, rounds over libp2p, storing the share, the RPC round trip). With
//! `--floor <json>` (from `cargo bench -p protocol --bench floor -- --json <json>`) each row
//! is shown next to the in-process floor.
//!
//! cargo bench -p node --bench processes [-- --quick] [-- --floor <json>] [-- --json <out>]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../network/tests/suite/common.rs"]
mod chain_software;
#[path = "../tests/suite/common/mod.rs"]
mod common;

use std::time::Instant;

use serde_json::{json, Value};

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn timed(node: &common::NodeProc, method: &str, params: Value) -> (f64, Value) {
    let t = Instant::now();
    let out = node.call(method, params).unwrap_or_else(|e| panic!("{method}: {e}"));
    (t.elapsed().as_secs_f64() * 1e3, out)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let quick = args.iter().any(|a| a == "--quick");
    let floor: Vec<Value> =
        arg("--floor").map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()).unwrap_or_default();
    let anvil = chain_software::anvil();
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = common::cluster(dir.path(), 5);
    for n in nodes.iter_mut() {
        n.reconfigure(|c| c.chain = vec![node::config::ChainSection::new("ethereum", &anvil.url, "31337")]);
    }
    common::import_primes(&nodes);
    let t = Instant::now();
    common::start_all(&mut nodes);
    eprintln!("5 nodes up and connected in {:.1} s", t.elapsed().as_secs_f64());
    let (setup_ms, _) = timed(&nodes[0], "committee_setup", json!({ "scheme": "cggmp24", "wait_ms": 600_000 }));

    let (fk, fs, ck, cs) = if quick { (5, 20, 2, 3) } else { (30, 100, 10, 20) };
    let mut rows = vec![("cggmp24".to_owned(), "setup (aux info)", vec![setup_ms])];
    for (scheme, keygens, signs) in [("frost-ed25519", fk, fs), ("frost-secp256k1-tr", fk, fs), ("cggmp24", ck, cs)] {
        eprintln!("benchmarking {scheme}...");
        let mut samples = Vec::new();
        for k in 0..keygens {
            let params =
                json!({ "scheme": scheme, "threshold": 3, "wallet": format!("{scheme}-{k}"), "wait_ms": 600_000 });
            let (ms, out) = timed(&nodes[k % 5], "wallet_create", params);
            assert_eq!(out["session"]["status"], "key_ready");
            samples.push(ms);
        }
        rows.push((scheme.to_owned(), "dkg", samples));
        let wallet = format!("{scheme}-0");
        for n in &nodes {
            n.call_until("wallet_get", json!({ "wallet": wallet }), 30);
        }
        let mut samples = Vec::new();
        for k in 0..signs {
            let params = json!({ "wallet": wallet, "digest": hex::encode([k as u8; 32]), "wait_ms": 600_000 });
            let (ms, out) = timed(&nodes[(k + 1) % 5], "sign", params);
            assert_eq!(out["status"], "signed");
            samples.push(ms);
        }
        rows.push((scheme.to_owned(), "sign", samples));
    }

    // A transfer end to end: request at the RPC to a mined receipt on anvil.
    let address =
        nodes[0].call("wallet_get", json!({ "wallet": "cggmp24-0" })).unwrap()["addresses"]["ethereum"].clone();
    common::chain_call(&anvil.url, "anvil_setBalance", json!([address, "0x8ac7230489e80000"]));
    let mut samples = Vec::new();
    for k in 0..if quick { 3 } else { 10 } {
        let params = json!({ "wallet": "cggmp24-0", "chain": "ethereum", "to": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "amount": "1000", "wait_ms": 600_000 });
        let (ms, out) = timed(&nodes[(k + 1) % 5], "wallet_transfer", params);
        assert_eq!(out["status"], "confirmed", "{out}");
        samples.push(ms);
    }
    rows.push(("cggmp24".to_owned(), "transfer to mined (anvil)", samples));

    // History reads at one node while another keeps the committee signing.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (stop, admin, token) = (stop.clone(), nodes[1].admin.clone(), nodes[1].token.clone());
        std::thread::spawn(move || {
            let mut k = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let params =
                    json!({ "wallet": "frost-ed25519-0", "message": hex::encode(k.to_be_bytes()), "wait_ms": 60_000 });
                let _ = common::rpc(&admin, Some(&token), "sign", params);
                k += 1;
            }
            k
        })
    };
    let mut samples = Vec::new();
    for _ in 0..if quick { 200 } else { 2000 } {
        let (ms, _) = timed(&nodes[0], "wallet_history", json!({ "wallet": "frost-ed25519-0", "limit": 50 }));
        samples.push(ms);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let signed = load.join().unwrap();
    eprintln!("{signed} signings ran during the history reads");
    rows.push(("frost-ed25519".to_owned(), "wallet_history page under signing load", samples));

    println!("\nnetworked: 3-of-5, five mpc-node processes on loopback, timed at the admin RPC\n");
    println!("| scheme | step | runs | p50 ms | p99 ms | floor p50 ms | ratio p50 |");
    println!("|---|---|---|---|---|---|---|");
    let mut out = Vec::new();
    for (scheme, step, mut s) in rows {
        s.sort_by(|a, b| a.total_cmp(b));
        let (p50, p99) = (pct(&s, 0.5), pct(&s, 0.99));
        let floor_p50 = floor
            .iter()
            .find(|r| r["scheme"] == scheme.as_str() && r["step"] == step)
            .and_then(|r| r["p50_ms"].as_f64());
        let (f, ratio) = match floor_p50 {
            Some(f) => (format!("{f:.2}"), format!("{:.1}x", p50 / f)),
            None => ("–".into(), "–".into()),
        };
        println!("| {scheme} | {step} | {} | {p50:.2} | {p99:.2} | {f} | {ratio} |", s.len());
        out.push(json!({ "scheme": scheme, "step": step, "runs": s.len(), "p50_ms": p50, "p99_ms": p99, "floor_p50_ms": floor_p50 }));
    }
    if let Some(path) = arg("--json") {
        std::fs::write(path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
    }
}
