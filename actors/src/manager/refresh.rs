//! Proactive refresh of a wallet's shares, crash-safe. Each member stages its new share
//! (synced) before it confirms; it makes the share live once every member confirmed. A member
//! that crashed, or timed out, between the two asks the others: one that has the new share
//! live says `Refreshed` (commit: every member staged before any could commit); one that never
//! staged it and is not running it says `Abandoned` (drop: nobody could have committed). When
//! every other member says `Staged`, every member holds the new share and none made it live:
//! each commits (they all reach the same answer, so nobody drops). Until then the old share
//! stays live and no new refresh of that wallet runs.

use std::time::{Duration, Instant};

use protocol::confirm::{Confirmed, Stage};
use protocol::proposal::{Control, Outcome, Proposal, ProposalKind};
use protocol::{BoxCeremony, KeyShare, KeygenParams, PartyIndex, ProtocolError, SessionId, WalletId};
use ractor::ActorRef;
use store::CeremonyKind;

use super::{ManagerMsg, ManagerState, Running, SessionStatus};
use crate::session::SessionError;
use crate::worker::CeremonyFactory;

/// What a renewal of a wallet's shares changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Renewal {
    /// New shares.
    Refresh,
    /// New shares and new auxiliary info (CGGMP24's Paillier keys).
    RefreshAux,
    /// New shares of a new threshold.
    Reshare(u16),
}

/// How often a staged refresh is asked about again.
pub(super) const RESOLVE_EVERY: Duration = Duration::from_secs(5);

