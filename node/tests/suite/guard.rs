//! Every member guards the wallet, with real processes: raw signing only where a member's own
//! config allows it, no Solana transfer smuggled as a raw message, EIP-191 messages that an
//! outside implementation verifies, a member's daily velocity and message diversity kept
//! across a restart although the entry node allowed more, and API keys with roles, wallets
//! and their own limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use crate::common::{cluster, cluster_set_up, create_wallet, mpc_node, rpc, start_all, NodeProc};
use serde_json::{json, Value};

fn digest(i: u8) -> String {
    hex::encode([i; 32])
}

fn sign(via: &NodeProc, wallet: &str, what: Value, signers: &[u16]) -> Result<Value, Value> {
    let mut params = json!({ "wallet": wallet, "signers": signers, "wait_ms": 120_000 });
    for (k, v) in what.as_object().unwrap() {
        params[k] = v.clone();
    }
    via.call("sign", params)
}

fn wait_connected(nodes: &[NodeProc], who: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while nodes[0].call("node_peers", json!({})).unwrap().as_array().unwrap()[who - 1]["connected"] != true {
        assert!(Instant::now() < deadline, "node {who} did not reconnect");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
}

#[test]
fn raw_signing_is_each_members_own_decision_and_smuggled_transfers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 3);
    // The entry node allows raw signing for every wallet; the other two keep the default (off).
    for n in &mut nodes[1..] {
        n.reconfigure(|c| c.signing.raw_wallets.clear());
    }
    start_all(&mut nodes);
    let created = create_wallet(&nodes[0], "frost-ed25519", "w-raw");
    for other in [1u16, 2] {
        let e = sign(&nodes[0], "w-raw", json!({ "digest": digest(7) }), &[0, other]).unwrap_err();
        assert_eq!(e["code"], -32014, "{e}");
        let reason = e["data"]["reason"].as_str().unwrap();
        assert!(reason.contains(&format!("raw signing is off for wallet w-raw at member {other}")), "{reason}");
    }

    // A Solana transfer from the wallet, sent as a raw message: refused even where raw signing
    // is on (here, by the entry node itself before anything is sent).
    let key: [u8; 32] = hex::decode(created["public_key"].as_str().unwrap()).unwrap().try_into().unwrap();
    let smuggled =
        protocol::chains::solana::Transfer { from: key, to: [9; 32], lamports: 5, recent_blockhash: [1; 32] };
    let message = hex::encode(smuggled.message().unwrap());
    let e = sign(&nodes[0], "w-raw", json!({ "message": message }), &[0, 1]).unwrap_err();
    assert_eq!(e["code"], -32014, "{e}");
    assert!(e["message"].as_str().unwrap().contains("is a Solana transaction paying from wallet w-raw"), "{e}");

    // A personal message is Ethereum's: an Ed25519 wallet declines it.
    let e = sign(&nodes[0], "w-raw", json!({ "personal_message": "hello" }), &[0, 1]).unwrap_err();
    assert!(e["message"].as_str().unwrap().contains("personal messages are Ethereum's"), "{e}");

    // With the same members, a signing they can read goes through: a wallet-less check that
    // nothing else is broken is the next test's EIP-191 signing.
    nodes[1].kill();
    nodes[1].reconfigure(|c| c.signing.raw_wallets = vec!["w-raw".into()]);
    nodes[1].start();
    wait_connected(&nodes, 1);
    let signed = sign(&nodes[0], "w-raw", json!({ "digest": digest(7) }), &[0, 1]).unwrap();
    assert_eq!(signed["status"], "signed", "member 1 now allows raw signing for w-raw: {signed}");
}

