//! The session manager: turns proposals and votes into sessions. Any member proposes; every
//! participant checks the proposal against its policy and votes; once all accepted, each
//! starts a session actor for it. It also routes each network envelope to its session (the
//! network bridge) and keeps every session's status.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use network::p2p::{NetEvent, NetworkHandle};
use protocol::proposal::{expiry, Control, Decision, Proposal, ProposalBook, ProposalKind, Vote, CONTROL_ROUND};
use protocol::schemes::Registry;
use protocol::{
    Envelope, KeyShare, KeygenParams, PartyIndex, PublicKey, Recipient, SessionId, SetupMaterial, SetupParams,
    SignParams, Signature,
};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::oneshot;

use crate::keystore::Keystore;
use crate::session::{NetworkOutbox, Outbox, SessionActor, SessionArgs, SessionError, SessionMsg, SessionOutcome};
use crate::worker::CeremonyFactory;

/// Where a session stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionStatus {
    /// Proposed; waiting for votes.
    Proposed,
    /// Running.
    Running,
    /// Committee setup finished and stored.
    SetupReady,
    /// Keygen finished: the group key.
    KeyReady(PublicKey),
    /// Signing finished: the signature.
    Signed(Signature),
    /// Ended without a result.
    Failed(String),
}

/// Messages of the manager.
pub enum ManagerMsg {
    /// Propose a ceremony; replies with its session id.
    Propose {
        /// What.
        kind: ProposalKind,
        /// Who takes part (sorted).
        participants: Vec<PartyIndex>,
        /// Reply.
        reply: RpcReplyPort<Result<SessionId, String>>,
    },
    /// Status of a session.
    Status {
        /// The session.
        session: SessionId,
        /// Reply.
        reply: RpcReplyPort<Option<SessionStatus>>,
    },
    /// Something from the network.
    Net(NetEvent),
    /// A setup session ended.
    SetupDone(SessionId, SessionOutcome<SetupMaterial>),
    /// A keygen session ended.
    KeygenDone(SessionId, SessionOutcome<KeyShare>),
    /// A signing session ended.
    SignDone(SessionId, SessionOutcome<Signature>),
}

/// The manager's fixed parts.
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
    /// Per-round timeout.
    pub round_timeout: Duration,
    /// Session tick.
    pub tick: Duration,
    /// How long a proposal stays open.
    pub proposal_ttl: Duration,
    /// Receives every session's per-party observations (the health actors), if set.
    pub observer: Option<tokio::sync::mpsc::UnboundedSender<crate::session::Observation>>,
}

enum Running {
    Setup(ActorRef<SessionMsg<SetupMaterial>>),
    Keygen(ActorRef<SessionMsg<KeyShare>>),
    Sign(ActorRef<SessionMsg<Signature>>),
}

/// The manager's state.
pub struct ManagerState {
    args: ManagerArgs,
    book: ProposalBook,
    running: HashMap<SessionId, Running>,
    early: HashMap<SessionId, Vec<Envelope>>,
    /// Votes that arrived before their proposal (gossip does not order different authors).
    early_votes: HashMap<SessionId, Vec<(PartyIndex, Vote)>>,
    status: HashMap<SessionId, SessionStatus>,
}

/// The session manager actor.
pub struct SessionManager;

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Envelopes kept per session that has not started yet, and sessions kept that way: a member
/// cannot make us buffer without bound.
const EARLY_LIMIT: usize = 256;
const EARLY_SESSIONS: usize = 64;

impl ManagerState {
    fn control(&self, session: SessionId, control: &Control) {
        let Ok(payload) = control.encode() else { return };
        let envelope =
            Envelope { session, round: CONTROL_ROUND, sender: self.args.me, recipient: Recipient::Broadcast, payload };
        NetworkOutbox(self.args.network.clone()).send(envelope);
    }

