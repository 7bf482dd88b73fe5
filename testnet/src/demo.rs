//! The demo: a DKG for each scheme through node 0's admin RPC, then one transfer per chain
//! requested at node 1 and checked by software we did not write: anvil mines the Ethereum
//! transfer, LiteSVM executes the Solana one, Bitcoin Core's interpreter accepts the P2TR and
//! P2WPKH spends (re-checked here against the outputs they spend).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::net::{NetError, State};
use crate::rpc;

const WAIT: u64 = 300_000;
const ETH_TO: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const SOL_TO: &str = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM";
const BTC_TO: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

/// One verified transfer.
pub struct Row {
    /// Scheme.
    pub scheme: String,
    /// Chain.
    pub chain: String,
    /// Sender address.
    pub address: String,
    /// Chain id of the transaction.
    pub txid: String,
    /// Who checked it.
    pub verified_by: String,
    /// Request to confirmation, ms.
    pub ms: u128,
    /// The report entry.
    pub json: Value,
}

fn fail(step: &str, why: impl std::fmt::Display) -> NetError {
    NetError::Msg(format!("demo step failed: {step}: {why}"))
}

fn service<'a>(state: &'a State, name: &str) -> Result<&'a str, NetError> {
    state.services.get(name).map(|(u, _)| u.as_str()).ok_or_else(|| fail("services", format!("{name} is not up")))
}

fn chain_call(url: &str, method: &str, params: Value) -> Result<Value, NetError> {
    rpc::call(url, None, method, params, Duration::from_secs(30)).map_err(|e| fail(method, e))
}

