//! Health actors: one per peer, fed by every session's observations, each the one owner of
//! its peer's record. One actor per peer rather than one for all: a flood of observations
//! about one misbehaving peer queues in that peer's mailbox only, and a fault in one record
//! (restarted by the registry) never touches another's. Each publishes its peer's score and
//! reputation to a shared [`Board`] that signer selection, `node_peers` and the metrics read
//! without a round trip.
//!
//! Score in [0, 1] = (messages received / expected) × (valid / total) × (1 − latency
//! penalty), over the peer's last [`WINDOW`] rounds; the penalty is (p95 / base timeout)².
//! Reputation in [0, 1] falls on blame (a timeout or a lost connection −0.1, cheating −0.5)
//! and recovers slowly with rounds answered (+0.005 each); it is journaled and replayed at
//! start, so it survives restarts.

mod peer;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use protocol::PartyIndex;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use store::{DomainEvent, Journal, StreamId};

pub use peer::{PeerActor, PeerMsg};

use crate::journal::JournalMsg;
use crate::session::Observation;
use crate::supervisor::Slot;

/// Rounds a peer's score looks back over.
pub const WINDOW: usize = 64;

/// One peer's health, as its actor last published it.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerHealth {
    /// The peer.
    pub party: PartyIndex,
    /// Health score in [0, 1] (1 with no evidence yet).
    pub score: f64,
    /// Reputation in [0, 1].
    pub reputation: f64,
    /// Rounds in the window: expected of it, answered.
    pub expected: u64,
    /// See `expected`.
    pub received: u64,
    /// Its messages in the window: admitted, all.
    pub valid: u64,
    /// See `valid`.
    pub total: u64,
    /// Its answer latency in the window, ms.
    pub p50_ms: u64,
    /// See `p50_ms`.
    pub p95_ms: u64,
    /// Times it was late while the others had answered (ever, this run).
    pub stragglers: u64,
    /// Times it was blamed for silence or a lost connection (this run).
    pub blamed_silent: u64,
    /// Times it was blamed for cheating (this run).
    pub blamed_cheating: u64,
}

impl PeerHealth {
    fn fresh(party: PartyIndex, reputation: f64) -> Self {
        Self {
            party,
            score: 1.0,
            reputation,
            expected: 0,
            received: 0,
            valid: 0,
            total: 0,
            p50_ms: 0,
            p95_ms: 0,
            stragglers: 0,
            blamed_silent: 0,
            blamed_cheating: 0,
        }
    }

    /// How much signer selection wants this peer: health × reputation.
    pub fn rank(&self) -> f64 {
        self.score * self.reputation
    }
}

/// Every peer's health, shared.
#[derive(Clone, Default)]
pub struct Board(Arc<RwLock<BTreeMap<PartyIndex, PeerHealth>>>);

impl Board {
    /// Every peer's record, by party.
    pub fn all(&self) -> Vec<PeerHealth> {
        self.0.read().map(|b| b.values().cloned().collect()).unwrap_or_default()
    }

    /// One peer's record.
    pub fn get(&self, party: PartyIndex) -> Option<PeerHealth> {
        self.0.read().ok().and_then(|b| b.get(&party).cloned())
    }

    /// Signer preference of `party` (1 when unknown).
    pub fn rank(&self, party: PartyIndex) -> f64 {
        self.get(party).map_or(1.0, |h| h.rank())
    }

    pub(crate) fn publish(&self, h: PeerHealth) {
        if let Ok(mut b) = self.0.write() {
            b.insert(h.party, h);
        }
    }
}

/// What the health registry starts with.
#[derive(Clone)]
pub struct HealthArgs {
    /// This node.
    pub me: PartyIndex,
    /// Committee size.
    pub parties: u16,
    /// The base round timeout (the latency penalty's scale), ms.
    pub base_timeout_ms: u64,
    /// Where the scores are published.
    pub board: Board,
    /// The journal (reputation is replayed from it at start).
    pub journal: Arc<Journal>,
    /// The journal actor (reputation changes are noted through it).
    pub journal_actor: Slot<JournalMsg>,
}

