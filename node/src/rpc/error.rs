//! The admin RPC's errors. Every code is stable (clients match on it) and listed in the
//! README; JSON-RPC's own codes (-32700 parse error, -32600 invalid request, -32601 unknown
//! method, -32602 invalid params) keep their meaning.

use jsonrpsee::types::ErrorObjectOwned;
use serde_json::json;

/// Missing or wrong bearer token (sent with HTTP 401, before the request is read).
pub const UNAUTHORIZED: i32 = -32001;
/// The API key's role or wallets do not cover this call (a client key calling an admin
/// method, or naming a wallet it is not given).
pub const FORBIDDEN: i32 = -32002;
/// A rate limit refused the call: `data` says which (`limit`, `subject`, `level`, `max`) and
/// `retry_after_ms` when the same call would pass (the analogue of HTTP 429 + Retry-After).
pub const LIMITED: i32 = -32021;
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
/// The proposal expired before every participant accepted (`data.missing` never answered).
pub const EXPIRED: i32 = -32018;
/// The ceremony ran out of time on a silent party (`data.blamed`).
pub const CEREMONY_TIMEOUT: i32 = -32019;
/// A participant's connection dropped and it did not come back in time (`data.blamed`).
pub const UNREACHABLE: i32 = -32020;

/// A backup's passphrase is missing on this node, or does not open the file.
pub const BACKUP_PASSPHRASE: i32 = -32022;
/// A backup file is not one, or was changed or cut short (every byte is authenticated).
pub const BACKUP_DAMAGED: i32 = -32023;
/// Key export is switched off on this node (`[export] enabled = false`, the default).
pub const EXPORT_DISABLED: i32 = -32024;
/// The export credential is missing, wrong, or none was ever made on this node.
pub const EXPORT_CREDENTIAL: i32 = -32025;

/// This node's store refuses new ceremonies: its journal failed closed after a write error
/// (restart once the disk is fixed), or its data directory is under `[node] min_free_disk_mb`.
/// What the node holds is kept; reads still work.
pub const STORE_REFUSES: i32 = -32026;

/// Every code this API answers with, and what it means (the OpenRPC document's `errors`).
pub const CODES: &[(i32, &str)] = &[
    (UNAUTHORIZED, "missing or wrong bearer token (HTTP 401)"),
    (FORBIDDEN, "the API key's role or wallets do not cover this call"),
    (LIMITED, "a rate limit refused the call; data: limit, subject, level, max, retry_after_ms"),
    (INVALID_PARAMS, "a parameter is missing or malformed"),
    (NOT_FOUND, "no such wallet, session or transaction here"),
    (SETUP_REQUIRED, "the scheme needs its committee setup (committee_setup) first"),
    (ALREADY_EXISTS, "the wallet already exists"),
    (NOT_ENOUGH_SIGNERS, "fewer members connected than the ceremony needs"),
    (REFUSED, "a member declined the proposal; data.reason says why"),
    (CEREMONY_FAILED, "the ceremony ran and failed; data.blamed names the parties at fault"),
    (TIMEOUT, "wait_ms passed before the ceremony ended; poll session_get with data.session"),
    (UNAVAILABLE, "the node cannot serve this now (actor restarting, store failure)"),
    (EXPIRED, "the proposal expired before every participant accepted; data.missing"),
    (CEREMONY_TIMEOUT, "the ceremony ran out of time on a silent party; data.blamed"),
    (UNREACHABLE, "a participant's connection dropped and did not come back in time; data.blamed"),
    (BACKUP_PASSPHRASE, "the backup passphrase is missing on this node or does not open the file"),
    (BACKUP_DAMAGED, "the file is not a backup, or was changed or cut short"),
    (EXPORT_DISABLED, "key export is switched off on this node"),
    (EXPORT_CREDENTIAL, "the export credential is missing or wrong"),
    (STORE_REFUSES, "this node's store refuses new ceremonies (journal failed closed, or disk under its floor)"),
];

/// What `code` means, if it is one of [`CODES`].
pub fn describe(code: i32) -> Option<&'static str> {
    CODES.iter().find(|(c, _)| *c == code).map(|(_, text)| *text)
}

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
        /// Who was blamed (cheating), if anyone.
        blamed: Vec<u16>,
    },
    /// See [`EXPIRED`].
    #[error("refused: {reason}")]
    Expired {
        /// The session it would have been.
        session: String,
        /// Why.
        reason: String,
        /// Participants that never accepted.
        missing: Vec<u16>,
    },
    /// See [`UNREACHABLE`].
    #[error("ceremony failed: {reason}")]
    Unreachable {
        /// The session.
        session: String,
        /// Why.
        reason: String,
        /// The party that went away.
        blamed: Vec<u16>,
    },
    /// See [`CEREMONY_TIMEOUT`].
    #[error("ceremony failed: {reason}")]
    CeremonyTimeout {
        /// The session.
        session: String,
        /// Why.
        reason: String,
        /// The silent parties.
        blamed: Vec<u16>,
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
    /// See [`FORBIDDEN`].
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// See [`LIMITED`].
    #[error("rate limited: {0}")]
    Limited(protocol::limits::Refusal),
    /// See [`BACKUP_PASSPHRASE`].
    #[error("backup passphrase: {0}")]
    BackupPassphrase(String),
    /// See [`BACKUP_DAMAGED`].
    #[error("{0}")]
    BackupDamaged(String),
    /// See [`EXPORT_DISABLED`].
    #[error("key export is switched off on this node ([export] enabled = false)")]
    ExportDisabled,
    /// See [`EXPORT_CREDENTIAL`].
    #[error("export credential: {0}")]
    ExportCredential(String),
    /// See [`STORE_REFUSES`].
    #[error("{0}")]
    StoreRefuses(String),
}

