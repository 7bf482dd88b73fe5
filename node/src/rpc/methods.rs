//! The admin methods. None names a scheme or a chain: they go through the registries.

use std::sync::Arc;

use actors::events::{SessionInfo, SessionStatus};
use actors::manager::ManagerMsg;
use actors::signers::Who;
use protocol::proposal::{ProposalKind, Signable};
use protocol::signable::{PersonalMessage, TypedData};
use protocol::{PartyIndex, SessionId, WalletId};
use rand_core::RngCore;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::views::{SessionView, WalletView};
use super::{Ctx, RpcError, MAX_WAIT_MS};

/// No params.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

pub(super) fn manager(ctx: &Ctx) -> Result<ractor::ActorRef<ManagerMsg>, RpcError> {
    ctx.refs.manager.get().ok_or_else(|| RpcError::Unavailable("session manager is restarting".into()))
}

pub(super) fn actor_err(e: impl std::fmt::Display) -> RpcError {
    RpcError::Unavailable(e.to_string())
}

async fn info(ctx: &Ctx, session: SessionId) -> Result<Option<SessionInfo>, RpcError> {
    ractor::call!(manager(ctx)?, |reply| ManagerMsg::Info { session, reply }).map_err(actor_err)
}

/// Proposes `kind` to `who`, chosen by the manager among the members connected now.
/// A ceremony of the same wallet still ending here (a signing ends at each member at its own
/// moment) is waited for, at most [`PENDING_PATIENCE`].
pub(super) async fn propose(ctx: &Ctx, kind: ProposalKind, who: Who) -> Result<SessionId, RpcError> {
    let deadline = tokio::time::Instant::now() + PENDING_PATIENCE;
    loop {
        let (kind, who) = (kind.clone(), who.clone());
        match ractor::call!(manager(ctx)?, |reply| ManagerMsg::ProposeAmong { kind, who, reply }).map_err(actor_err)? {
            Err(actors::Error::Pending(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            result => return Ok(result?),
        }
    }
}

/// How long a proposal waits for what it needs that is still finishing here.
const PENDING_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// Returns the session at once (`wait_ms` 0), or when it ends; a failure is an error.
pub(super) async fn wait(ctx: &Ctx, session: SessionId, wait_ms: u64) -> Result<SessionInfo, RpcError> {
    if wait_ms > MAX_WAIT_MS {
        return Err(RpcError::InvalidParams(format!("wait_ms above {MAX_WAIT_MS}")));
    }
    let mut current = info(ctx, session).await?;
    if wait_ms > 0 && current.as_ref().is_some_and(|i| !i.status.is_final()) {
        let watched = ractor::call_t!(manager(ctx)?, |reply| ManagerMsg::Watch { session, reply }, wait_ms);
        current = match watched {
            Ok(i) => i,
            Err(ractor::RactorErr::Timeout) => return Err(RpcError::Timeout { session: session.to_string() }),
            Err(e) => return Err(actor_err(e)),
        };
    }
    let current = current.ok_or_else(|| RpcError::NotFound(format!("session {session}")))?;
    match &current.status {
        SessionStatus::Failed(failure) => Err(RpcError::from_failure(&session, failure)),
        _ => Ok(current),
    }
}

/// `node_info`.
pub async fn node_info(_: NoParams, ctx: Arc<Ctx>) -> Result<Value, RpcError> {
    let mut schemes = Vec::new();
    for id in ctx.registry.ids() {
        let scheme = ctx.registry.get(&id).map_err(actor_err)?;
        let ready = !scheme.needs_setup() || ctx.reads.setup_stored(&id)?;
        schemes.push(json!({ "scheme": id.to_string(), "needs_setup": scheme.needs_setup(), "ready": ready }));
    }
    let me = ctx.committee.iter().find(|m| m.party == ctx.me);
    let floor_mb = ctx.node.config.node.min_free_disk_mb;
    let (refusal, free_mb) = ctx.reads.store_state(floor_mb.saturating_mul(1 << 20));
    Ok(json!({
        "party": ctx.me,
        "parties": ctx.committee.len(),
        "peer_id": ctx.peer_id,
        "listen": me.map(|m| m.address.clone()),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": ctx.started.elapsed().as_secs(),
        "connected": peers(&ctx).await?.iter().filter(|p| p.connected).count(),
        "schemes": schemes,
        "chains": ctx.endpoints.chains.names(),
        "prime_sets_available": ctx.reads.primes_available()?,
        "journal_head": ctx.reads.journal_head()?.seq,
        "store": { "writable": refusal.is_none(), "refusal": refusal, "free_mb": free_mb, "min_free_mb": floor_mb },
        "fault_injection": ctx.faults,
        "breaker": ctx.breaker,
        "breaker_state": ctx.metrics.breaker_state(),
        "presign": ctx.presign,
        "presignings": ctx.metrics.presignings_started(),
        "archive": ctx.archive.as_ref().map(|(source, s)| s.view(source, ctx.reads.journal_head().map(|h| h.seq).unwrap_or(0))),
        "pool_hits": ctx.metrics.pool_hits(),
    }))
}

/// One member, as `node_peers` shows it.
#[derive(Serialize, JsonSchema)]
pub struct PeerView {
    party: PartyIndex,
    peer_id: String,
    address: String,
    connected: bool,
    changed_ms: Option<u64>,
    last_message_ms: Option<u64>,
    /// Health score in [0, 1] over its last rounds (1 with no evidence yet).
    health: f64,
    /// Reputation in [0, 1] (falls on blame, recovers with good rounds; journaled).
    reputation: f64,
    /// Its answer latency over its last rounds, ms.
    p50_ms: u64,
    /// See `p50_ms`.
    p95_ms: u64,
    /// Rounds in the window: expected of it, answered.
    rounds_expected: u64,
    /// See `rounds_expected`.
    rounds_answered: u64,
    /// Times late while the others had answered; blamed for silence; blamed for cheating.
    stragglers: u64,
    /// See `stragglers`.
    blamed_silent: u64,
    /// See `stragglers`.
    blamed_cheating: u64,
}

async fn peers(ctx: &Ctx) -> Result<Vec<actors::bridge::PeerState>, RpcError> {
    let bridge = ctx.refs.bridge.get().ok_or_else(|| RpcError::Unavailable("network bridge is down".into()))?;
    ractor::call!(bridge, actors::bridge::BridgeMsg::Peers).map_err(actor_err)
}

/// `node_peers`: every other member, connected or not.
pub async fn node_peers(_: NoParams, ctx: Arc<Ctx>) -> Result<Vec<PeerView>, RpcError> {
    Ok(peers(&ctx)
        .await?
        .into_iter()
        .filter_map(|s| {
            let m = ctx.committee.iter().find(|m| m.party == s.party)?;
            let h = ctx.health.get(s.party);
            let h = h.as_ref();
            Some(PeerView {
                health: h.map_or(1.0, |h| h.score),
                reputation: h.map_or(1.0, |h| h.reputation),
                p50_ms: h.map_or(0, |h| h.p50_ms),
                p95_ms: h.map_or(0, |h| h.p95_ms),
                rounds_expected: h.map_or(0, |h| h.expected),
                rounds_answered: h.map_or(0, |h| h.received),
                stragglers: h.map_or(0, |h| h.stragglers),
                blamed_silent: h.map_or(0, |h| h.blamed_silent),
                blamed_cheating: h.map_or(0, |h| h.blamed_cheating),
                party: s.party,
                peer_id: m.peer_id.clone(),
                address: m.address.clone(),
                connected: s.connected,
                changed_ms: s.changed_ms,
                last_message_ms: s.last_message_ms,
            })
        })
        .collect())
}

/// `committee_setup` params.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupParams {
    scheme: String,
    #[serde(default)]
    wait_ms: u64,
}

/// `committee_setup`: the one-time committee setup a scheme may need before its first keygen.
pub async fn committee_setup(p: SetupParams, ctx: Arc<Ctx>) -> Result<SessionView, RpcError> {
    let scheme = ctx.registry.by_name(&p.scheme).map_err(|e| RpcError::InvalidParams(e.to_string()))?;
    if !scheme.needs_setup() {
        return Err(RpcError::InvalidParams(format!("{} needs no committee setup", p.scheme)));
    }
    let session = propose(&ctx, ProposalKind::Setup { scheme: scheme.id() }, Who::Everyone).await?;
    Ok(SessionView::from(&wait(&ctx, session, p.wait_ms).await?))
}

/// `wallet_create` params.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateParams {
    scheme: String,
    threshold: u16,
    #[serde(default)]
    wallet: Option<String>,
    #[serde(default)]
    wait_ms: u64,
}

