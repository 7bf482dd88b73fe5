//! A committee of libp2p transports on loopback, for the actor tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use actors::keystore::StoreKeystore;
use actors::manager::{bridge, ManagerArgs, ManagerMsg, SessionManager};
use network::p2p::{self, Member, NetEvent, NetworkHandle, P2pConfig};
use protocol::primes::{MemoryPrimePool, SafePrimes};
use protocol::schemes::{self, SchemeEnv};
use protocol::PartyIndex;
use ractor::{Actor, ActorRef};
use store::{Db, Journal, KdfParams, Vault, VaultSecret};
use tokio::sync::mpsc::Receiver;

/// Starts `n` members on free loopback ports and waits until they are connected and gossip
/// subscriptions have spread.
pub async fn committee(dir: &std::path::Path, n: usize) -> Vec<(NetworkHandle, Receiver<NetEvent>)> {
    let ids: Vec<_> = (0..n).map(|i| dir.join(format!("{i}.key"))).collect();
    let ports: Vec<u16> = (0..n).map(|_| network::ports::free_loopback_port().unwrap()).collect();
    let members: Vec<Member> = (0..n)
        .map(|i| Member {
            party: i as PartyIndex,
            peer_id: p2p::peer_id(&ids[i]).unwrap(),
            address: format!("/ip4/127.0.0.1/tcp/{}", ports[i]),
        })
        .collect();
    let mut out = Vec::new();
    for i in 0..n {
        out.push(
            p2p::start(P2pConfig {
                me: i as PartyIndex,
                identity_file: ids[i].clone(),
                listen: format!("/ip4/127.0.0.1/tcp/{}", ports[i]),
                committee: members.clone(),
                max_message_bytes: 4 * 1024 * 1024,
                redial_interval: Duration::from_millis(300),
            })
            .unwrap(),
        );
    }
    for _ in 0..100 {
        let mut all = true;
        for (h, _) in &out {
            all &= h.connected().await.unwrap().len() == n - 1;
        }
        if all {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    out
}

/// A committee member: its session manager and keystore.
pub struct Node {
    /// The session manager.
    pub manager: ActorRef<ManagerMsg>,
    /// Its key shares.
    pub keystore: Arc<StoreKeystore>,
    /// Its transport.
    pub network: NetworkHandle,
    /// What its manager was started with (to start another over the same store).
    pub args: ManagerArgs,
}

/// The committed test-only prime sets.
pub fn fixture_primes() -> Vec<SafePrimes> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocol/tests/fixtures/primes.bin");
    bincode::deserialize(&std::fs::read(path).unwrap()).unwrap()
}

/// The committed CGGMP24 committee setup for `n` members (made from the fixture primes).
pub fn fixture_setup(n: usize) -> Vec<protocol::SetupMaterial> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../protocol/tests/fixtures/setup-{n}.bin"));
    bincode::deserialize(&std::fs::read(path).unwrap()).unwrap()
}

/// `n` members with transports, stores, keystores and session managers, connected.
pub async fn nodes(dir: &std::path::Path, n: usize) -> Vec<Node> {
    nodes_with(dir, n, |_| Vec::new()).await
}

/// As [`nodes`], each manager with the ceremony listeners `listeners(i)` gives.
pub async fn nodes_with(
    dir: &std::path::Path,
    n: usize,
    listeners: impl Fn(usize) -> Vec<Arc<dyn actors::manager::CeremonyListener>>,
) -> Vec<Node> {
    let transports = committee(dir, n).await;
    let primes = fixture_primes();
    let mut out = Vec::new();
    for (i, (handle, events)) in transports.into_iter().enumerate() {
        // Each node draws from its own pool (test-only public primes).
        let pool = Arc::new(MemoryPrimePool::new(vec![primes[i].clone()]));
        let registry = Arc::new(schemes::registry(&SchemeEnv { primes: pool }));
        let key_file = dir.join(format!("vault{i}.key"));
        std::fs::write(&key_file, [i as u8 + 1; 32]).unwrap();
        let db = Db::open(&dir.join(format!("db{i}"))).unwrap();
        let vault = Arc::new(Vault::open(db.clone(), VaultSecret::KeyFile(key_file), KdfParams::default()).unwrap());
        let keystore = Arc::new(StoreKeystore::new(Arc::new(Journal::open(db).unwrap()), vault));
        let args = ManagerArgs {
            me: i as PartyIndex,
            parties: n as u16,
            registry: registry.clone(),
            network: handle.clone(),
            keystore: keystore.clone(),
            round_timeout: Duration::from_secs(60),
            proposal_ttl: Duration::from_secs(30),
            peer_grace: Duration::from_millis(300),
            observer: None,
            listeners: listeners(i),
            chains: protocol::chains::registry(protocol::chains::bitcoin::Network::Regtest),
            // Every chain enabled, no limits.
            transfer_policy: protocol::wallet::TransferPolicy {
                chains: ["ethereum", "bitcoin-p2tr", "bitcoin-p2wpkh", "solana"]
                    .into_iter()
                    .map(|c| (c.to_owned(), Default::default()))
                    .collect(),
            },
            transfers: None,
            presign: actors::manager::PoolConfig { target: 0, ..Default::default() },
            export_enabled: false,
            // Raw signing allowed, no limiter: these tests are about sessions.
            raw: protocol::signable::RawSigning { raw_wallets: vec!["*".into()] },
            limiter: None,
            max_round_timeout: Duration::from_secs(120),
            breaker: Default::default(),
            faults: None,
            health: None,
        };
        let (manager, _) = Actor::spawn(None, SessionManager, args.clone()).await.unwrap();
        bridge(events, manager.clone());
        out.push(Node { manager, keystore, network: handle.clone(), args });
    }
    out
}
