//! Real `mpc-node` processes with injected faults: the DKG's confirmation leaves no wallet on
//! some members only (also when the one member that completed is killed before the others'
//! aborts reach it), a cheating party is blamed with its evidence and loses reputation (kept
//! across a restart), the breaker cools down before another DKG, and a slow party still
//! completes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use crate::common::{cluster, start_all, NodeProc};
use actors::faults::{FaultRule, Faults};
use serde_json::{json, Value};

const WAIT: u64 = 120_000;

fn quick(nodes: &mut [NodeProc], cooldown_ms: u64) {
    for n in nodes.iter_mut() {
        n.reconfigure(|c| {
            c.ceremony.round_timeout_ms = 3_000;
            c.ceremony.max_round_timeout_ms = 6_000;
            c.ceremony.peer_grace_ms = 3_000;
            c.breaker.cooldown_ms = cooldown_ms;
        });
    }
}

fn faults(node: &mut NodeProc, rule: FaultRule) {
    node.reconfigure(|c| c.faults = Some(Faults { rule: vec![rule], ..Faults::default() }));
}

fn keygen(via: &NodeProc, wallet: &str) -> Result<Value, Value> {
    via.call("wallet_create", json!({ "scheme": "frost-ed25519", "threshold": 2, "wallet": wallet, "wait_ms": WAIT }))
}

