//! The sessions a node knows: remembering a proposal, starting a session actor for an
//! accepted one, and recording how it ended.

use std::sync::Arc;
use std::time::Instant;

use protocol::batch::{sign_batch, Batch};
use protocol::confirm::Confirmed;
use protocol::presign::Presignature;
use protocol::proposal::{Proposal, ProposalKind};
use protocol::{
    BoxCeremony, Envelope, KeyShare, KeygenParams, ProtocolError, SessionId, SetupParams, SignParams, Signature,
};
use ractor::{Actor, ActorRef};
use store::CeremonyKind;
use tokio::sync::oneshot;

use super::refresh::Renewal;
use super::{kind_of, now_ms, ManagerMsg, ManagerState, Pending, Running, REMEMBERED};
use crate::events::{CeremonyEvent, SessionFailure, SessionInfo, SessionStatus};
use crate::session::{Outbox, RoundWatch, SessionActor, SessionArgs, SessionError, SessionMsg, SessionOutcome};
use crate::worker::CeremonyFactory;

impl ManagerState {
    /// Remembers a proposal we saw (or made).
    pub(super) fn remember(&mut self, session: SessionId, proposal: &Proposal) {
        if self.sessions.contains_key(&session) {
            return;
        }
        let (scheme, wallet) = match &proposal.kind {
            ProposalKind::Setup { scheme } => (Some(scheme.clone()), None),
            ProposalKind::Repair { wallet, scheme, .. } => (Some(scheme.clone()), Some(wallet.clone())),
            ProposalKind::Keygen { wallet, scheme, .. } => (Some(scheme.clone()), Some(wallet.clone())),
            ProposalKind::Sign { wallet, .. }
            | ProposalKind::SignPresigned { wallet, .. }
            | ProposalKind::Presign { wallet, .. }
            | ProposalKind::Refresh { wallet }
            | ProposalKind::RefreshAux { wallet }
            | ProposalKind::Reshare { wallet, .. }
            | ProposalKind::Export { wallet } => {
                (self.args.keystore.get(wallet).ok().map(|s| s.scheme.clone()), Some(wallet.clone()))
            }
        };
        match (&proposal.kind, proposal.expires_at_ms <= now_ms()) {
            (ProposalKind::Keygen { wallet, .. }, false) => {
                self.claims.entry(wallet.clone()).or_insert(session);
            }
            (ProposalKind::Setup { scheme }, false) => {
                self.setup_claims.entry(scheme.clone()).or_insert(session);
            }
            _ => {}
        }
        self.sessions.insert(
            session,
            SessionInfo {
                session,
                kind: kind_of(&proposal.kind),
                scheme,
                wallet,
                proposer: proposal.proposer,
                participants: proposal.participants.clone(),
                status: SessionStatus::Proposed,
                seen_ms: now_ms(),
                started_ms: None,
                finished_ms: None,
                detected: None,
                progress: None,
            },
        );
        self.order.push_back(session);
        while self.order.len() > REMEMBERED {
            let Some(old) = self.order.front().copied() else { break };
            if self.running.contains_key(&old) {
                break;
            }
            self.order.pop_front();
            self.sessions.remove(&old);
            self.watchers.remove(&old);
        }
    }

    /// Forgets the wallet or scheme `session` had claimed (it ended, or never started).
    pub(super) fn unclaim(&mut self, session: SessionId) {
        self.claims.retain(|_, s| *s != session);
        self.setup_claims.retain(|_, s| *s != session);
    }