/// `wallet_create`: a dealerless keygen by the whole committee.
pub async fn wallet_create(p: CreateParams, ctx: Arc<Ctx>) -> Result<Value, RpcError> {
    let scheme = ctx.registry.by_name(&p.scheme).map_err(|e| RpcError::InvalidParams(e.to_string()))?;
    let n = ctx.committee.len() as u16;
    if p.threshold < 2 || p.threshold > n {
        return Err(RpcError::InvalidParams(format!("threshold must be 2..={n}, got {}", p.threshold)));
    }
    let wallet = match p.wallet {
        Some(w) => WalletId::new(&w).map_err(|e| RpcError::InvalidParams(e.to_string()))?,
        None => {
            let mut b = [0u8; 6];
            rand_core::OsRng.fill_bytes(&mut b);
            WalletId::new(&format!("w-{}", hex::encode(b))).map_err(|e| RpcError::InvalidParams(e.to_string()))?
        }
    };
    if ctx.wallets.get(&wallet)?.is_some() {
        return Err(RpcError::AlreadyExists(format!("wallet {wallet}")));
    }
    let kind = ProposalKind::Keygen { wallet: wallet.clone(), scheme: scheme.id(), threshold: p.threshold };
    let first = ractor::call!(manager(&ctx)?, |reply| ManagerMsg::ProposeAmong {
        kind: kind.clone(),
        who: Who::Everyone,
        reply
    })
    .map_err(actor_err)?;
    let session = match first {
        // The scheme's setup is still finishing here (another member may have answered
        // first): once it has, propose again.
        Err(actors::Error::SetupRunning { session: setup, .. }) => {
            wait(&ctx, setup, MAX_WAIT_MS).await?;
            propose(&ctx, kind, Who::Everyone).await?
        }
        other => other?,
    };
    let done = wait(&ctx, session, p.wait_ms).await?;
    let mut out = json!({ "wallet": wallet.to_string(), "session": SessionView::from(&done) });
    if let (SessionStatus::KeyReady(_), Some(w)) = (&done.status, ctx.wallets.get(&wallet)?) {
        out["public_key"] = json!(hex::encode(&w.public_key.bytes));
        out["addresses"] = json!(WalletView::new(&w, &ctx.endpoints.chains).addresses);
    }
    Ok(out)
}

