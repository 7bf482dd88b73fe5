//! `testnet bench`: the figures a user compares us by, side by side in one run: per scheme,
//! networked DKG and signing (through the admin RPC of real processes) next to the same
//! ceremony with every party in one process and one thread (the floor); sustained signing
//! throughput with many requests in flight; node memory idle and under load; start to ready.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::presign::{Hashing, Preimage, PresignParams, Presignature};
use protocol::primes::MemoryPrimePool;
use protocol::schemes::{self, SchemeEnv};
use protocol::sim::Sim;
use protocol::{KeyShare, KeygenParams, SessionId, SetupMaterial, SignParams, ThresholdScheme};
use serde_json::{json, Value};

use crate::net::{NetError, NodeState, State};

/// One line of the table.
pub struct Row {
    /// Scheme or subject.
    pub what: String,
    /// Step.
    pub step: String,
    /// Runs.
    pub runs: usize,
    /// Networked p50 / p99 (ms, or the unit in `step`).
    pub net: (f64, f64),
    /// Floor p50 / p99, when there is one.
    pub floor: Option<(f64, f64)>,
}

fn pct(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples.get(i.min(samples.len().saturating_sub(1))).copied().unwrap_or(0.0)
}

fn p50_p99(mut s: Vec<f64>) -> (f64, f64) {
    (pct(&mut s, 0.5), pct(&mut s, 0.99))
}

fn fail(step: &str, why: impl std::fmt::Display) -> NetError {
    NetError::Msg(format!("bench step failed: {step}: {why}"))
}

fn timed(n: &NodeState, method: &str, params: Value) -> Result<(f64, Value), NetError> {
    let t = Instant::now();
    let v = n.call(method, params, Duration::from_secs(600)).map_err(|e| fail(method, e))?;
    Ok((t.elapsed().as_secs_f64() * 1e3, v))
}

fn fixture_setups(n: u16) -> Option<Vec<SetupMaterial>> {
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../protocol/tests/fixtures/setup-{n}.bin"));
    bincode::deserialize(&std::fs::read(path).ok()?).ok()
}

