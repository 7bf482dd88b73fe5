//! The CGGMP24 presignature pool with real processes: it fills in idle time, an EIP-191 message
//! and an Ethereum transfer sign from it in one round (ethers recovers the wallet, anvil mines
//! the transfer), a raw digest never consumes a presignature, the pool refills, and a used
//! presignature is refused when named again, also after its holder was killed with SIGKILL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::chain_software;
use crate::common;

use std::time::{Duration, Instant};

use crate::common::{chain_call, cluster_set_up, create_wallet, start_all, NodeProc};
use node::config::ChainSection;
use serde_json::{json, Value};

/// Below the test client's 300 s: a stuck call answers with its session (a timeout), not a dropped connection.
const LONG: u64 = 240_000;
const ETH_TO: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

fn uses(node: &NodeProc, outcome: &str) -> f64 {
    node.metric(&format!("mpc_presign_pool_uses_total{{wallet=\"w-pool\",outcome=\"{outcome}\"}}"))
}

/// Node's presignatures of `w-pool`: per signer set, the ids ready.
fn pool(node: &NodeProc) -> Vec<(Vec<u16>, Vec<String>)> {
    let Ok(w) = node.call("wallet_get", json!({ "wallet": "w-pool" })) else { return Vec::new() };
    w["presignatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let set = p["signers"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u16).collect();
            let ids = p["ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
            (set, ids)
        })
        .collect()
}

/// Waits until `node` holds at least `n` presignatures for a signer set with itself in it.
fn filled(node: &NodeProc, n: usize) -> (Vec<u16>, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        if let Some(p) = pool(node).into_iter().find(|(set, ids)| set.contains(&node.party) && ids.len() >= n) {
            return p;
        }
        assert!(Instant::now() < deadline, "node {} never had {n} presignatures: {:?}", node.party, pool(node));
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn recovered(data: &str, signed: &Value) -> String {
    assert_eq!(signed["status"], "signed", "{signed}");
    let sig = &signed["signature"];
    let sig65 = format!("0x{}{:02x}", sig["signature"].as_str().unwrap(), 27 + sig["recovery_id"].as_u64().unwrap());
    let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testnet/js/verify-eth.mjs");
    let out = std::process::Command::new("node").arg(js).args(["personal", data, &sig65]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_lowercase()
}

#[test]
fn ecdsa_signs_from_the_pool_in_one_round_never_twice_and_the_pool_refills() {
    let anvil = chain_software::anvil();
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster_set_up(dir.path(), 3);
    for n in nodes.iter_mut() {
        n.reconfigure(|c| {
            c.chain = vec![ChainSection::new("ethereum", &anvil.url, "31337")];
            c.presign.target = 2;
            c.presign.batch = 2;
        });
    }
    start_all(&mut nodes);
    let created = create_wallet(&nodes[0], "cggmp24", "w-pool");
    let address = created["addresses"]["ethereum"].as_str().unwrap().to_lowercase();
    let t = Instant::now();
    let (set, _) = filled(&nodes[1], 2);
    eprintln!("pool of 2 for signers {set:?} ready {} ms after the wallet", t.elapsed().as_millis());

    // EIP-191 from the pool: one round, and ethers recovers the wallet.
    let text = "pooled, 2026-12-02";
    let signed =
        nodes[1].call("sign", json!({ "wallet": "w-pool", "personal_message": text, "wait_ms": LONG })).unwrap();
    assert_eq!(recovered(text, &signed), address);
    assert_eq!(uses(&nodes[1], "hit"), 1.0, "{}", nodes[1].metrics_text());

    // A raw digest is signed in full: it names no presignature.
    let raw = nodes[1].call("sign", json!({ "wallet": "w-pool", "digest": hex::encode([7u8; 32]), "wait_ms": LONG }));
    assert_eq!(raw.unwrap()["status"], "signed");
    assert_eq!(uses(&nodes[1], "raw"), 1.0);
    assert_eq!(uses(&nodes[1], "hit"), 1.0, "a raw digest never consumes a presignature");
    // The Grafana dashboard queries only metrics a member exports (the pool's included).
    common::dashboard_metrics_exported(&nodes[1]);

    // An Ethereum transfer from the pool, mined by anvil.
    chain_call(&anvil.url, "anvil_setBalance", json!([address, "0x8ac7230489e80000"]));
    filled(&nodes[1], 1);
    let sent = nodes[1]
        .call(
            "wallet_transfer",
            json!({ "wallet": "w-pool", "chain": "ethereum", "to": ETH_TO, "amount": "1000", "wait_ms": LONG }),
        )
        .unwrap();
    assert_eq!(sent["status"], "confirmed", "{sent}");
    let receipt = chain_call(&anvil.url, "eth_getTransactionReceipt", json!([sent["chain_txid"]]));
    assert_eq!(receipt["status"], "0x1");
    assert_eq!(uses(&nodes[1], "hit"), 2.0, "the transfer signed from the pool");

    // The pool refills in idle time.
    let (set, ids) = filled(&nodes[1], 2);
    let other = *set.iter().find(|p| **p != 1).unwrap() as usize;
    let x = ids[0].clone();
    let named = |via: &NodeProc, text: &str| {
        via.call(
            "sign",
            json!({ "wallet": "w-pool", "personal_message": text, "signers": set, "presignatures": [x], "wait_ms": LONG }),
        )
    };
    assert_eq!(recovered("first use", &named(&nodes[1], "first use").unwrap()), address);

    // Its other holder is killed hard and restarted: the used presignature is gone there too,
    // and naming it again is refused at either holder.
    nodes[other].kill();
    nodes[other].start();
    let deadline = Instant::now() + Duration::from_secs(30);
    while nodes[1].call("node_peers", json!({})).unwrap().as_array().unwrap().iter().any(|p| p["connected"] != true) {
        assert!(Instant::now() < deadline, "node {other} did not reconnect");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(pool(&nodes[other]).iter().all(|(_, ids)| !ids.contains(&x)), "used, so gone after SIGKILL");
    for via in [1, other] {
        let e = named(&nodes[via], "second use").unwrap_err();
        assert!(e.to_string().contains("not here"), "node {via}: {e}");
    }
    // A member whose presignatures are gone (discarded by its operator) declines the pooled
    // signing; the entry node falls back to a full signing, which completes.
    // (A full pool first: no refill of it can land between the discard and the signing.)
    let (set, _) = filled(&nodes[1], 2);
    let other = *set.iter().find(|p| **p != 1).unwrap() as usize;
    let gone = nodes[other].call("presign_discard", json!({ "wallet": "w-pool" })).unwrap();
    assert!(gone["discarded"].as_u64().unwrap() >= 1, "{gone}");
    let text = "after a discard";
    let params = json!({ "wallet": "w-pool", "personal_message": text, "signers": set, "wait_ms": LONG });
    let signed = nodes[1].call("sign", params).unwrap();
    assert_eq!(recovered(text, &signed), address, "signed in full after the fall-back: {signed}");
    assert_eq!(uses(&nodes[1], "fell_back"), 1.0, "{}", nodes[1].metrics_text());
    // (A presigning cut short by the kill may have failed: it made nothing anyone can use.)
    for n in &nodes {
        let sessions = n.call("session_list", json!({})).unwrap();
        let failed: Vec<&Value> =
            sessions.as_array().unwrap().iter().filter(|s| s["kind"] == "sign" && s["status"] == "failed").collect();
        assert!(failed.is_empty(), "node {}: {failed:?}", n.party);
    }
}
