//! A scenario builder for end-to-end tests, in the spirit of Malachite's test builder: describe
//! a committee, the steps (ceremonies and faults: kill, restart, pause a node so its messages
//! are late), and what each node must end with. It runs against real `mpc-node` processes.
//!
//! ```no_run
//! use testnet::scenario::{Expect, Outcome, Scenario};
//! Scenario::new(5, 3)
//!     .wallet(0, "frost-ed25519", "w")
//!     .kill(4)
//!     .sign(1, "w", None, Outcome::Signed)
//!     .restart(4)
//!     .expect(4, Expect::HasWallet("w".into()))
//!     .run()
//!     .unwrap();
//! ```

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::net::{self, NodeState, State, UpArgs};

/// How a signing must end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A valid signature.
    Signed,
    /// The ceremony ran and failed, blaming this party.
    FailsBlaming(u16),
    /// Refused before it started (a member declined, or not enough were connected).
    Refused,
}

/// What a node must end with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// It holds this wallet.
    HasWallet(String),
    /// It sees this many other members.
    Connected(usize),
    /// Its journal verifies.
    JournalVerifies,
}

#[derive(Clone, Debug)]
enum Step {
    Wallet { via: u16, scheme: String, name: String },
    Sign { via: u16, wallet: String, signers: Option<Vec<u16>>, outcome: Outcome },
    Kill(u16),
    Restart(u16),
    Pause { node: u16, for_ms: u64 },
    Wait(u64),
    Faults { node: u16, faults: actors::faults::Faults },
}

/// A scenario: committee, steps, expectations.
pub struct Scenario {
    nodes: u16,
    threshold: u16,
    round_timeout_ms: u64,
    steps: Vec<Step>,
    expects: Vec<(u16, Expect)>,
}

/// What happened, for the test's own checks.
#[derive(Debug, Default)]
pub struct Report {
    /// Each signing's session as `session_get` showed it, in order.
    pub signings: Vec<Value>,
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
}

impl Scenario {
    /// `nodes` members, wallets of `threshold`.
    pub fn new(nodes: u16, threshold: u16) -> Self {
        Self { nodes, threshold, round_timeout_ms: 30_000, steps: Vec::new(), expects: Vec::new() }
    }

    /// The nodes' per-round timeout.
    pub fn round_timeout_ms(mut self, ms: u64) -> Self {
        self.round_timeout_ms = ms;
        self
    }

    /// A DKG through node `via`.
    pub fn wallet(mut self, via: u16, scheme: &str, name: &str) -> Self {
        self.steps.push(Step::Wallet { via, scheme: scheme.into(), name: name.into() });
        self
    }

    /// A signing requested at `via` (signers chosen by the node unless given).
    pub fn sign(mut self, via: u16, wallet: &str, signers: Option<Vec<u16>>, outcome: Outcome) -> Self {
        self.steps.push(Step::Sign { via, wallet: wallet.into(), signers, outcome });
        self
    }

    /// SIGKILL a node.
    pub fn kill(mut self, node: u16) -> Self {
        self.steps.push(Step::Kill(node));
        self
    }

    /// Start a killed node again (same data, same identity).
    pub fn restart(mut self, node: u16) -> Self {
        self.steps.push(Step::Restart(node));
        self
    }

    /// Freeze a node (SIGSTOP) for `for_ms`, then let it go on: everything it sends or
    /// receives meanwhile is late. The next steps run while it is frozen.
    pub fn pause(mut self, node: u16, for_ms: u64) -> Self {
        self.steps.push(Step::Pause { node, for_ms });
        self
    }

    /// Restart a node with these faults injected into its outgoing ceremony messages (delay,
    /// jitter, drop, corrupt): a slow, silent or cheating member on purpose.
    pub fn faults(mut self, node: u16, faults: actors::faults::Faults) -> Self {
        self.steps.push(Step::Faults { node, faults });
        self
    }

    /// Sleep between steps.
    pub fn wait(mut self, ms: u64) -> Self {
        self.steps.push(Step::Wait(ms));
        self
    }

    /// Something node `node` must end with.
    pub fn expect(mut self, node: u16, expect: Expect) -> Self {
        self.expects.push((node, expect));
        self
    }

    /// Runs it in a fresh temporary directory; stops every process at the end.
    pub fn run(self) -> Result<Report, String> {
        let dir = std::env::temp_dir().join(format!("mpc-scenario-{}-{}", std::process::id(), rand_suffix()));
        let mut args = UpArgs::new(dir.clone(), self.nodes, self.threshold);
        args.chains = false;
        args.round_timeout_ms = self.round_timeout_ms;
        let state = net::up(&args, &|_| {}).map_err(|e| e.to_string())?;
        let mut guard = Guard { state, dir };
        let result = self.steps_and_checks(&mut guard.state);
        drop(guard);
        result
    }

