//! The transfer actor: runs every transfer this node proposes, by carrying out the effects of
//! its pure state machine ([`protocol::transfer::Transfer`]), and records the steps other
//! members' transfers report ([`notices`]). One lane per wallet and chain: a transfer holds it
//! from building to broadcast, so two never take the same nonce or outputs. A restarted node
//! (or a restarted actor) resumes its unfinished transfers from the journal.

mod balances;
mod effects;
mod notices;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use network::p2p::NetworkHandle;
use protocol::chains::rpc::ChainRpc;
use protocol::chains::{Chain, TransferRequest};
use protocol::transfer::{Effect, Input, Order, Rules, Transfer};
use protocol::wallet::{TransferNotice, TransferPolicy};
use protocol::{PartyIndex, WalletId};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use rand_core::RngCore;
use store::Journal;

pub use balances::{BalanceLine, WalletBalances};

use crate::error::Error;
use crate::reads::ReadSide;
use crate::supervisor::NodeRefs;
use crate::wallets::WalletIndex;

/// One configured chain.
pub struct ChainEndpoint {
    /// The encoder.
    pub chain: Arc<dyn Chain>,
    /// The node adapter, if an endpoint is configured.
    pub rpc: Option<Arc<dyn ChainRpc>>,
    /// Depth at which a transfer counts as confirmed.
    pub confirmations: u32,
}

/// Every configured chain, and this member's limits on them.
pub struct ChainEndpoints {
    /// By chain name.
    pub by_name: BTreeMap<String, ChainEndpoint>,
    /// This member's transfer policy.
    pub policy: TransferPolicy,
    /// Every encoder (addresses for all chains, configured or not).
    pub chains: protocol::chains::Chains,
}

/// What a client asks.
#[derive(Clone, Debug)]
pub struct NewTransfer {
    /// Paying wallet.
    pub wallet: WalletId,
    /// Chain name.
    pub chain: String,
    /// The request.
    pub request: TransferRequest,
    /// Signers (default: this node and the next connected members).
    pub signers: Option<Vec<PartyIndex>>,
}

/// Messages of the transfer actor.
pub enum TransferMsg {
    /// Start a transfer; replies with its id once `TransactionInitiated` is journaled.
    Start(NewTransfer, RpcReplyPort<Result<String, Error>>),
    /// The answer to an effect that ran elsewhere (chain node, committee, timer).
    Input(String, Input),
    /// A member's report of a step of its transfer.
    Notice(PartyIndex, TransferNotice),
    /// A member's confirmation, checked against this node's chain node: journal it.
    NoticeChecked(TransferNotice),
    /// Replies once `tx` has reached a final step here (confirmed or failed), or at once if it
    /// has; the caller bounds the wait.
    Wait(String, RpcReplyPort<()>),
    /// Pick up this node's unfinished transfers from the journal.
    Resume,
    /// A member (re)connected: tell it again the steps of this node's recent transfers, which
    /// it may have missed while away.
    Retell(PartyIndex),
    /// A wallet's balances, refreshed from the chain nodes (a change is journaled).
    Balances(WalletId, RpcReplyPort<Result<WalletBalances, Error>>),
}

/// What the transfer actor starts with.
#[derive(Clone)]
pub struct TransferArgs {
    /// This node.
    pub me: PartyIndex,
    /// Chains.
    pub chains: Arc<ChainEndpoints>,
    /// Wallets held here.
    pub wallets: Arc<WalletIndex>,
    /// The journal, for reads (writes go through the journal actor).
    pub journal: Arc<Journal>,
    /// The read side (balances).
    pub reads: ReadSide,
    /// Who is connected.
    pub network: NetworkHandle,
    /// The actor tree (manager, journal actor).
    pub refs: NodeRefs,
    /// How often a broadcast transaction's status is polled.
    pub poll: Duration,
    /// How long a broadcast transaction is followed.
    pub follow: Duration,
    /// How long a signing may take before the transfer fails.
    pub sign_wait: Duration,
}

/// Callers that may wait on one transaction.
const WAITERS: usize = 64;

/// The actor's state.
pub struct TransferState {
    args: TransferArgs,
    started: Instant,
    running: HashMap<String, Transfer>,
    /// Per (wallet, chain): the transfer holding the lane first, then those waiting.
    lanes: HashMap<(WalletId, String), VecDeque<String>>,
    waiters: HashMap<String, Vec<RpcReplyPort<()>>>,
    /// Signing proposals made, journaled, not yet sent.
    prepared: HashMap<String, protocol::proposal::Proposal>,
    /// The last journal append that failed, for the caller of a start it refused.
    journal_error: Option<String>,
    /// Each member's budget of new transactions it may announce here: an `Initiated` notice
    /// cannot be checked, so a member could otherwise fill every other journal.
    announced: protocol::limits::keyed::KeyedBuckets<PartyIndex>,
    /// Broadcast notices that overtook their signed step, by transaction (bounded).
    early: HashMap<String, (PartyIndex, TransferNotice, Instant)>,
}