#[test]
fn eip191_and_eip712_are_hashed_by_every_member_and_verify_with_an_outside_tool() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster_set_up(dir.path(), 3);
    for n in &mut nodes {
        n.reconfigure(|c| c.signing.raw_wallets.clear());
    }
    start_all(&mut nodes);
    let created = create_wallet(&nodes[0], "cggmp24", "w-eth");
    let address = created["addresses"]["ethereum"].as_str().unwrap().to_lowercase();

    let recovered = |kind: &str, data: &str, signed: &Value| {
        assert_eq!(signed["status"], "signed", "{signed}");
        let sig = &signed["signature"];
        let v = 27 + sig["recovery_id"].as_u64().unwrap();
        let sig65 = format!("0x{}{:02x}", sig["signature"].as_str().unwrap(), v);
        let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testnet/js/verify-eth.mjs");
        let out = std::process::Command::new("node").arg(js).args([kind, data, &sig65]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_lowercase()
    };
    let text = "I approve the committee's terms, 2026-12-01";
    let signed = sign(&nodes[0], "w-eth", json!({ "personal_message": text }), &[0, 2]).unwrap();
    assert_eq!(recovered("personal", text, &signed), address, "ethers recovers the wallet");

    let typed = json!({
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"}],
            "Order": [{"name": "owner", "type": "address"}, {"name": "amount", "type": "uint256"},
                      {"name": "tags", "type": "string[]"}]
        },
        "primaryType": "Order",
        "domain": {"name": "Exchange", "chainId": 31337},
        "message": {"owner": address, "amount": "1000000000000000000", "tags": ["limit", "gtc"]}
    });
    let signed = sign(&nodes[0], "w-eth", json!({ "typed_data": typed }), &[0, 1]).unwrap();
    assert_eq!(recovered("typed", &typed.to_string(), &signed), address, "ethers recovers the wallet (EIP-712)");

    // The same bytes as a bare digest are raw signing, off at every member here.
    let digest = hex::encode(protocol::signable::eip191_digest(text.as_bytes()));
    let e = sign(&nodes[0], "w-eth", json!({ "digest": digest }), &[0, 2]).unwrap_err();
    assert_eq!(e["code"], -32014, "{e}");
}

#[test]
fn a_member_keeps_the_wallet_to_its_own_budget_across_a_restart_although_the_entry_allowed_more() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 3);
    // The entry node's limits are out of reach; member 1 allows 3 signatures a day, member 2
    // the default diversity (the same message 3 times an hour).
    nodes[1].reconfigure(|c| c.limits.per_wallet_per_day = 3);
    nodes[2].reconfigure(|c| c.limits.same_message_per_hour = 3);
    start_all(&mut nodes);
    create_wallet(&nodes[0], "frost-ed25519", "w-vel");

    for i in 1..=3 {
        assert_eq!(sign(&nodes[0], "w-vel", json!({ "digest": digest(i) }), &[0, 1]).unwrap()["status"], "signed");
    }
    let over = |nodes: &[NodeProc]| {
        let e = sign(&nodes[0], "w-vel", json!({ "digest": digest(4) }), &[0, 1]).unwrap_err();
        assert_eq!(e["code"], -32014, "{e}");
        let reason = e["data"]["reason"].as_str().unwrap().to_owned();
        assert!(reason.contains("party 1") && reason.contains("limit velocity for w-vel: 3 of 3 used"), "{reason}");
    };
    over(&nodes);
    assert!(nodes[1].metric("mpc_limiter_refusals_total{limit=\"velocity\"}") >= 1.0);
    let counted = nodes[1].call("wallet_get", json!({ "wallet": "w-vel" })).unwrap();
    assert_eq!(counted["signed_24h"]["all"], 3, "{counted}");
    assert_eq!(counted["signed_24h"]["per_day"], 3);

    // Killed and restarted, member 1 still counts the day's three signatures.
    nodes[1].kill();
    nodes[1].start();
    wait_connected(&nodes, 1);
    over(&nodes);
    // A refusal is journaled off the signing path (cast to the journal), so it may land a moment
    // after the refusal reached the client.
    let deadline = Instant::now() + Duration::from_secs(5);
    let refused: Vec<Value> = loop {
        let audit = nodes[1].call("audit_trail", json!({ "from_ms": 0, "limit": 5000 })).unwrap();
        let refused: Vec<Value> =
            audit.as_array().unwrap().iter().filter(|e| e["event"]["type"] == "LimitRefused").cloned().collect();
        if !refused.is_empty() || Instant::now() > deadline {
            break refused;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!refused.is_empty(), "the refusal is journaled for an auditor");
    assert_eq!(refused[0]["event"]["limit"], "velocity");
    assert_eq!(refused[0]["stream"], "limits");

    // Member 2 signs one message three times an hour, not four.
    for _ in 0..3 {
        assert_eq!(sign(&nodes[0], "w-vel", json!({ "digest": digest(9) }), &[0, 2]).unwrap()["status"], "signed");
    }
    let e = sign(&nodes[0], "w-vel", json!({ "digest": digest(9) }), &[0, 2]).unwrap_err();
    let reason = e["data"]["reason"].as_str().unwrap();
    assert!(reason.contains("limit diversity for w-vel: 3 of 3 used"), "{reason}");
}

