//! Following a long ceremony or transfer: polls the node and draws a progress bar on stderr
//! once the work has run for a second (never when stderr is not a terminal or with `--json`).

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};

use super::{Client, ClientError};

const POLL: Duration = Duration::from_millis(200);
const SHOW_AFTER: Duration = Duration::from_secs(1);

/// A bar that shows itself after [`SHOW_AFTER`] unless `quiet`.
struct Bar {
    bar: ProgressBar,
    started: Instant,
    quiet: bool,
    shown: bool,
}

impl Bar {
    fn new(label: &str, quiet: bool) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        let style = ProgressStyle::with_template("{spinner} {prefix} [{elapsed}] {wide_bar} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(label.to_owned());
        Self { bar, started: Instant::now(), quiet, shown: false }
    }

    fn tick(&mut self) {
        if !self.quiet && !self.shown && self.started.elapsed() >= SHOW_AFTER {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
        self.bar.tick();
    }

    fn done(&self) {
        self.bar.finish_and_clear();
    }
}

fn is_final(status: &str) -> bool {
    !matches!(status, "proposed" | "running")
}

/// What a session's progress says, for the bar: (done, total, message).
pub fn describe(view: &Value) -> (u64, Option<u64>, String) {
    let p = &view["progress"];
    let completed = p["completed"].as_u64().unwrap_or(0);
    let total = p["total"].as_u64();
    let waiting: Vec<String> =
        p["waiting"].as_array().map(|w| w.iter().map(|x| x.to_string()).collect()).unwrap_or_default();
    let status = view["status"].as_str().unwrap_or("?");
    // Rounds are counted as this node got through them: CGGMP24's own round numbers are not
    // in time order.
    let msg = match (status, p.is_null(), waiting.is_empty()) {
        ("proposed", ..) => "waiting for the members to accept".to_owned(),
        ("running", true, _) => "starting".to_owned(),
        ("running", false, false) => format!("round {}: waiting for party {}", completed + 1, waiting.join(",")),
        ("running", false, true) => format!("round {}: computing", completed + 1),
        (s, ..) => s.to_owned(),
    };
    (completed, total, msg)
}

/// Polls `session` until it ends; returns its final view, or the node's typed error if it
/// failed.
pub fn follow_session(client: &Client, session: &str, label: &str, quiet: bool) -> Result<Value, ClientError> {
    let mut bar = Bar::new(label, quiet);
    loop {
        let view = client.call("session_get", json!({ "session": session }))?;
        let status = view["status"].as_str().unwrap_or("");
        if is_final(status) {
            bar.done();
            if matches!(status, "failed" | "refused") {
                // The waiting form answers a failed session with its typed error and code.
                return client.call("session_get", json!({ "session": session, "wait_ms": 1 }));
            }
            return Ok(view);
        }
        let (completed, total, msg) = describe(&view);
        if let Some(t) = total {
            bar.bar.set_length(t);
        }
        bar.bar.set_position(completed);
        bar.bar.set_message(msg);
        bar.tick();
        std::thread::sleep(POLL);
    }
}

/// Polls transfer `tx` until confirmed or failed, the bar showing its last step.
pub fn follow_tx(client: &Client, tx: &str, quiet: bool) -> Result<Value, ClientError> {
    // initiated, signed, broadcast, confirmed: the steps a transfer goes through.
    const STEPS: [&str; 4] =
        ["TransactionInitiated", "TransactionSigned", "TransactionBroadcast", "TransactionConfirmed"];
    let mut bar = Bar::new(tx, quiet);
    bar.bar.set_length(STEPS.len() as u64);
    loop {
        let view = client.call("tx_get", json!({ "tx": tx, "wait_ms": 500 }))?;
        let status = view["status"].as_str().unwrap_or("");
        if matches!(status, "confirmed" | "failed") {
            bar.done();
            return Ok(view);
        }
        let events = view["events"].as_array().cloned().unwrap_or_default();
        let reached = events
            .iter()
            .filter_map(|e| e["type"].as_str())
            .filter_map(|t| STEPS.iter().position(|s| *s == t))
            .max()
            .map_or(0, |i| i + 1);
        bar.bar.set_position(reached as u64);
        bar.bar.set_message(status.to_owned());
        bar.tick();
    }
}