/// `wallet_list`.
pub async fn wallet_list(_: NoParams, ctx: Arc<Ctx>) -> Result<Vec<WalletView>, RpcError> {
    Ok(ctx.wallets.list()?.iter().map(|w| WalletView::new(w, &ctx.endpoints.chains)).collect())
}

/// `wallet_get` params.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WalletParams {
    wallet: String,
}

pub(super) fn wallet_id(w: &str) -> Result<WalletId, RpcError> {
    WalletId::new(w).map_err(|e| RpcError::InvalidParams(e.to_string()))
}

/// `wallet_get`: public key, addresses, and what this member's limiter counted for it.
pub async fn wallet_get(p: WalletParams, ctx: Arc<Ctx>) -> Result<Value, RpcError> {
    let wallet = wallet_id(&p.wallet)?;
    let w = ctx.wallets.get(&wallet)?.ok_or_else(|| RpcError::NotFound(format!("wallet {wallet}")))?;
    let mut view = serde_json::to_value(WalletView::new(&w, &ctx.endpoints.chains))
        .map_err(|e| RpcError::Unavailable(e.to_string()))?;
    if let Some(limiter) = ctx.limiter.get() {
        let (all, raw) =
            ractor::call!(limiter, actors::limiter::LimiterMsg::Usage, wallet.clone()).map_err(actor_err)?;
        let l = &ctx.limits;
        view["signed_24h"] =
            json!({ "all": all, "raw": raw, "per_day": l.per_wallet_per_day, "raw_per_day": l.raw_per_wallet_per_day });
    }
    let pools: Vec<Value> = ctx
        .reads
        .presignatures(&wallet)?
        .into_iter()
        .map(|(signers, ids)| {
            let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
            json!({ "signers": signers, "ready": ids.len(), "ids": ids })
        })
        .collect();
    view["presignatures"] = Value::Array(pools);
    view["refresh_staged"] = json!(ctx.reads.staged_refresh(&wallet)?.map(|s| s.to_string()));
    Ok(view)
}

