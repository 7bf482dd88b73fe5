//! The journal's events: versioned, upcast on read, never secret.
//!
//! Each event is stored as (type name, schema version, bincode payload). When a payload's shape
//! changes, the old struct stays here under its old version and an upcast turns it into the new
//! one on read, so old journals keep replaying.

use protocol::{PartyIndex, SchemeId, SessionId, WalletId};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// What kind of failure ended a transfer.
pub use protocol::transfer::FailureKind as TransferFailureKind;

/// Names an aggregate's stream: one per wallet, transaction and ceremony session.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum StreamId {
    /// A wallet's life: creation, keys.
    Wallet(WalletId),
    /// One transaction, from initiation to confirmation.
    Transaction(String),
    /// One ceremony.
    Session(SessionId),
    /// This node's limiter: what it refused (coalesced per limit and subject).
    Limits,
    /// This node's view of its peers: breaker transitions, reputation changes.
    Health,
}

impl StreamId {
    /// The stream of a scheme's committee setup (one per scheme and committee).
    pub fn committee_setup(scheme: &SchemeId) -> Self {
        StreamId::Session(SessionId::derive("committee-setup", scheme.as_str().as_bytes()))
    }

    /// Canonical text form, used in keys: `wallet/<id>`, `tx/<id>`, `session/<hex>`.
    pub fn key(&self) -> String {
        match self {
            StreamId::Wallet(w) => format!("wallet/{w}"),
            StreamId::Transaction(t) => format!("tx/{t}"),
            StreamId::Session(s) => format!("session/{s}"),
            StreamId::Limits => "limits".to_owned(),
            StreamId::Health => "health".to_owned(),
        }
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key())
    }
}

/// Which ceremony.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CeremonyKind {
    /// Committee setup (CGGMP24 auxiliary info).
    Setup,
    /// Distributed key generation.
    Keygen,
    /// Signing.
    Sign,
    /// Share refresh.
    Refresh,
    /// Presignatures made ahead of signing (CGGMP24).
    Presign,
    /// Repair of one member's lost share.
    Repair,
    /// Reshare of a wallet to a new threshold.
    Reshare,
    /// Guarded export of a wallet's whole key.
    Export,
}

