//! The session manager: turns proposals and votes into sessions. Any member proposes; every
//! participant checks the proposal against its policy and votes; once all accepted, each
//! starts a session actor for it. It routes each network envelope to its session and keeps
//! every session's status; ceremony lifecycle events go to its listeners (journal, metrics).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use network::p2p::{NetEvent, NetworkHandle};
use protocol::chains::Chains;
use protocol::proposal::{Control, Decision, Proposal, ProposalBook, ProposalKind, Vote, CONTROL_ROUND};
use protocol::schemes::Registry;
use protocol::wallet::TransferPolicy;
use protocol::{Envelope, KeyShare, PartyIndex, Recipient, SchemeId, SessionId, SetupMaterial, Signature, WalletId};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use store::CeremonyKind;

pub use crate::events::{CeremonyEvent, CeremonyListener, SessionFailure, SessionInfo, SessionStatus};
use crate::keystore::Keystore;

mod among;
mod breaker;
mod delivery;
mod early;
mod export;
mod inbox;
mod inflow;
mod late_aborts;
mod limits;
mod messages;
mod outcomes;
mod policy;
mod pool;
mod propose;
mod refresh;
mod repair;
mod sessions;

use crate::session::{NetworkOutbox, Outbox, SessionMsg};
use policy::{Pending, Verdict};
use sessions::route;

pub use export::{KeySink, MAX_APPROVAL};
pub use messages::ManagerMsg;
pub use pool::PoolConfig;

/// The manager's fixed parts.
#[derive(Clone)]
pub struct ManagerArgs {
    /// This node.
    pub me: PartyIndex,
    /// Committee size.
    pub parties: u16,
    /// Schemes.
    pub registry: Arc<Registry>,
    /// The transport.
    pub network: NetworkHandle,
    /// Key shares.
    pub keystore: Arc<dyn Keystore>,
    /// Base round timeout: the adaptive timeout never goes below it.
    pub round_timeout: Duration,
    /// The adaptive timeout never goes above this (unless the breaker asks for longer waits).
    pub max_round_timeout: Duration,
    /// The DKG circuit breaker's thresholds and cooldown.
    pub breaker: protocol::breaker::BreakerConfig,
    /// Faults to inject into this node's outgoing ceremony messages (tests, drills): off by
    /// default.
    pub faults: Option<Arc<crate::faults::Faults>>,
    /// Peer health, to prefer healthy, reputable signers (set by the supervisor).
    pub health: Option<crate::health::Board>,
    /// How long a proposal stays open.
    pub proposal_ttl: Duration,
    /// How long a participant whose connection dropped may take to come back before its
    /// running sessions end, blaming it as unreachable.
    pub peer_grace: Duration,
    /// Receives every session's per-party observations (the health actors), if set.
    pub observer: Option<tokio::sync::mpsc::UnboundedSender<crate::session::Observation>>,
    /// Hear about every ceremony's start and end (journal actor, metrics).
    pub listeners: Vec<Arc<dyn CeremonyListener>>,
    /// Chains, to review the transaction a signing proposal carries.
    pub chains: Chains,
    /// This member's transfer limits.
    pub transfer_policy: TransferPolicy,
    /// Receives other members' transfer notices (the transfer actor), if set.
    pub transfers: Option<crate::supervisor::Slot<crate::transfers::TransferMsg>>,
    /// Wallets this member signs raw payloads for (its own config).
    pub raw: protocol::signable::RawSigning,
    /// This member's limiter, if limits are enforced (set by the supervisor).
    pub limiter: Option<crate::supervisor::Slot<crate::limiter::LimiterMsg>>,
    /// The presignature pool (CGGMP24 wallets).
    pub presign: PoolConfig,
    /// Whether this member takes part in a guarded key export at all (`[export] enabled`).
    pub export_enabled: bool,
}

enum Running {
    Setup(ActorRef<SessionMsg<SetupMaterial>>),
    Keygen(ActorRef<SessionMsg<KeyShare>>),
    Sign(ActorRef<SessionMsg<Vec<Signature>>>),
    Presign(ActorRef<SessionMsg<Vec<protocol::presign::Presignature>>>),
    Refresh(ActorRef<SessionMsg<KeyShare>>),
    Repair(ActorRef<SessionMsg<Option<KeyShare>>>),
    Export(ActorRef<SessionMsg<Option<protocol::SecretBytes>>>),
}

