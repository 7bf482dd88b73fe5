//! Real `mpc-node` processes: a proposal made the moment its participants connect, or right
//! after one restarts, reaches every participant (sent to each directly, said again on
//! reconnection), with no sleep before proposing for gossip meshes to form.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use crate::common::{cluster, NodeProc};
use serde_json::json;

/// Waits until `node` sees `want` peers, and not a moment longer.
fn connected(node: &NodeProc, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.call("node_info", json!({})).unwrap()["connected"] != want {
        assert!(Instant::now() < deadline, "node {} never saw {want} peers", node.party);
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn keygen_everywhere(nodes: &[NodeProc], wallet: &str) {
    let created = nodes[0]
        .call(
            "wallet_create",
            json!({ "scheme": "frost-ed25519", "threshold": 3, "wallet": wallet, "wait_ms": 60_000 }),
        )
        .unwrap_or_else(|e| panic!("{wallet}: {e}"));
    assert_eq!(created["session"]["status"], "key_ready", "{created}");
    let key = created["public_key"].clone();
    for n in nodes {
        let got = n.call_until("wallet_get", json!({ "wallet": wallet }), 30);
        assert_eq!(got["public_key"], key, "node {} holds {wallet}", n.party);
    }
}

#[test]
fn proposals_made_the_moment_peers_connect_or_right_after_a_restart_reach_every_participant() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 5);
    for n in nodes.iter_mut() {
        n.start();
    }
    // The moment node 0 sees the other four: no time for gossip subscriptions to spread.
    connected(&nodes[0], 4);
    keygen_everywhere(&nodes, "first");

    // A member restarts; a keygen proposed as soon as it is back reaches it too.
    for round in 0..2 {
        nodes[4].kill();
        connected(&nodes[0], 3);
        nodes[4].start();
        connected(&nodes[0], 4);
        keygen_everywhere(&nodes, &format!("after-restart-{round}"));
    }
    for n in &nodes {
        assert_eq!(n.call("journal_verify", json!({})).unwrap()["ok"], true);
    }
}
