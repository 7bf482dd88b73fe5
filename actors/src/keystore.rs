//! Where a node keeps its wallets' key shares: the encrypted vault, with `WalletCreated` and
//! `KeySharesGenerated` journaled in the same synced batch as the sealed share.

use std::sync::Arc;

use protocol::{KeyShare, SchemeId, SessionId, SetupMaterial, WalletId};
use store::records::{Consumed, OneTime};
use store::{AppendRequest, DomainEvent, ExpectedVersion, Journal, StoreError, StreamId, Vault};

/// A node's key shares.
pub trait Keystore: Send + Sync + 'static {
    /// Stores a new wallet's share; fails if the wallet exists.
    fn put(&self, wallet: &WalletId, session: SessionId, share: &KeyShare) -> Result<(), StoreError>;
    /// This node's share of `wallet`.
    fn get(&self, wallet: &WalletId) -> Result<KeyShare, StoreError>;
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
}

/// Vault name of the node's one committee.
const COMMITTEE: &str = "committee";

/// The store-backed keystore.
pub struct StoreKeystore {
    /// The journal.
    pub journal: Arc<Journal>,
    /// The vault.
    pub vault: Arc<Vault>,
}

impl Keystore for StoreKeystore {
    fn consume_session(&self, session: SessionId) -> Result<bool, StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Consumed::new(self.journal.db().clone()).consume(OneTime::Session, session.as_bytes(), now)
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
        let request =
            AppendRequest::new(StreamId::Wallet(wallet.clone()), ExpectedVersion::NoStream, vec![created, generated])
                .with(self.vault.seal_share(wallet, share)?);
        self.journal.append(request).map(|_| ())
    }

    fn get(&self, wallet: &WalletId) -> Result<KeyShare, StoreError> {
        let events = self.journal.read_stream(&StreamId::Wallet(wallet.clone()), 1, 1)?;
        match events.first().map(|e| &e.event) {
            Some(DomainEvent::WalletCreated { scheme, .. }) => {
                let party = self.party_of(wallet)?;
                self.vault.load_share(wallet, scheme, party)
            }
            _ => Err(StoreError::NotFound(format!("wallet {wallet}"))),
        }
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

    fn party_of(&self, wallet: &WalletId) -> Result<u16, StoreError> {
        for e in self.journal.read_stream(&StreamId::Wallet(wallet.clone()), 1, 16)? {
            if let DomainEvent::KeySharesGenerated { party, .. } = e.event {
                return Ok(party);
            }
        }
        Err(StoreError::NotFound(format!("share of wallet {wallet}")))
    }
}
