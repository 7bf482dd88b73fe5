//! The part of every ceremony that does not depend on the scheme: envelope checks (session,
//! membership, recipient, round range), duplicate and equivocation detection, round timers and
//! the index mapping between envelopes and the scheme's engine.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::ceremony::{Ceremony, Millis, Step};
use crate::envelope::{Envelope, Recipient};
use crate::error::{ProtocolError, Rejection};
use crate::ids::{PartyIndex, SessionId};

/// A message an engine wants sent.
pub(crate) struct Outgoing {
    pub round: u16,
    pub to: Recipient,
    pub payload: Vec<u8>,
}

/// What an engine produced from one input.
pub(crate) struct Progress<O> {
    pub outgoing: Vec<Outgoing>,
    pub output: Option<O>,
}

impl<O> Progress<O> {
    pub fn send(outgoing: Vec<Outgoing>) -> Self {
        Self { outgoing, output: None }
    }
    pub fn nothing() -> Self {
        Self { outgoing: Vec::new(), output: None }
    }
    pub fn done(outgoing: Vec<Outgoing>, output: O) -> Self {
        Self { outgoing, output: Some(output) }
    }
}

/// The scheme-specific round logic. Party indices here are committee indices; the driver has
/// already checked that `sender` is another participant and the message is for us.
pub(crate) trait Engine {
    type Output;
    /// Number of rounds (messages carry 1..=rounds).
    fn rounds(&self) -> u16;
    fn start(&mut self) -> Result<Progress<Self::Output>, ProtocolError>;
    fn deliver(
        &mut self,
        sender: PartyIndex,
        round: u16,
        broadcast: bool,
        payload: Vec<u8>,
    ) -> Result<Progress<Self::Output>, ProtocolError>;
    /// The round whose messages we are collecting.
    fn current_round(&self) -> u16;
    /// Participants whose message for the current round is missing.
    fn waiting_for(&self) -> Vec<PartyIndex>;
}

#[derive(PartialEq, Eq)]
enum Phase {
    NotStarted,
    Running,
    Ended,
}

pub(crate) struct Driver<E: Engine> {
    session: SessionId,
    me: PartyIndex,
    participants: Vec<PartyIndex>,
    engine: E,
    round_timeout: Millis,
    deadline: Option<Millis>,
    round_at_deadline: u16,
    round_started: Millis,
    seen: HashMap<(u16, PartyIndex, bool), [u8; 32]>,
    phase: Phase,
}

impl<E: Engine> Driver<E> {
    pub fn new(
        session: SessionId,
        me: PartyIndex,
        participants: Vec<PartyIndex>,
        round_timeout: Millis,
        engine: E,
    ) -> Self {
        Self {
            session,
            me,
            participants,
            engine,
            round_timeout,
            deadline: None,
            round_at_deadline: 0,
            round_started: 0,
            seen: HashMap::new(),
            phase: Phase::NotStarted,
        }
    }

    fn wrap(&mut self, now: Millis, progress: Progress<E::Output>) -> Step<E::Output> {
        let outgoing = progress
            .outgoing
            .into_iter()
            .map(|o| Envelope {
                session: self.session,
                round: o.round,
                sender: self.me,
                recipient: o.to,
                payload: o.payload,
            })
            .collect();
        if progress.output.is_some() {
            self.phase = Phase::Ended;
            self.deadline = None;
        } else if self.engine.current_round() != self.round_at_deadline {
            self.round_at_deadline = self.engine.current_round();
            self.round_started = now;
            self.deadline = Some(now.saturating_add(self.round_timeout));
        }
        Step { outgoing, output: progress.output, rejected: Vec::new() }
    }

    fn fail(&mut self, e: ProtocolError) -> ProtocolError {
        self.phase = Phase::Ended;
        self.deadline = None;
        e
    }

    fn admit(&mut self, msg: &Envelope) -> Result<Option<Rejection>, ProtocolError> {
        if msg.session != self.session {
            return Ok(Some(Rejection::WrongSession { sender: msg.sender, session: msg.session }));
        }
        if msg.sender == self.me {
            return Ok(Some(Rejection::FromSelf));
        }
        if !self.participants.contains(&msg.sender) {
            return Ok(Some(Rejection::NotAParticipant { sender: msg.sender }));
        }
        if let Recipient::Party(to) = msg.recipient {
            if to != self.me {
                return Ok(Some(Rejection::NotForUs { sender: msg.sender, recipient: to }));
            }
        }
        if msg.round == 0 || msg.round > self.engine.rounds() {
            return Ok(Some(Rejection::UnknownRound { sender: msg.sender, round: msg.round }));
        }
        let key = (msg.round, msg.sender, msg.recipient == Recipient::Broadcast);
        let digest: [u8; 32] = Sha256::digest(&msg.payload).into();
        match self.seen.get(&key) {
            Some(prev) if *prev == digest => Ok(Some(Rejection::Duplicate { sender: msg.sender, round: msg.round })),
            Some(_) => Err(ProtocolError::Equivocation { culprit: msg.sender, round: msg.round }),
            None => {
                self.seen.insert(key, digest);
                Ok(None)
            }
        }
    }
}