    /// Our policy: set up a scheme once; take part in a keygen for a new wallet (after the
    /// scheme's setup); sign only with a wallet we hold.
    fn policy(&self, proposal: &Proposal) -> Vote {
        if !proposal.participants.contains(&self.args.me) {
            return Vote::Decline("not a participant".into());
        }
        match &proposal.kind {
            ProposalKind::Setup { scheme } => match self.args.registry.get(scheme) {
                Ok(s) if !s.needs_setup() => Vote::Decline(format!("{scheme} needs no setup")),
                Ok(_) if self.args.keystore.get_setup(scheme).is_ok() => Vote::Decline(format!("{scheme} is set up")),
                Ok(_) => Vote::Accept,
                Err(e) => Vote::Decline(e.to_string()),
            },
            ProposalKind::Keygen { wallet, scheme, .. } => {
                if self.args.keystore.get(wallet).is_ok() {
                    return Vote::Decline(format!("wallet {wallet} exists"));
                }
                match self.args.registry.get(scheme) {
                    Ok(s) if s.needs_setup() && self.args.keystore.get_setup(scheme).is_err() => {
                        Vote::Decline(format!("{scheme} needs a committee setup first"))
                    }
                    Ok(_) => Vote::Accept,
                    Err(e) => Vote::Decline(e.to_string()),
                }
            }
            ProposalKind::Sign { wallet, .. } => match self.args.keystore.get(wallet) {
                Ok(_) => Vote::Accept,
                Err(e) => Vote::Decline(e.to_string()),
            },
        }
    }

    async fn decided(&mut self, myself: &ActorRef<ManagerMsg>, decision: Decision) {
        match decision {
            Decision::Pending => {}
            Decision::Abandon { session, reason } => {
                tracing::info!(%session, %reason, "proposal abandoned");
                self.status.insert(session, SessionStatus::Failed(reason));
                self.early.remove(&session);
            }
            Decision::Start(session) => {
                tracing::info!(%session, "every participant accepted; starting");
                if let Err(e) = self.start(myself, session).await {
                    self.status.insert(session, SessionStatus::Failed(e));
                }
            }
        }
    }

