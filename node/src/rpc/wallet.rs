//! The wallet methods: transfers, their status, and the read side (history, balances, audit
//! trail) answered from the projections. Amounts are decimal strings (they exceed 2^53).

use std::sync::Arc;
use std::time::Duration;

use actors::reads::{DomainEvent, TxView};
use actors::transfers::{NewTransfer, TransferMsg};
use protocol::chains::TransferRequest;
use protocol::{PartyIndex, WalletId};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::{Ctx, RpcError, MAX_WAIT_MS};

fn transfers(ctx: &Ctx) -> Result<ractor::ActorRef<TransferMsg>, RpcError> {
    ctx.refs.transfers.get().ok_or_else(|| RpcError::Unavailable("transfer actor is restarting".into()))
}

fn amount<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => {
            s.trim().parse().map_err(|_| serde::de::Error::custom(format!("{s:?} is not a whole amount")))
        }
        Value::Number(n) => {
            n.as_u64().map(u128::from).ok_or_else(|| serde::de::Error::custom("amount must be a whole number"))
        }
        other => Err(serde::de::Error::custom(format!("amount: expected a decimal string, got {other}"))),
    }
}

fn opt_amount<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u128>, D::Error> {
    amount(d).map(Some)
}

fn wallet_id(w: &str) -> Result<WalletId, RpcError> {
    WalletId::new(w).map_err(|e| RpcError::InvalidParams(e.to_string()))
}

/// `wallet_transfer` params.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferArgs {
    wallet: String,
    chain: String,
    to: String,
    /// In the chain's smallest unit (wei, satoshi, lamport), a decimal string or a number.
    #[serde(deserialize_with = "amount")]
    #[schemars(with = "String")]
    amount: u128,
    /// The most fee this transfer may pay, in the same unit.
    #[serde(default, deserialize_with = "opt_amount")]
    #[schemars(with = "Option<String>")]
    fee_ceiling: Option<u128>,
    #[serde(default)]
    signers: Option<Vec<PartyIndex>>,
    #[serde(default)]
    wait_ms: u64,
}

/// `wallet_transfer`: returns the transaction id at once (or, with `wait_ms`, the
/// transaction once it is confirmed or failed, or as it stands when the wait ends).
pub async fn wallet_transfer(p: TransferArgs, ctx: Arc<Ctx>) -> Result<Value, RpcError> {
    let ask = NewTransfer {
        wallet: wallet_id(&p.wallet)?,
        chain: p.chain,
        request: TransferRequest { to: p.to, amount: p.amount, fee_ceiling: p.fee_ceiling },
        signers: p.signers,
    };
    if p.wait_ms > MAX_WAIT_MS {
        return Err(RpcError::InvalidParams(format!("wait_ms above {MAX_WAIT_MS}")));
    }
    let tx = ractor::call!(transfers(&ctx)?, |reply| TransferMsg::Start(ask, reply))
        .map_err(|e| RpcError::Unavailable(e.to_string()))??;
    tx_view(&ctx, &tx, p.wait_ms).await
}

/// `wallet_sweep` params.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SweepArgs {
    wallet: String,
    chain: String,
    /// The recipient address; or `to_wallet`, a wallet held here, for its address.
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    to_wallet: Option<String>,
    #[serde(default)]
    signers: Option<Vec<PartyIndex>>,
    #[serde(default)]
    wait_ms: u64,
}

