//! Repair with real processes: a member's machine is lost with everything on it; the member
//! comes back with a new identity (the committee's configs updated), asks for its share, and
//! three helpers give it back; it signs with each of them. A member that still holds its share
//! is refused a repair, and so is a CGGMP24 wallet.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::independent;

use std::time::{Duration, Instant};

use crate::common::{cluster, create_wallet, mpc_node, start_all, NodeProc};
use node::config::Config;
use serde_json::json;

const LONG: u64 = 300_000;

fn signs(via: &NodeProc, key: &str, signers: &[u16], seed: u8) {
    let message = independent::message_for("frost-ed25519", seed);
    let signed = via
        .call(
            "sign",
            json!({ "wallet": "lost", "message": hex::encode(&message), "signers": signers, "wait_ms": LONG }),
        )
        .unwrap_or_else(|e| panic!("{signers:?}: {e}"));
    assert_eq!(signed["status"], "signed", "{signed}");
    let sig = protocol::Signature {
        bytes: hex::decode(signed["signature"]["signature"].as_str().unwrap()).unwrap(),
        recovery_id: None,
    };
    independent::verify_independently("frost-ed25519", &hex::decode(key).unwrap(), &message, &sig);
}

/// Wipes member `i`'s data directory and makes it a new identity; every config learns it.
fn replace_machine(nodes: &mut [NodeProc], i: usize) {
    nodes[i].kill();
    let data = nodes[i].config.node.data_dir.clone();
    std::fs::remove_dir_all(&data).unwrap();
    let out = mpc_node()
        .args(["init", "--data-dir", data.to_str().unwrap(), "--party", &i.to_string()])
        .args(["--listen", &nodes[i].config.network.listen, "--admin", "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let fresh: Config = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let peer = fresh.committee[0].peer_id.clone();
    assert_ne!(peer, nodes[i].config.committee[i].peer_id, "a new machine has a new identity");
    for n in nodes.iter_mut() {
        n.reconfigure(|c| c.committee[i].peer_id = peer.clone());
    }
    nodes[i].token = std::fs::read_to_string(data.join("admin.token")).unwrap().trim().to_owned();
}

#[test]
fn a_member_that_lost_everything_gets_its_share_back_and_signs() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 5);
    start_all(&mut nodes);
    let created = create_wallet(&nodes[0], "frost-ed25519", "lost");
    let key = created["public_key"].as_str().unwrap().to_owned();
    // The proposer has its share; the others store theirs a moment later.
    for n in &nodes[1..] {
        n.call_until("wallet_get", json!({ "wallet": "lost" }), 30);
    }
    let held = nodes[4].call("wallet_repair", json!({ "wallet": "lost", "scheme": "frost-ed25519", "threshold": 3 }));
    assert_eq!(held.unwrap_err()["code"], -32012, "a member holding its share needs no repair");
    let cggmp = nodes[4].call("wallet_repair", json!({ "wallet": "x", "scheme": "cggmp24", "threshold": 3 }));
    assert_eq!(cggmp.unwrap_err()["code"], -32602);

    replace_machine(&mut nodes, 4);
    for n in nodes.iter_mut().take(4) {
        n.kill();
    }
    start_all(&mut nodes);
    let info = nodes[4].call("wallet_get", json!({ "wallet": "lost" })).unwrap_err();
    assert_eq!(info["code"], -32010, "the new machine holds nothing yet");

    let t = Instant::now();
    let repaired = nodes[4]
        .call("wallet_repair", json!({ "wallet": "lost", "scheme": "frost-ed25519", "threshold": 3, "wait_ms": LONG }))
        .unwrap();
    eprintln!("repair of one share of a 3-of-5 wallet, 3 helpers: {} ms", t.elapsed().as_millis());
    assert_eq!(repaired["session"]["status"], "key_ready", "{repaired}");
    assert_eq!(repaired["public_key"].as_str(), Some(key.as_str()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while nodes[4].call("wallet_get", json!({ "wallet": "lost" })).is_err() {
        assert!(Instant::now() < deadline, "the repaired wallet never showed");
        std::thread::sleep(Duration::from_millis(100));
    }
    signs(&nodes[4], &key, &[0, 2, 4], 1);
    signs(&nodes[1], &key, &[1, 3, 4], 2);
}
