//! The supervised tree of three nodes in one process: a ceremony that panics ends with a
//! journaled abort on every participant while other ceremonies complete and the node goes
//! on; a killed session manager is restarted by the supervisor and serves again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use actors::keystore::{Keystore, StoreKeystore};
use actors::manager::{ManagerArgs, ManagerMsg, SessionStatus};
use actors::supervisor::{NodeRefs, NodeSupervisor, SupervisorArgs};
use network::p2p::NetEvent;
use protocol::primes::MemoryPrimePool;
use protocol::proposal::{ProposalKind, Signable};
use protocol::schemes::{self, SchemeEnv};
use protocol::secret::SecretBytes;
use protocol::{
    BoxCeremony, Ceremony, Envelope, KeyShare, KeygenParams, Millis, PartyIndex, ProtocolError, PublicKey, SchemeId,
    SessionId, SetupMaterial, SignParams, Signature, Step, ThresholdScheme, WalletId,
};
use ractor::Actor;
use store::{Db, DomainEvent, Journal, KdfParams, StreamId, Vault, VaultSecret};

const PANICKY: SchemeId = SchemeId::new_static("panicky");

/// A scheme whose signing ceremony panics as soon as it starts (a bug in one session), or,
/// for a message starting with `stall`, waits forever for a party that never speaks.
struct Panicky;

/// A ceremony that never hears from anyone (its round would time out only after an hour).
struct Stall(SessionId);

impl Ceremony for Stall {
    type Output = Signature;
    fn session(&self) -> SessionId {
        self.0
    }
    fn start(&mut self, _: Millis) -> Result<Step<Signature>, ProtocolError> {
        Ok(Step { outgoing: Vec::new(), output: None, rejected: Vec::new() })
    }
    fn on_message(&mut self, _: Millis, _: Envelope) -> Result<Step<Signature>, ProtocolError> {
        Ok(Step { outgoing: Vec::new(), output: None, rejected: Vec::new() })
    }
    fn on_tick(&mut self, _: Millis) -> Result<Step<Signature>, ProtocolError> {
        Ok(Step { outgoing: Vec::new(), output: None, rejected: Vec::new() })
    }
    fn deadline(&self) -> Option<Millis> {
        Some(3_600_000)
    }
    fn round(&self) -> u16 {
        1
    }
    fn waiting_for(&self) -> Vec<PartyIndex> {
        Vec::new()
    }
}

struct Boom(SessionId);

impl Ceremony for Boom {
    type Output = Signature;
    fn session(&self) -> SessionId {
        self.0
    }
    fn start(&mut self, _: Millis) -> Result<Step<Signature>, ProtocolError> {
        panic!("bug in a ceremony");
    }
    fn on_message(&mut self, _: Millis, _: Envelope) -> Result<Step<Signature>, ProtocolError> {
        panic!("bug in a ceremony");
    }
    fn on_tick(&mut self, _: Millis) -> Result<Step<Signature>, ProtocolError> {
        panic!("bug in a ceremony");
    }
    fn deadline(&self) -> Option<Millis> {
        None
    }
    fn round(&self) -> u16 {
        1
    }
    fn waiting_for(&self) -> Vec<PartyIndex> {
        Vec::new()
    }
}

impl ThresholdScheme for Panicky {
    fn id(&self) -> SchemeId {
        PANICKY
    }
    fn keygen(&self, _: &KeygenParams, _: Option<&SetupMaterial>) -> Result<BoxCeremony<KeyShare>, ProtocolError> {
        Err(ProtocolError::Unsupported { scheme: PANICKY, operation: "keygen" })
    }
    fn sign(&self, _: &KeyShare, params: &SignParams) -> Result<BoxCeremony<Signature>, ProtocolError> {
        if params.message.starts_with(b"stall") {
            return Ok(Box::new(Stall(params.session)));
        }
        Ok(Box::new(Boom(params.session)))
    }
    fn verify(&self, _: &PublicKey, _: &[u8], _: &Signature) -> Result<(), ProtocolError> {
        Ok(())
    }
}

struct Supervised {
    refs: NodeRefs,
    keystore: Arc<StoreKeystore>,
    journal: Arc<Journal>,
}