/// `presign_discard` (admin): discards every presignature of `wallet` held here, each marked
/// used (e.g. when a member's vault is suspected); signings that name one fall back to full.
pub async fn presign_discard(p: WalletParams, ctx: Arc<Ctx>) -> Result<Value, RpcError> {
    let wallet = wallet_id(&p.wallet)?;
    let n = ractor::call!(manager(&ctx)?, |reply| ManagerMsg::DiscardPresignatures { wallet, reply })
        .map_err(actor_err)??;
    Ok(json!({ "discarded": n }))
}

/// `sign` params: exactly one of `message` and `digest` (hex: raw signing, which each
/// member allows only for wallets its own config names), `personal_message` (EIP-191, UTF-8
/// text or 0x-hex) and `typed_data` (EIP-712 JSON); every member hashes the last two itself.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignParams {
    wallet: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    personal_message: Option<String>,
    #[serde(default)]
    typed_data: Option<Value>,
    #[serde(default)]
    signers: Option<Vec<PartyIndex>>,
    /// Exactly these presignatures (ids from `wallet_get`, one per payload), with `signers`
    /// their signer set: no pool choice and no fall-back to full signing.
    #[serde(default)]
    presignatures: Option<Vec<String>>,
    #[serde(default)]
    wait_ms: u64,
}

