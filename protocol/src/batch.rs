//! Several results in one session: one proposal and one vote round sign every payload of a
//! transaction (a two-input Bitcoin spend is one session, not two). Each part is its own
//! ceremony with its own session id, derived from the batch's and the part's index, so no two
//! parts share a transcript, an execution id or nonces. On the wire a part's envelopes travel
//! under the batch's session with the part index (2 bytes, big-endian) in front of the payload.
//! A batch of one is its part, byte for byte: single signatures cost nothing extra.

use crate::ceremony::{BoxCeremony, Ceremony, Millis, Step};
use crate::envelope::Envelope;
use crate::error::{ProtocolError, Rejection};
use crate::ids::{PartyIndex, SessionId};
use crate::scheme::{KeyShare, SignParams, Signature, ThresholdScheme};

/// Most parts one batch may hold (a proposal naming more is refused before anyone votes).
pub const MAX_PARTS: usize = 64;

/// The session id of part `index` of `batch` in a batch of `count`: the batch itself for a
/// batch of one, otherwise derived (never equal to another part's or the batch's).
pub fn part_session(batch: SessionId, index: usize, count: usize) -> SessionId {
    if count == 1 {
        return batch;
    }
    let mut bytes = batch.as_bytes().to_vec();
    bytes.extend_from_slice(&(index as u64).to_be_bytes());
    SessionId::derive("batch-part", &bytes)
}

/// Runs its parts side by side and yields their outputs, in order, once all have one.
pub struct Batch<O> {
    session: SessionId,
    participants: Vec<PartyIndex>,
    parts: Vec<BoxCeremony<O>>,
    outputs: Vec<Option<O>>,
    finished: bool,
}

impl<O: 'static> Batch<O> {
    /// Builds `count` parts with `build(part_session, index)`.
    pub fn new(
        session: SessionId,
        participants: Vec<PartyIndex>,
        count: usize,
        mut build: impl FnMut(SessionId, usize) -> Result<BoxCeremony<O>, ProtocolError>,
    ) -> Result<Self, ProtocolError> {
        if count == 0 || count > MAX_PARTS {
            return Err(ProtocolError::InvalidMessage(format!("a batch holds 1 to {MAX_PARTS} parts, not {count}")));
        }
        let parts = (0..count).map(|i| build(part_session(session, i, count), i)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { session, participants, outputs: (0..count).map(|_| None).collect(), parts, finished: false })
    }

    fn single(&self) -> bool {
        self.parts.len() == 1
    }

    /// Puts a part's outgoing envelope under the batch's session.
    fn wrap(&self, index: usize, mut e: Envelope) -> Envelope {
        if !self.single() {
            let mut payload = Vec::with_capacity(e.payload.len() + 2);
            payload.extend_from_slice(&(index as u16).to_be_bytes());
            payload.append(&mut e.payload);
            e.payload = payload;
            e.session = self.session;
        }
        e
    }

    /// Folds one part's step into the batch's.
    fn absorb(&mut self, index: usize, step: Step<O>, into: &mut Step<Vec<O>>) {
        for e in step.outgoing {
            let wrapped = self.wrap(index, e);
            into.outgoing.push(wrapped);
        }
        into.rejected.extend(step.rejected);
        if let Some(o) = step.output {
            if let Some(slot) = self.outputs.get_mut(index) {
                *slot = Some(o);
            }
        }
    }

    fn complete(&mut self, into: &mut Step<Vec<O>>) {
        if !self.finished && self.outputs.iter().all(Option::is_some) {
            self.finished = true;
            into.output = Some(self.outputs.iter_mut().filter_map(Option::take).collect());
        }
    }

    /// A part's error, named for the batch (a timeout names the batch's session).
    fn failed(&mut self, e: ProtocolError) -> ProtocolError {
        self.finished = true;
        match e {
            ProtocolError::Timeout { round, missing, .. } => {
                ProtocolError::Timeout { session: self.session, round, missing }
            }
            other => other,
        }
    }

    fn running(&self) -> impl Iterator<Item = (usize, &BoxCeremony<O>)> {
        self.parts.iter().enumerate().filter(|(i, _)| self.outputs.get(*i).is_some_and(Option::is_none))
    }
}