    /// Spawns a session actor (linked to the manager) and a task that waits for its outcome,
    /// runs `then` on it (off the manager, e.g. to persist a share) and reports the result.
    pub(super) async fn spawn_session<O: Send + 'static>(
        &self,
        myself: &ActorRef<ManagerMsg>,
        session: SessionId,
        participants: Vec<protocol::PartyIndex>,
        factory: CeremonyFactory<O>,
        then: impl FnOnce(SessionOutcome<O>) -> ManagerMsg + Send + 'static,
    ) -> Result<ActorRef<SessionMsg<O>>, String> {
        let (done, wait) = oneshot::channel();
        // Off the actor, before the ceremony exists: a session id is never run twice here.
        let keystore = self.args.keystore.clone();
        let factory: CeremonyFactory<O> = Box::new(move || match keystore.consume_session(session) {
            Ok(true) => factory(),
            Ok(false) => Err(ProtocolError::Internal(format!("session {session} already ran on this node"))),
            Err(e) => Err(ProtocolError::Internal(format!("recording the session failed: {e}"))),
        });
        let outbox: Arc<dyn Outbox> = Arc::new(self.outbox());
        let manager = myself.clone();
        let watch = RoundWatch {
            sink: Some(Arc::new(move |o| {
                let _ = manager.cast(ManagerMsg::Observed(o));
            })),
            ..RoundWatch::default()
        };
        let args = SessionArgs {
            session,
            factory,
            outbox,
            done,
            observer: self.args.observer.clone(),
            me: self.args.me,
            participants,
            watch,
        };
        let (actor, _) = Actor::spawn_linked(None, SessionActor::<O>::default(), args, myself.get_cell())
            .await
            .map_err(|e| e.to_string())?;
        let me = myself.clone();
        tokio::spawn(async move {
            let outcome = wait.await.unwrap_or_else(|_| Err(SessionError::Worker("session vanished".into())));
            let _ = me.cast(then(outcome));
        });
        Ok(actor)
    }

    pub(super) async fn start(&mut self, myself: &ActorRef<ManagerMsg>, session: SessionId) -> Result<(), String> {
        let proposal = self.book.get(&session).cloned().ok_or("proposal forgotten")?;
        let kind = kind_of(&proposal.kind);
        let participants = proposal.participants.clone();
        let (running, scheme_id, wallet) = match proposal.kind {
            ProposalKind::Setup { scheme: id } => {
                let timeout = self.round_timeout_for(kind, &id);
                let scheme = self.args.registry.get(&id).map_err(|e| e.to_string())?;
                let params =
                    SetupParams { session, me: self.args.me, parties: self.args.parties, round_timeout_ms: timeout };
                let keystore = self.args.keystore.clone();
                // The setup draws its primes from the pool (a set is taken durably, never reused).
                let actor = self
                    .spawn_session(
                        myself,
                        session,
                        participants,
                        Box::new(move || scheme.setup(&params)),
                        move |outcome| {
                            let outcome = outcome.and_then(|setup| {
                                keystore
                                    .put_setup(session, &setup)
                                    .map(|()| setup)
                                    .map_err(|e| SessionError::Worker(format!("storing the setup failed: {e}")))
                            });
                            ManagerMsg::SetupDone(session, outcome)
                        },
                    )
                    .await?;
                (Running::Setup(actor), id, None)
            }
            ProposalKind::Keygen { wallet, scheme: id, threshold } => {
                let timeout = self.round_timeout_for(kind, &id);
                let setup = self.args.keystore.get_setup(&id).ok();
                let scheme = self.args.registry.get(&id).map_err(|e| e.to_string())?;
                let params = KeygenParams {
                    round_timeout_ms: timeout,
                    ..KeygenParams::new(session, self.args.me, self.args.parties, threshold)
                };
                let keystore = self.args.keystore.clone();
                let (me, everyone) = (self.args.me, participants.clone());
                // Confirmed: no share is stored until every member confirmed the same key.
                let factory: CeremonyFactory<KeyShare> = Box::new(move || {
                    let inner = scheme.keygen(&params, setup.as_ref())?;
                    Ok(Box::new(Confirmed::new(inner, me, everyone, timeout)) as BoxCeremony<KeyShare>)
                });
                let stored_as = wallet.clone();
                let actor = self
                    .spawn_session(myself, session, participants, factory, move |outcome| {
                        // Persist before anyone hears that the key exists.
                        let outcome = outcome.and_then(|share| {
                            keystore
                                .put(&stored_as, session, &share)
                                .map(|()| share)
                                .map_err(|e| SessionError::Worker(format!("storing the share failed: {e}")))
                        });
                        ManagerMsg::KeygenDone(session, outcome)
                    })
                    .await?;
                (Running::Keygen(actor), id, Some(wallet))
            }
            ProposalKind::Presign { wallet, count } => {
                let share = self.args.keystore.get(&wallet).map_err(|e| e.to_string())?;
                let id = share.scheme.clone();
                let timeout = self.round_timeout_for(kind, &id);
                let scheme = self.args.registry.get(&id).map_err(|e| e.to_string())?;
                let params = self.presign_params(session, wallet.clone(), participants.clone(), count, timeout);
                let keystore = self.args.keystore.clone();
                let busy = self.pool.busy.clone();
                // Low priority: each step waits (bounded) while a user's ceremony runs here.
                let factory: CeremonyFactory<Vec<Presignature>> = Box::new(move || {
                    let inner = scheme.presign(&share, &params)?;
                    Ok(Box::new(crate::yielding::Yielding::new(inner, busy)) as BoxCeremony<Vec<Presignature>>)
                });
                let actor = self
                    .spawn_session(myself, session, participants, factory, move |outcome| {
                        // Stored (and journaled) before anyone may name them.
                        let outcome = outcome.and_then(|items| {
                            keystore
                                .put_presignatures(session, &items)
                                .map(|()| items)
                                .map_err(|e| SessionError::Worker(format!("storing presignatures failed: {e}")))
                        });
                        ManagerMsg::PresignDone(session, outcome)
                    })
                    .await?;
                (Running::Presign(actor), id, Some(wallet))
            }
            ProposalKind::Refresh { wallet } => {
                let (running, id) =
                    self.start_refresh(myself, session, wallet.clone(), Renewal::Refresh, participants).await?;
                (running, id, Some(wallet))
            }
            ProposalKind::RefreshAux { wallet } => {
                let (running, id) =
                    self.start_refresh(myself, session, wallet.clone(), Renewal::RefreshAux, participants).await?;
                (running, id, Some(wallet))
            }
            ProposalKind::Reshare { wallet, threshold } => {
                let (running, id) = self
                    .start_refresh(myself, session, wallet.clone(), Renewal::Reshare(threshold), participants)
                    .await?;
                (running, id, Some(wallet))
            }
            ProposalKind::Export { wallet } => {
                let (running, id) =
                    self.start_export(myself, session, &wallet, proposal.proposer, participants).await?;
                (running, id, Some(wallet))
            }
            ProposalKind::Repair { wallet, scheme, threshold, lost } => {
                let running =
                    self.start_repair(myself, session, &wallet, &scheme, threshold, lost, participants).await?;
                (running, scheme, Some(wallet))
            }
            ProposalKind::Sign { ref wallet, ref signable }
            | ProposalKind::SignPresigned { ref wallet, ref signable, .. } => {
                let share = self.args.keystore.get(wallet).map_err(|e| e.to_string())?;
                let id = share.scheme.clone();
                let timeout = self.round_timeout_for(kind, &id);
                let scheme = self.args.registry.get(&id).map_err(|e| e.to_string())?;
                let params = SignParams {
                    round_timeout_ms: timeout,
                    ..SignParams::new(session, proposal.participants.clone(), Vec::new())
                };
                let payloads = signable.payloads().to_vec();
                let tx = signable.intent().map(|i| i.tx.clone());
                self.signing.insert(session, (tx, payloads.clone()));
                let factory: CeremonyFactory<Vec<Signature>> = if matches!(proposal.kind, ProposalKind::Sign { .. }) {
                    Box::new(move || sign_batch(&*scheme, &share, &params, &payloads))
                } else {
                    // Each presignature leaves the vault (deleted, marked used, synced) before
                    // the ceremony that issues its partial signature exists.
                    let mut taken = self.take_named(session, &proposal)?.into_iter().map(Some).collect::<Vec<_>>();
                    Box::new(move || {
                        let batch = Batch::new(params.session, params.signers.clone(), payloads.len(), |part, i| {
                            let (preimage, presignature) = taken
                                .get_mut(i)
                                .and_then(Option::take)
                                .ok_or_else(|| ProtocolError::Internal("no presignature for a payload".into()))?;
                            let message = payloads.get(i).cloned().unwrap_or_default();
                            let part_params = SignParams { session: part, message, ..params.clone() };
                            scheme.sign_presigned(&share, &part_params, &preimage, presignature)
                        })?;
                        Ok(Box::new(batch) as BoxCeremony<Vec<Signature>>)
                    })
                };
                let actor = self
                    .spawn_session(myself, session, participants, factory, move |outcome| {
                        ManagerMsg::SignDone(session, outcome)
                    })
                    .await?;
                (Running::Sign(actor), id, Some(wallet.clone()))
            }
        };
        for e in self.early.take(&session) {
            route(&running, e);
        }
        // A participant already gone past its grace will not answer: end at once, naming it.
        if let Some(&party) = proposal.participants.iter().find(|p| self.gone(**p)) {
            unreachable(&running, party);
        }
        let timeout = self.round_timeout_for(kind, &scheme_id);
        self.watch.timeouts.insert(session, timeout);
        self.running.insert(session, (running, Instant::now(), scheme_id.clone()));
        self.update_busy();
        if let Some(info) = self.sessions.get_mut(&session) {
            info.scheme = Some(scheme_id.clone());
            info.started_ms = Some(now_ms());
        }
        self.set_status(session, SessionStatus::Running);
        self.emit(CeremonyEvent::Started {
            session,
            kind,
            scheme: scheme_id,
            wallet,
            participants: proposal.participants.clone(),
        });
        Ok(())
    }

    /// A session ended: record its status, tell the listeners.
    pub(super) fn finished(
        &mut self,
        session: SessionId,
        kind: CeremonyKind,
        result: Result<SessionStatus, SessionError>,
    ) {
        let Some((_, started, scheme)) = self.running.remove(&session) else { return };
        self.inflow.forget(&session);
        if let Some(wallet) = self.sessions.get(&session).and_then(|i| i.wallet.clone()) {
            if self.running_for(&wallet).next().is_none()
                && self.deferred.contains_key(&Pending::Wallet(wallet.clone()))
            {
                self.freed.push(wallet);
            }
        }
        self.update_busy();
        self.watch.timeouts.remove(&session);
        self.unclaim(session);
        let signing = self.signing.remove(&session);
        // A signing given up at its proposer's request never completes here, even if its last
        // round was already computed.
        let result = match result {
            Ok(_) if self.given_up.contains(&session) => Err(SessionError::GivenUp),
            other => other,
        };
        match result {
            Ok(status) => {
                let (tx, kept) = match (&status, signing) {
                    (SessionStatus::Signed(sigs), Some((tx, payloads))) => (tx, kept_pairs(&payloads, sigs)),
                    _ => (None, Vec::new()),
                };
                self.set_status(session, status);
                let duration_ms = started.elapsed().as_millis() as u64;
                self.emit(CeremonyEvent::Completed { session, kind, scheme, duration_ms, tx, signatures: kept });
            }
            Err(e) => {
                if super::breaker::is_dkg(kind) {
                    self.dkg_failed(session, &e);
                }
                self.release(session);
                let misbehaviour = e.is_misbehaviour();
                let blamed = e.culprits();
                self.set_status(session, SessionStatus::Failed(SessionFailure::Ceremony(e.clone())));
                self.emit(CeremonyEvent::Aborted {
                    session,
                    kind,
                    scheme,
                    reason: e.to_string(),
                    blamed,
                    misbehaviour,
                });
            }
        }
    }
}

