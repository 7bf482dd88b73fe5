//! What a node refuses, with real processes: admin calls without the right token, malformed
//! calls, and a process that is not a committee member (here posing as party 2).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use crate::common::{cluster, mpc_node, rpc, start_all};
use serde_json::json;

#[test]
fn calls_without_the_token_and_malformed_calls_are_refused_with_stable_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 3);
    start_all(&mut nodes);
    let n = &nodes[0];

    let (status, out) = rpc(&n.admin, None, "wallet_list", json!({}));
    assert_eq!(status, 401);
    assert_eq!(out.unwrap_err()["code"], -32001);
    let (status, out) = rpc(&n.admin, Some("0123456789abcdef0123456789abcdef"), "node_info", json!({}));
    assert_eq!(status, 401);
    assert_eq!(out.unwrap_err()["code"], -32001);
    assert_eq!(n.metric("mpc_rpc_unauthorized_total"), 2.0);

    assert_eq!(n.call("no_such_method", json!({})).unwrap_err()["code"], -32601);
    assert_eq!(n.call("wallet_get", json!([42])).unwrap_err()["code"], -32602);
    assert_eq!(n.call("wallet_get", json!({ "wallet": "x", "extra": 1 })).unwrap_err()["code"], -32602);
    assert_eq!(n.call("wallet_get", json!({ "wallet": "Not Valid!" })).unwrap_err()["code"], -32602);
    assert_eq!(n.call("session_get", json!({ "session": "zz" })).unwrap_err()["code"], -32602);
    assert_eq!(n.call("session_get", json!({ "session": "00".repeat(32) })).unwrap_err()["code"], -32010);
    let bad_t = n.call("wallet_create", json!({ "scheme": "frost-ed25519", "threshold": 9 })).unwrap_err();
    assert_eq!(bad_t["code"], -32602, "{bad_t}");
    let bad_scheme = n.call("wallet_create", json!({ "scheme": "rsa", "threshold": 2 })).unwrap_err();
    assert_eq!(bad_scheme["code"], -32602, "{bad_scheme}");
    let too_long = n.call("sign", json!({ "wallet": "w", "message": "00", "wait_ms": 10_000_000 })).unwrap_err();
    assert_eq!(too_long["code"], -32010, "an unknown wallet is reported first: {too_long}");
    assert!(n.metric("mpc_rpc_calls_total{method=\"wallet_get\",outcome=\"invalid_params\"}") >= 3.0);

    // The node is still fine.
    assert_eq!(n.call("node_info", json!({})).unwrap()["party"], 0);
}

#[test]
fn a_process_outside_the_committee_cannot_take_part_or_inject_anything() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 3);
    start_all(&mut nodes);

    // An outsider with its own identity claims party 2's seat in its own config.
    let mut outsider = cluster(&dir.path().join("outsider"), 2).remove(0);
    let own = outsider.config.committee[0].clone();
    let mut config = nodes[2].config.clone();
    config.node = outsider.config.node.clone();
    config.node.party = 2;
    config.admin = outsider.config.admin.clone();
    config.metrics = outsider.config.metrics.clone();
    config.network.listen = own.address.clone();
    config.committee[2].peer_id = own.peer_id.clone();
    config.committee[2].address = own.address.clone();
    std::fs::write(&outsider.config_path, toml::to_string_pretty(&config).unwrap()).unwrap();
    outsider.config = config.clone();
    outsider.start();

    // Its proposals never reach a member: it has no one to talk to.
    let tried = outsider
        .call("wallet_create", json!({ "scheme": "frost-ed25519", "threshold": 2, "wallet": "evil", "wait_ms": 5000 }));
    assert!(tried.is_err(), "{tried:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while nodes[0].metric("mpc_messages_rejected_total{reason=\"not_a_member\"}") < 1.0 {
        assert!(Instant::now() < deadline, "node 0 never counted the outsider");
        std::thread::sleep(Duration::from_millis(200));
    }
    for n in &nodes {
        assert_eq!(n.call("wallet_list", json!({})).unwrap(), json!([]), "node {}", n.party);
        assert_eq!(n.call("session_list", json!({})).unwrap(), json!([]), "node {}", n.party);
    }
    // The members still work together.
    let ok = nodes[1]
        .call("wallet_create", json!({ "scheme": "frost-ed25519", "threshold": 2, "wait_ms": 60_000 }))
        .unwrap();
    assert_eq!(ok["session"]["status"], "key_ready");

    // Claiming party 2's seat with party 2's own peer id fails at start: wrong identity.
    config.committee[2] = nodes[2].config.committee[2].clone();
    let path = dir.path().join("impostor.toml");
    std::fs::write(&path, toml::to_string_pretty(&config).unwrap()).unwrap();
    let out = mpc_node().args(["run", "--config", path.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("committee entry of party 2"), "{stderr}");
}
