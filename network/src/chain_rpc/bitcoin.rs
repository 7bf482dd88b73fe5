//! Bitcoin Core JSON-RPC: `getblockchaininfo` (network check), `scantxoutset` (the wallet's
//! UTXOs, no wallet needed on the node), `estimatesmartfee`, `testmempoolaccept`,
//! `sendrawtransaction`, `getrawtransaction`.

use protocol::chains::rpc::{ChainRpc, RpcError, TxStatus};
use protocol::chains::{ChainContext, TransferRequest, Utxo};
use serde_json::{json, Value};

use super::{ClientConfig, JsonRpcClient};

/// A Bitcoin Core node (`-server`, basic auth in the config).
pub struct BitcoinCoreRpc {
    client: JsonRpcClient,
    chain: String,
    fallback_fee_sat_vb: u64,
}

impl BitcoinCoreRpc {
    /// A node whose `getblockchaininfo.chain` must be `chain` (`main`, `test`, `signet`,
    /// `regtest`); `fallback_fee_sat_vb` is used when the node has no fee estimate yet.
    pub fn new(config: ClientConfig, chain: impl Into<String>, fallback_fee_sat_vb: u64) -> Self {
        Self { client: JsonRpcClient::new(config), chain: chain.into(), fallback_fee_sat_vb }
    }

    /// Asks the node whether it would accept `raw` into its mempool, without sending it.
    pub fn test_mempool_accept(&self, raw: &[u8]) -> Result<(), RpcError> {
        let r = self.client.call("testmempoolaccept", json!([[hex::encode(raw)]]))?;
        let first = r.get(0).ok_or_else(|| RpcError::BadResponse(format!("testmempoolaccept: {r}")))?;
        if first.get("allowed").and_then(Value::as_bool) == Some(true) {
            Ok(())
        } else {
            let reason = first.get("reject-reason").and_then(Value::as_str).unwrap_or("rejected");
            Err(RpcError::Node { code: -26, message: reason.to_owned() })
        }
    }
}

/// BTC (a JSON number with up to 8 decimals) to satoshis, exactly.
fn sats(v: &Value, what: &str) -> Result<u64, RpcError> {
    let btc = v.as_f64().ok_or_else(|| RpcError::BadResponse(format!("{what}: expected an amount, got {v}")))?;
    if !(0.0..=21_000_000.0).contains(&btc) {
        return Err(RpcError::BadResponse(format!("{what}: {btc} BTC is out of range")));
    }
    Ok((btc * 100_000_000.0).round() as u64)
}

impl ChainRpc for BitcoinCoreRpc {
    fn check_chain(&self) -> Result<(), RpcError> {
        let info = self.client.call("getblockchaininfo", json!([]))?;
        match info.get("chain").and_then(Value::as_str) {
            Some(c) if c == self.chain => Ok(()),
            Some(c) => Err(RpcError::WrongChain { expected: self.chain.clone(), actual: c.into() }),
            None => Err(RpcError::BadResponse(format!("getblockchaininfo: {info}"))),
        }
    }

    fn context(&self, address: &str, _request: &TransferRequest) -> Result<ChainContext, RpcError> {
        self.check_chain()?;
        let scan = self.client.call("scantxoutset", json!(["start", [format!("addr({address})")]]))?;
        let unspents = scan
            .get("unspents")
            .and_then(Value::as_array)
            .ok_or_else(|| RpcError::BadResponse(format!("scantxoutset: {scan}")))?;
        let mut utxos = Vec::with_capacity(unspents.len());
        for u in unspents {
            let txid =
                u.get("txid").and_then(Value::as_str).ok_or_else(|| RpcError::BadResponse(format!("utxo: {u}")))?;
            let vout = u
                .get("vout")
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| RpcError::BadResponse(format!("utxo: {u}")))?;
            utxos.push(Utxo {
                txid: txid.to_owned(),
                vout,
                amount: sats(u.get("amount").unwrap_or(&Value::Null), "amount")?,
            });
        }
        let fee_rate_sat_vb = match self.client.call("estimatesmartfee", json!([2])) {
            // BTC per kvB -> sat per vB, at least 1.
            Ok(r) => match r.get("feerate") {
                Some(rate) => (sats(rate, "feerate")? / 1000).max(1),
                None => self.fallback_fee_sat_vb,
            },
            Err(RpcError::Node { .. }) => self.fallback_fee_sat_vb,
            Err(e) => return Err(e),
        };
        Ok(ChainContext::Utxos { utxos, fee_rate_sat_vb })
    }

    fn broadcast(&self, raw: &[u8]) -> Result<String, RpcError> {
        let txid = self.client.call("sendrawtransaction", json!([hex::encode(raw)]))?;
        txid.as_str().map(str::to_owned).ok_or_else(|| RpcError::BadResponse(format!("txid: {txid}")))
    }

    fn status(&self, txid: &str) -> Result<TxStatus, RpcError> {
        match self.client.call("getrawtransaction", json!([txid, true])) {
            Ok(tx) => {
                let confirmations = tx.get("confirmations").and_then(Value::as_u64).unwrap_or(0);
                if confirmations == 0 {
                    return Ok(TxStatus::Pending);
                }
                let block = self
                    .client
                    .call("getblockheader", json!([tx.get("blockhash").cloned().unwrap_or(Value::Null)]))
                    .ok()
                    .and_then(|h| h.get("height").and_then(Value::as_u64))
                    .unwrap_or(0);
                Ok(TxStatus::Confirmed { block, confirmations })
            }
            // -5: no such transaction in mempool or blockchain.
            Err(RpcError::Node { code: -5, .. }) => Ok(TxStatus::Unknown),
            Err(e) => Err(e),
        }
    }

    fn balance(&self, address: &str) -> Result<u128, RpcError> {
        let scan = self.client.call("scantxoutset", json!(["start", [format!("addr({address})")]]))?;
        Ok(u128::from(sats(scan.get("total_amount").unwrap_or(&Value::Null), "total_amount")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn btc_amounts_convert_exactly() {
        assert_eq!(sats(&json!(0.00000001), "a"), Ok(1));
        assert_eq!(sats(&json!(20_999_999.976_9), "a"), Ok(2_099_999_997_690_000));
        assert_eq!(sats(&json!(1.1), "a"), Ok(110_000_000));
        assert!(sats(&json!(-1), "a").is_err());
        assert!(sats(&json!("1"), "a").is_err());
        assert!(sats(&json!(1e300), "a").is_err());
    }
}
