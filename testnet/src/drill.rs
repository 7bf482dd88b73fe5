//! `testnet drill`: the breaker's figures from real processes. One member (party 1) is made
//! slow, jittery, silent or cheating through the node's fault injection, and node 0 runs DKGs
//! and signings against it. Reported per scenario: success rate, mean time to detect the
//! faulty party, false aborts (a ceremony that failed although every party was honest, only
//! slow), and recovery (signings whose first attempt failed and that still ended signed).

use std::time::{Duration, Instant};

use actors::faults::{FaultRule, Faults};
use serde_json::{json, Value};

use crate::net::{self, NetError, State, UpArgs};
use crate::rpc::CallError;

/// The faulty party.
pub const FAULTY: u16 = 1;
/// Base round timeout of the drill's nodes, ms (short, so a silent party costs little).
pub const BASE_MS: u64 = 3_000;
const COOLDOWN_MS: u64 = 1_500;

/// One scenario's figures.
#[derive(Clone, Debug)]
pub struct Row {
    /// Scenario.
    pub scenario: &'static str,
    /// DKGs run, and how many produced a wallet on every member.
    pub dkgs: (usize, usize),
    /// Signings run, and how many signed.
    pub signs: (usize, usize),
    /// Times the faulty party was flagged, ms after its ceremony began (detection).
    pub detect_ms: Vec<u64>,
    /// Ceremonies that failed although the faulty party was only slow (honest scenarios).
    pub false_aborts: usize,
    /// Signings whose first attempt failed: how many, and how many still signed.
    pub recovered: (usize, usize),
}

fn faults(scenario: &str) -> Option<Faults> {
    let rule = match scenario {
        "honest" => return None,
        "slow" => FaultRule { delay_ms: 300, ..Default::default() },
        "jittery" => FaultRule { jitter_ms: 600, ..Default::default() },
        "silent" => FaultRule { drop_percent: 100, ..Default::default() },
        _ => FaultRule { corrupt_percent: 100, ..Default::default() },
    };
    Some(Faults { rule: vec![rule], ..Faults::default() })
}

fn honest(scenario: &str) -> bool {
    matches!(scenario, "honest" | "slow" | "jittery")
}

fn call(state: &State, n: u16, method: &str, params: Value) -> Result<Value, CallError> {
    state.nodes[usize::from(n)].call(method, params, Duration::from_secs(120))
}

