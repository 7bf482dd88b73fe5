//! The operator's tools against real nodes: the `mpc-node` client commands (tables, `--json`,
//! exit statuses), `rpc.discover` against what the server really serves, a ceremony's progress
//! in `session_get` (the Grafana dashboard's check is in `presign.rs`, where every family has samples).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::common::{cluster, mpc_node, start_all, NodeProc};
use serde_json::{json, Value};

/// `mpc-node <args>` against `node`: (exit status, stdout, stderr).
fn client(node: &NodeProc, args: &[&str]) -> (i32, String, String) {
    let token = node.config.node.data_dir.join("admin.token");
    let out = mpc_node()
        .args(["--node", &node.admin, "--token-file", token.to_str().unwrap()])
        .args(args)
        .env_remove("MPC_TOKEN")
        .env_remove("MPC_NODE_CONFIG")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn client_json(node: &NodeProc, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (status, out, err) = client(node, &all);
    assert_eq!(status, 0, "mpc-node {args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("mpc-node {args:?} printed no JSON ({e}): {out}"))
}

#[test]
fn the_client_drives_a_node_and_the_api_describes_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 3);
    start_all(&mut nodes);
    let n0 = &nodes[0];

    // rpc.discover: every method it describes is served, and nothing else is.
    let doc = client_json(n0, &["call", "rpc.discover"]);
    assert_eq!(doc["openrpc"], "1.3.2");
    let methods = doc["methods"].as_array().unwrap();
    let described: BTreeSet<&str> = methods.iter().map(|m| m["name"].as_str().unwrap()).collect();
    for must in ["node_info", "wallet_create", "sign", "wallet_transfer", "session_get", "audit_trail", "rpc.discover"]
    {
        assert!(described.contains(must), "{must} not described");
    }
    for m in methods {
        let name = m["name"].as_str().unwrap();
        // An unknown param reaches the method's own parser: the method exists.
        let answer = n0.call(name, json!({ "surely_not_a_param": 1 }));
        assert_eq!(answer.unwrap_err()["code"], -32602, "{name} is described but not served as described");
        for e in m["errors"].as_array().unwrap() {
            assert_ne!(e["message"], "undocumented code", "{name}: {e}");
        }
        assert!(m["errors"].as_array().unwrap().iter().any(|e| e["code"] == -32001), "{name}: no -32001");
        assert!(m["summary"].as_str().is_some_and(|s| !s.is_empty()), "{name}: no summary");
        for p in m["params"].as_array().unwrap() {
            assert!(p["schema"].is_object(), "{name}: param without a schema: {p}");
        }
    }
    let sign = methods.iter().find(|m| m["name"] == "sign").unwrap();
    let wallet_param = sign["params"].as_array().unwrap().iter().find(|p| p["name"] == "wallet").unwrap();
    assert_eq!(wallet_param["required"], true);
    assert!(sign["errors"].as_array().unwrap().iter().any(|e| e["code"] == -32015), "sign lacks ceremony_failed");
    // And a name it does not describe is not served.
    assert_eq!(n0.call("wallet_delete", json!({})).unwrap_err()["code"], -32601);

    // The daily commands, as tables.
    let (status, out, err) = client(n0, &["info"]);
    assert_eq!(status, 0, "{err}");
    assert!(out.contains("party") && out.contains("0 of 3") && out.contains("2 members"), "{out}");
    let (status, out, _) = client(n0, &["peers"]);
    assert_eq!(status, 0);
    assert!(out.lines().next().unwrap().starts_with("party  connected  health"), "{out}");
    assert_eq!(out.lines().count(), 3, "two peers: {out}");

    let (status, out, err) =
        client(n0, &["wallet", "create", "--scheme", "frost-ed25519", "--threshold", "2", "--name", "ops-1"]);
    assert_eq!(status, 0, "{err}");
    assert!(out.contains("ops-1") && out.contains("solana:"), "{out}");
    common::held_everywhere(&nodes, "ops-1");
    let (_, out, _) = client(n0, &["wallet", "list"]);
    assert!(out.contains("ops-1") && out.contains("2-of-3") && out.contains("frost-ed25519"), "{out}");
    let listed = client_json(n0, &["wallet", "list"]);
    assert_eq!(listed[0]["wallet"], "ops-1");

    let signed = client_json(n0, &["sign", "ops-1", "--message", "68656c6c6f"]);
    assert_eq!(signed["status"], "signed", "{signed}");
    assert_eq!(signed["signature"]["signature"].as_str().unwrap().len(), 128);
    let (_, out, _) = client(n0, &["sessions"]);
    let sign_row = out.lines().find(|l| l.contains(" sign ")).unwrap_or_else(|| panic!("{out}"));
    assert!(sign_row.contains("signed") && sign_row.contains("ops-1"), "{sign_row}");
    let (_, out, _) = client(n0, &["audit", "--limit", "500"]);
    assert!(out.contains("WalletCreated") && out.contains("hash chain verified"), "{out}");
    let (_, out, _) = client(n0, &["history", "ops-1"]);
    assert!(out.starts_with("seq"), "{out}");

    // Failures exit with the error's code and say why.
    let (status, _, err) = client(n0, &["wallet", "get", "nosuch"]);
    assert_eq!(status, 10, "not found is -32010: {err}");
    assert!(err.contains("-32010") && err.contains("nosuch"), "{err}");
    let (status, _, err) = client(n0, &["call", "node_info", "-p", "bogus=1"]);
    assert_eq!(status, 65, "-32602 is JSON-RPC's own: {err}");
    let (status, _, err) = client(n0, &["call", "wallet_delete"]);
    assert_eq!(status, 65, "{err}");
    let closed = format!("127.0.0.1:{}", common::free_port());
    let out = mpc_node().args(["--node", &closed, "--token-file", "/dev/null", "info"]).output().unwrap();
    assert_eq!(out.status.code(), Some(69), "{}", String::from_utf8_lossy(&out.stderr));
    let token = n0.config.node.data_dir.join("admin.token");
    let out = mpc_node()
        .args(["--node", &n0.admin, "info"])
        .env("MPC_TOKEN", "mpck_wrong")
        .env_remove("MPC_NODE_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a wrong token is -32001: {}", String::from_utf8_lossy(&out.stderr));
    // A config whose admin port is 0 cannot be dialled: the error says what to pass instead.
    let out = mpc_node().args(["--node-config", n0.config_path.to_str().unwrap(), "info"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--node"));
    let _ = token;

    // Shell completions name the client commands.
    let out = mpc_node().args(["completions", "bash"]).output().unwrap();
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && script.contains("mpc-node") && script.contains("transfer"), "{script:.300}");
}

/// A member that answers every round 1.5 s late: `session_get` on another shows the ceremony
/// in progress, waiting for exactly that member, and where it got to once done.
#[test]
fn session_get_shows_a_ceremony_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 3);
    nodes[2].reconfigure(|c| {
        c.faults = Some(actors::faults::Faults {
            rule: vec![actors::faults::FaultRule { delay_ms: 1500, ..Default::default() }],
            ..Default::default()
        })
    });
    start_all(&mut nodes);
    let started =
        nodes[0].call("wallet_create", json!({ "scheme": "frost-ed25519", "threshold": 2, "wallet": "slow" })).unwrap();
    let session = started["session"]["session"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen_waiting = None;
    let last = loop {
        let v = nodes[0].call("session_get", json!({ "session": session })).unwrap();
        if v["status"] == "running" && v["progress"]["waiting"] == json!([2]) {
            seen_waiting.get_or_insert(v.clone());
        }
        if v["status"] != "running" && v["status"] != "proposed" {
            break v;
        }
        assert!(Instant::now() < deadline, "keygen still running: {v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let waiting = seen_waiting.unwrap_or_else(|| panic!("never saw it waiting for party 2; ended as {last}"));
    assert_eq!(waiting["progress"]["heard"], json!([1]), "{waiting}");
    assert_eq!(waiting["progress"]["total"], 3, "FROST DKG: two rounds and the confirmation: {waiting}");
    assert_eq!(last["status"], "key_ready", "{last}");
    assert!(last["progress"]["completed"].as_u64().unwrap() >= 2, "{last}");
    // The client follows the same session to its end.
    let (status, out, err) = client(&nodes[0], &["session", &session, "--wait"]);
    assert_eq!(status, 0, "{err}");
    assert!(out.contains("key_ready") && out.contains("progress") && out.contains("done"), "{out}");
}
