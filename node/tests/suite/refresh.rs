//! Proactive refresh with real processes: a 3-of-5 committee refreshes a wallet of each scheme, the
//! group key stays, every subset of refreshed members signs (checked by a library that did not
//! sign); each wallet is then reshared to 4-of-5 (four sign) and back, and exported with two
//! approvals (the timings of every 3-of-5 recovery ceremony, per scheme); a member killed with SIGKILL after staging its new share, before making it live,
//! finds after its restart that the others committed and goes live too; a member killed before
//! staging leaves the others' staged shares dropped, and the old shares keep signing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;
use crate::independent;

use std::time::{Duration, Instant};

use crate::common::{cluster, cluster_set_up, create_wallet, import_primes, start_all, NodeProc};
use actors::faults::{FaultRule, Faults};
use protocol::confirm::CONFIRM_ROUND;
use serde_json::{json, Value};

const LONG: u64 = 300_000;

fn sign(via: &NodeProc, wallet: &str, scheme: &str, signers: &[u16]) -> Result<(Vec<u8>, protocol::Signature), Value> {
    let message = independent::message_for(scheme, signers.iter().sum::<u16>() as u8);
    let field = if scheme == "frost-ed25519" { "message" } else { "digest" };
    let signed = via
        .call("sign", json!({ "wallet": wallet, field: hex::encode(&message), "signers": signers, "wait_ms": LONG }))?;
    assert_eq!(signed["status"], "signed", "{signed}");
    let sig = &signed["signature"];
    let sig = protocol::Signature {
        bytes: hex::decode(sig["signature"].as_str().unwrap()).unwrap(),
        recovery_id: sig["recovery_id"].as_u64().map(|v| v as u8),
    };
    Ok((message, sig))
}

fn signs(via: &NodeProc, wallet: &str, scheme: &str, public_key: &str, signers: &[u16]) {
    let (message, sig) = sign(via, wallet, scheme, signers).unwrap_or_else(|e| panic!("{scheme} {signers:?}: {e}"));
    independent::verify_independently(scheme, &hex::decode(public_key).unwrap(), &message, &sig);
}