/// Stops node `n`, changes its config, starts it again and waits until it sees everyone.
fn reconfigure(state: &mut State, n: u16, change: impl FnOnce(&mut node::config::Config)) -> Result<(), NetError> {
    let nd = &state.nodes[usize::from(n)];
    let _ = std::process::Command::new("kill").args(["-TERM", &nd.proc.pid.to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while net::alive(nd.proc.pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&nd.config).map_err(|e| NetError::Msg(e.to_string()))?;
    let mut config: node::config::Config = toml::from_str(&text).map_err(|e| NetError::Msg(e.to_string()))?;
    change(&mut config);
    let text = toml::to_string_pretty(&config).map_err(|e| NetError::Msg(e.to_string()))?;
    std::fs::write(&nd.config, text).map_err(|e| NetError::Msg(e.to_string()))?;
    let proc = net::respawn(&nd.config, &nd.proc)?;
    state.nodes[usize::from(n)].proc = proc;
    let others = state.nodes.len() as u64 - 1;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = call(state, n, "node_info", json!({})).ok().and_then(|i| i["connected"].as_u64());
        if seen == Some(others) {
            break;
        }
        if Instant::now() > deadline {
            return Err(NetError::Msg(format!("node {n} did not rejoin")));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    Ok(())
}

/// When node 0 flagged the faulty party in `session`, ms after the session began: its own
/// flag, or the failure that named it.
fn detection(state: &State, session: &str) -> Option<u64> {
    let s = call(state, 0, "session_get", json!({ "session": session })).ok()?;
    if s["detected"]["party"] == FAULTY {
        return s["detected"]["after_ms"].as_u64();
    }
    Some(s["finished_ms"].as_u64()?.saturating_sub(s["started_ms"].as_u64()?))
}

fn sign_sessions(state: &State) -> usize {
    call(state, 0, "session_list", json!({ "limit": 4096 }))
        .ok()
        .and_then(|l| l.as_array().map(|a| a.iter().filter(|s| s["kind"] == "sign").count()))
        .unwrap_or(0)
}

fn scenario(state: &State, name: &'static str, runs: usize, log: &dyn Fn(&str)) -> Row {
    let mut row =
        Row { scenario: name, dkgs: (0, 0), signs: (0, 0), detect_ms: Vec::new(), false_aborts: 0, recovered: (0, 0) };
    for i in 0..runs {
        let wallet = format!("drill-{name}-{i}");
        let params = json!({ "scheme": "frost-ed25519", "threshold": 3, "wallet": wallet, "wait_ms": 60_000 });
        row.dkgs.0 += 1;
        match call(state, 0, "wallet_create", params) {
            Ok(v) => {
                row.dkgs.1 += 1;
                if let Some(ms) = v["session"]["session"].as_str().and_then(|s| detection(state, s)) {
                    if !honest(name) {
                        row.detect_ms.push(ms);
                    }
                }
            }
            Err(CallError::Rpc { code, data, message, .. }) => {
                if honest(name) {
                    row.false_aborts += 1;
                    log(&format!("{name}: DKG {i} failed ({code}): {message}"));
                } else if let Some(ms) = data["session"].as_str().and_then(|s| detection(state, s)) {
                    row.detect_ms.push(ms);
                }
                // The breaker cools down after a failed DKG: wait it out before the next.
                std::thread::sleep(Duration::from_millis(COOLDOWN_MS + 200));
            }
            Err(e) => log(&format!("{name}: DKG {i}: {e}")),
        }
    }
    for i in 0..runs {
        // Honest scenarios fix the faulty party among the signers (does a slow one still
        // sign?); the others let node 0 choose (does it steer around a bad one?).
        let mut params =
            json!({ "wallet": "drill", "message": hex::encode(format!("drill {name} {i}")), "wait_ms": 60_000 });
        if honest(name) {
            params["signers"] = json!([0, FAULTY, 2]);
        }
        let before = sign_sessions(state);
        row.signs.0 += 1;
        let result = call(state, 0, "sign", params);
        let attempts = sign_sessions(state).saturating_sub(before);
        let signed = matches!(&result, Ok(v) if v["status"] == "signed");
        if signed {
            row.signs.1 += 1;
        } else if honest(name) {
            row.false_aborts += 1;
            log(&format!("{name}: signing {i} failed: {result:?}"));
        }
        if attempts > 1 {
            row.recovered.0 += 1;
            row.recovered.1 += usize::from(signed);
        }
    }
    if let Ok(peers) = call(state, 0, "node_peers", json!({})) {
        if let Some(p) = peers.as_array().and_then(|a| a.iter().find(|p| p["party"] == FAULTY)) {
            log(&format!(
                "{name}: node 0 sees party {FAULTY} at health {:.2}, reputation {:.2}, p50 {} ms, {} stragglers, blamed {} silent / {} cheating",
                p["health"].as_f64().unwrap_or(0.0),
                p["reputation"].as_f64().unwrap_or(0.0),
                p["p50_ms"],
                p["stragglers"],
                p["blamed_silent"],
                p["blamed_cheating"]
            ));
        }
    }
    row
}

/// Brings up a 5-node committee (no chains) in `dir`, runs every scenario `runs` times, stops it.
pub fn run(dir: &std::path::Path, runs: usize, log: &dyn Fn(&str)) -> Result<Vec<Row>, NetError> {
    let mut args = UpArgs::new(dir.to_owned(), 5, 3);
    args.chains = false;
    args.round_timeout_ms = BASE_MS;
    let mut state = net::up(&args, log)?;
    let result = (|| {
        for n in 0..state.nodes.len() as u16 {
            reconfigure(&mut state, n, |c| {
                c.ceremony.max_round_timeout_ms = 3 * BASE_MS;
                c.ceremony.peer_grace_ms = BASE_MS;
                c.breaker.cooldown_ms = COOLDOWN_MS;
            })?;
        }
        let params = json!({ "scheme": "frost-ed25519", "threshold": 3, "wallet": "drill", "wait_ms": 60_000 });
        call(&state, 0, "wallet_create", params).map_err(|e| NetError::Msg(e.to_string()))?;
        std::thread::sleep(Duration::from_millis(500));
        let mut rows = Vec::new();
        for name in ["honest", "slow", "jittery", "silent", "cheating"] {
            log(&format!(
                "scenario {name}: party {FAULTY} {}",
                faults(name).map(|f| f.describe()).unwrap_or_else(|| "honest".into())
            ));
            reconfigure(&mut state, FAULTY, |c| c.faults = faults(name))?;
            rows.push(scenario(&state, name, runs, log));
        }
        Ok(rows)
    })();
    let _ = net::down(&state);
    result
}

fn rate(part: usize, whole: usize) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1} % ({part}/{whole})", 100.0 * part as f64 / whole as f64)
    }
}

/// The table, one line per scenario, and the four figures over all of them.
pub fn table(rows: &[Row]) -> String {
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let detect = if r.detect_ms.is_empty() {
                "-".into()
            } else {
                format!("{:.0} ms", r.detect_ms.iter().sum::<u64>() as f64 / r.detect_ms.len() as f64)
            };
            vec![
                r.scenario.to_owned(),
                rate(r.dkgs.1, r.dkgs.0),
                rate(r.signs.1, r.signs.0),
                detect,
                r.false_aborts.to_string(),
                rate(r.recovered.1, r.recovered.0),
            ]
        })
        .collect();
    let mut out = net::table(
        &["scenario", "DKG success", "signing success", "time to detect", "false aborts", "recovered"],
        &lines,
    );
    let honest_rows: Vec<&Row> = rows.iter().filter(|r| honest(r.scenario)).collect();
    let attempts: usize = honest_rows.iter().map(|r| r.dkgs.0 + r.signs.0).sum();
    let ok: usize = honest_rows.iter().map(|r| r.dkgs.1 + r.signs.1).sum();
    let false_aborts: usize = honest_rows.iter().map(|r| r.false_aborts).sum();
    let detect: Vec<u64> = rows.iter().flat_map(|r| r.detect_ms.iter().copied()).collect();
    let rec = rows.iter().fold((0, 0), |a, r| (a.0 + r.recovered.0, a.1 + r.recovered.1));
    out.push_str(&format!(
        "\nsuccess with one slow or jittery party: {}\nmean time to detect a failing party: {}\nfalse aborts: {}\nrecovery (signings whose first attempt failed, signed anyway): {}\ncheckpoint savings: not measured (DKGs restart whole; see README)\n",
        rate(ok, attempts),
        if detect.is_empty() { "-".into() } else { format!("{:.0} ms", detect.iter().sum::<u64>() as f64 / detect.len() as f64) },
        rate(false_aborts, attempts),
        rate(rec.1, rec.0),
    ));
    out
}
