//! Bringing a local testnet up and down: chain services and `mpc-node` processes on free
//! loopback ports, each in its own process group with its log in the work directory; the
//! state (pids, addresses, files) in `<dir>/testnet.json` for `status`, `down` and `demo`.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use node::config::{ChainSection, Config, MemberSection};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::rpc;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Something to tell the user, with what to do.
    #[error("{0}")]
    Msg(String),
    /// Filesystem.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A call.
    #[error(transparent)]
    Call(#[from] rpc::CallError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> NetError + '_ {
    move |source| NetError::Io { path: path.to_owned(), source }
}

/// A running process of the testnet.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Proc {
    /// Name (`node0`, `anvil`, ...).
    pub name: String,
    /// Process id.
    pub pid: u32,
    /// Its log.
    pub log: PathBuf,
}

/// One node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeState {
    /// Party index.
    pub party: u16,
    /// Peer id.
    pub peer_id: String,
    /// Admin JSON-RPC URL.
    pub admin: String,
    /// Metrics URL.
    pub metrics: String,
    /// Its config.
    pub config: PathBuf,
    /// Its admin token file.
    pub token_file: PathBuf,
    /// The process.
    pub proc: Proc,
}

/// The whole testnet.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    /// Work directory.
    pub dir: PathBuf,
    /// Nodes.
    pub nodes: Vec<NodeState>,
    /// Chain services: name -> (URL, process).
    pub services: BTreeMap<String, (String, Proc)>,
    /// Default wallet threshold.
    pub threshold: u16,
    /// When `up` finished, ms since the epoch.
    pub started_ms: u64,
}

/// Limits no demo or benchmark reaches.
pub fn open_limits() -> protocol::limits::LimitsConfig {
    protocol::limits::LimitsConfig {
        per_key_per_min: 1_000_000,
        per_ip_per_min: 1_000_000,
        per_wallet_per_min: 1_000_000,
        per_wallet_per_day: 100_000_000,
        raw_per_wallet_per_day: 100_000_000,
        same_message_per_hour: 1_000_000,
        ..Default::default()
    }
}

/// How to bring it up.
pub struct UpArgs {
    /// Work directory.
    pub dir: PathBuf,
    /// Nodes.
    pub nodes: u16,
    /// Default threshold.
    pub threshold: u16,
    /// Start the chain services and configure the nodes for them.
    pub chains: bool,
    /// Per-round timeout of the nodes, ms.
    pub round_timeout_ms: u64,
    /// Presignatures each node keeps ready per ECDSA wallet (0: every ECDSA signing is full).
    pub presign_target: u16,
    /// PostgreSQL for every node's `[archive]` (none: off).
    pub archive: Option<String>,
}

impl UpArgs {
    /// `nodes` nodes with `threshold`, chain services on, generous timeouts.
    pub fn new(dir: PathBuf, nodes: u16, threshold: u16) -> Self {
        Self { dir, nodes, threshold, chains: true, round_timeout_ms: 120_000, presign_target: 8, archive: None }
    }

    /// With every node's journal archived into `url`.
    pub fn archive(mut self, url: Option<String>) -> Self {
        self.archive = url;
        self
    }
}

const STATE: &str = "testnet.json";

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn free_port() -> Result<u16, NetError> {
    network::ports::free_loopback_port().map_err(|e| NetError::Msg(e.to_string()))
}

/// The repository's chain harness (`testnet/js`, filled by `scripts/install-deps.sh`).
pub fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// The `mpc-node` binary: `$MPC_NODE_BIN`, or beside this one.
pub fn mpc_node_bin() -> Result<PathBuf, NetError> {
    if let Ok(p) = std::env::var("MPC_NODE_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| NetError::Msg(e.to_string()))?;
    let dir = exe.parent().ok_or_else(|| NetError::Msg("no directory for this binary".into()))?;
    // Tests run from target/<profile>/deps; the binaries sit one level up.
    for candidate in [dir.join("mpc-node"), dir.join("../mpc-node")] {
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    Err(NetError::Msg("mpc-node not found beside testnet: cargo build --release -p node (or set MPC_NODE_BIN)".into()))
}

/// True while the process runs (a zombie counts as gone).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

fn spawn(name: &str, mut cmd: Command, dir: &Path) -> Result<Proc, NetError> {
    let log = dir.join(format!("{name}.log"));
    let file = std::fs::File::create(&log).map_err(io(&log))?;
    let err = file.try_clone().map_err(io(&log))?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err))
        .process_group(0)
        .spawn()
        .map_err(|e| NetError::Msg(format!("starting {name}: {e}")))?;
    Ok(Proc { name: name.to_owned(), pid: child.id(), log })
}

