//! `wallet_transfer` through real `mpc-node` processes and real chain software: anvil mines an
//! Ethereum transfer signed by CGGMP24, LiteSVM executes a Solana transfer signed by FROST, and
//! Bitcoin Core's interpreter accepts P2TR and P2WPKH spends built by the service; every node's
//! history, balances and audit trail follow; a member's amount cap declines a transfer; a
//! proposer killed between signing and broadcasting resumes and broadcasts once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::bitcoin_facade;
use crate::chain_software;
use crate::common;

use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::common::{chain_call, cluster, cluster_set_up, create_wallet, start_all, NodeProc};
use node::config::ChainSection;
use serde_json::{json, Value};

const LONG: u64 = 300_000;
const ETH_TO: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const SOL_TO: &str = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM";
const BTC_TO: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

fn chain(name: &str, url: &str, network: &str) -> ChainSection {
    ChainSection::new(name, url, network)
}

/// Waits until `check` holds for `node`'s answer to `method`.
fn until(node: &NodeProc, method: &str, params: Value, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = node.call(method, params.clone()).unwrap_or_else(|e| e);
        if check(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "node {}: {method} never satisfied: {v}", node.party);
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn history_has(v: &Value, tx: &str, kind: &str) -> bool {
    v["entries"].as_array().unwrap().iter().any(|e| e["tx"] == tx && e["event"]["type"] == kind)
}

#[test]
fn ethereum_and_solana_transfers_land_and_every_node_follows_them() {
    let anvil = chain_software::anvil();
    let svm = chain_software::litesvm();
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster_set_up(dir.path(), 5);
    for n in nodes.iter_mut() {
        let party = n.party;
        n.reconfigure(|c| {
            let mut eth = chain("ethereum", &anvil.url, "31337");
            if party == 4 {
                eth.max_amount = Some("3000000000000000".into()); // node 4 signs at most 0.003 ETH
            }
            c.chain = vec![eth, chain("solana", &svm.url, "litesvm")];
        });
    }
    start_all(&mut nodes);
    let eth = create_wallet(&nodes[0], "cggmp24", "eth-hot");
    let sol = create_wallet(&nodes[0], "frost-ed25519", "sol-hot");
    let eth_from = eth["addresses"]["ethereum"].as_str().unwrap().to_owned();
    let sol_from = sol["addresses"]["solana"].as_str().unwrap().to_owned();
    chain_call(&anvil.url, "anvil_setBalance", json!([eth_from, "0x8ac7230489e80000"])); // 10 ETH
    chain_call(&svm.url, "requestAirdrop", json!([sol_from, 2_000_000_000u64]));
    for n in &nodes {
        n.call_until("wallet_get", json!({ "wallet": "sol-hot" }), 30);
    }

    // Ethereum: requested at node 1 (signers 0, 1, 2), mined by anvil.
    let before = u128::from_str_radix(
        chain_call(&anvil.url, "eth_getBalance", json!([ETH_TO, "latest"])).as_str().unwrap().trim_start_matches("0x"),
        16,
    )
    .unwrap();
    let t = Instant::now();
    let sent = nodes[1]
        .call("wallet_transfer", json!({ "wallet": "eth-hot", "chain": "ethereum", "to": ETH_TO, "amount": "2000000000000000", "wait_ms": LONG }))
        .unwrap();
    eprintln!("ethereum: wallet_transfer to mined receipt: {} ms", t.elapsed().as_millis());
    assert_eq!(sent["status"], "confirmed", "{sent}");
    let tx = sent["tx"].as_str().unwrap().to_owned();
    let receipt = chain_call(&anvil.url, "eth_getTransactionReceipt", json!([sent["chain_txid"]]));
    assert_eq!(receipt["status"], "0x1");
    let after = u128::from_str_radix(
        chain_call(&anvil.url, "eth_getBalance", json!([ETH_TO, "latest"])).as_str().unwrap().trim_start_matches("0x"),
        16,
    )
    .unwrap();
    assert_eq!(after - before, 2_000_000_000_000_000);
    // Read your writes at the proposer: right after the call, tx_get knows it.
    let quick = nodes[1]
        .call("wallet_transfer", json!({ "wallet": "eth-hot", "chain": "ethereum", "to": ETH_TO, "amount": "1" }))
        .unwrap();
    assert!(nodes[1].call("tx_get", json!({ "tx": quick["tx"] })).is_ok());

    nodes[1].call("tx_get", json!({ "tx": quick["tx"], "wait_ms": LONG })).unwrap();
    // Two transfers from the same wallet at once through one node: they take turns from
    // building to broadcast, so each gets its own nonce and both are mined.
    let both: Vec<Value> = std::thread::scope(|scope| {
        let calls: Vec<_> = [0u16, 0]
            .iter()
            .map(|&via| {
                let node = &nodes[usize::from(via)];
                scope.spawn(move || {
                    node.call("wallet_transfer", json!({ "wallet": "eth-hot", "chain": "ethereum", "to": ETH_TO, "amount": "1000", "wait_ms": LONG }))
                        .unwrap()
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    for sent in &both {
        assert_eq!(sent["status"], "confirmed", "{sent}");
    }
    // Every node's history shows the transfer confirmed; its balance matches the chain.
    for n in &nodes {
        until(n, "wallet_history", json!({ "wallet": "eth-hot" }), |v| history_has(v, &tx, "TransactionConfirmed"));
        until(n, "tx_get", json!({ "tx": quick["tx"] }), |v| v["status"] == "confirmed");
        let balance = n.call("wallet_balance", json!({ "wallet": "eth-hot" })).unwrap();
        let eth_row =
            balance["balances"].as_array().unwrap().iter().find(|b| b["chain"] == "ethereum").unwrap().clone();
        let expected = u128::from_str_radix(
            chain_call(&anvil.url, "eth_getBalance", json!([eth_from, "latest"]))
                .as_str()
                .unwrap()
                .trim_start_matches("0x"),
            16,
        )
        .unwrap();
        assert_eq!(eth_row["amount"], expected.to_string(), "node {}", n.party);
    }

    // Node 4 caps what it signs: a transfer that needs it declines with its reason.
    let capped = nodes[1]
        .call("wallet_transfer", json!({ "wallet": "eth-hot", "chain": "ethereum", "to": ETH_TO, "amount": "5000000000000000", "signers": [1, 2, 4], "wait_ms": LONG }))
        .unwrap();
    assert_eq!(capped["status"], "failed", "{capped}");
    assert!(capped["reason"].as_str().unwrap().contains("exceeds this member's limit"), "{capped}");
    assert!(capped.get("chain_txid").is_none(), "nothing was signed");

    // Solana: requested at node 2, executed by LiteSVM.
    let sent = nodes[2]
        .call(
            "wallet_transfer",
            json!({ "wallet": "sol-hot", "chain": "solana", "to": SOL_TO, "amount": 750_000_000, "wait_ms": LONG }),
        )
        .unwrap();
    assert_eq!(sent["status"], "confirmed", "{sent}");
    assert_eq!(chain_call(&svm.url, "getBalance", json!([SOL_TO]))["value"], 750_000_000);
    assert_eq!(chain_call(&svm.url, "getBalance", json!([sol_from]))["value"], 2_000_000_000u64 - 750_000_000 - 5_000);

    // Rekey and sweep: a new wallet takes everything the old one holds, less the one fee.
    create_wallet(&nodes[0], "frost-ed25519", "sol-new");
    for n in &nodes {
        n.call_until("wallet_get", json!({ "wallet": "sol-new" }), 30);
    }
    let sol_new = nodes[2].call("wallet_get", json!({ "wallet": "sol-new" })).unwrap()["addresses"]["solana"]
        .as_str()
        .unwrap()
        .to_owned();
    let held = chain_call(&svm.url, "getBalance", json!([sol_from]))["value"].as_u64().unwrap();
    let swept = nodes[2]
        .call(
            "wallet_sweep",
            json!({ "wallet": "sol-hot", "chain": "solana", "to_wallet": "sol-new", "wait_ms": LONG }),
        )
        .unwrap();
    assert_eq!(swept["status"], "confirmed", "{swept}");
    assert_eq!(chain_call(&svm.url, "getBalance", json!([sol_from]))["value"], 0, "the old wallet is empty");
    assert_eq!(chain_call(&svm.url, "getBalance", json!([sol_new]))["value"], held - 5_000);
    let eth_new = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
    let wei = |a: &str| {
        let hex = chain_call(&anvil.url, "eth_getBalance", json!([a, "latest"]));
        u128::from_str_radix(hex.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    };
    let new_before = wei(eth_new);
    let swept = nodes[1]
        .call(
            "wallet_sweep",
            json!({ "wallet": "eth-hot", "chain": "ethereum", "to": eth_new, "signers": [0, 1, 2], "wait_ms": LONG }),
        )
        .unwrap();
    assert_eq!(swept["status"], "confirmed", "{swept}");
    let (amount, ceiling): (u128, u128) = (
        swept["sweep"]["amount"].as_str().unwrap().parse().unwrap(),
        swept["sweep"]["fee_ceiling"].as_str().unwrap().parse().unwrap(),
    );
    assert_eq!(wei(eth_new) - new_before, amount, "the new address got the swept amount");
    assert!(wei(&eth_from) < ceiling, "at most the unused fee cap stays behind: {}", wei(&eth_from));
    let nothing = nodes[2]
        .call("wallet_sweep", json!({ "wallet": "sol-hot", "chain": "solana", "to_wallet": "sol-new" }))
        .unwrap_err();
    assert_eq!(nothing["code"], -32602, "an empty wallet has nothing to sweep: {nothing}");

    // The audit trail has every step, and every journal verifies.
    let audit = nodes[1].call("audit_trail", json!({ "limit": 5000 })).unwrap();
    let types: Vec<&str> = audit.as_array().unwrap().iter().map(|a| a["event"]["type"].as_str().unwrap()).collect();
    for step in [
        "TransactionInitiated",
        "TransactionSigned",
        "TransactionBroadcast",
        "TransactionConfirmed",
        "TransactionFailed",
        "CeremonyStarted",
        "CeremonyCompleted",
        "CeremonyAborted",
        "WalletCreated",
        "BalanceObserved",
    ] {
        assert!(types.contains(&step), "audit trail lacks {step}: {types:?}");
    }
    for n in &nodes {
        assert_eq!(n.call("journal_verify", json!({})).unwrap()["ok"], true);
    }
    let metrics = nodes[1].metrics_text();
    assert!(metrics.contains("mpc_projection_lag_events"), "{metrics}");
}

#[test]
fn a_proposer_killed_after_signing_resumes_and_broadcasts_once() {
    let svm = chain_software::litesvm();
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 3);
    for n in nodes.iter_mut() {
        n.reconfigure(|c| c.chain = vec![chain("solana", &svm.url, "litesvm")]);
    }
    nodes[0].env = vec![("MPC_FAULT".into(), "exit-after-signed".into())];
    start_all(&mut nodes);
    let created = create_wallet(&nodes[0], "frost-ed25519", "sol");
    let from = created["addresses"]["solana"].as_str().unwrap().to_owned();
    chain_call(&svm.url, "requestAirdrop", json!([from, 1_000_000_000u64]));
    for n in &nodes {
        n.call_until("wallet_get", json!({ "wallet": "sol" }), 30);
    }
    let started = nodes[0]
        .call("wallet_transfer", json!({ "wallet": "sol", "chain": "solana", "to": SOL_TO, "amount": 123_456_789 }))
        .unwrap();
    let tx = started["tx"].as_str().unwrap().to_owned();
    assert_eq!(nodes[0].wait_exit(60), Some(86), "the fault point ends the process after signing");
    assert_eq!(chain_call(&svm.url, "getBalance", json!([SOL_TO]))["value"], 0, "nothing was broadcast yet");

    nodes[0].env.clear();
    nodes[0].start();
    let done = nodes[0].call("tx_get", json!({ "tx": tx, "wait_ms": 60_000 })).unwrap();
    assert_eq!(done["status"], "confirmed", "{done}");
    assert_eq!(chain_call(&svm.url, "getBalance", json!([SOL_TO]))["value"], 123_456_789, "sent exactly once");
    let kinds: Vec<&str> = done["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "TransactionSigned").count(), 1, "never signed twice: {kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "TransactionBroadcast").count(), 1, "{kinds:?}");
    // The members, who heard nothing while the proposer was down, follow it to the end too.
    for n in &nodes[1..] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let seen = n.call("tx_get", json!({ "tx": tx })).unwrap_or_else(|e| e);
            if seen["status"] == "confirmed" {
                break;
            }
            assert!(Instant::now() < deadline, "node {} never saw it confirmed: {seen}", n.party);
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    // Exactly one signing ceremony for it ran: at node 0's one co-signer, whichever it chose.
    let signings: usize = nodes[1..]
        .iter()
        .map(|n| {
            let sessions = n.call("session_list", json!({})).unwrap();
            sessions.as_array().unwrap().iter().filter(|s| s["kind"] == "sign").count()
        })
        .sum();
    assert_eq!(signings, 1, "one signing, seen by its one co-signer");
}

#[test]
fn bitcoin_spends_built_by_the_service_pass_bitcoin_cores_interpreter() {
    let facade = bitcoin_facade::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster_set_up(dir.path(), 3);
    for n in nodes.iter_mut() {
        n.reconfigure(|c| {
            c.chain =
                vec![chain("bitcoin-p2tr", &facade.url, "regtest"), chain("bitcoin-p2wpkh", &facade.url, "regtest")];
        });
    }
    start_all(&mut nodes);
    for (k, (scheme, chain_name)) in
        [("frost-secp256k1-tr", "bitcoin-p2tr"), ("cggmp24", "bitcoin-p2wpkh")].into_iter().enumerate()
    {
        let name = format!("btc-{k}");
        let created = create_wallet(&nodes[0], scheme, &name);
        let address = created["addresses"][chain_name].as_str().unwrap().to_owned();
        // Two outputs, so the spend needs both inputs: one signing session signs both.
        facade.fund(&address, 60_000).unwrap();
        facade.fund(&address, 50_000).unwrap();
        for n in &nodes {
            n.call_until("wallet_get", json!({ "wallet": name }), 30);
        }
        let sent = nodes[1]
            .call("wallet_transfer", json!({ "wallet": name, "chain": chain_name, "to": BTC_TO, "amount": 100_000, "fee_ceiling": 5_000, "wait_ms": LONG }))
            .unwrap();
        assert_eq!(sent["status"], "confirmed", "{chain_name}: {sent}");
        assert_eq!(sent["signatures"].as_array().unwrap().len(), 2, "one signature per input: {sent}");
        // One proposal, one vote round, one session for the whole two-input transaction.
        for n in &nodes {
            let sessions = n.call("session_list", json!({})).unwrap();
            let signings: Vec<&Value> = sessions
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["kind"] == "sign" && s["wallet"] == name.as_str())
                .collect();
            assert!(signings.len() <= 1, "node {}: {signings:?}", n.party);
            if let Some(s) = signings.first() {
                assert_eq!(s["session"], sent["session"], "node {}", n.party);
            }
        }
        let at_proposer = nodes[1].call("session_list", json!({})).unwrap();
        let session = at_proposer.as_array().unwrap().iter().find(|s| s["session"] == sent["session"]).unwrap().clone();
        assert_eq!(session["signatures"].as_array().map(Vec::len), Some(2), "{session}");
        let chain = facade.chain.lock().unwrap();
        assert!(chain.refusals.is_empty(), "{:?}", chain.refusals);
        assert_eq!(chain.accepted.len(), k + 1, "the interpreter accepted the spend");
        let raw = hex::decode(sent["raw_tx"].as_str().unwrap()).unwrap();
        assert!(chain.accepted.values().any(|r| *r == raw));
    }
    // Sweep: every output of each wallet, less the one fee, to one output; nothing left.
    for (k, chain_name) in ["bitcoin-p2tr", "bitcoin-p2wpkh"].into_iter().enumerate() {
        let name = format!("btc-{k}");
        let address = nodes[0].call("wallet_get", json!({ "wallet": name })).unwrap()["addresses"][chain_name]
            .as_str()
            .unwrap()
            .to_owned();
        facade.fund(&address, 30_000).unwrap();
        facade.fund(&address, 20_000).unwrap();
        let swept = nodes[0]
            .call("wallet_sweep", json!({ "wallet": name, "chain": chain_name, "to": BTC_TO, "wait_ms": LONG }))
            .unwrap();
        assert_eq!(swept["status"], "confirmed", "{chain_name}: {swept}");
        let script = bitcoin::Address::from_str(&address).unwrap().assume_checked().script_pubkey().to_bytes();
        let chain = facade.chain.lock().unwrap();
        assert!(chain.refusals.is_empty(), "{:?}", chain.refusals);
        assert!(!chain.utxos.values().any(|(s, _)| *s == script), "{chain_name}: an output of the wallet is left");
        let raw = hex::decode(swept["raw_tx"].as_str().unwrap()).unwrap();
        let tx: bitcoin::Transaction = bitcoin::consensus::deserialize(&raw).unwrap();
        assert_eq!(tx.output.len(), 1, "{chain_name}: one output, no change");
        assert_eq!(tx.output[0].value.to_sat().to_string(), swept["sweep"]["amount"].as_str().unwrap());
    }
    // A spend on a chain this node has no endpoint for is refused with its code.
    let refused = nodes[0]
        .call("wallet_transfer", json!({ "wallet": "btc-0", "chain": "ethereum", "to": BTC_TO, "amount": 1 }))
        .unwrap_err();
    assert_eq!(refused["code"], -32602, "{refused}");
}

#[test]
fn a_chain_node_on_another_chain_stops_the_node_at_start() {
    let anvil = chain_software::anvil();
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 2);
    nodes[0].reconfigure(|c| c.chain = vec![chain("ethereum", &anvil.url, "1")]);
    let out = common::mpc_node().args(["run", "--config", nodes[0].config_path.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("chain ethereum: the node reports 31337, the config says 1"), "{stderr}");
    // A bad limit in the config is named too.
    nodes[1].reconfigure(|c| {
        let mut eth = chain("ethereum", &anvil.url, "31337");
        eth.max_amount = Some("ten".into());
        c.chain = vec![eth];
    });
    let out =
        common::mpc_node().args(["check-config", "--config", nodes[1].config_path.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("chain[0].max_amount"), "{stderr}");
}

/// Three nodes on a LiteSVM chain: a FROST wallet, then a Solana transfer by node 0 confirmed
/// while node 2 is down. The nodes (node 2 stopped) and the transfer's id.
fn paid_while_member_2_is_down(dir: &std::path::Path, svm_url: &str, wallet: &str) -> (Vec<NodeProc>, String) {
    let mut nodes = cluster(dir, 3);
    for n in nodes.iter_mut() {
        n.reconfigure(|c| c.chain = vec![chain("solana", svm_url, "litesvm")]);
    }
    start_all(&mut nodes);
    let sol = create_wallet(&nodes[0], "frost-ed25519", wallet);
    let from = sol["addresses"]["solana"].as_str().unwrap().to_owned();
    chain_call(svm_url, "requestAirdrop", json!([from, 1_000_000_000u64]));
    for n in &nodes {
        n.call_until("wallet_get", json!({ "wallet": wallet }), 30);
    }
    nodes[2].terminate();
    let sent = nodes[0]
        .call(
            "wallet_transfer",
            json!({ "wallet": wallet, "chain": "solana", "to": SOL_TO, "amount": "1000000", "wait_ms": LONG }),
        )
        .unwrap();
    assert_eq!(sent["status"], "confirmed", "{sent}");
    let tx = sent["tx"].as_str().unwrap().to_owned();
    (nodes, tx)
}

/// Anti-entropy: a member that was down while a transfer went through learns every step of it
/// when it is back (its proposer tells it again), each checked as usual, so its history
/// converges with the others'.
#[test]
fn a_member_down_during_a_transfer_catches_up_when_it_returns() {
    let svm = chain_software::litesvm();
    let dir = tempfile::tempdir().unwrap();
    let (mut nodes, tx) = paid_while_member_2_is_down(dir.path(), &svm.url, "sol-away");
    let params = json!({ "wallet": "sol-away", "limit": 100 });
    until(&nodes[1], "wallet_history", params.clone(), |v| history_has(v, &tx, "TransactionConfirmed"));

    nodes[2].start();
    let caught_up = until(&nodes[2], "wallet_history", params, |v| {
        ["TransactionInitiated", "TransactionSigned", "TransactionBroadcast", "TransactionConfirmed"]
            .iter()
            .all(|k| history_has(v, &tx, k))
    });
    assert!(history_has(&caught_up, &tx, "TransactionSigned"), "{caught_up}");
    let status = nodes[2].call("tx_get", json!({ "tx": tx })).unwrap();
    assert_eq!(status["status"], "confirmed", "{status}");
    assert_eq!(nodes[2].call("journal_verify", json!({})).unwrap()["ok"], true);
}

/// Direct messages may overtake each other: a member told a broadcast before the signed step
/// it follows holds it and records it once the signed step is in, in the journal's order.
/// (The proposer is replaced by a process with its identity, to send the steps out of order.)
#[test]
fn a_broadcast_notice_that_overtakes_its_signed_step_is_recorded_after_it() {
    use protocol::proposal::{Control, CONTROL_ROUND};
    use protocol::wallet::{TransferNotice, TransferStage};
    use protocol::{Envelope, Recipient, SessionId, Signature, WalletId};
    use store::{DomainEvent, StreamId};

    let svm = chain_software::litesvm();
    let dir = tempfile::tempdir().unwrap();
    let (mut nodes, tx) = paid_while_member_2_is_down(dir.path(), &svm.url, "sol-late");
    nodes[0].terminate();

    // The proposer's own steps, from its journal, as notices.
    let db = store::Db::open(&nodes[0].config.node.data_dir.join("db")).unwrap();
    let journal = store::Journal::open(db).unwrap();
    let mut notices = Vec::new();
    let mut signed_txid = String::new();
    for e in journal.read_stream(&StreamId::Transaction(tx.clone()), 1, 64).unwrap() {
        let stage = match e.event {
            DomainEvent::TransactionInitiated(i) => {
                TransferStage::Initiated { to: i.to, amount: i.amount, fee_ceiling: i.fee_ceiling }
            }
            DomainEvent::TransactionSigned { chain_txid, session, unsigned: Some(unsigned), signatures, .. } => {
                signed_txid = chain_txid.clone();
                let signatures = signatures
                    .into_iter()
                    .map(|s| Signature { bytes: s.signature, recovery_id: s.recovery_id })
                    .collect();
                TransferStage::Signed { chain_txid, session, unsigned, signatures }
            }
            DomainEvent::TransactionBroadcast { chain_txid, .. } => TransferStage::Broadcast { chain_txid },
            DomainEvent::TransactionConfirmed { block, confirmations, .. } => {
                TransferStage::Confirmed { chain_txid: signed_txid.clone(), block, confirmations }
            }
            _ => continue,
        };
        let wallet = WalletId::new("sol-late").unwrap();
        notices.push(TransferNotice { tx: tx.clone(), wallet, chain: "solana".into(), stage });
    }
    drop(journal);
    let kinds: Vec<&str> = notices
        .iter()
        .map(|n| match n.stage {
            TransferStage::Initiated { .. } => "initiated",
            TransferStage::Signed { .. } => "signed",
            TransferStage::Broadcast { .. } => "broadcast",
            TransferStage::Confirmed { .. } => "confirmed",
            TransferStage::Failed { .. } => "failed",
        })
        .collect();
    assert_eq!(kinds, ["initiated", "signed", "broadcast", "confirmed"]);
    notices.swap(1, 2); // the broadcast first, then the signed step

    nodes[2].start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (handle, _events) = common::impostor(&nodes[0], 2).await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        for notice in notices {
            let session = SessionId::derive("transfer-notice", notice.tx.as_bytes());
            let payload = Control::Notice(Box::new(notice)).encode().unwrap();
            let e = Envelope { session, round: CONTROL_ROUND, sender: 0, recipient: Recipient::Party(2), payload };
            handle.send_to(2, e).await.unwrap();
            tokio::time::sleep(Duration::from_millis(500)).await; // each arrives in this order
        }
        let params = json!({ "wallet": "sol-late", "limit": 100 });
        let seen = until(&nodes[2], "wallet_history", params, |v| {
            ["TransactionInitiated", "TransactionSigned", "TransactionBroadcast", "TransactionConfirmed"]
                .iter()
                .all(|k| history_has(v, &tx, k))
        });
        // Newest first: the broadcast is recorded after the signed step it follows.
        let order: Vec<&str> = seen["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["tx"] == tx.as_str())
            .map(|e| e["event"]["type"].as_str().unwrap())
            .collect();
        let at = |k: &str| order.iter().position(|o| *o == k).unwrap();
        assert!(at("TransactionBroadcast") < at("TransactionSigned"), "{order:?}");
    });
    assert_eq!(nodes[2].call("journal_verify", json!({})).unwrap()["ok"], true);
}
