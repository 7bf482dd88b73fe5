//! A proposer interrupted while its transfer is being signed, with real processes and real
//! chain software: killed when the committee has signed (it finishes with the signatures its
//! signers kept), killed before its proposal left (it proposes the same transaction again),
//! and killed -9 at random moments through a run of Ethereum transfers signed by CGGMP24
//! (`MPC_INTERRUPT_RUNS` transfers, 6 by default): each ends confirmed exactly once, or failed
//! with proof that no signature exists; the recipient receives exactly the confirmed sum; the
//! wallet's nonces have no gaps; every journal verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::bitcoin_facade;
use crate::chain_software;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::{chain_call, cluster, cluster_set_up, create_wallet, start_all, NodeProc};
use node::config::ChainSection;
use serde_json::{json, Value};

const ETH_TO: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const SOL_TO: &str = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM";
const BTC_TO: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

fn kinds(v: &Value) -> Vec<String> {
    v["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
}

use crate::common::tx_settled as settled;

/// Signing sessions node `n` ran, by status.
fn signings(n: &NodeProc) -> Vec<Value> {
    let list = n.call("session_list", json!({ "limit": 1000 })).unwrap();
    list.as_array().unwrap().iter().filter(|s| s["kind"] == "sign").cloned().collect()
}

fn solana_cluster(dir: &std::path::Path, fault: &str) -> (chain_software::Service, Vec<NodeProc>) {
    let svm = chain_software::litesvm();
    let mut nodes = cluster(dir, 3);
    for n in nodes.iter_mut() {
        n.reconfigure(|c| c.chain = vec![ChainSection::new("solana", &svm.url, "litesvm")]);
    }
    nodes[0].env = vec![("MPC_FAULT".into(), fault.into())];
    start_all(&mut nodes);
    let created = create_wallet(&nodes[0], "frost-ed25519", "sol");
    let from = created["addresses"]["solana"].as_str().unwrap().to_owned();
    chain_call(&svm.url, "requestAirdrop", json!([from, 1_000_000_000u64]));
    for n in &nodes {
        n.call_until("wallet_get", json!({ "wallet": "sol" }), 30);
    }
    (svm, nodes)
}

#[test]
fn a_proposer_killed_when_the_committee_has_signed_finishes_with_the_signatures_its_signers_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (svm, mut nodes) = solana_cluster(dir.path(), "exit-on-signatures");
    let started = nodes[0]
        .call("wallet_transfer", json!({ "wallet": "sol", "chain": "solana", "to": SOL_TO, "amount": 7_654_321 }))
        .unwrap();
    let tx = started["tx"].as_str().unwrap().to_owned();
    assert_eq!(nodes[0].wait_exit(60), Some(86), "the fault point ends the process as the signatures arrive");
    assert_eq!(chain_call(&svm.url, "getBalance", json!([SOL_TO]))["value"], 0, "nothing was broadcast");
    // The other signer (node 0 chose it by health) completed the session and keeps its
    // signature.
    let cosigner = if signings(&nodes[1]).is_empty() { 2 } else { 1 };
    let kept = signings(&nodes[cosigner]);
    assert!(kept.iter().any(|s| s["status"] == "signed"), "{kept:?}");

    nodes[0].env.clear();
    nodes[0].start();
    let done = settled(&nodes[0], &tx);
    assert_eq!(done["status"], "confirmed", "{done}");
    assert_eq!(chain_call(&svm.url, "getBalance", json!([SOL_TO]))["value"], 7_654_321, "paid exactly once");
    let k = kinds(&done);
    assert_eq!(k.iter().filter(|k| *k == "SigningProposed").count(), 1, "signed once, never again: {k:?}");
    assert_eq!(k.iter().filter(|k| *k == "TransactionSigned").count(), 1, "{k:?}");
    assert_eq!(signings(&nodes[cosigner]).len(), 1, "one signing ceremony for it");
    assert!(signings(&nodes[3 - cosigner]).is_empty(), "and none on the member it did not choose");
    for n in &nodes {
        assert_eq!(n.call("journal_verify", json!({})).unwrap()["ok"], true);
    }
}

