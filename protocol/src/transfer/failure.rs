//! Why a transfer failed, typed, with the kind journaled beside its text.

/// Why a transfer failed. Journaled as its kind and text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransferFailure {
    /// The chain node could not give the state to build on (balance, nonce, outputs, fees).
    #[error("{0}")]
    ChainState(String),
    /// The transaction could not be built, or this node's own policy refuses it.
    #[error("{0}")]
    Build(String),
    /// A member (or this node's manager) declined the signing proposal.
    #[error("refused: {0}")]
    Refused(String),
    /// The signing ceremony failed (timeout, blamed party).
    #[error("signing failed: {0}")]
    Signing(String),
    /// The committee's signatures do not make the transaction (never expected).
    #[error("the signatures do not complete the transaction: {0}")]
    Finalize(String),
    /// The chain node refused the signed transaction.
    #[error("broadcast refused: {0}")]
    BroadcastRefused(String),
    /// The chain executed it and it failed (reverted, dropped).
    #[error("the chain failed it: {0}")]
    ChainRejected(String),
    /// A step could not be journaled.
    #[error("journal: {0}")]
    Journal(String),
    /// The proposer stopped before it proposed the signing; nothing left the node. (Journaled
    /// by earlier releases: a restarted proposer now carries such a transfer on.)
    #[error("interrupted before its signing was proposed; nothing was sent")]
    Interrupted,
}

/// What kind of failure ended a transfer: journaled beside its text, so a client tells a
/// refusal from a chain error by code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum FailureKind {
    /// [`TransferFailure::ChainState`].
    ChainState,
    /// [`TransferFailure::Build`].
    Build,
    /// [`TransferFailure::Refused`].
    Refused,
    /// [`TransferFailure::Signing`].
    Signing,
    /// [`TransferFailure::Finalize`].
    Finalize,
    /// [`TransferFailure::BroadcastRefused`].
    BroadcastRefused,
    /// [`TransferFailure::ChainRejected`].
    ChainRejected,
    /// [`TransferFailure::Journal`].
    Journal,
    /// [`TransferFailure::Interrupted`].
    Interrupted,
    /// Journaled by a release that did not record the kind.
    Unknown,
}

impl FailureKind {
    /// Stable name (clients match on it).
    pub fn name(self) -> &'static str {
        match self {
            Self::ChainState => "chain_state",
            Self::Build => "build",
            Self::Refused => "refused",
            Self::Signing => "signing",
            Self::Finalize => "finalize",
            Self::BroadcastRefused => "broadcast_refused",
            Self::ChainRejected => "chain_rejected",
            Self::Journal => "journal",
            Self::Interrupted => "interrupted",
            Self::Unknown => "unknown",
        }
    }
}

impl TransferFailure {
    /// Its kind.
    pub fn kind(&self) -> FailureKind {
        match self {
            Self::ChainState(_) => FailureKind::ChainState,
            Self::Build(_) => FailureKind::Build,
            Self::Refused(_) => FailureKind::Refused,
            Self::Signing(_) => FailureKind::Signing,
            Self::Finalize(_) => FailureKind::Finalize,
            Self::BroadcastRefused(_) => FailureKind::BroadcastRefused,
            Self::ChainRejected(_) => FailureKind::ChainRejected,
            Self::Journal(_) => FailureKind::Journal,
            Self::Interrupted => FailureKind::Interrupted,
        }
    }
}
