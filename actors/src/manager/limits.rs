//! Before this member votes to sign (or sends its own signing proposal), its limiter has the
//! last word: the wallet's request rate, its daily velocity, raw signatures and message
//! diversity, counted here whatever the proposer allowed.

use protocol::limits::{Limit, Refusal};
use protocol::proposal::Proposal;
use protocol::SessionId;

use super::ManagerState;
use crate::limiter::{LimiterMsg, SigningCheck};

impl ManagerState {
    /// Granted (and counted) by the limiter, or why not. Fails closed while the limiter is
    /// restarting. Only signings are limited here.
    pub(super) async fn within_limits(&self, session: SessionId, proposal: &Proposal) -> Result<(), Refusal> {
        let Some((wallet, signable)) = proposal.kind.signing() else { return Ok(()) };
        let Some(slot) = &self.args.limiter else { return Ok(()) };
        let restarting = || Refusal {
            limit: Limit::Velocity,
            subject: wallet.to_string(),
            level: 0,
            max: 0,
            retry_after_ms: Some(1000),
        };
        let limiter = slot.get().ok_or_else(restarting)?;
        let check = SigningCheck {
            wallet: wallet.clone(),
            session,
            payloads: signable.payloads().to_vec(),
            raw: signable.is_raw(),
        };
        match ractor::call!(limiter, |reply| LimiterMsg::Signing(check, reply)) {
            Ok(result) => result,
            Err(_) => Err(restarting()),
        }
    }
}

impl ManagerState {
    /// A signing proposal abandoned before it started made no signature: its grant goes back.
    pub(super) fn refund(&self, session: SessionId) {
        if let Some(limiter) = self.args.limiter.as_ref().and_then(crate::supervisor::Slot::get) {
            let _ = limiter.cast(LimiterMsg::Refund(session));
        }
    }
}
