//! A wallet's balances, refreshed from the chain nodes: a change is journaled as
//! `BalanceObserved` (through the journal actor), and the answer comes from the projection once
//! it has applied that change. Runs beside the actor, never blocking its transfers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use protocol::WalletId;
use store::{AppendRequest, DomainEvent, ExpectedVersion, StreamId};

use super::ChainEndpoints;
use crate::error::Error;
use crate::journal::JournalMsg;
use crate::reads::ReadSide;
use crate::supervisor::NodeRefs;
use crate::wallets::WalletIndex;

/// One chain's balance of a wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceLine {
    /// Chain name.
    pub chain: String,
    /// The wallet's address there.
    pub address: Option<String>,
    /// In the chain's smallest unit.
    pub amount: u128,
    /// Journal position of the observation.
    pub seq: u64,
}

/// A wallet's balances, and the chains whose node could not be read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WalletBalances {
    /// Per chain, as last observed.
    pub balances: Vec<BalanceLine>,
    /// Chain name to why its node could not be read now.
    pub errors: BTreeMap<String, String>,
}

/// What a refresh reaches.
pub(super) struct BalanceReader {
    pub(super) chains: Arc<ChainEndpoints>,
    pub(super) wallets: Arc<WalletIndex>,
    pub(super) reads: ReadSide,
    pub(super) refs: NodeRefs,
}

impl BalanceReader {
    /// Reads every configured chain that takes the wallet's keys, journals what changed, and
    /// answers from the projection.
    pub(super) async fn refresh(self, wallet: WalletId) -> Result<WalletBalances, Error> {
        let w = self.wallets.get(&wallet)?.ok_or_else(|| Error::UnknownWallet(wallet.clone()))?;
        let known = self.reads.balances(&wallet)?;
        let mut out = WalletBalances::default();
        let mut addresses = BTreeMap::new();
        let mut last_seq = 0;
        for (name, e) in &self.chains.by_name {
            if e.chain.scheme() != w.scheme {
                continue;
            }
            let Ok(address) = e.chain.address(&w.public_key) else { continue };
            addresses.insert(name.clone(), address.clone());
            let Some(rpc) = e.rpc.clone() else { continue };
            let read = tokio::task::spawn_blocking(move || rpc.balance(&address))
                .await
                .map_err(|e| Error::Unavailable(e.to_string()))?;
            let amount = match read {
                Ok(a) => a,
                Err(e) => {
                    out.errors.insert(name.clone(), e.to_string());
                    continue;
                }
            };
            if known.iter().any(|b| b.chain == *name && b.amount == amount) {
                continue;
            }
            let event = DomainEvent::BalanceObserved { wallet: wallet.clone(), chain: name.clone(), amount };
            let request = AppendRequest::new(StreamId::Wallet(wallet.clone()), ExpectedVersion::Any, vec![event]);
            let journal =
                self.refs.journal.get().ok_or_else(|| Error::Unavailable("journal actor is restarting".into()))?;
            let appended = ractor::call!(journal, |reply| JournalMsg::Append(request, reply))??;
            last_seq = last_seq.max(appended.last_seq);
        }
        // Read your own write: wait (briefly) for the projection to apply it.
        self.reads.applied(last_seq, Duration::from_secs(2)).await?;
        out.balances = self
            .reads
            .balances(&wallet)?
            .into_iter()
            .map(|b| BalanceLine {
                address: addresses.get(&b.chain).cloned(),
                chain: b.chain,
                amount: b.amount,
                seq: b.seq,
            })
            .collect();
        Ok(out)
    }
}
