//! Transfers signed by the threshold schemes, sent through our JSON-RPC adapters to real chain
//! software: an Ethereum dev node (anvil) mines them; Solana's runtime (LiteSVM) executes them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::*;
use network::chain_rpc::{ClientConfig, EthereumRpc, SolanaRpc};
use protocol::chains::rpc::{ChainRpc, RpcError, TxStatus};
use protocol::chains::{ethereum::Ethereum, solana::Solana, Chain, TransferRequest};
use serde_json::json;

const RECIPIENT: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

#[test]
fn ethereum_transfers_by_cggmp24_are_mined_by_anvil() {
    let node = anvil();
    let shares = keygen("cggmp24");
    let key = shares[0].public_key.clone();
    let from = Ethereum.address(&key).unwrap();
    let rpc = EthereumRpc::new(ClientConfig::new(&node.url), 31337);
    rpc.check_chain().unwrap();
    // Fund the threshold address with 10 ETH.
    rpc.client().call("anvil_setBalance", json!([from, "0x8ac7230489e80000"])).unwrap();
    let start = rpc.balance(RECIPIENT).unwrap();
    let amount = 1_234_567_890_000_000u128;
    for (k, legacy) in [false, true].into_iter().enumerate() {
        let rpc = EthereumRpc::new(ClientConfig::new(&node.url), 31337).legacy(legacy);
        let request = TransferRequest { to: RECIPIENT.into(), amount, fee_ceiling: Some(10u128.pow(17)) };
        let context = rpc.context(&from, &request).unwrap();
        let tx = Ethereum.build(&key, &request, &context).unwrap();
        let signed = Ethereum.finalize(&key, &tx, &sign_all("cggmp24", &shares, &tx.payloads)).unwrap();
        let hash = rpc.broadcast(&signed.raw).unwrap();
        assert_eq!(hash, signed.txid);
        let status = eventually(|| match rpc.status(&hash).unwrap() {
            TxStatus::Confirmed { .. } | TxStatus::Failed { .. } => Some(rpc.status(&hash).unwrap()),
            _ => None,
        });
        assert!(matches!(status, TxStatus::Confirmed { confirmations: 1.., .. }), "legacy={legacy}: {status:?}");
        let receipt = rpc.client().call("eth_getTransactionReceipt", json!([hash])).unwrap();
        assert_eq!(receipt["status"], "0x1");
        assert_eq!(receipt["type"], if legacy { "0x0" } else { "0x2" });
        assert_eq!(rpc.balance(RECIPIENT).unwrap(), start + amount * (k as u128 + 1));
    }
    // The same signed transaction again is refused by the node (nonce used).
    let rpc = EthereumRpc::new(ClientConfig::new(&node.url), 31337);
    let request = TransferRequest { to: RECIPIENT.into(), amount: 1, fee_ceiling: None };
    let tx = Ethereum.build(&key, &request, &rpc.context(&from, &request).unwrap()).unwrap();
    let signed = Ethereum.finalize(&key, &tx, &sign_all("cggmp24", &shares, &tx.payloads)).unwrap();
    rpc.broadcast(&signed.raw).unwrap();
    assert!(matches!(rpc.broadcast(&signed.raw), Err(RpcError::Node { .. })));
}

#[test]
fn a_node_on_another_chain_is_refused() {
    let node = anvil();
    let rpc = EthereumRpc::new(ClientConfig::new(&node.url), 1);
    assert_eq!(rpc.check_chain(), Err(RpcError::WrongChain { expected: "1".into(), actual: "31337".into() }));
    let request = TransferRequest { to: RECIPIENT.into(), amount: 1, fee_ceiling: None };
    assert!(matches!(rpc.context(RECIPIENT, &request), Err(RpcError::WrongChain { .. })));
}

#[test]
fn solana_transfer_by_frost_is_executed_by_litesvm() {
    let svm = litesvm();
    let shares = keygen("frost-ed25519");
    let key = shares[0].public_key.clone();
    let from = Solana.address(&key).unwrap();
    let rpc = SolanaRpc::new(ClientConfig::new(&svm.url), "litesvm");
    rpc.check_chain().unwrap();
    rpc.client().call("requestAirdrop", json!([from, 2_000_000_000u64])).unwrap();
    assert_eq!(rpc.balance(&from).unwrap(), 2_000_000_000);
    let to = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM";
    let request = TransferRequest { to: to.into(), amount: 750_000_000, fee_ceiling: Some(10_000) };
    let tx = Solana.build(&key, &request, &rpc.context(&from, &request).unwrap()).unwrap();
    let sigs = sign_all("frost-ed25519", &shares, &tx.payloads);
    let signed = Solana.finalize(&key, &tx, &sigs).unwrap();

    // A flipped signature byte is rejected by the runtime and moves nothing.
    let mut forged = signed.raw.clone();
    forged[5] ^= 0x01;
    assert!(matches!(rpc.broadcast(&forged), Err(RpcError::Node { .. })));
    assert_eq!(rpc.balance(to).unwrap(), 0);

    let sig = rpc.broadcast(&signed.raw).unwrap();
    assert_eq!(sig, signed.txid);
    assert!(matches!(rpc.status(&sig).unwrap(), TxStatus::Confirmed { .. }));
    assert_eq!(rpc.balance(to).unwrap(), 750_000_000);
    assert_eq!(rpc.balance(&from).unwrap(), 2_000_000_000 - 750_000_000 - 5_000, "amount plus the 5000-lamport fee");
    assert_eq!(
        rpc.status("1111111111111111111111111111111111111111111111111111111111111111").unwrap(),
        TxStatus::Unknown
    );
}
