//! Where a node keeps its wallets' key shares: the encrypted vault, with `WalletCreated` and
//! `KeySharesGenerated` journaled in the same synced batch as the sealed share.

use std::collections::BTreeMap;
use std::sync::Arc;

use protocol::presign::Presignature;
use protocol::{KeyShare, PartyIndex, SchemeId, SessionId, SetupMaterial, WalletId};
pub use store::records::Reservation;
use store::records::{Consumed, OneTime, Reservations};
use store::{AppendRequest, CeremonyKind, DomainEvent, ExpectedVersion, Journal, StoreError, StreamId, Vault};

/// A node's key shares.
pub trait Keystore: Send + Sync + 'static {
    /// Stores a new wallet's share; fails if the wallet exists.
    fn put(&self, wallet: &WalletId, session: SessionId, share: &KeyShare) -> Result<(), StoreError>;
    /// This node's share of `wallet`.
    fn get(&self, wallet: &WalletId) -> Result<KeyShare, StoreError>;
    /// Deletes the share `session` made for `wallet`, journaling why, in one synced batch;
    /// false if this node holds no such share (another session's share is never touched).
    fn discard(&self, wallet: &WalletId, session: SessionId, reason: &str) -> Result<bool, StoreError>;
    /// The live share DKG `session` made here, as the journal has it (`None`: no DKG of that
    /// session made a share here that is still live). What a restarted node knows of a DKG it
    /// completed before: an abort of it may still come.
    fn completed_dkg(&self, session: SessionId) -> Result<Option<CompletedDkg>, StoreError>;
    /// Stores this node's part of a committee setup for `setup.scheme`.
    fn put_setup(&self, session: SessionId, setup: &SetupMaterial) -> Result<(), StoreError>;
    /// This node's part of the committee setup for `scheme`.
    fn get_setup(&self, scheme: &SchemeId) -> Result<SetupMaterial, StoreError>;
    /// Records, durably, that this node runs `session`; false if it already did (a session id
    /// is never run twice here, not even after a restart).
    fn consume_session(&self, session: SessionId) -> Result<bool, StoreError>;
    /// The signatures a signing completed here made, as kept in the journal (`None`: it did
    /// not complete here).
    fn kept_signatures(&self, session: SessionId) -> Result<Option<Vec<protocol::Signature>>, StoreError>;
    /// The wallets held here (as the read model has them), their schemes and thresholds.
    fn wallets(&self) -> Result<Vec<(WalletId, SchemeId, u16)>, StoreError>;
    /// Stores what presigning `session` made here, journaling `PresignaturesAdded`, in one
    /// synced batch.
    fn put_presignatures(&self, session: SessionId, items: &[Presignature]) -> Result<(), StoreError>;
    /// Takes presignature `id` for its one use: gone, and its id marked used, before it is
    /// returned (`None` if it is not here).
    fn take_presignature(
        &self,
        wallet: &WalletId,
        signers: &[PartyIndex],
        id: &SessionId,
    ) -> Result<Option<Presignature>, StoreError>;
    /// Discards presignature `id` unused, marking it used; true if it was here.
    fn discard_presignature(
        &self,
        wallet: &WalletId,
        signers: &[PartyIndex],
        id: &SessionId,
    ) -> Result<bool, StoreError>;
    /// True when presignature `id` is here, unused.
    fn has_presignature(&self, wallet: &WalletId, signers: &[PartyIndex], id: &SessionId) -> Result<bool, StoreError>;
    /// The ids of `wallet`'s presignatures for exactly `signers`.
    fn presignature_ids(&self, wallet: &WalletId, signers: &[PartyIndex]) -> Result<Vec<SessionId>, StoreError>;
    /// How many presignatures `wallet` has here, per signer set.
    fn presignature_sets(&self, wallet: &WalletId) -> Result<BTreeMap<Vec<PartyIndex>, usize>, StoreError>;
    /// Discards every presignature of `wallet` here, marking each used; how many.
    fn discard_presignatures(&self, wallet: &WalletId) -> Result<usize, StoreError>;
    /// Keeps `share`, made by refresh `session`, beside the live share (synced), before this
    /// node confirms the refresh.
    fn stage_refresh(&self, wallet: &WalletId, session: SessionId, share: &KeyShare) -> Result<(), StoreError>;
    /// The refresh whose share is staged for `wallet`, if any.
    fn staged_refresh(&self, wallet: &WalletId) -> Result<Option<SessionId>, StoreError>;
    /// Every wallet with a staged refresh, and the refresh.
    fn staged_refreshes(&self) -> Result<Vec<(WalletId, SessionId)>, StoreError>;
    /// Makes the share staged by `session` the live one: the old share overwritten, the
    /// staged copy removed and `KeySharesRefreshed` journaled in one synced batch, after the
    /// old share's presignatures are discarded. False if nothing of `session` is staged.
    fn commit_refresh(&self, wallet: &WalletId, session: SessionId) -> Result<bool, StoreError>;
    /// Forgets the share staged by `session` (the refresh committed nowhere); false if absent.
    fn drop_refresh(&self, wallet: &WalletId, session: SessionId) -> Result<bool, StoreError>;
    /// True when refresh (or reshare) `session` committed here.
    fn refreshed(&self, wallet: &WalletId, session: SessionId) -> Result<bool, StoreError>;
    /// Journals `KeyExported` (synced) before this node's share of `wallet` leaves it for
    /// export `session`.
    fn record_export(
        &self,
        wallet: &WalletId,
        session: SessionId,
        receiver: PartyIndex,
        participants: &[PartyIndex],
    ) -> Result<(), StoreError>;
    /// Whether this node may start a new ceremony: its store can still write (the journal
    /// has not failed closed, the disk is not at its floor). Checked before every vote and
    /// proposal, so a node never carries on in memory what it could not persist.
    fn writable(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Records, synced, a spend promised to a transaction this member accepted to sign.
    fn reserve_spend(&self, reservation: &Reservation) -> Result<(), StoreError> {
        let _ = reservation;
        Ok(())
    }
    /// Forgets what `session` reserved.
    fn release_spends(&self, session: &SessionId) -> Result<(), StoreError> {
        let _ = session;
        Ok(())
    }
    /// The spends still promised at `now_ms` (after a restart).
    fn reserved_spends(&self, now_ms: u64) -> Result<Vec<Reservation>, StoreError> {
        let _ = now_ms;
        Ok(Vec::new())
    }
}

