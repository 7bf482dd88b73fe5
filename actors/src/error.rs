//! The one error a caller of the actor tree gets back: each refusal typed, so the RPC maps each
//! kind to its own stable code once. (How a session ended is its status,
//! [`crate::events::SessionFailure`], not an error of the call that asked for it.)

use protocol::{PartyIndex, SchemeId, SessionId, WalletId};

/// Why the actor tree did not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// This member's DKG circuit breaker is open or cooling down after an abort.
    #[error("this member's DKG circuit breaker is {state}: no new DKG until its cooldown is over")]
    BreakerOpen {
        /// The breaker's state.
        state: &'static str,
    },
    /// The proposal is malformed (participants, threshold, nothing to sign).
    #[error(transparent)]
    InvalidProposal(#[from] protocol::proposal::ProposalError),
    /// This node's own policy declines it.
    #[error("{0}")]
    Declined(String),
    /// This node's limiter refuses it: which limit, and when to retry.
    #[error(transparent)]
    Limited(protocol::limits::Refusal),
    /// Something it needs is still finishing here.
    #[error("{0} is still finishing here")]
    Pending(String),
    /// The scheme needs its committee setup before a keygen.
    #[error("{0} needs a committee setup first")]
    SetupRequired(SchemeId),
    /// The scheme's committee setup is running here: wait for `session`.
    #[error("the {scheme} committee setup is still running")]
    SetupRunning {
        /// The scheme.
        scheme: SchemeId,
        /// The setup's session.
        session: SessionId,
    },
    /// A chosen signer set must include the node that proposes.
    #[error("signers must include this node (party {0})")]
    WithoutMe(PartyIndex),
    /// A chosen signer is not connected.
    #[error("signer {0} is not connected")]
    NotConnected(PartyIndex),
    /// Fewer signers given than the wallet needs.
    #[error("{given} signers given, the wallet needs {needed}")]
    TooFew {
        /// Given.
        given: usize,
        /// Needed.
        needed: usize,
    },
    /// Not enough members are connected.
    #[error("need {needed} members, {connected} reachable")]
    NotEnoughConnected {
        /// Needed.
        needed: usize,
        /// Connected, this node included.
        connected: usize,
    },
    /// No share of this wallet here.
    #[error("wallet {0}")]
    UnknownWallet(WalletId),
    /// No such transaction, session or record here.
    #[error("{0}")]
    NotFound(String),
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
    /// The journal, an actor or the transport is not answering.
    #[error("{0}")]
    Unavailable(String),
    /// This node's store refuses new ceremonies: its journal failed closed after a write
    /// error, or its disk is at the configured floor. What it holds is kept.
    #[error("this node refuses new ceremonies: {0}")]
    StoreRefuses(String),
}

impl From<store::StoreError> for Error {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::NotFound(what) => Self::NotFound(what),
            e @ (store::StoreError::FailedClosed
            | store::StoreError::WriteFailed(_)
            | store::StoreError::DiskFull { .. }) => Self::StoreRefuses(e.to_string()),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl<T> From<ractor::RactorErr<T>> for Error {
    fn from(e: ractor::RactorErr<T>) -> Self {
        Self::Unavailable(e.to_string())
    }
}
