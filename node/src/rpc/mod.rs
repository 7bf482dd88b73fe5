//! The admin JSON-RPC 2.0 endpoint (HTTP, jsonrpsee), every call behind the bearer token.
//! Methods take named params (an object); unknown params are refused. Long ceremonies return
//! a session id at once, or wait up to `wait_ms` for the result.

pub mod access;
pub mod auth;
pub mod error;
pub mod keys;
mod methods;
mod recovery;
mod reshare;
mod views;
mod wallet;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use actors::reads::ReadSide;
use actors::supervisor::NodeRefs;
use actors::transfers::ChainEndpoints;
use actors::wallets::WalletIndex;
use jsonrpsee::server::{RpcModule, Server, ServerHandle};
use jsonrpsee::types::ErrorObjectOwned;
use protocol::schemes::Registry;
use protocol::PartyIndex;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use error::RpcError;

use crate::metrics::Metrics;

/// A committee member, as the config names it.
#[derive(Clone, Debug)]
pub struct MemberInfo {
    /// Its party index.
    pub party: PartyIndex,
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Its multiaddr.
    pub address: String,
}

/// What the methods reach.
pub struct Ctx {
    /// This node.
    pub me: PartyIndex,
    /// This node's peer id.
    pub peer_id: String,
    /// Every member.
    pub committee: Vec<MemberInfo>,
    /// The actor tree.
    pub refs: NodeRefs,
    /// Schemes.
    pub registry: Arc<Registry>,
    /// Chains: encoders, node adapters, limits.
    pub endpoints: Arc<ChainEndpoints>,
    /// Wallets held here.
    pub wallets: Arc<WalletIndex>,
    /// The read side.
    pub reads: ReadSide,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// When the node started.
    pub started: Instant,
    /// The limiter (client buckets).
    pub limiter: actors::supervisor::Slot<actors::limiter::LimiterMsg>,
    /// This node's limits (costs, and what `wallet_get` reports).
    pub limits: protocol::limits::LimitsConfig,
    /// Peer health, as the health actors publish it.
    pub health: actors::health::Board,
    /// The DKG circuit breaker's settings.
    pub breaker: protocol::breaker::BreakerConfig,
    /// The presignature pool's settings.
    pub presign: actors::manager::PoolConfig,
    /// The faults this node injects, described (`None`: off).
    pub faults: Option<String>,
    /// The database and config, for backups.
    pub node: Arc<NodeFiles>,
}

/// What a backup of the running node reads.
pub struct NodeFiles {
    /// The database.
    pub db: store::db::Db,
    /// The config the node runs with.
    pub config: crate::config::Config,
}

/// Largest `wait_ms` accepted.
pub const MAX_WAIT_MS: u64 = 600_000;

fn register<P, T, F, Fut>(module: &mut RpcModule<Ctx>, name: &'static str, f: F) -> Result<(), String>
where
    P: DeserializeOwned + Send + 'static,
    T: Serialize + 'static,
    F: Fn(P, Arc<Ctx>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<T, RpcError>> + Send + 'static,
{
    let access = access::of(name);
    module
        .register_async_method(name, move |params, ctx, ext| {
            let f = f.clone();
            async move {
                let raw: serde_json::Value = match params.as_str() {
                    None => serde_json::json!({}),
                    Some(_) => params.parse().unwrap_or(serde_json::Value::Null),
                };
                // Named params only: a positional array would slip past the wallet check.
                let admitted = match raw.is_object() {
                    true => access::admit(&ctx, &ext, name, access, &raw).await,
                    false => Err(RpcError::InvalidParams("params are an object of named fields".into())),
                };
                let result = match admitted {
                    Err(e) => Err(e),
                    Ok(caller) => match serde_json::from_value::<P>(raw) {
                        Ok(p) => match f(p, ctx.clone()).await {
                            Ok(v) => serde_json::to_value(v)
                                .map_err(|e| RpcError::Unavailable(e.to_string()))
                                .and_then(|v| access::release(&caller, access, v)),
                            Err(e) => Err(e),
                        },
                        Err(e) => Err(RpcError::InvalidParams(format!("{e} (params are an object of named fields)"))),
                    },
                };
                let outcome = match &result {
                    Ok(_) => "ok",
                    Err(e) => e.outcome(),
                };
                ctx.metrics.rpc_call(name, outcome);
                result.map_err(ErrorObjectOwned::from)
            }
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Every method.
pub fn module(ctx: Ctx) -> Result<RpcModule<Ctx>, String> {
    let mut m = RpcModule::new(ctx);
    register(&mut m, "node_info", methods::node_info)?;
    register(&mut m, "node_peers", methods::node_peers)?;
    register(&mut m, "committee_setup", methods::committee_setup)?;
    register(&mut m, "wallet_create", methods::wallet_create)?;
    register(&mut m, "wallet_refresh", recovery::wallet_refresh)?;
    register(&mut m, "wallet_repair", recovery::wallet_repair)?;
    register(&mut m, "wallet_reshare", reshare::wallet_reshare)?;
    register(&mut m, "key_export_approve", reshare::key_export_approve)?;
    register(&mut m, "key_export", reshare::key_export)?;
    register(&mut m, "backup_create", recovery::backup_create)?;
    register(&mut m, "backup_restore", recovery::backup_restore)?;
    register(&mut m, "wallet_list", methods::wallet_list)?;
    register(&mut m, "wallet_get", methods::wallet_get)?;
    register(&mut m, "sign", methods::sign)?;
    register(&mut m, "presign_discard", methods::presign_discard)?;
    register(&mut m, "session_get", methods::session_get)?;
    register(&mut m, "session_list", methods::session_list)?;
    register(&mut m, "journal_verify", methods::journal_verify)?;
    register(&mut m, "wallet_transfer", wallet::wallet_transfer)?;
    register(&mut m, "wallet_sweep", wallet::wallet_sweep)?;
    register(&mut m, "tx_get", wallet::tx_get)?;
    register(&mut m, "wallet_history", wallet::wallet_history)?;
    register(&mut m, "wallet_balance", wallet::wallet_balance)?;
    register(&mut m, "audit_trail", wallet::audit_trail)?;
    Ok(m)
}

/// Starts the endpoint on `addr`: every request authenticated (admin token or API key) and
/// limited per key and per client address.
pub async fn serve(addr: SocketAddr, guard: auth::Guard, ctx: Ctx) -> Result<(SocketAddr, ServerHandle), String> {
    let methods: jsonrpsee::server::Methods = module(ctx)?.into();
    let config = jsonrpsee::server::ServerConfig::builder().http_only().max_request_body_size(1024 * 1024).build();
    let builder = Server::builder().set_config(config).to_service_builder();
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("admin RPC on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let (stop, handle) = jsonrpsee::server::stop_channel();
    tokio::spawn(async move {
        loop {
            let (socket, remote) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "admin RPC: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = stop.clone().shutdown() => break,
            };
            // Small answers go out at once (no Nagle delay on a request-response socket).
            if let Err(e) = socket.set_nodelay(true) {
                tracing::debug!(error = %e, "admin RPC: TCP_NODELAY not set");
            }
            let service = auth::Authenticated {
                inner: builder.clone().build(methods.clone(), stop.clone()),
                guard: guard.clone(),
                addr: remote.ip(),
            };
            tokio::spawn(jsonrpsee::server::serve_with_graceful_shutdown(socket, service, stop.clone().shutdown()));
        }
    });
    Ok((local, handle))
}
