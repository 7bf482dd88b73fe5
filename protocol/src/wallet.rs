//! The wallet service's pure parts: what a transfer proposal carries, how a member checks it
//! against its own policy, and the steps that turn chain state and a request into a signed
//! transaction through the [`Chain`] port. The workflow is [`crate::transfer`]; nothing here
//! names a chain or a scheme.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::chains::rpc::RpcError;
use crate::chains::{Chain, ChainContext, ChainError, SignedTx, TransferRequest, TxSummary, UnsignedTx};
use crate::ids::{SessionId, WalletId};
use crate::scheme::{PublicKey, Signature};

/// What a signing proposal for a transfer carries, so every member checks the transaction it
/// signs rather than an opaque digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferIntent {
    /// The proposer's transaction id (journal stream).
    pub tx: String,
    /// Chain name.
    pub chain: String,
    /// The unsigned transaction.
    pub unsigned: UnsignedTx,
}

/// One chain's limits in a member's policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLimits {
    /// The only network (chain id, network name) this member signs for.
    pub network: Option<String>,
    /// Largest amount per transfer, smallest unit.
    pub max_amount: Option<u128>,
    /// Largest fee per transfer, smallest unit.
    pub fee_ceiling: Option<u128>,
}

/// A member's transfer policy: the chains it signs for, with their limits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferPolicy {
    /// Per chain name; a chain not listed is refused.
    pub chains: BTreeMap<String, ChainLimits>,
}

/// Why a member refuses to sign a transfer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRefusal {
    /// The transaction does not decode or does not match its payloads.
    #[error("transaction check failed: {0}")]
    Invalid(String),
    /// Not a chain this member signs for.
    #[error("chain {0} is not enabled here")]
    ChainNotEnabled(String),
    /// Another network than configured.
    #[error("network {got} is not {expected}")]
    WrongNetwork {
        /// Configured.
        expected: String,
        /// In the transaction.
        got: String,
    },
    /// Above the per-transfer amount limit.
    #[error("amount {amount} exceeds this member's limit {limit}")]
    AmountAboveLimit {
        /// Requested.
        amount: u128,
        /// Limit.
        limit: u128,
    },
    /// Above the fee ceiling.
    #[error("fee {fee} exceeds this member's ceiling {ceiling}")]
    FeeAboveCeiling {
        /// In the transaction.
        fee: u128,
        /// Ceiling.
        ceiling: u128,
    },
}

impl TransferPolicy {
    /// Checks what the transaction does (as re-derived by [`Chain::inspect`]).
    pub fn check(&self, summary: &TxSummary) -> Result<(), PolicyRefusal> {
        let limits =
            self.chains.get(&summary.chain).ok_or_else(|| PolicyRefusal::ChainNotEnabled(summary.chain.clone()))?;
        if let Some(expected) = &limits.network {
            if *expected != summary.network {
                return Err(PolicyRefusal::WrongNetwork { expected: expected.clone(), got: summary.network.clone() });
            }
        }
        if let Some(limit) = limits.max_amount {
            if summary.amount > limit {
                return Err(PolicyRefusal::AmountAboveLimit { amount: summary.amount, limit });
            }
        }
        if let Some(ceiling) = limits.fee_ceiling {
            if summary.fee > ceiling {
                return Err(PolicyRefusal::FeeAboveCeiling { fee: summary.fee, ceiling });
            }
        }
        Ok(())
    }

    /// A member's whole check of a signing proposal for a transfer: the chain re-derives the
    /// transaction's payloads and what it does from its body alone, and the transfer is within
    /// this member's limits. Returns what it does and what it uses up.
    pub fn review(
        &self,
        chain: &dyn Chain,
        key: &PublicKey,
        intent: &TransferIntent,
    ) -> Result<Reviewed, PolicyRefusal> {
        let summary = chain.inspect(key, &intent.unsigned).map_err(|e| PolicyRefusal::Invalid(e.to_string()))?;
        if summary != intent.unsigned.summary {
            return Err(PolicyRefusal::Invalid("the summary does not match the transaction".into()));
        }
        self.check(&summary)?;
        let spends = chain.spends(&intent.unsigned).map_err(|e| PolicyRefusal::Invalid(e.to_string()))?;
        Ok(Reviewed { summary, spends })
    }
}

