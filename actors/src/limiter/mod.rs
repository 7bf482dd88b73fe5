//! The limiter actor: this party's own limits, checked in microseconds.
//!
//! - At the entry node, before any proposal: the caller's API key and client address buckets.
//! - At every member (the proposer too), before it votes to sign: the wallet's request
//!   bucket, its signatures in the last day (all, and raw ones) and how often the same
//!   message was signed in the last hour. A compromised entry node cannot drain a wallet:
//!   each member counts for itself.
//!
//! Granted signings are written to the store ([`writer`], off the actor's thread) and
//! replayed at start, so a restart does not reset a wallet's budget. Refusals are counted (listeners: metrics) and journaled in the
//! `limits` stream, coalesced to one entry a minute per limit and subject.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use protocol::limits::{Grant, KeyedBuckets, Limit, LimitsConfig, Rate, Refusal, Usage};
use protocol::{SessionId, WalletId};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use sha2::{Digest, Sha256};
use store::limits::GrantLog;
use store::{DomainEvent, StreamId};

mod writer;

use crate::journal::JournalMsg;
use crate::supervisor::Slot;

/// How often the granted signings written since are made durable (if the journal's own
/// synced appends have not already).
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// How often idle buckets are swept and old grants pruned (in ticks).
const SWEEP_TICKS: u32 = 60;
/// One journal entry per limit and subject per this long.
const COALESCE_MS: u64 = 60_000;
/// Limits and subjects whose refusals are being coalesced (beyond: counted, not journaled).
const COALESCING: usize = 4096;
/// Grants that can still be refunded: as long as a proposal may stay open, at most this many.
const REFUNDABLE_MS: u64 = 10 * 60 * 1000;
const REFUNDABLE: usize = 16_384;

/// Hears every refusal (metrics).
pub trait LimitListener: Send + Sync + 'static {
    /// Called once per refusal: must not block.
    fn refused(&self, refusal: &Refusal);
}

/// What the limiter starts with.
#[derive(Clone)]
pub struct LimiterArgs {
    /// The limits.
    pub config: LimitsConfig,
    /// Where granted signings are kept (none: in memory only).
    pub grants: Option<GrantLog>,
    /// The journal, for refusals.
    pub journal: Option<Slot<JournalMsg>>,
    /// Hear each refusal.
    pub listeners: Vec<Arc<dyn LimitListener>>,
}

/// A signing a member is about to vote on.
#[derive(Clone, Debug)]
pub struct SigningCheck {
    /// The wallet.
    pub wallet: WalletId,
    /// The session.
    pub session: SessionId,
    /// Exactly what is signed, one signature each.
    pub payloads: Vec<Vec<u8>>,
    /// True when the member cannot read it (a bare digest or message).
    pub raw: bool,
}

/// The limiter's messages.
pub enum LimiterMsg {
    /// An authenticated client request at the entry node: `cost` from its key's bucket (at
    /// the key's own rate, if it has one) and its address's.
    Client {
        /// The API key's name.
        key: String,
        /// The key's own rate, if set.
        rate: Option<Rate>,
        /// The client's address.
        ip: IpAddr,
        /// What the operation costs.
        cost: u32,
        /// Granted, or why not.
        reply: RpcReplyPort<Result<(), Refusal>>,
    },
    /// A request with no valid credentials: costs its address one token.
    Unauthenticated {
        /// The client's address.
        ip: IpAddr,
        /// Granted (answer 401), or limited (answer 429).
        reply: RpcReplyPort<Result<(), Refusal>>,
    },
    /// Before this member votes to sign: granted and recorded, or why not.
    Signing(SigningCheck, RpcReplyPort<Result<(), Refusal>>),
    /// A signing proposal that was abandoned before it started: its grant is given back.
    Refund(SessionId),
    /// What a wallet used in the last day (all, raw).
    Usage(WalletId, RpcReplyPort<(u64, u64)>),
    /// Sync, sweep, prune.
    Tick,
}

/// The limiter's state.
pub struct LimiterState {
    args: LimiterArgs,
    keys: KeyedBuckets<String>,
    ips: KeyedBuckets<IpAddr>,
    wallets: KeyedBuckets<WalletId>,
    usage: HashMap<WalletId, Usage>,
    coalescing: HashMap<(Limit, String), (u64, u64)>,
    /// Recent grants by session, for a refund if their proposal is abandoned.
    refundable: HashMap<SessionId, (WalletId, Grant)>,
    writer: Option<writer::Writer>,
    unsynced: bool,
    ticks: u32,
    timer: Option<tokio::task::JoinHandle<()>>,
    clock: MsClock,
}

