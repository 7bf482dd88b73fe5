//! The chains this node signs on, from `[[chain]]`: each chain's encoder, its node adapter
//! (if an endpoint is configured) and this member's limits. The only place that maps chain
//! names to adapters.

use std::collections::BTreeMap;
use std::sync::Arc;

use network::chain_rpc::{BitcoinCoreRpc, ClientConfig, EthereumRpc, SolanaRpc};
use protocol::chains::rpc::{ChainRpc, RpcError};
use protocol::wallet::{ChainLimits, TransferPolicy};

use crate::config::{amount, Config, ConfigError};

use actors::transfers::{ChainEndpoint as Endpoint, ChainEndpoints as Endpoints};

/// Builds the endpoints (no network calls).
pub fn endpoints(config: &Config) -> Result<Endpoints, ConfigError> {
    let network = protocol::chains::bitcoin_network(&config.chains.bitcoin_network).ok_or_else(|| {
        ConfigError::Invalid { field: "chains.bitcoin_network".into(), reason: "unknown network".into() }
    })?;
    let chains = protocol::chains::registry(network);
    let mut by_name = BTreeMap::new();
    let mut policy = TransferPolicy::default();
    for (i, c) in config.chain.iter().enumerate() {
        let field = |f: &str| format!("chain[{i}].{f}");
        let chain = chains.get(&c.name).ok_or_else(|| ConfigError::Invalid {
            field: field("name"),
            reason: format!("unknown chain {}", c.name),
        })?;
        let rpc: Option<Arc<dyn ChainRpc>> = match &c.rpc_url {
            None => None,
            Some(url) => {
                let mut client = ClientConfig::new(url.clone());
                Some(match c.name.as_str() {
                    "ethereum" => {
                        let id = c.network.parse().map_err(|_| ConfigError::Invalid {
                            field: field("network"),
                            reason: "Ethereum's network is its chain id".into(),
                        })?;
                        Arc::new(EthereumRpc::new(client, id).legacy(c.legacy))
                    }
                    "solana" => Arc::new(SolanaRpc::new(client, c.network.clone())),
                    _ => {
                        if let (Some(user), Some(var)) = (&c.rpc_user, &c.rpc_password_env) {
                            let password = std::env::var(var).map_err(|_| ConfigError::Invalid {
                                field: field("rpc_password_env"),
                                reason: format!("${var} is not set"),
                            })?;
                            client.basic_auth = Some((user.clone(), password));
                        }
                        Arc::new(BitcoinCoreRpc::new(client, c.network.clone(), c.fallback_fee_sat_vb))
                    }
                })
            }
        };
        let limits = ChainLimits {
            // Only Ethereum's summary names its network by what the config holds (chain id).
            network: (c.name == "ethereum").then(|| c.network.clone()),
            max_amount: amount(&field("max_amount"), &c.max_amount)?,
            fee_ceiling: amount(&field("fee_ceiling"), &c.fee_ceiling)?,
        };
        policy.chains.insert(c.name.clone(), limits);
        by_name.insert(c.name.clone(), Endpoint { chain, rpc, confirmations: c.confirmations });
    }
    Ok(Endpoints { by_name, policy, chains })
}

/// Checks every configured chain node: a node on another chain is an error; one that cannot
/// be reached is only logged (it may come up later).
pub fn check(endpoints: &Endpoints) -> Result<(), String> {
    for (name, e) in &endpoints.by_name {
        let Some(rpc) = &e.rpc else { continue };
        match rpc.check_chain() {
            Ok(()) => tracing::info!(chain = %name, "chain node checked"),
            Err(RpcError::WrongChain { expected, actual }) => {
                return Err(format!("chain {name}: the node reports {actual}, the config says {expected}"))
            }
            Err(e) => tracing::warn!(chain = %name, error = %e, "chain node not checked (unreachable?)"),
        }
    }
    Ok(())
}
