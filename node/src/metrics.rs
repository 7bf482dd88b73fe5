//! Prometheus metrics (OpenMetrics text on `GET /metrics`, on their own address): ceremonies by
//! scheme and kind, round and ceremony latency, peers, refused messages, RPC calls.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use actors::bridge::NetListener;
use actors::events::{CeremonyEvent, CeremonyListener};
use actors::session::Observation;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use network::p2p::{NetEvent, RejectReason};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use protocol::{PartyIndex, SessionId};
use store::CeremonyKind;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Ceremony {
    scheme: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    limit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Round {
    round: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Blame {
    party: String,
    cause: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Peer {
    party: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct State {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Pool {
    wallet: String,
    signers: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolUse {
    wallet: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WalletLabel {
    wallet: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Change {
    from: String,
    to: String,
}

type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Call {
    method: String,
    outcome: String,
}

/// Per session, the last arrival of each round; and the sessions in arrival order.
type RoundTimes = (HashMap<SessionId, BTreeMap<u16, u64>>, VecDeque<SessionId>);

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_buckets() -> Histogram {
    // 1 ms .. ~65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// Sessions whose round timings are kept until they end (the oldest are dropped beyond).
const TRACKED_SESSIONS: usize = 1024;

/// Every metric of the node.
pub struct Metrics {
    registry: Registry,
    started: Family<Ceremony, Counter>,
    completed: Family<Ceremony, Counter>,
    aborted: Family<Ceremony, Counter>,
    abandoned: Counter,
    duration: Histograms<Ceremony>,
    round_latency: Histograms<Round>,
    blamed: Family<Blame, Counter>,
    peers: Gauge,
    delivered: Counter,
    rejected: Family<Reason, Counter>,
    rpc_calls: Family<Call, Counter>,
    rpc_unauthorized: Counter,
    limiter_refusals: Family<LimitLabel, Counter>,
    peer_health: Family<Peer, FloatGauge>,
    peer_reputation: Family<Peer, FloatGauge>,
    breaker_state: Family<State, Gauge>,
    breaker_transitions: Family<Change, Counter>,
    aborts_ignored: Family<Reason, Counter>,
    pool_level: Family<Pool, Gauge>,
    pool_uses: Family<PoolUse, Counter>,
    presignatures_made: Family<WalletLabel, Counter>,
    hits: Counter,
    faults_active: Gauge,
    primes_available: Gauge,
    journal_head: Gauge,
    projection_lag: Gauge,
    archive_lag: Gauge,
    store_writable: Gauge,
    disk_free: Gauge,
    /// Per session: the last arrival (ms since its start) of each round.
    rounds: Mutex<RoundTimes>,
}

fn kind_name(kind: CeremonyKind) -> String {
    match kind {
        CeremonyKind::Setup => "setup",
        CeremonyKind::Keygen => "keygen",
        CeremonyKind::Sign => "sign",
        CeremonyKind::Refresh => "refresh",
        CeremonyKind::Presign => "presign",
        CeremonyKind::Repair => "repair",
        CeremonyKind::Reshare => "reshare",
        CeremonyKind::Export => "export",
    }
    .into()
}

fn reject_name(reason: &RejectReason) -> &'static str {
    match reason {
        RejectReason::NotAMember => "not_a_member",
        RejectReason::SenderMismatch { .. } => "sender_mismatch",
        RejectReason::Oversized(_) => "oversized",
        RejectReason::Undecodable(_) => "undecodable",
        RejectReason::WrongRecipient => "wrong_recipient",
    }
}

impl Metrics {
    /// Zero series for the label sets known at start (each scheme and kind, each member and
    /// cause, each reject reason), so every family is exported from the first scrape and a
    /// dashboard's `rate()` starts at 0 instead of "no data".
    pub fn prime(&self, schemes: &[String], members: &[PartyIndex]) {
        use CeremonyKind::*;
        for scheme in schemes {
            for kind in [Setup, Keygen, Sign, Refresh, Presign, Repair, Reshare, Export] {
                let labels = Ceremony { scheme: scheme.clone(), kind: kind_name(kind) };
                drop(self.started.get_or_create(&labels));
                drop(self.completed.get_or_create(&labels));
                drop(self.aborted.get_or_create(&labels));
            }
        }
        for party in members {
            // No evidence yet reads as healthy, as `node_peers` says.
            let peer = Peer { party: party.to_string() };
            self.peer_health.get_or_create(&peer).set(1.0);
            self.peer_reputation.get_or_create(&peer).set(1.0);
            for cause in ["silence", "misbehaviour"] {
                drop(self.blamed.get_or_create(&Blame { party: party.to_string(), cause: cause.into() }));
            }
        }
        for reason in ["not_a_member", "sender_mismatch", "oversized", "undecodable", "wrong_recipient", "send_failed"]
        {
            drop(self.rejected.get_or_create(&Reason { reason: reason.into() }));
        }
        for reason in ["malformed", "bad_signature", "not_the_signer", "not_a_member", "stale", "disagrees"] {
            drop(self.aborts_ignored.get_or_create(&Reason { reason: reason.into() }));
        }
        use protocol::limits::Limit;
        for limit in [
            Limit::ApiKey,
            Limit::ClientIp,
            Limit::Wallet,
            Limit::Velocity,
            Limit::RawVelocity,
            Limit::Diversity,
            Limit::Tracking,
        ] {
            drop(self.limiter_refusals.get_or_create(&LimitLabel { limit: limit.name().into() }));
        }
    }

    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mpc");
        let m = Self {
            started: Family::default(),
            completed: Family::default(),
            aborted: Family::default(),
            abandoned: Counter::default(),
            duration: Family::new_with_constructor(latency_buckets),
            round_latency: Family::new_with_constructor(latency_buckets),
            blamed: Family::default(),
            peers: Gauge::default(),
            delivered: Counter::default(),
            rejected: Family::default(),
            rpc_calls: Family::default(),
            rpc_unauthorized: Counter::default(),
            limiter_refusals: Family::default(),
            peer_health: Family::default(),
            peer_reputation: Family::default(),
            breaker_state: Family::default(),
            breaker_transitions: Family::default(),
            aborts_ignored: Family::default(),
            pool_level: Family::default(),
            pool_uses: Family::default(),
            presignatures_made: Family::default(),
            hits: Counter::default(),
            faults_active: Gauge::default(),
            primes_available: Gauge::default(),
            journal_head: Gauge::default(),
            projection_lag: Gauge::default(),
            archive_lag: Gauge::default(),
            store_writable: Gauge::default(),
            disk_free: Gauge::default(),
            rounds: Mutex::new((HashMap::new(), VecDeque::new())),
            registry: Registry::default(),
        };
        registry.register("ceremonies_started", "Ceremonies started, by scheme and kind", m.started.clone());
        registry.register("ceremonies_completed", "Ceremonies that produced their result", m.completed.clone());
        registry.register("ceremonies_aborted", "Ceremonies that ended without a result", m.aborted.clone());
        registry.register("proposals_abandoned", "Proposals declined or expired before starting", m.abandoned.clone());
        registry.register("ceremony_duration_seconds", "From session start to result", m.duration.clone());
        registry.register(
            "round_latency_seconds",
            "Per round: from the previous round's last message to this round's last message",
            m.round_latency.clone(),
        );
        registry.register("parties_blamed", "Parties blamed by a failed ceremony, by cause", m.blamed.clone());
        registry.register("connected_peers", "Committee members connected now", m.peers.clone());
        registry.register("messages_delivered", "Valid envelopes received from members", m.delivered.clone());
        registry.register("messages_rejected", "Messages or connections refused, by reason", m.rejected.clone());
        registry.register("rpc_calls", "Admin RPC calls by method and outcome", m.rpc_calls.clone());
        registry.register(
            "rpc_unauthorized",
            "Admin RPC requests refused for a missing or wrong token",
            m.rpc_unauthorized.clone(),
        );
        registry.register(
            "limiter_refusals",
            "Requests and signings this node's limiter refused, by limit",
            m.limiter_refusals.clone(),
        );
        registry.register(
            "prime_sets_available",
            "Safe-prime sets ready for CGGMP24 setups",
            m.primes_available.clone(),
        );
        registry.register(
            "peer_health",
            "Each peer's health score in [0, 1] over its last rounds",
            m.peer_health.clone(),
        );
        registry.register("peer_reputation", "Each peer's reputation in [0, 1] (journaled)", m.peer_reputation.clone());
        registry.register(
            "dkg_breaker_state",
            "The DKG circuit breaker's state (1 for the current one)",
            m.breaker_state.clone(),
        );
        registry.register(
            "dkg_breaker_transitions",
            "DKG circuit breaker transitions, by from and to",
            m.breaker_transitions.clone(),
        );
        registry.register("aborts_ignored", "Coordinated aborts ignored, by reason", m.aborts_ignored.clone());
        registry.register(
            "presign_pool_level",
            "Presignatures ready here, by wallet and signer set",
            m.pool_level.clone(),
        );
        registry.register(
            "presign_pool_uses",
            "Signings this node proposed with (hit) or without presignatures (raw, empty, fell_back)",
            m.pool_uses.clone(),
        );
        registry.register("presignatures_made", "Presignatures made and stored here", m.presignatures_made.clone());
        registry.register(
            "fault_injection_active",
            "1 while this node injects faults into its outgoing messages (drills only)",
            m.faults_active.clone(),
        );
        for s in ["closed", "half_open", "open", "cooldown", "recovery"] {
            m.breaker_state.get_or_create(&State { state: s.into() }).set(i64::from(s == "closed"));
        }
        registry.register("journal_head_seq", "Sequence number of the journal's last entry", m.journal_head.clone());
        registry.register(
            "store_writable",
            "1 while the store takes new ceremonies; 0 once its journal failed closed or the disk is at its floor",
            m.store_writable.clone(),
        );
        registry.register(
            "disk_free_bytes",
            "Free space of the data directory's file system, bytes",
            m.disk_free.clone(),
        );
        registry.register(
            "projection_lag_events",
            "Journal entries not yet applied to the read models (history, balances, audit)",
            m.projection_lag.clone(),
        );
        registry.register(
            "archive_lag_events",
            "Journal entries PostgreSQL has not acknowledged yet ([archive]; 0 when off)",
            m.archive_lag.clone(),
        );
        Self { registry, ..m }
    }

    /// Counts an RPC call.
    pub fn rpc_call(&self, method: &str, outcome: &str) {
        self.rpc_calls.get_or_create(&Call { method: method.into(), outcome: outcome.into() }).inc();
    }

    /// Counts a request refused for its token.
    pub fn rpc_unauthorized(&self) {
        self.rpc_unauthorized.inc();
    }

    /// Sets each peer's health and reputation gauges.
    pub fn set_health(&self, peers: &[actors::health::PeerHealth]) {
        for h in peers {
            let peer = Peer { party: h.party.to_string() };
            self.peer_health.get_or_create(&peer).set(h.score);
            self.peer_reputation.get_or_create(&peer).set(h.reputation);
        }
    }

    /// Says whether faults are being injected.
    pub fn set_faults(&self, active: bool) {
        self.faults_active.set(i64::from(active));
    }

    /// Sets the gauges read on scrape.
    pub fn set_gauges(&self, primes: usize, journal_head: u64, projection_lag: u64) {
        self.primes_available.set(primes as i64);
        self.journal_head.set(journal_head as i64);
        self.projection_lag.set(projection_lag as i64);
    }

    /// Sets the archive's lag: journal entries PostgreSQL has not acknowledged yet.
    pub fn set_archive_lag(&self, lag: u64) {
        self.archive_lag.set(lag as i64);
    }

    /// Sets the store's gauges: whether it takes new ceremonies, and the disk's free bytes.
    pub fn set_store(&self, writable: bool, free_bytes: Option<u64>) {
        self.store_writable.set(i64::from(writable));
        if let Some(b) = free_bytes {
            self.disk_free.set(i64::try_from(b).unwrap_or(i64::MAX));
        }
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// A session's per-party observation: keeps round timings, counts blame.
    pub fn observe(&self, o: &Observation) {
        let Ok(mut guard) = self.rounds.lock() else { return };
        let (rounds, order) = &mut *guard;
        match o {
            Observation::Arrived { session, round, at_ms, .. } => {
                if !rounds.contains_key(session) {
                    order.push_back(*session);
                    if order.len() > TRACKED_SESSIONS {
                        if let Some(old) = order.pop_front() {
                            rounds.remove(&old);
                        }
                    }
                }
                let last = rounds.entry(*session).or_default().entry(*round).or_insert(0);
                *last = (*last).max(*at_ms);
            }
            Observation::Completed { session, .. } => {
                if let Some(per_round) = rounds.remove(session) {
                    let mut previous = 0;
                    for (round, last) in per_round {
                        let latency = last.saturating_sub(previous);
                        previous = last;
                        self.round_latency
                            .get_or_create(&Round { round: round.to_string() })
                            .observe(latency as f64 / 1000.0);
                    }
                }
            }
            Observation::Blamed { session, parties, misbehaviour, .. } => {
                rounds.remove(session);
                let cause = if *misbehaviour { "misbehaviour" } else { "silence" };
                for p in parties {
                    self.blamed.get_or_create(&Blame { party: p.to_string(), cause: cause.into() }).inc();
                }
            }
            Observation::Refused { .. }
            | Observation::Round { .. }
            | Observation::Straggler { .. }
            | Observation::Progress { .. }
            | Observation::Ended { .. } => {}
        }
    }
}

impl Metrics {
    /// The DKG circuit breaker's state here (`closed`, `half_open`, `open`, `cooldown`,
    /// `recovery`), as its transitions set it.
    pub fn breaker_state(&self) -> &'static str {
        ["closed", "half_open", "open", "cooldown", "recovery"]
            .into_iter()
            .find(|s| self.breaker_state.get_or_create(&State { state: (*s).into() }).get() == 1)
            .unwrap_or("closed")
    }

    /// Presigning sessions started here, over every scheme.
    pub fn presignings_started(&self) -> u64 {
        let labels = Ceremony { scheme: "cggmp24".into(), kind: kind_name(CeremonyKind::Presign) };
        self.started.get_or_create(&labels).get()
    }

    /// Signings this node proposed that named presignatures, over every wallet.
    pub fn pool_hits(&self) -> u64 {
        self.hits.get()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl CeremonyListener for Metrics {
    fn on_ceremony(&self, event: &CeremonyEvent) {
        match event {
            CeremonyEvent::Started { kind, scheme, .. } => {
                self.started.get_or_create(&Ceremony { scheme: scheme.to_string(), kind: kind_name(*kind) }).inc();
            }
            CeremonyEvent::Completed { kind, scheme, duration_ms, .. } => {
                let labels = Ceremony { scheme: scheme.to_string(), kind: kind_name(*kind) };
                self.completed.get_or_create(&labels).inc();
                self.duration.get_or_create(&labels).observe(*duration_ms as f64 / 1000.0);
            }
            CeremonyEvent::Aborted { kind, scheme, .. } => {
                self.aborted.get_or_create(&Ceremony { scheme: scheme.to_string(), kind: kind_name(*kind) }).inc();
            }
            CeremonyEvent::Abandoned { .. } => {
                self.abandoned.inc();
            }
            CeremonyEvent::Breaker { from, to, .. } => {
                self.breaker_transitions
                    .get_or_create(&Change { from: from.name().into(), to: to.name().into() })
                    .inc();
                self.breaker_state.get_or_create(&State { state: from.name().into() }).set(0);
                self.breaker_state.get_or_create(&State { state: to.name().into() }).set(1);
            }
            CeremonyEvent::AbortIgnored { reason, .. } => {
                self.aborts_ignored.get_or_create(&Reason { reason: (*reason).into() }).inc();
            }
            CeremonyEvent::PoolUse { wallet, reason, hit } => {
                if *hit {
                    self.hits.inc();
                }
                self.pool_uses.get_or_create(&PoolUse { wallet: wallet.to_string(), outcome: (*reason).into() }).inc();
            }
            CeremonyEvent::PoolLevel { wallet, signers, level } => {
                let signers = signers.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(",");
                let labels = Pool { wallet: wallet.to_string(), signers };
                let gauge = self.pool_level.get_or_create(&labels);
                let before = gauge.get();
                gauge.set(*level as i64);
                if *level as i64 > before {
                    self.presignatures_made
                        .get_or_create(&WalletLabel { wallet: wallet.to_string() })
                        .inc_by((*level as i64 - before) as u64);
                }
            }
        }
    }
}

impl actors::limiter::LimitListener for Metrics {
    fn refused(&self, refusal: &protocol::limits::Refusal) {
        self.limiter_refusals.get_or_create(&LimitLabel { limit: refusal.limit.name().to_owned() }).inc();
    }
}

impl NetListener for Metrics {
    fn on_net(&self, event: &NetEvent) {
        match event {
            NetEvent::Message { .. } => {
                self.delivered.inc();
            }
            NetEvent::Rejected { reason, .. } => {
                self.rejected.get_or_create(&Reason { reason: reject_name(reason).into() }).inc();
            }
            NetEvent::PeerUp(_) => {
                self.peers.inc();
            }
            NetEvent::PeerDown(_) => {
                self.peers.dec();
            }
            NetEvent::SendFailed { .. } => {
                self.rejected.get_or_create(&Reason { reason: "send_failed".into() }).inc();
            }
            NetEvent::Listening(_) => {}
        }
    }
}

/// Serves `GET /metrics` (and `GET /health`) on `listener` until the task is aborted;
/// `refresh` runs before each scrape to set the gauges read from the store.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Metrics>, refresh: Arc<dyn Fn() + Send + Sync>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let metrics = metrics.clone();
        let refresh = refresh.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let metrics = metrics.clone();
                let refresh = refresh.clone();
                async move { Ok::<_, std::convert::Infallible>(respond(&req, &metrics, &*refresh)) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
        });
    }
}

fn respond(req: &Request<hyper::body::Incoming>, metrics: &Metrics, refresh: &dyn Fn()) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&hyper::Method::GET, "/metrics") => {
            refresh();
            (StatusCode::OK, "application/openmetrics-text; version=1.0.0; charset=utf-8", metrics.encode())
        }
        (&hyper::Method::GET, "/health") => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        _ => (StatusCode::NOT_FOUND, "text/plain", "try GET /metrics\n".to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    response
}

/// Binds the metrics address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}
