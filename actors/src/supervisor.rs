//! The node supervisor: the root of the actor tree. It starts the journal actor, the session
//! manager (which supervises one session actor per ceremony), the transfer actor and the
//! network bridge, linked to itself. A failed journal actor, manager or transfer actor is
//! restarted (a bounded number of times per
//! minute); the bridge owns the transport's event stream and cannot be, so its loss stops the
//! node, which then exits with an error for its service manager to restart.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use network::p2p::NetEvent;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};
use store::Journal;
use tokio::sync::mpsc::Receiver;

use crate::bridge::{BridgeArgs, BridgeMsg, NetListener, NetworkBridge};
use crate::health::{HealthArgs, HealthMsg, HealthRegistry};
use crate::journal::{JournalActor, JournalListener, JournalMsg};
use crate::limiter::{LimiterActor, LimiterArgs, LimiterMsg};
use crate::manager::{ManagerArgs, ManagerMsg, SessionManager};
use crate::transfers::{TransferActor, TransferArgs, TransferMsg};

/// The current instance of a restartable actor, shared with whoever talks to it.
pub struct Slot<T>(Arc<RwLock<Option<ActorRef<T>>>>);

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self(Arc::new(RwLock::new(None)))
    }
}

impl<T> Slot<T> {
    /// A slot holding `actor` (a tree assembled by hand, as in tests).
    pub fn holding(actor: ActorRef<T>) -> Self {
        let slot = Self::default();
        slot.set(Some(actor));
        slot
    }

    /// The running instance, if any.
    pub fn get(&self) -> Option<ActorRef<T>> {
        self.0.read().ok().and_then(|g| g.clone())
    }

    fn set(&self, actor: Option<ActorRef<T>>) {
        if let Ok(mut g) = self.0.write() {
            *g = actor;
        }
    }

    fn is(&self, cell: &ActorCell) -> bool {
        self.get().is_some_and(|a| a.get_id() == cell.get_id())
    }
}

/// The node's actors, as the admin RPC and the metrics reach them.
#[derive(Clone, Default)]
pub struct NodeRefs {
    /// The session manager.
    pub manager: Slot<ManagerMsg>,
    /// The journal actor.
    pub journal: Slot<JournalMsg>,
    /// The network bridge.
    pub bridge: Slot<BridgeMsg>,
    /// The transfer actor (absent in a tree started without one).
    pub transfers: Slot<TransferMsg>,
    /// The limiter (absent in a tree started without limits).
    pub limiter: Slot<LimiterMsg>,
    /// The health registry (absent in a tree started without one).
    pub health: Slot<HealthMsg>,
    /// Peer health as the health actors publish it (empty without a registry).
    pub board: crate::health::Board,
}

/// What the supervisor starts with.
pub struct SupervisorArgs {
    /// The manager's parts (the journal listener is added here).
    pub manager: ManagerArgs,
    /// The journal the journal actor owns.
    pub journal: Arc<Journal>,
    /// The transport's events (for the bridge).
    pub events: Receiver<NetEvent>,
    /// Who else sees transport events.
    pub net_listeners: Vec<Arc<dyn NetListener>>,
    /// Filled with the running actors.
    pub refs: NodeRefs,
    /// The transfer actor's parts, if this tree runs transfers.
    pub transfers: Option<TransferArgs>,
    /// The limiter's parts, if this tree enforces limits.
    pub limiter: Option<LimiterArgs>,
    /// The health registry's parts, if this tree keeps peer health.
    pub health: Option<HealthArgs>,
}

/// Restarts allowed per [`RESTART_WINDOW`] before the node gives up.
pub const MAX_RESTARTS: usize = 5;
/// See [`MAX_RESTARTS`].
pub const RESTART_WINDOW: Duration = Duration::from_secs(60);

/// The supervisor's state.
pub struct SupervisorState {
    manager: ManagerArgs,
    transfers: Option<TransferArgs>,
    limiter: Option<LimiterArgs>,
    health: Option<HealthArgs>,
    journal: Arc<Journal>,
    refs: NodeRefs,
    restarts: VecDeque<Instant>,
}

/// The node supervisor actor.
pub struct NodeSupervisor;

/// Messages of the supervisor (none: it only supervises).
pub enum SupervisorMsg {}

async fn spawn_journal(s: &SupervisorState, me: &ActorCell) -> Result<(), ActorProcessingErr> {
    let (journal, _) = Actor::spawn_linked(None, JournalActor, s.journal.clone(), me.clone()).await?;
    s.refs.journal.set(Some(journal));
    Ok(())
}

async fn spawn_manager(s: &SupervisorState, me: &ActorCell) -> Result<(), ActorProcessingErr> {
    let (manager, _) = Actor::spawn_linked(None, SessionManager, s.manager.clone(), me.clone()).await?;
    s.refs.manager.set(Some(manager));
    Ok(())
}

async fn spawn_transfers(s: &SupervisorState, me: &ActorCell) -> Result<(), ActorProcessingErr> {
    let Some(args) = s.transfers.clone() else { return Ok(()) };
    let (transfers, _) = Actor::spawn_linked(None, TransferActor, args, me.clone()).await?;
    s.refs.transfers.set(Some(transfers));
    Ok(())
}

