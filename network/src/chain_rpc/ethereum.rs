//! Ethereum JSON-RPC: `eth_chainId`, `eth_getTransactionCount`, fees (`eth_getBlockByNumber`
//! base fee, `eth_maxPriorityFeePerGas`, `eth_gasPrice`), `eth_estimateGas`,
//! `eth_sendRawTransaction`, `eth_getTransactionReceipt`, `eth_blockNumber`, `eth_getBalance`.

use protocol::chains::rpc::{ChainRpc, RpcError, TxStatus};
use protocol::chains::{ChainContext, TransferRequest};
use serde_json::{json, Value};

use super::{quantity, quantity_u64, ClientConfig, JsonRpcClient};

/// An Ethereum node (geth, anvil, a provider).
pub struct EthereumRpc {
    client: JsonRpcClient,
    chain_id: u64,
    legacy: bool,
}

impl EthereumRpc {
    /// A node that must report `chain_id`.
    pub fn new(config: ClientConfig, chain_id: u64) -> Self {
        Self { client: JsonRpcClient::new(config), chain_id, legacy: false }
    }

    /// Builds EIP-155 legacy transactions at `eth_gasPrice` instead of EIP-1559 ones.
    pub fn legacy(mut self, legacy: bool) -> Self {
        self.legacy = legacy;
        self
    }

    /// The raw client, for calls outside the port (tests, dev-node helpers).
    pub fn client(&self) -> &JsonRpcClient {
        &self.client
    }
}

impl ChainRpc for EthereumRpc {
    fn check_chain(&self) -> Result<(), RpcError> {
        let actual = quantity_u64(&self.client.call("eth_chainId", json!([]))?, "eth_chainId")?;
        if actual == self.chain_id {
            Ok(())
        } else {
            Err(RpcError::WrongChain { expected: self.chain_id.to_string(), actual: actual.to_string() })
        }
    }

    fn context(&self, address: &str, request: &TransferRequest) -> Result<ChainContext, RpcError> {
        self.check_chain()?;
        let nonce = quantity_u64(
            &self.client.call("eth_getTransactionCount", json!([address, "pending"]))?,
            "eth_getTransactionCount",
        )?;
        let value = format!("{:#x}", request.amount);
        let gas_limit = quantity_u64(
            &self.client.call("eth_estimateGas", json!([{ "from": address, "to": request.to, "value": value }]))?,
            "eth_estimateGas",
        )?;
        if self.legacy {
            let gas_price = quantity(&self.client.call("eth_gasPrice", json!([]))?, "eth_gasPrice")?;
            return Ok(ChainContext::Account {
                chain_id: self.chain_id,
                nonce,
                gas_limit,
                max_fee_per_gas: gas_price,
                max_priority_fee_per_gas: 0,
                legacy_gas_price: Some(gas_price),
            });
        }
        let block = self.client.call("eth_getBlockByNumber", json!(["latest", false]))?;
        let base_fee = quantity(block.get("baseFeePerGas").unwrap_or(&Value::Null), "baseFeePerGas")?;
        let tip = match self.client.call("eth_maxPriorityFeePerGas", json!([])) {
            Ok(v) => quantity(&v, "eth_maxPriorityFeePerGas")?,
            Err(RpcError::Node { .. }) => 1_000_000_000, // nodes without the method: 1 gwei
            Err(e) => return Err(e),
        };
        let max_fee = base_fee.saturating_mul(2).saturating_add(tip);
        Ok(ChainContext::Account {
            chain_id: self.chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
            legacy_gas_price: None,
        })
    }

    fn broadcast(&self, raw: &[u8]) -> Result<String, RpcError> {
        let hash = self.client.call("eth_sendRawTransaction", json!([format!("0x{}", hex::encode(raw))]))?;
        hash.as_str().map(str::to_owned).ok_or_else(|| RpcError::BadResponse(format!("tx hash: {hash}")))
    }

    fn status(&self, txid: &str) -> Result<TxStatus, RpcError> {
        let receipt = self.client.call("eth_getTransactionReceipt", json!([txid]))?;
        if receipt.is_null() {
            let tx = self.client.call("eth_getTransactionByHash", json!([txid]))?;
            return Ok(if tx.is_null() { TxStatus::Unknown } else { TxStatus::Pending });
        }
        let block = quantity_u64(receipt.get("blockNumber").unwrap_or(&Value::Null), "blockNumber")?;
        let status = quantity(receipt.get("status").unwrap_or(&Value::Null), "status")?;
        if status != 1 {
            return Ok(TxStatus::Failed { reason: "execution reverted (receipt status 0)".into() });
        }
        let head = quantity_u64(&self.client.call("eth_blockNumber", json!([]))?, "eth_blockNumber")?;
        Ok(TxStatus::Confirmed { block, confirmations: head.saturating_sub(block) + 1 })
    }

    fn balance(&self, address: &str) -> Result<u128, RpcError> {
        quantity(&self.client.call("eth_getBalance", json!([address, "latest"]))?, "eth_getBalance")
    }
}
