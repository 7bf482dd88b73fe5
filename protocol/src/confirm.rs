//! Confirmed completion of a DKG. A party's own last round passing proves nothing about the
//! others: one may fail after we finished, leaving the wallet on only some members. So a DKG
//! ends with one more broadcast: every party sends the group key and a hash of the broadcast
//! transcript it saw, and yields its share only when every other party confirmed the same two
//! values. A party that never confirms times the round out (liveness, blamed); one that
//! confirms different values saw a different transcript or key (cheating, never retried).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ceremony::{BoxCeremony, Ceremony, Millis, Step};
use crate::envelope::{decode_bounded, encode_bounded, Envelope, Recipient};
use crate::error::{ProtocolError, Rejection};
use crate::ids::{PartyIndex, SessionId};
use crate::scheme::KeyShare;

/// The confirmation's round number: above any scheme's rounds, below the control round's wrap.
pub const CONFIRM_ROUND: u16 = u16::MAX - 1;

/// What each party confirms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The group key it computed.
    pub public_key: Vec<u8>,
    /// SHA-256 over every broadcast of the ceremony, ordered by round and sender.
    pub transcript: [u8; 32],
}

impl Confirmation {
    fn encode(&self) -> Result<Vec<u8>, ProtocolError> {
        Ok(encode_bounded(self, 1024)?)
    }
}

/// A DKG that yields its share only once every participant confirmed the same key and
/// transcript.
pub struct Confirmed {
    session: SessionId,
    me: PartyIndex,
    participants: Vec<PartyIndex>,
    inner: BoxCeremony<KeyShare>,
    round_timeout: Millis,
    /// Broadcast digests by (round, sender): the transcript every party must agree on.
    broadcasts: BTreeMap<(u16, PartyIndex), [u8; 32]>,
    /// Confirmations heard, from other parties (at most one each).
    heard: BTreeMap<PartyIndex, Confirmation>,
    /// Ours and the share, once the inner DKG finished.
    mine: Option<(Confirmation, KeyShare)>,
    started_at: Millis,
    deadline: Option<Millis>,
    inner_round: u16,
    ended: bool,
    stage: Option<Stage>,
}

/// Keeps a computed share durably before this party confirms it (a refresh's staging).
pub type Stage = Box<dyn FnMut(&KeyShare) -> Result<(), ProtocolError>>;

impl Confirmed {
    /// Wraps `inner`, a DKG among `participants` (this party is `me`).
    pub fn new(
        inner: BoxCeremony<KeyShare>,
        me: PartyIndex,
        participants: Vec<PartyIndex>,
        round_timeout: Millis,
    ) -> Self {
        Self {
            session: inner.session(),
            me,
            participants,
            inner,
            round_timeout,
            broadcasts: BTreeMap::new(),
            heard: BTreeMap::new(),
            mine: None,
            started_at: 0,
            deadline: None,
            inner_round: 0,
            ended: false,
            stage: None,
        }
    }

    /// Runs `stage` on the share before this party's confirmation is sent; if it fails, the
    /// ceremony fails and nothing is confirmed.
    pub fn with_stage(mut self, stage: Stage) -> Self {
        self.stage = Some(stage);
        self
    }

    fn record(&mut self, e: &Envelope) {
        if e.recipient == Recipient::Broadcast && e.round != CONFIRM_ROUND {
            let digest: [u8; 32] = Sha256::digest(&e.payload).into();
            self.broadcasts.entry((e.round, e.sender)).or_insert(digest);
        }
    }

    fn transcript(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"mpc-node dkg transcript v1");
        h.update(self.session.as_bytes());
        for ((round, sender), digest) in &self.broadcasts {
            h.update(round.to_be_bytes());
            h.update(sender.to_be_bytes());
            h.update(digest);
        }
        h.finalize().into()
    }

    fn fail(&mut self, e: ProtocolError) -> ProtocolError {
        self.ended = true;
        self.deadline = None;
        e
    }

    /// Folds an inner step: records our broadcasts; on the inner result, confirms.
    fn absorb(&mut self, now: Millis, step: Step<KeyShare>) -> Result<Step<KeyShare>, ProtocolError> {
        let mut out = Step { outgoing: Vec::new(), output: None, rejected: step.rejected };
        for e in &step.outgoing {
            self.record(e);
        }
        out.outgoing = step.outgoing;
        if let Some(share) = step.output {
            if let Some(stage) = self.stage.as_mut() {
                stage(&share)?;
            }
            let mine = Confirmation { public_key: share.public_key.bytes.clone(), transcript: self.transcript() };
            out.outgoing.push(Envelope {
                session: self.session,
                round: CONFIRM_ROUND,
                sender: self.me,
                recipient: Recipient::Broadcast,
                payload: mine.encode()?,
            });
            self.mine = Some((mine, share));
            self.started_at = now;
            self.deadline = Some(now.saturating_add(self.round_timeout));
        }
        self.inner_round = self.inner_round.max(self.inner.round());
        self.settle(&mut out)?;
        Ok(out)
    }

    /// Every other party confirmed: compare, and yield the share if all agree.
    fn settle(&mut self, out: &mut Step<KeyShare>) -> Result<(), ProtocolError> {
        let Some((mine, _)) = &self.mine else { return Ok(()) };
        if let Some((&p, _)) = self.heard.iter().find(|(_, c)| *c != mine) {
            return Err(self.fail(ProtocolError::InconsistentBroadcast { reported_by: p, round: CONFIRM_ROUND }));
        }
        if self.others().all(|p| self.heard.contains_key(&p)) {
            self.ended = true;
            self.deadline = None;
            out.output = self.mine.take().map(|(_, share)| share);
        }
        Ok(())
    }

    fn others(&self) -> impl Iterator<Item = PartyIndex> + '_ {
        self.participants.iter().copied().filter(move |p| *p != self.me)
    }
}

