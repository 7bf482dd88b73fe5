//! Why a transfer could not be started, typed so the RPC maps each to its own code.

use protocol::WalletId;

use crate::signers::SignerError;

/// A refusal to start a transfer, or a part of the node that is not there to run it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// No share of this wallet here.
    #[error("wallet {0}")]
    UnknownWallet(WalletId),
    /// No `[[chain]]` section for it.
    #[error("chain {0} is not configured here ([[chain]] in the config)")]
    UnknownChain(String),
    /// The chain takes another scheme's keys.
    #[error("{chain} takes {takes} wallets; {wallet} is {is}")]
    WrongScheme {
        /// Chain name.
        chain: String,
        /// Scheme it takes.
        takes: String,
        /// The wallet.
        wallet: WalletId,
        /// Its scheme.
        is: String,
    },
    /// The chain is configured without a node to build and broadcast through.
    #[error("no rpc_url for {0} here: transfers are proposed by a node with one")]
    NoChainNode(String),
    /// Nothing to send.
    #[error("amount must be above 0")]
    ZeroAmount,
    /// The signer set.
    #[error(transparent)]
    Signers(#[from] SignerError),
    /// The journal, the manager or the transport is not answering.
    #[error("{0}")]
    Unavailable(String),
}
