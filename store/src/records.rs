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

/// A spend (an Ethereum nonce, a Bitcoin output) this member promised to one transaction when
/// it accepted to sign it. Kept across restarts: a restarted member must not sign another
/// transaction that uses the same spend while a signature for the first may be broadcast.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reservation {
    /// The wallet.
    pub wallet: String,
    /// What is used up, as the chain names it.
    pub spend: String,
    /// The transaction it is promised to.
    pub tx: String,
    /// The signing session that promised it.
    pub session: SessionId,
    /// Until when, ms since the epoch.
    pub expires_ms: u64,
}

const RESERVATION_PREFIX: &[u8] = b"reserved/";

fn reservation_key(wallet: &str, spend: &str) -> Vec<u8> {
    let mut k = RESERVATION_PREFIX.to_vec();
    k.extend_from_slice(wallet.as_bytes());
    k.push(0);
    k.extend_from_slice(spend.as_bytes());
    k
}

/// Reads and writes reservations (a handful at a time: one per accepted transfer's spend).
#[derive(Clone)]
pub struct Reservations {
    db: Db,
}

impl Reservations {
    /// Over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Records `r`, synced, before the member's acceptance leaves it.
    pub fn put(&self, r: &Reservation) -> Result<(), StoreError> {
        let value = bincode::serialize(r).map_err(|e| StoreError::corrupt("reservation", e))?;
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.inner.put_cf_opt(self.db.cf(cf::META)?, reservation_key(&r.wallet, &r.spend), value, &opts)?;
        Ok(())
    }

    /// Every reservation still running at `now_ms`; expired ones are deleted.
    pub fn live(&self, now_ms: u64) -> Result<Vec<Reservation>, StoreError> {
        let cf = self.db.cf(cf::META)?;
        let mut out = Vec::new();
        let mode = rocksdb::IteratorMode::From(RESERVATION_PREFIX, rocksdb::Direction::Forward);
        for item in self.db.inner.iterator_cf(cf, mode) {
            let (key, value) = item?;
            if !key.starts_with(RESERVATION_PREFIX) {
                break;
            }
            let r: Reservation = bincode::deserialize(&value).map_err(|e| StoreError::corrupt("reservation", e))?;
            if r.expires_ms > now_ms {
                out.push(r);
            } else {
                self.db.inner.delete_cf(cf, &key)?;
            }
        }
        Ok(out)
    }

    /// Forgets what `session` reserved (its signing made no signature).
    pub fn release(&self, session: &SessionId) -> Result<(), StoreError> {
        let cf = self.db.cf(cf::META)?;
        for r in self.live(0)?.into_iter().filter(|r| r.session == *session) {
            self.db.inner.delete_cf(cf, reservation_key(&r.wallet, &r.spend))?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reservations_outlive_a_reopen_expire_and_are_released_by_session() {
        let dir = tempfile::tempdir().unwrap();
        let s1 = SessionId::derive("t", b"1");
        let s2 = SessionId::derive("t", b"2");
        let r = |spend: &str, session, expires_ms| Reservation {
            wallet: "w".into(),
            spend: spend.into(),
            tx: "tx-0-a".into(),
            session,
            expires_ms,
        };
        {
            let db = Db::open(dir.path()).unwrap();
            let rs = Reservations::new(db);
            rs.put(&r("ethereum/1/nonce/7", s1, 2_000)).unwrap();
            rs.put(&r("ethereum/1/nonce/8", s2, 2_000)).unwrap();
            rs.put(&r("ethereum/1/nonce/9", s2, 500)).unwrap();
        }
        let rs = Reservations::new(Db::open(dir.path()).unwrap());
        let live = rs.live(1_000).unwrap();
        assert_eq!(live.len(), 2, "kept across a reopen, the expired one dropped");
        rs.release(&s2).unwrap();
        let live = rs.live(1_000).unwrap();
        assert_eq!(live, vec![r("ethereum/1/nonce/7", s1, 2_000)]);
        assert!(rs.live(3_000).unwrap().is_empty());
    }
}