/// Runs the demo on a running testnet.
pub fn run(state: &State, log: &dyn Fn(&str)) -> Result<Vec<Row>, NetError> {
    let [dkg_node, tx_node, ..] = state.nodes.as_slice() else { return Err(fail("nodes", "need at least two")) };
    let t = state.threshold;
    let call = |n: &crate::net::NodeState, method: &str, params: Value| {
        n.call(method, params, Duration::from_millis(WAIT + 10_000)).map_err(|e| fail(method, e))
    };
    // Long ceremonies are followed with a progress bar (on a terminal, after a second).
    let client = |n: &crate::net::NodeState| {
        node::client::Client::new(&node::client::Target {
            node: Some(n.admin.clone()),
            node_config: None,
            token_file: Some(n.token_file.clone()),
            json: false,
        })
        .map_err(|e| fail("client", e))
    };
    let (dkg_client, tx_client) = (client(dkg_node)?, client(tx_node)?);
    let follow = |label: &str, session: &Value| {
        let session = session.as_str().ok_or_else(|| fail(label, "no session id"))?;
        node::client::progress::follow_session(&dkg_client, session, label, false).map_err(|e| fail(label, e))
    };
    let info = call(dkg_node, "node_info", json!({}))?;
    let ready =
        info["schemes"].as_array().is_some_and(|s| s.iter().any(|x| x["scheme"] == "cggmp24" && x["ready"] == true));
    if !ready {
        log("cggmp24: committee setup (Paillier keys and proofs, every member)...");
        let t0 = Instant::now();
        let started = call(dkg_node, "committee_setup", json!({ "scheme": "cggmp24" }))?;
        follow("cggmp24 committee setup", &started["session"])?;
        log(&format!("cggmp24: committee setup done in {:.1} s", t0.elapsed().as_secs_f64()));
    }
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut wallets = serde_json::Map::new();
    for scheme in ["cggmp24", "frost-secp256k1-tr", "frost-ed25519"] {
        let name = format!("demo-{}-{stamp}", scheme.replace("frost-", "").replace("secp256k1-", ""));
        let t0 = Instant::now();
        let started = call(dkg_node, "wallet_create", json!({ "scheme": scheme, "threshold": t, "wallet": name }))?;
        follow(&format!("{scheme} DKG"), &started["session"]["session"])?;
        let created = call(dkg_node, "wallet_get", json!({ "wallet": name }))?;
        log(&format!(
            "{scheme}: {t}-of-{} DKG via node 0 in {} ms: {}",
            state.nodes.len(),
            t0.elapsed().as_millis(),
            created["addresses"]
        ));
        wallets.insert(scheme.to_owned(), created);
    }
    let (eth_url, sol_url, btc_url) =
        (service(state, "ethereum")?, service(state, "solana")?, service(state, "bitcoin")?);
    let address = |scheme: &str, chain: &str| -> Result<String, NetError> {
        wallets[scheme]["addresses"][chain]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| fail("addresses", format!("{scheme} has no {chain} address")))
    };
    chain_call(eth_url, "anvil_setBalance", json!([address("cggmp24", "ethereum")?, "0x8ac7230489e80000"]))?;
    chain_call(sol_url, "requestAirdrop", json!([address("frost-ed25519", "solana")?, 2_000_000_000u64]))?;
    chain_call(btc_url, "demo_fund", json!([address("frost-secp256k1-tr", "bitcoin-p2tr")?, 60_000, 2]))?;
    chain_call(btc_url, "demo_fund", json!([address("cggmp24", "bitcoin-p2wpkh")?, 60_000, 2]))?;
    log("funded: 10 ETH on anvil, 2 SOL on LiteSVM, two 60,000-sat outputs per Bitcoin address");
    // Every member must hold the new shares before node 1 asks them to sign.
    for n in &state.nodes {
        for w in wallets.values() {
            let deadline = Instant::now() + Duration::from_secs(30);
            while n.call("wallet_get", json!({ "wallet": w["wallet"] }), Duration::from_secs(5)).is_err() {
                if Instant::now() > deadline {
                    return Err(fail("wallet_get", format!("node {} never stored {}", n.party, w["wallet"])));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    let plans = [
        ("cggmp24", "ethereum", ETH_TO, json!("10000000000000000"), "anvil (receipt status 1)"),
        ("frost-secp256k1-tr", "bitcoin-p2tr", BTC_TO, json!(100_000), "Bitcoin Core interpreter"),
        ("cggmp24", "bitcoin-p2wpkh", BTC_TO, json!(100_000), "Bitcoin Core interpreter"),
        ("frost-ed25519", "solana", SOL_TO, json!(500_000_000u64), "LiteSVM (balances)"),
    ];
    let mut rows = Vec::new();
    for (scheme, chain, to, amount, verifier) in plans {
        let wallet = wallets[scheme]["wallet"].clone();
        let from = address(scheme, chain)?;
        let t0 = Instant::now();
        let started =
            call(tx_node, "wallet_transfer", json!({ "wallet": wallet, "chain": chain, "to": to, "amount": amount }))?;
        let id = started["tx"].as_str().ok_or_else(|| fail("wallet_transfer", "no tx id"))?;
        let tx = node::client::progress::follow_tx(&tx_client, id, false).map_err(|e| fail(chain, e))?;
        let ms = t0.elapsed().as_millis();
        if tx["status"] != "confirmed" {
            return Err(fail(&format!("{chain} transfer"), format!("{} ({})", tx["status"], tx["reason"])));
        }
        let txid = tx["chain_txid"].as_str().unwrap_or_default().to_owned();
        let raw = hex::decode(tx["raw_tx"].as_str().unwrap_or_default()).map_err(|e| fail("raw_tx", e))?;
        let mut entry = json!({
            "scheme": scheme, "chain": chain, "public_key": wallets[scheme]["public_key"], "address": from,
            "txid": txid, "raw_tx": tx["raw_tx"], "signatures": tx["signatures"], "verified_by": verifier, "ms": ms,
        });
        match chain {
            "ethereum" => {
                let receipt = chain_call(eth_url, "eth_getTransactionReceipt", json!([txid]))?;
                if receipt["status"] != "0x1" {
                    return Err(fail("ethereum receipt", receipt));
                }
            }
            "solana" => {
                let got = chain_call(sol_url, "getBalance", json!([SOL_TO]))?;
                if got["value"].as_u64().unwrap_or(0) < 500_000_000 {
                    return Err(fail("solana balance", got));
                }
            }
            _ => {
                let spent = chain_call(btc_url, "demo_prevouts", json!([txid]))?;
                let prevouts: Vec<(Vec<u8>, u64)> = spent
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|p| {
                                Some((hex::decode(p["script_pubkey"].as_str()?).ok()?, p["amount"].as_u64()?))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                crate::btc_facade::consensus_check(&raw, &prevouts).map_err(|e| fail("bitcoin interpreter", e))?;
                entry["prevouts"] = spent;
            }
        }
        // The report's per-signature fields, first signature at top level as the spec names them.
        if let Some(first) = tx["signatures"].get(0) {
            entry["message"] = first["message"].clone();
            entry["signature"] = first["signature"].clone();
            if !first["recovery_id"].is_null() {
                entry["recovery_id"] = first["recovery_id"].clone();
            }
        }
        log(&format!("{chain}: {scheme} transfer via node 1 confirmed in {ms} ms, verified by {verifier}"));
        rows.push(Row {
            scheme: scheme.into(),
            chain: chain.into(),
            address: from,
            txid,
            verified_by: verifier.into(),
            ms,
            json: entry,
        });
    }
    Ok(rows)
}
