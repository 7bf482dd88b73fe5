//! The DKG circuit breaker as this member runs it, the adaptive round timeout, and the signed
//! coordinated abort. Sessions report every round (who answered, how late, how much of it was
//! refused) and every straggler; DKG rounds feed the pure [`Breaker`]. Half-open, running DKGs
//! wait longer; open, the DKG is aborted here and the abort, signed with the node key, goes to
//! every member, who checks it against what it saw before it acts on it. While cooling down
//! this member declines new DKGs; the first one after is the retry under watch.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use protocol::abort::{self, AbortBody, AbortRejection, PartyState, SignedAbort};
use protocol::breaker::{adaptive_timeout_ms, health_score, Breaker, BreakerConfig, BreakerState, Transition};
use protocol::proposal::Control;
use protocol::{PartyIndex, SchemeId, SessionId};
use ractor::ActorRef;
use store::CeremonyKind;

use super::{ManagerMsg, ManagerState, Running};
use crate::events::{CeremonyEvent, SessionFailure, SessionStatus};
use crate::session::{Observation, SessionError, SessionMsg};

/// Round latencies kept per kind of ceremony and scheme (for the adaptive timeout).
const LATENCIES: usize = 64;
/// Completed DKGs whose final view is kept, for an abort that comes after.
const FINALS: usize = 64;

/// The breaker's part of the manager's state.
pub(super) struct Watch {
    pub(super) breaker: Breaker,
    pub(super) config: BreakerConfig,
    clock: Instant,
    latencies: HashMap<(CeremonyKind, SchemeId), VecDeque<u64>>,
    /// With when the DKG completed here: a late abort counts only while the aborting party's
    /// confirmation round can still have been running (then the wallet is final here).
    finals: HashMap<SessionId, (Vec<PartyState>, Instant)>,
    finals_order: VecDeque<SessionId>,
    /// The round timeout each running session was given, ms.
    pub(super) timeouts: HashMap<SessionId, u64>,
    /// Our own aborts of DKGs, told again to a participant that reconnects.
    pub(super) sent: super::late_aborts::SentAborts,
}

impl Watch {
    pub(super) fn new(config: BreakerConfig) -> Self {
        Self {
            breaker: Breaker::new(config),
            config,
            clock: Instant::now(),
            latencies: HashMap::new(),
            finals: HashMap::new(),
            finals_order: VecDeque::new(),
            timeouts: HashMap::new(),
            sent: Default::default(),
        }
    }

    fn now(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }
}

/// An abort for a running session (see [`SessionMsg::Abort`]).
struct Order {
    by: PartyIndex,
    reason: String,
    blamed: Vec<PartyIndex>,
    misbehaviour: bool,
    claimed: Option<Vec<PartyState>>,
    reply: Option<tokio::sync::oneshot::Sender<Result<(), String>>>,
}

pub(super) fn is_dkg(kind: CeremonyKind) -> bool {
    matches!(kind, CeremonyKind::Setup | CeremonyKind::Keygen | CeremonyKind::Refresh | CeremonyKind::Reshare)
}

/// How long an abort that blames nobody waits for this member's own verdict.
const ABORT_HOLD: std::time::Duration = std::time::Duration::from_millis(300);

impl ManagerState {
    fn base_ms(&self) -> u64 {
        self.args.round_timeout.as_millis() as u64
    }

    fn max_ms(&self) -> u64 {
        (self.args.max_round_timeout.as_millis() as u64).max(self.base_ms())
    }

    /// The round timeout a new session of `kind` and `scheme` runs with: 2.5 × the p50 of
    /// recent rounds of its kind, within [base, max]; a setup (minutes of proofs on a slow
    /// machine, not a liveness signal) takes the max; a DKG waits longer while the breaker is
    /// half-open or recovering.
    pub(super) fn round_timeout_for(&self, kind: CeremonyKind, scheme: &SchemeId) -> u64 {
        let (base, max) = (self.base_ms(), self.max_ms());
        let adaptive = match kind {
            CeremonyKind::Setup => max,
            _ => {
                let seen: Vec<u64> = self
                    .watch
                    .latencies
                    .get(&(kind, scheme.clone()))
                    .map(|l| l.iter().copied().collect())
                    .unwrap_or_default();
                adaptive_timeout_ms(&seen, base, max)
            }
        };
        if is_dkg(kind) {
            (adaptive as f64 * self.watch.breaker.state().timeout_factor(&self.watch.config)) as u64
        } else {
            adaptive
        }
    }

