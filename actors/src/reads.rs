//! The read side as the admin API sees it: transfers, history, balances, the audit trail and
//! the node's stores, answered from the projections and the transaction streams (never a full
//! journal scan). Writes never come this way: they go through the journal actor.

use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::{PartyIndex, SchemeId, SessionId, WalletId};
use store::{Journal, Projections, StreamId, Vault};

pub use store::events::{SignedPayload, TransferFailureKind};
pub use store::projections::{AuditEntry, Balance, HistoryPage};
pub use store::{CeremonyKind, DomainEvent, JournalHead};

use crate::error::Error;

/// Where a transfer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxStatus {
    /// Journaled, not yet signed.
    Initiated,
    /// Signed by the committee.
    Signed,
    /// Sent to the chain.
    Broadcast,
    /// Confirmed to the configured depth.
    Confirmed,
    /// Ended without reaching the chain, or the chain failed it.
    Failed,
}

impl TxStatus {
    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Initiated => "initiated",
            Self::Signed => "signed",
            Self::Broadcast => "broadcast",
            Self::Confirmed => "confirmed",
            Self::Failed => "failed",
        }
    }

    /// True once it can no longer change.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Confirmed | Self::Failed)
    }
}

/// One journaled step of a transfer.
#[derive(Clone, Debug)]
pub struct TxStep {
    /// Journal position.
    pub seq: u64,
    /// Event type.
    pub kind: &'static str,
    /// When it was journaled, ms since the epoch.
    pub recorded_at_ms: u64,
}

/// A transfer as this node's journal holds it.
#[derive(Clone, Debug)]
pub struct TxView {
    /// Our transaction id.
    pub tx: String,
    /// Where it stands.
    pub status: TxStatus,
    /// The request (absent where this node only heard of later steps).
    pub request: Option<store::events::TransactionInitiated>,
    /// The chain's id for it, once signed.
    pub chain_txid: Option<String>,
    /// The signing session.
    pub session: Option<SessionId>,
    /// The signed transaction (empty where this node did not propose it).
    pub raw_tx: Vec<u8>,
    /// What each signature signs.
    pub signatures: Vec<SignedPayload>,
    /// Block or slot, and depth, once confirmed.
    pub confirmed: Option<(u64, u32)>,
    /// Why it failed, and what kind of failure.
    pub failure: Option<(TransferFailureKind, String)>,
    /// Every step, oldest first.
    pub steps: Vec<TxStep>,
}

/// The read side.
#[derive(Clone)]
pub struct ReadSide {
    journal: Arc<Journal>,
    projections: Projections,
    vault: Arc<Vault>,
}

/// One signer set's presignatures ready here: the set and the ids.
pub type PoolView = (Vec<PartyIndex>, Vec<SessionId>);

impl ReadSide {
    /// Over this node's stores.
    pub fn new(journal: Arc<Journal>, projections: Projections, vault: Arc<Vault>) -> Self {
        Self { journal, projections, vault }
    }

    /// A transfer's steps (`None`: this node has none).
    pub fn transaction(&self, tx: &str) -> Result<Option<TxView>, Error> {
        let events = self.journal.read_stream(&StreamId::Transaction(tx.to_owned()), 1, 64)?;
        if events.is_empty() {
            return Ok(None);
        }
        let mut v = TxView {
            tx: tx.to_owned(),
            status: TxStatus::Initiated,
            request: None,
            chain_txid: None,
            session: None,
            raw_tx: Vec::new(),
            signatures: Vec::new(),
            confirmed: None,
            failure: None,
            steps: Vec::new(),
        };
        for e in events {
            v.steps.push(TxStep { seq: e.seq, kind: e.event.event_type(), recorded_at_ms: e.recorded_at_ms });
            match e.event {
                DomainEvent::TransactionInitiated(t) => v.request = Some(t),
                DomainEvent::TransactionSigned { chain_txid, raw, session, signatures, .. } => {
                    v.status = TxStatus::Signed;
                    v.chain_txid = Some(chain_txid);
                    v.session = Some(session);
                    v.raw_tx = raw;
                    v.signatures = signatures;
                }
                DomainEvent::TransactionBroadcast { chain_txid, .. } => {
                    v.status = TxStatus::Broadcast;
                    v.chain_txid = Some(chain_txid);
                }
                DomainEvent::TransactionConfirmed { block, confirmations, .. } => {
                    v.status = TxStatus::Confirmed;
                    v.confirmed = Some((block, confirmations));
                }
                DomainEvent::TransactionFailed { kind, reason, .. } => {
                    v.status = TxStatus::Failed;
                    v.failure = Some((kind, reason));
                }
                _ => {}
            }
        }
        Ok(Some(v))
    }

    /// A wallet's history, newest first, `limit` entries before journal position `before`.
    pub fn history(&self, wallet: &WalletId, before: Option<u64>, limit: usize) -> Result<HistoryPage, Error> {
        Ok(self.projections.history(wallet, before, limit)?)
    }

    /// A wallet's last observed balance per chain.
    pub fn balances(&self, wallet: &WalletId) -> Result<Vec<Balance>, Error> {
        Ok(self.projections.balances(wallet)?)
    }

    /// Every journaled event in `[from_ms, to_ms)`, oldest first.
    pub fn audit(&self, from_ms: u64, to_ms: u64, limit: usize) -> Result<Vec<AuditEntry>, Error> {
        Ok(self.projections.audit(from_ms, to_ms, limit)?)
    }

    /// True once this node stored `scheme`'s committee setup.
    pub fn setup_stored(&self, scheme: &SchemeId) -> Result<bool, Error> {
        Ok(self.journal.stream_version(&StreamId::committee_setup(scheme))? > 0)
    }

    /// Safe-prime sets ready for CGGMP24 setups.
    pub fn primes_available(&self) -> Result<usize, Error> {
        Ok(self.vault.primes_available()?)
    }

    /// The presignatures ready here for `wallet`: per signer set, their ids.
    pub fn presignatures(&self, wallet: &WalletId) -> Result<Vec<PoolView>, Error> {
        let mut out = Vec::new();
        for (set, _) in self.vault.presignature_sets(wallet)? {
            let ids = self.vault.presignature_ids(wallet, &set)?;
            out.push((set, ids));
        }
        Ok(out)
    }

    /// The refresh whose new share waits here for `wallet` to be known committed, if any.
    pub fn staged_refresh(&self, wallet: &WalletId) -> Result<Option<protocol::SessionId>, Error> {
        Ok(self.vault.staged_share(wallet)?.map(|s| s.session))
    }

    /// Whether this node's store takes new ceremonies under a `min_free` floor (bytes), why
    /// not, and the data directory's free space (MiB).
    pub fn store_state(&self, min_free: u64) -> (Option<String>, Option<u64>) {
        let refusal = self.journal.writable(min_free).err().map(|e| e.to_string());
        (refusal, self.journal.db().free_bytes().ok().map(|b| b >> 20))
    }

    /// The journal's head.
    pub fn journal_head(&self) -> Result<JournalHead, Error> {
        Ok(self.journal.head()?)
    }

    /// How far the projections trail the journal, in events.
    pub fn lag(&self) -> Result<u64, Error> {
        Ok(self.projections.lag(&self.journal)?)
    }

    /// Waits (at most `within`) until the projections have applied journal position `seq`:
    /// a caller reads its own write.
    pub async fn applied(&self, seq: u64, within: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + within;
        while self.projections.applied()? < seq && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }
}
