//! Solana JSON-RPC: `getGenesisHash`, `getLatestBlockhash`, `sendTransaction` (base64),
//! `getSignatureStatuses`, `getBalance`.

use base64::Engine;
use protocol::chains::rpc::{ChainRpc, RpcError, TxStatus};
use protocol::chains::{ChainContext, TransferRequest};
use serde_json::{json, Value};

use super::{ClientConfig, JsonRpcClient};

/// A Solana RPC node.
pub struct SolanaRpc {
    client: JsonRpcClient,
    genesis_hash: String,
}

impl SolanaRpc {
    /// A node whose `getGenesisHash` must be `genesis_hash` (the cluster's identity).
    pub fn new(config: ClientConfig, genesis_hash: impl Into<String>) -> Self {
        Self { client: JsonRpcClient::new(config), genesis_hash: genesis_hash.into() }
    }

    /// The raw client, for calls outside the port (tests, `requestAirdrop`).
    pub fn client(&self) -> &JsonRpcClient {
        &self.client
    }
}

fn u128_of(v: &Value, what: &str) -> Result<u128, RpcError> {
    v.as_u64().map(u128::from).ok_or_else(|| RpcError::BadResponse(format!("{what}: expected an integer, got {v}")))
}

impl ChainRpc for SolanaRpc {
    fn check_chain(&self) -> Result<(), RpcError> {
        let actual = self.client.call("getGenesisHash", json!([]))?;
        match actual.as_str() {
            Some(h) if h == self.genesis_hash => Ok(()),
            Some(h) => Err(RpcError::WrongChain { expected: self.genesis_hash.clone(), actual: h.into() }),
            None => Err(RpcError::BadResponse(format!("genesis hash: {actual}"))),
        }
    }

    fn context(&self, _address: &str, _request: &TransferRequest) -> Result<ChainContext, RpcError> {
        let r = self.client.call("getLatestBlockhash", json!([{ "commitment": "finalized" }]))?;
        let hash = r
            .pointer("/value/blockhash")
            .and_then(Value::as_str)
            .ok_or_else(|| RpcError::BadResponse(format!("getLatestBlockhash: {r}")))?;
        Ok(ChainContext::Blockhash { recent_blockhash: hash.to_owned() })
    }

    fn broadcast(&self, raw: &[u8]) -> Result<String, RpcError> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        let sig = self.client.call("sendTransaction", json!([b64, { "encoding": "base64" }]))?;
        sig.as_str().map(str::to_owned).ok_or_else(|| RpcError::BadResponse(format!("signature: {sig}")))
    }

    fn status(&self, txid: &str) -> Result<TxStatus, RpcError> {
        let r = self.client.call("getSignatureStatuses", json!([[txid], { "searchTransactionHistory": true }]))?;
        let st = r.pointer("/value/0").ok_or_else(|| RpcError::BadResponse(format!("getSignatureStatuses: {r}")))?;
        if st.is_null() {
            return Ok(TxStatus::Unknown);
        }
        if let Some(err) = st.get("err").filter(|e| !e.is_null()) {
            return Ok(TxStatus::Failed { reason: err.to_string() });
        }
        let slot = st.get("slot").and_then(Value::as_u64).unwrap_or(0);
        match st.get("confirmationStatus").and_then(Value::as_str) {
            Some("finalized") => Ok(TxStatus::Confirmed { block: slot, confirmations: u64::from(u32::MAX) }),
            Some("confirmed") => Ok(TxStatus::Confirmed {
                block: slot,
                confirmations: st.get("confirmations").and_then(Value::as_u64).unwrap_or(1),
            }),
            _ => Ok(TxStatus::Pending),
        }
    }

    fn balance(&self, address: &str) -> Result<u128, RpcError> {
        let r = self.client.call("getBalance", json!([address]))?;
        u128_of(r.get("value").unwrap_or(&Value::Null), "getBalance")
    }
}
