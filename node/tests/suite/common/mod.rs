//! Real `mpc-node` processes on loopback, for the multi-node tests: each with its own data
//! directory, identity, free ports and log file; talked to through the admin JSON-RPC.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use node::config::{Config, MemberSection};

pub mod postgres;
use serde_json::{json, Value};

pub fn mpc_node() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mpc-node"))
}

pub fn free_port() -> u16 {
    network::ports::free_loopback_port().unwrap()
}

/// One node: its config file, and its process while it runs.
pub struct NodeProc {
    pub party: u16,
    pub config_path: PathBuf,
    pub config: Config,
    pub token: String,
    pub child: Option<Child>,
    pub admin: String,
    pub metrics: String,
    pub log: PathBuf,
    /// Extra environment for the process (e.g. `MPC_FAULT`).
    pub env: Vec<(String, String)>,
}

impl NodeProc {
    /// Starts the process and waits for its ready line.
    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let mut child = mpc_node()
            .args(["run", "--config", self.config_path.to_str().unwrap()])
            .env("MPC_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
            panic!("node {} not ready; log:\n{}", self.party, std::fs::read_to_string(&self.log).unwrap_or_default())
        });
        assert!(line.starts_with("ready admin="), "{line}");
        let mut parts = line.split_whitespace().skip(1);
        self.admin = parts.next().unwrap().trim_start_matches("admin=").to_owned();
        self.metrics = parts.next().unwrap().trim_start_matches("metrics=").to_owned();
        self.child = Some(child);
    }

    /// Rewrites the config file after `change`.
    pub fn reconfigure(&mut self, change: impl FnOnce(&mut Config)) {
        change(&mut self.config);
        std::fs::write(&self.config_path, toml::to_string_pretty(&self.config).unwrap()).unwrap();
    }

    /// Waits for the process to exit by itself; its exit code.
    pub fn wait_exit(&mut self, secs: u64) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let child = self.child.as_mut().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status.code();
            }
            assert!(Instant::now() < deadline, "node {} did not exit", self.party);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, no goodbye.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait: returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().unwrap();
        let pid = c.id() as i32;
        unsafe_free_kill(pid);
        c.wait().unwrap()
    }

    /// A JSON-RPC call with this node's token: `Ok(result)` or `Err(error object)`.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, Value> {
        rpc(&self.admin, Some(&self.token), method, params).1
    }

    /// Retries `method` until it succeeds or `secs` pass.
    pub fn call_until(&self, method: &str, params: Value, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            match self.call(method, params.clone()) {
                Ok(v) => return v,
                Err(e) if Instant::now() > deadline => panic!("{method} kept failing: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    pub fn metrics_text(&self) -> String {
        let agent = agent();
        let mut resp = agent.get(&format!("http://{}/metrics", self.metrics)).call().unwrap();
        resp.body_mut().read_to_string().unwrap()
    }

    /// The value on the first metrics line starting with `line_prefix` (0 if none).
    pub fn metric(&self, line_prefix: &str) -> f64 {
        self.metrics_text()
            .lines()
            .find(|l| l.starts_with(line_prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }
}

fn unsafe_free_kill(pid: i32) {
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into()
}

/// Raw call: the HTTP status and the result or error.
pub fn rpc(addr: &str, token: Option<&str>, method: &str, params: Value) -> (u16, Result<Value, Value>) {
    try_rpc(addr, token, method, params).unwrap_or_else(|e| panic!("{method} to {addr}: {e}"))
}

/// As [`rpc`], or the transport error (the node went away mid-call).
pub fn try_rpc(
    addr: &str,
    token: Option<&str>,
    method: &str,
    params: Value,
) -> Result<(u16, Result<Value, Value>), String> {
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }).to_string();
    let mut req = agent().post(&format!("http://{addr}/")).header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.send(body.as_str()).map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let out = match v.get("result") {
        Some(r) => Ok(r.clone()),
        None => Err(v["error"].clone()),
    };
    Ok((status, out))
}

/// Limits no test reaches unless it means to.
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

/// `n` initialised nodes with a shared committee (not started).
pub fn cluster(dir: &Path, n: u16) -> Vec<NodeProc> {
    let mut configs = Vec::new();
    for party in 0..n {
        let data = dir.join(format!("node{party}"));
        let listen = format!("/ip4/127.0.0.1/tcp/{}", free_port());
        let out = mpc_node()
            .args(["init", "--data-dir", data.to_str().unwrap(), "--party", &party.to_string(), "--listen", &listen])
            .args(["--admin", "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let config: Config = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
        configs.push(config);
    }
    committee_of(configs)
}

/// The passphrase of the committed committee backups: test material, never a real key.
pub const FIXTURE_PASSPHRASE: &str = "committed test fixture, never a real key";

/// The committed backups of an `n`-member committee that ran its CGGMP24 committee setup.
pub fn committee_fixture(n: u16) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/committee-{n}"))
}

/// `n` nodes restored from the committed backups of a committee whose CGGMP24 committee
/// setup is done (`fixtures::write_committee_fixtures` makes them), on fresh ports: for the
/// tests that need CGGMP24 wallets but are not about the setup, which costs each run about a
/// minute of CPU. The restore is the operator's own `mpc-node backup restore`.
pub fn cluster_set_up(dir: &Path, n: u16) -> Vec<NodeProc> {
    let mut configs = Vec::new();
    for party in 0..n {
        let data = dir.join(format!("node{party}"));
        let file = committee_fixture(n).join(format!("node{party}.mpcbak"));
        let out = mpc_node()
            .args(["backup", "restore", "--file", file.to_str().unwrap(), "--data-dir", data.to_str().unwrap()])
            .env("MPC_BACKUP_PASSPHRASE", FIXTURE_PASSPHRASE)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the committed committee {} does not restore; after a change to what a node stores, \
             rewrite it: ./scripts/test.sh --run-ignored only -E 'test(write_committee_fixtures)'\n{}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut config: Config = toml::from_str(&std::fs::read_to_string(data.join("node.toml")).unwrap()).unwrap();
        config.network.listen = format!("/ip4/127.0.0.1/tcp/{}", free_port());
        config.admin.listen = "127.0.0.1:0".into();
        config.metrics.listen = "127.0.0.1:0".into();
        configs.push(config);
    }
    committee_of(configs)
}

/// Each node's own committee entry at its listen address, shared by all; the test settings.
fn committee_of(configs: Vec<Config>) -> Vec<NodeProc> {
    let committee: Vec<MemberSection> = configs
        .iter()
        .map(|c| {
            let mut own = c.committee.iter().find(|m| m.party == c.node.party).unwrap().clone();
            own.address = c.network.listen.clone();
            own
        })
        .collect();
    let mut nodes = Vec::new();
    for (party, mut config) in configs.into_iter().enumerate() {
        config.committee = committee.clone();
        config.ceremony.round_timeout_ms = 120_000;
        config.ceremony.proposal_ttl_ms = 60_000;
        config.ceremony.primes_ready = 0;
        config.network.redial_interval_ms = 300;
        config.chains.bitcoin_network = "regtest".into();
        // Raw signing on and limits out of reach; the guard's tests set their own.
        config.signing.raw_wallets = vec!["*".into()];
        config.limits = open_limits();
        // A failed DKG cools this member's breaker down; tests run the next one soon after.
        config.breaker.cooldown_ms = 2_000;
        // Presigning in the background competes for the CPU: the pool's tests turn it on.
        config.presign.target = 0;
        let config_path = config.node.data_dir.join("node.toml");
        std::fs::write(&config_path, toml::to_string_pretty(&config).unwrap()).unwrap();
        let token = std::fs::read_to_string(config.node.data_dir.join("admin.token")).unwrap().trim().to_owned();
        nodes.push(NodeProc {
            party: party as u16,
            log: config.node.data_dir.join("node.log"),
            config_path,
            config,
            token,
            child: None,
            admin: String::new(),
            metrics: String::new(),
            env: Vec::new(),
        });
    }
    nodes
}

/// The committed test-only prime sets, one file per node (each node its own set).
pub fn import_primes(nodes: &[NodeProc]) {
    import_primes_each(nodes, 1)
}

/// `count` distinct committed prime sets for each node (the fixture holds nine).
#[allow(dead_code)]
pub fn import_primes_each(nodes: &[NodeProc], count: usize) {
    import_primes_from(nodes, 0, count)
}

/// `count` prime sets for each node, from the fixture's set `first` on.
pub fn import_primes_from(nodes: &[NodeProc], first: usize, count: usize) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocol/tests/fixtures/primes.bin");
    let sets: Vec<protocol::primes::SafePrimes> = bincode::deserialize(&std::fs::read(path).unwrap()).unwrap();
    assert!(sets.len() >= first + nodes.len() * count, "{} fixture prime sets", sets.len());
    for (i, node) in nodes.iter().enumerate() {
        // Beside the data directory, not in it: an operator deletes the import file after
        // importing, and the secrets scan reads every file the node keeps.
        let file = node.config.node.data_dir.with_extension("primes.bin");
        let mine: Vec<_> = sets[first + i * count..first + (i + 1) * count].to_vec();
        std::fs::write(&file, bincode::serialize(&mine).unwrap()).unwrap();
        let out = mpc_node()
            .args(["import-primes", "--config", node.config_path.to_str().unwrap(), "--file", file.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Starts every node and waits until each sees all the others.
pub fn start_all(nodes: &mut [NodeProc]) {
    for n in nodes.iter_mut() {
        n.start();
    }
    let want = nodes.len() - 1;
    for n in nodes.iter() {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let info = n.call("node_info", json!({})).unwrap();
            if info["connected"].as_u64() == Some(want as u64) {
                break;
            }
            assert!(Instant::now() < deadline, "node {} sees {} peers", n.party, info["connected"]);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // Let gossip subscriptions spread (a mesh forms after a heartbeat).
    std::thread::sleep(Duration::from_millis(1500));
}

/// Waits until `node` sees `want` peers, then for gossip's mesh to form (a heartbeat).
pub fn sees_peers(node: &NodeProc, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.call("node_info", json!({})).unwrap()["connected"] != want {
        assert!(Instant::now() < deadline, "node {} never saw {want} peers", node.party);
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
}

/// A JSON-RPC call to a chain node (anvil, a facade); panics on an error answer.
pub fn chain_call(url: &str, method: &str, params: Value) -> Value {
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }).to_string();
    let mut resp = agent().post(url).header("content-type", "application/json").send(body.as_str()).unwrap();
    let v: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    assert!(v["error"].is_null(), "{method}: {v}");
    v["result"].clone()
}

/// Waits until every node holds `wallet`: the proposer answers once it stored its share, the
/// others store theirs a moment later.
pub fn held_everywhere(nodes: &[NodeProc], wallet: &str) {
    for n in nodes {
        n.call_until("wallet_get", json!({ "wallet": wallet }), 30);
    }
}

/// A wallet of `scheme` created through `via` by the whole committee: 3-of-5, or 2-of-n in
/// the smaller committees.
pub fn create_wallet(via: &NodeProc, scheme: &str, name: &str) -> Value {
    let threshold = if via.config.committee.len() >= 5 { 3 } else { 2 };
    let created = via
        .call("wallet_create", json!({ "scheme": scheme, "threshold": threshold, "wallet": name, "wait_ms": 300_000 }))
        .unwrap();
    assert_eq!(created["session"]["status"], "key_ready", "{created}");
    created
}

/// `tx` once confirmed or failed at `node` (waiting through its resume).
pub fn tx_settled(node: &NodeProc, tx: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(v) = node.call("tx_get", json!({ "tx": tx, "wait_ms": 10_000 })) {
            if v["status"] == "confirmed" || v["status"] == "failed" {
                return v;
            }
        }
        assert!(Instant::now() < deadline, "{tx} never settled at node {}", node.party);
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every metric a panel of `configs/grafana-dashboard.json` queries is one the node exports
/// (by family: `_total`, `_bucket`, `_sum`, `_count` name the family's samples).
pub fn dashboard_metrics_exported(node: &NodeProc) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/grafana-dashboard.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 5, "the dashboard has {} queries", exprs.len());
    let text = node.metrics_text();
    let families: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    let exported = |name: &str| {
        let family = ["_bucket", "_sum", "_count", "_total", "_created", "_info"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        families.contains(name) || families.contains(family)
    };
    let mut missing = BTreeSet::new();
    for expr in &exprs {
        for name in metric_names(expr) {
            if !exported(&name) {
                missing.insert(name);
            }
        }
    }
    assert!(missing.is_empty(), "the dashboard queries metrics the node does not export: {missing:?}");
}

fn collect_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("expr", Value::String(s)) => out.push(s.clone()),
                    _ => collect_exprs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_exprs(x, out)),
        _ => {}
    }
}

/// The `mpc_...` identifiers in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if boundary && expr[i..].starts_with("mpc_") {
            let end = expr[i..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(expr.len(), |e| i + e);
            names.push(expr[i..end].to_owned());
            i = end;
        } else {
            i += 1;
        }
    }
    names
}

/// A process speaking on the network with `node`'s identity and address (the node itself must
/// be down): what a member turned hostile can send. Returns once it reaches `peers` members.
pub async fn impostor(
    node: &NodeProc,
    peers: usize,
) -> (network::p2p::NetworkHandle, tokio::sync::mpsc::Receiver<network::p2p::NetEvent>) {
    use network::p2p::{self, Member, P2pConfig};
    let config = &node.config;
    let committee = config
        .committee
        .iter()
        .map(|m| Member { party: m.party, peer_id: m.peer_id.clone(), address: m.address.clone() })
        .collect();
    let (handle, events) = p2p::start(P2pConfig {
        me: node.party,
        identity_file: config.node.data_dir.join(node::init::IDENTITY_FILE),
        listen: config.network.listen.clone(),
        committee,
        max_message_bytes: config.network.max_message_bytes,
        redial_interval: Duration::from_millis(200),
    })
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while handle.connected().await.unwrap().len() < peers {
        assert!(Instant::now() < deadline, "the impostor of node {} never reached {peers} members", node.party);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (handle, events)
}