fn export_credential(node: &NodeProc) -> String {
    let path = node.config_path.to_str().unwrap();
    let out = common::mpc_node().args(["export-credential", "--config", path]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn staged(node: &NodeProc, wallet: &str) -> Option<String> {
    let w = node.call("wallet_get", json!({ "wallet": wallet })).ok()?;
    w["refresh_staged"].as_str().map(str::to_owned)
}

fn until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "{what} within {secs} s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn refreshed_events(node: &NodeProc, wallet: &str) -> usize {
    let trail = node.call("wallet_history", json!({ "wallet": wallet, "limit": 100 })).unwrap();
    trail.to_string().matches("KeySharesRefreshed").count()
}

#[test]
fn every_scheme_refreshes_keeps_its_key_and_signs() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster_set_up(dir.path(), 5);
    for n in nodes.iter_mut() {
        n.reconfigure(|c| c.export.enabled = true);
    }
    let credentials: Vec<String> = nodes.iter().map(export_credential).collect();
    start_all(&mut nodes);
    for scheme in ["frost-ed25519", "frost-secp256k1-tr", "cggmp24"] {
        let wallet = format!("r-{scheme}");
        let created = create_wallet(&nodes[0], scheme, &wallet);
        let key = created["public_key"].as_str().unwrap().to_owned();
        for n in &nodes {
            until("every member stores the wallet", 10, || n.call("wallet_get", json!({ "wallet": wallet })).is_ok());
        }
        let t = Instant::now();
        let out = nodes[1].call("wallet_refresh", json!({ "wallet": wallet, "wait_ms": LONG })).unwrap();
        eprintln!("{scheme} refresh of 3-of-5: {} ms", t.elapsed().as_millis());
        assert_eq!(out["session"]["status"], "key_ready", "{out}");
        assert_eq!(out["public_key"].as_str(), Some(key.as_str()), "{out}");
        assert_eq!(out["unchanged"], true);
        for n in &nodes {
            until("every member journals the refresh", 10, || refreshed_events(n, &wallet) == 1);
            assert_eq!(staged(n, &wallet), None);
        }
        for signers in [[0u16, 1, 2], [0, 3, 4], [1, 2, 4]] {
            signs(&nodes[usize::from(signers[1])], &wallet, scheme, &key, &signers);
        }
        // Reshare to 4-of-5 (four sign), then back to 3-of-5.
        for t in [4u16, 3] {
            let started = Instant::now();
            // The proposer refuses while its own last signing still ends; the others wait for theirs.
            let params = json!({ "wallet": wallet, "threshold": t, "wait_ms": LONG });
            let out = nodes[3].call_until("wallet_reshare", params, 30);
            eprintln!("{scheme} reshare to {t}-of-5: {} ms", started.elapsed().as_millis());
            assert_eq!(out["public_key"].as_str(), Some(key.as_str()), "{out}");
            for n in &nodes {
                until("every member holds the new threshold", 10, || {
                    n.call("wallet_get", json!({ "wallet": wallet })).unwrap()["threshold"] == t
                });
            }
            let signers: Vec<u16> = (5 - t..5).collect();
            signs(&nodes[4], &wallet, scheme, &key, &signers);
        }
        // A guarded export with the approval of members 1 and 2.
        for approver in [1usize, 2] {
            let params = json!({ "wallet": wallet, "receiver": 0, "credential": credentials[approver] });
            nodes[approver].call("key_export_approve", params).unwrap();
        }
        let started = Instant::now();
        let params = json!({ "wallet": wallet, "credential": credentials[0], "approvers": [1, 2], "wait_ms": LONG });
        let exported = nodes[0].call("key_export", params).unwrap();
        eprintln!("{scheme} export of 3-of-5: {} ms", started.elapsed().as_millis());
        assert_eq!(exported["public_key"].as_str(), Some(key.as_str()));
        assert_eq!(hex::decode(exported["private_key"].as_str().unwrap()).unwrap().len(), 32);
    }
    // A refresh of a wallet that does not exist is refused with a clear error.
    let missing = nodes[0].call("wallet_refresh", json!({ "wallet": "nope" })).unwrap_err();
    assert_eq!(missing["code"], -32010, "{missing}");
}

#[test]
fn a_member_killed_after_staging_goes_live_after_its_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 3);
    // Members 1 and 2 hold back their confirmations: member 0 stages and confirms first.
    for n in nodes.iter_mut().skip(1) {
        n.reconfigure(|c| {
            c.faults = Some(Faults {
                rule: vec![FaultRule { rounds: vec![CONFIRM_ROUND], delay_ms: 3_000, ..FaultRule::default() }],
                ..Faults::default()
            })
        });
    }
    start_all(&mut nodes);
    let created = create_wallet(&nodes[1], "frost-ed25519", "k");
    let key = created["public_key"].as_str().unwrap().to_owned();
    for n in &nodes {
        until("every member stores the wallet", 30, || n.call("wallet_get", json!({ "wallet": "k" })).is_ok());
    }
    let proposed = nodes[1].call("wallet_refresh", json!({ "wallet": "k" })).unwrap();
    let session = proposed["session"]["session"].as_str().unwrap().to_owned();
    until("member 0 stages its share", 60, || staged(&nodes[0], "k").is_some());
    assert_eq!(staged(&nodes[0], "k").as_deref(), Some(session.as_str()));
    nodes[0].kill();
    // The others hear every confirmation (member 0's left before it died) and go live.
    for n in &nodes[1..] {
        until("members 1 and 2 go live", 30, || refreshed_events(n, "k") == 1 && staged(n, "k").is_none());
    }
    nodes[0].start();
    until("member 0 settles its staged share", 60, || staged(&nodes[0], "k").is_none());
    assert_eq!(refreshed_events(&nodes[0], "k"), 1, "member 0 must go live, not drop the new share");
    until("member 0 reconnects", 30, || nodes[0].call("node_info", json!({})).unwrap()["connected"] == 2);
    for signers in [[0u16, 1], [0, 2]] {
        signs(&nodes[0], "k", "frost-ed25519", &key, &signers);
    }
}

