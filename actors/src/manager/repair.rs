//! Repair of one member's lost share. The member repairing proposes it for itself (a proposal
//! naming another member as `lost` is refused by the book): no one can have a share sent to
//! anyone but its owner. A helper joins when it holds the wallet with that scheme and
//! threshold and nothing else of the wallet runs here; the member repairing joins only while
//! it holds no share of the wallet.

use protocol::proposal::{Proposal, ProposalKind};
use protocol::{BoxCeremony, KeyShare, PartyIndex, RepairParams, SchemeId, SessionId, WalletId};
use ractor::ActorRef;
use store::CeremonyKind;

use super::{ManagerMsg, ManagerState, Running};
use crate::session::SessionError;
use crate::worker::CeremonyFactory;

impl ManagerState {
    /// Our policy on a repair.
    pub(super) fn repair_admissible(&self, session: SessionId, proposal: &Proposal) -> Result<(), String> {
        let ProposalKind::Repair { wallet, scheme, threshold, lost } = &proposal.kind else { return Ok(()) };
        let adapter = self.args.registry.get(scheme).map_err(|e| e.to_string())?;
        if !adapter.repairs() {
            return Err(format!("{scheme} shares are not repaired: see the README's recovery section"));
        }
        let held = self.args.keystore.get(wallet);
        if *lost == self.args.me {
            return match held {
                Ok(_) => Err(format!("this member holds its share of {wallet}")),
                Err(_) => Ok(()),
            };
        }
        let share = held.map_err(|e| e.to_string())?;
        if share.scheme != *scheme || share.threshold != *threshold {
            return Err(format!("{wallet} is a {}-of-{} {} wallet", share.threshold, share.parties, share.scheme));
        }
        if self.running_for(wallet).any(|s| s != session) {
            return Err(format!("another ceremony of {wallet} runs here"));
        }
        Ok(())
    }

    /// Starts this member's side of a repair.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn start_repair(
        &mut self,
        myself: &ActorRef<ManagerMsg>,
        session: SessionId,
        wallet: &WalletId,
        scheme: &SchemeId,
        threshold: u16,
        lost: PartyIndex,
        participants: Vec<PartyIndex>,
    ) -> Result<Running, String> {
        let adapter = self.args.registry.get(scheme).map_err(|e| e.to_string())?;
        let share =
            if lost == self.args.me { None } else { Some(self.args.keystore.get(wallet).map_err(|e| e.to_string())?) };
        let params = RepairParams {
            session,
            me: self.args.me,
            lost,
            helpers: participants.iter().copied().filter(|p| *p != lost).collect(),
            parties: self.args.parties,
            threshold,
            round_timeout_ms: self.round_timeout_for(CeremonyKind::Repair, scheme),
        };
        let public_key = share.as_ref().map(|s| s.public_key.clone());
        let factory: CeremonyFactory<Option<KeyShare>> =
            Box::new(move || adapter.repair(share.as_ref(), &params) as Result<BoxCeremony<_>, _>);
        let (keystore, wallet) = (self.args.keystore.clone(), wallet.clone());
        let actor = self
            .spawn_session(myself, session, participants, factory, move |outcome| {
                let outcome = outcome.and_then(|repaired| match (repaired, public_key) {
                    // Stored (and journaled) before anyone hears the member has it again.
                    (Some(share), _) => keystore
                        .put(&wallet, session, &share)
                        .map(|()| share.public_key)
                        .map_err(|e| SessionError::Worker(format!("storing the repaired share failed: {e}"))),
                    (None, Some(key)) => Ok(key),
                    (None, None) => Err(SessionError::Worker("the repair yielded no share".into())),
                });
                ManagerMsg::RepairDone(session, outcome)
            })
            .await?;
        Ok(Running::Repair(actor))
    }
}