/// New transactions one member may announce to the others per minute (and half again at once).
pub const NOTICES_PER_MINUTE: u32 = 120;

/// The transfer actor.
pub struct TransferActor;

/// The proposer's party, from a transaction id `tx-<party>-<hex>`.
pub fn proposer_of(tx: &str) -> Option<PartyIndex> {
    tx.strip_prefix("tx-")?.split('-').next()?.parse().ok()
}

impl TransferState {
    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    async fn start(&mut self, myself: &ActorRef<TransferMsg>, ask: NewTransfer) -> Result<String, Error> {
        let a = &self.args;
        let w = a
            .wallets
            .get(&ask.wallet)
            .map_err(|e| Error::Unavailable(e.to_string()))?
            .ok_or_else(|| Error::UnknownWallet(ask.wallet.clone()))?;
        let endpoint = a.chains.by_name.get(&ask.chain).ok_or_else(|| Error::UnknownChain(ask.chain.clone()))?;
        if endpoint.chain.scheme() != w.scheme {
            return Err(Error::WrongScheme {
                chain: ask.chain.clone(),
                takes: endpoint.chain.scheme().to_string(),
                wallet: ask.wallet.clone(),
                is: w.scheme.to_string(),
            });
        }
        if endpoint.rpc.is_none() {
            return Err(Error::NoChainNode(ask.chain.clone()));
        }
        if ask.request.amount == 0 {
            return Err(Error::ZeroAmount);
        }
        // Signers chosen here prefer a set with presignatures ready (one round for ECDSA).
        let pooled = match (&ask.signers, a.refs.manager.get()) {
            (None, Some(m)) => {
                let wallet = ask.wallet.clone();
                ractor::call!(m, |reply| crate::manager::ManagerMsg::PooledSigners { wallet, needed: 1, reply })
                    .ok()
                    .flatten()
            }
            _ => None,
        };
        let signers = match pooled {
            Some(set) => set,
            None => {
                let who = crate::signers::Who::Signers { wanted: ask.signers, threshold: w.threshold };
                crate::signers::resolve(&a.network, a.me, w.parties, who, Some(&a.refs.board)).await?
            }
        };
        let mut id = [0u8; 8];
        rand_core::OsRng.fill_bytes(&mut id);
        let tx = format!("tx-{}-{}", a.me, hex::encode(id));
        let order = Order {
            tx: tx.clone(),
            wallet: ask.wallet,
            key: w.public_key,
            chain: ask.chain,
            request: ask.request,
            signers,
        };
        let (transfer, first) = Transfer::start(order);
        self.running.insert(tx.clone(), transfer);
        self.perform(myself, &tx, first).await;
        // Refused only if not even its start could be journaled.
        if self.journaled(&tx) {
            return Ok(tx);
        }
        self.running.remove(&tx);
        let why = self.journal_error.take().unwrap_or_else(|| "the journal did not take it".to_owned());
        Err(Error::Unavailable(format!("journal: {why}")))
    }

    /// Whether the journal holds anything of `tx`.
    fn journaled(&self, tx: &str) -> bool {
        let stream = store::StreamId::Transaction(tx.to_owned());
        self.args.journal.read_stream(&stream, 1, 1).map(|e| !e.is_empty()).unwrap_or(false)
    }

    /// Feeds `input` to `tx`'s machine and carries out what it asks.
    async fn input(&mut self, myself: &ActorRef<TransferMsg>, tx: &str, input: Input) {
        if matches!(input, Input::Signing(protocol::transfer::SignResult::Signed(..))) {
            effects::fault("exit-on-signatures");
        }
        let now = self.now();
        let Some(transfer) = self.running.get_mut(tx) else { return };
        let Some(endpoint) = self.args.chains.by_name.get(&transfer.order().chain) else { return };
        let rules = rules(endpoint, &self.args);
        let effects = transfer.step(&rules, now, input);
        self.perform(myself, tx, effects).await;
    }

