//! One session actor per ceremony. It owns a [`Worker`] running the sans-IO ceremony, feeds
//! it network messages and timer ticks, sends what it returns through an [`Outbox`], and
//! reports the outcome once. A ceremony that errs or panics ends only its own session.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::{Envelope, PartyIndex, ProtocolError, Rejection, SessionId};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::worker::{CeremonyFactory, Worker, WorkerInput, WorkerOutput};

mod rounds;
pub use protocol::abort::PartyState;
pub use rounds::{PartyRound, Rounds};

/// Where a session's outgoing envelopes go (the network bridge, or a test router).
pub trait Outbox: Send + Sync + 'static {
    /// Sends `envelope` to its recipient, or to every participant for a broadcast.
    fn send(&self, envelope: Envelope);
}

/// The outbox over the libp2p transport: broadcasts are published, private envelopes go to
/// their recipient alone; injected faults, if configured, apply first.
pub struct NetworkOutbox {
    /// The transport.
    pub network: network::p2p::NetworkHandle,
    /// Faults to inject (drills only).
    pub faults: Option<Arc<crate::faults::Faults>>,
}

impl Outbox for NetworkOutbox {
    fn send(&self, envelope: Envelope) {
        let handle = self.network.clone();
        let (delay, envelope) = match self.faults.as_deref() {
            None => (Duration::ZERO, envelope),
            Some(f) => match f.apply(envelope) {
                crate::faults::Fate::Dropped => return,
                crate::faults::Fate::Send(delay, e) => (delay, e),
            },
        };
        tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let _ = match envelope.recipient {
                protocol::Recipient::Broadcast => handle.broadcast(envelope).await,
                protocol::Recipient::Party(to) => handle.send_to(to, envelope).await,
            };
        });
    }
}

/// How a session ended, when it did not produce its output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The ceremony failed (timeout, cheating party, bad input), with blame.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The ceremony panicked: a bug, contained to this session.
    #[error("ceremony panicked: {0}")]
    Panicked(String),
    /// The worker thread could not be started or went away.
    #[error("ceremony worker unavailable: {0}")]
    Worker(String),
    /// A participant's connection dropped and did not come back within the grace, or it came
    /// back restarted (its side of the ceremony is lost).
    #[error(
        "party {party} unreachable: its connection dropped and it did not come back in time, or came back restarted"
    )]
    Unreachable {
        /// Who.
        party: PartyIndex,
    },
    /// Its proposer lost track of it and asked; this member gave it up for good.
    #[error("given up at its proposer's request: it never completes here")]
    GivenUp,
    /// Aborted by party `by` (this node's circuit breaker, or a checked signed abort).
    #[error("aborted by party {by}: {reason}")]
    Aborted {
        /// Who aborted it.
        by: PartyIndex,
        /// Why.
        reason: String,
        /// Whom the abort blames.
        blamed: Vec<PartyIndex>,
        /// For cheating rather than silence.
        misbehaviour: bool,
        /// Every other party's broadcast state as this node saw it when it ended.
        states: Vec<PartyState>,
    },
}

impl SessionError {
    /// True when it blames cheating (an invalid proof or share, its own finding or a
    /// member's checked abort), not silence.
    pub fn is_misbehaviour(&self) -> bool {
        match self {
            SessionError::Protocol(p) => p.is_misbehaviour(),
            SessionError::Aborted { misbehaviour, .. } => *misbehaviour,
            _ => false,
        }
    }

    /// The parties this failure blames (cheating, silence, or a lost connection).
    pub fn culprits(&self) -> Vec<PartyIndex> {
        match self {
            SessionError::Protocol(p) => p.culprits(),
            SessionError::Unreachable { party } => vec![*party],
            SessionError::Aborted { blamed, .. } => blamed.clone(),
            _ => Vec::new(),
        }
    }
}

/// The result a session reports, once.
pub type SessionOutcome<O> = Result<O, SessionError>;