fn wait_port(name: &str, port: u16, proc: &Proc) -> Result<(), NetError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if !alive(proc.pid) || Instant::now() > deadline {
            let log = std::fs::read_to_string(&proc.log).unwrap_or_default();
            return Err(NetError::Msg(format!("{name} did not start; its log:\n{log}")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Starts a node's process again from its config (after a kill), logging to the same file.
pub fn respawn(config: &Path, old: &Proc) -> Result<Proc, NetError> {
    let mut cmd = Command::new(mpc_node_bin()?);
    cmd.args(["run", "--config", &config.to_string_lossy()]).env("MPC_LOG", "info");
    let file = std::fs::OpenOptions::new().append(true).create(true).open(&old.log).map_err(io(&old.log))?;
    let err = file.try_clone().map_err(io(&old.log))?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err))
        .process_group(0)
        .spawn()
        .map_err(|e| NetError::Msg(format!("restarting {}: {e}", old.name)))?;
    Ok(Proc { name: old.name.clone(), pid: child.id(), log: old.log.clone() })
}

/// Loads the state of the testnet in `dir`, if one was brought up there.
pub fn load(dir: &Path) -> Result<Option<State>, NetError> {
    let path = dir.join(STATE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            serde_json::from_str(&text).map(Some).map_err(|e| NetError::Msg(format!("{}: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(NetError::Io { path, source: e }),
    }
}

impl NodeState {
    /// Calls an admin method.
    pub fn call(&self, method: &str, params: Value, timeout: Duration) -> Result<Value, rpc::CallError> {
        let token = std::fs::read_to_string(&self.token_file).unwrap_or_default();
        rpc::call(&self.admin, Some(token.trim()), method, params, timeout)
    }
}

fn chain(name: &str, url: &str, network: &str) -> ChainSection {
    ChainSection::new(name, url, network)
}

/// Starts anvil, the LiteSVM Solana RPC and the Bitcoin RPC facade.
fn start_services(dir: &Path, log: &dyn Fn(&str)) -> Result<BTreeMap<String, (String, Proc)>, NetError> {
    let js = js_dir();
    let anvil_bin = js.join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    if !anvil_bin.exists() {
        return Err(NetError::Msg(format!("{} missing: run scripts/install-deps.sh", anvil_bin.display())));
    }
    let mut services = BTreeMap::new();
    let port = free_port()?;
    let mut cmd = Command::new(&anvil_bin);
    cmd.args(["--host", "127.0.0.1", "--port", &port.to_string(), "--chain-id", "31337", "--silent"]);
    let p = spawn("anvil", cmd, dir)?;
    wait_port("anvil", port, &p)?;
    services.insert("ethereum".to_owned(), (format!("http://127.0.0.1:{port}"), p));
    log("ethereum: anvil up");
    let port = free_port()?;
    let mut cmd = Command::new("node");
    cmd.arg(js.join("solana-rpc.mjs")).arg(port.to_string());
    let p = spawn("solana-litesvm", cmd, dir)?;
    wait_port("solana facade", port, &p)?;
    services.insert("solana".to_owned(), (format!("http://127.0.0.1:{port}"), p));
    log("solana: LiteSVM facade up");
    let port = free_port()?;
    let mut cmd = Command::new(std::env::current_exe().map_err(|e| NetError::Msg(e.to_string()))?);
    cmd.args(["btc-facade", "--port", &port.to_string()]);
    let p = spawn("bitcoin-facade", cmd, dir)?;
    wait_port("bitcoin facade", port, &p)?;
    services.insert("bitcoin".to_owned(), (format!("http://127.0.0.1:{port}"), p));
    log("bitcoin: regtest facade over Bitcoin Core's interpreter up");

    Ok(services)
}

/// Starts chain services and nodes; waits until every node sees every other.
pub fn up(args: &UpArgs, log: &dyn Fn(&str)) -> Result<State, NetError> {
    if args.nodes < 2 || args.threshold < 2 || args.threshold > args.nodes {
        return Err(NetError::Msg(format!("need 2 <= threshold <= nodes, got {} of {}", args.threshold, args.nodes)));
    }
    if let Some(s) = load(&args.dir)? {
        if s.nodes.iter().any(|n| alive(n.proc.pid)) {
            return Err(NetError::Msg(format!(
                "a testnet is already up in {} (testnet down first)",
                args.dir.display()
            )));
        }
    }
    let mpc_node = mpc_node_bin()?;
    std::fs::create_dir_all(&args.dir).map_err(io(&args.dir))?;
    let dir = args.dir.canonicalize().map_err(io(&args.dir))?;
    let mut services = BTreeMap::new();
    if args.chains {
        services = start_services(&dir, log)?;
    }
    // Identities and configs.
    let mut configs = Vec::new();
    for party in 0..args.nodes {
        let data = dir.join(format!("node{party}"));
        if data.exists() {
            std::fs::remove_dir_all(&data).map_err(io(&data))?;
        }
        let listen = format!("/ip4/127.0.0.1/tcp/{}", free_port()?);
        let out = Command::new(&mpc_node)
            .args(["init", "--data-dir", &data.to_string_lossy(), "--party", &party.to_string(), "--listen", &listen])
            .args([
                "--admin",
                &format!("127.0.0.1:{}", free_port()?),
                "--metrics",
                &format!("127.0.0.1:{}", free_port()?),
            ])
            .output()
            .map_err(|e| NetError::Msg(format!("mpc-node init: {e}")))?;
        if !out.status.success() {
            return Err(NetError::Msg(format!("mpc-node init: {}", String::from_utf8_lossy(&out.stderr))));
        }
        let config: Config =
            toml::from_str(&String::from_utf8_lossy(&out.stdout)).map_err(|e| NetError::Msg(e.to_string()))?;
        configs.push(config);
    }
    let committee: Vec<MemberSection> = configs.iter().map(|c| c.committee[0].clone()).collect();
    let primes_file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../protocol/tests/fixtures/primes.bin");
    let primes: Vec<protocol::primes::SafePrimes> =
        std::fs::read(&primes_file).ok().and_then(|b| bincode::deserialize(&b).ok()).unwrap_or_default();
    if usize::from(args.nodes) <= primes.len() {
        log("CGGMP24: importing the repository's PUBLIC test primes (a demo only: never for real keys)");
    }
    let mut nodes = Vec::new();
    for (party, mut config) in configs.into_iter().enumerate() {
        config.committee = committee.clone();
        config.ceremony.round_timeout_ms = args.round_timeout_ms;
        config.ceremony.proposal_ttl_ms = 60_000;
        config.ceremony.primes_ready = if party < primes.len() { 0 } else { 1 };
        config.network.redial_interval_ms = 300;
        config.chains.bitcoin_network = "regtest".into();
        // A local testnet for demos and benchmarks: raw signing allowed for every wallet and
        // limits far above what a bench sends (a real member keeps raw signing off).
        config.signing.raw_wallets = vec!["*".into()];
        config.limits = open_limits();
        config.presign.target = args.presign_target;
        config.presign.max_per_set = config.presign.max_per_set.max(args.presign_target);
        config.archive = args.archive.as_ref().map(|url| node::config::ArchiveSection {
            url: url.clone(),
            password_env: None,
            source: None,
            batch: 1000,
            retry_max_ms: 10_000,
            prune_after_s: None,
        });
        if args.chains {
            config.chain = vec![
                chain("ethereum", &services["ethereum"].0, "31337"),
                chain("solana", &services["solana"].0, "litesvm"),
                chain("bitcoin-p2tr", &services["bitcoin"].0, "regtest"),
                chain("bitcoin-p2wpkh", &services["bitcoin"].0, "regtest"),
            ];
        }
        let data = config.node.data_dir.clone();
        let path = data.join("node.toml");
        let text = toml::to_string_pretty(&config).map_err(|e| NetError::Msg(e.to_string()))?;
        std::fs::write(&path, text).map_err(io(&path))?;
        if let Some(set) = primes.get(party) {
            let file = data.join("primes.bin");
            let bytes = bincode::serialize(&vec![set.clone()]).map_err(|e| NetError::Msg(e.to_string()))?;
            std::fs::write(&file, bytes).map_err(io(&file))?;
            let out = Command::new(&mpc_node)
                .args(["import-primes", "--config", &path.to_string_lossy(), "--file", &file.to_string_lossy()])
                .output()
                .map_err(|e| NetError::Msg(e.to_string()))?;
            if !out.status.success() {
                return Err(NetError::Msg(format!("import-primes: {}", String::from_utf8_lossy(&out.stderr))));
            }
            // Imported (sealed in the vault): the clear copy goes.
            std::fs::remove_file(&file).map_err(io(&file))?;
        }
        let mut cmd = Command::new(&mpc_node);
        cmd.args(["run", "--config", &path.to_string_lossy()]).env("MPC_LOG", "info");
        let proc = spawn(&format!("node{party}"), cmd, &dir)?;
        nodes.push(NodeState {
            party: party as u16,
            peer_id: config.committee[party].peer_id.clone(),
            admin: format!("http://{}", config.admin.listen),
            metrics: format!("http://{}/metrics", config.metrics.listen),
            config: path,
            token_file: data.join("admin.token"),
            proc,
        });
    }
    let state = State { dir: dir.clone(), nodes, services, threshold: args.threshold, started_ms: now_ms() };
    let path = dir.join(STATE);
    std::fs::write(&path, serde_json::to_string_pretty(&state).map_err(|e| NetError::Msg(e.to_string()))?)
        .map_err(io(&path))?;
    // Where Prometheus finds the nodes (configs/prometheus.yml reads this file).
    let targets: Vec<String> = state
        .nodes
        .iter()
        .map(|n| n.metrics.trim_start_matches("http://").trim_end_matches("/metrics").to_owned())
        .collect();
    let sd = dir.join("prometheus-targets.json");
    let sd_text = serde_json::to_string_pretty(&json!([{ "targets": targets, "labels": { "testnet": "local" } }]))
        .map_err(|e| NetError::Msg(e.to_string()))?;
    std::fs::write(&sd, sd_text).map_err(io(&sd))?;
    // Ready and connected.
    let deadline = Instant::now() + Duration::from_secs(60);
    for n in &state.nodes {
        loop {
            let connected =
                n.call("node_info", json!({}), Duration::from_secs(2)).ok().and_then(|i| i["connected"].as_u64());
            if connected == Some(u64::from(args.nodes) - 1) {
                break;
            }
            if !alive(n.proc.pid) || Instant::now() > deadline {
                let log = std::fs::read_to_string(&n.proc.log).unwrap_or_default();
                return Err(NetError::Msg(format!("node {} did not come up; its log:\n{log}", n.party)));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // Gossip meshes form on the next heartbeat.
    std::thread::sleep(Duration::from_millis(1500));
    log(&format!("{} nodes up and connected", args.nodes));
    Ok(state)
}

/// Supervises the nodes of the testnet in `dir`: a node that dies is started again (same
/// config, same data, log appended), until `testnet down` removes the state.
pub fn watch(dir: &Path, log: &dyn Fn(&str)) -> Result<(), NetError> {
    log("watching: a node that dies is restarted; `testnet down` ends this");
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let Some(mut state) = load(dir)? else {
            log("the testnet is down; stopping the watch");
            return Ok(());
        };
        let mut changed = false;
        for n in state.nodes.iter_mut() {
            if !alive(n.proc.pid) {
                log(&format!("node {} (pid {}) is gone; restarting it", n.party, n.proc.pid));
                n.proc = respawn(&n.config, &n.proc)?;
                changed = true;
            }
        }
        if changed {
            let path = dir.join(STATE);
            // `down` may have removed the state meanwhile: then stop what was just started.
            if !path.exists() {
                let _ = down(&state);
                return Ok(());
            }
            let text = serde_json::to_string_pretty(&state).map_err(|e| NetError::Msg(e.to_string()))?;
            std::fs::write(&path, text).map_err(io(&path))?;
        }
    }
}

/// One line per node: party, peer id, admin address, connected peers, uptime, health.
pub fn status(state: &State) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for n in &state.nodes {
        let info = if alive(n.proc.pid) { n.call("node_info", json!({}), Duration::from_secs(2)).ok() } else { None };
        let (connected, uptime, health) = match &info {
            Some(i) => (
                format!("{}/{}", i["connected"], state.nodes.len() - 1),
                format!("{}s", i["uptime_s"]),
                if i["connected"].as_u64() == Some(state.nodes.len() as u64 - 1) { "ok" } else { "degraded" }
                    .to_owned(),
            ),
            None if alive(n.proc.pid) => ("?".into(), "?".into(), "not answering".into()),
            None => ("-".into(), "-".into(), "down".into()),
        };
        rows.push(vec![n.party.to_string(), n.peer_id.clone(), n.admin.clone(), connected, uptime, health]);
    }
    for (name, (url, p)) in &state.services {
        let health = if alive(p.pid) { "ok" } else { "down" };
        rows.push(vec![format!("{name}"), p.name.clone(), url.clone(), "-".into(), "-".into(), health.into()]);
    }
    rows
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).stderr(Stdio::null()).status();
}

/// Removes the state file, then stops every process (SIGTERM, then SIGKILL after 10 s). The
/// state goes first so that a watcher (`up --watch`) stops instead of restarting nodes.
pub fn down(state: &State) -> Result<usize, NetError> {
    let path = state.dir.join(STATE);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(NetError::Io { path, source: e }),
    }
    let procs: Vec<&Proc> =
        state.nodes.iter().map(|n| &n.proc).chain(state.services.values().map(|(_, p)| p)).collect();
    for p in &procs {
        if alive(p.pid) {
            signal(p.pid, "-TERM");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while procs.iter().any(|p| alive(p.pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for p in &procs {
        if alive(p.pid) {
            signal(p.pid, "-KILL");
        }
    }
    Ok(procs.len())
}

/// Prints rows as an aligned table.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        cells.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect::<Vec<_>>().join("  ")
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.clone()));
        out.push('\n');
    }
    out
}