    /// Carries out `effects` in order; an answer available at once is fed back at once.
    async fn perform(&mut self, myself: &ActorRef<TransferMsg>, tx: &str, effects: Vec<Effect>) {
        let mut queue: VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            let Some(answer) = self.carry_out(myself, tx, effect).await else { continue };
            if matches!(answer, Input::JournalFailed(_)) {
                queue.clear();
            }
            let now = self.now();
            let Some(transfer) = self.running.get_mut(tx) else { return };
            let Some(endpoint) = self.args.chains.by_name.get(&transfer.order().chain) else { return };
            let rules = rules(endpoint, &self.args);
            queue.extend(transfer.step(&rules, now, answer));
        }
    }

    /// A transfer is over here: forget it, free its lane if it still held it, wake waiters.
    fn finished(&mut self, myself: &ActorRef<TransferMsg>, tx: &str) {
        self.prepared.remove(tx);
        if let Some(t) = self.running.remove(tx) {
            let key = (t.order().wallet.clone(), t.order().chain.clone());
            if let Some(lane) = self.lanes.get_mut(&key) {
                let held = lane.front().map(String::as_str) == Some(tx);
                lane.retain(|t| t != tx);
                if let (true, Some(next)) = (held, lane.front().cloned()) {
                    let _ = myself.cast(TransferMsg::Input(next, Input::Turn));
                }
                if lane.is_empty() {
                    self.lanes.remove(&key);
                }
            }
        }
        self.wake(tx);
    }

    fn wake(&mut self, tx: &str) {
        for w in self.waiters.remove(tx).unwrap_or_default() {
            let _ = w.send(());
        }
    }
}

fn rules<'a>(endpoint: &'a ChainEndpoint, args: &'a TransferArgs) -> Rules<'a> {
    Rules {
        chain: &*endpoint.chain,
        policy: &args.chains.policy,
        confirmations: endpoint.confirmations,
        poll_ms: args.poll.as_millis() as u64,
        follow_ms: args.follow.as_millis() as u64,
    }
}

impl Actor for TransferActor {
    type Msg = TransferMsg;
    type State = TransferState;
    type Arguments = TransferArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<TransferMsg>,
        args: TransferArgs,
    ) -> Result<TransferState, ActorProcessingErr> {
        myself.cast(TransferMsg::Resume)?;
        Ok(TransferState {
            args,
            started: Instant::now(),
            running: HashMap::new(),
            lanes: HashMap::new(),
            waiters: HashMap::new(),
            prepared: HashMap::new(),
            journal_error: None,
            announced: protocol::limits::keyed::KeyedBuckets::new(
                protocol::limits::bucket::Rate::per_minute(NOTICES_PER_MINUTE),
                1024,
            ),
            early: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<TransferMsg>,
        msg: TransferMsg,
        state: &mut TransferState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            TransferMsg::Start(ask, reply) => {
                let result = state.start(&myself, ask).await;
                let _ = reply.send(result);
            }
            TransferMsg::Input(tx, input) => state.input(&myself, &tx, input).await,
            TransferMsg::Notice(from, notice) => state.on_notice(&myself, from, notice).await,
            TransferMsg::NoticeChecked(notice) => state.record_confirmed(notice).await,
            TransferMsg::Retell(party) => match state.retell(party) {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(party, steps = n, "told a reconnected member this node's recent transfers again")
                }
                Err(e) => tracing::warn!(party, error = %e, "retelling recent transfers failed"),
            },
            TransferMsg::Wait(tx, reply) => {
                // Callers that gave up (their wait ended) are not kept.
                state.waiters.retain(|_, w| {
                    w.retain(|p| !p.is_closed());
                    !w.is_empty()
                });
                if !state.running.contains_key(&tx) && state.is_final(&tx) {
                    let _ = reply.send(());
                } else {
                    let waiting = state.waiters.entry(tx).or_default();
                    if waiting.len() < WAITERS {
                        waiting.push(reply);
                    } else {
                        let _ = reply.send(());
                    }
                }
            }
            TransferMsg::Balances(wallet, reply) => {
                let a = &state.args;
                let reader = balances::BalanceReader {
                    chains: a.chains.clone(),
                    wallets: a.wallets.clone(),
                    reads: a.reads.clone(),
                    refs: a.refs.clone(),
                };
                // Chain nodes may be slow: not on the actor's turn.
                tokio::spawn(async move {
                    let _ = reply.send(reader.refresh(wallet).await);
                });
            }
            TransferMsg::Resume => match state.resume(&myself).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(transfers = n, "resuming unfinished transfers"),
                Err(e) => tracing::error!(error = %e, "could not read unfinished transfers"),
            },
        }
        Ok(())
    }
}