/// Vault name of the node's one committee.
const COMMITTEE: &str = "committee";

/// The store-backed keystore.
pub struct StoreKeystore {
    /// The journal.
    pub journal: Arc<Journal>,
    /// The vault.
    pub vault: Arc<Vault>,
    /// Each wallet's live share as last read (this keystore is the only writer of a wallet's
    /// key events, so it stays true; a wallet stream also grows with balance reads).
    lives: std::sync::Mutex<std::collections::HashMap<WalletId, Life>>,
    /// New ceremonies are refused under this much free disk, bytes (0: no floor).
    min_free: u64,
}

impl StoreKeystore {
    /// A keystore over `journal` and `vault`.
    pub fn new(journal: Arc<Journal>, vault: Arc<Vault>) -> Self {
        Self { journal, vault, lives: Default::default(), min_free: 0 }
    }

    /// Refuses new ceremonies while the data directory has less than `bytes` free.
    pub fn with_min_free(mut self, bytes: u64) -> Self {
        self.min_free = bytes;
        self
    }
}

impl Keystore for StoreKeystore {
    fn writable(&self) -> Result<(), StoreError> {
        self.journal.writable(self.min_free)
    }

    fn reserve_spend(&self, reservation: &Reservation) -> Result<(), StoreError> {
        Reservations::new(self.journal.db().clone()).put(reservation)
    }

    fn release_spends(&self, session: &SessionId) -> Result<(), StoreError> {
        Reservations::new(self.journal.db().clone()).release(session)
    }

    fn reserved_spends(&self, now_ms: u64) -> Result<Vec<Reservation>, StoreError> {
        Reservations::new(self.journal.db().clone()).live(now_ms)
    }

