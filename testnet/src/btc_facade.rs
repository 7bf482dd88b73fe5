//! A Bitcoin Core JSON-RPC facade over Bitcoin Core's own script interpreter
//! (libbitcoinconsensus), for the transfer tests: no `bitcoind` can run here. It serves the
//! calls our adapter makes (`getblockchaininfo`, `scantxoutset`, `estimatesmartfee`,
//! `sendrawtransaction`, `getrawtransaction`, `getblockheader`) over a UTXO set the test funds;
//! `sendrawtransaction` accepts a transaction only if every input passes the interpreter
//! against the output it spends, then spends those outputs. Two extra methods serve the demo:
//! `demo_fund [address, sats, outputs]` and `demo_prevouts [txid]` (the outputs an accepted
//! transaction spent, in input order). A development tool for one local client; bad requests
//! get JSON-RPC errors, never a crash.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use bitcoin::consensus::encode;
use bitcoin::{Address, Network, OutPoint, Transaction, Txid};
use serde_json::{json, Value};

/// The facade's chain state.
#[derive(Default)]
pub struct Chain {
    /// Unspent outputs: outpoint -> (script, value).
    pub utxos: BTreeMap<OutPoint, (Vec<u8>, u64)>,
    /// Accepted transactions, raw.
    pub accepted: BTreeMap<Txid, Vec<u8>>,
    /// The outputs each accepted transaction spent, in input order.
    pub spent: BTreeMap<Txid, Vec<(Vec<u8>, u64)>>,
    /// Funding outputs made so far (for unique outpoints).
    pub funded: u32,
    /// Every sendrawtransaction seen (accepted or not).
    pub submissions: usize,
    /// Why the interpreter refused, per refused submission.
    pub refusals: Vec<String>,
}

/// A running facade.
pub struct Facade {
    /// Its URL.
    pub url: String,
    /// Its state.
    pub chain: Arc<Mutex<Chain>>,
}

impl Facade {
    /// Funds `address` with an output of `sats`.
    pub fn fund(&self, address: &str, sats: u64) -> Result<(), String> {
        fund(&mut lock(&self.chain), address, sats)
    }
}

fn lock(chain: &Mutex<Chain>) -> std::sync::MutexGuard<'_, Chain> {
    chain.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn fund(c: &mut Chain, address: &str, sats: u64) -> Result<(), String> {
    let script = Address::from_str(address)
        .map_err(|e| e.to_string())?
        .require_network(Network::Regtest)
        .map_err(|e| e.to_string())?
        .script_pubkey();
    c.funded += 1;
    let txid = Txid::from_str(&format!("{:064x}", c.funded)).map_err(|e| e.to_string())?;
    c.utxos.insert(OutPoint { txid, vout: 0 }, (script.to_bytes(), sats));
    Ok(())
}

fn verify(chain: &Chain, tx: &Transaction, raw: &[u8]) -> Result<(), String> {
    let mut prevouts = Vec::new();
    for input in &tx.input {
        let (script, value) = chain
            .utxos
            .get(&input.previous_output)
            .ok_or_else(|| format!("{} is not unspent", input.previous_output))?;
        prevouts.push((script.clone(), *value));
    }
    consensus_check(raw, &prevouts)
}

/// Runs Bitcoin Core's interpreter (taproot rules included) on every input of `raw` against
/// the outputs it spends (`script_pubkey`, satoshis), in input order.
pub fn consensus_check(raw: &[u8], prevouts: &[(Vec<u8>, u64)]) -> Result<(), String> {
    let utxos: Vec<bitcoinconsensus::Utxo> = prevouts
        .iter()
        .map(|(s, v)| bitcoinconsensus::Utxo {
            script_pubkey: s.as_ptr(),
            script_pubkey_len: s.len() as u32,
            value: *v as i64,
        })
        .collect();
    let flags = bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT | bitcoinconsensus::VERIFY_TAPROOT;
    for (i, (script, value)) in prevouts.iter().enumerate() {
        bitcoinconsensus::verify_with_flags(script, *value, raw, Some(&utxos), i, flags)
            .map_err(|e| format!("input {i}: {e:?}"))?;
    }
    Ok(())
}