    /// Spawns a session actor and a task that waits for its outcome, runs `then` on it (off the
    /// manager, e.g. to persist a share) and reports the resulting message to the manager.
    async fn spawn_session<O: Send + 'static>(
        &self,
        myself: &ActorRef<ManagerMsg>,
        session: SessionId,
        factory: CeremonyFactory<O>,
        then: impl FnOnce(SessionOutcome<O>) -> ManagerMsg + Send + 'static,
    ) -> Result<ActorRef<SessionMsg<O>>, String> {
        let (done, wait) = oneshot::channel();
        let outbox: Arc<dyn Outbox> = Arc::new(NetworkOutbox(self.args.network.clone()));
        let args =
            SessionArgs { session, factory, outbox, tick: self.args.tick, done, observer: self.args.observer.clone() };
        let (actor, _) = Actor::spawn(None, SessionActor::<O>::default(), args).await.map_err(|e| e.to_string())?;
        let me = myself.clone();
        tokio::spawn(async move {
            let outcome = wait.await.unwrap_or_else(|_| Err(SessionError::Worker("session vanished".into())));
            let _ = me.cast(then(outcome));
        });
        Ok(actor)
    }

    async fn start(&mut self, myself: &ActorRef<ManagerMsg>, session: SessionId) -> Result<(), String> {
        let proposal = self.book.get(&session).cloned().ok_or("proposal forgotten")?;
        let timeout = self.args.round_timeout.as_millis() as u64;
        let running = match proposal.kind {
            ProposalKind::Setup { scheme } => {
                let scheme = self.args.registry.get(&scheme).map_err(|e| e.to_string())?;
                let params =
                    SetupParams { session, me: self.args.me, parties: self.args.parties, round_timeout_ms: timeout };
                let keystore = self.args.keystore.clone();
                // The setup draws its primes from the pool (a set is taken durably, never reused).
                let actor = self
                    .spawn_session(myself, session, Box::new(move || scheme.setup(&params)), move |outcome| {
                        let outcome = outcome.and_then(|setup| {
                            keystore
                                .put_setup(session, &setup)
                                .map(|()| setup)
                                .map_err(|e| SessionError::Worker(format!("storing the setup failed: {e}")))
                        });
                        ManagerMsg::SetupDone(session, outcome)
                    })
                    .await?;
                Running::Setup(actor)
            }
            ProposalKind::Keygen { wallet, scheme, threshold } => {
                let setup = self.args.keystore.get_setup(&scheme).ok();
                let scheme = self.args.registry.get(&scheme).map_err(|e| e.to_string())?;
                let params = KeygenParams {
                    round_timeout_ms: timeout,
                    ..KeygenParams::new(session, self.args.me, self.args.parties, threshold)
                };
                let keystore = self.args.keystore.clone();
                let factory: CeremonyFactory<KeyShare> = Box::new(move || scheme.keygen(&params, setup.as_ref()));
                let actor = self
                    .spawn_session(myself, session, factory, move |outcome| {
                        // Persist before anyone hears that the key exists.
                        let outcome = outcome.and_then(|share| {
                            keystore
                                .put(&wallet, session, &share)
                                .map(|()| share)
                                .map_err(|e| SessionError::Worker(format!("storing the share failed: {e}")))
                        });
                        ManagerMsg::KeygenDone(session, outcome)
                    })
                    .await?;
                Running::Keygen(actor)
            }
            ProposalKind::Sign { wallet, payload, .. } => {
                let share = self.args.keystore.get(&wallet).map_err(|e| e.to_string())?;
                let scheme = self.args.registry.get(&share.scheme).map_err(|e| e.to_string())?;
                let params = SignParams {
                    round_timeout_ms: timeout,
                    ..SignParams::new(session, proposal.participants.clone(), payload)
                };
                let factory: CeremonyFactory<Signature> = Box::new(move || scheme.sign(&share, &params));
                let actor = self
                    .spawn_session(myself, session, factory, move |outcome| ManagerMsg::SignDone(session, outcome))
                    .await?;
                Running::Sign(actor)
            }
        };
        for e in self.early.remove(&session).unwrap_or_default() {
            route(&running, e);
        }
        self.running.insert(session, running);
        self.status.insert(session, SessionStatus::Running);
        Ok(())
    }

    async fn on_envelope(&mut self, myself: &ActorRef<ManagerMsg>, from: PartyIndex, envelope: Envelope) {
        if envelope.round != CONTROL_ROUND {
            match self.running.get(&envelope.session) {
                Some(r) => route(r, envelope),
                None => {
                    if self.early.len() >= EARLY_SESSIONS && !self.early.contains_key(&envelope.session) {
                        return;
                    }
                    let queue = self.early.entry(envelope.session).or_default();
                    if queue.len() < EARLY_LIMIT {
                        queue.push(envelope);
                    }
                }
            }
            return;
        }
        let Ok(control) = Control::decode(&envelope.payload) else { return };
        match control {
            Control::Propose(proposal) => {
                if ProposalBook::check(&proposal, from, self.args.parties, now_ms()).is_err()
                    || proposal.session().ok() != Some(envelope.session)
                {
                    return;
                }
                let vote = self.policy(&proposal);
                let proposer = proposal.proposer;
                if let Ok((session, decision)) = self.book.propose(proposal, self.args.me, &vote) {
                    self.status.entry(session).or_insert(SessionStatus::Proposed);
                    self.control(session, &Control::Vote { session, vote });
                    self.decided(myself, decision).await;
                    // Proposing is the proposer's own acceptance; then any votes that came first.
                    let mut votes = vec![(proposer, Vote::Accept)];
                    votes.extend(self.early_votes.remove(&session).unwrap_or_default());
                    for (voter, vote) in votes {
                        if let Ok(decision) = self.book.vote(session, voter, &vote) {
                            self.decided(myself, decision).await;
                        }
                    }
                }
            }
            Control::Vote { session, vote } => {
                if self.book.get(&session).is_none() {
                    if self.early_votes.len() < EARLY_SESSIONS || self.early_votes.contains_key(&session) {
                        let votes = self.early_votes.entry(session).or_default();
                        if votes.len() < usize::from(self.args.parties) {
                            votes.push((from, vote));
                        }
                    }
                    return;
                }
                if let Ok(decision) = self.book.vote(session, from, &vote) {
                    self.decided(myself, decision).await;
                }
            }
        }
    }
}