/// What a session saw of each party, for the health scores and the circuit breaker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// A message from `party` for `round` arrived `at_ms` after the session started.
    Arrived {
        /// The session.
        session: SessionId,
        /// The sender.
        party: PartyIndex,
        /// The envelope's round.
        round: u16,
        /// Milliseconds since the session started.
        at_ms: u64,
    },
    /// A message from `party` was set aside (duplicate, replay, wrong round...).
    Refused {
        /// The session.
        session: SessionId,
        /// The sender.
        party: PartyIndex,
        /// Why.
        reason: String,
    },
    /// The session failed and blamed these parties: for cheating (`misbehaviour`), or for
    /// being silent past the round timeout.
    Blamed {
        /// The session.
        session: SessionId,
        /// Who.
        parties: Vec<PartyIndex>,
        /// Cheating, rather than lateness.
        misbehaviour: bool,
        /// The error.
        reason: String,
    },
    /// A round ended (the ceremony moved on, or failed in it): what each other party did in it.
    Round {
        /// The session.
        session: SessionId,
        /// The round.
        round: u16,
        /// Each other participant in it.
        parties: Vec<PartyRound>,
        /// It ended by timing out.
        timed_out: bool,
    },
    /// `party` has not answered `round` while the others have, `waited_ms` after it began.
    Straggler {
        /// The session.
        session: SessionId,
        /// The round.
        round: u16,
        /// Who.
        party: PartyIndex,
        /// Since the round began, ms.
        waited_ms: u64,
    },
    /// The session ended: every party's broadcast state at every length as this node saw (or,
    /// for its own, sent) it (to the manager only, for aborts that come after a DKG completed
    /// here).
    Ended {
        /// The session.
        session: SessionId,
        /// The states.
        states: Vec<PartyState>,
    },
    /// Where the ceremony stands (to the manager only, for `session_get`), sent when it changes.
    Progress {
        /// The session.
        session: SessionId,
        /// Where.
        progress: crate::events::SessionProgress,
    },
    /// The session produced its result after `at_ms`.
    Completed {
        /// The session.
        session: SessionId,
        /// Milliseconds since the session started.
        at_ms: u64,
    },
}

fn rejected_sender(r: &Rejection) -> Option<PartyIndex> {
    match r {
        Rejection::WrongSession { sender, .. }
        | Rejection::NotAParticipant { sender }
        | Rejection::NotForUs { sender, .. }
        | Rejection::UnknownRound { sender, .. }
        | Rejection::Duplicate { sender, .. } => Some(*sender),
        Rejection::FromSelf => None,
    }
}

/// Messages a session actor takes.
pub enum SessionMsg<O> {
    /// An envelope for this session from the network.
    Incoming(Envelope),
    /// Timer tick (drives round timeouts).
    Tick,
    /// A participant is gone (its connection dropped past the grace): end the session now,
    /// blaming it, instead of waiting out the round timeout.
    Unreachable(PartyIndex),
    /// A report from the worker thread.
    Worker(WorkerOutput<O>),
    /// Use this round timeout from now on, ms (the adaptive timeout, the breaker's waits).
    SetTimeout(u64),
    /// End the session as aborted by `by`. With `claimed` (another party's signed abort), only
    /// if its states agree with what this node saw; `reply` hears whether it ended.
    Abort {
        /// Who aborts.
        by: PartyIndex,
        /// Why.
        reason: String,
        /// Whom it blames.
        blamed: Vec<PartyIndex>,
        /// For cheating rather than silence.
        misbehaviour: bool,
        /// The aborting party's view, to check against ours.
        claimed: Option<Vec<PartyState>>,
        /// Told `Err(why)` when the abort is ignored.
        reply: Option<oneshot::Sender<Result<(), String>>>,
    },
    /// The straggler probe for a round.
    Probe(u16),
}

/// Watching a session's rounds: who hears of them, and when a late party counts as a straggler.
#[derive(Clone)]
pub struct RoundWatch {
    /// Receives round reports and stragglers (the manager's DKG breaker), besides the observer.
    pub sink: Option<Arc<dyn Fn(Observation) + Send + Sync>>,
    /// A party is a straggler once it is this many times later than the median of the others.
    pub straggler_factor: u64,
    /// And at least this late, ms.
    pub straggler_floor_ms: u64,
}

impl Default for RoundWatch {
    fn default() -> Self {
        Self { sink: None, straggler_factor: 4, straggler_floor_ms: 500 }
    }
}

/// What a session starts with.
pub struct SessionArgs<O> {
    /// The session.
    pub session: SessionId,
    /// Builds the ceremony (on the worker thread).
    pub factory: CeremonyFactory<O>,
    /// Where outgoing envelopes go.
    pub outbox: Arc<dyn Outbox>,
    /// Receives the outcome.
    pub done: oneshot::Sender<SessionOutcome<O>>,
    /// Receives per-party observations, if anyone listens.
    pub observer: Option<mpsc::UnboundedSender<Observation>>,
    /// This node.
    pub me: PartyIndex,
    /// Who takes part.
    pub participants: Vec<PartyIndex>,
    /// Round reports and straggler detection.
    pub watch: RoundWatch,
}

/// A session's state.
pub struct SessionState<O> {
    session: SessionId,
    worker: Option<Worker>,
    outbox: Arc<dyn Outbox>,
    started: Instant,
    done: Option<oneshot::Sender<SessionOutcome<O>>>,
    tasks: Vec<JoinHandle<()>>,
    /// Wakes the session at its ceremony's next deadline (none while nothing is due).
    timer: Option<JoinHandle<()>>,
    observer: Option<mpsc::UnboundedSender<Observation>>,
    rounds: Rounds,
    waiting: Vec<PartyIndex>,
    /// The last (round, waiting) reported as progress.
    reported: Option<(u16, Vec<PartyIndex>)>,
    watch: RoundWatch,
    probe: Option<JoinHandle<()>>,
}

