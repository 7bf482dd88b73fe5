//! Recovery methods: proactive refresh of a wallet's shares, and backups of this node.

use std::sync::Arc;

use actors::events::SessionStatus;
use actors::signers::Who;
use protocol::proposal::ProposalKind;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use super::methods::{propose, wait, wallet_id};
use super::views::SessionView;
use super::{Ctx, RpcError};

/// `wallet_refresh` params.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshParams {
    wallet: String,
    /// CGGMP24: also make new Paillier keys (each member spends one safe-prime set).
    #[serde(default)]
    aux: bool,
    #[serde(default)]
    wait_ms: u64,
}

/// `wallet_refresh`: the whole committee replaces its shares of `wallet` with new ones of the
/// same key; the old shares (and presignatures made with them) stop working.
pub async fn wallet_refresh(p: RefreshParams, ctx: Arc<Ctx>) -> Result<Value, RpcError> {
    let wallet = wallet_id(&p.wallet)?;
    if !p.aux {
        return renew(&ctx, ProposalKind::Refresh { wallet }, p.wait_ms).await;
    }
    let w = ctx.wallets.get(&wallet)?.ok_or_else(|| RpcError::NotFound(format!("wallet {wallet}")))?;
    if !ctx.registry.get(&w.scheme).map_err(|e| RpcError::InvalidParams(e.to_string()))?.refreshes_aux() {
        return Err(RpcError::InvalidParams(format!("{} has no auxiliary info to refresh", w.scheme)));
    }
    if ctx.reads.primes_available()? == 0 {
        return Err(RpcError::Unavailable("no safe-prime set is ready here (see ceremony.primes_ready)".into()));
    }
    renew(&ctx, ProposalKind::RefreshAux { wallet }, p.wait_ms).await
}

/// A refresh or reshare of the wallet `kind` names by the whole committee: proposed once no
/// earlier one is undecided here; done, the key it kept.
pub(super) async fn renew(ctx: &Ctx, kind: ProposalKind, wait_ms: u64) -> Result<Value, RpcError> {
    let (ProposalKind::Refresh { wallet } | ProposalKind::RefreshAux { wallet } | ProposalKind::Reshare { wallet, .. }) =
        &kind
    else {
        return Err(RpcError::InvalidParams("not a refresh".into()));
    };
    let wallet = wallet.clone();
    let w = ctx.wallets.get(&wallet)?.ok_or_else(|| RpcError::NotFound(format!("wallet {wallet}")))?;
    if let Some(staged) = ctx.reads.staged_refresh(&wallet)? {
        return Err(RpcError::Unavailable(format!(
            "refresh {staged} of {wallet} is still undecided here; it settles once a member answers"
        )));
    }
    let session = propose(ctx, kind, Who::Everyone).await?;
    let done = wait(ctx, session, wait_ms).await?;
    let mut out = json!({ "wallet": wallet.to_string(), "session": SessionView::from(&done),
        "old_threshold": w.threshold });
    if let SessionStatus::KeyReady(key) = &done.status {
        out["public_key"] = json!(hex::encode(&key.bytes));
        out["unchanged"] = json!(key == &w.public_key);
    }
    Ok(out)
}

/// `backup_create` params.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupCreateParams {
    /// File name inside `[backup] dir` (default `backup-p<party>-<ms>.mpcbak`).
    #[serde(default)]
    name: Option<String>,
}

/// `backup_create`: a consistent backup of this running node, sealed under the passphrase in
/// `[backup] passphrase_env`, written into `[backup] dir`.
pub async fn backup_create(p: BackupCreateParams, ctx: Arc<Ctx>) -> Result<Value, RpcError> {
    let config = &ctx.node.config;
    let name = match p.name {
        Some(n) if n.is_empty() || n.contains('/') || n.starts_with('.') => {
            return Err(RpcError::InvalidParams(format!("{n:?}: a plain file name")))
        }
        Some(n) => n,
        None => format!("backup-p{}-{}.mpcbak", ctx.me, now_ms()),
    };
    let out = config.in_data_dir(&config.backup.dir).join(name);
    let passphrase = crate::backup::passphrase(&config.backup.passphrase_env)?;
    let node = ctx.node.clone();
    let path = out.clone();
    let (files, bytes) =
        tokio::task::spawn_blocking(move || crate::backup::create(&node.config, &node.db, &passphrase, &path))
            .await
            .map_err(|e| RpcError::Unavailable(e.to_string()))??;
    tracing::info!(file = %out.display(), files, bytes, "backup written");
    Ok(json!({ "file": out.display().to_string(), "files": files, "bytes": bytes }))
}

