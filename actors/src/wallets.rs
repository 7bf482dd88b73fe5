//! The wallets this node holds a share of, read from the wallets projection (fed by the
//! journal's `WalletCreated` events). Each read first applies what the journal committed, so a
//! wallet is visible the moment its keygen is journaled here.

use std::sync::Arc;

use protocol::WalletId;
use store::{Journal, Projections};

use crate::error::Error;

/// One wallet.
pub type WalletInfo = store::WalletRow;

/// Wallets by id.
#[derive(Clone)]
pub struct WalletIndex {
    projections: Projections,
    journal: Arc<Journal>,
}

impl WalletIndex {
    /// Over the node's read models and journal.
    pub fn new(projections: Projections, journal: Arc<Journal>) -> Self {
        Self { projections, journal }
    }

    /// Every wallet, by id.
    pub fn list(&self) -> Result<Vec<WalletInfo>, Error> {
        self.projections.refresh(&self.journal)?;
        Ok(self.projections.wallets()?)
    }

    /// One wallet.
    pub fn get(&self, wallet: &WalletId) -> Result<Option<WalletInfo>, Error> {
        self.projections.refresh(&self.journal)?;
        Ok(self.projections.wallet(wallet)?)
    }

    /// The read models (open transfers for a resume).
    pub fn projections(&self) -> &Projections {
        &self.projections
    }
}
