//! Reshare to a new threshold, and the guarded export of a wallet's whole key.

use std::sync::Arc;
use std::time::Duration;

use actors::manager::ManagerMsg;
use protocol::proposal::ProposalKind;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use super::methods::{actor_err, manager, wait, wallet_id};
use super::{Ctx, RpcError};

/// `wallet_reshare` params.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReshareParams {
    wallet: String,
    /// The new threshold (2..=n).
    threshold: u16,
    #[serde(default)]
    wait_ms: u64,
}

/// `wallet_reshare`: the whole committee deals new shares of the same key at a new threshold;
/// the old shares (and presignatures made with them) stop working.
pub async fn wallet_reshare(p: ReshareParams, ctx: Arc<Ctx>) -> Result<Value, RpcError> {
    let wallet = wallet_id(&p.wallet)?;
    let n = u16::try_from(ctx.committee.len()).unwrap_or(u16::MAX);
    if p.threshold < 2 || p.threshold > n {
        return Err(RpcError::InvalidParams(format!("threshold {} of a {n}-member committee", p.threshold)));
    }
    let mut out =
        super::recovery::renew(&ctx, ProposalKind::Reshare { wallet, threshold: p.threshold }, p.wait_ms).await?;
    out["threshold"] = json!(p.threshold);
    Ok(out)
}

/// `key_export_approve` params.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveParams {
    wallet: String,
    /// The member that will receive the key (the one whose operator calls `key_export`).
    receiver: u16,
    /// This node's export credential.
    credential: String,
    /// How long the approval waits for the export (default 10 minutes, at most an hour).
    #[serde(default)]
    ttl_ms: Option<u64>,
}

/// `key_export_approve`: this member's operator allows one export of `wallet` to `receiver`.
pub async fn key_export_approve(p: ApproveParams, ctx: Arc<Ctx>) -> Result<Value, RpcError> {
    crate::export::check(&ctx.node.config, &p.credential)?;
    let wallet = wallet_id(&p.wallet)?;
    let ttl = Duration::from_millis(p.ttl_ms.unwrap_or(600_000)).min(actors::manager::MAX_APPROVAL);
    let (wallet2, receiver) = (wallet.clone(), p.receiver);
    ractor::call!(manager(&ctx)?, |reply| ManagerMsg::ApproveExport { wallet: wallet2, receiver, ttl, reply })
        .map_err(actor_err)??;
    Ok(json!({ "wallet": wallet.to_string(), "receiver": p.receiver, "ttl_ms": ttl.as_millis() as u64 }))
}

/// `key_export` params.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    wallet: String,
    /// This node's export credential.
    credential: String,
    /// The members (not this one) whose operators approved; with this node, at least t.
    approvers: Vec<u16>,
    /// How long to wait for the key (required: the key is given only to this call).
    wait_ms: u64,
}

/// `key_export`: the whole private key of `wallet`, put together here from this member's share
/// and the approvers'. Every participant journals `KeyExported` before its share leaves.
pub async fn key_export(p: ExportParams, ctx: Arc<Ctx>) -> Result<Value, RpcError> {
    crate::export::check(&ctx.node.config, &p.credential)?;
    let wallet = wallet_id(&p.wallet)?;
    let w = ctx.wallets.get(&wallet)?.ok_or_else(|| RpcError::NotFound(format!("wallet {wallet}")))?;
    if p.wait_ms == 0 || p.wait_ms > super::MAX_WAIT_MS {
        return Err(RpcError::InvalidParams(format!("wait_ms in 1..={}", super::MAX_WAIT_MS)));
    }
    let mut participants = p.approvers.clone();
    participants.push(ctx.me);
    participants.sort_unstable();
    participants.dedup();
    if participants.len() != p.approvers.len() + 1 || participants.len() < usize::from(w.threshold) {
        return Err(RpcError::InvalidParams(format!(
            "approvers: {} distinct other members, so that with this one they are at least t = {}",
            usize::from(w.threshold).saturating_sub(1),
            w.threshold
        )));
    }
    let (sink, key) = tokio::sync::oneshot::channel();
    let session = ractor::call!(manager(&ctx)?, |reply| ManagerMsg::ProposeExport {
        wallet: wallet.clone(),
        participants: participants.clone(),
        sink,
        reply
    })
    .map_err(actor_err)??;
    // A decline or a blame ends the session: its typed error. Done, the key is already sent.
    wait(&ctx, session, p.wait_ms).await?;
    let key = match tokio::time::timeout(Duration::from_secs(5), key).await {
        Ok(Ok(Ok(key))) => key,
        Ok(Ok(Err(why))) => return Err(RpcError::Unavailable(why)),
        Ok(Err(_)) | Err(_) => return Err(RpcError::Unavailable("the export ended without a key".into())),
    };
    tracing::warn!(%wallet, %session, ?participants, "KEY EXPORT: the whole key was handed to the caller");
    Ok(json!({ "wallet": wallet.to_string(), "scheme": w.scheme.to_string(), "session": session.to_string(),
        "public_key": hex::encode(&w.public_key.bytes), "participants": participants,
        "private_key": hex::encode(key.expose()), "encoding": encoding(w.scheme.as_str()) }))
}

/// What the exported bytes are, per scheme.
fn encoding(scheme: &str) -> &'static str {
    match scheme {
        "cggmp24" => "secp256k1 private key, 32 bytes big-endian (an Ethereum private key)",
        "frost-secp256k1-tr" => "secp256k1 private key of the Taproot output key Q, 32 bytes big-endian (rawtr)",
        "frost-ed25519" => "Ed25519 secret scalar, 32 bytes little-endian (not a seed: no seed exists)",
        _ => "the scheme's scalar encoding",
    }
}
