//! How a signing ended, asked of its signers by a proposer that lost track of it (it
//! restarted, or its own side failed). A signer answers with the signatures it completed (kept
//! in its journal), or gives the session up for good: its running side is ended, and a result
//! that arrives later is dropped, so "every signer gave it up" proves no signature exists.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::time::Duration;

use protocol::proposal::{Control, Outcome};
use protocol::{PartyIndex, SessionId};
use ractor::{ActorRef, RpcReplyPort};

use super::{sessions::unreachable, ManagerMsg, ManagerState, SessionStatus};

/// How long a proposer waits for the signers' answers.
pub const ASK_WAIT: Duration = Duration::from_secs(3);
/// Questions open at once, and sessions given up remembered (bounded against a flood).
const ASKS: usize = 256;
const GIVEN_UP: usize = 4096;

/// One open question.
pub(super) struct Ask {
    waiting: BTreeSet<PartyIndex>,
    answers: Vec<(PartyIndex, Outcome)>,
    replies: Vec<RpcReplyPort<Vec<(PartyIndex, Outcome)>>>,
}

/// Sessions this member gave up, newest last.
#[derive(Default)]
pub(super) struct GivenUp {
    set: HashSet<SessionId>,
    order: VecDeque<SessionId>,
}

impl GivenUp {
    pub(super) fn contains(&self, session: &SessionId) -> bool {
        self.set.contains(session)
    }

    fn insert(&mut self, session: SessionId) {
        if self.set.insert(session) {
            self.order.push_back(session);
            if self.order.len() > GIVEN_UP {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

impl ManagerState {
    /// What this member holds of `session`: its signatures, or it gives the session up now
    /// (`None`: its journal cannot be read now, so it says nothing).
    pub(super) fn outcome_of(&mut self, session: SessionId) -> Option<Outcome> {
        if let Some(SessionStatus::Signed(sigs)) = self.sessions.get(&session).map(|i| &i.status) {
            return Some(Outcome::Signed(sigs.clone()));
        }
        match self.args.keystore.kept_signatures(session) {
            Ok(Some(sigs)) => return Some(Outcome::Signed(sigs)),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(%session, error = %e, "reading kept signatures failed");
                return None;
            }
        }
        self.given_up.insert(session);
        if let Some((running, _, _)) = self.running.get(&session) {
            // Its proposer lost its side: it cannot finish; end it now.
            if let Some(info) = self.sessions.get(&session) {
                unreachable(running, info.proposer);
            }
        }
        Some(Outcome::Abandoned)
    }

    /// Asks `participants` (this node answers for itself) what they hold of `session`.
    pub(super) fn ask(
        &mut self,
        myself: &ActorRef<ManagerMsg>,
        session: SessionId,
        participants: Vec<PartyIndex>,
        reply: RpcReplyPort<Vec<(PartyIndex, Outcome)>>,
    ) {
        self.ask_with(myself, session, participants, Control::AskOutcome { session }, reply)
    }

    /// Asks `question` (about `session`) of `participants`; for a signing this node answers
    /// for itself too.
    pub(super) fn ask_with(
        &mut self,
        myself: &ActorRef<ManagerMsg>,
        session: SessionId,
        participants: Vec<PartyIndex>,
        question: Control,
        reply: RpcReplyPort<Vec<(PartyIndex, Outcome)>>,
    ) {
        if let Some(open) = self.asks.get_mut(&session) {
            open.replies.push(reply);
            return;
        }
        if self.asks.len() >= ASKS {
            let _ = reply.send(Vec::new());
            return;
        }
        let mine = if matches!(question, Control::AskOutcome { .. }) { self.outcome_of(session) } else { None };
        let others: BTreeSet<PartyIndex> = participants.into_iter().filter(|p| *p != self.args.me).collect();
        for &p in &others {
            self.send_direct(session, p, &question);
        }
        let answers = mine.map(|m| vec![(self.args.me, m)]).unwrap_or_default();
        let open = Ask { waiting: others, answers, replies: vec![reply] };
        if open.waiting.is_empty() {
            answer(open);
            return;
        }
        self.asks.insert(session, open);
        myself.send_after(ASK_WAIT, move || ManagerMsg::AskOver(session));
    }

    /// A member asks what this one holds of `session`.
    pub(super) fn on_ask(&mut self, from: PartyIndex, session: SessionId) {
        // Only a participant may make us give a session up.
        let known = self.sessions.get(&session).map(|i| i.participants.contains(&from));
        if known == Some(false) {
            return;
        }
        if let Some(outcome) = self.outcome_of(session) {
            self.send_direct(session, from, &Control::Outcome { session, outcome });
        }
    }

    /// A member's answer.
    pub(super) fn on_outcome(&mut self, from: PartyIndex, session: SessionId, outcome: Outcome) {
        let Some(open) = self.asks.get_mut(&session) else { return };
        if !open.waiting.remove(&from) {
            return;
        }
        open.answers.push((from, outcome));
        if open.waiting.is_empty() {
            if let Some(open) = self.asks.remove(&session) {
                answer(open);
            }
        }
    }

    /// The wait is over: answer with what came.
    pub(super) fn ask_over(&mut self, session: SessionId) {
        if let Some(open) = self.asks.remove(&session) {
            answer(open);
        }
    }
}

fn answer(open: Ask) {
    for r in open.replies {
        let _ = r.send(open.answers.clone());
    }
}
