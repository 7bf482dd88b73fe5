//! Records that must survive restarts so that nothing is ever used twice: session ids and
//! signing nonces (presignatures, once used). Marked as side writes in the same synced batch as
//! the event that uses them, or directly.

use protocol::SessionId;
use rocksdb::WriteOptions;

use crate::db::Db;
use crate::error::StoreError;
use crate::journal::SideWrite;
use crate::keys::{self, cf};

/// What kind of one-time value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OneTime {
    /// A ceremony session id.
    Session,
    /// A nonce or presignature id.
    Nonce,
}

impl OneTime {
    pub(crate) fn tag(self) -> &'static str {
        match self {
            OneTime::Session => "session",
            OneTime::Nonce => "nonce",
        }
    }
}

/// Reads and writes consumed one-time values.
#[derive(Clone)]
pub struct Consumed {
    db: Db,
}

impl Consumed {
    /// Over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The side write that marks `id` consumed at `now_ms`.
    pub fn mark(kind: OneTime, id: &[u8], now_ms: u64) -> SideWrite {
        SideWrite { cf: cf::CONSUMED, key: keys::consumed(kind.tag(), id), value: Some(now_ms.to_be_bytes().to_vec()) }
    }

    /// The side write that marks a session id consumed.
    pub fn mark_session(session: &SessionId, now_ms: u64) -> SideWrite {
        Self::mark(OneTime::Session, session.as_bytes(), now_ms)
    }

    /// True when `id` was consumed.
    pub fn is_consumed(&self, kind: OneTime, id: &[u8]) -> Result<bool, StoreError> {
        Ok(self.db.inner.get_cf(self.db.cf(cf::CONSUMED)?, keys::consumed(kind.tag(), id))?.is_some())
    }

    /// Marks `id` consumed now, durably, unless it already was: returns false if it was (the
    /// caller must refuse to use it). Not atomic with other writes; prefer [`Consumed::mark`]
    /// inside an append when an event records the use.
    pub fn consume(&self, kind: OneTime, id: &[u8], now_ms: u64) -> Result<bool, StoreError> {
        if self.is_consumed(kind, id)? {
            return Ok(false);
        }
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.inner.put_cf_opt(
            self.db.cf(cf::CONSUMED)?,
            keys::consumed(kind.tag(), id),
            now_ms.to_be_bytes(),
            &opts,
        )?;
        Ok(true)
    }
}