/// Everything the journal records. No variant carries secret material. New variants go at
/// the end: a stored payload names its variant by index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DomainEvent {
    /// A wallet's group key exists.
    WalletCreated {
        /// The wallet.
        wallet: WalletId,
        /// Its scheme.
        scheme: SchemeId,
        /// Signers needed.
        threshold: u16,
        /// Committee size.
        parties: u16,
        /// The group key (chain encoding).
        public_key: Vec<u8>,
    },
    /// This node stored its share of a wallet's key (written with the sealed share, atomically).
    KeySharesGenerated {
        /// The wallet.
        wallet: WalletId,
        /// Its scheme.
        scheme: SchemeId,
        /// The DKG session.
        session: SessionId,
        /// This node's party index.
        party: PartyIndex,
        /// The group key.
        public_key: Vec<u8>,
    },
    /// This node stored its part of a committee setup (sealed with the event, atomically).
    CommitteeSetupStored {
        /// The scheme.
        scheme: SchemeId,
        /// The setup session.
        session: SessionId,
        /// This node's party index.
        party: PartyIndex,
        /// Committee size.
        parties: u16,
    },
    /// A ceremony began.
    CeremonyStarted {
        /// Its session.
        session: SessionId,
        /// What kind.
        kind: CeremonyKind,
        /// Scheme.
        scheme: SchemeId,
        /// Wallet concerned, if any.
        wallet: Option<WalletId>,
        /// Participants.
        participants: Vec<PartyIndex>,
    },
    /// A ceremony ended without a result.
    CeremonyAborted {
        /// Its session.
        session: SessionId,
        /// Why.
        reason: String,
        /// Parties blamed.
        blamed: Vec<PartyIndex>,
        /// True for cheating (as opposed to a timeout or a local failure).
        misbehaviour: bool,
    },
    /// A transfer was requested.
    TransactionInitiated(TransactionInitiated),
    /// The transfer is signed.
    TransactionSigned {
        /// Our transaction id.
        tx: String,
        /// The signing session.
        session: SessionId,
        /// The chain's id for it (hash or signature).
        chain_txid: String,
        /// The signed transaction as sent to the chain (empty where this node only heard of
        /// it): what a restarted proposer broadcasts, never signing again.
        raw: Vec<u8>,
        /// What each signature signs and the signature, in input order.
        signatures: Vec<SignedPayload>,
        /// The unsigned transaction the signatures are over (so anyone can re-check them).
        unsigned: Option<protocol::chains::UnsignedTx>,
    },
    /// Sent to the chain.
    TransactionBroadcast {
        /// Our transaction id.
        tx: String,
        /// The chain's id.
        chain_txid: String,
    },
    /// Confirmed to the configured depth.
    TransactionConfirmed {
        /// Our transaction id.
        tx: String,
        /// Block height or slot.
        block: u64,
        /// Confirmations seen.
        confirmations: u32,
    },
    /// It ended without reaching the chain, or the chain failed it (schema v2 adds the kind).
    TransactionFailed {
        /// Our transaction id.
        tx: String,
        /// What kind of failure.
        kind: TransferFailureKind,
        /// Why, in words.
        reason: String,
    },
    /// A rate limit or policy refused a request (schema v2 adds level, max and the count).
    /// Refusals of one limit and subject are coalesced: at most one entry a minute, counting
    /// those refused since the last.
    LimitRefused {
        /// Who or what was limited (API key name, client address, wallet).
        subject: String,
        /// Which limit.
        limit: String,
        /// When to retry, ms (`u64::MAX`: never at this size).
        retry_after_ms: u64,
        /// Tokens left or signatures used when refused.
        level: u64,
        /// The limit's capacity or maximum.
        max: u64,
        /// Requests refused since the last entry for this limit and subject (this one too).
        refused: u64,
    },
    /// The DKG circuit breaker changed state.
    BreakerTransition {
        /// The ceremony concerned, if any.
        session: Option<SessionId>,
        /// Previous state.
        from: String,
        /// New state.
        to: String,
        /// Why.
        reason: String,
    },
    /// A balance read from the chain.
    BalanceObserved {
        /// The wallet.
        wallet: WalletId,
        /// The chain.
        chain: String,
        /// Amount in the chain's smallest unit.
        amount: u128,
    },
    /// A ceremony produced its result (stored first, for a setup or keygen).
    CeremonyCompleted {
        /// Its session.
        session: SessionId,
        /// From start to result, ms.
        duration_ms: u64,
    },
    /// A signing completed here: what it signed and the signatures, kept so a proposer that
    /// lost track of the session can finish its transfer (signatures are not secret).
    SignaturesKept {
        /// The signing session.
        session: SessionId,
        /// The transfer it signed, if any.
        tx: Option<String>,
        /// What each signature signs, in order.
        signatures: Vec<SignedPayload>,
    },
    /// The proposer is about to propose the signing of this exact transaction in `session`
    /// (journaled before the proposal leaves, so a restarted proposer asks its signers).
    SigningProposed {
        /// Our transaction id.
        tx: String,
        /// The signing session.
        session: SessionId,
        /// Who signs.
        signers: Vec<PartyIndex>,
        /// The transaction signed.
        unsigned: protocol::chains::UnsignedTx,
    },
    /// A wallet's DKG did not complete on every member (a party never confirmed, or a member
    /// aborted it): this node's share was deleted in the same synced batch.
    WalletDiscarded {
        /// The wallet.
        wallet: WalletId,
        /// Its keygen session.
        session: SessionId,
        /// Why.
        reason: String,
    },
    /// A peer's reputation changed (a timeout, cheating, or good service since).
    ReputationChanged {
        /// The peer.
        party: PartyIndex,
        /// New reputation, thousandths (0..=1000).
        reputation_milli: u32,
        /// What changed it.
        cause: String,
    },
    /// A presigning made presignatures for a wallet and signer set (their material is sealed
    /// in the vault in the same synced batch).
    PresignaturesAdded {
        /// The wallet.
        wallet: WalletId,
        /// The presigning session.
        session: SessionId,
        /// The signers who made them (and alone can use them).
        signers: Vec<PartyIndex>,
        /// How many.
        count: u16,
    },
    /// This node replaced its share of a wallet with a refreshed one (same group key), in the
    /// same synced batch that overwrote the old share; its old presignatures are gone.
    KeySharesRefreshed {
        /// The wallet.
        wallet: WalletId,
        /// Its scheme.
        scheme: SchemeId,
        /// The refresh session.
        session: SessionId,
        /// This node's party index.
        party: PartyIndex,
        /// The group key (unchanged).
        public_key: Vec<u8>,
    },
    /// This node replaced its share of a wallet with one of a new threshold (same group key),
    /// in the same synced batch that overwrote the old share; its old presignatures are gone.
    KeySharesReshared {
        /// The wallet.
        wallet: WalletId,
        /// Its scheme.
        scheme: SchemeId,
        /// The reshare session.
        session: SessionId,
        /// This node's party index.
        party: PartyIndex,
        /// The group key (unchanged).
        public_key: Vec<u8>,
        /// The threshold before.
        old_threshold: u16,
        /// The threshold now.
        threshold: u16,
    },
    /// This node sent its share of a wallet towards a guarded export of the whole key, or (as
    /// `receiver`) put the whole key together. Journaled, synced, before any share leaves.
    KeyExported {
        /// The wallet.
        wallet: WalletId,
        /// The export session.
        session: SessionId,
        /// Who gets the whole key.
        receiver: PartyIndex,
        /// Every member that approved and sends its share.
        participants: Vec<PartyIndex>,
        /// This node's party index.
        party: PartyIndex,
    },
}

