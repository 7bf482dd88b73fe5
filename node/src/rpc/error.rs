//! The admin RPC's errors. Every code is stable (clients match on it) and listed in the
//! README; JSON-RPC's own codes (-32700 parse error, -32600 invalid request, -32601 unknown
//! method, -32602 invalid params) keep their meaning.

use jsonrpsee::types::ErrorObjectOwned;
use serde_json::json;

/// Missing or wrong bearer token (sent with HTTP 401, before the request is read).
pub const UNAUTHORIZED: i32 = -32001;
/// A parameter is missing or malformed.
pub const INVALID_PARAMS: i32 = -32602;
/// No such wallet or session here.
pub const NOT_FOUND: i32 = -32010;
/// The scheme needs its committee setup (`committee_setup`) before a keygen.
pub const SETUP_REQUIRED: i32 = -32011;
/// The wallet already exists.
pub const ALREADY_EXISTS: i32 = -32012;
/// Fewer members connected than the ceremony needs.
pub const NOT_ENOUGH_SIGNERS: i32 = -32013;
/// A member (this one or another) declined the proposal; `data.reason` says why.
pub const REFUSED: i32 = -32014;
/// The ceremony ran and failed; `data.blamed` names the parties at fault when known.
pub const CEREMONY_FAILED: i32 = -32015;
/// `wait_ms` passed before the ceremony ended; poll `session_get` with `data.session`.
pub const TIMEOUT: i32 = -32016;
/// The node cannot serve this now (actor restarting, store failure).
pub const UNAVAILABLE: i32 = -32017;

/// A refusal with its stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// See [`INVALID_PARAMS`].
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// See [`NOT_FOUND`].
    #[error("not found: {0}")]
    NotFound(String),
    /// See [`SETUP_REQUIRED`].
    #[error("{0} needs its committee setup first: call committee_setup")]
    SetupRequired(String),
    /// See [`ALREADY_EXISTS`].
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// See [`NOT_ENOUGH_SIGNERS`].
    #[error("need {needed} members, {connected} reachable")]
    NotEnoughSigners {
        /// Needed.
        needed: usize,
        /// This node and the members connected to it.
        connected: usize,
    },
    /// See [`REFUSED`].
    #[error("refused: {reason}")]
    Refused {
        /// The session it would have been, if proposed.
        session: Option<String>,
        /// Why.
        reason: String,
    },
    /// See [`CEREMONY_FAILED`].
    #[error("ceremony failed: {reason}")]
    CeremonyFailed {
        /// The session.
        session: String,
        /// Why.
        reason: String,
    },
    /// See [`TIMEOUT`].
    #[error("still running after the wait; poll session_get")]
    Timeout {
        /// The session to poll.
        session: String,
    },
    /// See [`UNAVAILABLE`].
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl RpcError {
    /// The stable code.
    pub fn code(&self) -> i32 {
        match self {
            Self::InvalidParams(_) => INVALID_PARAMS,
            Self::NotFound(_) => NOT_FOUND,
            Self::SetupRequired(_) => SETUP_REQUIRED,
            Self::AlreadyExists(_) => ALREADY_EXISTS,
            Self::NotEnoughSigners { .. } => NOT_ENOUGH_SIGNERS,
            Self::Refused { .. } => REFUSED,
            Self::CeremonyFailed { .. } => CEREMONY_FAILED,
            Self::Timeout { .. } => TIMEOUT,
            Self::Unavailable(_) => UNAVAILABLE,
        }
    }

    /// Short name for metrics labels.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::InvalidParams(_) => "invalid_params",
            Self::NotFound(_) => "not_found",
            Self::SetupRequired(_) => "setup_required",
            Self::AlreadyExists(_) => "already_exists",
            Self::NotEnoughSigners { .. } => "not_enough_signers",
            Self::Refused { .. } => "refused",
            Self::CeremonyFailed { .. } => "ceremony_failed",
            Self::Timeout { .. } => "timeout",
            Self::Unavailable(_) => "unavailable",
        }
    }
}

impl From<RpcError> for ErrorObjectOwned {
    fn from(e: RpcError) -> Self {
        let data = match &e {
            RpcError::Refused { session, reason } => Some(json!({ "session": session, "reason": reason })),
            RpcError::CeremonyFailed { session, reason } => Some(json!({ "session": session, "reason": reason })),
            RpcError::Timeout { session } => Some(json!({ "session": session })),
            RpcError::NotEnoughSigners { needed, connected } => {
                Some(json!({ "needed": needed, "connected": connected }))
            }
            _ => None,
        };
        ErrorObjectOwned::owned(e.code(), e.to_string(), data)
    }
}

impl From<store::StoreError> for RpcError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::NotFound(what) => Self::NotFound(what),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl From<actors::signers::SignerError> for RpcError {
    fn from(e: actors::signers::SignerError) -> Self {
        match e {
            actors::signers::SignerError::NotEnoughConnected { needed, connected } => {
                Self::NotEnoughSigners { needed, connected }
            }
            other => Self::InvalidParams(other.to_string()),
        }
    }
}

impl From<actors::transfers::TransferError> for RpcError {
    fn from(e: actors::transfers::TransferError) -> Self {
        use actors::transfers::TransferError as T;
        match e {
            T::UnknownWallet(w) => Self::NotFound(format!("wallet {w}")),
            T::Signers(s) => s.into(),
            e @ (T::UnknownChain(_) | T::WrongScheme { .. } | T::ZeroAmount) => Self::InvalidParams(e.to_string()),
            e @ (T::NoChainNode(_) | T::Unavailable(_)) => Self::Unavailable(e.to_string()),
        }
    }
}