/// The floor: every party in this process, one thread, no network.
fn floor(
    scheme: &dyn ThresholdScheme,
    n: u16,
    t: u16,
    keygens: usize,
    signs: usize,
) -> Option<((f64, f64), (f64, f64))> {
    let setups: Vec<Option<SetupMaterial>> = if scheme.needs_setup() {
        fixture_setups(n)?.into_iter().map(Some).collect()
    } else {
        vec![None; usize::from(n)]
    };
    let mut samples = Vec::new();
    let mut shares: Vec<KeyShare> = Vec::new();
    for k in 0..keygens {
        let sid = SessionId::derive("bench-floor-keygen", &(k as u64).to_be_bytes());
        let parties: Vec<_> = (0..n)
            .map(|i| scheme.keygen(&KeygenParams::new(sid, i, n, t), setups[usize::from(i)].as_ref()).map(|c| (i, c)))
            .collect::<Result<_, _>>()
            .ok()?;
        let started = Instant::now();
        shares = Sim::new(parties).run().into_result().ok()?;
        samples.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let dkg = p50_p99(samples);
    let signers: Vec<u16> = (0..t).collect();
    let mut samples = Vec::new();
    for k in 0..signs {
        let sid = SessionId::derive("bench-floor-sign", &(k as u64).to_be_bytes());
        let parties: Vec<_> = signers
            .iter()
            .map(|&i| {
                scheme
                    .sign(&shares[usize::from(i)], &SignParams::new(sid, signers.clone(), vec![7; 32]))
                    .map(|c| (i, c))
            })
            .collect::<Result<_, _>>()
            .ok()?;
        let started = Instant::now();
        Sim::new(parties).run().into_result().ok()?;
        samples.push(started.elapsed().as_secs_f64() * 1e3);
    }
    Some((dkg, p50_p99(samples)))
}

/// The pool's floor, every party in this process: presigning one presignature, and signing
/// with one (one round), p50/p99 each.
fn pool_floor(scheme: &dyn ThresholdScheme, n: u16, t: u16, runs: usize) -> Option<((f64, f64), (f64, f64))> {
    let setups = fixture_setups(n)?;
    let sid = SessionId::derive("bench-pool-keygen", b"0");
    let parties: Vec<_> = (0..n)
        .map(|i| scheme.keygen(&KeygenParams::new(sid, i, n, t), Some(&setups[usize::from(i)])).map(|c| (i, c)))
        .collect::<Result<_, _>>()
        .ok()?;
    let shares: Vec<KeyShare> = Sim::new(parties).run().into_result().ok()?;
    let signers: Vec<u16> = (0..t).collect();
    let wallet = protocol::WalletId::new("bench-pool").ok()?;
    let (mut presign, mut sign) = (Vec::new(), Vec::new());
    for k in 0..runs {
        let sid = SessionId::derive("bench-floor-presign", &(k as u64).to_be_bytes());
        let parties: Vec<_> = signers
            .iter()
            .map(|&i| {
                let params = PresignParams::new(sid, wallet.clone(), signers.clone(), 1);
                scheme.presign(&shares[usize::from(i)], &params).map(|c| (i, c))
            })
            .collect::<Result<_, _>>()
            .ok()?;
        let started = Instant::now();
        let made: Vec<Vec<Presignature>> = Sim::new(parties).run().into_result().ok()?;
        presign.push(started.elapsed().as_secs_f64() * 1e3);
        let preimage = Preimage { hashing: Hashing::Keccak256, bytes: format!("bench {k}").into_bytes() };
        let sid = SessionId::derive("bench-floor-pooled", &(k as u64).to_be_bytes());
        let parties: Vec<_> = made
            .into_iter()
            .filter_map(|mut p| p.pop())
            .map(|p| {
                let i = p.party;
                let params = SignParams::new(sid, signers.clone(), preimage.digest().to_vec());
                scheme.sign_presigned(&shares[usize::from(i)], &params, &preimage, p).map(|c| (i, c))
            })
            .collect::<Result<_, _>>()
            .ok()?;
        let started = Instant::now();
        Sim::new(parties).run().into_result().ok()?;
        sign.push(started.elapsed().as_secs_f64() * 1e3);
    }
    Some((p50_p99(presign), p50_p99(sign)))
}

/// Presignatures of `wallet` ready at `node` for its fullest signer set.
fn pool_level(node: &NodeState, wallet: &str) -> usize {
    node.call("wallet_get", json!({ "wallet": wallet }), Duration::from_secs(5))
        .ok()
        .and_then(|w| w["presignatures"].as_array().map(|a| a.iter().filter_map(|p| p["ready"].as_u64()).max()))
        .flatten()
        .unwrap_or(0) as usize
}

/// Presignings proposed or running, over every node.
fn presignings_open(state: &State) -> usize {
    state
        .nodes
        .iter()
        .filter_map(|n| n.call("session_list", json!({ "limit": 256 }), Duration::from_secs(5)).ok())
        .map(|list| {
            list.as_array().map_or(0, |a| {
                a.iter()
                    .filter(|s| s["kind"] == "presign" && (s["status"] == "running" || s["status"] == "proposed"))
                    .count()
            })
        })
        .sum()
}

/// Waits (at most `limit`) until no presigning has been open anywhere for `quiet`.
fn pools_settle(state: &State, quiet: Duration, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut since = Instant::now();
    while Instant::now() < deadline && since.elapsed() < quiet {
        std::thread::sleep(Duration::from_millis(250));
        if presignings_open(state) > 0 {
            since = Instant::now();
        }
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Start-to-ready of each node, from its log's "node ready" line.
fn ready_ms(state: &State) -> Vec<f64> {
    state
        .nodes
        .iter()
        .filter_map(|n| {
            let log = std::fs::read_to_string(&n.proc.log).ok()?;
            let line = log.lines().rev().find(|l| l.contains("node ready"))?;
            line.split_whitespace().find_map(|w| w.strip_prefix("ms=")?.parse().ok())
        })
        .collect()
}

/// Runs the bench on a running testnet.
pub fn run(state: &State, quick: bool, log: &dyn Fn(&str)) -> Result<Vec<Row>, NetError> {
    let n = state.nodes.len() as u16;
    let t = state.threshold;
    let registry = schemes::registry(&SchemeEnv { primes: Arc::new(MemoryPrimePool::default()) });
    let mut rows = Vec::new();
    let (ready_p50, ready_max) = {
        let mut r = ready_ms(state);
        let max = r.iter().copied().fold(0.0, f64::max);
        (pct(&mut r, 0.5), max)
    };
    rows.push(Row {
        what: "node".into(),
        step: "start to ready (ms)".into(),
        runs: usize::from(n),
        net: (ready_p50, ready_max),
        floor: None,
    });
    let idle: Vec<u64> = state.nodes.iter().map(|x| rss_kib(x.proc.pid)).collect();

    let node0 = &state.nodes[0];
    let info = node0.call("node_info", json!({}), Duration::from_secs(5)).map_err(|e| fail("node_info", e))?;
    if !info["schemes"].as_array().is_some_and(|s| s.iter().any(|x| x["scheme"] == "cggmp24" && x["ready"] == true)) {
        log("cggmp24: committee setup...");
        timed(node0, "committee_setup", json!({ "scheme": "cggmp24", "wait_ms": 600_000 }))?;
    }
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (fk, fs, ck, cs) = if quick { (5, 20, 2, 3) } else { (20, 100, 5, 10) };
    for (name, keygens, signs) in [("frost-ed25519", fk, fs), ("frost-secp256k1-tr", fk, fs), ("cggmp24", ck, cs)] {
        log(&format!("{name}: {keygens} networked DKGs, {signs} signings, and the same in one process"));
        let mut dkg = Vec::new();
        for k in 0..keygens {
            let w = format!("bench-{}-{k}-{stamp}", name.replace("frost-", ""));
            let node = &state.nodes[k % state.nodes.len()];
            let (ms, out) = timed(
                node,
                "wallet_create",
                json!({ "scheme": name, "threshold": t, "wallet": w, "wait_ms": 600_000 }),
            )?;
            if out["session"]["status"] != "key_ready" {
                return Err(fail("dkg", out));
            }
            dkg.push(ms);
        }
        let wallet = format!("bench-{}-0-{stamp}", name.replace("frost-", ""));
        for x in &state.nodes {
            let deadline = Instant::now() + Duration::from_secs(30);
            while x.call("wallet_get", json!({ "wallet": wallet }), Duration::from_secs(5)).is_err() {
                if Instant::now() > deadline {
                    return Err(fail("wallet_get", format!("node {} lacks {wallet}", x.party)));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if name == "cggmp24" {
            // Full signing is measured on quiet nodes: the pools fill first (raw digests do
            // not consume presignatures, so nothing refills during it).
            log("cggmp24: waiting for the presignature pools to fill");
            pools_settle(state, Duration::from_secs(5), Duration::from_secs(300));
        }
        let mut sign = Vec::new();
        for k in 0..signs {
            let node = &state.nodes[(k + 1) % state.nodes.len()];
            let (ms, out) = timed(
                node,
                "sign",
                json!({ "wallet": wallet, "digest": hex::encode([k as u8; 32]), "wait_ms": 600_000 }),
            )?;
            if out["status"] != "signed" {
                return Err(fail("sign", out));
            }
            sign.push(ms);
        }
        let scheme = registry.by_name(name).map_err(|e| fail("registry", e))?;
        let fl = floor(&*scheme, n, t, keygens.min(5), signs.min(if scheme.needs_setup() { 2 } else { 20 }));
        rows.push(Row {
            what: name.into(),
            step: "dkg".into(),
            runs: keygens,
            net: p50_p99(dkg),
            floor: fl.map(|f| f.0),
        });
        rows.push(Row {
            what: name.into(),
            step: "sign".into(),
            runs: signs,
            net: p50_p99(sign),
            floor: fl.map(|f| f.1),
        });
    }

    rows.extend(pool_rows(
        state,
        quick,
        &format!("bench-cggmp24-0-{stamp}"),
        &*registry.by_name("cggmp24").map_err(|e| fail("registry", e))?,
        log,
    )?);

    // Sustained signing: many requests in flight, spread over the nodes (pools quiet first).
    pools_settle(state, Duration::from_secs(3), Duration::from_secs(300));
    let wallet = format!("bench-ed25519-0-{stamp}");
    let secs = if quick { 5 } else { 15 };
    let in_flight = 8;
    log(&format!("frost-ed25519: sustained signing, {in_flight} requests in flight for {secs} s"));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let window = std::thread::scope(|scope| {
        for w in 0..in_flight {
            let (stop, done, failed) = (stop.clone(), done.clone(), failed.clone());
            let node = state.nodes[w % state.nodes.len()].clone();
            let wallet = wallet.clone();
            scope.spawn(move || {
                let mut k = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let params = json!({ "wallet": wallet, "digest": hex::encode([(w as u8), (k % 251) as u8].repeat(16)), "wait_ms": 60_000 });
                    match node.call("sign", params, Duration::from_secs(90)) {
                        Ok(v) if v["status"] == "signed" => done.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                    k += 1;
                }
            });
        }
        let (stop2, peak2) = (stop.clone(), peak.clone());
        scope.spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let total: u64 = state.nodes.iter().map(|x| rss_kib(x.proc.pid)).max().unwrap_or(0);
                peak2.fetch_max(total, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        std::thread::sleep(Duration::from_secs(secs));
        stop.store(true, Ordering::Relaxed);
        // Count what finished within the window, not the requests still draining.
        (done.load(Ordering::Relaxed), started.elapsed().as_secs_f64())
    });
    let rate = window.0 as f64 / window.1;
    let floor_sign =
        rows.iter().find(|r| r.what == "frost-ed25519" && r.step == "sign").and_then(|r| r.floor).map(|f| 1000.0 / f.0);
    rows.push(Row {
        what: "frost-ed25519".into(),
        step: format!("signatures/s, {in_flight} in flight ({} failed)", failed.load(Ordering::Relaxed)),
        runs: window.0 as usize,
        net: (rate, rate),
        floor: floor_sign.map(|f| (f, f)),
    });
    let idle_max = idle.iter().copied().max().unwrap_or(0) as f64 / 1024.0;
    let idle_p50 = p50_p99(idle.iter().map(|v| *v as f64 / 1024.0).collect()).0;
    rows.push(Row {
        what: "node".into(),
        step: "RSS idle, MiB (p50 / max)".into(),
        runs: usize::from(n),
        net: (idle_p50, idle_max),
        floor: None,
    });
    let loaded = peak.load(Ordering::Relaxed) as f64 / 1024.0;
    rows.push(Row {
        what: "node".into(),
        step: "RSS under signing load, MiB (max)".into(),
        runs: usize::from(n),
        net: (loaded, loaded),
        floor: None,
    });
    Ok(rows)
}

/// ECDSA from the pool (EIP-191 messages each signer hashes itself) and the pool's refill,
/// next to their floors.
fn pool_rows(
    state: &State,
    quick: bool,
    wallet: &str,
    scheme: &dyn ThresholdScheme,
    log: &dyn Fn(&str),
) -> Result<Vec<Row>, NetError> {
    let entry = &state.nodes[1 % state.nodes.len()];
    let runs = if quick { 10 } else { 30 };
    let target = pool_level(entry, wallet);
    if target == 0 {
        log("cggmp24: no presignatures at the entry node (presign target 0?): no pool rows");
        return Ok(Vec::new());
    }
    log(&format!("cggmp24: {runs} signings from the pool (EIP-191), refilled in between"));
    let mut sign = Vec::new();
    let mut refill = Vec::new();
    while sign.len() < runs {
        // Drain the pool, then time its refill back to where it was.
        let burst = target.min(runs - sign.len());
        for _ in 0..burst {
            let text = format!("pooled bench {} {}", sign.len(), Instant::now().elapsed().as_nanos());
            let (ms, out) =
                timed(entry, "sign", json!({ "wallet": wallet, "personal_message": text, "wait_ms": 600_000 }))?;
            if out["status"] != "signed" {
                return Err(fail("pooled sign", out));
            }
            sign.push(ms);
        }
        let started = Instant::now();
        while pool_level(entry, wallet) < target && started.elapsed() < Duration::from_secs(300) {
            std::thread::sleep(Duration::from_millis(50));
        }
        refill.push(burst as f64 / started.elapsed().as_secs_f64());
    }
    let uses = entry
        .call("node_info", json!({}), Duration::from_secs(5))
        .ok()
        .and_then(|i| i["pool_hits"].as_u64())
        .unwrap_or(0);
    log(&format!("cggmp24: the entry node's proposals named presignatures {uses} times"));
    let n = state.nodes.len() as u16;
    let fl = pool_floor(scheme, n, state.threshold, if quick { 3 } else { 10 });
    Ok(vec![
        Row {
            what: "cggmp24".into(),
            step: "sign from the pool".into(),
            runs: sign.len(),
            net: p50_p99(sign),
            floor: fl.map(|f| f.1),
        },
        Row {
            what: "cggmp24".into(),
            step: "pool refill, presignatures/s".into(),
            runs: refill.len(),
            net: p50_p99(refill),
            floor: fl.map(|f| (1000.0 / f.0 .0, 1000.0 / f.0 .1)),
        },
    ])
}

/// The table, as markdown.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from("| what | step | runs | networked p50 | networked p99 | floor p50 | floor p99 | ratio p50 |\n|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        let (f50, f99, ratio) = match r.floor {
            Some((a, b)) => (format!("{a:.2}"), format!("{b:.2}"), format!("{:.1}x", r.net.0 / a)),
            None => ("–".into(), "–".into(), "–".into()),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {:.2} | {:.2} | {f50} | {f99} | {ratio} |\n",
            r.what, r.step, r.runs, r.net.0, r.net.1
        ));
    }
    out
}

/// The rows as JSON.
pub fn json(rows: &[Row]) -> Value {
    json!(rows
        .iter()
        .map(|r| json!({
            "what": r.what, "step": r.step, "runs": r.runs,
            "networked_p50": r.net.0, "networked_p99": r.net.1,
            "floor_p50": r.floor.map(|f| f.0), "floor_p99": r.floor.map(|f| f.1),
        }))
        .collect::<Vec<_>>())
}