/// The manager's state.
pub struct ManagerState {
    args: ManagerArgs,
    book: ProposalBook,
    running: HashMap<SessionId, (Running, Instant, SchemeId)>,
    /// Envelopes for sessions not started here yet, with when the first came.
    early: early::EarlyBuffer,
    /// What each participant handed each running session.
    inflow: inflow::Inflow,
    /// Sessions proposed without us (their broadcasts reach every member): ignored until then.
    not_ours: HashMap<SessionId, (u64, PartyIndex)>,
    /// Votes that arrived before their proposal (gossip does not order different authors).
    early_votes: HashMap<SessionId, (Instant, Vec<(PartyIndex, Vote)>)>,
    sessions: HashMap<SessionId, SessionInfo>,
    /// Sessions in the order first seen, to list them and forget the oldest.
    order: VecDeque<SessionId>,
    /// Open or running keygen proposals by wallet: a second one for the same wallet is declined.
    claims: HashMap<WalletId, SessionId>,
    /// Open or running committee setups by scheme: one at a time, or each would spend a prime
    /// set on every member and members could keep different setups.
    setup_claims: HashMap<SchemeId, SessionId>,
    /// Signing proposals waiting for a wallet's keygen to finish here.
    deferred: HashMap<Pending, Vec<SessionId>>,
    sweeper: Option<tokio::task::JoinHandle<()>>,
    /// Nonces and outputs promised to transactions this member accepted to sign.
    reservations: HashMap<(WalletId, String), Reservation>,
    /// Callers waiting for a session to end.
    watchers: HashMap<SessionId, Vec<RpcReplyPort<Option<SessionInfo>>>>,
    /// Members whose connection is down: since when, and which drop (a later one supersedes).
    down: HashMap<PartyIndex, (Instant, u64)>,
    drops: u64,
    /// What this node said about open proposals, to say again to a participant that reconnects.
    said: HashMap<SessionId, delivery::Said>,
    /// This process's run, told to every member on connection.
    boot: u64,
    /// Each member's run as it last told us.
    boots: HashMap<PartyIndex, u64>,
    /// When each member last connected, ms since the epoch.
    up_at: HashMap<PartyIndex, u64>,
    /// Open questions about how a signing ended.
    asks: HashMap<SessionId, outcomes::Ask>,
    /// Signings this member gave up at their proposer's request: never completed here.
    given_up: outcomes::GivenUp,
    /// When staged refreshes are asked about next.
    next_resolve: Instant,
    /// What each running signing signs (for the transfer, if any), kept with its signatures.
    signing: HashMap<SessionId, (Option<String>, Vec<Vec<u8>>)>,
    /// The DKG circuit breaker, round latencies, final views of recent DKGs.
    watch: breaker::Watch,
    /// Presignatures promised, the refill in flight, presigned signings that fell back.
    pool: pool::Pool,
    /// Export approvals and the callers waiting for exported keys.
    exports: export::Exports,
    /// Wallets whose last running session here just ended: their deferred votes are due.
    freed: Vec<WalletId>,
}

/// The session manager actor.
pub struct SessionManager;

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Sessions for which one member may have votes waiting for their proposal: a member
/// spraying votes fills only its own share.
const EARLY_VOTES_PER_MEMBER: usize = 64;
/// Sessions remembered for `session_get` and `session_list`.
const REMEMBERED: usize = 4096;
/// Callers that may wait on one session.
const WATCHERS: usize = 64;
/// How long a nonce or output stays promised to the transaction a member signed for.
pub const RESERVATION_MS: u64 = 10 * 60 * 1000;

/// A nonce or output promised to one transaction.
struct Reservation {
    tx: String,
    session: SessionId,
    expires_ms: u64,
}