/// Messages of the registry.
pub enum HealthMsg {
    /// A session's observation.
    Observe(Observation),
    /// A peer's connection dropped.
    Down(PartyIndex),
}

/// Starts one peer actor per other member and routes observations to them.
pub struct HealthRegistry;

/// The registry's state.
pub struct RegistryState {
    peers: BTreeMap<PartyIndex, ActorRef<PeerMsg>>,
    args: HealthArgs,
}

/// Each peer's last journaled reputation.
fn replay(journal: &Journal) -> BTreeMap<PartyIndex, f64> {
    let mut last = BTreeMap::new();
    let mut from = 1;
    while let Ok(events) = journal.read_stream(&StreamId::Health, from, 512) {
        if events.is_empty() {
            break;
        }
        from += events.len() as u64;
        for e in events {
            if let DomainEvent::ReputationChanged { party, reputation_milli, .. } = e.event {
                last.insert(party, f64::from(reputation_milli.min(1000)) / 1000.0);
            }
        }
    }
    last
}

async fn spawn_peer(
    myself: &ActorRef<HealthMsg>,
    args: &HealthArgs,
    party: PartyIndex,
    reputation: f64,
) -> Result<ActorRef<PeerMsg>, ActorProcessingErr> {
    let peer = peer::PeerArgs {
        party,
        reputation,
        base_timeout_ms: args.base_timeout_ms,
        board: args.board.clone(),
        journal: args.journal_actor.clone(),
    };
    let (actor, _) = Actor::spawn_linked(None, PeerActor, peer, myself.get_cell()).await?;
    Ok(actor)
}

impl Actor for HealthRegistry {
    type Msg = HealthMsg;
    type State = RegistryState;
    type Arguments = HealthArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<HealthMsg>,
        args: HealthArgs,
    ) -> Result<RegistryState, ActorProcessingErr> {
        let journal = args.journal.clone();
        let known = tokio::task::spawn_blocking(move || replay(&journal)).await.unwrap_or_default();
        let mut peers = BTreeMap::new();
        for party in (0..args.parties).filter(|p| *p != args.me) {
            let reputation = known.get(&party).copied().unwrap_or(1.0);
            args.board.publish(PeerHealth::fresh(party, reputation));
            peers.insert(party, spawn_peer(&myself, &args, party, reputation).await?);
        }
        Ok(RegistryState { peers, args })
    }

    async fn handle(
        &self,
        _myself: ActorRef<HealthMsg>,
        msg: HealthMsg,
        state: &mut RegistryState,
    ) -> Result<(), ActorProcessingErr> {
        let send = |party: PartyIndex, m: PeerMsg| {
            if let Some(a) = state.peers.get(&party) {
                let _ = a.cast(m);
            }
        };
        match msg {
            HealthMsg::Observe(Observation::Round { parties, .. }) => {
                for p in parties {
                    send(p.party, PeerMsg::Round(p));
                }
            }
            HealthMsg::Observe(Observation::Straggler { party, waited_ms, .. }) => {
                send(party, PeerMsg::Straggler(waited_ms))
            }
            HealthMsg::Observe(Observation::Blamed { parties, misbehaviour, reason, .. }) => {
                for p in parties {
                    send(p, PeerMsg::Blamed { misbehaviour, reason: reason.clone() });
                }
            }
            HealthMsg::Down(party) => send(party, PeerMsg::Down),
            HealthMsg::Observe(_) => {}
        }
        Ok(())
    }

    /// A peer actor that fails is started again from what the board last showed of it.
    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<HealthMsg>,
        event: SupervisionEvent,
        state: &mut RegistryState,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, error) = &event {
            let failed = state.peers.iter().find(|(_, a)| a.get_id() == cell.get_id()).map(|(p, _)| *p);
            if let Some(party) = failed {
                tracing::warn!(party, %error, "health actor failed; restarting it");
                let reputation = state.args.board.get(party).map_or(1.0, |h| h.reputation);
                let actor = spawn_peer(&myself, &state.args, party, reputation).await?;
                state.peers.insert(party, actor);
            }
        }
        Ok(())
    }
}