#[test]
fn a_member_killed_before_staging_leaves_the_old_shares_live() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 3);
    // Members 1 and 2 hold back their round-2 shares for member 0: they stage, it cannot yet.
    for n in nodes.iter_mut().skip(1) {
        n.reconfigure(|c| {
            c.faults = Some(Faults {
                rule: vec![FaultRule { to: vec![0], rounds: vec![2], delay_ms: 3_000, ..FaultRule::default() }],
                ..Faults::default()
            })
        });
    }
    start_all(&mut nodes);
    let created = create_wallet(&nodes[1], "frost-ed25519", "b");
    let key = created["public_key"].as_str().unwrap().to_owned();
    for n in &nodes {
        until("every member stores the wallet", 30, || n.call("wallet_get", json!({ "wallet": "b" })).is_ok());
    }
    nodes[1].call("wallet_refresh", json!({ "wallet": "b" })).unwrap();
    until("members 1 and 2 stage", 60, || staged(&nodes[1], "b").is_some() && staged(&nodes[2], "b").is_some());
    assert_eq!(staged(&nodes[0], "b"), None);
    nodes[0].kill();
    nodes[0].start();
    // Nobody could make it live: members 1 and 2 drop theirs once member 0 says it never staged.
    for n in &nodes {
        until("no staged share is left", 90, || staged(n, "b").is_none());
        assert_eq!(refreshed_events(n, "b"), 0);
    }
    until("member 0 reconnects", 30, || nodes[0].call("node_info", json!({})).unwrap()["connected"] == 2);
    for signers in [[0u16, 1], [1, 2]] {
        signs(&nodes[1], "b", "frost-ed25519", &key, &signers);
    }
}

#[test]
fn a_cggmp24_refresh_with_new_paillier_keys_signs() {
    let dir = tempfile::tempdir().unwrap();
    // Two members (2-of-2): the same aux-info generation as any committee, at half of three's cost.
    let mut nodes = cluster_set_up(dir.path(), 2);
    import_primes(&nodes);
    start_all(&mut nodes);
    let created = create_wallet(&nodes[0], "cggmp24", "aux");
    let key = created["public_key"].as_str().unwrap().to_owned();
    for n in &nodes {
        until("every member stores the wallet", 30, || n.call("wallet_get", json!({ "wallet": "aux" })).is_ok());
    }
    // A FROST wallet has no Paillier keys: refused with its reason.
    create_wallet(&nodes[0], "frost-ed25519", "no-aux");
    let refused = nodes[0].call("wallet_refresh", json!({ "wallet": "no-aux", "aux": true })).unwrap_err();
    assert_eq!(refused["code"], -32602, "{refused}");
    let started = Instant::now();
    let out = nodes[1].call("wallet_refresh", json!({ "wallet": "aux", "aux": true, "wait_ms": LONG })).unwrap();
    eprintln!("cggmp24 refresh with new aux info, 2-of-2: {} ms", started.elapsed().as_millis());
    assert_eq!(out["session"]["status"], "key_ready", "{out}");
    assert_eq!(out["public_key"].as_str(), Some(key.as_str()));
    for n in &nodes {
        until("every member journals the refresh", 10, || refreshed_events(n, "aux") == 1);
        assert_eq!(
            n.call("node_info", json!({})).unwrap()["prime_sets_available"],
            0,
            "member {} spent its set",
            n.party
        );
    }
    signs(&nodes[0], "aux", "cggmp24", &key, &[0, 1]);
    // No prime set left here: refused before anything is proposed.
    let none = nodes[1].call("wallet_refresh", json!({ "wallet": "aux", "aux": true })).unwrap_err();
    assert_eq!(none["code"], -32017, "{none}");
}
