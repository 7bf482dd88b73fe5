//! `mpc-node run`: opens the store, starts the transport, the actor tree, the admin RPC and the
//! metrics endpoint, and keeps the prime pool filled. Everything a running node is: the only
//! module that names the store and the transport (besides the metrics exporter).

mod chains;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::health::{HealthArgs, HealthMsg};
use actors::keystore::StoreKeystore;
use actors::limiter::LimiterArgs;
use actors::manager::ManagerArgs;
use actors::supervisor::{NodeRefs, NodeSupervisor, SupervisorArgs, SupervisorMsg};
use actors::transfers::TransferArgs;
use actors::wallets::WalletIndex;
use network::p2p::{self, Member, NetworkHandle, P2pConfig};
use protocol::primes::PrimePool;
use protocol::schemes::{self, SchemeEnv};
use protocol::PartyIndex;
use ractor::{Actor, ActorRef};
use store::limits::GrantLog;
use store::vault::PersistentPrimePool;
use store::{Db, Journal, KdfParams, Vault, VaultSecret};
use zeroize::Zeroizing;

use crate::config::Config;
use crate::metrics::{self, Metrics};
use crate::rpc::keys::{Keys, API_KEYS_FILE};
use crate::rpc::{self, Ctx, MemberInfo};
use actors::reads::ReadSide;
use store::Projections;

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Config or the files it names.
    #[error("config: {0}")]
    Config(String),
    /// The store.
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    /// The transport.
    #[error("network: {0}")]
    Network(#[from] network::p2p::NetError),
    /// An address could not be bound.
    #[error("{what} on {addr}: {source}")]
    Bind {
        /// Which endpoint.
        what: &'static str,
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The actor tree or the RPC server.
    #[error("start: {0}")]
    Start(String),
}

/// A running node.
pub struct RunningNode {
    /// The root of the actor tree; the node is alive while it is.
    pub supervisor: ActorRef<SupervisorMsg>,
    /// Ends when the supervisor does.
    pub supervisor_done: tokio::task::JoinHandle<()>,
    /// The admin RPC server.
    pub rpc: jsonrpsee::server::ServerHandle,
    /// Where the admin RPC listens.
    pub rpc_addr: SocketAddr,
    /// Where the metrics listen.
    pub metrics_addr: SocketAddr,
    /// The database (flushed on stop).
    pub db: Db,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    follower: Option<store::projections::Follower>,
}

impl RunningNode {
    /// Stops everything, in order: RPC, actors, background tasks; flushes the store.
    pub async fn stop(self) {
        let _ = self.rpc.stop();
        self.supervisor.stop(Some("shutdown".into()));
        let _ = tokio::time::timeout(Duration::from_secs(5), self.supervisor_done).await;
        for t in &self.tasks {
            t.abort();
        }
        if let Some(f) = self.follower {
            if let Err(e) = f.stop() {
                tracing::error!(error = %e, "projection follower");
            }
        }
        if let Err(e) = self.db.flush() {
            tracing::error!(error = %e, "flushing the store failed");
        }
    }
}

fn read_secret_file(path: &std::path::Path) -> Result<Zeroizing<String>, NodeError> {
    std::fs::read_to_string(path).map(Zeroizing::new).map_err(|e| NodeError::Config(format!("{}: {e}", path.display())))
}

/// Checks the files a config names: the identity exists and is the committee entry of this
/// node; the token and key files exist and are private. Returns this node's peer id.
pub fn check_files(config: &Config) -> Result<String, NodeError> {
    let identity = config.node.data_dir.join(crate::init::IDENTITY_FILE);
    if !identity.exists() {
        return Err(NodeError::Config(format!("{}: no identity; run `mpc-node init` first", identity.display())));
    }
    let peer = p2p::peer_id(&identity)?;
    let me = config.committee.iter().find(|m| m.party == config.node.party).map(|m| m.peer_id.as_str());
    if me != Some(peer.as_str()) {
        return Err(NodeError::Config(format!(
            "committee entry of party {} is {}, but {} is {peer}",
            config.node.party,
            me.unwrap_or("missing"),
            identity.display()
        )));
    }
    for f in [Some(&config.admin.token_file), config.vault.key_file.as_ref()].into_iter().flatten() {
        let p = config.in_data_dir(f);
        let meta = std::fs::metadata(&p).map_err(|e| NodeError::Config(format!("{}: {e}", p.display())))?;
        if std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o077 != 0 {
            return Err(NodeError::Config(format!("{} is readable by others; chmod 600 it", p.display())));
        }
    }
    Ok(peer)
}

fn vault_secret(config: &Config) -> Result<VaultSecret, NodeError> {
    Ok(match (&config.vault.key_file, &config.vault.passphrase_env) {
        (Some(f), _) => VaultSecret::KeyFile(config.in_data_dir(f)),
        (None, Some(var)) => VaultSecret::Passphrase(Zeroizing::new(
            std::env::var(var).map_err(|_| NodeError::Config(format!("vault.passphrase_env: ${var} is not set")))?,
        )),
        (None, None) => return Err(NodeError::Config("vault: set key_file or passphrase_env".into())),
    })
}

/// `mpc-node import-primes`: adds safe-prime sets to a stopped node's vault; returns how many
/// are available after.
pub fn import_primes(config: &Config, sets: &[protocol::primes::SafePrimes]) -> Result<usize, NodeError> {
    let db = Db::open(&config.node.data_dir.join("db"))?;
    let vault = Vault::open(db, vault_secret(config)?, KdfParams::default())?;
    vault.add_primes(sets)?;
    Ok(vault.primes_available()?)
}

/// Starts the node described by `config` on the current tokio runtime.
pub async fn start(config: Config) -> Result<RunningNode, NodeError> {
    let started = Instant::now();
    check_files(&config)?;
    let data = &config.node.data_dir;
    let identity = data.join(crate::init::IDENTITY_FILE);
    let token = read_secret_file(&config.in_data_dir(&config.admin.token_file))?;
    if token.trim().len() < 16 {
        return Err(NodeError::Config("admin.token_file: the token must be at least 16 characters".into()));
    }
    let secret = vault_secret(&config)?;
    let db = Db::open(&data.join("db"))?;
    let vault = Arc::new(Vault::open(db.clone(), secret, KdfParams::default())?);
    let journal = Arc::new(Journal::open(db.clone())?);
    let primes: Arc<dyn PrimePool> = Arc::new(PersistentPrimePool(vault.clone()));
    let registry = Arc::new(schemes::registry(&SchemeEnv { primes }));
    let committee: Vec<Member> = config
        .committee
        .iter()
        .map(|m| Member { party: m.party, peer_id: m.peer_id.clone(), address: m.address.clone() })
        .collect();
    let (network, events) = p2p::start(P2pConfig {
        me: config.node.party,
        identity_file: identity,
        listen: config.network.listen.clone(),
        committee: committee.clone(),
        max_message_bytes: config.network.max_message_bytes,
        redial_interval: Duration::from_millis(config.network.redial_interval_ms),
    })?;

    let metrics = Arc::new(Metrics::new());
    let others: Vec<PartyIndex> = committee.iter().map(|m| m.party).filter(|p| *p != config.node.party).collect();
    metrics.prime(&registry.ids().iter().map(|s| s.to_string()).collect::<Vec<_>>(), &others);
    let refs = NodeRefs::default();
    let (observer, mut observations) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    let (m, health_slot) = (metrics.clone(), refs.health.clone());
    tasks.push(tokio::spawn(async move {
        while let Some(o) = observations.recv().await {
            m.observe(&o);
            if let Some(h) = health_slot.get() {
                let _ = h.cast(HealthMsg::Observe(o));
            }
        }
    }));
    let faults = config.faults.clone().filter(|f| f.active()).map(Arc::new);
    metrics.set_faults(faults.is_some());
    if let Some(f) = &faults {
        let line = f.describe();
        tracing::warn!(faults = %line, "FAULT INJECTION IS ON: this node corrupts, delays or drops its own messages");
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                tracing::warn!(faults = %line, "FAULT INJECTION IS ON");
            }
        }));
        if f.junk_per_second > 0 {
            tasks.push(tokio::spawn(flood(network.clone(), config.node.party, committee.len() as u16, f.clone())));
        }
    }
    let board = refs.board.clone();

    let endpoints = Arc::new(chains::endpoints(&config).map_err(|e| NodeError::Config(e.to_string()))?);
    {
        let e = endpoints.clone();
        tokio::task::spawn_blocking(move || chains::check(&e))
            .await
            .map_err(|e| NodeError::Start(e.to_string()))?
            .map_err(NodeError::Config)?;
    }
    let keystore = Arc::new(
        StoreKeystore::new(journal.clone(), vault.clone())
            .with_min_free(config.node.min_free_disk_mb.saturating_mul(1 << 20)),
    );
    let manager = ManagerArgs {
        me: config.node.party,
        parties: committee.len() as u16,
        registry: registry.clone(),
        network: network.clone(),
        keystore,
        round_timeout: Duration::from_millis(config.ceremony.round_timeout_ms),
        max_round_timeout: Duration::from_millis(config.ceremony.max_round_timeout_ms),
        breaker: config.breaker,
        faults: faults.clone(),
        presign: config.presign,
        export_enabled: config.export.enabled,
        health: None,
        proposal_ttl: Duration::from_millis(config.ceremony.proposal_ttl_ms),
        peer_grace: Duration::from_millis(config.ceremony.peer_grace_ms),
        observer: Some(observer),
        listeners: vec![metrics.clone()],
        chains: endpoints.chains.clone(),
        transfer_policy: endpoints.policy.clone(),
        transfers: None,
        raw: config.signing.clone(),
        limiter: None,
    };
    let projections = Projections::new(db.clone());
    let wallets = Arc::new(WalletIndex::new(projections.clone(), journal.clone()));
    let transfers = TransferArgs {
        me: config.node.party,
        chains: endpoints.clone(),
        wallets: wallets.clone(),
        journal: journal.clone(),
        reads: ReadSide::new(journal.clone(), projections.clone(), vault.clone()),
        network: network.clone(),
        refs: refs.clone(),
        poll: Duration::from_millis(500),
        follow: Duration::from_secs(3600),
        sign_wait: Duration::from_secs(600),
    };
    let args = SupervisorArgs {
        manager,
        journal: journal.clone(),
        events,
        net_listeners: vec![metrics.clone()],
        refs: refs.clone(),
        transfers: Some(transfers),
        limiter: Some(LimiterArgs {
            config: config.limits.clone(),
            grants: Some(GrantLog::new(db.clone())),
            journal: None,
            listeners: vec![metrics.clone()],
        }),
        health: Some(HealthArgs {
            me: config.node.party,
            parties: committee.len() as u16,
            base_timeout_ms: config.ceremony.round_timeout_ms,
            board: board.clone(),
            journal: journal.clone(),
            journal_actor: Default::default(),
        }),
    };
    let (supervisor, handle) =
        Actor::spawn(None, NodeSupervisor, args).await.map_err(|e| NodeError::Start(e.to_string()))?;
    let supervisor_done = tokio::spawn(async move {
        let _ = handle.await;
    });

    let metrics_addr: SocketAddr = parse_addr("metrics.listen", &config.metrics.listen)?;
    let listener = metrics::bind(metrics_addr).await.map_err(|source| NodeError::Bind {
        what: "metrics",
        addr: metrics_addr,
        source,
    })?;
    let metrics_addr = listener.local_addr().map_err(|e| NodeError::Start(e.to_string()))?;
    // The archive sink, off the actor tree: PostgreSQL's outages never spend its restarts.
    let archive = config.archive.as_ref().map(|section| {
        let source = crate::archive::source(section, config.node.party);
        let status = Arc::new(crate::archive::sink::ArchiveStatus::default());
        let (j, s, st, sec) = (journal.clone(), source.clone(), status.clone(), section.clone());
        let proj = projections.clone();
        tasks.push(crate::archive::sink::spawn(move || crate::archive::sink::SinkArgs {
            journal: j.clone(),
            config: sec.clone(),
            source: s.clone(),
            status: st.clone(),
            projections: proj.clone(),
        }));
        (source, status)
    });
    let (v, j, p) = (vault.clone(), journal.clone(), projections.clone());
    let (m, b, a) = (metrics.clone(), board.clone(), archive.as_ref().map(|(_, s)| s.clone()));
    let floor = config.node.min_free_disk_mb.saturating_mul(1 << 20);
    let refresh: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
        m.set_health(&b.all());
        m.set_store(j.writable(floor).is_ok(), j.db().free_bytes().ok());
        let head = j.head().map(|h| h.seq).unwrap_or(0);
        m.set_gauges(v.primes_available().unwrap_or(0), head, p.lag(&j).unwrap_or(0));
        if let Some(a) = &a {
            m.set_archive_lag(head.saturating_sub(a.position.load(std::sync::atomic::Ordering::Relaxed)));
        }
    });
    tasks.push(tokio::spawn(metrics::serve(listener, metrics.clone(), refresh)));

    if config.ceremony.primes_ready > 0 {
        tasks.push(tokio::spawn(fill_primes(vault.clone(), config.ceremony.primes_ready)));
    }

    let follower = projections.spawn_follower(journal.clone())?;
    let ctx = Ctx {
        me: config.node.party,
        peer_id: network.peer_id().to_string(),
        committee: committee
            .iter()
            .map(|m| MemberInfo { party: m.party, peer_id: m.peer_id.clone(), address: m.address.clone() })
            .collect(),
        refs: refs.clone(),
        registry,
        endpoints,
        wallets,
        reads: ReadSide::new(journal, projections, vault),
        metrics: metrics.clone(),
        started,
        limiter: refs.limiter.clone(),
        limits: config.limits.clone(),
        health: board,
        breaker: config.breaker,
        presign: config.presign,
        faults: faults.map(|f| f.describe()),
        node: Arc::new(rpc::NodeFiles { db: db.clone(), config: config.clone() }),
        archive,
    };
    let keys_file = config.in_data_dir(config.admin.api_keys_file.as_deref().unwrap_or(Path::new(API_KEYS_FILE)));
    let keys = Keys::open(&token, keys_file).map_err(|e| NodeError::Config(e.to_string()))?;
    tasks.push(keys.watch());
    let guard = rpc::auth::Guard { keys, limiter: refs.limiter.clone(), metrics };
    let rpc_addr = parse_addr("admin.listen", &config.admin.listen)?;
    let (rpc_addr, rpc) = rpc::serve(rpc_addr, guard, ctx).await.map_err(NodeError::Start)?;
    if !rpc_addr.ip().is_loopback() {
        tracing::warn!(
            admin = %rpc_addr,
            "the admin JSON-RPC is plain HTTP and listens beyond loopback: tokens cross the network in the clear; \
             bind it to 127.0.0.1 and put a TLS reverse proxy in front (README, exposing the admin endpoint)"
        );
    }
    tracing::info!(
        party = config.node.party,
        admin = %rpc_addr,
        metrics = %metrics_addr,
        ms = started.elapsed().as_millis() as u64,
        "node ready"
    );
    Ok(RunningNode { supervisor, supervisor_done, rpc, rpc_addr, metrics_addr, db, tasks, follower: Some(follower) })
}