/// One signature of a transaction and exactly what it signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedPayload {
    /// The signed bytes or digest.
    pub payload: Vec<u8>,
    /// The signature (64 bytes).
    pub signature: Vec<u8>,
    /// ECDSA's recovery id.
    pub recovery_id: Option<u8>,
}

/// `TransactionInitiated`, schema v2: amounts are u128 and carry a fee ceiling.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionInitiated {
    /// Our transaction id.
    pub tx: String,
    /// Paying wallet.
    pub wallet: WalletId,
    /// Chain name.
    pub chain: String,
    /// Recipient address.
    pub to: String,
    /// Amount in the chain's smallest unit.
    pub amount: u128,
    /// Highest fee the request allows.
    pub fee_ceiling: Option<u128>,
}

/// `TransactionInitiated`, schema v1 (u64 amounts, no fee ceiling). Kept to read old journals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionInitiatedV1 {
    /// Our transaction id.
    pub tx: String,
    /// Paying wallet.
    pub wallet: WalletId,
    /// Chain name.
    pub chain: String,
    /// Recipient address.
    pub to: String,
    /// Amount.
    pub amount: u64,
}

impl From<TransactionInitiatedV1> for TransactionInitiated {
    fn from(v1: TransactionInitiatedV1) -> Self {
        Self {
            tx: v1.tx,
            wallet: v1.wallet,
            chain: v1.chain,
            to: v1.to,
            amount: u128::from(v1.amount),
            fee_ceiling: None,
        }
    }
}

const PAYLOAD_LIMIT: u64 = 1024 * 1024;

fn enc<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    protocol::envelope::encode_bounded(v, PAYLOAD_LIMIT).map_err(|e| StoreError::InvalidInput(e.to_string()))
}

fn dec<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    protocol::envelope::decode_bounded(bytes, PAYLOAD_LIMIT).map_err(|e| StoreError::corrupt("event payload", e))
}

