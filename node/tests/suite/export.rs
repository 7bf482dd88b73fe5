//! Reshare and guarded export with real processes. A 3-of-5 wallet is reshared to 4-of-5 (four
//! sign, three cannot) and back down to 2-of-5, same key. A key export is refused without each
//! of its guards (the switch, the credential, each approver's own approval) and, with all of
//! them, hands the caller the private key of the group key, journaled at every participant.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::independent;

use std::time::{Duration, Instant};

use crate::common::{cluster, create_wallet, mpc_node, start_all, NodeProc};
use serde_json::{json, Value};

const LONG: u64 = 300_000;

fn until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "{what} within {secs} s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn history_count(node: &NodeProc, wallet: &str, event: &str) -> usize {
    let trail = node.call("wallet_history", json!({ "wallet": wallet, "limit": 100 })).unwrap();
    trail.to_string().matches(event).count()
}

fn sign(via: &NodeProc, wallet: &str, signers: &[u16]) -> Result<(Vec<u8>, protocol::Signature), Value> {
    let message = independent::message_for("frost-ed25519", signers.len() as u8);
    let params = json!({ "wallet": wallet, "message": hex::encode(&message), "signers": signers, "wait_ms": LONG });
    let signed = via.call("sign", params)?;
    let sig = &signed["signature"];
    let sig =
        protocol::Signature { bytes: hex::decode(sig["signature"].as_str().unwrap()).unwrap(), recovery_id: None };
    Ok((message, sig))
}

#[test]
fn a_reshare_moves_the_threshold_up_and_down_with_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 5);
    start_all(&mut nodes);
    let created = create_wallet(&nodes[0], "frost-ed25519", "rs");
    let key = created["public_key"].as_str().unwrap().to_owned();
    for n in &nodes {
        until("every member stores the wallet", 30, || n.call("wallet_get", json!({ "wallet": "rs" })).is_ok());
    }
    for (t, from) in [(4u16, 3u16), (2, 4)] {
        let started = Instant::now();
        let out = nodes[2].call("wallet_reshare", json!({ "wallet": "rs", "threshold": t, "wait_ms": LONG })).unwrap();
        eprintln!("frost-ed25519 reshare {from}-of-5 -> {t}-of-5: {} ms", started.elapsed().as_millis());
        assert_eq!(out["session"]["status"], "key_ready", "{out}");
        assert_eq!(out["public_key"].as_str(), Some(key.as_str()), "{out}");
        assert_eq!(out["old_threshold"], from);
        for n in &nodes {
            until("every member journals the reshare", 30, || {
                n.call("wallet_get", json!({ "wallet": "rs" })).unwrap()["threshold"] == t
            });
        }
        let signers: Vec<u16> = (0..t).collect();
        let (message, sig) = sign(&nodes[0], "rs", &signers).unwrap_or_else(|e| panic!("{t} signers: {e}"));
        independent::verify_independently("frost-ed25519", &hex::decode(&key).unwrap(), &message, &sig);
        if t == 4 {
            let refused = sign(&nodes[0], "rs", &[0, 1, 2]).unwrap_err();
            assert_eq!(refused["code"], -32602, "three signers of a 4-of-5 wallet: {refused}");
        }
    }
    for n in &nodes {
        assert_eq!(history_count(n, "rs", "KeySharesReshared"), 2, "member {}", n.party);
    }
    let bad = nodes[0].call("wallet_reshare", json!({ "wallet": "rs", "threshold": 6 })).unwrap_err();
    assert_eq!(bad["code"], -32602, "{bad}");
}

