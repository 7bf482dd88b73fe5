//! JSON-RPC over HTTP to chain nodes.

mod bitcoin;
mod client;
mod ethereum;
mod solana;

pub use bitcoin::BitcoinCoreRpc;
pub use client::{ClientConfig, JsonRpcClient};
pub use ethereum::EthereumRpc;
pub use solana::SolanaRpc;

use protocol::chains::rpc::RpcError;

/// Parses an Ethereum hex quantity (`0x1a`).
pub(crate) fn quantity(v: &serde_json::Value, what: &str) -> Result<u128, RpcError> {
    let s = v.as_str().ok_or_else(|| RpcError::BadResponse(format!("{what}: expected a hex string, got {v}")))?;
    let digits = s.strip_prefix("0x").ok_or_else(|| RpcError::BadResponse(format!("{what}: {s:?} lacks 0x")))?;
    if digits.is_empty() || digits.len() > 32 {
        return Err(RpcError::BadResponse(format!("{what}: {s:?} is not a quantity")));
    }
    u128::from_str_radix(digits, 16).map_err(|_| RpcError::BadResponse(format!("{what}: {s:?} is not hex")))
}

pub(crate) fn quantity_u64(v: &serde_json::Value, what: &str) -> Result<u64, RpcError> {
    u64::try_from(quantity(v, what)?).map_err(|_| RpcError::BadResponse(format!("{what}: exceeds u64")))
}