fn handle(chain: &Mutex<Chain>, method: &str, params: &Value) -> Result<Value, (i64, String)> {
    let mut c = lock(chain);
    match method {
        "getblockchaininfo" => Ok(json!({ "chain": "regtest", "blocks": 101 })),
        "estimatesmartfee" => Ok(json!({ "feerate": 0.00002, "blocks": 2 })),
        "scantxoutset" => {
            let desc = params[1][0].as_str().unwrap_or_default();
            let address = desc.trim_start_matches("addr(").trim_end_matches(')');
            let script = Address::from_str(address)
                .map_err(|e| (-5, e.to_string()))?
                .require_network(Network::Regtest)
                .map_err(|e| (-5, e.to_string()))?
                .script_pubkey()
                .to_bytes();
            let unspents: Vec<Value> = c
                .utxos
                .iter()
                .filter(|(_, (s, _))| *s == script)
                .map(|(o, (_, v))| json!({ "txid": o.txid.to_string(), "vout": o.vout, "amount": *v as f64 / 1e8 }))
                .collect();
            let total: u64 = c.utxos.values().filter(|(s, _)| *s == script).map(|(_, v)| v).sum();
            Ok(json!({ "success": true, "unspents": unspents, "total_amount": total as f64 / 1e8 }))
        }
        "sendrawtransaction" => {
            c.submissions += 1;
            let raw = hex::decode(params[0].as_str().unwrap_or_default()).map_err(|e| (-22, e.to_string()))?;
            let tx: Transaction = encode::deserialize(&raw).map_err(|e| (-22, format!("TX decode failed: {e}")))?;
            let txid = tx.compute_txid();
            if c.accepted.contains_key(&txid) {
                return Err((-27, "transaction already in block chain".into()));
            }
            let spent: Vec<(Vec<u8>, u64)> =
                tx.input.iter().filter_map(|i| c.utxos.get(&i.previous_output).cloned()).collect();
            if let Err(why) = verify(&c, &tx, &raw) {
                c.refusals.push(why.clone());
                return Err((-26, format!("mandatory-script-verify-flag-failed ({why})")));
            }
            for input in &tx.input {
                c.utxos.remove(&input.previous_output);
            }
            for (vout, out) in tx.output.iter().enumerate() {
                c.utxos
                    .insert(OutPoint { txid, vout: vout as u32 }, (out.script_pubkey.to_bytes(), out.value.to_sat()));
            }
            c.accepted.insert(txid, raw);
            c.spent.insert(txid, spent);
            Ok(json!(txid.to_string()))
        }
        "getrawtransaction" => {
            let txid = Txid::from_str(params[0].as_str().unwrap_or_default()).map_err(|e| (-8, e.to_string()))?;
            match c.accepted.get(&txid) {
                Some(_) => Ok(json!({ "txid": txid.to_string(), "confirmations": 1, "blockhash": "00".repeat(32) })),
                None => Err((-5, "No such mempool or blockchain transaction".into())),
            }
        }
        "getblockheader" => Ok(json!({ "height": 102 })),
        "demo_fund" => {
            let address = params[0].as_str().unwrap_or_default().to_owned();
            let sats = params[1].as_u64().ok_or((-8, "sats".to_owned()))?;
            for _ in 0..params[2].as_u64().unwrap_or(1) {
                fund(&mut c, &address, sats).map_err(|e| (-5, e))?;
            }
            Ok(json!(true))
        }
        "demo_prevouts" => {
            let txid = Txid::from_str(params[0].as_str().unwrap_or_default()).map_err(|e| (-8, e.to_string()))?;
            let spent = c.spent.get(&txid).ok_or((-5, "unknown transaction".to_owned()))?;
            Ok(json!(spent
                .iter()
                .map(|(s, v)| json!({ "script_pubkey": hex::encode(s), "amount": v }))
                .collect::<Vec<_>>()))
        }
        other => Err((-32601, format!("Method not found: {other}"))),
    }
}

/// Starts the facade on a free loopback port (a thread; it lives as long as the process).
pub fn start() -> std::io::Result<Facade> {
    start_on(0)
}

/// Starts the facade on `port` (0: any free one).
pub fn start_on(port: u16) -> std::io::Result<Facade> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let url = format!("http://{}", listener.local_addr()?);
    let chain = Arc::new(Mutex::new(Chain::default()));
    let c = chain.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let c = c.clone();
            std::thread::spawn(move || {
                let Ok(read_half) = stream.try_clone() else { return };
                let mut reader = BufReader::new(read_half);
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let method = request["method"].as_str().unwrap_or_default().to_owned();
                let answer = match handle(&c, &method, &request["params"]) {
                    Ok(result) => json!({ "result": result, "error": null, "id": request["id"] }),
                    Err((code, message)) => {
                        json!({ "result": null, "error": { "code": code, "message": message }, "id": request["id"] })
                    }
                };
                let text = answer.to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                    text.len(),
                    text
                );
            });
        }
    });
    Ok(Facade { url, chain })
}