    fn consume_session(&self, session: SessionId) -> Result<bool, StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Consumed::new(self.journal.db().clone()).consume(OneTime::Session, session.as_bytes(), now)
    }

    fn completed_dkg(&self, session: SessionId) -> Result<Option<CompletedDkg>, StoreError> {
        let started =
            self.journal.read_stream(&StreamId::Session(session), 1, 16)?.into_iter().find_map(|e| match e.event {
                DomainEvent::CeremonyStarted {
                    kind: CeremonyKind::Keygen, wallet: Some(wallet), participants, ..
                } => Some((wallet, participants)),
                _ => None,
            });
        let Some((wallet, participants)) = started else { return Ok(None) };
        // Still the live share (not discarded or replaced since)?
        let live = self.life(&wallet)?.1.filter(|l| l.session == session);
        Ok(live.map(|l| CompletedDkg { wallet, participants, at_ms: l.at_ms }))
    }

    fn kept_signatures(&self, session: SessionId) -> Result<Option<Vec<protocol::Signature>>, StoreError> {
        for e in self.journal.read_stream(&StreamId::Session(session), 1, 16)? {
            if let DomainEvent::SignaturesKept { signatures, .. } = e.event {
                let sigs = signatures
                    .into_iter()
                    .map(|s| protocol::Signature { bytes: s.signature, recovery_id: s.recovery_id })
                    .collect();
                return Ok(Some(sigs));
            }
        }
        Ok(None)
    }

    fn put(&self, wallet: &WalletId, session: SessionId, share: &KeyShare) -> Result<(), StoreError> {
        let created = DomainEvent::WalletCreated {
            wallet: wallet.clone(),
            scheme: share.scheme.clone(),
            threshold: share.threshold,
            parties: share.parties,
            public_key: share.public_key.bytes.clone(),
        };
        let generated = DomainEvent::KeySharesGenerated {
            wallet: wallet.clone(),
            scheme: share.scheme.clone(),
            session,
            party: share.party,
            public_key: share.public_key.bytes.clone(),
        };
        // A wallet whose DKG was discarded may be made again under the same name.
        let (version, live) = self.life(wallet)?;
        let expected = match (version, live) {
            (0, _) => ExpectedVersion::NoStream,
            (v, None) => ExpectedVersion::Exactly(v),
            (_, Some(_)) => ExpectedVersion::NoStream,
        };
        let request = AppendRequest::new(StreamId::Wallet(wallet.clone()), expected, vec![created, generated])
            .with(self.vault.seal_share(wallet, share)?);
        self.journal.append(request).map(|_| ())
    }

    fn get(&self, wallet: &WalletId) -> Result<KeyShare, StoreError> {
        let cached = self.lives.lock().ok().and_then(|l| l.get(wallet).cloned());
        let life = match cached {
            Some(l) => l,
            None => {
                let l = self.life(wallet)?.1.ok_or_else(|| StoreError::NotFound(format!("wallet {wallet}")))?;
                if let Ok(mut lives) = self.lives.lock() {
                    lives.insert(wallet.clone(), l.clone());
                }
                l
            }
        };
        self.vault.load_share(wallet, &life.scheme, life.party)
    }

    fn discard(&self, wallet: &WalletId, session: SessionId, reason: &str) -> Result<bool, StoreError> {
        let (version, live) = self.life(wallet)?;
        let Some(life) = live.filter(|l| l.session == session) else { return Ok(false) };
        if let Ok(mut lives) = self.lives.lock() {
            lives.remove(wallet);
        }
        let event = DomainEvent::WalletDiscarded { wallet: wallet.clone(), session, reason: reason.to_owned() };
        let request =
            AppendRequest::new(StreamId::Wallet(wallet.clone()), ExpectedVersion::Exactly(version), vec![event])
                .with(self.vault.delete_share(wallet, &life.scheme, life.party));
        self.journal.append(request)?;
        // Presignatures of a discarded key are useless: gone too (and their ids marked used).
        self.vault.discard_all_presignatures(wallet)?;
        Ok(true)
    }

    fn put_setup(&self, session: SessionId, setup: &SetupMaterial) -> Result<(), StoreError> {
        let event = DomainEvent::CommitteeSetupStored {
            scheme: setup.scheme.clone(),
            session,
            party: setup.party,
            parties: setup.parties,
        };
        let request = AppendRequest::new(Self::setup_stream(&setup.scheme), ExpectedVersion::NoStream, vec![event])
            .with(self.vault.seal_setup(COMMITTEE, setup)?);
        self.journal.append(request).map(|_| ())
    }

    fn wallets(&self) -> Result<Vec<(WalletId, SchemeId, u16)>, StoreError> {
        let rows = store::Projections::new(self.journal.db().clone()).wallets()?;
        Ok(rows.into_iter().map(|r| (r.wallet, r.scheme, r.threshold)).collect())
    }

    fn put_presignatures(&self, session: SessionId, items: &[Presignature]) -> Result<(), StoreError> {
        let Some(first) = items.first() else { return Ok(()) };
        let event = DomainEvent::PresignaturesAdded {
            wallet: first.wallet.clone(),
            session,
            signers: first.signers.clone(),
            count: items.len() as u16,
        };
        let request = AppendRequest::new(StreamId::Session(session), ExpectedVersion::Any, vec![event]);
        let request = self.vault.seal_presignatures(items)?.into_iter().fold(request, AppendRequest::with);
        self.journal.append(request).map(|_| ())
    }

    fn take_presignature(
        &self,
        wallet: &WalletId,
        signers: &[PartyIndex],
        id: &SessionId,
    ) -> Result<Option<Presignature>, StoreError> {
        self.vault.take_presignature(wallet, signers, id)
    }

    fn discard_presignature(
        &self,
        wallet: &WalletId,
        signers: &[PartyIndex],
        id: &SessionId,
    ) -> Result<bool, StoreError> {
        self.vault.discard_presignature(wallet, signers, id)
    }

    fn has_presignature(&self, wallet: &WalletId, signers: &[PartyIndex], id: &SessionId) -> Result<bool, StoreError> {
        self.vault.has_presignature(wallet, signers, id)
    }

    fn presignature_ids(&self, wallet: &WalletId, signers: &[PartyIndex]) -> Result<Vec<SessionId>, StoreError> {
        self.vault.presignature_ids(wallet, signers)
    }

    fn presignature_sets(&self, wallet: &WalletId) -> Result<BTreeMap<Vec<PartyIndex>, usize>, StoreError> {
        self.vault.presignature_sets(wallet)
    }

    fn discard_presignatures(&self, wallet: &WalletId) -> Result<usize, StoreError> {
        self.vault.discard_all_presignatures(wallet)
    }

    fn stage_refresh(&self, wallet: &WalletId, session: SessionId, share: &KeyShare) -> Result<(), StoreError> {
        let live = self.get(wallet)?;
        if live.public_key != share.public_key || live.party != share.party || live.scheme != share.scheme {
            return Err(StoreError::InvalidInput(format!("a refreshed share of {wallet} must keep its key and party")));
        }
        self.vault.stage_share(wallet, session, share)
    }

    fn staged_refresh(&self, wallet: &WalletId) -> Result<Option<SessionId>, StoreError> {
        Ok(self.vault.staged_share(wallet)?.map(|s| s.session))
    }

    fn staged_refreshes(&self) -> Result<Vec<(WalletId, SessionId)>, StoreError> {
        let mut out = Vec::new();
        for wallet in self.vault.staged_wallets()? {
            if let Some(s) = self.vault.staged_share(&wallet)? {
                out.push((wallet, s.session));
            }
        }
        Ok(out)
    }

    fn commit_refresh(&self, wallet: &WalletId, session: SessionId) -> Result<bool, StoreError> {
        let Some(staged) = self.vault.staged_share(wallet)?.filter(|s| s.session == session) else { return Ok(false) };
        let (version, live) = self.life(wallet)?;
        if live.is_none() {
            return Err(StoreError::NotFound(format!("wallet {wallet}")));
        }
        // Presignatures made with the old share can never sign with the new ones.
        self.vault.discard_all_presignatures(wallet)?;
        let old_threshold = self.get(wallet)?.threshold;
        let share = staged.share;
        let (scheme, party, public_key) = (share.scheme.clone(), share.party, share.public_key.bytes.clone());
        let event = if share.threshold == old_threshold {
            DomainEvent::KeySharesRefreshed { wallet: wallet.clone(), scheme, session, party, public_key }
        } else {
            let threshold = share.threshold;
            DomainEvent::KeySharesReshared {
                wallet: wallet.clone(),
                scheme,
                session,
                party,
                public_key,
                old_threshold,
                threshold,
            }
        };
        let request =
            AppendRequest::new(StreamId::Wallet(wallet.clone()), ExpectedVersion::Exactly(version), vec![event])
                .with(self.vault.seal_share(wallet, &share)?)
                .with(self.vault.unstage_share(wallet));
        self.journal.append(request)?;
        Ok(true)
    }

    fn drop_refresh(&self, wallet: &WalletId, session: SessionId) -> Result<bool, StoreError> {
        if self.vault.staged_share(wallet)?.filter(|s| s.session == session).is_none() {
            return Ok(false);
        }
        let request = AppendRequest::new(
            StreamId::Session(session),
            ExpectedVersion::Any,
            vec![DomainEvent::CeremonyAborted {
                session,
                reason: "refresh committed nowhere: its staged share is dropped".into(),
                blamed: Vec::new(),
                misbehaviour: false,
            }],
        )
        .with(self.vault.unstage_share(wallet));
        self.journal.append(request)?;
        Ok(true)
    }

    fn refreshed(&self, wallet: &WalletId, session: SessionId) -> Result<bool, StoreError> {
        let mut version = 0;
        loop {
            let events = self.journal.read_stream(&StreamId::Wallet(wallet.clone()), version + 1, 256)?;
            if events.is_empty() {
                return Ok(false);
            }
            for e in events {
                version += 1;
                if matches!(e.event, DomainEvent::KeySharesRefreshed { session: s, .. }
                    | DomainEvent::KeySharesReshared { session: s, .. } if s == session)
                {
                    return Ok(true);
                }
            }
        }
    }

    fn record_export(
        &self,
        wallet: &WalletId,
        session: SessionId,
        receiver: PartyIndex,
        participants: &[PartyIndex],
    ) -> Result<(), StoreError> {
        let party = self.get(wallet)?.party;
        let event = DomainEvent::KeyExported {
            wallet: wallet.clone(),
            session,
            receiver,
            participants: participants.to_vec(),
            party,
        };
        let request = AppendRequest::new(StreamId::Wallet(wallet.clone()), ExpectedVersion::Any, vec![event]);
        self.journal.append(request).map(|_| ())
    }

    fn get_setup(&self, scheme: &SchemeId) -> Result<SetupMaterial, StoreError> {
        let events = self.journal.read_stream(&Self::setup_stream(scheme), 1, 1)?;
        match events.first().map(|e| &e.event) {
            Some(DomainEvent::CommitteeSetupStored { party, .. }) => self.vault.load_setup(COMMITTEE, scheme, *party),
            _ => Err(StoreError::NotFound(format!("committee setup for {scheme}"))),
        }
    }
}