/// Each signature with what it signs, as a member keeps them.
fn kept_pairs(payloads: &[Vec<u8>], sigs: &[protocol::Signature]) -> Vec<store::events::SignedPayload> {
    payloads
        .iter()
        .zip(sigs)
        .map(|(p, s)| store::events::SignedPayload {
            payload: p.clone(),
            signature: s.bytes.clone(),
            recovery_id: s.recovery_id,
        })
        .collect()
}

/// Tells a running session that `party` is gone.
pub(super) fn unreachable(running: &Running, party: protocol::PartyIndex) {
    match running {
        Running::Setup(a) => {
            let _ = a.cast(SessionMsg::Unreachable(party));
        }
        Running::Keygen(a) => {
            let _ = a.cast(SessionMsg::Unreachable(party));
        }
        Running::Sign(a) => {
            let _ = a.cast(SessionMsg::Unreachable(party));
        }
        Running::Presign(a) => {
            let _ = a.cast(SessionMsg::Unreachable(party));
        }
        Running::Refresh(a) => {
            let _ = a.cast(SessionMsg::Unreachable(party));
        }
        Running::Repair(a) => {
            let _ = a.cast(SessionMsg::Unreachable(party));
        }
        Running::Export(a) => {
            let _ = a.cast(SessionMsg::Unreachable(party));
        }
    }
}

pub(super) fn route(running: &Running, envelope: Envelope) {
    match running {
        Running::Setup(a) => {
            let _ = a.cast(SessionMsg::Incoming(envelope));
        }
        Running::Keygen(a) => {
            let _ = a.cast(SessionMsg::Incoming(envelope));
        }
        Running::Sign(a) => {
            let _ = a.cast(SessionMsg::Incoming(envelope));
        }
        Running::Presign(a) => {
            let _ = a.cast(SessionMsg::Incoming(envelope));
        }
        Running::Refresh(a) => {
            let _ = a.cast(SessionMsg::Incoming(envelope));
        }
        Running::Repair(a) => {
            let _ = a.cast(SessionMsg::Incoming(envelope));
        }
        Running::Export(a) => {
            let _ = a.cast(SessionMsg::Incoming(envelope));
        }
    }
}