fn route(running: &Running, envelope: Envelope) {
    match running {
        Running::Setup(a) => {
            let _ = a.cast(SessionMsg::Incoming(envelope));
        }
        Running::Keygen(a) => {
            let _ = a.cast(SessionMsg::Incoming(envelope));
        }
        Running::Sign(a) => {
            let _ = a.cast(SessionMsg::Incoming(envelope));
        }
    }
}

impl Actor for SessionManager {
    type Msg = ManagerMsg;
    type State = ManagerState;
    type Arguments = ManagerArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<ManagerMsg>,
        args: ManagerArgs,
    ) -> Result<ManagerState, ActorProcessingErr> {
        Ok(ManagerState {
            args,
            book: ProposalBook::default(),
            running: HashMap::new(),
            early: HashMap::new(),
            early_votes: HashMap::new(),
            status: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<ManagerMsg>,
        msg: ManagerMsg,
        state: &mut ManagerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ManagerMsg::Propose { kind, participants, reply } => {
                let mut nonce = [0u8; 16];
                rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
                let proposal = Proposal {
                    proposer: state.args.me,
                    nonce,
                    kind,
                    participants,
                    expires_at_ms: expiry(now_ms(), state.args.proposal_ttl.as_millis() as u64),
                };
                let result = match ProposalBook::check(&proposal, state.args.me, state.args.parties, now_ms()) {
                    Err(e) => Err(e.to_string()),
                    Ok(()) => match state.policy(&proposal) {
                        Vote::Decline(why) => Err(why),
                        Vote::Accept => match state.book.propose(proposal.clone(), state.args.me, &Vote::Accept) {
                            Ok((session, decision)) => {
                                state.status.insert(session, SessionStatus::Proposed);
                                state.control(session, &Control::Propose(proposal));
                                state.decided(&myself, decision).await;
                                Ok(session)
                            }
                            Err(e) => Err(e.to_string()),
                        },
                    },
                };
                let _ = reply.send(result);
            }
            ManagerMsg::Status { session, reply } => {
                let _ = reply.send(state.status.get(&session).cloned());
            }
            ManagerMsg::Net(NetEvent::Message { from, envelope }) => state.on_envelope(&myself, from, envelope).await,
            ManagerMsg::Net(_) => {}
            ManagerMsg::SetupDone(session, outcome) => {
                state.running.remove(&session);
                let status = match outcome {
                    Ok(_) => SessionStatus::SetupReady,
                    Err(e) => SessionStatus::Failed(e.to_string()),
                };
                state.status.insert(session, status);
            }
            ManagerMsg::KeygenDone(session, outcome) => {
                state.running.remove(&session);
                let status = match outcome {
                    Ok(share) => SessionStatus::KeyReady(share.public_key),
                    Err(e) => SessionStatus::Failed(e.to_string()),
                };
                state.status.insert(session, status);
            }
            ManagerMsg::SignDone(session, outcome) => {
                state.running.remove(&session);
                let status = match outcome {
                    Ok(sig) => SessionStatus::Signed(sig),
                    Err(e) => SessionStatus::Failed(e.to_string()),
                };
                state.status.insert(session, status);
            }
        }
        Ok(())
    }
}

/// Feeds every network event to the manager (the network bridge).
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