fn kind_of(kind: &ProposalKind) -> CeremonyKind {
    match kind {
        ProposalKind::Setup { .. } => CeremonyKind::Setup,
        ProposalKind::Keygen { .. } => CeremonyKind::Keygen,
        ProposalKind::Sign { .. } | ProposalKind::SignPresigned { .. } => CeremonyKind::Sign,
        ProposalKind::Presign { .. } => CeremonyKind::Presign,
        ProposalKind::Refresh { .. } | ProposalKind::RefreshAux { .. } => CeremonyKind::Refresh,
        ProposalKind::Repair { .. } => CeremonyKind::Repair,
        ProposalKind::Reshare { .. } => CeremonyKind::Reshare,
        ProposalKind::Export { .. } => CeremonyKind::Export,
    }
}

impl ManagerState {
    fn control(&self, session: SessionId, control: &Control) {
        let Ok(payload) = control.encode() else { return };
        let envelope =
            Envelope { session, round: CONTROL_ROUND, sender: self.args.me, recipient: Recipient::Broadcast, payload };
        self.outbox().send(envelope);
    }

    async fn on_net(&mut self, myself: &ActorRef<ManagerMsg>, event: NetEvent) {
        match event {
            NetEvent::Message { from, envelope } => self.on_envelope(myself, from, envelope).await,
            NetEvent::PeerDown(party) => self.peer_down(myself, party),
            NetEvent::PeerUp(party) => self.peer_up(party),
            _ => {}
        }
    }

    fn outbox(&self) -> NetworkOutbox {
        NetworkOutbox { network: self.args.network.clone(), faults: self.args.faults.clone() }
    }

    fn emit(&self, event: CeremonyEvent) {
        for l in &self.args.listeners {
            l.on_ceremony(&event);
        }
    }

    fn set_status(&mut self, session: SessionId, status: SessionStatus) {
        if let Some(info) = self.sessions.get_mut(&session) {
            if status.is_final() && info.finished_ms.is_none() {
                info.finished_ms = Some(now_ms());
            }
            info.status = status;
            if info.status.is_final() {
                for w in self.watchers.remove(&session).unwrap_or_default() {
                    let _ = w.send(Some(info.clone()));
                }
            }
        }
    }

    async fn decided(&mut self, myself: &ActorRef<ManagerMsg>, decision: Decision) {
        match decision {
            Decision::Pending => {}
            Decision::Abandon { session, why } => {
                let reason = why.to_string();
                tracing::info!(%session, %reason, "proposal abandoned");
                self.discard_named(session);
                self.refill_over(session, false);
                if let Some(proposal) = self.falls_back(session) {
                    // Whoever waits on it waits for the full signing that replaces it.
                    let _ = myself.cast(ManagerMsg::FallBack(session, Box::new(proposal), why.into()));
                    self.early.remove(&session);
                    self.release(session);
                    self.refund(session);
                    return;
                }
                self.set_status(session, SessionStatus::Failed(why.into()));
                self.early.remove(&session);
                self.release(session);
                self.refund(session);
                self.unclaim(session);
                let me = self.args.me;
                let journaled =
                    self.book.get(&session).is_some_and(|p| p.proposer == me) || self.book.accepted(&session, me);
                self.emit(CeremonyEvent::Abandoned { session, reason, journaled });
            }
            Decision::Start(session) => {
                tracing::info!(%session, "every participant accepted; starting");
                self.settled_said(&session);
                if let Err(e) = self.start(myself, session).await {
                    tracing::warn!(%session, error = %e, "session could not start");
                    self.set_status(session, SessionStatus::Failed(SessionFailure::NotStarted(e.clone())));
                    self.unclaim(session);
                    self.emit(CeremonyEvent::Abandoned { session, reason: e, journaled: true });
                }
            }
        }
    }

    /// Votes on a proposal we now hold, and applies any votes that came before it.
    async fn vote_and_catch_up(&mut self, myself: &ActorRef<ManagerMsg>, session: SessionId, vote: Vote) {
        if let Some(p) = self.book.get(&session) {
            let (participants, expires) = (p.participants.clone(), p.expires_at_ms);
            self.say(session, &participants, expires, Control::Vote { session, vote: vote.clone() });
        }
        if let Ok(decision) = self.book.vote(session, self.args.me, &vote) {
            self.decided(myself, decision).await;
        }
    }

