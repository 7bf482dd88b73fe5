//! Networked ceremonies next to the in-process floor: a 3-of-5 committee of session managers
//! on loopback libp2p in one process (no process boundaries yet), FROST keygen and signing by
//! proposal, timed from the proposal to the proposer's result.
//!
//! cargo bench -p actors --bench networked [-- --runs N]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use actors::manager::{ManagerMsg, SessionStatus};
use protocol::proposal::{ProposalKind, Signable};
use protocol::{PartyIndex, SchemeId, SessionId, WalletId};
use ractor::ActorRef;

#[path = "../tests/suite/common/mod.rs"]
mod common;

const N: usize = 5;

async fn run(
    manager: &ActorRef<ManagerMsg>,
    kind: ProposalKind,
    participants: Vec<PartyIndex>,
) -> (f64, SessionStatus, SessionId) {
    let started = Instant::now();
    let session: SessionId =
        ractor::call!(manager, |reply| ManagerMsg::Propose { kind, participants, reply }).unwrap().unwrap();
    loop {
        match ractor::call!(manager, |reply| ManagerMsg::Status { session, reply }).unwrap() {
            Some(SessionStatus::Proposed) | Some(SessionStatus::Running) | None => {
                tokio::time::sleep(Duration::from_micros(200)).await
            }
            Some(s) => return (started.elapsed().as_secs_f64() * 1e3, s, session),
        }
    }
}

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let managers: Vec<ActorRef<ManagerMsg>> =
        common::nodes(dir.path(), N).await.into_iter().map(|n| n.manager).collect();
    println!("\nnetworked 3-of-5 over loopback libp2p, proposal to result at the proposer ({runs} runs)\n");
    println!("| scheme | step | p50 ms | p99 ms |\n|---|---|---|---|");
    for (si, scheme) in ["frost-ed25519", "frost-secp256k1-tr"].into_iter().enumerate() {
        let mut keygen = Vec::new();
        let mut wallet = None;
        let mut last = None;
        for k in 0..runs.min(10) {
            let w = WalletId::new(&format!("w{si}-{k}")).unwrap();
            let kind = ProposalKind::Keygen { wallet: w.clone(), scheme: SchemeId::from_name(scheme), threshold: 3 };
            let (ms, status, session) = run(&managers[k % N], kind, (0..N as u16).collect()).await;
            assert!(matches!(status, SessionStatus::KeyReady(_)), "{status:?}");
            last = Some(session);
            keygen.push(ms);
            wallet = Some(w);
        }
        let wallet = wallet.unwrap();
        // The signer proposing next must have stored its share of the last wallet too.
        let last = last.unwrap();
        while !matches!(
            ractor::call!(managers[0], |reply| ManagerMsg::Status { session: last, reply }).unwrap(),
            Some(SessionStatus::KeyReady(_))
        ) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut sign = Vec::new();
        for k in 0..runs {
            let payload = vec![k as u8 + 1; 32];
            let kind = ProposalKind::Sign { wallet: wallet.clone(), signable: Signable::Raw(payload) };
            let (ms, status, _) = run(&managers[0], kind, vec![0, 2, 4]).await;
            assert!(matches!(status, SessionStatus::Signed(_)), "{status:?}");
            sign.push(ms);
        }
        println!("| {scheme} | dkg | {:.2} | {:.2} |", pct(keygen.clone(), 0.5), pct(keygen, 0.99));
        println!("| {scheme} | sign | {:.2} | {:.2} |", pct(sign.clone(), 0.5), pct(sign, 0.99));
    }
}