#[test]
fn a_proposer_killed_before_its_proposal_left_proposes_the_same_transaction_once_more() {
    let dir = tempfile::tempdir().unwrap();
    let (svm, mut nodes) = solana_cluster(dir.path(), "exit-after-signing-journaled");
    let started = nodes[0]
        .call("wallet_transfer", json!({ "wallet": "sol", "chain": "solana", "to": SOL_TO, "amount": 1_234_567 }))
        .unwrap();
    let tx = started["tx"].as_str().unwrap().to_owned();
    assert_eq!(nodes[0].wait_exit(60), Some(86));
    assert!(signings(&nodes[1]).is_empty() && signings(&nodes[2]).is_empty(), "the proposal never left");

    nodes[0].env.clear();
    nodes[0].start();
    let done = settled(&nodes[0], &tx);
    assert_eq!(done["status"], "confirmed", "{done}");
    let k = kinds(&done);
    assert_eq!(k.iter().filter(|k| *k == "SigningProposed").count(), 2, "asked, given up, proposed again: {k:?}");
    assert_eq!(chain_call(&svm.url, "getBalance", json!([SOL_TO]))["value"], 1_234_567, "paid exactly once");
    // Node 0 picks its co-signer by health: one signing, on one of the others.
    assert_eq!(signings(&nodes[1]).len() + signings(&nodes[2]).len(), 1);
}