impl<O> SessionState<O> {
    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Replaces the timer with one that ticks at `deadline` (ms since the session started).
    fn wake_at(&mut self, myself: &ActorRef<SessionMsg<O>>, deadline: Option<u64>)
    where
        O: Send + 'static,
    {
        if let Some(t) = self.timer.take() {
            t.abort();
        }
        let Some(deadline) = deadline else { return };
        let at = self.started + Duration::from_millis(deadline.saturating_add(1));
        let me = myself.clone();
        self.timer = Some(tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
            let _ = me.cast(SessionMsg::Tick);
        }));
    }

    fn observe(&self, o: Observation) {
        if let Observation::Progress { .. } = o {
            if let Some(sink) = &self.watch.sink {
                sink(o);
            }
            return;
        }
        if let (Some(sink), Observation::Round { .. } | Observation::Straggler { .. }) = (&self.watch.sink, &o) {
            sink(o.clone());
        }
        if let Some(tx) = &self.observer {
            let _ = tx.send(o);
        }
    }

    /// The worker reported where the ceremony stands: close a round it left, arm the probe.
    fn progressed(&mut self, myself: &ActorRef<SessionMsg<O>>, round: u16, waiting: Vec<PartyIndex>, total: Option<u16>)
    where
        O: Send + 'static,
    {
        let (now, left) = (self.now(), self.rounds.round());
        if let Some(parties) = self.rounds.advance(now, round) {
            self.observe(Observation::Round { session: self.session, round: left, parties, timed_out: false });
        }
        if self.reported.as_ref() != Some(&(round, waiting.clone())) {
            self.reported = Some((round, waiting.clone()));
            let heard = self.rounds.others().iter().copied().filter(|p| !waiting.contains(p)).collect();
            let progress = crate::events::SessionProgress {
                round,
                completed: self.rounds.completed(),
                total,
                heard,
                waiting: waiting.clone(),
                round_started_ms: self.rounds.started_ms(),
            };
            self.observe(Observation::Progress { session: self.session, progress });
        }
        self.waiting = waiting;
        self.arm_probe(myself);
    }

    /// Schedules the straggler probe of the current round once someone has answered in it.
    fn arm_probe(&mut self, myself: &ActorRef<SessionMsg<O>>)
    where
        O: Send + 'static,
    {
        let Some(p50) = self.rounds.p50_heard() else { return };
        if self.waiting.is_empty() {
            return;
        }
        let wait = p50.saturating_mul(self.watch.straggler_factor).max(self.watch.straggler_floor_ms);
        let at = self.started + Duration::from_millis(self.rounds.started_ms().saturating_add(wait));
        if let Some(t) = self.probe.take() {
            t.abort();
        }
        let (me, round) = (myself.clone(), self.rounds.round());
        self.probe = Some(tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
            let _ = me.cast(SessionMsg::Probe(round));
        }));
    }

    fn finish(&mut self, myself: &ActorRef<SessionMsg<O>>, outcome: SessionOutcome<O>) {
        if let Err(SessionError::Protocol(ProtocolError::Timeout { missing, .. })) = &outcome {
            let parties = self.rounds.close(missing);
            self.observe(Observation::Round {
                session: self.session,
                round: self.rounds.round(),
                parties,
                timed_out: true,
            });
        }
        match &outcome {
            Ok(_) => tracing::info!(session = %self.session, ms = self.now(), "session completed"),
            Err(e) => tracing::warn!(session = %self.session, ms = self.now(), error = %e, "session failed"),
        }
        match &outcome {
            Ok(_) => self.observe(Observation::Completed { session: self.session, at_ms: self.now() }),
            Err(SessionError::Protocol(e)) if !e.culprits().is_empty() => self.observe(Observation::Blamed {
                session: self.session,
                parties: e.culprits(),
                misbehaviour: e.is_misbehaviour(),
                reason: e.to_string(),
            }),
            Err(e @ (SessionError::Unreachable { .. } | SessionError::Aborted { .. })) if !e.culprits().is_empty() => {
                self.observe(Observation::Blamed {
                    session: self.session,
                    parties: e.culprits(),
                    misbehaviour: e.is_misbehaviour(),
                    reason: e.to_string(),
                })
            }
            Err(_) => {}
        }
        if let Some(sink) = &self.watch.sink {
            sink(Observation::Ended { session: self.session, states: self.rounds.all_prefix_states() });
        }
        if let Some(done) = self.done.take() {
            let _ = done.send(outcome);
        }
        self.worker = None;
        for t in [self.timer.take(), self.probe.take()].into_iter().flatten() {
            t.abort();
        }
        myself.stop(None);
    }
}

