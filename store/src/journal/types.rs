//! The journal's public types: append requests and their results, recorded events, the head.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::events::{DomainEvent, StreamId};

/// What a writer expects of the stream before its append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must be at exactly this version (its number of events).
    Exactly(u64),
}

impl std::fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exactly(v) => write!(f, "{v}"),
        }
    }
}

/// Makes a retried append a no-op: the same key and content are stored once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(pub [u8; 32]);

impl IdempotencyKey {
    /// Derives a key from a caller's request id.
    pub fn from_request_id(id: &str) -> Self {
        Self(Sha256::digest([b"mpc-idem/v1:".as_slice(), id.as_bytes()].concat()).into())
    }
}

/// A write that must land atomically with an append (a sealed share, a consumed session).
#[derive(Clone)]
pub struct SideWrite {
    pub(crate) cf: &'static str,
    pub(crate) key: Vec<u8>,
    pub(crate) value: Option<Vec<u8>>,
}

impl std::fmt::Debug for SideWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SideWrite({}, {} key bytes)", self.cf, self.key.len())
    }
}

/// One append.
#[derive(Debug)]
pub struct AppendRequest {
    /// Target stream.
    pub stream: StreamId,
    /// Concurrency check.
    pub expected: ExpectedVersion,
    /// Events, in order.
    pub events: Vec<DomainEvent>,
    /// Deduplication key.
    pub idempotency_key: Option<IdempotencyKey>,
    /// Writes that commit with the events or not at all.
    pub side_writes: Vec<SideWrite>,
}

impl AppendRequest {
    /// An append with no idempotency key and no side writes.
    pub fn new(stream: StreamId, expected: ExpectedVersion, events: Vec<DomainEvent>) -> Self {
        Self { stream, expected, events, idempotency_key: None, side_writes: Vec::new() }
    }

    /// Sets the idempotency key.
    pub fn idempotent(mut self, key: IdempotencyKey) -> Self {
        self.idempotency_key = Some(key);
        self
    }

    /// Adds a side write.
    pub fn with(mut self, write: SideWrite) -> Self {
        self.side_writes.push(write);
        self
    }
}

/// Where an append landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appended {
    /// Global sequence of the first event.
    pub first_seq: u64,
    /// Global sequence of the last event.
    pub last_seq: u64,
    /// The stream's version after the append.
    pub stream_version: u64,
    /// True when an earlier identical append was found and nothing was written.
    pub deduplicated: bool,
}

/// One entry exactly as stored: every field its hash covers ([`super::entry_hash`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawEntry {
    /// Global sequence, from 1.
    pub seq: u64,
    /// Its stream's key (`wallet/<id>`, `tx/<id>`, `session/<hex>`, `limits`, `health`, ...).
    pub stream: String,
    /// Version within the stream, from 1.
    pub stream_version: u64,
    /// The event's type name.
    pub event_type: String,
    /// The payload's schema version.
    pub schema_version: u16,
    /// Wall-clock time of the commit, ms since the Unix epoch.
    pub recorded_at_ms: u64,
    /// The encoded event, as hashed.
    pub payload: Vec<u8>,
    /// Hash of the previous entry (zero for the first).
    pub prev_hash: [u8; 32],
    /// This entry's hash.
    pub hash: [u8; 32],
}

impl RawEntry {
    /// The event, decoded (and upcast to the current schema).
    pub fn event(&self) -> Result<crate::events::DomainEvent, crate::error::StoreError> {
        crate::events::DomainEvent::decode(&self.event_type, self.schema_version, &self.payload)
    }
}

/// One stored event, decoded (and upcast).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Global sequence, from 1.
    pub seq: u64,
    /// Stream.
    pub stream: StreamId,
    /// Version within the stream, from 1.
    pub stream_version: u64,
    /// Wall-clock time of the commit, ms since the Unix epoch.
    pub recorded_at_ms: u64,
    /// The event.
    pub event: DomainEvent,
    /// Hash of the previous entry (zero for the first).
    pub prev_hash: [u8; 32],
    /// This entry's hash.
    pub hash: [u8; 32],
}

/// The end of the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JournalHead {
    /// Last sequence (0 when empty).
    pub seq: u64,
    /// Its hash (zero when empty): publish it to anchor the history.
    pub hash: [u8; 32],
}

/// What `verify` checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: u64,
    /// The verified head.
    pub head: JournalHead,
}
