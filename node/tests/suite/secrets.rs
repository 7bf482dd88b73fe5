//! No secret in the clear: two real nodes run a CGGMP24 committee setup and make a wallet of
//! each scheme and sign with it, logging at debug; then every log line, every RPC answer, every
//! metric and the raw bytes of every file in their data directories are searched for each
//! member's secret share and Paillier primes (raw, hex, base64). The secrets are read back from
//! each stopped node's vault, so the search looks for what the nodes really hold.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use crate::common::*;
use actors::keystore::{Keystore, StoreKeystore};
use base64::Engine;
use protocol::schemes::{self, SchemeEnv};
use protocol::WalletId;
use serde_json::json;

const WALLETS: [(&str, &str); 3] = [("frost-ed25519", "sol"), ("frost-secp256k1-tr", "btc"), ("cggmp24", "eth")];

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().map_while(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn no_share_appears_in_logs_answers_metrics_or_raw_files() {
    let dir = tempfile::tempdir().unwrap();
    // Two members: the same code paths as any committee, at half of three's setup cost.
    let mut nodes = cluster(dir.path(), 2);
    for n in nodes.iter_mut() {
        n.env = vec![("MPC_LOG".into(), "debug".into())];
        // CGGMP24 presignatures are made in idle time: their nonce shares are searched too.
        n.reconfigure(|c| {
            c.presign.target = 2;
            c.presign.batch = 2;
        });
    }
    import_primes(&nodes);
    start_all(&mut nodes);
    nodes[0].call("committee_setup", json!({ "scheme": "cggmp24", "wait_ms": 600_000 })).unwrap();

    // Everything a client sees: answers of the day's work and the read side.
    let mut seen = String::new();
    for (scheme, wallet) in WALLETS {
        seen += &create_wallet(&nodes[0], scheme, wallet).to_string();
        held_everywhere(&nodes, wallet);
        for (i, via) in nodes.iter().enumerate() {
            let signers = [0, 1];
            let message = hex::encode(format!("payment {i}"));
            let message = if scheme == "frost-ed25519" { message } else { hex::encode([i as u8; 32]) };
            let out = via
                .call("sign", json!({ "wallet": wallet, "message": message, "signers": signers, "wait_ms": 120_000 }))
                .unwrap();
            assert_eq!(out["status"], "signed", "{out}");
            seen += &out.to_string();
        }
    }
    // Wait for a pool: presignatures exist on some member.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
    let mut pools: Vec<(u16, Vec<u16>, Vec<String>)> = Vec::new();
    while pools.is_empty() {
        assert!(std::time::Instant::now() < deadline, "no presignature was ever made");
        std::thread::sleep(std::time::Duration::from_millis(500));
        for n in &nodes {
            let w = n.call("wallet_get", json!({ "wallet": "eth" })).unwrap();
            for p in w["presignatures"].as_array().unwrap() {
                let set: Vec<u16> =
                    p["signers"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u16).collect();
                let ids: Vec<String> =
                    p["ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
                if !ids.is_empty() {
                    pools.push((n.party, set, ids));
                }
            }
        }
    }
    for n in &nodes {
        for (method, params) in [
            ("node_info", json!({})),
            ("node_peers", json!({})),
            ("wallet_list", json!({})),
            ("wallet_get", json!({ "wallet": "sol" })),
            ("wallet_get", json!({ "wallet": "btc" })),
            ("wallet_get", json!({ "wallet": "eth" })),
            ("session_list", json!({})),
            ("audit_trail", json!({ "from_ms": 0 })),
            ("wallet_history", json!({ "wallet": "sol" })),
            ("journal_verify", json!({})),
        ] {
            match n.call(method, params) {
                Ok(v) => seen += &v.to_string(),
                Err(e) => seen += &e.to_string(),
            }
        }
        seen += &n.metrics_text();
    }
    for n in nodes.iter_mut() {
        n.terminate();
    }

    // Every byte the nodes keep, read before the test opens their stores.
    let mut files = Vec::new();
    for n in &nodes {
        files_under(&n.config.node.data_dir, &mut files);
    }
    let contents: Vec<(std::path::PathBuf, Vec<u8>)> =
        files.iter().map(|f| (f.clone(), std::fs::read(f).unwrap())).collect();

    // What each member really holds, read from its vault.
    let registry = schemes::registry(&SchemeEnv { primes: Arc::new(protocol::primes::MemoryPrimePool::default()) });
    let mut secrets: Vec<(String, Vec<u8>)> = Vec::new();
    for n in &nodes {
        let data = &n.config.node.data_dir;
        let db = store::Db::open(&data.join("db")).unwrap();
        let vault = store::Vault::open(
            db.clone(),
            store::VaultSecret::KeyFile(data.join("vault.key")),
            store::KdfParams::default(),
        )
        .unwrap();
        let keystore = StoreKeystore::new(Arc::new(store::Journal::open(db).unwrap()), Arc::new(vault));
        for (scheme, wallet) in WALLETS {
            let share = keystore.get(&WalletId::new(wallet).unwrap()).unwrap();
            for (k, value) in registry.by_name(scheme).unwrap().secret_values(&share).unwrap().iter().enumerate() {
                let what = if k == 0 { "share" } else { "Paillier prime" };
                assert!(value.len() >= 32, "party {}'s {scheme} {what}: {} bytes", n.party, value.len());
                secrets.push((format!("party {}'s {scheme} {what}", n.party), value.expose().to_vec()));
            }
        }
    }
    assert_eq!(secrets.len(), 2 * (2 + 3), "a share per FROST wallet; a share and two primes for CGGMP24");
    let cggmp24 = registry.by_name("cggmp24").unwrap();
    let mut nonces = 0;
    for (party, set, ids) in &pools {
        let data = &nodes[usize::from(*party)].config.node.data_dir;
        let db = store::Db::open(&data.join("db")).unwrap();
        let vault =
            store::Vault::open(db, store::VaultSecret::KeyFile(data.join("vault.key")), store::KdfParams::default())
                .unwrap();
        for id in ids {
            let id = protocol::SessionId::from_bytes(hex::decode(id).unwrap().try_into().unwrap());
            let Some(p) = vault.take_presignature(&WalletId::new("eth").unwrap(), set, &id).unwrap() else { continue };
            for value in cggmp24.presignature_secret_values(&p).unwrap() {
                secrets.push((format!("party {party}'s presignature nonce share"), value.expose().to_vec()));
                nonces += 1;
            }
        }
    }
    assert!(nonces >= 2, "presignature nonce shares found: {nonces}");

    let mut logs = Vec::new();
    for n in &nodes {
        let log = std::fs::read(&n.log).unwrap();
        assert!(log.len() > 10_000, "debug logs were written ({} bytes)", log.len());
        logs.extend(log);
    }
    assert!(contents.len() > 10, "{} files", contents.len());
    let scan = std::time::Instant::now();
    for (what, secret) in &secrets {
        let forms: Vec<(&str, Vec<u8>)> = vec![
            ("raw", secret.clone()),
            ("hex", hex::encode(secret).into_bytes()),
            ("HEX", hex::encode_upper(secret).into_bytes()),
            ("base64", base64::engine::general_purpose::STANDARD.encode(secret).into_bytes()),
            // A share printed as a list of numbers (a derived Debug of a byte array).
            ("debug", format!("{:?}", &secret[..8]).trim_end_matches(']').as_bytes().to_vec()),
        ];
        for (form, needle) in &forms {
            assert!(!needle.is_empty());
            let finder = memchr::memmem::Finder::new(needle);
            let contains = |haystack: &[u8]| finder.find(haystack).is_some();
            assert!(!contains(&logs), "{what} ({form}) is in a log");
            assert!(!contains(seen.as_bytes()), "{what} ({form}) is in an RPC answer or a metric");
            for (f, bytes) in &contents {
                assert!(!contains(bytes), "{what} ({form}) is in the clear in {}", f.display());
            }
        }
    }
    let bytes: usize = logs.len() + seen.len() + contents.iter().map(|(_, b)| b.len()).sum::<usize>();
    eprintln!(
        "{} secrets in 5 forms searched in {} files, logs and answers ({} KiB) in {} ms",
        secrets.len(),
        contents.len(),
        bytes / 1024,
        scan.elapsed().as_millis()
    );
}
