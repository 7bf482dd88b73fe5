//! The chain port: derive an address from a group key, build an unsigned transfer, say exactly
//! what each signature signs, attach signatures and serialize. Pure encoders (no I/O): chain
//! state comes in as a [`ChainContext`] fetched through the [`rpc::ChainRpc`] port.
//! Wallet logic uses [`Chain`] and never names a chain.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ids::SchemeId;
use crate::scheme::{PublicKey, Signature};

pub mod bitcoin;
pub mod ethereum;
pub mod rpc;
pub mod solana;

/// Why a chain operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The group key does not fit the chain (wrong scheme or encoding).
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A recipient address that does not parse or belongs to another network.
    #[error("invalid address: {0}")]
    InvalidAddress(String),
    /// The transfer cannot be built (amount, funds, self-transfer).
    #[error("invalid transfer: {0}")]
    InvalidTransfer(String),
    /// The fee would exceed the request's ceiling.
    #[error("fee {fee} exceeds the ceiling {ceiling}")]
    FeeAboveCeiling {
        /// Fee the transaction would pay.
        fee: u128,
        /// The request's ceiling.
        ceiling: u128,
    },
    /// Not enough funds.
    #[error("insufficient funds: need {needed}, have {available}")]
    InsufficientFunds {
        /// Amount plus fee.
        needed: u128,
        /// Spendable.
        available: u128,
    },
    /// The context handed to `build` is for another chain.
    #[error("wrong chain context: {0}")]
    WrongContext(String),
    /// A signature that does not fit or does not verify.
    #[error("invalid signature: {0}")]
    InvalidSignature(String),
    /// Encoding failed.
    #[error("encoding: {0}")]
    Encoding(String),
}

/// A transfer as a client asks for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRequest {
    /// Recipient address in the chain's text form.
    pub to: String,
    /// Amount in the chain's smallest unit (wei, satoshi, lamport).
    pub amount: u128,
    /// Highest fee allowed, same unit.
    pub fee_ceiling: Option<u128>,
}

/// A spendable Bitcoin output of the wallet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Utxo {
    /// Funding transaction id (hex, as displayed).
    pub txid: String,
    /// Output index.
    pub vout: u32,
    /// Value in satoshis.
    pub amount: u64,
}

/// Chain state a transfer needs, fetched through the chain RPC port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainContext {
    /// Account-based (Ethereum).
    Account {
        /// EIP-155 chain id, as reported by the node.
        chain_id: u64,
        /// The sender's next nonce.
        nonce: u64,
        /// Gas limit (21000 for a plain transfer).
        gas_limit: u64,
        /// EIP-1559 fee cap, wei per gas.
        max_fee_per_gas: u128,
        /// EIP-1559 tip, wei per gas.
        max_priority_fee_per_gas: u128,
        /// Set to send an EIP-155 legacy transaction at this gas price instead.
        legacy_gas_price: Option<u128>,
    },
    /// UTXO-based (Bitcoin).
    Utxos {
        /// The wallet's spendable outputs.
        utxos: Vec<Utxo>,
        /// Fee rate, satoshis per virtual byte.
        fee_rate_sat_vb: u64,
    },
    /// Blockhash-based (Solana).
    Blockhash {
        /// A recent blockhash, base58.
        recent_blockhash: String,
    },
}

/// What a transfer does, for the policy check every member runs before it signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxSummary {
    /// Chain name.
    pub chain: String,
    /// Network or chain id.
    pub network: String,
    /// Sender address.
    pub from: String,
    /// Recipient address.
    pub to: String,
    /// Amount, smallest unit.
    pub amount: u128,
    /// Fee paid (Bitcoin, Solana) or fee cap (Ethereum), smallest unit.
    pub fee: u128,
}

/// An unsigned transaction: its summary, what each signature signs, and the chain-specific body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsignedTx {
    /// What it does.
    pub summary: TxSummary,
    /// The exact bytes or digest each signature signs, in order (one per Bitcoin input).
    pub payloads: Vec<Vec<u8>>,
    /// Chain-specific encoding the chain's `finalize` reads back.
    pub body: Vec<u8>,
}

/// A signed transaction, ready to broadcast.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTx {
    /// Wire bytes.
    pub raw: Vec<u8>,
    /// The chain's id for it: hash (Ethereum, Bitcoin txid) or first signature (Solana).
    pub txid: String,
}