    async fn on_proposal(&mut self, myself: &ActorRef<ManagerMsg>, from: PartyIndex, session: SessionId, p: Proposal) {
        if ProposalBook::check(&p, from, self.args.parties, now_ms()).is_err()
            || p.session().ok() != Some(session)
            || self.book.contains(&session)
        {
            return;
        }
        if !p.participants.contains(&self.args.me) {
            // Not ours: its rounds' broadcasts will reach us too; drop them, keep nothing else.
            self.early.remove(&session);
            self.early_votes.remove(&session);
            // Each proposer gets its share, so one member's flood cannot crowd out the others'.
            let share = REMEMBERED / usize::from(self.args.parties.max(1));
            if self.not_ours.values().filter(|(_, by)| *by == p.proposer).count() < share {
                self.not_ours.insert(session, (p.expires_at_ms, p.proposer));
            }
            return;
        }
        let proposer = p.proposer;
        let verdict = self.policy(session, &p);
        if let Err(e) = self.book.hold(p.clone()) {
            tracing::debug!(%session, error = %e, "proposal not held");
            return;
        }
        self.remember(session, &p);
        // Proposing is the proposer's own acceptance; then any votes that came first.
        let mut votes = vec![(proposer, Vote::Accept)];
        votes.extend(self.early_votes.remove(&session).map(|(_, v)| v).unwrap_or_default());
        for (voter, vote) in votes {
            if let Ok(decision) = self.book.vote(session, voter, &vote) {
                self.decided(myself, decision).await;
            }
        }
        match verdict {
            Verdict::Accept(spends) => {
                let Some(p) = self.book.get(&session).cloned() else { return };
                if let Err(refusal) = self.within_limits(session, &p).await {
                    return self.vote_and_catch_up(myself, session, Vote::Decline(refusal.to_string())).await;
                }
                if let Err(e) = self.reserve(session, &p, spends) {
                    let why = format!("member {} could not record what it would promise: {e}", self.args.me);
                    return self.vote_and_catch_up(myself, session, Vote::Decline(why)).await;
                }
                self.vote_and_catch_up(myself, session, Vote::Accept).await
            }
            Verdict::Decline(why) => self.vote_and_catch_up(myself, session, Vote::Decline(why)).await,
            Verdict::Defer(pending) => {
                tracing::debug!(%session, %pending, "vote deferred until this ends here");
                self.deferred.entry(pending).or_default().push(session);
            }
        }
    }

    /// A wallet's keygen ended here: vote on the signings that waited for it.
    async fn undefer(&mut self, myself: &ActorRef<ManagerMsg>, pending: &Pending) {
        for session in self.deferred.remove(pending).unwrap_or_default() {
            let Some(p) = self.book.get(&session).cloned() else { continue };
            let vote = match self.policy(session, &p) {
                Verdict::Accept(spends) => match self.within_limits(session, &p).await {
                    Ok(()) => match self.reserve(session, &p, spends) {
                        Ok(()) => Vote::Accept,
                        Err(e) => Vote::Decline(format!("could not record what it would promise: {e}")),
                    },
                    Err(refusal) => Vote::Decline(refusal.to_string()),
                },
                Verdict::Decline(why) => Vote::Decline(why),
                Verdict::Defer(_) => Vote::Decline(format!("{pending} is not ready")),
            };
            self.vote_and_catch_up(myself, session, vote).await;
        }
    }

    async fn sweep(&mut self, myself: &ActorRef<ManagerMsg>) {
        self.breaker_tick();
        let now = now_ms();
        for decision in self.book.expire(now) {
            self.decided(myself, decision).await;
        }
        let running = &self.running;
        self.book.forget_expired(now, |s| running.contains_key(s));
        self.forget_said(now);
        self.exports.forget_closed();
        let book = &self.book;
        self.reservations.retain(|_, r| r.expires_ms > now);
        self.early_votes.retain(|s, (t, _)| book.contains(s) || t.elapsed() < Duration::from_secs(10));
        // Envelopes for a session that has not started within a proposal's lifetime never will.
        let ttl = self.args.proposal_ttl;
        self.early.expire(ttl);
        // Forget foreign sessions well after their proposals expired (their rounds are over).
        let grace = ttl.as_millis() as u64 + self.args.round_timeout.as_millis() as u64 * 8;
        self.not_ours.retain(|_, (expires, _)| expires.saturating_add(grace) > now);
        self.deferred.retain(|_, sessions| {
            sessions.retain(|s| book.contains(s));
            !sessions.is_empty()
        });
    }
}

