//! `mpc-node init` and `check-config` as a user runs them, and bad configs refused with the
//! field and the reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use node::config::Config;

fn mpc_node(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mpc-node")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn init(dir: &Path, party: u16) -> Config {
    let data = dir.join(format!("node{party}"));
    let (ok, stdout, stderr) = mpc_node(&[
        "init",
        "--data-dir",
        data.to_str().unwrap(),
        "--party",
        &party.to_string(),
        "--listen",
        &format!("/ip4/127.0.0.1/tcp/{}", 7100 + party),
        "--admin",
        &format!("127.0.0.1:{}", 8100 + party),
        "--metrics",
        &format!("127.0.0.1:{}", 9100 + party),
    ]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("peer id: 12D3KooW"), "{stderr}");
    toml::from_str(&stdout).unwrap()
}

#[test]
fn init_makes_private_files_and_a_config_that_checks() {
    let dir = tempfile::tempdir().unwrap();
    let configs: Vec<Config> = (0..3).map(|p| init(dir.path(), p)).collect();
    for f in ["identity.key", "vault.key", "admin.token"] {
        let mode = std::fs::metadata(dir.path().join("node0").join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    let committee: Vec<_> = configs.iter().map(|c| c.committee[0].clone()).collect();
    for (p, c) in configs.iter().enumerate() {
        let mut full = c.clone();
        full.committee = committee.clone();
        let path = dir.path().join(format!("node{p}.toml"));
        std::fs::write(&path, toml::to_string(&full).unwrap()).unwrap();
        let (ok, stdout, stderr) = mpc_node(&["check-config", "--config", path.to_str().unwrap()]);
        assert!(ok, "{stderr}");
        assert!(stdout.contains(&format!("party {p} of 3")), "{stdout}");
    }
    // The skeleton alone (one member) is refused: a committee needs two.
    let path = dir.path().join("alone.toml");
    std::fs::write(&path, toml::to_string(&configs[0]).unwrap()).unwrap();
    let (ok, _, stderr) = mpc_node(&["check-config", "--config", path.to_str().unwrap()]);
    assert!(!ok && stderr.contains("committee"), "{stderr}");
    // Another node's identity under this party is refused.
    let mut swapped = configs[0].clone();
    swapped.committee = committee.clone();
    swapped.committee.swap(0, 1);
    swapped.committee[0].party = 0;
    swapped.committee[1].party = 1;
    let path = dir.path().join("swapped.toml");
    std::fs::write(&path, toml::to_string(&swapped).unwrap()).unwrap();
    let (ok, _, stderr) = mpc_node(&["check-config", "--config", path.to_str().unwrap()]);
    assert!(!ok && stderr.contains("committee entry of party 0"), "{stderr}");
}

#[test]
fn init_never_overwrites_a_node() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), 0);
    let data = dir.path().join("node0");
    let (ok, _, stderr) = mpc_node(&["init", "--data-dir", data.to_str().unwrap(), "--party", "0"]);
    assert!(!ok && stderr.contains("refusing to overwrite"), "{stderr}");
}

#[test]
fn the_example_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/node.example.toml");
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.committee.len(), 5);
}

fn refused(edit: impl FnOnce(&mut String)) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/node.example.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    edit(&mut text);
    match Config::parse(&text, Path::new("test.toml")) {
        Ok(_) => panic!("accepted a bad config"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_configs_name_the_field_and_the_reason() {
    let e = refused(|t| *t = t.replace("round_timeout_ms", "round_timeout"));
    assert!(e.contains("round_timeout"), "typo'd keys are errors: {e}");
    let e = refused(|t| *t = t.replacen("party = 0\n", "party = 9\n", 1));
    assert!(e.contains("node.party"), "{e}");
    let e = refused(|t| *t = t.replace("party = 4", "party = 3"));
    assert!(e.contains("party 3 is listed twice"), "{e}");
    let e = refused(|t| *t = t.replace("party = 4", "party = 7"));
    assert!(e.contains("none missing"), "{e}");
    let e = refused(|t| *t = t.replace("127.0.0.1:8000", "localhost"));
    assert!(e.contains("admin.listen"), "{e}");
    let e = refused(|t| *t = t.replace("# passphrase_env", "passphrase_env"));
    assert!(e.contains("vault"), "{e}");
    let e = refused(|t| *t = t.replace("max_message_bytes = 4194304", "max_message_bytes = 10"));
    assert!(e.contains("network.max_message_bytes"), "{e}");
    let e = refused(|t| t.push_str("\n[surprise]\nx = 1\n"));
    assert!(e.contains("surprise"), "{e}");
}

#[test]
fn help_lists_the_commands() {
    let (ok, stdout, _) = mpc_node(&["--help"]);
    for command in [
        "init",
        "check-config",
        "run",
        "import-primes",
        "MPC_LOG",
        "wallet",
        "transfer",
        "sessions",
        "call",
        "completions",
    ] {
        assert!(ok && stdout.contains(command), "{command} missing from --help: {stdout}");
    }
}
