//! Chaos with real processes: five nodes, one random member other than the proposer killed -9
//! every 1–2.5 s and restarted at once, FROST signings requested at node 0 back to back the
//! whole time. Every signing ends signed, or with a typed error naming the lost party within
//! about the peer grace (never the round timeout); the node retries once on its own, so nearly
//! all succeed; afterwards every journal verifies and every node still holds the wallet.
//! `MPC_CHAOS_SECS` (default 15: about eight kills, five or more) lengthens the run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{cluster, rpc, start_all};
use rand_core::RngCore;
use serde_json::json;

/// The thread that kills and restarts members; stopped (and its processes with it) even when
/// the test fails, so a failing run leaves nothing running.
struct Killer(Arc<AtomicBool>, Option<std::thread::JoinHandle<Vec<common::NodeProc>>>);

impl Killer {
    fn stop(&mut self) -> Vec<common::NodeProc> {
        self.0.store(true, Ordering::SeqCst);
        self.1.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default()
    }
}

impl Drop for Killer {
    fn drop(&mut self) {
        drop(self.stop());
    }
}

#[test]
fn signings_go_on_while_members_are_killed_and_restarted() {
    let secs: u64 = std::env::var("MPC_CHAOS_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(15);
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 5);
    let log0 = nodes[0].log.clone();
    start_all(&mut nodes);
    let created = nodes[0]
        .call(
            "wallet_create",
            json!({ "scheme": "frost-ed25519", "threshold": 3, "wallet": "chaos", "wait_ms": 60_000 }),
        )
        .unwrap();
    assert_eq!(created["session"]["status"], "key_ready", "{created}");
    for n in &nodes {
        n.call_until("wallet_get", json!({ "wallet": "chaos" }), 30);
    }
    let (admin, token) = (nodes[0].admin.clone(), nodes[0].token.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicUsize::new(0));
    let mut members: Vec<_> = nodes.drain(1..).collect();
    let mut killer = Killer(
        stop.clone(),
        Some({
            let (stop, kills) = (stop.clone(), kills.clone());
            std::thread::spawn(move || {
                let mut rng = rand_core::OsRng;
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1000 + rng.next_u64() % 1500));
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let victim = (rng.next_u64() % members.len() as u64) as usize;
                    members[victim].kill();
                    kills.fetch_add(1, Ordering::SeqCst);
                    members[victim].start();
                }
                members
            })
        }),
    );

    let (mut ok, mut typed, mut latencies) = (0usize, Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut k = 0u64;
    while Instant::now() < deadline {
        k += 1;
        let message = hex::encode(format!("chaos {k}"));
        let t = Instant::now();
        let (_, got) =
            rpc(&admin, Some(&token), "sign", json!({ "wallet": "chaos", "message": message, "wait_ms": 60_000 }));
        let took = t.elapsed();
        latencies.push(took.as_secs_f64() * 1e3);
        match got {
            Ok(v) if v["status"] == "signed" => ok += 1,
            Ok(v) => panic!("signing {k} answered without a signature: {v}"),
            Err(e) => {
                let code = e["code"].as_i64().unwrap_or(0);
                let blamed = e["data"]["blamed"].as_array().map(|b| !b.is_empty()).unwrap_or(false);
                // Typed, and naming who was lost; or too few members up for a moment.
                assert!(
                    (code == -32020 && blamed) || code == -32013,
                    "signing {k} failed without naming a lost party: {e}"
                );
                if took >= Duration::from_secs(15) {
                    let log = std::fs::read_to_string(&log0).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(60).collect();
                    panic!(
                        "signing {k} failed only after {took:?}: {e}\nnode 0, last lines:\n{}",
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    );
                }
                typed.push(e);
            }
        }
    }
    nodes.extend(killer.stop());

    latencies.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    let total = ok + typed.len();
    eprintln!(
        "chaos: {secs} s, {total} signings, {} kills, {ok} signed, {} typed failures, p50 {:.1} ms, p99 {:.1} ms, max {:.0} ms",
        kills.load(Ordering::SeqCst),
        typed.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    assert!(kills.load(Ordering::SeqCst) >= (secs / 3) as usize, "the chaos did not happen");
    assert!(ok as f64 >= total as f64 * 0.999, "{ok} of {total} signed; failures: {typed:?}");
    // Every journal verifies; every node (killed ones included) still holds the wallet.
    for n in &nodes {
        assert_eq!(n.call_until("journal_verify", json!({}), 30)["ok"], true, "node {}", n.party);
        n.call_until("wallet_get", json!({ "wallet": "chaos" }), 30);
    }
}