impl<E: Engine> Ceremony for Driver<E> {
    type Output = E::Output;

    fn session(&self) -> SessionId {
        self.session
    }

    fn start(&mut self, now: Millis) -> Result<Step<E::Output>, ProtocolError> {
        if self.phase != Phase::NotStarted {
            return Err(ProtocolError::Finished);
        }
        self.phase = Phase::Running;
        self.round_at_deadline = self.engine.current_round();
        self.round_started = now;
        self.deadline = Some(now.saturating_add(self.round_timeout));
        match self.engine.start() {
            Ok(p) => Ok(self.wrap(now, p)),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn on_message(&mut self, now: Millis, msg: Envelope) -> Result<Step<E::Output>, ProtocolError> {
        if self.phase != Phase::Running {
            return Err(ProtocolError::Finished);
        }
        match self.admit(&msg) {
            Ok(Some(rejection)) => {
                let mut step = Step::empty();
                step.rejected.push(rejection);
                return Ok(step);
            }
            Ok(None) => {}
            Err(e) => return Err(self.fail(e)),
        }
        let broadcast = msg.recipient == Recipient::Broadcast;
        match self.engine.deliver(msg.sender, msg.round, broadcast, msg.payload) {
            Ok(p) => Ok(self.wrap(now, p)),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn on_tick(&mut self, now: Millis) -> Result<Step<E::Output>, ProtocolError> {
        if self.phase != Phase::Running {
            return Err(ProtocolError::Finished);
        }
        match self.deadline {
            Some(deadline) if now >= deadline => {
                let e = ProtocolError::Timeout {
                    session: self.session,
                    round: self.engine.current_round(),
                    missing: self.engine.waiting_for(),
                };
                Err(self.fail(e))
            }
            _ => Ok(Step::empty()),
        }
    }

    fn deadline(&self) -> Option<Millis> {
        self.deadline
    }

    fn round(&self) -> u16 {
        self.engine.current_round()
    }

    fn total_rounds(&self) -> Option<u16> {
        Some(self.engine.rounds())
    }

    fn waiting_for(&self) -> Vec<PartyIndex> {
        if self.phase == Phase::Running {
            self.engine.waiting_for()
        } else {
            Vec::new()
        }
    }

    fn set_round_timeout(&mut self, now: Millis, timeout: Millis) {
        self.round_timeout = timeout;
        if self.phase == Phase::Running && self.deadline.is_some() {
            self.deadline = Some(self.round_started.saturating_add(timeout).max(now));
        }
    }
}

/// Sorts a signer list and checks it: distinct, all below `n`, at least `threshold`, and
/// containing `me`.
pub(crate) fn normalize_signers(
    signers: &[PartyIndex],
    me: PartyIndex,
    n: u16,
    threshold: u16,
) -> Result<Vec<PartyIndex>, ProtocolError> {
    let mut sorted = signers.to_vec();
    sorted.sort_unstable();
    if let Some(&p) = sorted.iter().find(|&&p| p >= n) {
        return Err(ProtocolError::UnknownParty { party: p, parties: n });
    }
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(ProtocolError::InvalidSignerSet("a signer is listed twice".into()));
    }
    if sorted.len() < threshold as usize {
        return Err(ProtocolError::SignerSetTooSmall { got: sorted.len(), threshold });
    }
    if !sorted.contains(&me) {
        return Err(ProtocolError::InvalidSignerSet(format!("this party ({me}) is not a signer")));
    }
    Ok(sorted)
}

/// Checks `2 <= t <= n <= MAX_PARTIES` and `me < n`.
pub(crate) fn check_committee(me: PartyIndex, n: u16, t: u16) -> Result<(), ProtocolError> {
    if t < 2 || t > n || n > crate::scheme::MAX_PARTIES {
        return Err(ProtocolError::InvalidThreshold { threshold: t, parties: n });
    }
    if me >= n {
        return Err(ProtocolError::UnknownParty { party: me, parties: n });
    }
    Ok(())
}