    fn kind_of_running(&self, session: &SessionId) -> Option<(CeremonyKind, SchemeId)> {
        let (running, _, scheme) = self.running.get(session)?;
        let kind = match running {
            Running::Setup(_) => CeremonyKind::Setup,
            Running::Keygen(_) => CeremonyKind::Keygen,
            Running::Sign(_) => CeremonyKind::Sign,
            Running::Presign(_) => CeremonyKind::Presign,
            Running::Refresh(_) => CeremonyKind::Refresh,
            Running::Repair(_) => CeremonyKind::Repair,
            Running::Export(_) => CeremonyKind::Export,
        };
        Some((kind, scheme.clone()))
    }

    /// A session's round report or straggler.
    pub(super) fn observed(&mut self, o: Observation) {
        match o {
            Observation::Round { session, parties, .. } => {
                let Some((kind, scheme)) = self.kind_of_running(&session) else { return };
                let lat = self.watch.latencies.entry((kind, scheme)).or_default();
                for p in parties.iter().filter(|p| p.received) {
                    lat.push_back(p.latency_ms);
                    if lat.len() > LATENCIES {
                        lat.pop_front();
                    }
                }
                // Lateness is measured against the timeout this session runs with, and an answer
                // that came in time never scores low enough to open the breaker by lateness
                // alone: only silence (the round timed out) or refused messages fail a party.
                let scale = self.watch.timeouts.get(&session).copied().unwrap_or_else(|| self.base_ms());
                let floor = (self.watch.config.open_below + 0.05).min(1.0);
                let scores: Vec<(PartyIndex, f64)> = parties
                    .iter()
                    .map(|p| {
                        let valid = health_score(1, 1, u64::from(p.valid), u64::from(p.total), 0, scale);
                        let timely = health_score(1, 1, 1, 1, p.latency_ms, scale).max(floor);
                        (p.party, f64::from(u8::from(p.received)) * valid * timely)
                    })
                    .collect();
                if let Some(&(party, _)) = scores.iter().find(|(_, s)| *s < self.watch.config.half_open_below) {
                    self.detected(session, party);
                }
                if is_dkg(kind) {
                    self.breaker_step(Some(session), &scores);
                }
            }
            Observation::Progress { session, progress } => {
                if let Some(info) = self.sessions.get_mut(&session) {
                    info.progress = Some(progress);
                }
            }
            Observation::Straggler { session, party, waited_ms, .. } => {
                self.detected(session, party);
                let Some((kind, _)) = self.kind_of_running(&session) else { return };
                if is_dkg(kind) {
                    // Late, not absent: degraded (two such rounds half-open the breaker, for
                    // longer waits), never failed on lateness alone.
                    let _ = waited_ms;
                    let degraded = (self.watch.config.half_open_below - 0.01).max(self.watch.config.open_below);
                    self.breaker_step(Some(session), &[(party, degraded)]);
                }
            }
            Observation::Ended { session, states }
                if self.kind_of_running(&session).is_some_and(|(k, _)| k == CeremonyKind::Keygen) =>
            {
                self.watch.finals.insert(session, (states, Instant::now()));
                self.watch.finals_order.push_back(session);
                while self.watch.finals_order.len() > FINALS {
                    if let Some(old) = self.watch.finals_order.pop_front() {
                        self.watch.finals.remove(&old);
                    }
                }
            }
            _ => {}
        }
    }

    /// Records the first party this session flagged and when (for `session_get`).
    fn detected(&mut self, session: SessionId, party: PartyIndex) {
        if let Some(info) = self.sessions.get_mut(&session) {
            if info.detected.is_none() {
                let since = info.started_ms.map_or(0, |s| super::now_ms().saturating_sub(s));
                info.detected = Some((party, since));
            }
        }
    }