async fn spawn_health(s: &SupervisorState, me: &ActorCell) -> Result<(), ActorProcessingErr> {
    let Some(args) = s.health.clone() else { return Ok(()) };
    let (health, _) = Actor::spawn_linked(None, HealthRegistry, args, me.clone()).await?;
    s.refs.health.set(Some(health));
    Ok(())
}

async fn spawn_limiter(s: &SupervisorState, me: &ActorCell) -> Result<(), ActorProcessingErr> {
    let Some(args) = s.limiter.clone() else { return Ok(()) };
    let (limiter, _) = Actor::spawn_linked(None, LimiterActor, args, me.clone()).await?;
    s.refs.limiter.set(Some(limiter));
    Ok(())
}

impl Actor for NodeSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let mut manager = args.manager;
        let refs = args.refs;
        manager.listeners.push(Arc::new(SlotJournalListener(refs.journal.clone())));
        if args.transfers.is_some() {
            manager.transfers = Some(refs.transfers.clone());
        }
        if args.limiter.is_some() {
            manager.limiter = Some(refs.limiter.clone());
        }
        let transfers = args.transfers.map(|mut t| {
            t.refs = refs.clone();
            t
        });
        let limiter = args.limiter.map(|mut l| {
            l.journal = Some(refs.journal.clone());
            l
        });
        let health = args.health.map(|mut h| {
            h.journal_actor = refs.journal.clone();
            manager.health = Some(h.board.clone());
            h
        });
        let state = SupervisorState {
            manager,
            transfers,
            limiter,
            health,
            journal: args.journal,
            refs,
            restarts: VecDeque::new(),
        };
        let me = myself.get_cell();
        spawn_journal(&state, &me).await?;
        spawn_limiter(&state, &me).await?;
        spawn_health(&state, &me).await?;
        spawn_manager(&state, &me).await?;
        spawn_transfers(&state, &me).await?;
        let bridge_args = BridgeArgs {
            events: args.events,
            manager: state.refs.manager.clone(),
            me: state.manager.me,
            parties: state.manager.parties,
            listeners: args.net_listeners,
        };
        let (bridge, _) = Actor::spawn_linked(None, NetworkBridge, bridge_args, me).await?;
        state.refs.bridge.set(Some(bridge));
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        for slot in [
            &state.refs.manager.get().map(|a| a.get_cell()),
            &state.refs.journal.get().map(|a| a.get_cell()),
            &state.refs.bridge.get().map(|a| a.get_cell()),
            &state.refs.transfers.get().map(|a| a.get_cell()),
            &state.refs.limiter.get().map(|a| a.get_cell()),
            &state.refs.health.get().map(|a| a.get_cell()),
        ]
        .into_iter()
        .flatten()
        {
            slot.stop(Some("node stopping".into()));
        }
        state.refs.manager.set(None);
        state.refs.journal.set(None);
        state.refs.bridge.set(None);
        state.refs.transfers.set(None);
        state.refs.limiter.set(None);
        state.refs.health.set(None);
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        _state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {}
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, why) = match event {
            SupervisionEvent::ActorFailed(cell, error) => (cell, error.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (cell, reason.unwrap_or_else(|| "stopped".into())),
            _ => return Ok(()),
        };
        let now = Instant::now();
        state.restarts.retain(|t| now.duration_since(*t) < RESTART_WINDOW);
        if state.restarts.len() >= MAX_RESTARTS {
            return Err(format!("{MAX_RESTARTS} restarts within {RESTART_WINDOW:?}; giving up after: {why}").into());
        }
        let me = myself.get_cell();
        if state.refs.manager.is(&cell) {
            tracing::error!(reason = %why, "session manager stopped; restarting it");
            state.restarts.push_back(now);
            spawn_manager(state, &me).await
        } else if state.refs.journal.is(&cell) {
            tracing::error!(reason = %why, "journal actor stopped; restarting it");
            state.restarts.push_back(now);
            spawn_journal(state, &me).await
        } else if state.refs.transfers.is(&cell) {
            // Its unfinished transfers resume from the journal.
            tracing::error!(reason = %why, "transfer actor stopped; restarting it");
            state.restarts.push_back(now);
            spawn_transfers(state, &me).await
        } else if state.refs.limiter.is(&cell) {
            // Its budgets come back from the store; until then members refuse to sign.
            tracing::error!(reason = %why, "limiter stopped; restarting it");
            state.restarts.push_back(now);
            spawn_limiter(state, &me).await
        } else if state.refs.health.is(&cell) {
            tracing::error!(reason = %why, "health registry stopped; restarting it");
            state.restarts.push_back(now);
            spawn_health(state, &me).await
        } else if state.refs.bridge.is(&cell) {
            Err(format!("network bridge stopped: {why}").into())
        } else {
            Ok(())
        }
    }
}

/// The journal listener through the slot, so it follows the journal actor across restarts.
struct SlotJournalListener(Slot<JournalMsg>);

impl crate::events::CeremonyListener for SlotJournalListener {
    fn on_ceremony(&self, event: &crate::events::CeremonyEvent) {
        if let Some(j) = self.0.get() {
            JournalListener(j).on_ceremony(event);
        }
    }
}