    fn steps_and_checks(&self, state: &mut State) -> Result<Report, String> {
        let mut report = Report::default();
        for (k, step) in self.steps.iter().enumerate() {
            let at = |e: String| format!("step {k} ({step:?}): {e}");
            match step {
                Step::Wallet { via, scheme, name } => {
                    let params =
                        json!({ "scheme": scheme, "threshold": self.threshold, "wallet": name, "wait_ms": 120_000 });
                    let out = call(node(state, *via)?, "wallet_create", params).map_err(at)?;
                    if out["session"]["status"] != "key_ready" {
                        return Err(at(format!("keygen ended as {out}")));
                    }
                    for n in state.nodes.iter().filter(|n| net::alive(n.proc.pid)) {
                        eventually(|| call(n, "wallet_get", json!({ "wallet": name })).is_ok())
                            .map_err(|_| at(format!("node {} never stored it", n.party)))?;
                    }
                }
                Step::Sign { via, wallet, signers, outcome } => {
                    let mut params =
                        json!({ "wallet": wallet, "digest": hex::encode([k as u8; 32]), "wait_ms": 120_000 });
                    if let Some(s) = signers {
                        params["signers"] = json!(s);
                    }
                    let got = call(node(state, *via)?, "sign", params);
                    match (outcome, &got) {
                        (Outcome::Signed, Ok(v)) if v["status"] == "signed" => report.signings.push(v.clone()),
                        (Outcome::FailsBlaming(p), Err(e))
                            if ["-32015", "-32019", "-32020"].iter().any(|c| e.contains(c))
                                && e.contains(&format!("{p}")) => {}
                        (Outcome::Refused, Err(e))
                            if ["-32014", "-32018", "-32013", "-32602"].iter().any(|c| e.contains(c)) => {}
                        _ => return Err(at(format!("expected {outcome:?}, got {got:?}"))),
                    }
                }
                Step::Kill(n) => {
                    let p = node(state, *n)?.proc.pid;
                    signal(p, "-KILL");
                    eventually(|| !net::alive(p)).map_err(|_| at("still alive".into()))?;
                    // The others notice the connection closing.
                    std::thread::sleep(Duration::from_millis(500));
                }
                Step::Restart(n) => restart(state, *n).map_err(at)?,
                Step::Pause { node: n, for_ms } => {
                    let pid = node(state, *n)?.proc.pid;
                    signal(pid, "-STOP");
                    let ms = *for_ms;
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(ms));
                        signal(pid, "-CONT");
                    });
                }
                Step::Wait(ms) => std::thread::sleep(Duration::from_millis(*ms)),
                Step::Faults { node: n, faults } => {
                    let nd = node(state, *n)?;
                    let (pid, config) = (nd.proc.pid, nd.config.clone());
                    signal(pid, "-TERM");
                    eventually(|| !net::alive(pid)).map_err(|_| at("still alive".into()))?;
                    let text = std::fs::read_to_string(&config).map_err(|e| at(e.to_string()))?;
                    let mut c: node::config::Config = toml::from_str(&text).map_err(|e| at(e.to_string()))?;
                    c.faults = Some(faults.clone());
                    std::fs::write(&config, toml::to_string_pretty(&c).map_err(|e| at(e.to_string()))?)
                        .map_err(|e| at(e.to_string()))?;
                    restart(state, *n).map_err(at)?;
                }
            }
        }
        for (n, expect) in &self.expects {
            let nd = node(state, *n)?;
            let ok = match expect {
                Expect::HasWallet(w) => eventually(|| call(nd, "wallet_get", json!({ "wallet": w })).is_ok()).is_ok(),
                Expect::Connected(c) => eventually(|| {
                    call(nd, "node_info", json!({})).ok().and_then(|i| i["connected"].as_u64()) == Some(*c as u64)
                })
                .is_ok(),
                Expect::JournalVerifies => {
                    call(nd, "journal_verify", json!({})).map(|v| v["ok"] == true).unwrap_or(false)
                }
            };
            if !ok {
                return Err(format!("node {n} does not end with {expect:?}"));
            }
        }
        Ok(report)
    }
}

struct Guard {
    state: State,
    dir: PathBuf,
}

impl Drop for Guard {
    fn drop(&mut self) {
        // A paused node must be woken to stop cleanly.
        for n in &self.state.nodes {
            signal(n.proc.pid, "-CONT");
        }
        let _ = net::down(&self.state);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos() as u64).unwrap_or(0)
}

fn node(state: &State, n: u16) -> Result<&NodeState, String> {
    state.nodes.get(usize::from(n)).ok_or_else(|| format!("no node {n}"))
}

fn call(n: &NodeState, method: &str, params: Value) -> Result<Value, String> {
    n.call(method, params, Duration::from_secs(180)).map_err(|e| e.to_string())
}

fn eventually(mut check: impl FnMut() -> bool) -> Result<(), ()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if check() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(())
}

fn restart(state: &mut State, n: u16) -> Result<(), String> {
    let nd = state.nodes.get_mut(usize::from(n)).ok_or_else(|| format!("no node {n}"))?;
    nd.proc = net::respawn(&nd.config, &nd.proc).map_err(|e| e.to_string())?;
    let others = state.nodes.len() - 1;
    let nd = &state.nodes[usize::from(n)];
    eventually(|| call(nd, "node_info", json!({})).ok().and_then(|i| i["connected"].as_u64()) == Some(others as u64))
        .map_err(|_| format!("node {n} did not rejoin"))?;
    std::thread::sleep(Duration::from_millis(1500));
    Ok(())
}