/// A hostile member on purpose (`[faults] junk_per_second`): junk to the others, every 100 ms.
async fn flood(network: NetworkHandle, me: protocol::PartyIndex, parties: u16, faults: Arc<actors::faults::Faults>) {
    let per_tick = faults.junk_per_second.div_ceil(10);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        for _ in 0..per_tick {
            let e = actors::faults::junk(me, parties, faults.junk_max_bytes, now);
            let _ = match e.recipient {
                protocol::Recipient::Party(p) => network.send_to(p, e).await,
                protocol::Recipient::Broadcast => network.broadcast(e).await,
            };
        }
    }
}

fn parse_addr(field: &str, value: &str) -> Result<SocketAddr, NodeError> {
    value.parse().map_err(|e| NodeError::Config(format!("{field}: {value:?}: {e}")))
}

/// Keeps `target` safe-prime sets in the vault, generating one at a time on a blocking thread
/// (a set takes a core for a minute or more), checking again every minute.
async fn fill_primes(vault: Arc<Vault>, target: usize) {
    loop {
        let have = vault.primes_available().unwrap_or(target);
        if have < target {
            tracing::info!(have, target, "generating a safe-prime set for CGGMP24 setups");
            let v = vault.clone();
            let t = Instant::now();
            let made = tokio::task::spawn_blocking(move || {
                let set = protocol::schemes::cggmp24::generate_safe_primes(&mut rand_core::OsRng)
                    .map_err(|e| e.to_string())?;
                v.add_primes(&[set]).map_err(|e| e.to_string())
            })
            .await;
            match made {
                Ok(Ok(())) => tracing::info!(secs = t.elapsed().as_secs(), "safe-prime set stored"),
                Ok(Err(e)) => tracing::error!(error = %e, "safe-prime generation failed"),
                Err(e) => tracing::error!(error = %e, "safe-prime generator vanished"),
            }
            continue;
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}
