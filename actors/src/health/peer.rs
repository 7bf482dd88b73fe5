//! One peer's health actor: its last rounds, its score and its reputation.

use std::collections::VecDeque;
use std::time::Instant;

use protocol::breaker::health_score;
use protocol::PartyIndex;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use store::{DomainEvent, StreamId};

use super::{Board, PeerHealth, WINDOW};
use crate::journal::JournalMsg;
use crate::session::PartyRound;
use crate::supervisor::Slot;

/// Reputation lost for a timeout or a lost connection, for cheating; gained per round answered.
const SILENT_COST: f64 = 0.1;
const CHEAT_COST: f64 = 0.5;
const ROUND_GAIN: f64 = 0.005;
/// A recovering reputation is journaled at most this often, and only after this much change.
const RECOVERY_NOTE_MS: u128 = 60_000;
const RECOVERY_NOTE_STEP: f64 = 0.05;

/// What a peer actor is told.
pub enum PeerMsg {
    /// Its part of a round.
    Round(PartyRound),
    /// It was late while the others had answered, by this much, ms.
    Straggler(u64),
    /// A session blamed it.
    Blamed {
        /// Cheating rather than silence.
        misbehaviour: bool,
        /// The session's error.
        reason: String,
    },
    /// Its connection dropped.
    Down,
}

/// What a peer actor starts with.
pub struct PeerArgs {
    pub(super) party: PartyIndex,
    pub(super) reputation: f64,
    pub(super) base_timeout_ms: u64,
    pub(super) board: Board,
    pub(super) journal: Slot<JournalMsg>,
}

#[derive(Clone, Copy)]
struct Sample {
    received: bool,
    latency_ms: u64,
    valid: u32,
    total: u32,
}

/// A peer actor's state.
pub struct PeerState {
    args: PeerArgs,
    window: VecDeque<Sample>,
    health: PeerHealth,
    noted: (f64, Instant),
}

/// One peer's health actor.
pub struct PeerActor;

impl PeerState {
    fn push(&mut self, s: Sample) {
        self.window.push_back(s);
        if self.window.len() > WINDOW {
            self.window.pop_front();
        }
        let h = &mut self.health;
        h.expected = self.window.len() as u64;
        h.received = self.window.iter().filter(|s| s.received).count() as u64;
        h.valid = self.window.iter().map(|s| u64::from(s.valid)).sum();
        h.total = self.window.iter().map(|s| u64::from(s.total)).sum();
        let mut lat: Vec<u64> = self.window.iter().filter(|s| s.received).map(|s| s.latency_ms).collect();
        lat.sort_unstable();
        let pick = |q: usize| lat.get((lat.len().saturating_sub(1) * q) / 100).copied().unwrap_or(0);
        h.p50_ms = pick(50);
        h.p95_ms = pick(95);
        h.score = health_score(h.received, h.expected, h.valid, h.total, h.p95_ms, self.args.base_timeout_ms);
    }

    fn reputation(&mut self, delta: f64, cause: &str, always: bool) {
        let before = self.health.reputation;
        self.health.reputation = (before + delta).clamp(0.0, 1.0);
        let now = self.health.reputation;
        let (last, at) = self.noted;
        let due = always
            || ((now - last).abs() >= RECOVERY_NOTE_STEP && at.elapsed().as_millis() >= RECOVERY_NOTE_MS)
            || (now >= 1.0 && last < 1.0);
        if now != before && due {
            self.noted = (now, Instant::now());
            let event = DomainEvent::ReputationChanged {
                party: self.args.party,
                reputation_milli: (now * 1000.0).round() as u32,
                cause: cause.chars().take(200).collect(),
            };
            if let Some(j) = self.args.journal.get() {
                let _ = j.cast(JournalMsg::Note(StreamId::Health, vec![event]));
            }
        }
    }
}

impl Actor for PeerActor {
    type Msg = PeerMsg;
    type State = PeerState;
    type Arguments = PeerArgs;

    async fn pre_start(&self, _myself: ActorRef<PeerMsg>, args: PeerArgs) -> Result<PeerState, ActorProcessingErr> {
        let health = PeerHealth::fresh(args.party, args.reputation);
        Ok(PeerState { noted: (args.reputation, Instant::now()), args, window: VecDeque::new(), health })
    }

    async fn handle(
        &self,
        _myself: ActorRef<PeerMsg>,
        msg: PeerMsg,
        state: &mut PeerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PeerMsg::Round(r) => {
                state.push(Sample { received: r.received, latency_ms: r.latency_ms, valid: r.valid, total: r.total });
                if r.received {
                    state.reputation(ROUND_GAIN, "rounds answered", false);
                }
            }
            PeerMsg::Straggler(waited_ms) => {
                state.health.stragglers += 1;
                state.push(Sample { received: false, latency_ms: waited_ms, valid: 0, total: 0 });
            }
            PeerMsg::Blamed { misbehaviour, reason } => {
                if misbehaviour {
                    state.health.blamed_cheating += 1;
                    state.reputation(-CHEAT_COST, &reason, true);
                } else {
                    state.health.blamed_silent += 1;
                    state.reputation(-SILENT_COST, &reason, true);
                }
            }
            PeerMsg::Down => {}
        }
        state.args.board.publish(state.health.clone());
        Ok(())
    }
}
