//! Handlers the pool adds to the manager: choosing signers (a pooled set first), a
//! presigning's end, and a presigned signing's fall-back to full signing.

use protocol::proposal::ProposalKind;
use protocol::{PartyIndex, SessionId};
use ractor::{ActorRef, RpcReplyPort};
use store::CeremonyKind;

use super::{CeremonyEvent, ManagerMsg, ManagerState, SessionFailure, SessionStatus};
use crate::session::SessionOutcome;
use crate::signers::Who;

/// A pooled signer set is chosen only if each of its peers ranks at least this well.
const POOLED_MIN_RANK: f64 = 0.5;

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
        let (me, parties, network) = (self.args.me, self.args.parties, self.args.network.clone());
        let (health, keystore, myself) = (self.args.health.clone(), self.args.keystore.clone(), myself.clone());
        let pooled = match (&kind, &who) {
            (ProposalKind::Sign { wallet, signable }, Who::Signers { wanted: None, threshold })
                if self.args.presign.target > 0 && !signable.is_raw() =>
            {
                Some((wallet.clone(), *threshold, signable.payloads().len()))
            }
            _ => None,
        };
        tokio::spawn(async move {
            if let Some((wallet, threshold, needed)) = pooled {
                let up = network.connected().await.unwrap_or_default();
                let healthy = |p: &PartyIndex| {
                    *p == me || (up.contains(p) && health.as_ref().is_none_or(|b| b.rank(*p) >= POOLED_MIN_RANK))
                };
                let best = keystore
                    .presignature_sets(&wallet)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(set, n)| {
                        set.len() == usize::from(threshold)
                            && set.contains(&me)
                            && *n >= needed
                            && set.iter().all(healthy)
                    })
                    .max_by_key(|(_, n)| *n);
                if let Some((participants, _)) = best {
                    let _ = myself.cast(ManagerMsg::Propose { kind, participants, reply });
                    return;
                }
            }
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
        failure: SessionFailure,
    ) {
        self.fall_back(myself, session).await;
        let reason = failure.to_string();
        self.set_status(session, SessionStatus::Failed(failure));
        self.emit(CeremonyEvent::Abandoned { session, reason });
    }
}
