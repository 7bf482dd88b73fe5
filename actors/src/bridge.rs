//! The network bridge actor: the one reader of the transport's events. Envelopes go to the
//! session manager (whichever instance the supervisor runs now); membership changes are kept
//! for `node_peers`; every event is shown to the listeners (metrics).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use network::p2p::NetEvent;
use protocol::PartyIndex;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::mpsc::Receiver;

use crate::manager::ManagerMsg;
use crate::supervisor::Slot;

/// What the node knows of one other member's connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerState {
    /// Party index.
    pub party: PartyIndex,
    /// Connected now.
    pub connected: bool,
    /// When it last connected or disconnected, ms since the epoch (`None`: never seen).
    pub changed_ms: Option<u64>,
    /// When its last valid message arrived, ms since the epoch.
    pub last_message_ms: Option<u64>,
}

/// Something that wants to see every transport event (metrics).
pub trait NetListener: Send + Sync + 'static {
    /// Called for each event, in order; must not block.
    fn on_net(&self, event: &NetEvent);
}

/// Messages of the bridge.
pub enum BridgeMsg {
    /// An event from the transport, with its place in the backlog.
    Event(NetEvent, tokio::sync::OwnedSemaphorePermit),
    /// Every other member's state, by party.
    Peers(RpcReplyPort<Vec<PeerState>>),
}

/// What the bridge starts with.
pub struct BridgeArgs {
    /// The transport's events (taken once).
    pub events: Receiver<NetEvent>,
    /// Where envelopes go.
    pub manager: Slot<ManagerMsg>,
    /// This node.
    pub me: PartyIndex,
    /// Committee size.
    pub parties: u16,
    /// See every event.
    pub listeners: Vec<Arc<dyn NetListener>>,
}

/// The bridge's state.
pub struct BridgeState {
    manager: Slot<ManagerMsg>,
    peers: BTreeMap<PartyIndex, PeerState>,
    listeners: Vec<Arc<dyn NetListener>>,
    reader: tokio::task::JoinHandle<()>,
}

/// The network bridge actor.
pub struct NetworkBridge;

/// Transport events taken but not yet handled by the manager, at most.
pub const BACKLOG: usize = 4096;

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Actor for NetworkBridge {
    type Msg = BridgeMsg;
    type State = BridgeState;
    type Arguments = BridgeArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<BridgeMsg>,
        args: BridgeArgs,
    ) -> Result<BridgeState, ActorProcessingErr> {
        let mut events = args.events;
        // Actor mailboxes are unbounded: a permit per event, held until the manager handled
        // it, keeps the backlog bounded. When it is full the reader stops taking from the
        // transport's bounded channel, and the transport stops reading from its peers.
        let backlog = Arc::new(tokio::sync::Semaphore::new(BACKLOG));
        let reader = tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                let Ok(permit) = backlog.clone().acquire_owned().await else { break };
                if myself.cast(BridgeMsg::Event(ev, permit)).is_err() {
                    break;
                }
            }
        });
        let peers = (0..args.parties)
            .filter(|p| *p != args.me)
            .map(|party| (party, PeerState { party, connected: false, changed_ms: None, last_message_ms: None }))
            .collect();
        Ok(BridgeState { manager: args.manager, peers, listeners: args.listeners, reader })
    }

    async fn post_stop(&self, _myself: ActorRef<BridgeMsg>, state: &mut BridgeState) -> Result<(), ActorProcessingErr> {
        state.reader.abort();
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<BridgeMsg>,
        msg: BridgeMsg,
        state: &mut BridgeState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            BridgeMsg::Event(event, permit) => {
                for l in &state.listeners {
                    l.on_net(&event);
                }
                match &event {
                    NetEvent::PeerUp(p) | NetEvent::PeerDown(p) => {
                        if let Some(peer) = state.peers.get_mut(p) {
                            peer.connected = matches!(event, NetEvent::PeerUp(_));
                            peer.changed_ms = Some(now_ms());
                        }
                    }
                    NetEvent::Message { from, .. } => {
                        if let Some(peer) = state.peers.get_mut(from) {
                            peer.last_message_ms = Some(now_ms());
                        }
                    }
                    _ => {}
                }
                if matches!(event, NetEvent::Message { .. } | NetEvent::PeerUp(_) | NetEvent::PeerDown(_)) {
                    if let Some(manager) = state.manager.get() {
                        let _ = manager.cast(ManagerMsg::Backlogged(event, permit));
                    }
                }
            }
            BridgeMsg::Peers(reply) => {
                let _ = reply.send(state.peers.values().cloned().collect());
            }
        }
        Ok(())
    }
}
