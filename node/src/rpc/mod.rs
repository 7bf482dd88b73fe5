//! The admin JSON-RPC 2.0 endpoint (HTTP, jsonrpsee), every call behind the bearer token.
//! Methods take named params (an object); unknown params are refused. Long ceremonies return
//! a session id at once, or wait up to `wait_ms` for the result.

pub mod auth;
pub mod error;
mod methods;
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
    module
        .register_async_method(name, move |params, ctx, _| {
            let f = f.clone();
            async move {
                let raw: serde_json::Value = match params.as_str() {
                    None => serde_json::json!({}),
                    Some(_) => params.parse().unwrap_or(serde_json::Value::Null),
                };
                let result = match serde_json::from_value::<P>(raw) {
                    Ok(p) => f(p, ctx.clone()).await,
                    Err(e) => Err(RpcError::InvalidParams(format!("{e} (params are an object of named fields)"))),
                };
                let outcome = match &result {
                    Ok(_) => "ok",
                    Err(e) => e.outcome(),
                };
                ctx.metrics.rpc_call(name, outcome);
                result
                    .and_then(|v| serde_json::to_value(v).map_err(|e| RpcError::Unavailable(e.to_string())))
                    .map_err(ErrorObjectOwned::from)
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
    register(&mut m, "wallet_list", methods::wallet_list)?;
    register(&mut m, "wallet_get", methods::wallet_get)?;
    register(&mut m, "sign", methods::sign)?;
    register(&mut m, "session_get", methods::session_get)?;
    register(&mut m, "session_list", methods::session_list)?;
    register(&mut m, "journal_verify", methods::journal_verify)?;
    register(&mut m, "wallet_transfer", wallet::wallet_transfer)?;
    register(&mut m, "tx_get", wallet::tx_get)?;
    register(&mut m, "wallet_history", wallet::wallet_history)?;
    register(&mut m, "wallet_balance", wallet::wallet_balance)?;
    register(&mut m, "audit_trail", wallet::audit_trail)?;
    Ok(m)
}

/// Starts the endpoint on `addr` with bearer-token authentication.
pub async fn serve(addr: SocketAddr, token: &str, ctx: Ctx) -> Result<(SocketAddr, ServerHandle), String> {
    let auth = auth::BearerAuth::new(token, ctx.metrics.clone());
    let module = module(ctx)?;
    let config = jsonrpsee::server::ServerConfig::builder().http_only().max_request_body_size(1024 * 1024).build();
    let server = Server::builder()
        .set_config(config)
        .set_http_middleware(tower::ServiceBuilder::new().layer(auth))
        .build(addr)
        .await
        .map_err(|e| format!("admin RPC on {addr}: {e}"))?;
    let local = server.local_addr().map_err(|e| e.to_string())?;
    Ok((local, server.start(module)))
}
