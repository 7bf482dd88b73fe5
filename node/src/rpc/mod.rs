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
pub mod spec;
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
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub use error::RpcError;
pub use wallet::event_json;

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
    /// The archive sink's source label and status, when `[archive]` is on.
    pub archive: Option<(String, Arc<crate::archive::sink::ArchiveStatus>)>,
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

/// Registers methods and records their descriptions ([`spec`]) from the same types.
struct Registrar {
    module: RpcModule<Ctx>,
    docs: Vec<spec::MethodDoc>,
}

impl Registrar {
    /// Registers `name`, read into `P` and answered from `T`, answering `errors` besides the
    /// guard's codes.
    fn add<P, T, F, Fut>(
        &mut self,
        name: &'static str,
        summary: &'static str,
        errors: &[i32],
        f: F,
    ) -> Result<(), String>
    where
        P: DeserializeOwned + JsonSchema + Send + 'static,
        T: Serialize + JsonSchema + 'static,
        F: Fn(P, Arc<Ctx>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<T, RpcError>> + Send + 'static,
    {
        let access = access::of(name);
        self.docs.push(spec::MethodDoc::new::<P, T>(name, summary, access, errors));
        self.module
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
                            Err(e) => {
                                Err(RpcError::InvalidParams(format!("{e} (params are an object of named fields)")))
                            }
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
}

/// The method that describes the others.
pub const DISCOVER: &str = "rpc.discover";

/// Every method, and `rpc.discover` describing them all (itself included). Fails if a method
/// were registered without its description.
pub fn module(ctx: Ctx) -> Result<RpcModule<Ctx>, String> {
    use error::{
        ALREADY_EXISTS as EXISTS, BACKUP_DAMAGED, BACKUP_PASSPHRASE, EXPORT_CREDENTIAL, EXPORT_DISABLED, NOT_FOUND,
        SETUP_REQUIRED,
    };
    use spec::CEREMONY;
    let mut r = Registrar { module: RpcModule::new(ctx), docs: Vec::new() };
    let keygen: Vec<i32> = CEREMONY.iter().copied().chain([SETUP_REQUIRED, EXISTS]).collect();
    let backup = [BACKUP_PASSPHRASE, BACKUP_DAMAGED, error::STORE_REFUSES];
    let export: Vec<i32> = CEREMONY.iter().copied().chain([EXPORT_DISABLED, EXPORT_CREDENTIAL]).collect();
    r.add(
        "node_info",
        "This node: party, peers connected, schemes, chains, store, breaker, pool",
        &[],
        methods::node_info,
    )?;
    r.add(
        "node_peers",
        "Every other member: connection, health score, reputation, latency, blame",
        &[],
        methods::node_peers,
    )?;
    r.add(
        "committee_setup",
        "The one-time committee setup a scheme needs before its first keygen (CGGMP24)",
        CEREMONY,
        methods::committee_setup,
    )?;
    r.add(
        "wallet_create",
        "A dealerless keygen by the whole committee: a new wallet",
        &keygen,
        methods::wallet_create,
    )?;
    r.add(
        "wallet_refresh",
        "New shares of the same key for every member (proactive refresh)",
        CEREMONY,
        recovery::wallet_refresh,
    )?;
    r.add(
        "wallet_repair",
        "Rebuild this member's lost FROST share with the help of t others",
        CEREMONY,
        recovery::wallet_repair,
    )?;
    r.add("wallet_reshare", "Move a wallet's key to a new threshold or member set", CEREMONY, reshare::wallet_reshare)?;
    r.add(
        "key_export_approve",
        "Approve the export of a wallet's whole key (needs the export credential)",
        &export,
        reshare::key_export_approve,
    )?;
    r.add("key_export", "Export a wallet's whole key once every member approved", &export, reshare::key_export)?;
    r.add("backup_create", "Back the running node up into one sealed file", &backup, recovery::backup_create)?;
    r.add(
        "backup_restore",
        "Check a backup file against this node (restore runs offline)",
        &backup,
        recovery::backup_restore,
    )?;
    r.add("wallet_list", "The wallets held here, with their addresses", &[], methods::wallet_list)?;
    r.add(
        "wallet_get",
        "One wallet: key, addresses, what it signed today, presignatures ready",
        &[NOT_FOUND],
        methods::wallet_get,
    )?;
    r.add(
        "sign",
        "A threshold signature with a wallet (message, digest, EIP-191 or EIP-712)",
        CEREMONY,
        methods::sign,
    )?;
    r.add(
        "presign_discard",
        "Discard every presignature of a wallet held here",
        &[NOT_FOUND],
        methods::presign_discard,
    )?;
    r.add(
        "session_get",
        "A ceremony as this node knows it, with its progress; optionally wait for its end",
        CEREMONY,
        methods::session_get,
    )?;
    r.add("session_list", "The most recent ceremonies, newest first", &[], methods::session_list)?;
    r.add(
        "journal_verify",
        "Re-hash the whole event journal and say whether its chain holds",
        &[],
        methods::journal_verify,
    )?;
    r.add(
        "wallet_transfer",
        "Build, have every signer review, sign, broadcast and follow a transfer",
        CEREMONY,
        wallet::wallet_transfer,
    )?;
    r.add(
        "wallet_sweep",
        "Everything a wallet holds on a chain, less the fee, in one transfer",
        CEREMONY,
        wallet::wallet_sweep,
    )?;
    r.add(
        "tx_get",
        "A transfer's steps from this node's journal; optionally wait for its end",
        &[NOT_FOUND, error::TIMEOUT],
        wallet::tx_get,
    )?;
    r.add(
        "wallet_history",
        "A wallet's journaled transfers, newest first, paginated",
        &[NOT_FOUND],
        wallet::wallet_history,
    )?;
    r.add(
        "wallet_balance",
        "A wallet's balance on every chain that takes its keys",
        &[NOT_FOUND],
        wallet::wallet_balance,
    )?;
    r.add(
        "audit_trail",
        "Every journaled event in a time range, with its place in the hash chain",
        &[],
        wallet::audit_trail,
    )?;
    r.docs.push(spec::MethodDoc::new::<methods::NoParams, Value>(
        DISCOVER,
        "This document (OpenRPC)",
        access::of(DISCOVER),
        &[],
    ));
    let document = spec::openrpc(&r.docs);
    r.docs.pop();
    r.add(DISCOVER, "This document (OpenRPC)", &[], move |_: methods::NoParams, _| {
        let document = document.clone();
        async move { Ok(document) }
    })?;
    let registered: std::collections::BTreeSet<&str> = r.module.method_names().collect();
    let described: std::collections::BTreeSet<&str> = r.docs.iter().map(|d| d.name).collect();
    if registered != described {
        return Err(format!("admin RPC: registered {registered:?} but described {described:?}"));
    }
    Ok(r.module)
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