/// What a reviewed transfer does and uses up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reviewed {
    /// What the body does.
    pub summary: TxSummary,
    /// What it uses up (an Ethereum nonce, Bitcoin outputs): see [`Chain::spends`].
    pub spends: Vec<String>,
}

/// Why a transfer could not be prepared or completed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// The chain node.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The chain encoder.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// Our own policy.
    #[error(transparent)]
    Policy(#[from] PolicyRefusal),
}

/// Builds the unsigned transfer on `context` (chain state fetched by the caller from the
/// wallet's address), and checks it against the proposer's own policy first.
pub fn build(
    chain: &dyn Chain,
    policy: &TransferPolicy,
    key: &PublicKey,
    request: &TransferRequest,
    context: &ChainContext,
) -> Result<UnsignedTx, TransferError> {
    let unsigned = chain.build(key, request, context)?;
    policy.check(&chain.inspect(key, &unsigned)?)?;
    Ok(unsigned)
}

/// A member's check of a proposer's claim that `unsigned` was signed: the signatures verify
/// under the wallet's key over exactly the transaction's payloads, and the result is
/// `chain_txid`. Returns the signed transaction.
pub fn check_signed(
    chain: &dyn Chain,
    key: &PublicKey,
    unsigned: &UnsignedTx,
    signatures: &[Signature],
    chain_txid: &str,
) -> Result<SignedTx, TransferError> {
    chain.inspect(key, unsigned)?;
    let signed = chain.finalize(key, unsigned, signatures)?;
    if signed.txid != chain_txid {
        return Err(ChainError::InvalidSignature(format!("signs {}, not {chain_txid}", signed.txid)).into());
    }
    Ok(signed)
}

/// Attaches the committee's signatures (one per payload, in order), checking each.
pub fn complete(
    chain: &dyn Chain,
    key: &PublicKey,
    unsigned: &UnsignedTx,
    signatures: &[Signature],
) -> Result<SignedTx, TransferError> {
    Ok(chain.finalize(key, unsigned, signatures)?)
}

/// What the proposer of a transfer tells every member at each step, so each member's journal
/// (and history) follows the transfer; members check what they can (a confirmation against
/// their own chain node) before recording it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferNotice {
    /// The transaction id.
    pub tx: String,
    /// The paying wallet.
    pub wallet: WalletId,
    /// Chain name.
    pub chain: String,
    /// The step reached.
    pub stage: TransferStage,
}

/// A transfer's steps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferStage {
    /// Requested.
    Initiated {
        /// Recipient.
        to: String,
        /// Amount, smallest unit.
        amount: u128,
        /// Highest fee allowed.
        fee_ceiling: Option<u128>,
    },
    /// Signed by the committee: every member re-checks the signatures over the transaction
    /// before recording it.
    Signed {
        /// The chain's id for it.
        chain_txid: String,
        /// The (first) signing session.
        session: SessionId,
        /// The transaction.
        unsigned: UnsignedTx,
        /// One signature per payload, in order.
        signatures: Vec<Signature>,
    },
    /// Sent to the chain.
    Broadcast {
        /// The chain's id for it.
        chain_txid: String,
    },
    /// Confirmed to the proposer's depth.
    Confirmed {
        /// The chain's id for it.
        chain_txid: String,
        /// Block or slot.
        block: u64,
        /// Depth seen.
        confirmations: u32,
    },
    /// Failed, with the reason.
    Failed {
        /// What kind of failure.
        kind: crate::transfer::FailureKind,
        /// Why.
        reason: String,
    },
}