fn credential(node: &NodeProc) -> String {
    let out = mpc_node().args(["export-credential", "--config", node.config_path.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn export(via: &NodeProc, credential: &str, approvers: &[u16]) -> Result<Value, Value> {
    let params = json!({ "wallet": "x", "credential": credential, "approvers": approvers, "wait_ms": 60_000 });
    via.call("key_export", params)
}

fn approve(via: &NodeProc, credential: &str, receiver: u16) -> Result<Value, Value> {
    via.call("key_export_approve", json!({ "wallet": "x", "credential": credential, "receiver": receiver }))
}

#[test]
fn an_export_is_refused_without_each_guard_and_yields_the_key_with_all() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 3);
    // The switch is on at members 0 and 1 only; member 2 keeps the default (off).
    for n in nodes.iter_mut().take(2) {
        n.reconfigure(|c| c.export.enabled = true);
    }
    let (c0, c1) = (credential(&nodes[0]), credential(&nodes[1]));
    let c2 = credential(&nodes[2]);
    start_all(&mut nodes);
    let created = create_wallet(&nodes[0], "frost-secp256k1-tr", "x");
    let key = created["public_key"].as_str().unwrap().to_owned();
    for n in &nodes {
        until("every member stores the wallet", 30, || n.call("wallet_get", json!({ "wallet": "x" })).is_ok());
    }
    // The switch: off at member 2, for its own calls and as an approver.
    assert_eq!(export(&nodes[2], &c2, &[0]).unwrap_err()["code"], -32024);
    assert_eq!(approve(&nodes[2], &c2, 0).unwrap_err()["code"], -32024);
    // The credential: missing, wrong, or another member's.
    assert_eq!(export(&nodes[0], "", &[1]).unwrap_err()["code"], -32025);
    assert_eq!(export(&nodes[0], "mpcx_wrong", &[1]).unwrap_err()["code"], -32025);
    assert_eq!(export(&nodes[0], &c1, &[1]).unwrap_err()["code"], -32025);
    assert_eq!(approve(&nodes[1], &c0, 0).unwrap_err()["code"], -32025);
    // t approvals: alone is too few; an approver whose operator did not approve declines; an
    // approver with the switch off declines.
    assert_eq!(export(&nodes[0], &c0, &[]).unwrap_err()["code"], -32602);
    let unapproved = export(&nodes[0], &c0, &[1]).unwrap_err();
    assert_eq!(unapproved["code"], -32014, "{unapproved}");
    assert!(unapproved.to_string().contains("approved"), "{unapproved}");
    let off = export(&nodes[0], &c0, &[2]).unwrap_err();
    assert_eq!(off["code"], -32014, "{off}");
    // An approval for another receiver does not count.
    approve(&nodes[1], &c1, 2).unwrap();
    assert_eq!(export(&nodes[0], &c0, &[1]).unwrap_err()["code"], -32014);
    for n in &nodes {
        assert_eq!(history_count(n, "x", "KeyExported"), 0, "nothing exported yet at {}", n.party);
    }
    // Every guard passed.
    approve(&nodes[1], &c1, 0).unwrap();
    let started = Instant::now();
    let out = export(&nodes[0], &c0, &[1]).unwrap();
    eprintln!("frost-secp256k1-tr export 2-of-3: {} ms", started.elapsed().as_millis());
    assert_eq!(out["public_key"].as_str(), Some(key.as_str()));
    let secret = hex::decode(out["private_key"].as_str().unwrap()).unwrap();
    let pair = secp256k1::Keypair::from_seckey_slice(secp256k1::SECP256K1, &secret).unwrap();
    let msg = secp256k1::Message::from_digest([9u8; 32]);
    let sig = secp256k1::SECP256K1.sign_schnorr_no_aux_rand(&msg, &pair);
    let q = secp256k1::XOnlyPublicKey::from_slice(&hex::decode(&key).unwrap()).unwrap();
    secp256k1::SECP256K1.verify_schnorr(&sig, &msg, &q).expect("the exported key signs for the wallet's key");
    for n in &nodes[..2] {
        until("each participant journals the export", 10, || history_count(n, "x", "KeyExported") == 1);
    }
    assert_eq!(history_count(&nodes[2], "x", "KeyExported"), 0);
    // One approval, one export.
    assert_eq!(export(&nodes[0], &c0, &[1]).unwrap_err()["code"], -32014);
    // The key never reaches a log.
    for n in &nodes {
        let log = std::fs::read_to_string(&n.log).unwrap();
        assert!(!log.contains(out["private_key"].as_str().unwrap()), "member {} logged the key", n.party);
    }
}
