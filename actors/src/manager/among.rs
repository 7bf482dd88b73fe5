//! Handlers the pool adds to the manager: choosing signers (a pooled set first), a
//! presigning's end, and a presigned signing's fall-back to full signing.

use protocol::proposal::ProposalKind;
use protocol::SessionId;
use ractor::{ActorRef, RpcReplyPort};
use store::CeremonyKind;

use super::{CeremonyEvent, ManagerMsg, ManagerState, SessionFailure, SessionStatus};
use crate::session::SessionOutcome;
use crate::signers::Who;

impl ManagerState {
    /// Chooses the participants off the manager (asking the transport who is connected takes
    /// a turn of its task), then proposes. A signing whose signers the node chooses prefers
    /// a signer set with presignatures ready, all connected and healthy.
    pub(super) fn propose_among(
        &self,
        myself: &ActorRef<ManagerMsg>,
        kind: ProposalKind,
        who: Who,
        reply: RpcReplyPort<Result<SessionId, crate::Error>>,
    ) {
        if let (ProposalKind::Sign { wallet, signable }, Who::Signers { wanted: None, .. }) = (&kind, &who) {
            if !signable.is_raw() {
                if let Some(participants) = self.pooled_signers(wallet, signable.payloads().len()) {
                    let _ = myself.cast(ManagerMsg::Propose { kind, participants, reply });
                    return;
                }
            }
        }
        let (me, parties, network) = (self.args.me, self.args.parties, self.args.network.clone());
        let (health, myself) = (self.args.health.clone(), myself.clone());
        tokio::spawn(async move {
            match crate::signers::resolve(&network, me, parties, who, health.as_ref()).await {
                Ok(participants) => {
                    let _ = myself.cast(ManagerMsg::Propose { kind, participants, reply });
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            }
        });
    }

    /// A presigning ended (its presignatures stored first, if it made any).
    pub(super) fn presign_done(
        &mut self,
        session: SessionId,
        outcome: SessionOutcome<Vec<protocol::presign::Presignature>>,
    ) {
        let ok = outcome.is_ok();
        let made = outcome.map(|items| SessionStatus::Presigned(items.len() as u16));
        let pool = self.book.get(&session).and_then(|p| match &p.kind {
            ProposalKind::Presign { wallet, .. } => Some((wallet.clone(), p.participants.clone())),
            _ => None,
        });
        self.finished(session, CeremonyKind::Presign, made);
        self.refill_over(session, ok);
        if let Some((wallet, signers)) = pool {
            self.pool_level(&wallet, &signers);
        }
    }

    /// Our presigned signing was abandoned: the full signing replaces it, then it ends.
    pub(super) async fn fell_back(
        &mut self,
        myself: &ActorRef<ManagerMsg>,
        session: SessionId,
        proposal: protocol::proposal::Proposal,
        failure: SessionFailure,
    ) {
        self.fall_back(myself, session, proposal).await;
        let reason = failure.to_string();
        self.set_status(session, SessionStatus::Failed(failure));
        self.emit(CeremonyEvent::Abandoned { session, reason, journaled: true });
    }
}