impl DomainEvent {
    /// Stable type name.
    pub fn event_type(&self) -> &'static str {
        match self {
            DomainEvent::WalletCreated { .. } => "WalletCreated",
            DomainEvent::KeySharesGenerated { .. } => "KeySharesGenerated",
            DomainEvent::CommitteeSetupStored { .. } => "CommitteeSetupStored",
            DomainEvent::CeremonyStarted { .. } => "CeremonyStarted",
            DomainEvent::CeremonyAborted { .. } => "CeremonyAborted",
            DomainEvent::TransactionInitiated(_) => "TransactionInitiated",
            DomainEvent::TransactionSigned { .. } => "TransactionSigned",
            DomainEvent::TransactionBroadcast { .. } => "TransactionBroadcast",
            DomainEvent::TransactionConfirmed { .. } => "TransactionConfirmed",
            DomainEvent::TransactionFailed { .. } => "TransactionFailed",
            DomainEvent::LimitRefused { .. } => "LimitRefused",
            DomainEvent::BreakerTransition { .. } => "BreakerTransition",
            DomainEvent::BalanceObserved { .. } => "BalanceObserved",
            DomainEvent::CeremonyCompleted { .. } => "CeremonyCompleted",
            DomainEvent::SigningProposed { .. } => "SigningProposed",
            DomainEvent::SignaturesKept { .. } => "SignaturesKept",
            DomainEvent::WalletDiscarded { .. } => "WalletDiscarded",
            DomainEvent::ReputationChanged { .. } => "ReputationChanged",
            DomainEvent::PresignaturesAdded { .. } => "PresignaturesAdded",
            DomainEvent::KeySharesRefreshed { .. } => "KeySharesRefreshed",
            DomainEvent::KeySharesReshared { .. } => "KeySharesReshared",
            DomainEvent::KeyExported { .. } => "KeyExported",
        }
    }

    /// Current schema version of this event's type.
    pub fn schema_version(&self) -> u16 {
        match self {
            DomainEvent::TransactionInitiated(_)
            | DomainEvent::TransactionFailed { .. }
            | DomainEvent::LimitRefused { .. } => 2,
            _ => 1,
        }
    }

    /// The payload as stored (the current schema).
    pub(crate) fn encode(&self) -> Result<Vec<u8>, StoreError> {
        match self {
            DomainEvent::TransactionInitiated(t) => enc(t),
            other => enc(other),
        }
    }

    /// Reads a stored payload, upcasting older schema versions.
    pub(crate) fn decode(event_type: &str, version: u16, payload: &[u8]) -> Result<Self, StoreError> {
        let event = match (event_type, version) {
            ("TransactionInitiated", 1) => {
                DomainEvent::TransactionInitiated(dec::<TransactionInitiatedV1>(payload)?.into())
            }
            ("TransactionInitiated", 2) => DomainEvent::TransactionInitiated(dec(payload)?),
            ("TransactionFailed", 1) => {
                let v1 = dec::<TransactionFailedV1>(payload)?;
                DomainEvent::TransactionFailed { tx: v1.tx, kind: TransferFailureKind::Unknown, reason: v1.reason }
            }
            ("TransactionFailed", 2) => dec::<DomainEvent>(payload)?,
            ("LimitRefused", 1) => {
                let v1 = dec::<LimitRefusedV1>(payload)?;
                let (subject, limit, retry_after_ms) = (v1.subject, v1.limit, v1.retry_after_ms);
                DomainEvent::LimitRefused { subject, limit, retry_after_ms, level: 0, max: 0, refused: 1 }
            }
            ("LimitRefused", 2) => dec::<DomainEvent>(payload)?,
            (_, 1) => dec::<DomainEvent>(payload)?,
            _ => return Err(StoreError::UnknownEvent { event_type: event_type.to_owned(), version }),
        };
        if event.event_type() != event_type {
            return Err(StoreError::corrupt("event", format!("{event_type} payload holds a {}", event.event_type())));
        }
        Ok(event)
    }

    /// The wallet this event concerns directly, if any.
    pub fn wallet(&self) -> Option<&WalletId> {
        match self {
            DomainEvent::WalletCreated { wallet, .. }
            | DomainEvent::KeySharesGenerated { wallet, .. }
            | DomainEvent::KeySharesRefreshed { wallet, .. }
            | DomainEvent::KeySharesReshared { wallet, .. }
            | DomainEvent::KeyExported { wallet, .. }
            | DomainEvent::WalletDiscarded { wallet, .. }
            | DomainEvent::BalanceObserved { wallet, .. } => Some(wallet),
            DomainEvent::TransactionInitiated(t) => Some(&t.wallet),
            DomainEvent::CeremonyStarted { wallet, .. } => wallet.as_ref(),
            _ => None,
        }
    }

    /// The transaction this event concerns, if any.
    pub fn transaction(&self) -> Option<&str> {
        match self {
            DomainEvent::TransactionInitiated(t) => Some(&t.tx),
            DomainEvent::TransactionSigned { tx, .. }
            | DomainEvent::SigningProposed { tx, .. }
            | DomainEvent::TransactionBroadcast { tx, .. }
            | DomainEvent::TransactionConfirmed { tx, .. }
            | DomainEvent::TransactionFailed { tx, .. } => Some(tx),
            _ => None,
        }
    }
}

/// `TransactionFailed`, schema v1 (no kind), laid out as the enum variant was encoded: its
/// variant index, then its fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionFailedV1 {
    /// The variant's index in [`DomainEvent`].
    pub variant: u32,
    /// Our transaction id.
    pub tx: String,
    /// Why.
    pub reason: String,
}

/// `LimitRefused`, schema v1 (no level, maximum or count), as the variant was encoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitRefusedV1 {
    /// The variant's index in [`DomainEvent`].
    pub variant: u32,
    /// Who or what was limited.
    pub subject: String,
    /// Which limit.
    pub limit: String,
    /// When to retry.
    pub retry_after_ms: u64,
}

/// Encodes a v1 `LimitRefused` payload, as an older node wrote it (tests of upcasting).
#[doc(hidden)]
pub fn encode_limit_v1_for_tests(v1: &LimitRefusedV1) -> Result<Vec<u8>, StoreError> {
    enc(v1)
}

/// Encodes a v1 `TransactionFailed` payload, as an older node wrote it (tests of upcasting).
#[doc(hidden)]
pub fn encode_failed_v1_for_tests(v1: &TransactionFailedV1) -> Result<Vec<u8>, StoreError> {
    enc(v1)
}

/// Encodes a v1 `TransactionInitiated` payload, as an older node wrote it (tests of upcasting).
#[doc(hidden)]
pub fn encode_v1_for_tests(v1: &TransactionInitiatedV1) -> Result<Vec<u8>, StoreError> {
    enc(v1)
}