fn hex_u128(v: &Value) -> u128 {
    u128::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn ethereum_transfers_with_the_proposer_killed_at_random_moments_are_paid_exactly_once() {
    let runs: usize = std::env::var("MPC_INTERRUPT_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(6);
    let mut seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("seed {seed}");
    let mut next = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let anvil = chain_software::anvil();
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster_set_up(dir.path(), 3);
    for n in nodes.iter_mut() {
        n.reconfigure(|c| c.chain = vec![ChainSection::new("ethereum", &anvil.url, "31337")]);
    }
    start_all(&mut nodes);
    let created = create_wallet(&nodes[0], "cggmp24", "eth");
    let from = created["addresses"]["ethereum"].as_str().unwrap().to_owned();
    chain_call(&anvil.url, "anvil_setBalance", json!([from, "0x8ac7230489e80000"]));
    for n in &nodes {
        n.call_until("wallet_get", json!({ "wallet": "eth" }), 30);
    }
    let before = hex_u128(&chain_call(&anvil.url, "eth_getBalance", json!([ETH_TO, "latest"])));

    let mut txs = Vec::new();
    for i in 0..runs {
        let amount = 1_000_000_000_000u128 * (i as u128 + 1);
        let started = nodes[0]
            .call(
                "wallet_transfer",
                json!({ "wallet": "eth", "chain": "ethereum", "to": ETH_TO, "amount": amount.to_string() }),
            )
            .unwrap_or_else(|e| panic!("transfer {i}: {e}"));
        let tx = started["tx"].as_str().unwrap().to_owned();
        let after_ms = 200 + next(3800);
        std::thread::sleep(Duration::from_millis(after_ms));
        nodes[0].kill();
        nodes[0].start();
        // Back in the committee before the next request (a client would retry until it is).
        let deadline = Instant::now() + Duration::from_secs(30);
        while nodes[0].call("node_info", json!({})).map(|i| i["connected"] != 2).unwrap_or(true) {
            assert!(Instant::now() < deadline, "node 0 did not reconnect");
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("transfer {i}: {tx}, proposer killed after {after_ms} ms");
        txs.push((tx, amount));
    }

    let (mut confirmed, mut failed, mut paid) = (0, 0, 0u128);
    for (tx, amount) in &txs {
        let done = settled(&nodes[0], tx);
        let k = kinds(&done);
        eprintln!("{tx}: {} {} {} after {k:?}", done["status"], done["failure"], done["reason"]);
        if done["status"] == "confirmed" {
            confirmed += 1;
            paid += amount;
            let receipt = chain_call(&anvil.url, "eth_getTransactionReceipt", json!([done["chain_txid"]]));
            assert_eq!(receipt["status"], "0x1", "{done}");
            assert_eq!(k.iter().filter(|k| *k == "TransactionSigned").count(), 1, "{k:?}");
        } else {
            failed += 1;
            // Failed only with proof: nothing was proposed, a proposal was refused before any
            // ceremony ran, or every signer gave the signing up.
            let proof = done["failure"] == "interrupted"
                || done["failure"] == "refused"
                || done["reason"].as_str().unwrap().contains("no signature exists");
            assert!(proof, "failed without proof that no signature exists: {done}");
            assert!(!k.contains(&"TransactionSigned".to_owned()), "{k:?}");
        }
    }
    let after = hex_u128(&chain_call(&anvil.url, "eth_getBalance", json!([ETH_TO, "latest"])));
    assert_eq!(after - before, paid, "the recipient received exactly the confirmed transfers");
    let nonce = hex_u128(&chain_call(&anvil.url, "eth_getTransactionCount", json!([from, "latest"])));
    assert_eq!(nonce, confirmed as u128, "one nonce per confirmed transfer, no gaps");
    for n in &nodes {
        assert_eq!(n.call("journal_verify", json!({})).unwrap()["ok"], true);
    }
    eprintln!("{runs} transfers, {runs} kills: {confirmed} confirmed, {failed} failed with proof");
}

#[test]
fn a_two_input_bitcoin_spend_interrupted_when_signed_is_sent_once_and_a_resubmission_never_spends_twice() {
    let facade = bitcoin_facade::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 3);
    for n in nodes.iter_mut() {
        n.reconfigure(|c| c.chain = vec![ChainSection::new("bitcoin-p2tr", &facade.url, "regtest")]);
    }
    nodes[0].env = vec![("MPC_FAULT".into(), "exit-on-signatures".into())];
    start_all(&mut nodes);
    let created = create_wallet(&nodes[0], "frost-secp256k1-tr", "btc");
    let address = created["addresses"]["bitcoin-p2tr"].as_str().unwrap().to_owned();
    // Two outputs: the spend needs both inputs.
    facade.fund(&address, 60_000).unwrap();
    facade.fund(&address, 50_000).unwrap();
    for n in &nodes {
        n.call_until("wallet_get", json!({ "wallet": "btc" }), 30);
    }
    let ask =
        json!({ "wallet": "btc", "chain": "bitcoin-p2tr", "to": BTC_TO, "amount": 100_000, "fee_ceiling": 5_000 });
    let tx = nodes[0].call("wallet_transfer", ask.clone()).unwrap()["tx"].as_str().unwrap().to_owned();
    assert_eq!(nodes[0].wait_exit(60), Some(86), "killed as the signatures arrive");
    assert!(facade.chain.lock().unwrap().accepted.is_empty(), "nothing was broadcast");

    nodes[0].env.clear();
    nodes[0].start();
    let done = settled(&nodes[0], &tx);
    assert_eq!(done["status"], "confirmed", "{done}");
    assert_eq!(done["signatures"].as_array().unwrap().len(), 2, "both inputs, from the kept signatures: {done}");
    assert_eq!(kinds(&done).iter().filter(|k| *k == "SigningProposed").count(), 1, "never signed again");
    // The client, unsure, asks again (through another node): the inputs are spent, so the
    // second request cannot be a second spend of them.
    let again = nodes[1].call("wallet_transfer", ask).unwrap();
    let second = settled(&nodes[1], again["tx"].as_str().unwrap());
    assert_eq!(second["status"], "failed", "{second}");
    let chain = facade.chain.lock().unwrap();
    assert_eq!(chain.accepted.len(), 1, "exactly one spend reached the chain");
    assert!(chain.refusals.is_empty(), "{:?}", chain.refusals);
}