/// `sign`: a threshold signature with a wallet, by this node and `signers` (default: the
/// first threshold-many connected members; if one of those is lost mid-way, retried once with
/// the members connected then).
pub async fn sign(p: SignParams, ctx: Arc<Ctx>) -> Result<SessionView, RpcError> {
    let wallet = wallet_id(&p.wallet)?;
    let w = ctx.wallets.get(&wallet)?.ok_or_else(|| RpcError::NotFound(format!("wallet {wallet}")))?;
    let signable = match (p.message, p.digest, p.personal_message, p.typed_data) {
        (None, None, None, Some(doc)) => {
            let d = TypedData::new(doc.to_string()).map_err(|e| RpcError::InvalidParams(e.to_string()))?;
            Signable::TypedData(Box::new(d))
        }
        (Some(h), None, None, None) | (None, Some(h), None, None) => Signable::Raw(
            hex::decode(h.trim_start_matches("0x")).map_err(|e| RpcError::InvalidParams(format!("not hex: {e}")))?,
        ),
        (None, None, Some(text), None) => {
            let bytes = match text.strip_prefix("0x") {
                Some(h) => hex::decode(h).map_err(|e| RpcError::InvalidParams(format!("not hex: {e}")))?,
                None => text.into_bytes(),
            };
            let m = PersonalMessage::new(bytes).map_err(|e| RpcError::InvalidParams(e.to_string()))?;
            Signable::PersonalMessage(Box::new(m))
        }
        _ => {
            return Err(RpcError::InvalidParams(
                "give exactly one of message, digest (hex), personal_message and typed_data".into(),
            ))
        }
    };
    let scheme = ctx.registry.get(&w.scheme).map_err(actor_err)?;
    for payload in signable.payloads() {
        scheme.check_message(payload).map_err(|e| RpcError::InvalidParams(e.to_string()))?;
    }
    let chosen = p.signers.is_none();
    if let Some(ids) = p.presignatures {
        let presignatures = ids.iter().map(|h| session_id(h)).collect::<Result<Vec<_>, _>>()?;
        let signers = p.signers.ok_or_else(|| RpcError::InvalidParams("presignatures need their signers".into()))?;
        let who = Who::Signers { wanted: Some(signers), threshold: w.threshold };
        let kind = ProposalKind::SignPresigned { wallet, signable, presignatures };
        let session = propose(&ctx, kind, who).await?;
        return Ok(SessionView::from(&wait(&ctx, session, p.wait_ms).await?));
    }
    let who = Who::Signers { wanted: p.signers, threshold: w.threshold };
    let kind = ProposalKind::Sign { wallet: wallet.clone(), signable: signable.clone() };
    let session = propose(&ctx, kind, who).await?;
    match wait(&ctx, session, p.wait_ms).await {
        // A signer this node chose went away, fell silent or cheated: once more, with
        // connected members other than the blamed (fresh nonces, another signer set). A signer
        // set the caller fixed is not changed.
        Err(
            RpcError::Unreachable { blamed, .. }
            | RpcError::CeremonyTimeout { blamed, .. }
            | RpcError::CeremonyFailed { blamed, .. },
        ) if chosen && !blamed.is_empty() => {
            tracing::info!(%session, ?blamed, "a chosen signer failed; retrying once without it");
            let who = Who::SignersAvoiding { avoid: blamed, threshold: w.threshold };
            let kind = ProposalKind::Sign { wallet, signable };
            let retry = propose(&ctx, kind, who).await?;
            Ok(SessionView::from(&wait(&ctx, retry, p.wait_ms).await?))
        }
        other => Ok(SessionView::from(&other?)),
    }
}

/// `session_get` params.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionParams {
    session: String,
    #[serde(default)]
    wait_ms: u64,
}

fn session_id(hex_id: &str) -> Result<SessionId, RpcError> {
    let bytes: [u8; 32] = hex::decode(hex_id)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| RpcError::InvalidParams("a session or presignature id is 64 hex characters".into()))?;
    Ok(SessionId::from_bytes(bytes))
}

/// `session_get`: a session as this node knows it (optionally waiting for its end).
pub async fn session_get(p: SessionParams, ctx: Arc<Ctx>) -> Result<SessionView, RpcError> {
    let session = session_id(&p.session)?;
    if p.wait_ms == 0 {
        let i = info(&ctx, session).await?.ok_or_else(|| RpcError::NotFound(format!("session {session}")))?;
        return Ok(SessionView::from(&i));
    }
    Ok(SessionView::from(&wait(&ctx, session, p.wait_ms).await?))
}

/// `session_list` params.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    50
}

/// `session_list`: the most recent sessions, newest first.
pub async fn session_list(p: ListParams, ctx: Arc<Ctx>) -> Result<Vec<SessionView>, RpcError> {
    let limit = p.limit.min(1000);
    let list = ractor::call!(manager(&ctx)?, |reply| ManagerMsg::List { limit, reply }).map_err(actor_err)?;
    Ok(list.iter().map(SessionView::from).collect())
}

/// `journal_verify`: re-hashes the whole journal; a broken chain is `ok: false` with where.
pub async fn journal_verify(_: NoParams, ctx: Arc<Ctx>) -> Result<Value, RpcError> {
    let journal = ctx.refs.journal.get().ok_or_else(|| RpcError::Unavailable("journal actor is restarting".into()))?;
    match ractor::call!(journal, actors::journal::JournalMsg::Verify).map_err(actor_err)? {
        Ok(r) => Ok(
            json!({ "ok": true, "entries": r.entries, "head_seq": r.head.seq, "head_hash": hex::encode(r.head.hash) }),
        ),
        Err(e) => Ok(json!({ "ok": false, "error": e.to_string() })),
    }
}