/// One chain (and address type) the node signs for.
pub trait Chain: Send + Sync {
    /// Stable name, e.g. `ethereum`, `bitcoin-p2tr`.
    fn name(&self) -> &'static str;
    /// The scheme whose keys and signatures this chain takes.
    fn scheme(&self) -> SchemeId;
    /// The address of a group key.
    fn address(&self, key: &PublicKey) -> Result<String, ChainError>;
    /// Builds the unsigned transfer from `key`'s address.
    fn build(
        &self,
        key: &PublicKey,
        request: &TransferRequest,
        context: &ChainContext,
    ) -> Result<UnsignedTx, ChainError>;
    /// What `tx` really does, re-derived from its body alone (the member's check before it
    /// signs): fails unless the payloads are exactly what the body's signatures sign and the
    /// body spends from `key`'s address.
    fn inspect(&self, key: &PublicKey, tx: &UnsignedTx) -> Result<TxSummary, ChainError>;
    /// What `tx` uses up so that no other transaction of the wallet may (an Ethereum nonce,
    /// Bitcoin outputs), as keys: a member never signs two transactions that share one.
    fn spends(&self, tx: &UnsignedTx) -> Result<Vec<String>, ChainError>;
    /// What each payload is the hash of, re-derived from the body alone, for signing with a
    /// presignature; `None` when this chain's payloads have no preimage a presignature may sign
    /// (the caller then signs in full). Fails unless each preimage hashes to its payload.
    fn preimages(&self, key: &PublicKey, tx: &UnsignedTx) -> Result<Option<Vec<crate::presign::Preimage>>, ChainError> {
        let _ = (key, tx);
        Ok(None)
    }
    /// A sweep (a wallet rekeyed onto a new key moves everything): what one transfer from
    /// `key`'s address to `to` can send, and the fee it leaves for. Account chains spend from
    /// `balance`; Bitcoin spends every output in `context` into one output, no change.
    fn sweep(
        &self,
        key: &PublicKey,
        to: &str,
        balance: u128,
        context: &ChainContext,
    ) -> Result<(u128, u128), ChainError>;
    /// Attaches one signature per payload and serializes; checks each signature first.
    fn finalize(&self, key: &PublicKey, tx: &UnsignedTx, signatures: &[Signature]) -> Result<SignedTx, ChainError>;
}

/// `balance` less `fee`, or why nothing is left to send.
fn after_fee(balance: u128, fee: u128) -> Result<(u128, u128), ChainError> {
    match balance.checked_sub(fee) {
        Some(amount) if amount > 0 => Ok((amount, fee)),
        _ => Err(ChainError::InsufficientFunds { needed: fee.saturating_add(1), available: balance }),
    }
}

fn check_fee(fee: u128, ceiling: Option<u128>) -> Result<(), ChainError> {
    match ceiling {
        Some(ceiling) if fee > ceiling => Err(ChainError::FeeAboveCeiling { fee, ceiling }),
        _ => Ok(()),
    }
}

fn check_scheme(chain: &dyn Chain, key: &PublicKey) -> Result<(), ChainError> {
    if key.scheme == chain.scheme() {
        Ok(())
    } else {
        Err(ChainError::InvalidKey(format!("{} takes {} keys, not {}", chain.name(), chain.scheme(), key.scheme)))
    }
}

/// The chains this node signs for, by name.
#[derive(Clone, Default)]
pub struct Chains {
    chains: BTreeMap<&'static str, Arc<dyn Chain>>,
}

impl Chains {
    /// Adds a chain.
    pub fn register(&mut self, chain: Arc<dyn Chain>) {
        self.chains.insert(chain.name(), chain);
    }

    /// The chain called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Chain>> {
        self.chains.get(name).cloned()
    }

    /// Registered names.
    pub fn names(&self) -> Vec<&'static str> {
        self.chains.keys().copied().collect()
    }
}

/// Reads a Bitcoin network name: `mainnet` (or `bitcoin`), `testnet`, `testnet4`, `signet`,
/// `regtest`.
pub fn bitcoin_network(name: &str) -> Option<::bitcoin::Network> {
    match name {
        "mainnet" | "bitcoin" => Some(::bitcoin::Network::Bitcoin),
        "testnet" => Some(::bitcoin::Network::Testnet),
        "testnet4" => Some(::bitcoin::Network::Testnet4),
        "signet" => Some(::bitcoin::Network::Signet),
        "regtest" => Some(::bitcoin::Network::Regtest),
        _ => None,
    }
}

/// Every chain, with Bitcoin on `network`.
pub fn registry(network: bitcoin::Network) -> Chains {
    let mut c = Chains::default();
    c.register(Arc::new(ethereum::Ethereum));
    c.register(Arc::new(bitcoin::BitcoinChain::p2tr(network)));
    c.register(Arc::new(bitcoin::BitcoinChain::p2wpkh(network)));
    c.register(Arc::new(solana::Solana));
    c
}
