//! Real chain software for the tests (anvil, LiteSVM behind a JSON-RPC facade), started on
//! free loopback ports and killed on drop, and threshold keys made in process.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::primes::MemoryPrimePool;
use protocol::schemes::{self, SchemeEnv};
use protocol::sim::Sim;
use protocol::{KeyShare, KeygenParams, SessionId, SetupMaterial, SignParams, Signature, ThresholdScheme};

pub fn js_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testnet/js");
    assert!(
        dir.join("node_modules").exists(),
        "chain test tools missing: run scripts/install-deps.sh (npm ci in testnet/js)"
    );
    dir
}

pub fn free_port() -> u16 {
    network::ports::free_loopback_port().unwrap()
}

/// A child process killed when dropped.
pub struct Service {
    child: Child,
    pub url: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `anvil` on a free port, chain id 31337, mining each transaction at once.
pub fn anvil() -> Service {
    let bin = js_dir().join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    let port = free_port();
    let child = Command::new(bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--chain-id", "31337", "--silent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start anvil");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "anvil did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Service { child, url }
}

/// LiteSVM behind `testnet/js/solana-rpc.mjs`.
pub fn litesvm() -> Service {
    let mut child = Command::new("node")
        .arg(js_dir().join("solana-rpc.mjs"))
        .arg("0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port: u16 = line.trim().strip_prefix("listening ").and_then(|p| p.parse().ok()).expect("facade port");
    Service { child, url: format!("http://127.0.0.1:{port}") }
}

fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../protocol/tests/fixtures").join(name);
    bincode::deserialize(&std::fs::read(path).unwrap()).unwrap()
}

pub fn scheme(name: &str) -> Arc<dyn ThresholdScheme> {
    schemes::registry(&SchemeEnv { primes: Arc::new(MemoryPrimePool::default()) }).by_name(name).unwrap()
}

/// A 2-of-3 key of `name` (CGGMP24 from the committed test setup).
pub fn keygen(name: &str) -> Vec<KeyShare> {
    let s = scheme(name);
    let setups: Vec<Option<SetupMaterial>> = if s.needs_setup() {
        fixture::<Vec<SetupMaterial>>("setup-3.bin").into_iter().map(Some).collect()
    } else {
        vec![None; 3]
    };
    let sid = SessionId::derive("network-test", name.as_bytes());
    Sim::new((0..3u16).map(|i| (i, s.keygen(&KeygenParams::new(sid, i, 3, 2), setups[i as usize].as_ref()).unwrap())))
        .run()
        .into_result()
        .unwrap()
}

/// Signs every payload with signers 0 and 2.
pub fn sign_all(name: &str, shares: &[KeyShare], payloads: &[Vec<u8>]) -> Vec<Signature> {
    let s = scheme(name);
    payloads
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let sid = SessionId::derive("network-test-sign", &[p.as_slice(), &[k as u8]].concat());
            let sigs = Sim::new(
                [0u16, 2]
                    .iter()
                    .map(|&i| (i, s.sign(&shares[i as usize], &SignParams::new(sid, vec![0, 2], p.clone())).unwrap())),
            )
            .run()
            .into_result()
            .unwrap();
            sigs[0].clone()
        })
        .collect()
}

/// Polls `f` until it returns `Some` or 20 s pass.
pub fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(100));
    }
}