fn keys_cmd(node: &NodeProc, args: &[&str]) -> String {
    let out = mpc_node().args(["keys", "--config", node.config_path.to_str().unwrap()]).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn api_keys_have_roles_wallets_and_limits_and_come_and_go_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 2);
    nodes[0].reconfigure(|c| c.limits = Default::default());
    start_all(&mut nodes);
    create_wallet(&nodes[0], "frost-ed25519", "w-a");
    create_wallet(&nodes[0], "frost-ed25519", "w-b");

    let secret =
        keys_cmd(&nodes[0], &["create", "--name", "app", "--role", "client", "--wallet", "w-a", "--per-minute", "2"]);
    assert!(secret.starts_with("mpck_"), "{secret}");
    let addr = nodes[0].admin.clone();
    let call = |method: &str, params: Value| rpc(&addr, Some(&secret), method, params);
    let deadline = Instant::now() + Duration::from_secs(10);
    while call("node_info", json!({})).0 != 200 {
        assert!(Instant::now() < deadline, "the new key was not picked up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let forbidden = call("wallet_create", json!({ "scheme": "frost-ed25519", "threshold": 2 })).1.unwrap_err();
    assert_eq!(forbidden["code"], -32002, "{forbidden}");
    let other = call("sign", json!({ "wallet": "w-b", "digest": digest(1) })).1.unwrap_err();
    assert_eq!(other["code"], -32002, "{other}");
    let positional = call("sign", json!(["w-b", null, digest(1)])).1.unwrap_err();
    assert_eq!(positional["code"], -32602, "named params only: {positional}");
    let listed = call("wallet_list", json!({})).1.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "a wallet-bound key sees its wallets only: {listed}");

    // 2 a minute, capacity 3: three signings, then the fourth is refused with when to retry.
    for i in 1..=3 {
        let ok = call("sign", json!({ "wallet": "w-a", "digest": digest(i), "wait_ms": 60_000 })).1.unwrap();
        assert_eq!(ok["status"], "signed");
    }
    let limited = call("sign", json!({ "wallet": "w-a", "digest": digest(4) })).1.unwrap_err();
    assert_eq!(limited["code"], -32021, "{limited}");
    assert_eq!(limited["data"]["limit"], "api_key");
    assert_eq!(limited["data"]["subject"], "app");
    let retry = limited["data"]["retry_after_ms"].as_u64().unwrap();
    assert!(retry > 0 && retry <= 30_000, "one token comes back every 30 s: {retry}");
    assert!(keys_cmd(&nodes[0], &["list"]).contains("app"));

    keys_cmd(&nodes[0], &["revoke", "--name", "app"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while call("node_info", json!({})).0 != 401 {
        assert!(Instant::now() < deadline, "the revoked key still works");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Guessing keys costs the address: 300 a minute (450 at once), then HTTP 429.
    let mut status = 0;
    for _ in 0..600 {
        let (s, out) = rpc(&addr, Some("mpck_guess"), "node_info", json!({}));
        status = s;
        if s == 429 {
            assert_eq!(out.unwrap_err()["code"], -32021);
            break;
        }
    }
    assert_eq!(status, 429, "an address out of tokens is limited");
    assert!(nodes[0].metric("mpc_limiter_refusals_total{limit=\"client_ip\"}") >= 1.0);
}

/// A member holds each wallet to its own signing rate per minute (burst 1.5 ×), whatever the
/// entry node allows: over it, it declines naming the wallet limit, and counts the refusal.
#[test]
fn a_member_holds_a_wallet_to_its_own_rate_per_minute() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 3);
    nodes[2].reconfigure(|c| c.limits.per_wallet_per_min = 2);
    start_all(&mut nodes);
    create_wallet(&nodes[0], "frost-ed25519", "w-rate");
    for i in 1..=3 {
        let out = sign(&nodes[0], "w-rate", json!({ "digest": digest(i) }), &[0, 2]).unwrap();
        assert_eq!(out["status"], "signed", "signing {i} is within 1.5 × 2 a minute: {out}");
    }
    let e = sign(&nodes[0], "w-rate", json!({ "digest": digest(4) }), &[0, 2]).unwrap_err();
    assert_eq!(e["code"], -32014, "{e}");
    let reason = e["data"]["reason"].as_str().unwrap();
    assert!(reason.contains("party 2") && reason.contains("wallet"), "{reason}");
    assert!(nodes[2].metric("mpc_limiter_refusals_total{limit=\"wallet\"}") >= 1.0);
    // Another member, with the default rate, still signs with the entry node.
    assert_eq!(sign(&nodes[0], "w-rate", json!({ "digest": digest(5) }), &[0, 1]).unwrap()["status"], "signed");
}