impl StoreKeystore {
    fn setup_stream(scheme: &SchemeId) -> StreamId {
        StreamId::committee_setup(scheme)
    }

    /// The wallet stream's version, and its live share if the last DKG was not discarded.
    fn life(&self, wallet: &WalletId) -> Result<(u64, Option<Life>), StoreError> {
        let mut version = 0;
        let mut live = None;
        let mut scheme = None;
        loop {
            let events = self.journal.read_stream(&StreamId::Wallet(wallet.clone()), version + 1, 256)?;
            if events.is_empty() {
                return Ok((version, live));
            }
            for e in events {
                version += 1;
                match e.event {
                    DomainEvent::WalletCreated { scheme: s, .. } => scheme = Some(s),
                    DomainEvent::KeySharesGenerated { session, party, .. } => {
                        let at_ms = e.recorded_at_ms;
                        live = scheme.clone().map(|scheme| Life { scheme, party, session, at_ms });
                    }
                    DomainEvent::WalletDiscarded { .. } => live = None,
                    _ => {}
                }
            }
        }
    }
}

/// A DKG that made a wallet's live share here (see [`Keystore::completed_dkg`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedDkg {
    /// The wallet it made.
    pub wallet: WalletId,
    /// Its participants.
    pub participants: Vec<PartyIndex>,
    /// When the share was stored here, ms since the Unix epoch.
    pub at_ms: u64,
}

/// A wallet's live share: its scheme, this node's index, the DKG that made it, and when.
#[derive(Clone)]
struct Life {
    scheme: SchemeId,
    party: u16,
    session: SessionId,
    /// When the share was stored here, ms since the Unix epoch.
    at_ms: u64,
}