impl Ceremony for Confirmed {
    type Output = KeyShare;

    fn session(&self) -> SessionId {
        self.session
    }

    fn start(&mut self, now: Millis) -> Result<Step<KeyShare>, ProtocolError> {
        let step = self.inner.start(now).map_err(|e| self.fail(e))?;
        self.absorb(now, step).map_err(|e| self.fail(e))
    }

    fn on_message(&mut self, now: Millis, msg: Envelope) -> Result<Step<KeyShare>, ProtocolError> {
        if self.ended {
            return Err(ProtocolError::Finished);
        }
        if msg.round != CONFIRM_ROUND {
            if self.mine.is_some() {
                // Our part is done; a late copy changes nothing.
                let mut step = Step::empty();
                step.rejected.push(Rejection::Duplicate { sender: msg.sender, round: msg.round });
                return Ok(step);
            }
            // Only what the inner ceremony admitted enters the transcript.
            let (round, sender, recipient) = (msg.round, msg.sender, msg.recipient);
            let digest: [u8; 32] = Sha256::digest(&msg.payload).into();
            let step = self.inner.on_message(now, msg).map_err(|e| self.fail(e))?;
            if step.rejected.is_empty() && recipient == Recipient::Broadcast {
                self.broadcasts.entry((round, sender)).or_insert(digest);
            }
            return self.absorb(now, step).map_err(|e| self.fail(e));
        }
        let mut step = Step::empty();
        let reject = match () {
            _ if msg.session != self.session => {
                Some(Rejection::WrongSession { sender: msg.sender, session: msg.session })
            }
            _ if msg.sender == self.me => Some(Rejection::FromSelf),
            _ if !self.participants.contains(&msg.sender) => Some(Rejection::NotAParticipant { sender: msg.sender }),
            _ if msg.recipient != Recipient::Broadcast => {
                Some(Rejection::UnknownRound { sender: msg.sender, round: msg.round })
            }
            _ => None,
        };
        if let Some(r) = reject {
            step.rejected.push(r);
            return Ok(step);
        }
        let confirmation: Confirmation = decode_bounded(&msg.payload, 1024).map_err(|e| {
            self.fail(ProtocolError::Malformed { culprit: msg.sender, round: msg.round, reason: e.to_string() })
        })?;
        match self.heard.get(&msg.sender) {
            Some(prev) if *prev == confirmation => {
                step.rejected.push(Rejection::Duplicate { sender: msg.sender, round: msg.round });
                return Ok(step);
            }
            Some(_) => return Err(self.fail(ProtocolError::Equivocation { culprit: msg.sender, round: msg.round })),
            None => {
                self.heard.insert(msg.sender, confirmation);
            }
        }
        self.settle(&mut step)?;
        Ok(step)
    }

    fn on_tick(&mut self, now: Millis) -> Result<Step<KeyShare>, ProtocolError> {
        if self.ended {
            return Err(ProtocolError::Finished);
        }
        if self.mine.is_none() {
            let step = self.inner.on_tick(now).map_err(|e| self.fail(e))?;
            return self.absorb(now, step).map_err(|e| self.fail(e));
        }
        match self.deadline {
            Some(d) if now >= d => {
                let missing = self.waiting_for();
                Err(self.fail(ProtocolError::Timeout { session: self.session, round: self.round(), missing }))
            }
            _ => Ok(Step::empty()),
        }
    }

    fn deadline(&self) -> Option<Millis> {
        if self.ended {
            None
        } else if self.mine.is_some() {
            self.deadline
        } else {
            self.inner.deadline()
        }
    }

    fn round(&self) -> u16 {
        if self.mine.is_some() {
            self.inner_round.saturating_add(1)
        } else {
            self.inner.round()
        }
    }

    fn total_rounds(&self) -> Option<u16> {
        self.inner.total_rounds().map(|r| r.saturating_add(1))
    }

    fn waiting_for(&self) -> Vec<PartyIndex> {
        if self.ended {
            Vec::new()
        } else if self.mine.is_some() {
            self.others().filter(|p| !self.heard.contains_key(p)).collect()
        } else {
            self.inner.waiting_for()
        }
    }

    fn set_round_timeout(&mut self, now: Millis, timeout: Millis) {
        self.round_timeout = timeout;
        if self.mine.is_some() {
            self.deadline = Some(self.started_at.saturating_add(timeout).max(now));
        } else {
            self.inner.set_round_timeout(now, timeout);
        }
    }
}
