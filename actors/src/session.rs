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

/// Where a session's outgoing envelopes go (the network bridge, or a test router).
pub trait Outbox: Send + Sync + 'static {
    /// Sends `envelope` to its recipient, or to every participant for a broadcast.
    fn send(&self, envelope: Envelope);
}

/// The outbox over the libp2p transport: broadcasts are published, private envelopes go to
/// their recipient alone.
pub struct NetworkOutbox(pub network::p2p::NetworkHandle);

impl Outbox for NetworkOutbox {
    fn send(&self, envelope: Envelope) {
        let handle = self.0.clone();
        tokio::spawn(async move {
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
}

impl SessionError {
    /// The parties this failure blames (cheating, silence, or a lost connection).
    pub fn culprits(&self) -> Vec<PartyIndex> {
        match self {
            SessionError::Protocol(p) => p.culprits(),
            SessionError::Unreachable { party } => vec![*party],
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
        if let Some(tx) = &self.observer {
            let _ = tx.send(o);
        }
    }

    fn finish(&mut self, myself: &ActorRef<SessionMsg<O>>, outcome: SessionOutcome<O>) {
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
            Err(e @ SessionError::Unreachable { party }) => self.observe(Observation::Blamed {
                session: self.session,
                parties: vec![*party],
                misbehaviour: false,
                reason: e.to_string(),
            }),
            Err(_) => {}
        }
        if let Some(done) = self.done.take() {
            let _ = done.send(outcome);
        }
        self.worker = None;
        if let Some(t) = self.timer.take() {
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
            SessionMsg::Worker(WorkerOutput::Step { outgoing, rejected, output, deadline }) => {
                // No fixed tick: the session wakes when its round is due, not before.
                state.wake_at(&myself, deadline);
                for e in outgoing {
                    state.outbox.send(e);
                }
                for r in rejected {
                    if let Some(party) = rejected_sender(&r) {
                        state.observe(Observation::Refused { session: state.session, party, reason: format!("{r:?}") });
                    }
                }
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
        for t in state.tasks.iter().chain(&state.timer) {
            t.abort();
        }
        if let Some(done) = state.done.take() {
            let _ = done.send(Err(SessionError::Worker("session stopped before it finished".into())));
        }
        Ok(())
    }
}
