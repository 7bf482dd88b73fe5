//! Real `mpc-node` processes: a signer killed (-9) in the middle of a CGGMP24 signing ends the
//! ceremony within the peer grace, blamed as unreachable with its own code, instead of
//! stalling for the round timeout; when this node chose the signers, it retries once with
//! the members still connected and the caller gets a signature.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::time::{Duration, Instant};

use crate::common::{cluster_set_up, sees_peers, start_all, NodeProc};
use serde_json::{json, Value};

const LONG: u64 = 300_000;

fn sign_while_killing(nodes: &mut [NodeProc], victim: usize, params: Value) -> (Result<Value, Value>, Duration) {
    let (admin, token) = (nodes[0].admin.clone(), nodes[0].token.clone());
    let started = Instant::now();
    let call = std::thread::spawn(move || common::rpc(&admin, Some(&token), "sign", params).1);
    // The proposal and votes take milliseconds; CGGMP24's rounds take seconds: kill mid-way.
    std::thread::sleep(Duration::from_millis(400));
    nodes[victim].kill();
    let result = call.join().unwrap();
    (result, started.elapsed())
}

#[test]
fn a_signer_killed_mid_signing_ends_it_within_the_grace_and_a_chosen_set_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster_set_up(dir.path(), 3);
    start_all(&mut nodes);
    let created = nodes[0]
        .call("wallet_create", json!({ "scheme": "cggmp24", "threshold": 2, "wallet": "ecdsa", "wait_ms": LONG }))
        .unwrap();
    assert_eq!(created["session"]["status"], "key_ready", "{created}");
    for n in &nodes {
        n.call_until("wallet_get", json!({ "wallet": "ecdsa" }), 30);
    }
    let digest = hex::encode([0x5au8; 32]);

    // The caller fixed the signers: no retry, a typed error naming the lost party, fast.
    let params = json!({ "wallet": "ecdsa", "digest": digest, "signers": [0, 1], "wait_ms": LONG });
    let (result, took) = sign_while_killing(&mut nodes, 1, params);
    let err = result.expect_err("a signing without one of its two signers cannot succeed");
    assert_eq!(err["code"], -32020, "{err}");
    assert_eq!(err["data"]["blamed"], json!([1]), "{err}");
    eprintln!("signer killed mid-signing: the call ended after {:.1} s", took.as_secs_f64());
    assert!(took < Duration::from_secs(20), "ended after {took:?}, not within the grace (round timeout 120 s)");

    // Back, then lost again while node 0 chose the signers: retried once without it.
    nodes[1].start();
    sees_peers(&nodes[0], 2);
    let params = json!({ "wallet": "ecdsa", "digest": digest, "wait_ms": LONG });
    let (result, _) = sign_while_killing(&mut nodes, 1, params);
    let signed = result.unwrap_or_else(|e| panic!("the retry did not sign: {e}"));
    assert_eq!(signed["status"], "signed", "{signed}");
    assert_eq!(signed["participants"], json!([0, 2]), "{signed}");
    let verified = nodes[0].call("journal_verify", json!({})).unwrap();
    assert_eq!(verified["ok"], true, "{verified}");
}