impl<O: 'static> Ceremony for Batch<O> {
    type Output = Vec<O>;

    fn session(&self) -> SessionId {
        self.session
    }

    fn start(&mut self, now: Millis) -> Result<Step<Vec<O>>, ProtocolError> {
        let mut out = Step::empty();
        for index in 0..self.parts.len() {
            let step = match self.parts[index].start(now) {
                Ok(s) => s,
                Err(e) => return Err(self.failed(e)),
            };
            self.absorb(index, step, &mut out);
        }
        self.complete(&mut out);
        Ok(out)
    }

    fn on_message(&mut self, now: Millis, mut msg: Envelope) -> Result<Step<Vec<O>>, ProtocolError> {
        if self.finished {
            return Err(ProtocolError::Finished);
        }
        let mut out = Step::empty();
        let index = if self.single() {
            0
        } else {
            if msg.session != self.session {
                out.rejected.push(Rejection::WrongSession { sender: msg.sender, session: msg.session });
                return Ok(out);
            }
            if !self.participants.contains(&msg.sender) {
                out.rejected.push(Rejection::NotAParticipant { sender: msg.sender });
                return Ok(out);
            }
            let index = match msg.payload.get(..2) {
                Some(b) => usize::from(u16::from_be_bytes([b[0], b[1]])),
                None => usize::MAX,
            };
            if index >= self.parts.len() {
                let reason = format!("no part {index} in a batch of {}", self.parts.len());
                return Err(self.failed(ProtocolError::Malformed { culprit: msg.sender, round: msg.round, reason }));
            }
            msg.payload.drain(..2);
            msg.session = part_session(self.session, index, self.parts.len());
            index
        };
        if self.outputs.get(index).is_some_and(Option::is_some) {
            // That part is done: a late copy changes nothing.
            out.rejected.push(Rejection::Duplicate { sender: msg.sender, round: msg.round });
            return Ok(out);
        }
        let step = match self.parts[index].on_message(now, msg) {
            Ok(s) => s,
            Err(e) => return Err(self.failed(e)),
        };
        self.absorb(index, step, &mut out);
        self.complete(&mut out);
        Ok(out)
    }

    fn on_tick(&mut self, now: Millis) -> Result<Step<Vec<O>>, ProtocolError> {
        if self.finished {
            return Err(ProtocolError::Finished);
        }
        let mut out = Step::empty();
        let running: Vec<usize> = self.running().map(|(i, _)| i).collect();
        for index in running {
            let step = match self.parts[index].on_tick(now) {
                Ok(s) => s,
                Err(e) => return Err(self.failed(e)),
            };
            self.absorb(index, step, &mut out);
        }
        self.complete(&mut out);
        Ok(out)
    }

    fn deadline(&self) -> Option<Millis> {
        self.running().filter_map(|(_, p)| p.deadline()).min()
    }

    fn round(&self) -> u16 {
        self.running().map(|(_, p)| p.round()).min().unwrap_or(0)
    }

    fn total_rounds(&self) -> Option<u16> {
        self.parts.iter().filter_map(|p| p.total_rounds()).max()
    }

    fn waiting_for(&self) -> Vec<PartyIndex> {
        let mut all: Vec<PartyIndex> = self.running().flat_map(|(_, p)| p.waiting_for()).collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    fn set_round_timeout(&mut self, now: Millis, timeout: Millis) {
        for part in &mut self.parts {
            part.set_round_timeout(now, timeout);
        }
    }
}

/// One signature per payload, in order, in one session of `params.session`; each payload is
/// checked by the scheme before anything starts.
pub fn sign_batch(
    scheme: &dyn ThresholdScheme,
    share: &KeyShare,
    params: &SignParams,
    payloads: &[Vec<u8>],
) -> Result<BoxCeremony<Vec<Signature>>, ProtocolError> {
    let batch = Batch::new(params.session, params.signers.clone(), payloads.len(), |session, index| {
        let message = payloads.get(index).cloned().unwrap_or_default();
        scheme.check_message(&message)?;
        scheme.sign(share, &SignParams { session, message, ..params.clone() })
    })?;
    Ok(Box::new(batch))
}