/// The limiter actor.
pub struct LimiterActor;

/// Wall-clock milliseconds, read in a few nanoseconds: the system clock once at start, then
/// a calibrated monotonic counter (a limiter check must cost far less than a clock syscall).
#[derive(Clone, Debug)]
pub struct MsClock {
    clock: quanta::Clock,
    base_raw: u64,
    base_ms: u64,
}

impl Default for MsClock {
    fn default() -> Self {
        let clock = quanta::Clock::new();
        let base_raw = clock.raw();
        let base_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        Self { clock, base_raw, base_ms }
    }
}

impl MsClock {
    /// Milliseconds since the epoch, now.
    pub fn now_ms(&self) -> u64 {
        self.base_ms + self.clock.delta_as_nanos(self.base_raw, self.clock.raw()) / 1_000_000
    }
}

impl LimiterState {
    fn new(args: LimiterArgs, now: u64) -> Result<Self, store::StoreError> {
        let c = &args.config;
        let mut usage: HashMap<WalletId, Vec<Grant>> = HashMap::new();
        if let Some(log) = &args.grants {
            for (wallet, grant) in log.since(now.saturating_sub(protocol::limits::window::DAY_MS))? {
                usage.entry(wallet).or_default().push(grant);
            }
        }
        let usage: HashMap<WalletId, Usage> = usage.into_iter().map(|(w, g)| (w, Usage::replay(g, now))).collect();
        if !usage.is_empty() {
            tracing::info!(wallets = usage.len(), "signing budgets restored from the store");
        }
        Ok(Self {
            keys: KeyedBuckets::new(Rate::per_minute(c.per_key_per_min), c.max_tracked),
            ips: KeyedBuckets::new(Rate::per_minute(c.per_ip_per_min), c.max_tracked),
            wallets: KeyedBuckets::new(Rate::per_minute(c.per_wallet_per_min), c.max_tracked),
            usage,
            coalescing: HashMap::new(),
            refundable: HashMap::new(),
            writer: None,
            unsynced: false,
            ticks: 0,
            timer: None,
            clock: MsClock::default(),
            args,
        })
    }

    fn client(&mut self, key: String, rate: Option<Rate>, ip: IpAddr, cost: u32, now: u64) -> Result<(), Refusal> {
        self.ips.check(&ip, None, now, cost).map_err(|s| Refusal::bucket(Limit::ClientIp, ip.to_string(), s))?;
        self.keys.take(&key, rate, now, cost).map_err(|s| Refusal::bucket(Limit::ApiKey, key.clone(), s))?;
        self.ips.take(&ip, None, now, cost).map_err(|s| Refusal::bucket(Limit::ClientIp, ip.to_string(), s))
    }

    fn signing(&mut self, check: &SigningCheck, now: u64) -> Result<(), Refusal> {
        let wallet = check.wallet.to_string();
        self.wallets.check(&check.wallet, None, now, 1).map_err(|s| Refusal::bucket(Limit::Wallet, &wallet, s))?;
        let grant = Grant {
            at_ms: now,
            digests: check.payloads.iter().map(|p| Sha256::digest(p).into()).collect(),
            raw: check.raw,
        };
        let limits = self.args.config.wallet();
        let usage = self.usage.entry(check.wallet.clone()).or_default();
        usage.check(&limits, &grant, now).map_err(|s| Refusal::window(&wallet, s))?;
        // Queued before the vote leaves: a restart must not forget a signing it allowed.
        if let Some(w) = &self.writer {
            w.record(&check.wallet, &check.session, &grant);
            self.unsynced = true;
        }
        usage.record(&grant);
        if self.refundable.len() < REFUNDABLE {
            self.refundable.insert(check.session, (check.wallet.clone(), grant));
        }
        self.wallets.take(&check.wallet, None, now, 1).map_err(|s| Refusal::bucket(Limit::Wallet, &wallet, s))
    }

    fn refund(&mut self, session: &SessionId) {
        let Some((wallet, grant)) = self.refundable.remove(session) else { return };
        if self.usage.get_mut(&wallet).is_some_and(|u| u.refund(&grant)) {
            if let Some(w) = &self.writer {
                w.remove(&wallet, session, grant.at_ms);
            }
            tracing::debug!(%session, %wallet, "grant refunded: the proposal never started");
        }
    }