/// `wallet_sweep`: everything `wallet` holds on `chain`, less the fee, in one transfer (the
/// sweep half of rekey and sweep). The amount and fee ceiling are worked out from the chain
/// node now; the transfer then runs as any other, every member checking it against its
/// limits. A fee that rose in between fails it (`fee exceeds the ceiling`): sweep again.
pub async fn wallet_sweep(p: SweepArgs, ctx: Arc<Ctx>) -> Result<Value, RpcError> {
    let wallet = wallet_id(&p.wallet)?;
    let w = ctx.wallets.get(&wallet)?.ok_or_else(|| RpcError::NotFound(format!("wallet {wallet}")))?;
    let endpoint = ctx
        .endpoints
        .by_name
        .get(&p.chain)
        .ok_or_else(|| RpcError::InvalidParams(format!("no chain {} configured here", p.chain)))?;
    let rpc = endpoint.rpc.clone().ok_or_else(|| RpcError::Unavailable(format!("no {} node configured", p.chain)))?;
    let chain = endpoint.chain.clone();
    let bad = |e: protocol::chains::ChainError| RpcError::InvalidParams(e.to_string());
    let to = match (p.to, p.to_wallet) {
        (Some(to), None) => to,
        (None, Some(other)) => {
            let other = wallet_id(&other)?;
            let row = ctx.wallets.get(&other)?.ok_or_else(|| RpcError::NotFound(format!("wallet {other}")))?;
            chain.address(&row.public_key).map_err(bad)?
        }
        _ => return Err(RpcError::InvalidParams("exactly one of to and to_wallet".into())),
    };
    let from = chain.address(&w.public_key).map_err(bad)?;
    let (key, dest) = (w.public_key.clone(), to.clone());
    let (amount, fee) = tokio::task::spawn_blocking(move || {
        let balance = rpc.balance(&from).map_err(|e| RpcError::Unavailable(e.to_string()))?;
        let probe = TransferRequest { to: dest.clone(), amount: 0, fee_ceiling: None };
        let context = rpc.context(&from, &probe).map_err(|e| RpcError::Unavailable(e.to_string()))?;
        chain.sweep(&key, &dest, balance, &context).map_err(bad)
    })
    .await
    .map_err(|e| RpcError::Unavailable(e.to_string()))??;
    if p.wait_ms > MAX_WAIT_MS {
        return Err(RpcError::InvalidParams(format!("wait_ms above {MAX_WAIT_MS}")));
    }
    let ask = NewTransfer {
        wallet,
        chain: p.chain,
        request: TransferRequest { to, amount, fee_ceiling: Some(fee) },
        signers: p.signers,
    };
    let tx = ractor::call!(transfers(&ctx)?, |reply| TransferMsg::Start(ask, reply))
        .map_err(|e| RpcError::Unavailable(e.to_string()))??;
    let mut view = tx_view(&ctx, &tx, p.wait_ms).await?;
    view["sweep"] = json!({ "amount": amount.to_string(), "fee_ceiling": fee.to_string() });
    Ok(view)
}

/// `tx_get` params.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TxArgs {
    tx: String,
    #[serde(default)]
    wait_ms: u64,
}

/// `tx_get`: a transfer's steps from this node's journal.
pub async fn tx_get(p: TxArgs, ctx: Arc<Ctx>) -> Result<Value, RpcError> {
    if p.tx.len() > 64 || !p.tx.starts_with("tx-") {
        return Err(RpcError::InvalidParams("tx ids look like tx-<party>-<hex>".into()));
    }
    tx_view(&ctx, &p.tx, p.wait_ms).await
}

async fn tx_view(ctx: &Ctx, tx: &str, wait_ms: u64) -> Result<Value, RpcError> {
    if wait_ms > MAX_WAIT_MS {
        return Err(RpcError::InvalidParams(format!("wait_ms above {MAX_WAIT_MS}")));
    }
    let view = read_tx(ctx, tx)?;
    let done = matches!(view["status"].as_str(), Some("confirmed" | "failed"));
    if done || wait_ms == 0 {
        return Ok(view);
    }
    // Woken by the transfer actor when this node journals the transfer's last step.
    let waited = tokio::time::timeout(Duration::from_millis(wait_ms), async {
        let actor = transfers(ctx)?;
        ractor::call!(actor, |reply| TransferMsg::Wait(tx.to_owned(), reply))
            .map_err(|e| RpcError::Unavailable(e.to_string()))
    })
    .await;
    if let Ok(Err(e)) = waited {
        return Err(e);
    }
    read_tx(ctx, tx)
}

/// A transfer's steps, as this node's journal holds them.
fn read_tx(ctx: &Ctx, tx: &str) -> Result<Value, RpcError> {
    let view = ctx.reads.transaction(tx)?.ok_or_else(|| RpcError::NotFound(format!("transaction {tx}")))?;
    Ok(tx_json(&view))
}