impl ManagerState {
    /// Our policy for a refresh: we hold the wallet, nothing else of it runs here, and no
    /// earlier refresh of it is undecided here.
    pub(super) fn refresh_admissible(&self, session: SessionId, proposal: &Proposal) -> Result<(), String> {
        let (ProposalKind::Refresh { wallet }
        | ProposalKind::RefreshAux { wallet }
        | ProposalKind::Reshare { wallet, .. }) = &proposal.kind
        else {
            return Ok(());
        };
        let share = self.args.keystore.get(wallet).map_err(|e| e.to_string())?;
        if matches!(proposal.kind, ProposalKind::RefreshAux { .. }) {
            let adapter = self.args.registry.get(&share.scheme).map_err(|e| e.to_string())?;
            if !adapter.refreshes_aux() {
                return Err(format!("{} has no auxiliary info to refresh", share.scheme));
            }
        }
        if usize::from(share.parties) != proposal.participants.len() {
            return Err(format!("wallet {wallet} has {} parties", share.parties));
        }
        match self.args.keystore.staged_refresh(wallet) {
            Ok(Some(s)) if s != session => return Err(format!("refresh {s} of {wallet} is still undecided here")),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
        if self.running_for(wallet).any(|s| s != session) {
            return Err(format!("another ceremony of {wallet} runs here"));
        }
        Ok(())
    }

    /// Sessions running here for `wallet`.
    pub(super) fn running_for<'a>(&'a self, wallet: &'a WalletId) -> impl Iterator<Item = SessionId> + 'a {
        self.running
            .keys()
            .copied()
            .filter(move |s| self.sessions.get(s).and_then(|i| i.wallet.as_ref()) == Some(wallet))
    }

    /// Starts this member's side of refresh `session` (with new auxiliary info or not), or of
    /// a reshare: the same staging, confirmation and resolution serve all three.
    pub(super) async fn start_refresh(
        &mut self,
        myself: &ActorRef<ManagerMsg>,
        session: SessionId,
        wallet: WalletId,
        renewal: Renewal,
        participants: Vec<PartyIndex>,
    ) -> Result<(Running, protocol::SchemeId), String> {
        let share = self.args.keystore.get(&wallet).map_err(|e| e.to_string())?;
        let id = share.scheme.clone();
        // New Paillier keys: proof rounds as slow as a committee setup's.
        let timing = if renewal == Renewal::RefreshAux { CeremonyKind::Setup } else { CeremonyKind::Refresh };
        let timeout = self.round_timeout_for(timing, &id);
        let scheme = self.args.registry.get(&id).map_err(|e| e.to_string())?;
        let threshold = if let Renewal::Reshare(t) = renewal { t } else { share.threshold };
        let params = KeygenParams {
            round_timeout_ms: timeout,
            ..KeygenParams::new(session, self.args.me, share.parties, threshold)
        };
        let (me, everyone) = (self.args.me, participants.clone());
        let keystore = self.args.keystore.clone();
        let staging = (self.args.keystore.clone(), wallet.clone());
        let factory: CeremonyFactory<KeyShare> = Box::new(move || {
            let inner = match renewal {
                Renewal::Refresh => scheme.refresh(&share, &params)?,
                Renewal::RefreshAux => scheme.refresh_aux(&share, &params)?,
                Renewal::Reshare(_) => scheme.reshare(&share, &params)?,
            };
            let (store, wallet) = staging;
            let stage: Stage = Box::new(move |new: &KeyShare| {
                store
                    .stage_refresh(&wallet, session, new)
                    .map_err(|e| ProtocolError::Internal(format!("staging the refreshed share failed: {e}")))
            });
            Ok(Box::new(Confirmed::new(inner, me, everyone, timeout).with_stage(stage)) as BoxCeremony<KeyShare>)
        });
        let actor = self
            .spawn_session(myself, session, participants, factory, move |outcome| {
                // Every member confirmed: the staged share becomes the live one.
                let outcome = outcome.and_then(|share| match keystore.commit_refresh(&wallet, session) {
                    Ok(true) => Ok(share),
                    Ok(false) => Err(SessionError::Worker("the staged share is gone".into())),
                    Err(e) => Err(SessionError::Worker(format!("making the refreshed share live failed: {e}"))),
                });
                ManagerMsg::RefreshDone(session, outcome)
            })
            .await?;
        Ok((Running::Refresh(actor), id))
    }

    /// A refresh ended here (committed, or left staged for [`Self::resolve_refreshes`]).
    pub(super) fn refresh_done(&mut self, session: SessionId, outcome: crate::session::SessionOutcome<KeyShare>) {
        let kind = self.sessions.get(&session).map_or(CeremonyKind::Refresh, |i| i.kind);
        self.finished(session, kind, outcome.map(|s| SessionStatus::KeyReady(s.public_key)));
        self.next_resolve = Instant::now();
    }

    /// Asks the other members about every staged refresh not running here (at most every
    /// [`RESOLVE_EVERY`]).
    pub(super) fn resolve_refreshes(&mut self, myself: &ActorRef<ManagerMsg>) {
        if Instant::now() < self.next_resolve {
            return;
        }
        self.next_resolve = Instant::now() + RESOLVE_EVERY;
        let staged = match self.args.keystore.staged_refreshes() {
            Ok(s) => s,
            Err(e) => return tracing::error!(error = %e, "reading staged refreshes failed"),
        };
        for (wallet, session) in staged {
            if self.running.contains_key(&session) || self.asks.contains_key(&session) {
                continue;
            }
            let Ok(share) = self.args.keystore.get(&wallet) else { continue };
            let (reply, answers) = ractor::concurrency::oneshot();
            let everyone: Vec<PartyIndex> = (0..share.parties).collect();
            self.ask_with(
                myself,
                session,
                everyone,
                Control::AskRefresh { session, wallet: wallet.clone() },
                reply.into(),
            );
            let me = myself.clone();
            tokio::spawn(async move {
                if let Ok(answers) = answers.await {
                    let _ = me.cast(ManagerMsg::RefreshResolved { wallet, session, answers });
                }
            });
        }
    }

    /// What the members said of a staged refresh.
    pub(super) fn refresh_resolved(
        &mut self,
        wallet: WalletId,
        session: SessionId,
        answers: Vec<(PartyIndex, Outcome)>,
    ) {
        let others: Vec<&(PartyIndex, Outcome)> = answers.iter().filter(|(p, _)| *p != self.args.me).collect();
        let parties = self.args.keystore.get(&wallet).map(|s| usize::from(s.parties)).unwrap_or(0);
        let committed = others.iter().find(|(_, o)| *o == Outcome::Refreshed);
        let never = others.iter().find(|(_, o)| *o == Outcome::Abandoned);
        let all_staged =
            parties > 0 && others.len() + 1 == parties && others.iter().all(|(_, o)| *o == Outcome::Staged);
        let result = if let Some((p, _)) = committed {
            tracing::info!(%wallet, %session, member = p, "refresh live at a member: the new share goes live here");
            self.args.keystore.commit_refresh(&wallet, session)
        } else if let Some((p, _)) = never {
            tracing::warn!(%wallet, %session, member = p, "refresh never staged at a member: dropped");
            self.args.keystore.drop_refresh(&wallet, session)
        } else if all_staged {
            tracing::info!(%wallet, %session, "refresh staged at every member: the new share goes live");
            self.args.keystore.commit_refresh(&wallet, session)
        } else {
            return;
        };
        if let Err(e) = result {
            tracing::error!(%wallet, %session, error = %e, "settling a staged refresh failed");
        }
    }

    /// A member asks whether refresh `session` of `wallet` committed here.
    pub(super) fn on_ask_refresh(&mut self, from: PartyIndex, session: SessionId, wallet: WalletId) {
        let keystore = &self.args.keystore;
        let outcome = match keystore.refreshed(&wallet, session) {
            Ok(true) => Outcome::Refreshed,
            Ok(false) if self.running.contains_key(&session) => return,
            Ok(false) => match keystore.staged_refresh(&wallet) {
                Ok(Some(s)) if s == session => Outcome::Staged,
                Ok(_) if keystore.get(&wallet).is_ok() => Outcome::Abandoned,
                // Without the wallet (or a readable vault) this member knows nothing.
                _ => return,
            },
            Err(e) => return tracing::error!(%session, error = %e, "reading the wallet stream failed"),
        };
        self.send_direct(session, from, &Control::Outcome { session, outcome });
    }
}
