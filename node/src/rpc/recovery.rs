//! Recovery methods: proactive refresh of a wallet's shares.

use std::sync::Arc;

use actors::events::SessionStatus;
use actors::signers::Who;
use protocol::proposal::ProposalKind;
use serde::Deserialize;
use serde_json::{json, Value};

use super::methods::{propose, wait, wallet_id};
use super::views::SessionView;
use super::{Ctx, RpcError};

/// `wallet_refresh` params.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshParams {
    wallet: String,
    #[serde(default)]
    wait_ms: u64,
}

/// `wallet_refresh`: the whole committee replaces its shares of `wallet` with new ones of the
/// same key; the old shares (and presignatures made with them) stop working.
pub async fn wallet_refresh(p: RefreshParams, ctx: Arc<Ctx>) -> Result<Value, RpcError> {
    let wallet = wallet_id(&p.wallet)?;
    let w = ctx.wallets.get(&wallet)?.ok_or_else(|| RpcError::NotFound(format!("wallet {wallet}")))?;
    if let Some(staged) = ctx.reads.staged_refresh(&wallet)? {
        return Err(RpcError::Unavailable(format!(
            "refresh {staged} of {wallet} is still undecided here; it settles once a member answers"
        )));
    }
    let session = propose(&ctx, ProposalKind::Refresh { wallet: wallet.clone() }, Who::Everyone).await?;
    let done = wait(&ctx, session, p.wait_ms).await?;
    let mut out = json!({ "wallet": wallet.to_string(), "session": SessionView::from(&done) });
    if let SessionStatus::KeyReady(key) = &done.status {
        out["public_key"] = json!(hex::encode(&key.bytes));
        out["unchanged"] = json!(key == &w.public_key);
    }
    Ok(out)
}
