//! Members coming and going. Proposals and votes reach every participant that is, or comes
//! back, online within the proposal's lifetime: each is sent to every participant directly (request-response, which
//! needs no gossip subscription to be known first), and what this node said about a proposal
//! still open is said again to a participant when it (re)connects. Repeats are harmless: the
//! book recognises a proposal seen before and a vote counted before. A member that stays away
//! past the grace, or comes back restarted, ends the sessions it was in at once.

use protocol::proposal::{Control, Vote, CONTROL_ROUND};
use protocol::{Envelope, PartyIndex, Recipient, SessionId};

use std::time::Instant;

use ractor::ActorRef;

use super::{now_ms, sessions, ManagerMsg, ManagerState};
use crate::session::Outbox;

/// Proposals this node keeps saying again (a member cannot make it keep more).
const SAID_LIMIT: usize = 4096;

/// What this node said about one proposal, to say again until it expires.
pub(super) struct Said {
    participants: Vec<PartyIndex>,
    expires_ms: u64,
    controls: Vec<Control>,
}

impl ManagerState {
    pub(super) fn send_direct(&self, session: SessionId, to: PartyIndex, control: &Control) {
        let Ok(payload) = control.encode() else { return };
        let envelope =
            Envelope { session, round: CONTROL_ROUND, sender: self.args.me, recipient: Recipient::Party(to), payload };
        self.outbox().send(envelope);
    }

    /// Tells `party` every step of one transfer in one message, so none overtakes another.
    pub(super) fn tell_steps(&self, party: PartyIndex, steps: Vec<protocol::wallet::TransferNotice>) {
        let Some(first) = steps.first() else { return };
        let session = SessionId::derive("transfer-notice", first.tx.as_bytes());
        let together = Control::Steps(steps);
        if together.encode().is_ok() {
            self.send_direct(session, party, &together);
        } else if let Control::Steps(steps) = together {
            // Too big together (a large transaction): one at a time; the member holds a
            // broadcast that overtakes its signed step.
            for step in steps {
                self.send_direct(session, party, &Control::Notice(Box::new(step)));
            }
        }
    }

    /// Says `control` about `session` to every other participant directly, and keeps it to
    /// say again to one that reconnects before `expires_ms`.
    pub(super) fn say(&mut self, session: SessionId, participants: &[PartyIndex], expires_ms: u64, control: Control) {
        for &p in participants.iter().filter(|p| **p != self.args.me) {
            self.send_direct(session, p, &control);
        }
        if !self.said.contains_key(&session) && self.said.len() >= SAID_LIMIT {
            // Make room: the one expiring first is the least useful to repeat.
            if let Some(first) = self.said.iter().min_by_key(|(_, s)| s.expires_ms).map(|(s, _)| *s) {
                self.said.remove(&first);
            }
        }
        let said = self.said.entry(session).or_insert_with(|| Said {
            participants: participants.to_vec(),
            expires_ms,
            controls: Vec::new(),
        });
        said.controls.push(control);
    }

    /// `party` (re)connected: say again what it may have missed: about proposals still
    /// waiting for its answer, and our refusals (a member that missed one would wait it out).
    pub(super) fn repeat_to(&self, party: PartyIndex) {
        let now = now_ms();
        for (session, said) in &self.said {
            if said.expires_ms <= now || !said.participants.contains(&party) {
                continue;
            }
            let declined = said.controls.iter().any(|c| matches!(c, Control::Vote { vote: Vote::Decline(_), .. }));
            if declined || self.book.waiting_on(session, party) {
                for control in &said.controls {
                    self.send_direct(*session, party, control);
                }
            }
        }
    }

    /// Every participant accepted: nothing about it needs saying again.
    pub(super) fn settled_said(&mut self, session: &SessionId) {
        self.said.remove(session);
    }

    /// Tells `party` which run of this process is speaking.
    pub(super) fn hello(&self, party: PartyIndex) {
        let session = SessionId::derive("hello", &self.boot.to_be_bytes());
        self.send_direct(session, party, &Control::Hello { boot: self.boot });
    }

    /// `party` says which run of its process speaks: a new one lost every ceremony it was in,
    /// so ours with it end now, blaming it, rather than wait out the round timeout.
    pub(super) async fn on_hello(&mut self, myself: &ActorRef<ManagerMsg>, party: PartyIndex, boot: u64) {
        if self.boots.insert(party, boot).is_some_and(|before| before != boot) {
            tracing::warn!(party, "member restarted; ending the sessions it was in");
            self.lost(myself, party, true).await;
        }
    }

    /// A member's connection dropped: it has the grace to come back.
    pub(super) fn peer_down(&mut self, myself: &ActorRef<ManagerMsg>, party: PartyIndex) {
        self.drops += 1;
        let drop = self.drops;
        self.down.insert(party, (Instant::now(), drop));
        myself.send_after(self.args.peer_grace, move || ManagerMsg::GraceOver(party, drop));
    }

    /// A member connected: tell it who speaks here and what it may have missed.
    pub(super) fn peer_up(&mut self, party: PartyIndex) {
        self.down.remove(&party);
        self.up_at.insert(party, now_ms());
        self.hello(party);
        self.repeat_to(party);
        self.retell_aborts(party);
        // What it may have missed of this node's transfers while away.
        if let Some(t) = self.args.transfers.as_ref().and_then(|s| s.get()) {
            let _ = t.cast(crate::transfers::TransferMsg::Retell(party));
        }
    }

    /// The grace of drop `drop` of `party` has passed: gone, unless it came back since.
    pub(super) async fn grace_over(&mut self, myself: &ActorRef<ManagerMsg>, party: PartyIndex, drop: u64) {
        if self.down.get(&party).is_some_and(|(_, d)| *d == drop) {
            self.lost(myself, party, false).await;
        }
    }

    /// `party` is gone (away past the grace, or back restarted): the sessions it was running
    /// with us end now, blaming it; open proposals naming it are dropped.
    pub(super) async fn lost(&mut self, myself: &ActorRef<ManagerMsg>, party: PartyIndex, restarted: bool) {
        // After a restart, what began once it was back was agreed with its new run: keep it.
        let back_at = if restarted { self.up_at.get(&party).copied() } else { None };
        let after_return = |seen_ms: Option<u64>| matches!((back_at, seen_ms), (Some(b), Some(s)) if s >= b);
        for (session, (running, _, _)) in &self.running {
            let Some(info) = self.sessions.get(session) else { continue };
            if info.participants.contains(&party) && !after_return(info.started_ms) {
                tracing::warn!(%session, party, restarted, "participant gone; ending the session");
                sessions::unreachable(running, party);
            }
        }
        // One that stays away will not answer open proposals; a restarted one hears them again
        // (said on reconnection) but lost what it had accepted, and any session it began.
        let sessions = &self.sessions;
        let keep = |s: &protocol::SessionId| after_return(sessions.get(s).map(|i| i.seen_ms));
        for decision in self.book.abandon_with(party, restarted, keep) {
            self.decided(myself, decision).await;
        }
    }

    /// Whether `party` has been away longer than the grace.
    pub(super) fn gone(&self, party: PartyIndex) -> bool {
        self.down.get(&party).is_some_and(|(since, _)| since.elapsed() >= self.args.peer_grace)
    }

    /// Forgets what was said about proposals that have expired.
    pub(super) fn forget_said(&mut self, now_ms: u64) {
        self.said.retain(|_, s| s.expires_ms > now_ms);
    }
}