async fn supervised(dir: &std::path::Path, n: usize) -> Vec<Supervised> {
    let transports = common::committee(dir, n).await;
    let mut out = Vec::new();
    for (i, (network, events)) in transports.into_iter().enumerate() {
        let mut registry = schemes::registry(&SchemeEnv { primes: Arc::new(MemoryPrimePool::default()) });
        registry.register(Arc::new(Panicky));
        let key_file = dir.join(format!("vault{i}.key"));
        std::fs::write(&key_file, [i as u8 + 7; 32]).unwrap();
        let db = Db::open(&dir.join(format!("db{i}"))).unwrap();
        let vault = Arc::new(Vault::open(db.clone(), VaultSecret::KeyFile(key_file), KdfParams::default()).unwrap());
        let journal = Arc::new(Journal::open(db).unwrap());
        let keystore = Arc::new(StoreKeystore::new(journal.clone(), vault));
        let manager = ManagerArgs {
            me: i as PartyIndex,
            parties: n as u16,
            registry: Arc::new(registry),
            network,
            keystore: keystore.clone(),
            round_timeout: Duration::from_secs(30),
            proposal_ttl: Duration::from_secs(30),
            peer_grace: Duration::from_millis(300),
            observer: None,
            listeners: Vec::new(),
            chains: protocol::chains::registry(protocol::chains::bitcoin::Network::Regtest),
            transfer_policy: Default::default(),
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
        let refs = NodeRefs::default();
        let args = SupervisorArgs {
            manager,
            journal: journal.clone(),
            events,
            net_listeners: Vec::new(),
            refs: refs.clone(),
            transfers: None,
            limiter: None,
            health: None,
        };
        Actor::spawn(None, NodeSupervisor, args).await.unwrap();
        out.push(Supervised { refs, keystore, journal });
    }
    out
}

async fn propose(node: &Supervised, kind: ProposalKind, participants: Vec<PartyIndex>) -> SessionId {
    let manager = node.refs.manager.get().unwrap();
    ractor::call!(manager, |reply| ManagerMsg::Propose { kind, participants, reply }).unwrap().unwrap()
}

async fn settled(node: &Supervised, session: SessionId) -> SessionStatus {
    for _ in 0..600 {
        let manager = node.refs.manager.get().unwrap();
        match ractor::call!(manager, |reply| ManagerMsg::Status { session, reply }).unwrap() {
            Some(s) if s.is_final() => return s,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("session did not settle");
}

/// A wallet of the test-only scheme, one share per node.
fn panicky_wallet(nodes: &[Supervised], name: &str) -> WalletId {
    let wallet = WalletId::new(name).unwrap();
    for (i, node) in nodes.iter().enumerate() {
        let share = KeyShare {
            scheme: PANICKY,
            party: i as u16,
            threshold: 2,
            parties: nodes.len() as u16,
            public_key: PublicKey { scheme: PANICKY, bytes: vec![1; 32] },
            secret: SecretBytes::new(vec![2; 32]),
        };
        node.keystore.put(&wallet, SessionId::derive("test", name.as_bytes()), &share).unwrap();
    }
    wallet
}

async fn journaled_abort(node: &Supervised, session: SessionId) -> String {
    for _ in 0..100 {
        for e in node.journal.read_stream(&StreamId::Session(session), 1, 16).unwrap() {
            if let DomainEvent::CeremonyAborted { reason, .. } = e.event {
                return reason;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no CeremonyAborted journaled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_session_is_journaled_as_aborted_and_nothing_else_stops() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = supervised(dir.path(), 3).await;
    let boom = panicky_wallet(&nodes, "boom");

    // The buggy ceremony and a healthy keygen run side by side.
    let bad =
        propose(&nodes[0], ProposalKind::Sign { wallet: boom, signable: Signable::Raw(vec![1; 32]) }, vec![0, 1]).await;
    let good_wallet = WalletId::new("fine").unwrap();
    let kind = ProposalKind::Keygen {
        wallet: good_wallet.clone(),
        scheme: SchemeId::from_name("frost-ed25519"),
        threshold: 2,
    };
    let good = propose(&nodes[1], kind, vec![0, 1, 2]).await;

    for node in &nodes[..2] {
        match settled(node, bad).await {
            SessionStatus::Failed(reason) => assert!(reason.to_string().contains("panicked"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(journaled_abort(node, bad).await.contains("panicked"));
    }
    for node in &nodes {
        assert!(matches!(settled(node, good).await, SessionStatus::KeyReady(_)));
    }

    // And the same managers go on signing.
    let sign = ProposalKind::Sign { wallet: good_wallet, signable: Signable::Raw(b"still alive".to_vec()) };
    let session = propose(&nodes[0], sign, vec![0, 2]).await;
    assert!(matches!(settled(&nodes[0], session).await, SessionStatus::Signed(_)));
    assert!(matches!(settled(&nodes[2], session).await, SessionStatus::Signed(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_session_manager_is_restarted_by_the_supervisor() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = supervised(dir.path(), 3).await;
    let before = nodes[0].refs.manager.get().unwrap();
    before.kill();
    let mut after = None;
    for _ in 0..100 {
        if let Some(m) = nodes[0].refs.manager.get().filter(|m| m.get_id() != before.get_id()) {
            after = Some(m);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(after.is_some(), "the supervisor did not restart the manager");
    // The restarted manager takes part in ceremonies as before.
    let kind = ProposalKind::Keygen {
        wallet: WalletId::new("after-restart").unwrap(),
        scheme: SchemeId::from_name("frost-secp256k1-tr"),
        threshold: 2,
    };
    let session = propose(&nodes[0], kind, vec![0, 1, 2]).await;
    for node in &nodes {
        assert!(matches!(settled(node, session).await, SessionStatus::KeyReady(_)));
    }
    // The journal actor records the ceremony through the restarted manager too.
    let recorded = |kind: &str| {
        let events = nodes[0].journal.read_stream(&StreamId::Session(session), 1, 16).unwrap();
        events.iter().any(|e| e.event.event_type() == kind)
    };
    for _ in 0..100 {
        if recorded("CeremonyStarted") && recorded("CeremonyCompleted") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the ceremony's start and completion were not journaled");
}

async fn status_of(node: &Supervised, session: SessionId) -> Option<SessionStatus> {
    let manager = node.refs.manager.get().unwrap();
    ractor::call!(manager, |reply| ManagerMsg::Status { session, reply }).unwrap()
}

async fn running(node: &Supervised, session: SessionId) {
    for _ in 0..100 {
        if status_of(node, session).await == Some(SessionStatus::Running) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never started");
}

/// A participant whose connection drops in the middle of a ceremony is given the grace to come
/// back; one that does keeps the session running, one that does not ends it at once (not after
/// the round timeout), blamed as unreachable, journaled and told to the caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_lost_past_the_grace_ends_its_sessions_at_once_blamed() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = supervised(dir.path(), 3).await;
    let stuck = panicky_wallet(&nodes, "stuck");
    let stall = |tag: &str| ProposalKind::Sign {
        wallet: stuck.clone(),
        signable: Signable::Raw(format!("stall {tag}").into_bytes()),
    };
    let manager = nodes[0].refs.manager.get().unwrap();
    let net = |e: NetEvent| manager.cast(ManagerMsg::Net(e)).unwrap();

    // Party 1 drops and is back within the grace: nothing ends.
    let kept = propose(&nodes[0], stall("kept"), vec![0, 1]).await;
    running(&nodes[0], kept).await;
    net(NetEvent::PeerDown(1));
    tokio::time::sleep(Duration::from_millis(100)).await;
    net(NetEvent::PeerUp(1));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        status_of(&nodes[0], kept).await,
        Some(SessionStatus::Running),
        "a reconnect within the grace changes nothing"
    );

    // Party 2 drops for good: the session with it ends within the grace, the other runs on.
    let lost = propose(&nodes[0], stall("lost"), vec![0, 2]).await;
    running(&nodes[0], lost).await;
    let dropped = std::time::Instant::now();
    net(NetEvent::PeerDown(2));
    let failure = match settled(&nodes[0], lost).await {
        SessionStatus::Failed(f) => f,
        other => panic!("{other:?}"),
    };
    let took = dropped.elapsed();
    assert!(took < Duration::from_secs(5), "ended {took:?} after the drop, not at the round timeout");
    assert!(failure.unreachable() && failure.blamed() == vec![2], "{failure}");
    assert!(journaled_abort(&nodes[0], lost).await.contains("party 2 unreachable"));
    assert_eq!(status_of(&nodes[0], kept).await, Some(SessionStatus::Running), "a session without party 2 goes on");
    // A new session naming the party still away ends at once too.
    let late = propose(&nodes[0], stall("late"), vec![0, 2]).await;
    match settled(&nodes[0], late).await {
        SessionStatus::Failed(f) => assert!(f.unreachable(), "{f}"),
        other => panic!("{other:?}"),
    }
}
