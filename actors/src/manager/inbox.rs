//! Envelopes from the network: round messages to their session (or buffered, bounded, until
//! it starts, within each member's share), control messages to the proposal book and the other handlers.

use std::time::Instant;

use protocol::proposal::{Control, CONTROL_ROUND, STEPS_LIMIT};
use protocol::{Envelope, PartyIndex};
use ractor::ActorRef;

use super::{route, ManagerMsg, ManagerState, EARLY_VOTES_PER_MEMBER};

impl ManagerState {
    pub(super) async fn on_envelope(&mut self, myself: &ActorRef<ManagerMsg>, from: PartyIndex, envelope: Envelope) {
        if envelope.round != CONTROL_ROUND {
            match self.running.get(&envelope.session) {
                Some((r, _, _)) => {
                    if self.inflow.admit(envelope.session, from, envelope.payload.len()) {
                        route(r, envelope);
                    } else {
                        tracing::debug!(party = from, session = %envelope.session, "envelope dropped: the member's share of the session is used up");
                    }
                }
                None if self.not_ours.contains_key(&envelope.session) => {}
                None => {
                    if self.early.push(from, envelope).is_err() {
                        tracing::debug!(
                            party = from,
                            "an early envelope dropped: the member's share of the buffer is full"
                        );
                    }
                }
            }
            return;
        }
        let Ok(control) = Control::decode(&envelope.payload) else { return };
        match control {
            Control::Propose(proposal) => self.on_proposal(myself, from, envelope.session, proposal).await,
            Control::Vote { session, vote } => {
                if !self.book.contains(&session) {
                    if self.not_ours.contains_key(&session) {
                        return;
                    }
                    let waiting = self.early_votes.values().filter(|(_, v)| v.iter().any(|(p, _)| *p == from)).count();
                    if waiting >= EARLY_VOTES_PER_MEMBER {
                        return;
                    }
                    let (_, votes) = self.early_votes.entry(session).or_insert_with(|| (Instant::now(), Vec::new()));
                    // One early vote per member: a repeat cannot push another member's out.
                    if votes.len() < usize::from(self.args.parties) && !votes.iter().any(|(v, _)| *v == from) {
                        votes.push((from, vote));
                    }
                    return;
                }
                if let Ok(decision) = self.book.vote(session, from, &vote) {
                    self.decided(myself, decision).await;
                }
            }
            Control::Hello { boot } => self.on_hello(myself, from, boot).await,
            Control::AskOutcome { session } => self.on_ask(from, session),
            Control::Outcome { session, outcome } => self.on_outcome(from, session, outcome),
            Control::AskRefresh { session, wallet } => self.on_ask_refresh(from, session, wallet),
            Control::Abort(signed) => self.on_abort(myself, from, signed),
            Control::Notice(notice) => {
                if let Some(t) = self.args.transfers.as_ref().and_then(|s| s.get()) {
                    let _ = t.cast(crate::transfers::TransferMsg::Notice(from, *notice));
                }
            }
            Control::Steps(steps) => {
                // One transfer's steps, in order: more, or another transfer's among them, is not.
                let one_tx = steps.windows(2).all(|w| w[0].tx == w[1].tx);
                if steps.len() > STEPS_LIMIT || !one_tx {
                    tracing::debug!(party = from, steps = steps.len(), "a transfer's steps malformed; ignored");
                    return;
                }
                if let Some(t) = self.args.transfers.as_ref().and_then(|s| s.get()) {
                    for notice in steps {
                        let _ = t.cast(crate::transfers::TransferMsg::Notice(from, notice));
                    }
                }
            }
        }
    }
}