fn tx_json(t: &TxView) -> Value {
    let steps: Vec<Value> =
        t.steps.iter().map(|s| json!({ "seq": s.seq, "type": s.kind, "recorded_at_ms": s.recorded_at_ms })).collect();
    let mut view = json!({ "tx": t.tx, "status": t.status.name(), "events": steps });
    if let Some(r) = &t.request {
        view["wallet"] = json!(r.wallet.to_string());
        view["chain"] = json!(r.chain);
        view["to"] = json!(r.to);
        view["amount"] = json!(r.amount.to_string());
        view["fee_ceiling"] = json!(r.fee_ceiling.map(|f| f.to_string()));
    }
    if let Some(id) = &t.chain_txid {
        view["chain_txid"] = json!(id);
    }
    if let Some(s) = &t.session {
        view["session"] = json!(s.to_string());
    }
    if !t.raw_tx.is_empty() {
        view["raw_tx"] = json!(hex::encode(&t.raw_tx));
    }
    if !t.signatures.is_empty() {
        let list: Vec<Value> = t
            .signatures
            .iter()
            .map(|s| {
                json!({ "message": hex::encode(&s.payload), "signature": hex::encode(&s.signature),
                    "recovery_id": s.recovery_id })
            })
            .collect();
        view["signatures"] = json!(list);
    }
    if let Some((block, confirmations)) = t.confirmed {
        view["block"] = json!(block);
        view["confirmations"] = json!(confirmations);
    }
    if let Some((kind, reason)) = &t.failure {
        view["reason"] = json!(reason);
        view["failure"] = json!(kind.name());
    }
    view
}

/// An event as the read side shows it (amounts as decimal strings, bytes as hex).
pub fn event_json(e: &DomainEvent) -> Value {
    let mut v = match e {
        DomainEvent::WalletCreated { wallet, scheme, threshold, parties, public_key } => json!({
            "wallet": wallet.to_string(), "scheme": scheme.to_string(), "threshold": threshold, "parties": parties,
            "public_key": hex::encode(public_key) }),
        DomainEvent::KeySharesGenerated { wallet, session, party, .. }
        | DomainEvent::KeySharesRefreshed { wallet, session, party, .. } => {
            json!({ "wallet": wallet.to_string(), "session": session.to_string(), "party": party })
        }
        DomainEvent::KeySharesReshared { wallet, session, party, old_threshold, threshold, .. } => json!({
            "wallet": wallet.to_string(), "session": session.to_string(), "party": party,
            "old_threshold": old_threshold, "threshold": threshold }),
        DomainEvent::KeyExported { wallet, session, receiver, participants, party } => json!({
            "wallet": wallet.to_string(), "session": session.to_string(), "receiver": receiver,
            "participants": participants, "party": party }),
        DomainEvent::TransactionInitiated(t) => json!({ "tx": t.tx, "chain": t.chain, "to": t.to,
            "amount": t.amount.to_string(), "fee_ceiling": t.fee_ceiling.map(|f| f.to_string()) }),
        DomainEvent::TransactionSigned { tx, session, chain_txid, .. } => {
            json!({ "tx": tx, "session": session.to_string(), "chain_txid": chain_txid })
        }
        DomainEvent::TransactionBroadcast { tx, chain_txid } => json!({ "tx": tx, "chain_txid": chain_txid }),
        DomainEvent::TransactionConfirmed { tx, block, confirmations } => {
            json!({ "tx": tx, "block": block, "confirmations": confirmations })
        }
        DomainEvent::TransactionFailed { tx, kind, reason } => {
            json!({ "tx": tx, "failure": kind.name(), "reason": reason })
        }
        DomainEvent::BalanceObserved { chain, amount, .. } => json!({ "chain": chain, "amount": amount.to_string() }),
        DomainEvent::CeremonyStarted { session, kind, scheme, wallet, participants } => json!({
            "session": session.to_string(), "kind": super::views::kind_name(*kind), "scheme": scheme.to_string(),
            "wallet": wallet.as_ref().map(|w| w.to_string()), "participants": participants }),
        DomainEvent::CeremonyCompleted { session, duration_ms } => {
            json!({ "session": session.to_string(), "duration_ms": duration_ms })
        }
        DomainEvent::CeremonyAborted { session, reason, blamed, misbehaviour } => json!({
            "session": session.to_string(), "reason": reason, "blamed": blamed, "misbehaviour": misbehaviour }),
        DomainEvent::CommitteeSetupStored { scheme, session, party, parties } => json!({
            "scheme": scheme.to_string(), "session": session.to_string(), "party": party, "parties": parties }),
        DomainEvent::LimitRefused { subject, limit, retry_after_ms, level, max, refused } => json!({
            "subject": subject, "limit": limit, "level": level, "max": max, "refused": refused,
            "retry_after_ms": (*retry_after_ms != u64::MAX).then_some(*retry_after_ms) }),
        DomainEvent::BreakerTransition { session, from, to, reason } => json!({
            "session": session.map(|s| s.to_string()), "from": from, "to": to, "reason": reason }),
        DomainEvent::WalletDiscarded { wallet, session, reason } => json!({
            "wallet": wallet.to_string(), "session": session.to_string(), "reason": reason }),
        DomainEvent::ReputationChanged { party, reputation_milli, cause } => json!({
            "party": party, "reputation": f64::from(*reputation_milli) / 1000.0, "cause": cause }),
        other => json!({ "detail": format!("{other:?}") }),
    };
    v["type"] = json!(e.event_type());
    v
}

