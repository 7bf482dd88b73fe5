//! Five real `mpc-node` processes on loopback: a committee with its setup done, a DKG for each scheme
//! started through one node's admin RPC, signing requested through another, every signature
//! checked by a library that did not make it; a killed node reported, signing going on
//! without it, and the node rejoining with its wallets after a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::independent;

use std::time::{Duration, Instant};

use crate::common::{cluster, cluster_set_up, start_all, NodeProc};
use serde_json::{json, Value};

const LONG: u64 = 300_000;

fn create_wallet(via: &NodeProc, scheme: &str, wallet: &str) -> Value {
    let created = via
        .call("wallet_create", json!({ "scheme": scheme, "threshold": 3, "wallet": wallet, "wait_ms": LONG }))
        .unwrap_or_else(|e| panic!("wallet_create {scheme}: {e}"));
    assert_eq!(created["session"]["status"], "key_ready", "{created}");
    created
}

fn signature(session: &Value) -> protocol::Signature {
    assert_eq!(session["status"], "signed", "{session}");
    let sig = &session["signature"];
    protocol::Signature {
        bytes: hex::decode(sig["signature"].as_str().unwrap()).unwrap(),
        recovery_id: sig["recovery_id"].as_u64().map(|v| v as u8),
    }
}

fn message_for(scheme: &str) -> (&'static str, Vec<u8>) {
    match scheme {
        "frost-ed25519" => ("message", b"solana transfer 1 SOL".to_vec()),
        _ => ("digest", sha2_digest(scheme)),
    }
}

fn sha2_digest(seed: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(seed.as_bytes()).to_vec()
}

