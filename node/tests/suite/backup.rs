//! Backups with real processes: a running member backs itself up through the RPC; its data
//! directory is wiped; the backup restored on a clean directory rejoins and signs. A backup
//! taken before a refresh holds a share the others no longer match: it cannot sign. A wrong
//! passphrase and a tampered file are refused with their own errors, by the CLI and the RPC.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::independent;

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::common::{cluster, create_wallet, mpc_node, sees_peers, start_all, NodeProc};
use serde_json::{json, Value};

const PASSPHRASE: &str = "correct horse battery staple";
const LONG: u64 = 300_000;

fn sign(via: &NodeProc, signers: &[u16], seed: u8) -> Result<(Vec<u8>, Value), Value> {
    let message = independent::message_for("frost-ed25519", seed);
    let signed = via.call(
        "sign",
        json!({ "wallet": "bk", "message": hex::encode(&message), "signers": signers, "wait_ms": LONG }),
    )?;
    Ok((message, signed))
}

fn signs(via: &NodeProc, key: &str, signers: &[u16], seed: u8) {
    let (message, signed) = sign(via, signers, seed).unwrap_or_else(|e| panic!("{signers:?}: {e}"));
    assert_eq!(signed["status"], "signed", "{signed}");
    let sig = protocol::Signature {
        bytes: hex::decode(signed["signature"]["signature"].as_str().unwrap()).unwrap(),
        recovery_id: None,
    };
    independent::verify_independently("frost-ed25519", &hex::decode(key).unwrap(), &message, &sig);
}

fn backup(node: &NodeProc, name: &str) -> PathBuf {
    let out = node.call("backup_create", json!({ "name": name })).unwrap();
    assert!(out["files"].as_u64().unwrap() > 3, "{out}");
    PathBuf::from(out["file"].as_str().unwrap())
}

fn cli(args: &[&str], passphrase: &str) -> (bool, String) {
    let out = mpc_node().arg("backup").args(args).env("MPC_BACKUP_PASSPHRASE", passphrase).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Restores `file` into a fresh directory and runs `node` from it.
fn restore_and_start(node: &mut NodeProc, file: &Path, into: &Path) {
    let (ok, out) =
        cli(&["restore", "--file", file.to_str().unwrap(), "--data-dir", into.to_str().unwrap()], PASSPHRASE);
    assert!(ok, "{out}");
    node.config_path = into.join("node.toml");
    node.config = toml::from_str(&std::fs::read_to_string(&node.config_path).unwrap()).unwrap();
    assert_eq!(node.config.node.data_dir, into);
    node.log = into.join("node.log");
    node.start();
}

#[test]
fn a_restored_member_rejoins_and_signs_and_a_stale_one_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 3);
    for n in nodes.iter_mut() {
        n.env.push(("MPC_BACKUP_PASSPHRASE".into(), PASSPHRASE.into()));
    }
    start_all(&mut nodes);
    let created = create_wallet(&nodes[0], "frost-ed25519", "bk");
    let key = created["public_key"].as_str().unwrap().to_owned();
    let t = Instant::now();
    let before = backup(&nodes[2], "before.mpcbak");
    eprintln!("backup of a running node: {} ms, {} bytes", t.elapsed().as_millis(), before.metadata().unwrap().len());
    // A second backup under the same name is refused: nothing is overwritten.
    let again = nodes[2].call("backup_create", json!({ "name": "before.mpcbak" })).unwrap_err();
    assert_eq!(again["code"], -32012, "{again}");
    nodes[0].call("wallet_refresh", json!({ "wallet": "bk", "wait_ms": LONG })).unwrap();
    let after = backup(&nodes[2], "after.mpcbak");
    let keep = dir.path().join("kept");
    std::fs::create_dir(&keep).unwrap();
    let (before, after) = (copy(&before, &keep), copy(&after, &keep));

    // The machine is lost.
    nodes[2].kill();
    std::fs::remove_dir_all(&nodes[2].config.node.data_dir).unwrap();

    // The backup from before the refresh: the node runs, but its share no longer fits.
    restore_and_start(&mut nodes[2], &before, &dir.path().join("stale"));
    sees_peers(&nodes[2], 2);
    let stale = sign(&nodes[1], &[1, 2], 1);
    assert!(stale.is_err(), "a share from before the refresh signed: {stale:?}");
    nodes[2].kill();

    // The backup from after it: the member is back, with its peer id and its share.
    restore_and_start(&mut nodes[2], &after, &dir.path().join("restored"));
    sees_peers(&nodes[2], 2);
    signs(&nodes[2], &key, &[0, 2], 2);
    signs(&nodes[1], &key, &[1, 2], 3);
}

fn copy(file: &Path, into: &Path) -> PathBuf {
    let to = into.join(file.file_name().unwrap());
    std::fs::copy(file, &to).unwrap();
    to
}

#[test]
fn wrong_passphrases_and_tampered_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 2);
    nodes[0].env.push(("MPC_BACKUP_PASSPHRASE".into(), PASSPHRASE.into()));
    start_all(&mut nodes);
    let file = backup(&nodes[0], "b.mpcbak");
    let f = file.to_str().unwrap();

    let (ok, out) = cli(&["verify", "--file", f], PASSPHRASE);
    assert!(ok && out.contains("ok: party 0"), "{out}");
    let (ok, out) = cli(&["verify", "--file", f], "not the passphrase at all");
    assert!(!ok && out.contains("wrong backup passphrase"), "{out}");
    let (ok, out) = cli(&["verify", "--file", f], "");
    assert!(!ok && out.contains("at least 12") || out.contains("passphrase"), "{out}");

    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    let tampered = dir.path().join("tampered.mpcbak");
    std::fs::write(&tampered, &bytes).unwrap();
    let t = tampered.to_str().unwrap();
    let (ok, out) = cli(&["verify", "--file", t], PASSPHRASE);
    assert!(!ok && out.contains("damaged or tampered"), "{out}");
    let (ok, out) = cli(&["restore", "--file", t, "--data-dir", dir.path().join("x").to_str().unwrap()], PASSPHRASE);
    assert!(!ok && out.contains("damaged or tampered"), "{out}");
    assert!(!dir.path().join("x").exists(), "a refused restore wrote files");

    // The RPC: wrong file, tampered file, into its own data directory, a non-empty one.
    let e = nodes[0].call("backup_restore", json!({ "file": t })).unwrap_err();
    assert_eq!(e["code"], -32023, "{e}");
    let ok = nodes[0].call("backup_restore", json!({ "file": f })).unwrap();
    assert_eq!(ok["party"], 0, "{ok}");
    let own = nodes[0].config.node.data_dir.join("again");
    let e = nodes[0].call("backup_restore", json!({ "file": f, "data_dir": own })).unwrap_err();
    assert_eq!(e["code"], -32602, "{e}");
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("something"), b"x").unwrap();
    let e = nodes[0].call("backup_restore", json!({ "file": f, "data_dir": full })).unwrap_err();
    assert_eq!(e["code"], -32602, "{e}");
    let standby = dir.path().join("standby");
    let ok = nodes[0].call("backup_restore", json!({ "file": f, "data_dir": standby })).unwrap();
    assert!(Path::new(ok["config"].as_str().unwrap()).exists(), "{ok}");
    // Member 1 has no backup passphrase set.
    let e = nodes[1].call("backup_create", json!({})).unwrap_err();
    assert_eq!(e["code"], -32022, "{e}");
}