/// `wallet_history` params.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryArgs {
    wallet: String,
    #[serde(default)]
    before: Option<u64>,
    #[serde(default = "default_page")]
    limit: usize,
}

fn default_page() -> usize {
    50
}

/// `wallet_history`: newest first, paginated with `before` (the `next_before` of a page).
pub async fn wallet_history(p: HistoryArgs, ctx: Arc<Ctx>) -> Result<Value, RpcError> {
    let wallet = wallet_id(&p.wallet)?;
    if ctx.wallets.get(&wallet)?.is_none() {
        return Err(RpcError::NotFound(format!("wallet {wallet}")));
    }
    let page = ctx.reads.history(&wallet, p.before, p.limit.clamp(1, 500))?;
    let entries: Vec<Value> = page
        .entries
        .iter()
        .map(|e| json!({ "seq": e.seq, "recorded_at_ms": e.recorded_at_ms, "tx": e.tx, "event": event_json(&e.event) }))
        .collect();
    Ok(json!({ "wallet": wallet.to_string(), "entries": entries, "next_before": page.next_before }))
}

/// `wallet_balance` params.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BalanceArgs {
    wallet: String,
}

/// `wallet_balance`: per configured chain that takes the wallet's keys, refreshed from the
/// chain node (a change is journaled as `BalanceObserved`), answered from the projection.
pub async fn wallet_balance(p: BalanceArgs, ctx: Arc<Ctx>) -> Result<Value, RpcError> {
    let wallet = wallet_id(&p.wallet)?;
    let w = ractor::call!(transfers(&ctx)?, |reply| TransferMsg::Balances(wallet.clone(), reply))
        .map_err(|e| RpcError::Unavailable(e.to_string()))??;
    let balances: Vec<Value> = w
        .balances
        .iter()
        .map(|b| json!({ "chain": b.chain, "address": b.address, "amount": b.amount.to_string(), "seq": b.seq }))
        .collect();
    Ok(json!({ "wallet": wallet.to_string(), "balances": balances, "errors": w.errors }))
}

/// `audit_trail` params.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditArgs {
    #[serde(default)]
    from_ms: u64,
    #[serde(default)]
    to_ms: Option<u64>,
    #[serde(default = "default_audit")]
    limit: usize,
}

fn default_audit() -> usize {
    200
}

/// `audit_trail`: every journaled event in `[from_ms, to_ms)`, oldest first, with its place in
/// the hash chain.
pub async fn audit_trail(p: AuditArgs, ctx: Arc<Ctx>) -> Result<Value, RpcError> {
    let entries = ctx.reads.audit(p.from_ms, p.to_ms.unwrap_or(u64::MAX), p.limit.clamp(1, 5000))?;
    Ok(json!(entries
        .iter()
        .map(|a| json!({
            "seq": a.seq,
            "recorded_at_ms": a.recorded_at_ms,
            "stream": a.stream.to_string(),
            "hash": hex::encode(a.hash),
            "prev_hash": hex::encode(a.prev_hash),
            "event": event_json(&a.event),
        }))
        .collect::<Vec<_>>()))
}