    /// Counts a refusal and journals it, at most once a minute per limit and subject.
    fn refused(&mut self, refusal: &Refusal, now: u64) {
        for l in &self.args.listeners {
            l.refused(refusal);
        }
        tracing::info!(limit = %refusal.limit, subject = %refusal.subject, retry_after_ms = ?refusal.retry_after_ms, "refused");
        let key = (refusal.limit, refusal.subject.clone());
        let full = self.coalescing.len() >= COALESCING;
        let count = match self.coalescing.get_mut(&key) {
            Some((last, count)) if *last + COALESCE_MS > now => {
                *count += 1;
                return;
            }
            Some((last, count)) => {
                *last = now;
                std::mem::replace(count, 0) + 1
            }
            None if full => return,
            None => {
                self.coalescing.insert(key, (now, 0));
                1
            }
        };
        let Some(journal) = self.args.journal.as_ref().and_then(Slot::get) else { return };
        let event = DomainEvent::LimitRefused {
            subject: refusal.subject.clone(),
            limit: refusal.limit.name().to_owned(),
            retry_after_ms: refusal.retry_after_ms.unwrap_or(u64::MAX),
            level: refusal.level,
            max: refusal.max,
            refused: count,
        };
        let _ = journal.cast(JournalMsg::Note(StreamId::Limits, vec![event]));
    }

    fn tick(&mut self, now: u64) {
        if self.unsynced {
            if let Some(w) = &self.writer {
                w.sync();
            }
            self.unsynced = false;
        }
        self.ticks += 1;
        if self.ticks < SWEEP_TICKS {
            return;
        }
        self.ticks = 0;
        self.keys.sweep(now);
        self.ips.sweep(now);
        self.wallets.sweep(now);
        self.coalescing.retain(|_, (last, _)| *last + COALESCE_MS > now);
        self.refundable.retain(|_, (_, g)| g.at_ms + REFUNDABLE_MS > now);
        if let Some(w) = &self.writer {
            w.prune(now.saturating_sub(protocol::limits::window::DAY_MS));
        }
    }
}

impl Actor for LimiterActor {
    type Msg = LimiterMsg;
    type State = LimiterState;
    type Arguments = LimiterArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<LimiterMsg>,
        args: LimiterArgs,
    ) -> Result<LimiterState, ActorProcessingErr> {
        let clock = MsClock::default();
        let mut state = LimiterState::new(args, clock.now_ms())?;
        state.clock = clock;
        if let Some(log) = state.args.grants.clone() {
            state.writer = Some(writer::Writer::start(log)?);
        }
        state.timer = Some(tokio::spawn(async move {
            let mut every = tokio::time::interval(SYNC_EVERY);
            loop {
                every.tick().await;
                if myself.cast(LimiterMsg::Tick).is_err() {
                    return;
                }
            }
        }));
        Ok(state)
    }

    async fn post_stop(&self, _: ActorRef<LimiterMsg>, state: &mut LimiterState) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.timer.take() {
            t.abort();
        }
        if let Some(mut w) = state.writer.take() {
            w.finish();
        }
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<LimiterMsg>,
        msg: LimiterMsg,
        state: &mut LimiterState,
    ) -> Result<(), ActorProcessingErr> {
        let now = state.clock.now_ms();
        let (result, reply) = match msg {
            LimiterMsg::Client { key, rate, ip, cost, reply } => (state.client(key, rate, ip, cost, now), reply),
            LimiterMsg::Unauthenticated { ip, reply } => {
                let r =
                    state.ips.take(&ip, None, now, 1).map_err(|s| Refusal::bucket(Limit::ClientIp, ip.to_string(), s));
                (r, reply)
            }
            LimiterMsg::Signing(check, reply) => (state.signing(&check, now), reply),
            LimiterMsg::Refund(session) => {
                state.refund(&session);
                return Ok(());
            }
            LimiterMsg::Usage(wallet, reply) => {
                let _ = reply.send(state.usage.get_mut(&wallet).map(|u| u.used(now)).unwrap_or((0, 0)));
                return Ok(());
            }
            LimiterMsg::Tick => {
                state.tick(now);
                return Ok(());
            }
        };
        if let Err(refusal) = &result {
            state.refused(refusal, now);
        }
        let _ = reply.send(result);
        Ok(())
    }
}
