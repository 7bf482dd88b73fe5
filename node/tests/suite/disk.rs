//! A member whose disk fills: real processes, the member's data directory on a small tmpfs of
//! its own. Under its free-space floor it refuses new ceremonies (its own with code -32026,
//! its peers' with a typed decline), says so in `node_info` and the metrics, keeps what it
//! had, and takes part again once space is freed. (A failed fsync, which fails the journal
//! closed until restart, is tested in process: `actors/tests/suite/manager.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::json;

const WAIT: u64 = 120_000;
const STORE_REFUSES: i64 = -32026;
const REFUSED: i64 = -32014;

/// A tmpfs mounted for the test, unmounted when dropped (after the nodes, declared later).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size_mb: u64) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mb}m"), "tmpfs", at.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test mounts a tmpfs (it needs root, as CI has): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(at.to_owned())
    }

    fn free_bytes(&self) -> u64 {
        let out = Command::new("df").args(["-B1", "--output=avail"]).arg(&self.0).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse().unwrap()
    }

    /// Fills it with a file until `left` bytes (about) remain free.
    fn fill_to(&self, left: u64) -> PathBuf {
        let filler = self.0.join("filler");
        let len = self.free_bytes().saturating_sub(left);
        let out = Command::new("fallocate").args(["-l", &len.to_string()]).arg(&filler).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn store_state(node: &NodeProc) -> serde_json::Value {
    node.call("node_info", json!({})).unwrap()["store"].clone()
}

#[test]
fn a_member_under_its_disk_floor_refuses_new_ceremonies_and_keeps_what_it_had() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(&dir.path().join("node2"), 512);
    let mut nodes = cluster(dir.path(), 3);
    nodes[2].reconfigure(|c| c.node.min_free_disk_mb = 128);
    start_all(&mut nodes);

    create_wallet(&nodes[0], "frost-ed25519", "disk");
    // The proposer has its share; the others store theirs a moment later.
    for n in &nodes[1..] {
        n.call_until("wallet_get", json!({ "wallet": "disk" }), 30);
    }
    let sign = |via: &NodeProc, signers: [u16; 2], text: &str| {
        via.call("sign", json!({ "wallet": "disk", "message": hex::encode(text), "signers": signers, "wait_ms": WAIT }))
    };
    let ok = sign(&nodes[2], [1, 2], "before").unwrap();
    assert_eq!(ok["status"], "signed", "{ok}");
    assert_eq!(store_state(&nodes[2])["writable"], true);
    assert!(nodes[2].metrics_text().contains("mpc_store_writable 1"));
    let head_before = nodes[2].call("node_info", json!({})).unwrap()["journal_head"].as_u64().unwrap();

    // The disk fills to 64 MiB free, under the member's 128 MiB floor.
    let filler = disk.fill_to(64 << 20);
    let state = store_state(&nodes[2]);
    assert_eq!(state["writable"], false, "{state}");
    assert!(state["refusal"].as_str().unwrap().contains("min_free_disk_mb"), "{state}");
    assert!(nodes[2].metrics_text().contains("mpc_store_writable 0"));

    // Its own proposal: refused before anything is sent, with its own code.
    let own = sign(&nodes[2], [1, 2], "while full").unwrap_err();
    assert_eq!(own["code"], STORE_REFUSES, "{own}");
    assert!(own["message"].as_str().unwrap().contains("refuses new ceremonies"), "{own}");
    // A keygen too.
    let keygen = nodes[2]
        .call("wallet_create", json!({ "scheme": "frost-ed25519", "threshold": 2, "wallet": "full", "wait_ms": WAIT }))
        .unwrap_err();
    assert_eq!(keygen["code"], STORE_REFUSES, "{keygen}");
    // A peer's proposal naming it: declined, and the decline says why.
    let theirs = sign(&nodes[0], [0, 2], "asked while full").unwrap_err();
    assert_eq!(theirs["code"], REFUSED, "{theirs}");
    assert!(theirs["message"].as_str().unwrap().contains("store refuses new ceremonies"), "{theirs}");
    // The others carry on without it.
    assert_eq!(sign(&nodes[0], [0, 1], "the others sign").unwrap()["status"], "signed");
    // Nothing of the refused ceremonies was half-written on the full member: at most the
    // records of what it declined.
    let verify = nodes[2].call("journal_verify", json!({})).unwrap();
    assert_eq!(verify["ok"], true, "{verify}");

    // Space freed: it takes part again, with the share it had.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store_state(&nodes[2])["writable"] != true {
        assert!(Instant::now() < deadline, "the member did not notice the freed space");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(sign(&nodes[2], [1, 2], "after").unwrap()["status"], "signed");
    assert_eq!(sign(&nodes[0], [0, 2], "after, asked").unwrap()["status"], "signed");
    let head_after = nodes[2].call("node_info", json!({})).unwrap()["journal_head"].as_u64().unwrap();
    assert!(head_after > head_before);
    assert_eq!(nodes[2].call("journal_verify", json!({})).unwrap()["ok"], true);
}
