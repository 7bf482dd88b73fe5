//! The client's subcommands: each is one or two RPC calls and a human rendering of the answer.

use clap::Subcommand;
use serde_json::{json, Value};

use super::progress::{follow_session, follow_tx};
use super::table::{cell, pairs, short, table, time};
use super::{params_from_pairs, Client, ClientError, Target};

/// Subcommands that talk to a running node (`--node-config` or `--node` + token).
#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Call any admin method: `mpc-node call wallet_get -p wallet=w-1`. Values are read as JSON
    /// when they parse (numbers, true, [lists]), else as strings. Prints the JSON result.
    /// `mpc-node call rpc.discover` lists every method with its params and error codes.
    Call {
        /// The method, e.g. node_info.
        method: String,
        /// A named param, key=value (repeat).
        #[arg(short = 'p', long = "param")]
        params: Vec<String>,
        /// All params as one JSON object (merged under the -p pairs).
        #[arg(long = "params")]
        json_params: Option<String>,
    },
    /// This node: party, connections, schemes and their setup, store, presignature pool.
    Info,
    /// Every other member: connected, health, reputation, latency, blame.
    Peers,
    /// Run a scheme's one-time committee setup (CGGMP24), following its progress.
    Setup {
        /// The scheme, e.g. cggmp24.
        scheme: String,
    },
    /// Create, list and inspect wallets.
    Wallet {
        /// What to do.
        #[command(subcommand)]
        action: WalletAction,
    },
    /// Sign with a wallet: a message (raw, only for wallets every signer allows raw signing), an
    /// EIP-191 personal message, or EIP-712 typed data from a file.
    Sign {
        /// The wallet.
        wallet: String,
        /// Raw message or 32-byte digest, hex.
        #[arg(long, group = "what")]
        message: Option<String>,
        /// EIP-191 text (or 0x-hex bytes).
        #[arg(long, group = "what")]
        personal_message: Option<String>,
        /// EIP-712 typed data, a JSON file.
        #[arg(long, group = "what")]
        typed_data: Option<std::path::PathBuf>,
    },
    /// Send from a wallet: built, reviewed by every signer, signed, broadcast and followed to
    /// its confirmation (or its failure).
    Transfer {
        /// The wallet.
        wallet: String,
        /// The chain (ethereum, solana, bitcoin-p2tr, bitcoin-p2wpkh; see `info`).
        #[arg(long)]
        chain: String,
        /// The recipient address.
        #[arg(long)]
        to: String,
        /// Amount in the chain's smallest unit (wei, lamport, satoshi).
        #[arg(long)]
        amount: String,
        /// The most fee this transfer may pay, same unit.
        #[arg(long)]
        fee_ceiling: Option<String>,
        /// Print the transaction id at once instead of following it.
        #[arg(long)]
        no_wait: bool,
    },
    /// A transfer's steps as this node journaled them.
    Tx {
        /// Its id (tx-<party>-<hex>).
        tx: String,
        /// Follow it until it is confirmed or failed.
        #[arg(long)]
        wait: bool,
    },
    /// A wallet's transfers and ceremonies, newest first.
    History {
        /// The wallet.
        wallet: String,
        /// Entries per page.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Older than this journal position (a page's `next_before`).
        #[arg(long)]
        before: Option<u64>,
    },
    /// A wallet's balance on every chain that takes its keys.
    Balance {
        /// The wallet.
        wallet: String,
    },
    /// The audit trail (journaled events, oldest first) and the check of its hash chain.
    Audit {
        /// From this time, ms since the epoch.
        #[arg(long, default_value_t = 0)]
        from_ms: u64,
        /// At most this many events.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Recent ceremonies, newest first, with their progress.
    Sessions {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One ceremony; with --wait, follow it to its end.
    Session {
        /// Its id (64 hex).
        session: String,
        /// Follow it with a progress bar.
        #[arg(long)]
        wait: bool,
    },
}

/// Wallet subcommands.
#[derive(Subcommand, Debug)]
pub enum WalletAction {
    /// A dealerless keygen by the whole committee, followed with a progress bar.
    Create {
        /// frost-ed25519 (Solana), frost-secp256k1-tr (Bitcoin Taproot), cggmp24 (Ethereum, Bitcoin P2WPKH).
        #[arg(long)]
        scheme: String,
        /// Signers needed (2..=committee size).
        #[arg(long)]
        threshold: u16,
        /// Its name (default: w-<random>).
        #[arg(long)]
        name: Option<String>,
    },
    /// Every wallet held here.
    List,
    /// One wallet: key, addresses, signings today, presignatures.
    Get {
        /// The wallet.
        wallet: String,
    },
}

/// Runs one client command; returns what to print on stdout.
pub fn run(target: &Target, command: ClientCommand) -> Result<String, ClientError> {
    let client = Client::new(target)?;
    let quiet = target.json;
    let (value, render): (Value, fn(&Value) -> String) = match command {
        ClientCommand::Call { method, params, json_params } => {
            let p = params_from_pairs(&params, json_params.as_deref())?;
            let v = client.call(&method, p)?;
            return Ok(pretty(&v));
        }
        ClientCommand::Info => (client.call("node_info", json!({}))?, render_info),
        ClientCommand::Peers => (client.call("node_peers", json!({}))?, render_peers),
        ClientCommand::Setup { scheme } => {
            let started = client.call("committee_setup", json!({ "scheme": scheme }))?;
            let session = cell(&started["session"]);
            (follow_session(&client, &session, &format!("{scheme} setup"), quiet)?, render_session)
        }
        ClientCommand::Wallet { action: WalletAction::Create { scheme, threshold, name } } => {
            let mut p = json!({ "scheme": scheme, "threshold": threshold });
            if let Some(n) = name {
                p["wallet"] = json!(n);
            }
            let started = client.call("wallet_create", p)?;
            let wallet = cell(&started["wallet"]);
            let session = cell(&started["session"]["session"]);
            follow_session(&client, &session, &format!("{wallet} keygen"), quiet)?;
            (client.call("wallet_get", json!({ "wallet": wallet }))?, render_wallet)
        }
        ClientCommand::Wallet { action: WalletAction::List } => {
            (client.call("wallet_list", json!({}))?, render_wallets)
        }
        ClientCommand::Wallet { action: WalletAction::Get { wallet } } => {
            (client.call("wallet_get", json!({ "wallet": wallet }))?, render_wallet)
        }
        ClientCommand::Sign { wallet, message, personal_message, typed_data } => {
            let mut p = json!({ "wallet": wallet });
            match (message, personal_message, typed_data) {
                (Some(m), _, _) => p["message"] = json!(m),
                (_, Some(t), _) => p["personal_message"] = json!(t),
                (_, _, Some(path)) => {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| ClientError::Usage(format!("{}: {e}", path.display())))?;
                    let doc: Value = serde_json::from_str(&text)
                        .map_err(|e| ClientError::Usage(format!("{}: not JSON: {e}", path.display())))?;
                    p["typed_data"] = doc;
                }
                _ => return Err(ClientError::Usage("give --message, --personal-message or --typed-data".into())),
            }
            let started = client.call("sign", p)?;
            let session = cell(&started["session"]);
            (follow_session(&client, &session, "signing", quiet)?, render_session)
        }
        ClientCommand::Transfer { wallet, chain, to, amount, fee_ceiling, no_wait } => {
            let mut p = json!({ "wallet": wallet, "chain": chain, "to": to, "amount": amount });
            if let Some(f) = fee_ceiling {
                p["fee_ceiling"] = json!(f);
            }
            let started = client.call("wallet_transfer", p)?;
            if no_wait {
                (started, render_tx)
            } else {
                (follow_tx(&client, &cell(&started["tx"]), quiet)?, render_tx)
            }
        }
        ClientCommand::Tx { tx, wait } => match wait {
            true => (follow_tx(&client, &tx, quiet)?, render_tx),
            false => (client.call("tx_get", json!({ "tx": tx }))?, render_tx),
        },
        ClientCommand::History { wallet, limit, before } => {
            let mut p = json!({ "wallet": wallet, "limit": limit });
            if let Some(b) = before {
                p["before"] = json!(b);
            }
            (client.call("wallet_history", p)?, render_history)
        }
        ClientCommand::Balance { wallet } => {
            (client.call("wallet_balance", json!({ "wallet": wallet }))?, render_balance)
        }
        ClientCommand::Audit { from_ms, limit } => {
            let entries = client.call("audit_trail", json!({ "from_ms": from_ms, "limit": limit }))?;
            let check = client.call("journal_verify", json!({}))?;
            (json!({ "entries": entries, "verify": check }), render_audit)
        }
        ClientCommand::Sessions { limit } => (client.call("session_list", json!({ "limit": limit }))?, render_sessions),
        ClientCommand::Session { session, wait } => match wait {
            true => (follow_session(&client, &session, "session", quiet)?, render_session),
            false => (client.call("session_get", json!({ "session": session }))?, render_session),
        },
    };
    Ok(if target.json { pretty(&value) } else { render(&value) })
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn render_info(v: &Value) -> String {
    let schemes: Vec<String> = list(&v["schemes"])
        .iter()
        .map(|s| {
            let state = if s["ready"].as_bool() == Some(true) { "ready" } else { "needs committee_setup" };
            format!("{} ({state})", cell(&s["scheme"]))
        })
        .collect();
    let store = &v["store"];
    let store = match store["writable"].as_bool() {
        Some(true) => format!("writable, {} MB free", cell(&store["free_mb"])),
        _ => format!("REFUSING: {}", cell(&store["refusal"])),
    };
    pairs(&[
        ("party", format!("{} of {}", cell(&v["party"]), cell(&v["parties"]))),
        ("peer id", cell(&v["peer_id"])),
        ("version", cell(&v["version"])),
        ("uptime", format!("{} s", cell(&v["uptime_s"]))),
        ("connected", format!("{} members", cell(&v["connected"]))),
        ("schemes", schemes.join(", ")),
        ("chains", list(&v["chains"]).iter().map(cell).collect::<Vec<_>>().join(", ")),
        ("store", store),
        ("journal head", cell(&v["journal_head"])),
        ("prime sets", cell(&v["prime_sets_available"])),
        ("presignings", format!("{} run, {} pool hits", cell(&v["presignings"]), cell(&v["pool_hits"]))),
    ])
}

fn render_peers(v: &Value) -> String {
    let rows: Vec<Vec<String>> = list(v)
        .iter()
        .map(|p| {
            vec![
                cell(&p["party"]),
                if p["connected"].as_bool() == Some(true) { "yes".into() } else { "NO".into() },
                format!("{:.2}", p["health"].as_f64().unwrap_or(0.0)),
                format!("{:.2}", p["reputation"].as_f64().unwrap_or(0.0)),
                format!("{}/{}", cell(&p["p50_ms"]), cell(&p["p95_ms"])),
                format!("{}/{}", cell(&p["rounds_answered"]), cell(&p["rounds_expected"])),
                format!("{}/{}/{}", cell(&p["stragglers"]), cell(&p["blamed_silent"]), cell(&p["blamed_cheating"])),
                cell(&p["address"]),
            ]
        })
        .collect();
    let headers =
        ["party", "connected", "health", "reputation", "p50/p95 ms", "answered", "late/silent/cheat", "address"];
    table(&headers, &rows)
}

fn addresses(v: &Value) -> String {
    v.as_object()
        .map(|m| m.iter().map(|(chain, a)| format!("{chain}={}", cell(a))).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn render_wallets(v: &Value) -> String {
    let rows: Vec<Vec<String>> = list(v)
        .iter()
        .map(|w| {
            vec![
                cell(&w["wallet"]),
                cell(&w["scheme"]),
                format!("{}-of-{}", cell(&w["threshold"]), cell(&w["parties"])),
                time(&w["created_ms"]),
                addresses(&w["addresses"]),
            ]
        })
        .collect();
    table(&["wallet", "scheme", "threshold", "created (UTC)", "addresses"], &rows)
}

fn render_wallet(v: &Value) -> String {
    let mut items = vec![
        ("wallet", cell(&v["wallet"])),
        ("scheme", cell(&v["scheme"])),
        ("threshold", format!("{}-of-{}", cell(&v["threshold"]), cell(&v["parties"]))),
        ("public key", cell(&v["public_key"])),
        ("created", time(&v["created_ms"])),
    ];
    if let Some(m) = v["addresses"].as_object() {
        items.extend(m.iter().map(|(chain, a)| ("address", format!("{chain}: {}", cell(a)))));
    }
    if v.get("signed_24h").is_some() {
        let s = &v["signed_24h"];
        items.push((
            "signed 24h",
            format!("{} of {} ({} raw of {})", s["all"], s["per_day"], s["raw"], s["raw_per_day"]),
        ));
    }
    let ready: u64 = list(&v["presignatures"]).iter().filter_map(|p| p["ready"].as_u64()).sum();
    items.push(("presignatures", ready.to_string()));
    pairs(&items)
}

fn duration(s: &Value) -> String {
    match (s["started_ms"].as_u64(), s["finished_ms"].as_u64()) {
        (Some(a), Some(b)) => format!("{} ms", b.saturating_sub(a)),
        (Some(_), None) => "running".into(),
        _ => "-".into(),
    }
}

fn progress(s: &Value) -> String {
    let p = &s["progress"];
    if p.is_null() {
        return "-".into();
    }
    let total = p["total"].as_u64().map_or("?".to_owned(), |t| t.to_string());
    let waiting = list(&p["waiting"]).iter().map(cell).collect::<Vec<_>>().join(",");
    match s["status"].as_str() {
        Some("failed") if !waiting.is_empty() => {
            return format!("stopped in round {}, waiting for {waiting}", p["round"])
        }
        Some("failed") => return format!("stopped in round {}", p["round"]),
        Some("running" | "proposed") => {}
        _ => return "done".into(),
    }
    match waiting.is_empty() {
        true => format!("{}/{total} rounds", cell(&p["completed"])),
        false => format!("{}/{total} rounds, waiting for {waiting}", cell(&p["completed"])),
    }
}

fn render_sessions(v: &Value) -> String {
    let rows: Vec<Vec<String>> = list(v)
        .iter()
        .map(|s| {
            vec![
                short(&s["session"]),
                cell(&s["kind"]),
                cell(&s["scheme"]),
                cell(&s["wallet"]),
                cell(&s["status"]),
                list(&s["participants"]).iter().map(cell).collect::<Vec<_>>().join(","),
                duration(s),
                progress(s),
            ]
        })
        .collect();
    table(&["session", "kind", "scheme", "wallet", "status", "parties", "took", "progress"], &rows)
}

fn render_session(s: &Value) -> String {
    let mut items = vec![
        ("session", cell(&s["session"])),
        ("kind", cell(&s["kind"])),
        ("scheme", cell(&s["scheme"])),
        ("wallet", cell(&s["wallet"])),
        ("status", cell(&s["status"])),
        ("proposer", cell(&s["proposer"])),
        ("participants", list(&s["participants"]).iter().map(cell).collect::<Vec<_>>().join(",")),
        ("took", duration(s)),
        ("progress", progress(s)),
    ];
    if !s["public_key"].is_null() {
        items.push(("public key", cell(&s["public_key"])));
    }
    if !s["signature"].is_null() {
        items.push(("signature", cell(&s["signature"]["signature"])));
        if !s["signature"]["recovery_id"].is_null() {
            items.push(("recovery id", cell(&s["signature"]["recovery_id"])));
        }
    }
    if !s["error"].is_null() {
        items.push(("error", cell(&s["error"])));
    }
    pairs(&items)
}

fn render_tx(t: &Value) -> String {
    let mut items = vec![("tx", cell(&t["tx"])), ("status", cell(&t["status"]))];
    for (k, label) in [("wallet", "wallet"), ("chain", "chain"), ("to", "to"), ("amount", "amount")] {
        if !t[k].is_null() {
            items.push((label, cell(&t[k])));
        }
    }
    for (k, label) in [("chain_txid", "chain txid"), ("block", "block"), ("failure", "failure"), ("reason", "reason")] {
        if !t[k].is_null() {
            items.push((label, cell(&t[k])));
        }
    }
    let steps: Vec<Vec<String>> = list(&t["events"])
        .iter()
        .map(|e| vec![cell(&e["seq"]), time(&e["recorded_at_ms"]), cell(&e["type"])])
        .collect();
    let mut out = pairs(&items);
    if !steps.is_empty() {
        out.push_str("\n\n");
        out.push_str(&table(&["seq", "at (UTC)", "step"], &steps));
    }
    out
}

fn event_summary(e: &Value) -> String {
    let Some(m) = e.as_object() else { return String::new() };
    m.iter()
        .filter(|(k, _)| k.as_str() != "type")
        .map(|(k, v)| format!("{k}={}", short(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn render_history(v: &Value) -> String {
    let rows: Vec<Vec<String>> = list(&v["entries"])
        .iter()
        .map(|e| {
            vec![
                cell(&e["seq"]),
                time(&e["recorded_at_ms"]),
                cell(&e["tx"]),
                cell(&e["event"]["type"]),
                event_summary(&e["event"]),
            ]
        })
        .collect();
    let mut out = table(&["seq", "at (UTC)", "tx", "event", "detail"], &rows);
    if !v["next_before"].is_null() {
        out.push_str(&format!("\nolder: --before {}", cell(&v["next_before"])));
    }
    out
}

fn render_balance(v: &Value) -> String {
    let rows: Vec<Vec<String>> =
        list(&v["balances"]).iter().map(|b| vec![cell(&b["chain"]), cell(&b["amount"]), cell(&b["address"])]).collect();
    let mut out = table(&["chain", "amount", "address"], &rows);
    if let Some(errors) = v["errors"].as_array().filter(|e| !e.is_empty()) {
        out.push_str(&format!("\nnot refreshed: {}", errors.iter().map(cell).collect::<Vec<_>>().join("; ")));
    }
    out
}

fn render_audit(v: &Value) -> String {
    let rows: Vec<Vec<String>> = list(&v["entries"])
        .iter()
        .map(|e| {
            vec![
                cell(&e["seq"]),
                time(&e["recorded_at_ms"]),
                cell(&e["stream"]),
                cell(&e["event"]["type"]),
                short(&e["hash"]),
            ]
        })
        .collect();
    let check = &v["verify"];
    let verdict = match check["ok"].as_bool() {
        Some(true) => {
            format!("hash chain verified: {} entries, head {}", cell(&check["entries"]), short(&check["head_hash"]))
        }
        _ => format!("HASH CHAIN BROKEN: {}", cell(&check["error"])),
    };
    format!("{}\n\n{verdict}", table(&["seq", "at (UTC)", "stream", "event", "hash"], &rows))
}
