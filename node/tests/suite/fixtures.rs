//! The committed committees (`node/tests/fixtures/committee-{2,3,5}/`): backups of real nodes
//! that ran their CGGMP24 committee setup, restored by `common::cluster_set_up` for the tests
//! that need CGGMP24 wallets but are not about the setup. Rewritten by hand after a change to
//! what a node stores:
//! `./scripts/test.sh --run-ignored only -E 'test(write_committee_fixtures)'` (`MPC_COMMITTEES=2`
//! rewrites only that size).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;

use crate::common::{cluster, committee_fixture, import_primes_from, mpc_node, start_all, FIXTURE_PASSPHRASE};

/// Prime sets in `protocol/tests/fixtures/primes.bin`.
const PRIME_SETS: usize = 9;

#[test]
#[ignore = "rewrites the committed committee backups"]
fn write_committee_fixtures() {
    let sizes = std::env::var("MPC_COMMITTEES").unwrap_or_else(|_| "2,3,5".into());
    for n in sizes.split(',').map(|n| n.trim().parse::<u16>().unwrap()) {
        let dir = tempfile::tempdir().unwrap();
        let mut nodes = cluster(dir.path(), n);
        // The last sets of the file: the tests import theirs from the first, so a refresh of a
        // restored committee never gets the Paillier keys it already has.
        import_primes_from(&nodes, PRIME_SETS - usize::from(n), 1);
        start_all(&mut nodes);
        let setup = nodes[0].call("committee_setup", json!({ "scheme": "cggmp24", "wait_ms": 600_000 })).unwrap();
        assert_eq!(setup["status"], "setup_ready", "{setup}");
        for node in nodes.iter() {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while !cggmp24_ready(node) {
                assert!(std::time::Instant::now() < deadline, "node {} never set up", node.party);
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        let out_dir = committee_fixture(n);
        std::fs::create_dir_all(&out_dir).unwrap();
        for node in nodes.iter_mut() {
            assert!(node.terminate().success());
            let file = out_dir.join(format!("node{}.mpcbak", node.party));
            let _ = std::fs::remove_file(&file);
            let out = mpc_node()
                .args(["backup", "create", "--config", node.config_path.to_str().unwrap()])
                .args(["--out", file.to_str().unwrap()])
                .env("MPC_BACKUP_PASSPHRASE", FIXTURE_PASSPHRASE)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

/// Whether `node` stored its CGGMP24 committee setup.
pub fn cggmp24_ready(node: &crate::common::NodeProc) -> bool {
    let info = node.call("node_info", json!({})).unwrap();
    info["schemes"].as_array().unwrap().iter().any(|s| s["scheme"] == "cggmp24" && s["ready"] == true)
}