/// `backup_restore` params.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupRestoreParams {
    file: String,
    /// Absent: only check the file (passphrase, every byte); present: restore into it.
    #[serde(default)]
    data_dir: Option<String>,
}

/// `backup_restore`: checks a backup with this node's backup passphrase and, given a new empty
/// `data_dir`, restores it there for a node to run from (a standby, a move to a new machine).
/// A running node never restores over its own data: stop it and use `mpc-node backup restore`.
pub async fn backup_restore(p: BackupRestoreParams, ctx: Arc<Ctx>) -> Result<Value, RpcError> {
    let config = &ctx.node.config;
    let passphrase = crate::backup::passphrase(&config.backup.passphrase_env)?;
    let file = std::path::PathBuf::from(&p.file);
    let target = p.data_dir.map(std::path::PathBuf::from);
    if let Some(t) = &target {
        if !t.is_absolute() {
            return Err(RpcError::InvalidParams("data_dir must be an absolute path".into()));
        }
        if t.starts_with(&config.node.data_dir) || config.node.data_dir.starts_with(t) {
            return Err(RpcError::InvalidParams("never into this running node's own data directory".into()));
        }
    }
    let out = tokio::task::spawn_blocking(move || {
        let archive = crate::backup::open(&file, &passphrase)?;
        let restored = target.as_deref().map(|t| crate::backup::restore(&archive, t)).transpose()?;
        Ok::<_, crate::backup::BackupError>((archive.party, archive.created_ms, archive.files.len(), restored))
    })
    .await
    .map_err(|e| RpcError::Unavailable(e.to_string()))??;
    let (party, created_ms, files, restored) = out;
    Ok(json!({ "party": party, "created_ms": created_ms, "files": files,
        "config": restored.map(|c| c.display().to_string()) }))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// `wallet_repair` params.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepairParams {
    wallet: String,
    scheme: String,
    threshold: u16,
    /// The helpers (at least `threshold`); default: the first connected members.
    #[serde(default)]
    helpers: Option<Vec<u16>>,
    #[serde(default)]
    wait_ms: u64,
}

/// `wallet_repair`: called on the member that lost its share of `wallet` (a new machine with
/// the member's identity, or its data wiped): t helpers give it its share back, learning
/// nothing of it. FROST wallets only (see the README's recovery section).
pub async fn wallet_repair(p: RepairParams, ctx: Arc<Ctx>) -> Result<Value, RpcError> {
    let wallet = wallet_id(&p.wallet)?;
    let scheme = ctx.registry.by_name(&p.scheme).map_err(|e| RpcError::InvalidParams(e.to_string()))?;
    if !scheme.repairs() {
        return Err(RpcError::InvalidParams(format!(
            "{} shares are not repaired: restore the member's backup, or rekey and sweep (README, recovery)",
            p.scheme
        )));
    }
    if ctx.wallets.get(&wallet)?.is_some() {
        return Err(RpcError::AlreadyExists(format!("this member holds its share of {wallet}")));
    }
    let wanted = p.helpers.map(|mut h| {
        h.push(ctx.me);
        h
    });
    let who = Who::Signers { wanted, threshold: p.threshold.saturating_add(1) };
    let kind =
        ProposalKind::Repair { wallet: wallet.clone(), scheme: scheme.id(), threshold: p.threshold, lost: ctx.me };
    let session = propose(&ctx, kind, who).await?;
    let done = wait(&ctx, session, p.wait_ms).await?;
    let mut out = json!({ "wallet": wallet.to_string(), "session": SessionView::from(&done) });
    if let SessionStatus::KeyReady(key) = &done.status {
        out["public_key"] = json!(hex::encode(&key.bytes));
    }
    Ok(out)
}