/// The session actor (one per ceremony).
pub struct SessionActor<O>(PhantomData<fn() -> O>);

impl<O> Default for SessionActor<O> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<O: Send + 'static> Actor for SessionActor<O> {
    type Msg = SessionMsg<O>;
    type State = SessionState<O>;
    type Arguments = SessionArgs<O>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SessionArgs<O>,
    ) -> Result<Self::State, ActorProcessingErr> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let name = format!("ceremony-{}", &args.session.to_string()[..12]);
        let mut state = SessionState {
            session: args.session,
            worker: None,
            outbox: args.outbox,
            started: Instant::now(),
            done: Some(args.done),
            tasks: Vec::new(),
            timer: None,
            observer: args.observer,
            rounds: Rounds::new(args.me, &args.participants),
            waiting: Vec::new(),
            reported: None,
            watch: args.watch,
            probe: None,
        };
        match Worker::spawn(name, args.factory, tx) {
            Ok(w) => state.worker = Some(w),
            Err(e) => {
                state.finish(&myself, Err(SessionError::Worker(e.to_string())));
                return Ok(state);
            }
        }
        let me = myself.clone();
        state.tasks.push(tokio::spawn(async move {
            while let Some(out) = rx.recv().await {
                if me.cast(SessionMsg::Worker(out)).is_err() {
                    break;
                }
            }
        }));
        let now = state.now();
        if let Some(w) = &state.worker {
            w.send(WorkerInput::Start(now));
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let now = state.now();
        match msg {
            SessionMsg::Incoming(envelope) => {
                if envelope.session == state.session {
                    state.rounds.arrived(now, &envelope);
                    state.observe(Observation::Arrived {
                        session: state.session,
                        party: envelope.sender,
                        round: envelope.round,
                        at_ms: now,
                    });
                    if let Some(w) = &state.worker {
                        w.send(WorkerInput::Message(now, envelope));
                    }
                }
            }
            SessionMsg::Unreachable(party) => {
                if state.done.is_some() {
                    state.finish(&myself, Err(SessionError::Unreachable { party }));
                }
            }
            SessionMsg::Tick => {
                if let Some(w) = &state.worker {
                    w.send(WorkerInput::Tick(now));
                }
            }
            SessionMsg::SetTimeout(ms) => {
                if let Some(w) = &state.worker {
                    w.send(WorkerInput::SetTimeout(now, ms));
                }
            }
            SessionMsg::Abort { by, reason, blamed, misbehaviour, claimed, reply } => {
                let check = match (&claimed, state.done.is_some()) {
                    (_, false) => Err("the session already ended here".to_owned()),
                    (Some(c), true) => state.rounds.agrees(c),
                    (None, true) => Ok(()),
                };
                let ok = check.is_ok();
                if let Some(r) = reply {
                    let _ = r.send(check);
                }
                if ok {
                    let states = state.rounds.states();
                    state.finish(&myself, Err(SessionError::Aborted { by, reason, blamed, misbehaviour, states }));
                }
            }
            SessionMsg::Probe(round) => {
                if round == state.rounds.round() && state.done.is_some() && state.rounds.take_probe() {
                    let waited_ms = now.saturating_sub(state.rounds.started_ms());
                    for party in state.waiting.clone() {
                        state.observe(Observation::Straggler { session: state.session, round, party, waited_ms });
                    }
                }
            }
            SessionMsg::Worker(WorkerOutput::Step { outgoing, rejected, output, deadline, round, waiting, total }) => {
                // No fixed tick: the session wakes when its round is due, not before.
                state.wake_at(&myself, deadline);
                for e in outgoing {
                    state.rounds.sent(&e);
                    state.outbox.send(e);
                }
                for r in rejected {
                    if let Some(party) = rejected_sender(&r) {
                        state.rounds.refused(party);
                        state.observe(Observation::Refused { session: state.session, party, reason: format!("{r:?}") });
                    }
                }
                state.progressed(&myself, round, waiting, total);
                if let Some(o) = output {
                    state.finish(&myself, Ok(o));
                }
            }
            SessionMsg::Worker(WorkerOutput::Failed(e)) => state.finish(&myself, Err(SessionError::Protocol(e))),
            SessionMsg::Worker(WorkerOutput::Panicked(p)) => state.finish(&myself, Err(SessionError::Panicked(p))),
        }
        Ok(())
    }

    async fn post_stop(&self, _myself: ActorRef<Self::Msg>, state: &mut Self::State) -> Result<(), ActorProcessingErr> {
        for t in state.tasks.iter().chain(&state.timer).chain(&state.probe) {
            t.abort();
        }
        if let Some(done) = state.done.take() {
            let _ = done.send(Err(SessionError::Worker("session stopped before it finished".into())));
        }
        Ok(())
    }
}
