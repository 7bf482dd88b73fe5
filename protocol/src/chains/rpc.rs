//! The chain RPC port: what the wallet service needs from a chain node. The JSON-RPC adapters
//! (over HTTP, with timeouts, retries and typed errors) live in the `network` crate; tests may
//! use an honest double.

use serde::{Deserialize, Serialize};

use super::{ChainContext, TransferRequest};

/// Why a chain node call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// Could not reach the node, or it timed out (after retries).
    #[error("chain node unreachable: {0}")]
    Unreachable(String),
    /// The node answered with a JSON-RPC error.
    #[error("chain node error {code}: {message}")]
    Node {
        /// JSON-RPC error code.
        code: i64,
        /// Its message.
        message: String,
    },
    /// The answer was not what the method returns (malformed, wrong type, too large).
    #[error("bad response: {0}")]
    BadResponse(String),
    /// The node is on another chain or network than configured.
    #[error("wrong chain: expected {expected}, node reports {actual}")]
    WrongChain {
        /// Configured.
        expected: String,
        /// Reported.
        actual: String,
    },
}

/// Where a broadcast transaction stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxStatus {
    /// Not known to the node (yet, or dropped).
    Unknown,
    /// In the mempool.
    Pending,
    /// Included; `confirmations` deep.
    Confirmed {
        /// Block height or slot.
        block: u64,
        /// Depth.
        confirmations: u64,
    },
    /// Included but failed, or rejected.
    Failed {
        /// The chain's reason.
        reason: String,
    },
}

/// A chain node, as the wallet service sees it. Blocking calls; the actor layer runs them off
/// its executor threads.
pub trait ChainRpc: Send + Sync {
    /// Checks that the node is on the configured chain or network.
    fn check_chain(&self) -> Result<(), RpcError>;
    /// State needed to build `request` from `address`.
    fn context(&self, address: &str, request: &TransferRequest) -> Result<ChainContext, RpcError>;
    /// Sends a signed transaction; returns the chain's id for it.
    fn broadcast(&self, raw: &[u8]) -> Result<String, RpcError>;
    /// Where a transaction stands.
    fn status(&self, txid: &str) -> Result<TxStatus, RpcError>;
    /// Balance of `address`, smallest unit.
    fn balance(&self, address: &str) -> Result<u128, RpcError>;
}
