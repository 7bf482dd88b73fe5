//! The live console in a real headless Chromium (Debian's `chromium`, installed by
//! `scripts/install-deps.sh`) against real nodes on loopback: a wallet, a Solana transfer
//! (LiteSVM), signings and a limiter refusal, then the page as the browser rendered it, and a
//! screenshot (`$CARGO_TARGET_TMPDIR/console.png`; `MPC_CONSOLE_SCREENSHOT=<path>` keeps a copy).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::chain_software;
use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{chain_call, cluster, mpc_node, rpc, start_all, NodeProc};
use node::config::ChainSection;
use serde_json::json;

const SOL_TO: &str = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin";

fn chromium() -> &'static str {
    let path = "/usr/bin/chromium";
    assert!(Path::new(path).exists(), "Debian's chromium is missing: run scripts/install-deps.sh");
    path
}

/// Chromium, headless, on the console page of `node` with its admin token in the fragment.
fn browse(node: &NodeProc, profile: &Path, extra: &[&str]) -> std::process::Output {
    let url = format!("http://{}/console#token={}", node.admin, node.token);
    Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.display()))
        // Virtual time: the page's 2 s and 10 s refreshes run several times, with no wall wait.
        .arg("--virtual-time-budget=25000")
        .args(extra)
        .arg(url)
        .output()
        .unwrap()
}

#[test]
fn the_console_shows_the_committee_ceremonies_wallets_transactions_audit_and_refusals() {
    let svm = chain_software::litesvm();
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 3);
    for n in nodes.iter_mut() {
        n.reconfigure(|c| c.chain = vec![ChainSection::new("solana", &svm.url, "litesvm")]);
    }
    start_all(&mut nodes);

    // A wallet, a transfer and signings, through the client commands.
    let token = nodes[0].config.node.data_dir.join("admin.token");
    let cli = |args: &[&str]| {
        let out = mpc_node()
            .args(["--node", &nodes[0].admin, "--token-file", token.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "mpc-node {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let created = cli(&["wallet", "create", "--scheme", "frost-ed25519", "--threshold", "2", "--name", "treasury"]);
    let from = created.lines().find_map(|l| l.split("solana: ").nth(1)).unwrap().trim().to_owned();
    common::held_everywhere(&nodes, "treasury");
    chain_call(&svm.url, "requestAirdrop", json!([from, 1_000_000_000u64]));
    let sent = cli(&["transfer", "treasury", "--chain", "solana", "--to", SOL_TO, "--amount", "250000000"]);
    assert!(sent.contains("confirmed"), "{sent}");
    let balance = cli(&["balance", "treasury"]);
    assert!(balance.contains("solana"), "{balance}");
    for i in 0..3 {
        cli(&["sign", "treasury", "--message", &format!("0{i}")]);
    }

    // A client key of one signing a minute: its second and third are refused and journaled.
    let out = mpc_node()
        .args(["keys", "--config", nodes[0].config_path.to_str().unwrap()])
        .args(["create", "--name", "tight-app", "--role", "client", "--per-minute", "1"])
        .output()
        .unwrap();
    let secret = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    while rpc(&nodes[0].admin, Some(&secret), "node_info", json!({})).0 != 200 {
        assert!(Instant::now() < deadline, "the new key was not picked up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut refused = 0;
    for i in 0..4 {
        let params = json!({ "wallet": "treasury", "message": format!("1{i}"), "wait_ms": 30_000 });
        if let Err(e) = rpc(&nodes[0].admin, Some(&secret), "sign", params).1 {
            assert_eq!(e["code"], -32021, "{e}");
            refused += 1;
        }
    }
    assert!(refused >= 1, "the tight key was never refused");
    // The limiter journals refusals coalesced, within a second.
    std::thread::sleep(Duration::from_millis(1500));

    // The page without a token shows the token form and nothing else.
    let page = mpc_node_console_raw(&nodes[0]);
    assert!(page.contains("<title>mpc-node console</title>") && !page.contains("treasury"));

    let profile = tempfile::tempdir().unwrap();
    let out = browse(&nodes[0], profile.path(), &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    let expect = |what: &str, needle: &str| {
        assert!(dom.contains(needle), "the console does not show {what} ({needle:?}); DOM:\n{dom}");
    };
    expect("this node", "party 0 of 3");
    expect("the breaker", "DKG breaker closed");
    expect("the journal check", "hash chain verified");
    expect("the store", "store writable");
    expect("the wallet", "treasury");
    expect("its Solana address", &from);
    expect("a signing", ">sign<");
    expect("the keygen", ">keygen<");
    expect("a signed session", ">signed<");
    expect("the latency plot's points", "class=\"point\"");
    expect("the health plot", "data-party=\"1\"");
    expect("the transfer's steps", "TransactionConfirmed");
    expect("the transfer", "250000000");
    expect("the limiter's refusal", "tight-app");
    expect("the audit trail", "WalletCreated");
    assert!(dom.contains("<div id=\"error\"></div>"), "the page shows an error: {dom}");

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console.png");
    let _ = std::fs::remove_file(&shot);
    let out =
        browse(&nodes[0], profile.path(), &[&format!("--screenshot={}", shot.display()), "--window-size=1400,1500"]);
    assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "screenshot of {} bytes", png.len());
    if let Ok(keep) = std::env::var("MPC_CONSOLE_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

/// The page as served, without a browser or a token.
fn mpc_node_console_raw(node: &NodeProc) -> String {
    let mut resp = common::agent().get(&format!("http://{}/console", node.admin)).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let csp = resp.headers().get("content-security-policy").unwrap().to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"), "{csp}");
    resp.body_mut().read_to_string().unwrap()
}
