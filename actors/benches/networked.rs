//! Networked ceremonies next to the in-process floor: a 3-of-5 committee of session managers
//! on loopback libp2p in one process (no process boundaries yet), FROST keygen and signing by
//! proposal, timed from the proposal to the proposer's result.
//!
//! cargo bench -p actors --bench networked [-- --runs N]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::keystore::StoreKeystore;
use actors::manager::{bridge, ManagerArgs, ManagerMsg, SessionManager, SessionStatus};
use network::p2p::{self, Member, P2pConfig};
use protocol::primes::MemoryPrimePool;
use protocol::proposal::ProposalKind;
use protocol::schemes::{self, SchemeEnv};
use protocol::{PartyIndex, SchemeId, SessionId, WalletId};
use ractor::{Actor, ActorRef};
use store::{Db, Journal, KdfParams, Vault, VaultSecret};

const N: usize = 5;

async fn committee(dir: &std::path::Path) -> Vec<ActorRef<ManagerMsg>> {
    let ids: Vec<_> = (0..N).map(|i| dir.join(format!("{i}.key"))).collect();
    let ports: Vec<u16> =
        (0..N).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()).collect();
    let members: Vec<Member> = (0..N)
        .map(|i| Member {
            party: i as PartyIndex,
            peer_id: p2p::peer_id(&ids[i]).unwrap(),
            address: format!("/ip4/127.0.0.1/tcp/{}", ports[i]),
        })
        .collect();
    let registry = Arc::new(schemes::registry(&SchemeEnv { primes: Arc::new(MemoryPrimePool::default()) }));
    let mut managers = Vec::new();
    let mut handles = Vec::new();
    for i in 0..N {
        let (handle, events) = p2p::start(P2pConfig {
            me: i as PartyIndex,
            identity_file: ids[i].clone(),
            listen: format!("/ip4/127.0.0.1/tcp/{}", ports[i]),
            committee: members.clone(),
            max_message_bytes: 4 * 1024 * 1024,
            redial_interval: Duration::from_millis(300),
        })
        .unwrap();
        let key_file = dir.join(format!("vault{i}.key"));
        std::fs::write(&key_file, [i as u8 + 1; 32]).unwrap();
        let db = Db::open(&dir.join(format!("db{i}"))).unwrap();
        let vault = Arc::new(Vault::open(db.clone(), VaultSecret::KeyFile(key_file), KdfParams::default()).unwrap());
        let keystore = Arc::new(StoreKeystore { journal: Arc::new(Journal::open(db).unwrap()), vault });
        let args = ManagerArgs {
            me: i as PartyIndex,
            parties: N as u16,
            registry: registry.clone(),
            network: handle.clone(),
            keystore,
            round_timeout: Duration::from_secs(30),
            tick: Duration::from_millis(50),
            proposal_ttl: Duration::from_secs(60),
            observer: None,
        };
        let (manager, _) = Actor::spawn(None, SessionManager, args).await.unwrap();
        bridge(events, manager.clone());
        managers.push(manager);
        handles.push(handle);
    }
    for _ in 0..200 {
        let mut all = true;
        for h in &handles {
            all &= h.connected().await.unwrap().len() == N - 1;
        }
        if all {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    managers
}

async fn run(
    manager: &ActorRef<ManagerMsg>,
    kind: ProposalKind,
    participants: Vec<PartyIndex>,
) -> (f64, SessionStatus) {
    let started = Instant::now();
    let session: SessionId =
        ractor::call!(manager, |reply| ManagerMsg::Propose { kind, participants, reply }).unwrap().unwrap();
    loop {
        match ractor::call!(manager, |reply| ManagerMsg::Status { session, reply }).unwrap() {
            Some(SessionStatus::Proposed) | Some(SessionStatus::Running) | None => {
                tokio::time::sleep(Duration::from_micros(200)).await
            }
            Some(s) => return (started.elapsed().as_secs_f64() * 1e3, s),
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
    let managers = committee(dir.path()).await;
    println!("\nnetworked 3-of-5 over loopback libp2p, proposal to result at the proposer ({runs} runs)\n");
    println!("| scheme | step | p50 ms | p99 ms |\n|---|---|---|---|");
    for (si, scheme) in ["frost-ed25519", "frost-secp256k1-tr"].into_iter().enumerate() {
        let mut keygen = Vec::new();
        let mut wallet = None;
        for k in 0..runs.min(10) {
            let w = WalletId::new(&format!("w{si}-{k}")).unwrap();
            let kind = ProposalKind::Keygen { wallet: w.clone(), scheme: SchemeId::from_name(scheme), threshold: 3 };
            let (ms, status) = run(&managers[k % N], kind, (0..N as u16).collect()).await;
            assert!(matches!(status, SessionStatus::KeyReady(_)), "{status:?}");
            keygen.push(ms);
            wallet = Some(w);
        }
        let wallet = wallet.unwrap();
        let mut sign = Vec::new();
        for k in 0..runs {
            let payload = vec![k as u8 + 1; 32];
            let kind = ProposalKind::Sign { wallet: wallet.clone(), payload, transaction: Vec::new() };
            let (ms, status) = run(&managers[0], kind, vec![0, 2, 4]).await;
            assert!(matches!(status, SessionStatus::Signed(_)), "{status:?}");
            sign.push(ms);
        }
        println!("| {scheme} | dkg | {:.2} | {:.2} |", pct(keygen.clone(), 0.5), pct(keygen, 0.99));
        println!("| {scheme} | sign | {:.2} | {:.2} |", pct(sign.clone(), 0.5), pct(sign, 0.99));
    }
}