impl Actor for SessionManager {
    type Msg = ManagerMsg;
    type State = ManagerState;
    type Arguments = ManagerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ManagerMsg>,
        args: ManagerArgs,
    ) -> Result<ManagerState, ActorProcessingErr> {
        let sweeper = myself.send_interval(Duration::from_secs(1), || ManagerMsg::Sweep);
        let mut state = ManagerState {
            book: ProposalBook::default(),
            running: HashMap::new(),
            early: early::EarlyBuffer::default(),
            inflow: inflow::Inflow::default(),
            not_ours: HashMap::new(),
            early_votes: HashMap::new(),
            sessions: HashMap::new(),
            order: VecDeque::new(),
            claims: HashMap::new(),
            setup_claims: HashMap::new(),
            deferred: HashMap::new(),
            sweeper: Some(sweeper),
            watchers: HashMap::new(),
            reservations: HashMap::new(),
            down: HashMap::new(),
            drops: 0,
            said: HashMap::new(),
            boot: rand_core::RngCore::next_u64(&mut rand_core::OsRng),
            boots: HashMap::new(),
            up_at: HashMap::new(),
            asks: HashMap::new(),
            given_up: outcomes::GivenUp::default(),
            next_resolve: Instant::now(),
            signing: HashMap::new(),
            watch: breaker::Watch::new(args.breaker),
            pool: pool::Pool::default(),
            exports: export::Exports::default(),
            freed: Vec::new(),
            args,
        };
        state.restore_reservations();
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<ManagerMsg>,
        state: &mut ManagerState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(s) = state.sweeper.take() {
            s.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ManagerMsg>,
        msg: ManagerMsg,
        state: &mut ManagerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ManagerMsg::Observed(o) => state.observed(o),
            ManagerMsg::AbortIgnored(session, from, why) => state.abort_ignored(Some(session), from, why),
            ManagerMsg::AbortHeld(from, signed) => state.on_held_abort(&myself, from, signed),
            ManagerMsg::Propose { kind, participants, reply } => {
                let result = state.propose(&myself, kind, participants).await;
                let _ = reply.send(result);
            }
            ManagerMsg::Prepare { kind, participants, reply } => {
                let _ = reply.send(state.prepare(kind, participants));
            }
            ManagerMsg::Submit { proposal, reply } => {
                let result = state.submit(&myself, proposal).await;
                let _ = reply.send(result);
            }
            ManagerMsg::AskOutcome { session, participants, reply } => {
                state.ask(&myself, session, participants, reply);
            }
            ManagerMsg::AskOver(session) => state.ask_over(session),
            ManagerMsg::ProposeAmong { kind, who, reply } => state.propose_among(&myself, kind, who, reply),
            ManagerMsg::Status { session, reply } => {
                let _ = reply.send(state.sessions.get(&session).map(|i| i.status.clone()));
            }
            ManagerMsg::Info { session, reply } => {
                let session = state.pool.replaced.get(&session).copied().unwrap_or(session);
                let _ = reply.send(state.sessions.get(&session).cloned());
            }
            ManagerMsg::Watch { session, reply } => {
                // A presigned signing that fell back is watched through the full one that
                // replaced it: a waiter filed under the old id would never be woken.
                let session = state.pool.replaced.get(&session).copied().unwrap_or(session);
                match state.sessions.get(&session) {
                    Some(info) if !info.status.is_final() => {
                        let waiting = state.watchers.entry(session).or_default();
                        if waiting.len() < WATCHERS {
                            waiting.push(reply);
                        } else {
                            let _ = reply.send(Some(info.clone()));
                        }
                    }
                    other => {
                        let _ = reply.send(other.cloned());
                    }
                }
            }
            ManagerMsg::List { limit, reply } => {
                let list =
                    state.order.iter().rev().filter_map(|s| state.sessions.get(s)).take(limit).cloned().collect();
                let _ = reply.send(list);
            }
            ManagerMsg::Backlogged(event, permit) => {
                state.on_net(&myself, event).await;
                drop(permit);
            }
            ManagerMsg::Net(event) => state.on_net(&myself, event).await,
            ManagerMsg::GraceOver(party, drop) => state.grace_over(&myself, party, drop).await,
            ManagerMsg::SetupDone(session, outcome) => {
                let scheme = state.running.get(&session).map(|(_, _, id)| id.clone());
                state.finished(session, CeremonyKind::Setup, outcome.map(|_| SessionStatus::SetupReady));
                if let Some(scheme) = scheme {
                    state.undefer(&myself, &Pending::Setup(scheme)).await;
                }
            }
            ManagerMsg::KeygenDone(session, outcome) => {
                let wallet = state.sessions.get(&session).and_then(|i| i.wallet.clone());
                state.finished(session, CeremonyKind::Keygen, outcome.map(|s| SessionStatus::KeyReady(s.public_key)));
                if let Some(wallet) = wallet {
                    state.undefer(&myself, &Pending::Wallet(wallet)).await;
                }
            }
            ManagerMsg::SignDone(session, outcome) => {
                state.finished(session, CeremonyKind::Sign, outcome.map(SessionStatus::Signed));
            }
            ManagerMsg::Sweep => {
                state.sweep(&myself).await;
                state.refill(&myself);
                state.resolve_refreshes(&myself);
            }
            ManagerMsg::RefreshDone(session, outcome) => state.refresh_done(session, outcome),
            ManagerMsg::ExportDone(session, outcome) => state.export_done(session, outcome),
            ManagerMsg::ApproveExport { wallet, receiver, ttl, reply } => {
                let _ = reply.send(state.approve_export(wallet, receiver, ttl));
            }
            ManagerMsg::ProposeExport { wallet, participants, sink, reply } => {
                let _ = reply.send(state.propose_export(&myself, wallet, participants, sink).await);
            }
            ManagerMsg::RepairDone(session, outcome) => {
                state.finished(session, CeremonyKind::Repair, outcome.map(SessionStatus::KeyReady))
            }
            ManagerMsg::RefreshResolved { wallet, session, answers } => {
                state.refresh_resolved(wallet, session, answers)
            }
            ManagerMsg::PresignDone(session, outcome) => state.presign_done(session, outcome),
            ManagerMsg::Refill(pick) => state.refill_chosen(&myself, pick).await,
            ManagerMsg::DiscardPresignatures { wallet, reply } => {
                let _ = reply.send(state.discard_pool(&wallet));
            }
            ManagerMsg::PooledSigners { wallet, needed, reply } => {
                let _ = reply.send(state.pooled_signers(&wallet, needed));
            }
            ManagerMsg::FallBack(session, proposal, failure) => {
                state.fell_back(&myself, session, *proposal, failure).await
            }
            ManagerMsg::Buffered(reply) => {
                let _ = reply.send((state.early.len(), state.early_votes.len()));
            }
            ManagerMsg::Notify(notice) => {
                let session = SessionId::derive("transfer-notice", notice.tx.as_bytes());
                state.control(session, &Control::Notice(Box::new(notice)));
            }
            ManagerMsg::NotifyTo(party, steps) => state.tell_steps(party, steps),
        }
        for wallet in std::mem::take(&mut state.freed) {
            state.undefer(&myself, &Pending::Wallet(wallet)).await;
        }
        Ok(())
    }

    /// A session actor's end (a panic included) is already reported through its outcome; it
    /// must never stop the manager, so supervision events are only logged.
    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<ManagerMsg>,
        event: SupervisionEvent,
        _state: &mut ManagerState,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(who, error) = event {
            tracing::warn!(actor = %who.get_id(), %error, "session actor failed");
        }
        Ok(())
    }
}

/// Feeds every network event to the manager (tests; the node uses the bridge actor).
pub fn bridge(
    mut events: tokio::sync::mpsc::Receiver<NetEvent>,
    manager: ActorRef<ManagerMsg>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if manager.cast(ManagerMsg::Net(ev)).is_err() {
                break;
            }
        }
    })
}
