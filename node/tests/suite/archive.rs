//! The journal's archive in a real PostgreSQL (Debian's server, started per test on a loopback
//! port): every entry exactly once through a database outage, a database restart and a kill -9
//! of the node mid-stream; the hash chain re-checked from the rows alone; a row changed or
//! deleted by hand named; the read models equal to the node's own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::chain_software;
use crate::common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::postgres::Postgres;
use crate::common::{chain_call, cluster, create_wallet, mpc_node, rpc, start_all, NodeProc};
use node::config::{ArchiveSection, ChainSection};
use serde_json::{json, Value};

const SOL_TO: &str = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin";

fn archive_on(node: &mut NodeProc, pg: &Postgres, batch: u32) {
    node.reconfigure(|c| {
        c.archive = Some(ArchiveSection {
            url: pg.url(),
            password_env: None,
            source: None,
            batch,
            retry_max_ms: 1000,
            prune_after_s: None,
        })
    });
}

fn archive_state(node: &NodeProc) -> Value {
    node.call("node_info", json!({})).unwrap()["archive"].clone()
}

/// Waits until the archive holds the whole journal; returns the head.
fn caught_up(node: &NodeProc, secs: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let info = node.call("node_info", json!({})).unwrap();
        let head = info["journal_head"].as_u64().unwrap();
        if info["archive"]["position"].as_u64() == Some(head) && info["archive"]["connected"] == true {
            return head;
        }
        assert!(Instant::now() < deadline, "the archive never caught up: {}", info["archive"]);
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn verify(node: &NodeProc) -> (bool, String) {
    let out = mpc_node().args(["archive", "--config", node.config_path.to_str().unwrap(), "verify"]).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Signs through `node` in a loop until told to stop; counts the signatures.
fn load(node: &NodeProc, wallet: &str, stop: Arc<AtomicBool>) -> (std::thread::JoinHandle<()>, Arc<AtomicU64>) {
    let (addr, token, wallet) = (node.admin.clone(), node.token.clone(), wallet.to_owned());
    let signed = Arc::new(AtomicU64::new(0));
    let count = signed.clone();
    let handle = std::thread::spawn(move || {
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            i += 1;
            let params = json!({ "wallet": wallet, "message": format!("{i:08x}"), "wait_ms": 20_000 });
            if let Ok(Ok(v)) = common::try_rpc(&addr, Some(&token), "sign", params).map(|r| r.1) {
                if v["status"] == "signed" {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    (handle, signed)
}

#[test]
fn every_entry_once_through_an_outage_a_database_restart_and_a_killed_node() {
    let pg = Postgres::start();
    let svm = chain_software::litesvm();
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 3);
    for n in nodes.iter_mut() {
        n.reconfigure(|c| c.chain = vec![ChainSection::new("solana", &svm.url, "litesvm")]);
    }
    // Small batches: many transactions, so the crashes land between and inside them.
    archive_on(&mut nodes[0], &pg, 25);
    start_all(&mut nodes);
    let created = create_wallet(&nodes[0], "frost-ed25519", "vault-1");
    common::held_everywhere(&nodes, "vault-1");
    let from = created["addresses"]["solana"].as_str().unwrap().to_owned();
    chain_call(&svm.url, "requestAirdrop", json!([from, 1_000_000_000u64]));
    let tx = nodes[0]
        .call(
            "wallet_transfer",
            json!({ "wallet": "vault-1", "chain": "solana", "to": SOL_TO, "amount": 300_000_000u64 }),
        )
        .unwrap();
    assert_eq!(common::tx_settled(&nodes[0], tx["tx"].as_str().unwrap())["status"], "confirmed");
    nodes[0].call("wallet_balance", json!({ "wallet": "vault-1" })).unwrap();
    caught_up(&nodes[0], 60);

    // The database goes away: signing at the node goes on, the archive falls behind.
    pg.stop();
    for i in 0..10 {
        let signed = nodes[0]
            .call("sign", json!({ "wallet": "vault-1", "message": format!("a{i}"), "wait_ms": 20_000 }))
            .unwrap();
        assert_eq!(signed["status"], "signed");
    }
    std::thread::sleep(Duration::from_millis(1500));
    let behind = archive_state(&nodes[0]);
    assert_eq!(behind["connected"], false, "{behind}");
    assert!(behind["lag_events"].as_u64().unwrap() >= 10, "{behind}");
    assert!(behind["last_error"].is_string(), "{behind}");
    assert!(nodes[0].metric("mpc_archive_lag_events") >= 10.0);
    pg.start_again();
    caught_up(&nodes[0], 60);

    // Under a signing load (through node 1, so node 0 journals as a member): the database
    // restarts, then node 0 is killed and started again, each in the middle of the stream.
    let stop = Arc::new(AtomicBool::new(false));
    let (worker, signed) = load(&nodes[1], "vault-1", stop.clone());
    std::thread::sleep(Duration::from_secs(2));
    pg.stop();
    pg.start_again();
    std::thread::sleep(Duration::from_secs(2));
    nodes[0].kill();
    std::thread::sleep(Duration::from_millis(500));
    nodes[0].start();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    worker.join().unwrap();
    assert!(signed.load(Ordering::Relaxed) >= 5, "the load signed {}", signed.load(Ordering::Relaxed));
    let head = caught_up(&nodes[0], 90);

    // Every entry exactly once, in one chain from seq 1.
    let counts =
        pg.psql("SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM mpc_journal WHERE source = 'party-0'");
    assert_eq!(counts, format!("{head}|{head}|1|{head}"), "rows vs the journal's head {head}");
    let (ok, text) = verify(&nodes[0]);
    assert!(ok && text.contains(&format!("{head} entries")), "{text}");

    // The read models equal the node's: the wallet's history, newest first, and its balance.
    let mut node_seqs = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let mut p = json!({ "wallet": "vault-1", "limit": 500 });
        if let Some(b) = before {
            p["before"] = json!(b);
        }
        let page = nodes[0].call("wallet_history", p).unwrap();
        node_seqs.extend(page["entries"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()));
        match page["next_before"].as_u64() {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    let pg_seqs: Vec<u64> = pg
        .psql("SELECT seq FROM mpc_history WHERE source = 'party-0' AND wallet = 'vault-1' ORDER BY seq DESC")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(node_seqs.len() > 20, "{node_seqs:?}");
    assert_eq!(pg_seqs, node_seqs, "history in PostgreSQL vs the node's");
    let balance = nodes[0].call("wallet_balance", json!({ "wallet": "vault-1" })).unwrap();
    caught_up(&nodes[0], 30);
    let node_amount = balance["balances"][0]["amount"].as_str().unwrap().to_owned();
    let pg_amount =
        pg.psql("SELECT amount FROM mpc_balances WHERE source = 'party-0' AND wallet = 'vault-1' AND chain = 'solana'");
    assert_eq!(pg_amount, node_amount);
    let kinds = pg.psql(
        "SELECT string_agg(DISTINCT event_type, ',' ORDER BY event_type) FROM mpc_history WHERE wallet = 'vault-1'",
    );
    assert!(kinds.contains("TransactionConfirmed") && kinds.contains("WalletCreated"), "{kinds}");
}

#[test]
fn a_row_changed_or_deleted_by_hand_is_named_and_the_table_refuses_changes() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 2);
    archive_on(&mut nodes[0], &pg, 1000);
    start_all(&mut nodes);
    create_wallet(&nodes[0], "frost-ed25519", "w-audit");
    for i in 0..3 {
        let _ = rpc(
            &nodes[0].admin,
            Some(&nodes[0].token),
            "sign",
            json!({ "wallet": "w-audit", "message": format!("0{i}"), "wait_ms": 20_000 }),
        );
    }
    let head = caught_up(&nodes[0], 60);
    assert!(head >= 8, "{head}");
    let (ok, text) = verify(&nodes[0]);
    assert!(ok, "{text}");

    // The sink's table is append-only, even for its owner.
    let refused =
        pg.try_psql("UPDATE mpc_journal SET event_type = 'X' WHERE source = 'party-0' AND seq = 2").unwrap_err();
    assert!(refused.contains("append-only"), "{refused}");
    assert!(pg
        .try_psql("DELETE FROM mpc_journal WHERE source = 'party-0' AND seq = 2")
        .unwrap_err()
        .contains("append-only"));

    // A superuser can switch triggers off: what it changes, verify names.
    let bypass = "SET session_replication_role = replica; ";
    let original = pg.psql("SELECT encode(payload, 'hex') FROM mpc_journal WHERE source = 'party-0' AND seq = 5");
    pg.psql(&format!(
        "{bypass} UPDATE mpc_journal SET payload = set_byte(payload, 0, (get_byte(payload, 0) + 1) % 256) WHERE source = 'party-0' AND seq = 5"
    ));
    let (ok, text) = verify(&nodes[0]);
    assert!(!ok && text.contains("seq 5") && text.contains("does not match its contents"), "{text}");
    pg.psql(&format!(
        "{bypass} UPDATE mpc_journal SET payload = decode('{original}', 'hex') WHERE source = 'party-0' AND seq = 5"
    ));
    assert!(verify(&nodes[0]).0, "restored");

    pg.psql(&format!(
        "{bypass} UPDATE mpc_journal SET event = '{{\"type\":\"forged\"}}' WHERE source = 'party-0' AND seq = 3"
    ));
    let (ok, text) = verify(&nodes[0]);
    assert!(!ok && text.contains("seq 3") && text.contains("JSON view"), "{text}");
    pg.psql(&format!("{bypass} DELETE FROM mpc_journal WHERE source = 'party-0' AND seq = 3"));
    let (ok, text) = verify(&nodes[0]);
    assert!(!ok && text.contains("seq 3") && text.contains("missing"), "{text}");

    // The same verdict as JSON, for scripts.
    let json_out = mpc_node()
        .args(["--json", "archive", "--config", nodes[0].config_path.to_str().unwrap(), "verify"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["seq"], 3, "{v}");
}

#[test]
fn retention_prunes_what_the_archive_holds_and_the_node_still_verifies_signs_and_restarts() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 2);
    archive_on(&mut nodes[0], &pg, 1000);
    nodes[0].reconfigure(|c| {
        if let Some(a) = c.archive.as_mut() {
            a.prune_after_s = Some(1);
        }
    });
    start_all(&mut nodes);
    create_wallet(&nodes[0], "frost-ed25519", "w-keep");
    let sign = |node: &NodeProc, i: u32| {
        let v =
            node.call("sign", json!({ "wallet": "w-keep", "message": format!("{i:02x}"), "wait_ms": 20_000 })).unwrap();
        assert_eq!(v["status"], "signed", "{v}");
    };
    for i in 0..10 {
        sign(&nodes[0], i);
    }
    let head = caught_up(&nodes[0], 60);
    let deadline = Instant::now() + Duration::from_secs(30);
    while archive_state(&nodes[0])["pruned"].as_u64().unwrap_or(0) < 20 {
        assert!(Instant::now() < deadline, "nothing pruned: {}", archive_state(&nodes[0]));
        std::thread::sleep(Duration::from_millis(200));
    }
    // The journal's own check still runs from seq 1 (across the tombstones), the wallet signs,
    // its history is whole, and the archive still holds and verifies every entry.
    let checked = nodes[0].call("journal_verify", json!({})).unwrap();
    assert_eq!(checked["ok"], true, "{checked}");
    assert!(checked["entries"].as_u64().unwrap() >= head, "{checked}");
    sign(&nodes[0], 99);
    let history = nodes[0].call("wallet_history", json!({ "wallet": "w-keep", "limit": 500 })).unwrap();
    assert!(history["entries"].as_array().unwrap().len() >= 11, "{history}");
    caught_up(&nodes[0], 30);
    let (ok, text) = verify(&nodes[0]);
    assert!(ok, "{text}");

    // After a restart: the wallet (its stream is never pruned) signs, the chain still checks.
    nodes[0].terminate();
    nodes[0].start();
    common::held_everywhere(&nodes, "w-keep");
    std::thread::sleep(Duration::from_secs(1));
    sign(&nodes[0], 100);
    assert_eq!(nodes[0].call("journal_verify", json!({})).unwrap()["ok"], true);
}
