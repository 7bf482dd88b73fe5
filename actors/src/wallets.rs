//! The wallets this node holds a share of, read from the journal's `WalletCreated` events and
//! caught up incrementally on each query (the journal is the source of truth).

use std::collections::BTreeMap;
use std::sync::Mutex;

use protocol::{PublicKey, SchemeId, WalletId};
use store::{DomainEvent, Journal, StoreError};

/// One wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalletInfo {
    /// Its id.
    pub wallet: WalletId,
    /// Scheme.
    pub scheme: SchemeId,
    /// Signers needed.
    pub threshold: u16,
    /// Committee size.
    pub parties: u16,
    /// Group public key.
    pub public_key: PublicKey,
    /// When it was created, ms since the epoch.
    pub created_ms: u64,
}

/// The last journal sequence read, and the wallets so far.
type Indexed = (u64, BTreeMap<WalletId, WalletInfo>);

/// Wallets by id.
#[derive(Default)]
pub struct WalletIndex {
    inner: Mutex<Indexed>,
}

const PAGE: usize = 1024;

impl WalletIndex {
    fn catch_up(&self, journal: &Journal) -> Result<std::sync::MutexGuard<'_, Indexed>, StoreError> {
        let mut guard = self.inner.lock().map_err(|_| StoreError::InvalidInput("wallet index poisoned".into()))?;
        loop {
            let events = journal.read_all(guard.0 + 1, PAGE)?;
            let Some(last) = events.last().map(|e| e.seq) else { break };
            for e in events {
                if let DomainEvent::WalletCreated { wallet, scheme, threshold, parties, public_key } = e.event {
                    let public_key = PublicKey { scheme: scheme.clone(), bytes: public_key };
                    let info = WalletInfo {
                        wallet: wallet.clone(),
                        scheme,
                        threshold,
                        parties,
                        public_key,
                        created_ms: e.recorded_at_ms,
                    };
                    guard.1.insert(wallet, info);
                }
            }
            guard.0 = last;
        }
        Ok(guard)
    }

    /// Every wallet, by id.
    pub fn list(&self, journal: &Journal) -> Result<Vec<WalletInfo>, StoreError> {
        Ok(self.catch_up(journal)?.1.values().cloned().collect())
    }

    /// One wallet.
    pub fn get(&self, journal: &Journal, wallet: &WalletId) -> Result<Option<WalletInfo>, StoreError> {
        Ok(self.catch_up(journal)?.1.get(wallet).cloned())
    }
}