#[test]
fn five_nodes_create_a_wallet_per_scheme_and_sign_through_another_node() {
    let dir = tempfile::tempdir().unwrap();
    // The committee's CGGMP24 setup is restored from its committed backups: the setup across
    // five processes is run by the demo's test, and across three by the secrets scan.
    let mut nodes = cluster_set_up(dir.path(), 5);
    start_all(&mut nodes);

    for (i, scheme) in ["frost-ed25519", "frost-secp256k1-tr", "cggmp24"].into_iter().enumerate() {
        let wallet = format!("w-{i}");
        let t = Instant::now();
        let created = create_wallet(&nodes[0], scheme, &wallet);
        eprintln!("{scheme} keygen via node 0: {} ms", t.elapsed().as_millis());
        let public_key = created["public_key"].as_str().unwrap().to_owned();
        assert!(!created["addresses"].as_object().unwrap().is_empty(), "{created}");
        // Every node holds a share of the same key (the keygen may still be storing elsewhere).
        for n in &nodes {
            let got = n.call_until("wallet_get", json!({ "wallet": wallet }), 30);
            assert_eq!(got["public_key"], public_key.as_str(), "node {}", n.party);
            assert_eq!(got["threshold"], 3);
        }

        // Signing requested through node 3, which picks two connected members to join it.
        let (field, msg) = message_for(scheme);
        let t = Instant::now();
        let signed = nodes[3]
            .call("sign", json!({ "wallet": wallet, field: hex::encode(&msg), "wait_ms": LONG }))
            .unwrap_or_else(|e| panic!("sign {scheme}: {e}"));
        eprintln!("{scheme} sign via node 3: {} ms", t.elapsed().as_millis());
        let sig = signature(&signed);
        independent::verify_independently(scheme, &hex::decode(&public_key).unwrap(), &msg, &sig);
        let signers: Vec<u64> =
            signed["participants"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap()).collect();
        assert_eq!(signers.len(), 3);
        assert!(signers.contains(&3));
        // Every signer computed the same signature itself.
        let session = signed["session"].as_str().unwrap();
        for p in &signers {
            let seen =
                nodes[*p as usize].call("session_get", json!({ "session": session, "wait_ms": 30_000 })).unwrap();
            assert_eq!(seen["signature"], signed["signature"], "node {p}");
        }
    }

    // ECDSA signs digests only: a wrong length is refused before any ceremony.
    let bad = nodes[1].call("sign", json!({ "wallet": "w-2", "digest": "abcd" })).unwrap_err();
    assert_eq!(bad["code"], -32602, "{bad}");
    // A wallet that does not exist, and a second wallet under a taken name.
    let missing = nodes[1].call("wallet_get", json!({ "wallet": "nope" })).unwrap_err();
    assert_eq!(missing["code"], -32010);
    let dup = nodes[2].call("wallet_create", json!({ "scheme": "frost-ed25519", "threshold": 3, "wallet": "w-0" }));
    assert_eq!(dup.unwrap_err()["code"], -32012);

    let listed = nodes[4].call("wallet_list", json!({})).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3);
    // Node 3 proposed every signing (node 0 is a signer only if node 3 chose it by health).
    let sessions = nodes[3].call("session_list", json!({ "limit": 100 })).unwrap();
    // Three keygens and three signings (the restored setup ran before this process started).
    assert!(sessions.as_array().unwrap().len() >= 6, "{sessions}");
    let metrics = nodes[3].metrics_text();
    assert!(metrics.contains(r#"mpc_ceremonies_completed_total{scheme="cggmp24",kind="sign"} 1"#), "{metrics}");
    assert!(metrics.contains("mpc_round_latency_seconds_bucket"), "{metrics}");
    assert!(metrics.contains(r#"mpc_rpc_calls_total{method="sign",outcome="ok"} 3"#), "{metrics}");
    let verified = nodes[0].call("journal_verify", json!({})).unwrap();
    assert_eq!(verified["ok"], true, "{verified}");
}

#[test]
fn a_killed_node_is_reported_signing_goes_on_and_it_rejoins_with_its_wallets() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 5);
    start_all(&mut nodes);
    // CGGMP24 needs its committee setup once; a keygen before it is refused with its code.
    let early = nodes[0].call("wallet_create", json!({ "scheme": "cggmp24", "threshold": 3 })).unwrap_err();
    assert_eq!(early["code"], -32011, "{early}");
    let created = create_wallet(&nodes[0], "frost-ed25519", "kept");
    let public_key = created["public_key"].as_str().unwrap().to_owned();
    nodes[4].call_until("wallet_get", json!({ "wallet": "kept" }), 30);

    nodes[4].kill();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let peers = nodes[0].call("node_peers", json!({})).unwrap();
        let four = peers.as_array().unwrap().iter().find(|p| p["party"] == 4).unwrap().clone();
        if four["connected"] == false {
            break;
        }
        assert!(Instant::now() < deadline, "node 0 still reports party 4 connected: {four}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Three of the remaining four sign; node 1 asks.
    let msg = b"after the crash";
    let signed =
        nodes[1].call("sign", json!({ "wallet": "kept", "message": hex::encode(msg), "wait_ms": LONG })).unwrap();
    let sig = signature(&signed);
    assert!(!signed["participants"].as_array().unwrap().contains(&json!(4)));
    independent::verify_independently("frost-ed25519", &hex::decode(&public_key).unwrap(), msg, &sig);
    // Asking for the dead node explicitly is refused up front.
    let refused =
        nodes[1].call("sign", json!({ "wallet": "kept", "message": "00", "signers": [1, 2, 4] })).unwrap_err();
    assert_eq!(refused["code"], -32602, "{refused}");

    // Restarted, it rejoins and signs with the share it kept on disk.
    nodes[4].start();
    let deadline = Instant::now() + Duration::from_secs(30);
    while nodes[4].call("node_info", json!({})).unwrap()["connected"] != 4 {
        assert!(Instant::now() < deadline, "node 4 did not rejoin");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let kept = nodes[4].call("wallet_get", json!({ "wallet": "kept" })).unwrap();
    assert_eq!(kept["public_key"], public_key.as_str());
    let msg = b"back again";
    let signed = nodes[4]
        .call("sign", json!({ "wallet": "kept", "message": hex::encode(msg), "signers": [0, 2, 4], "wait_ms": LONG }))
        .unwrap();
    independent::verify_independently("frost-ed25519", &hex::decode(&public_key).unwrap(), msg, &signature(&signed));

    // SIGTERM stops a node cleanly.
    assert!(nodes[2].terminate().success());
}