    fn breaker_step(&mut self, session: Option<SessionId>, scores: &[(PartyIndex, f64)]) {
        let now = self.watch.now();
        if let Some(t) = self.watch.breaker.observe(now, scores) {
            let worst = scores
                .iter()
                .min_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal))
                .map(|(p, _)| *p);
            self.transition(session, t, worst);
        }
    }

    /// Time passes: a cooldown that is over allows the retry.
    pub(super) fn breaker_tick(&mut self) {
        let now = self.watch.now();
        if let Some(t) = self.watch.breaker.tick(now) {
            self.transition(None, t, None);
        }
    }

    fn transition(&mut self, session: Option<SessionId>, t: Transition, worst: Option<PartyIndex>) {
        tracing::warn!(from = t.from.name(), to = t.to.name(), reason = %t.reason, "DKG circuit breaker");
        self.emit(CeremonyEvent::Breaker { session, from: t.from, to: t.to, reason: t.reason.clone() });
        match t.to {
            BreakerState::HalfOpen | BreakerState::Closed => {
                // Running DKGs take the new waits at once.
                let dkgs: Vec<SessionId> = self
                    .running
                    .keys()
                    .filter(|s| self.kind_of_running(s).is_some_and(|(k, _)| is_dkg(k)))
                    .copied()
                    .collect();
                for s in dkgs {
                    let Some((kind, scheme)) = self.kind_of_running(&s) else { continue };
                    let ms = self.round_timeout_for(kind, &scheme);
                    self.watch.timeouts.insert(s, ms);
                    match self.running.get(&s).map(|r| &r.0) {
                        Some(Running::Setup(a)) => drop(a.cast(SessionMsg::SetTimeout(ms))),
                        Some(Running::Keygen(a) | Running::Refresh(a)) => drop(a.cast(SessionMsg::SetTimeout(ms))),
                        _ => {}
                    }
                }
            }
            BreakerState::Open => {
                let Some(session) = session else { return };
                let blamed: Vec<PartyIndex> = worst.into_iter().collect();
                let reason = format!("circuit breaker opened: {}", t.reason);
                let (by, misbehaviour) = (self.args.me, false);
                self.abort_running(session, Order { by, reason, blamed, misbehaviour, claimed: None, reply: None });
            }
            BreakerState::Cooldown | BreakerState::Recovery => {}
        }
    }

    fn abort_running(&self, session: SessionId, order: Order) {
        let Order { by, reason, blamed, misbehaviour, claimed, reply } = order;
        let Some((running, _, _)) = self.running.get(&session) else { return };
        macro_rules! abort {
            ($a:expr) => {
                drop($a.cast(SessionMsg::Abort { by, reason, blamed, misbehaviour, claimed, reply }))
            };
        }
        match running {
            Running::Setup(a) => abort!(a),
            Running::Keygen(a) => abort!(a),
            Running::Sign(a) => abort!(a),
            Running::Presign(a) => abort!(a),
            Running::Refresh(a) => abort!(a),
            Running::Repair(a) => abort!(a),
            Running::Export(a) => abort!(a),
        }
    }

    /// True while this member accepts a new DKG (not while its breaker is open or cooling).
    pub(super) fn dkg_admitted(&self) -> Result<(), crate::Error> {
        if self.watch.breaker.admits() {
            return Ok(());
        }
        Err(crate::Error::BreakerOpen { state: self.watch.breaker.state().name() })
    }

    /// A DKG failed here: the breaker cools down if it had opened, and unless another member
    /// aborted it, every member hears a signed abort (one that completed discards its share).
    pub(super) fn dkg_failed(&mut self, session: SessionId, error: &SessionError) {
        // Nothing was stored: an abort that comes later has nothing to discard here.
        self.watch.finals.remove(&session);
        // Whoever the failure blames (silent, cheating, or named by a checked abort) scored 0.
        let blamed: Vec<(PartyIndex, f64)> = error.culprits().into_iter().map(|p| (p, 0.0)).collect();
        if !blamed.is_empty() {
            self.breaker_step(Some(session), &blamed);
        }
        let now = self.watch.now();
        if let Some(t) = self.watch.breaker.aborted(now) {
            self.transition(Some(session), t, None);
        }
        let (states, blamed) = match error {
            SessionError::Aborted { by, .. } if *by != self.args.me => return,
            SessionError::Aborted { states, blamed, .. } => (states.clone(), blamed.clone()),
            other => (Vec::new(), other.culprits()),
        };
        let body = AbortBody::new(session, self.args.me, &error.to_string(), blamed, error.is_misbehaviour(), states);
        let signed = body
            .encode()
            .map_err(|e| e.to_string())
            .and_then(|b| self.args.network.sign(&abort::signing_bytes(&b)).map(|s| (b, s)).map_err(|e| e.to_string()));
        match signed {
            Ok((body, signature)) => {
                let signed = SignedAbort { body, signature };
                self.control(session, &Control::Abort(signed.clone()));
                if let Some(info) = self.sessions.get(&session).filter(|i| i.kind == CeremonyKind::Keygen) {
                    let participants = info.participants.clone();
                    self.watch.sent.keep(session, signed, participants);
                }
            }
            Err(e) => tracing::error!(%session, error = %e, "signing an abort failed"),
        }
    }

    /// A member's signed abort: checked, then acted on, or ignored and counted.
    pub(super) fn on_abort(&mut self, myself: &ActorRef<ManagerMsg>, from: PartyIndex, signed: SignedAbort) {
        self.abort(myself, from, signed, true);
    }

    /// An abort held back by [`Self::on_abort`], now due.
    pub(super) fn on_held_abort(&mut self, myself: &ActorRef<ManagerMsg>, from: PartyIndex, signed: SignedAbort) {
        self.abort(myself, from, signed, false);
    }

    fn abort(&mut self, myself: &ActorRef<ManagerMsg>, from: PartyIndex, signed: SignedAbort, may_hold: bool) {
        let checked = self.check_abort(from, &signed);
        let body = match checked {
            Ok(b) => b,
            Err((Some(session), AbortRejection::Stale)) if !self.sessions.contains_key(&session) => {
                return self.abort_of_forgotten_dkg(from, &signed, session);
            }
            Err((session, why)) => return self.abort_ignored(session, from, why),
        };
        let session = body.session;
        if may_hold && body.blamed.is_empty() && self.running.contains_key(&session) {
            // An abort that blames nobody must not pre-empt this member's own finding: a
            // cheater that aborts first would otherwise end the session unblamed here.
            myself.send_after(ABORT_HOLD, move || ManagerMsg::AbortHeld(from, signed));
            return;
        }
        if self.running.contains_key(&session) {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let reason = body.reason.clone();
            let order = Order {
                by: body.by,
                reason,
                blamed: body.blamed,
                misbehaviour: body.misbehaviour,
                claimed: Some(body.states),
                reply: Some(tx),
            };
            self.abort_running(session, order);
            let me = myself.clone();
            tokio::spawn(async move {
                if let Ok(Err(why)) = rx.await {
                    let _ = me.cast(ManagerMsg::AbortIgnored(session, from, AbortRejection::Disagrees(why)));
                }
            });
            return;
        }
        // Completed here, failed elsewhere: the wallet must not exist on some members only.
        // An abort later than the window is not about this DKG's completion.
        let window = self.abort_window();
        let ours = match self.watch.finals.get(&session) {
            Some((ours, at)) if at.elapsed() <= window => ours,
            _ => return self.abort_ignored(Some(session), from, AbortRejection::Stale),
        };
        if let Some(c) = body
            .states
            .iter()
            .find(|c| ours.iter().any(|o| o.party == c.party && o.count == c.count && o.hash != c.hash))
        {
            let why = format!("party {}'s broadcasts differ from what this node saw", c.party);
            return self.abort_ignored(Some(session), from, AbortRejection::Disagrees(why));
        }
        self.watch.finals.remove(&session);
        let Some(wallet) = self.sessions.get(&session).and_then(|i| i.wallet.clone()) else { return };
        let reason = format!("party {} aborted the DKG after it completed here: {}", body.by, body.reason);
        match self.args.keystore.discard(&wallet, session, &reason) {
            Ok(true) => {
                tracing::warn!(%session, %wallet, by = body.by, "share discarded: the DKG did not complete everywhere");
                let error = SessionError::Aborted {
                    by: body.by,
                    reason,
                    blamed: body.blamed,
                    misbehaviour: body.misbehaviour,
                    states: Vec::new(),
                };
                self.set_status(session, SessionStatus::Failed(SessionFailure::Ceremony(error)));
            }
            Ok(false) => {}
            Err(e) => tracing::error!(%session, %wallet, error = %e, "discarding the share failed"),
        }
    }

    fn check_abort(
        &self,
        from: PartyIndex,
        signed: &SignedAbort,
    ) -> Result<AbortBody, (Option<SessionId>, AbortRejection)> {
        let body = AbortBody::decode(&signed.body).map_err(|e| (None, e))?;
        let session = Some(body.session);
        if body.by != from {
            return Err((session, AbortRejection::NotTheSigner { signer: body.by, sender: from }));
        }
        if !self.args.network.verify(body.by, &abort::signing_bytes(&signed.body), &signed.signature) {
            return Err((session, AbortRejection::BadSignature(body.by)));
        }
        let Some(info) = self.sessions.get(&body.session) else { return Err((session, AbortRejection::Stale)) };
        if !info.participants.contains(&body.by) {
            return Err((session, AbortRejection::NotAMember(body.by)));
        }
        if info.status.is_final() && !self.watch.finals.contains_key(&body.session) {
            return Err((session, AbortRejection::Stale));
        }
        Ok(body)
    }

    pub(super) fn abort_ignored(&self, session: Option<SessionId>, from: PartyIndex, why: AbortRejection) {
        tracing::info!(?session, from, reason = %why, "abort ignored");
        self.emit(CeremonyEvent::AbortIgnored { session, from, reason: why.label() });
    }
}
