//! Two engines in one session, one after the other: the second is made from the first's
//! output and its rounds follow the first's (its round r travels as `first.rounds() + r`).
//! A fast party's messages for the second part that come before this party finished the first
//! are kept (at most one per sender, round and kind, which the driver's duplicate check
//! already bounds) and delivered once the second part exists.

use crate::driver::{Engine, Outgoing, Progress};
use crate::error::ProtocolError;
use crate::ids::PartyIndex;

/// Makes the second engine from the first's output.
pub(crate) type Next<A, B> = Box<dyn FnOnce(A) -> Result<B, ProtocolError>>;

pub(crate) struct Then<A: Engine, B: Engine> {
    first: A,
    offset: u16,
    second_rounds: u16,
    next: Option<Next<A::Output, B>>,
    second: Option<B>,
    early: Vec<(PartyIndex, u16, bool, Vec<u8>)>,
}

impl<A: Engine, B: Engine> Then<A, B> {
    /// `first`, then the engine `next` makes of its output, which has `second_rounds` rounds.
    pub fn new(first: A, second_rounds: u16, next: Next<A::Output, B>) -> Self {
        let offset = first.rounds();
        Self { first, offset, second_rounds, next: Some(next), second: None, early: Vec::new() }
    }

    fn shift(&self, mut p: Progress<B::Output>) -> Progress<B::Output> {
        for o in &mut p.outgoing {
            o.round += self.offset;
        }
        p
    }

    /// The first part's progress; once it has its output, the second part starts.
    fn after_first(&mut self, p: Progress<A::Output>) -> Result<Progress<B::Output>, ProtocolError> {
        let mut outgoing: Vec<Outgoing> = p.outgoing;
        let Some(out) = p.output else { return Ok(Progress::send(outgoing)) };
        let next = self.next.take().ok_or_else(|| ProtocolError::Internal("the second part started twice".into()))?;
        let mut second = next(out)?;
        let started = second.start()?;
        self.second = Some(second);
        let mut progress = self.shift(started);
        for (sender, round, broadcast, payload) in std::mem::take(&mut self.early) {
            let p = self.deliver_second(sender, round, broadcast, payload)?;
            progress.outgoing.extend(p.outgoing);
            if p.output.is_some() {
                progress.output = p.output;
            }
        }
        outgoing.append(&mut progress.outgoing);
        progress.outgoing = outgoing;
        Ok(progress)
    }

    fn deliver_second(
        &mut self,
        sender: PartyIndex,
        round: u16,
        broadcast: bool,
        payload: Vec<u8>,
    ) -> Result<Progress<B::Output>, ProtocolError> {
        let second = self.second.as_mut().ok_or_else(|| ProtocolError::Internal("no second part".into()))?;
        let p = second.deliver(sender, round - self.offset, broadcast, payload)?;
        Ok(self.shift(p))
    }
}

impl<A: Engine, B: Engine> Engine for Then<A, B> {
    type Output = B::Output;

    fn rounds(&self) -> u16 {
        self.offset + self.second_rounds
    }

    fn start(&mut self) -> Result<Progress<B::Output>, ProtocolError> {
        let p = self.first.start()?;
        self.after_first(p)
    }

    fn deliver(
        &mut self,
        sender: PartyIndex,
        round: u16,
        broadcast: bool,
        payload: Vec<u8>,
    ) -> Result<Progress<B::Output>, ProtocolError> {
        if round <= self.offset {
            if self.second.is_some() {
                return Ok(Progress::nothing());
            }
            let p = self.first.deliver(sender, round, broadcast, payload)?;
            return self.after_first(p);
        }
        if self.second.is_none() {
            self.early.push((sender, round, broadcast, payload));
            return Ok(Progress::nothing());
        }
        self.deliver_second(sender, round, broadcast, payload)
    }

    fn current_round(&self) -> u16 {
        match &self.second {
            Some(s) => s.current_round() + self.offset,
            None => self.first.current_round(),
        }
    }

    fn waiting_for(&self) -> Vec<PartyIndex> {
        match &self.second {
            Some(s) => s.waiting_for(),
            None => self.first.waiting_for(),
        }
    }
}