/// A refusal as error `data`.
pub fn limited_data(r: &protocol::limits::Refusal) -> serde_json::Value {
    json!({
        "limit": r.limit.name(),
        "subject": r.subject,
        "level": r.level,
        "max": r.max,
        "retry_after_ms": r.retry_after_ms,
    })
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
            Self::Expired { .. } => EXPIRED,
            Self::CeremonyTimeout { .. } => CEREMONY_TIMEOUT,
            Self::Unreachable { .. } => UNREACHABLE,
            Self::Timeout { .. } => TIMEOUT,
            Self::Unavailable(_) => UNAVAILABLE,
            Self::Forbidden(_) => FORBIDDEN,
            Self::Limited(_) => LIMITED,
            Self::BackupPassphrase(_) => BACKUP_PASSPHRASE,
            Self::BackupDamaged(_) => BACKUP_DAMAGED,
            Self::ExportDisabled => EXPORT_DISABLED,
            Self::ExportCredential(_) => EXPORT_CREDENTIAL,
            Self::StoreRefuses(_) => STORE_REFUSES,
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
            Self::Expired { .. } => "expired",
            Self::CeremonyTimeout { .. } => "ceremony_timeout",
            Self::Unreachable { .. } => "unreachable",
            Self::Timeout { .. } => "timeout",
            Self::Unavailable(_) => "unavailable",
            Self::Forbidden(_) => "forbidden",
            Self::Limited(_) => "limited",
            Self::BackupPassphrase(_) => "backup_passphrase",
            Self::BackupDamaged(_) => "backup_damaged",
            Self::ExportDisabled => "export_disabled",
            Self::ExportCredential(_) => "export_credential",
            Self::StoreRefuses(_) => "store_refuses",
        }
    }
}

impl From<RpcError> for ErrorObjectOwned {
    fn from(e: RpcError) -> Self {
        let data = match &e {
            RpcError::Refused { session, reason } => Some(json!({ "session": session, "reason": reason })),
            RpcError::CeremonyFailed { session, reason, blamed } => {
                Some(json!({ "session": session, "reason": reason, "blamed": blamed }))
            }
            RpcError::Expired { session, reason, missing } => {
                Some(json!({ "session": session, "reason": reason, "missing": missing }))
            }
            RpcError::CeremonyTimeout { session, reason, blamed }
            | RpcError::Unreachable { session, reason, blamed } => {
                Some(json!({ "session": session, "reason": reason, "blamed": blamed }))
            }
            RpcError::Timeout { session } => Some(json!({ "session": session })),
            RpcError::Limited(r) => Some(limited_data(r)),
            RpcError::NotEnoughSigners { needed, connected } => {
                Some(json!({ "needed": needed, "connected": connected }))
            }
            _ => None,
        };
        ErrorObjectOwned::owned(e.code(), e.to_string(), data)
    }
}

impl From<crate::backup::BackupError> for RpcError {
    fn from(e: crate::backup::BackupError) -> Self {
        use crate::backup::BackupError as B;
        match e {
            B::NoPassphrase(_) | B::Store(store::StoreError::BackupPassphrase) => Self::BackupPassphrase(e.to_string()),
            B::Store(store::StoreError::BackupDamaged(_)) | B::BadPath(_) | B::Config(_) => {
                Self::BackupDamaged(e.to_string())
            }
            B::NotEmpty(_) | B::Store(store::StoreError::InvalidInput(_)) => Self::InvalidParams(e.to_string()),
            B::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => Self::NotFound(e.to_string()),
            B::Io { ref source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::AlreadyExists(e.to_string())
            }
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl From<actors::Error> for RpcError {
    fn from(e: actors::Error) -> Self {
        use actors::Error as E;
        match e {
            E::NotEnoughConnected { needed, connected } => Self::NotEnoughSigners { needed, connected },
            E::SetupRequired(scheme) => Self::SetupRequired(scheme.to_string()),
            E::UnknownWallet(w) => Self::NotFound(format!("wallet {w}")),
            E::NotFound(what) => Self::NotFound(what),
            E::Limited(refusal) => Self::Limited(refusal),
            e @ (E::InvalidProposal(_)
            | E::WithoutMe(_)
            | E::NotConnected(_)
            | E::TooFew { .. }
            | E::UnknownChain(_)
            | E::WrongScheme { .. }
            | E::ZeroAmount) => Self::InvalidParams(e.to_string()),
            e @ (E::Declined(_) | E::Pending(_) | E::SetupRunning { .. } | E::BreakerOpen { .. }) => {
                Self::Refused { session: None, reason: e.to_string() }
            }
            e @ (E::NoChainNode(_) | E::Unavailable(_)) => Self::Unavailable(e.to_string()),
            e @ E::StoreRefuses(_) => Self::StoreRefuses(e.to_string()),
        }
    }
}

impl RpcError {
    /// How a session's failure reaches a client: each kind its own code.
    pub fn from_failure(session: &protocol::SessionId, failure: &actors::events::SessionFailure) -> Self {
        use actors::events::SessionFailure as F;
        use protocol::proposal::Abandoned;
        let (session, reason) = (session.to_string(), failure.to_string());
        match failure {
            F::Abandoned(Abandoned::Declined { .. }) | F::NotStarted(_) => {
                Self::Refused { session: Some(session), reason }
            }
            F::Abandoned(Abandoned::Expired { missing }) => Self::Expired { session, reason, missing: missing.clone() },
            f if f.timed_out() => Self::CeremonyTimeout { session, reason, blamed: f.blamed() },
            f if f.unreachable() => Self::Unreachable { session, reason, blamed: f.blamed() },
            f => Self::CeremonyFailed { session, reason, blamed: f.blamed() },
        }
    }
}