/// `wallet_get` on every node is "not found" (waiting for late aborts to land).
fn nowhere(nodes: &[NodeProc], wallet: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for n in nodes {
        loop {
            match n.call("wallet_get", json!({ "wallet": wallet })) {
                Err(e) if e["code"] == -32010 => break,
                other => assert!(Instant::now() < deadline, "node {} still holds {wallet}: {other:?}", n.party),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn peer(node: &NodeProc, party: u16) -> Value {
    let peers = node.call("node_peers", json!({})).unwrap();
    peers.as_array().unwrap().iter().find(|p| p["party"] == party).cloned().unwrap()
}

#[test]
fn a_party_that_never_confirms_leaves_the_wallet_on_no_member() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 3);
    quick(&mut nodes, 1_000);
    // Node 2 runs the DKG honestly but never sends its confirmation: it alone hears every
    // confirmation, completes and stores its share, and must delete it on the others' aborts.
    faults(
        &mut nodes[2],
        FaultRule { rounds: vec![protocol::confirm::CONFIRM_ROUND], drop_percent: 100, ..Default::default() },
    );
    start_all(&mut nodes);
    let info = nodes[2].call("node_info", json!({})).unwrap();
    assert!(info["fault_injection"].as_str().is_some_and(|f| f.contains("drop 100 %")), "{info}");
    assert!(nodes[2].metrics_text().contains("fault_injection_active 1"));

    let err = keygen(&nodes[0], "half").expect_err("a DKG without every confirmation must fail");
    assert!(err["code"] == -32019 || err["code"] == -32015, "{err}");
    assert_eq!(err["data"]["blamed"], json!([2]), "{err}");
    nowhere(&nodes, "half");
    let audit = nodes[2].call("audit_trail", json!({ "limit": 200 })).unwrap();
    assert!(audit.to_string().contains("WalletDiscarded"), "node 2 journals why its share went: {audit}");
}

#[test]
fn a_member_killed_right_after_completing_a_dkg_alone_drops_the_wallet_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 3);
    quick(&mut nodes, 1_000);
    // As above, node 2 alone completes; then it is killed before the others' aborts reach it,
    // and they abort while it is down. Restarted, it has forgotten the DKG but not the share.
    let never_confirms =
        FaultRule { rounds: vec![protocol::confirm::CONFIRM_ROUND], drop_percent: 100, ..Default::default() };
    faults(&mut nodes[2], never_confirms);
    start_all(&mut nodes);
    let (admin, token) = (nodes[0].admin.clone(), nodes[0].token.clone());
    let call = std::thread::spawn(move || {
        let params = json!({ "scheme": "frost-ed25519", "threshold": 2, "wallet": "alone", "wait_ms": WAIT });
        crate::common::rpc(&admin, Some(&token), "wallet_create", params).1
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while nodes[2].call("wallet_get", json!({ "wallet": "alone" })).is_err() {
        assert!(Instant::now() < deadline, "node 2 never completed the DKG");
        std::thread::sleep(Duration::from_millis(10));
    }
    nodes[2].kill();
    let err = call.join().unwrap().expect_err("a DKG without node 2's confirmation must fail");
    assert_eq!(err["data"]["blamed"], json!([2]), "{err}");
    nodes[2].reconfigure(|c| c.faults = None);
    nodes[2].start();
    nowhere(&nodes, "alone");
    let audit = nodes[2].call("audit_trail", json!({ "limit": 200 })).unwrap();
    assert!(audit.to_string().contains("WalletDiscarded"), "node 2 journals why its share went: {audit}");
    assert_eq!(nodes[2].call("journal_verify", json!({})).unwrap()["ok"], true);
    // The name is free again, on every member (once the breaker's short cooldown is over).
    let params = json!({ "scheme": "frost-ed25519", "threshold": 2, "wallet": "alone", "wait_ms": WAIT });
    let created = nodes[1].call_until("wallet_create", params, 20);
    assert_eq!(created["session"]["status"], "key_ready", "{created}");
}

#[test]
fn a_cheating_party_is_blamed_loses_reputation_and_the_breaker_cools_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 3);
    quick(&mut nodes, 4_000);
    faults(&mut nodes[2], FaultRule { corrupt_percent: 100, ..Default::default() });
    start_all(&mut nodes);

    let started = Instant::now();
    let err = keygen(&nodes[0], "cheated").expect_err("a corrupted DKG must fail");
    let took = started.elapsed();
    assert_eq!(err["code"], -32015, "cheating is not a timeout: {err}");
    assert_eq!(err["data"]["blamed"], json!([2]), "{err}");
    assert!(took < Duration::from_secs(3), "a cryptographic failure ends at once, took {took:?}");
    nowhere(&nodes, "cheated");

    // The breaker opened on it and cools down: this member declines a DKG for now.
    let refused = keygen(&nodes[0], "too-soon").expect_err("the breaker is cooling down");
    assert_eq!(refused["code"], -32014, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("circuit breaker"), "{refused}");
    let metrics = nodes[0].metrics_text();
    assert!(metrics.contains(r#"dkg_breaker_state{state="cooldown"} 1"#), "{metrics}");

    let p2 = peer(&nodes[0], 2);
    assert_eq!(p2["blamed_cheating"], 1, "{p2}");
    let reputation = p2["reputation"].as_f64().unwrap();
    assert!(reputation <= 0.5 + 1e-9, "{p2}");
    assert!(peer(&nodes[0], 1)["reputation"].as_f64().unwrap() > 0.99);

    // Reputation survives a restart (replayed from the journal).
    nodes[0].terminate();
    nodes[0].start();
    let after = peer(&nodes[0], 2)["reputation"].as_f64().unwrap();
    assert!((after - reputation).abs() < 0.01, "before {reputation}, after restart {after}");
}

#[test]
fn a_slow_jittery_party_still_completes_its_dkg_and_signs() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 3);
    quick(&mut nodes, 1_000);
    faults(&mut nodes[2], FaultRule { delay_ms: 600, jitter_ms: 400, ..Default::default() });
    start_all(&mut nodes);
    let created = keygen(&nodes[0], "slow").unwrap_or_else(|e| panic!("a slow party is no reason to abort: {e}"));
    assert_eq!(created["session"]["status"], "key_ready", "{created}");
    assert!(created["session"]["detected"]["after_ms"].is_u64(), "someone was flagged late: {created}");
    for n in &nodes {
        n.call_until("wallet_get", json!({ "wallet": "slow" }), 30);
    }
    let signed = nodes[0]
        .call("sign", json!({ "wallet": "slow", "message": hex::encode(b"hello"), "signers": [0, 2], "wait_ms": WAIT }))
        .unwrap();
    assert_eq!(signed["status"], "signed", "{signed}");
    let p2 = peer(&nodes[0], 2);
    // 600 ms ± 400 of injected delay: a median of a few rounds is well above a healthy
    // member's few milliseconds, though not always above 500.
    assert!(p2["p50_ms"].as_u64().unwrap() >= 200, "its latency shows: {p2}");
    assert!(p2["stragglers"].as_u64().unwrap() >= 1, "it was flagged as a straggler: {p2}");
    assert_eq!(p2["blamed_silent"], 0, "{p2}");
}
