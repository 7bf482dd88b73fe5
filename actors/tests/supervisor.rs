//! The supervised tree of three nodes in one process: a ceremony that panics ends with a
//! journaled abort on every participant while other ceremonies complete and the node goes
//! on; a killed session manager is restarted by the supervisor and serves again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use actors::keystore::{Keystore, StoreKeystore};
use actors::manager::{ManagerArgs, ManagerMsg, SessionStatus};
use actors::supervisor::{NodeRefs, NodeSupervisor, SupervisorArgs};
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

/// A scheme whose signing ceremony panics as soon as it starts: a bug in one session.
struct Panicky;

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
        let keystore = Arc::new(StoreKeystore { journal: journal.clone(), vault });
        let manager = ManagerArgs {
            me: i as PartyIndex,
            parties: n as u16,
            registry: Arc::new(registry),
            network,
            keystore: keystore.clone(),
            round_timeout: Duration::from_secs(30),
            proposal_ttl: Duration::from_secs(30),
            observer: None,
            listeners: Vec::new(),
            chains: protocol::chains::registry(protocol::chains::bitcoin::Network::Regtest),
            transfer_policy: Default::default(),
            transfers: None,
        };
        let refs = NodeRefs::default();
        let args = SupervisorArgs {
            manager,
            journal: journal.clone(),
            events,
            net_listeners: Vec::new(),
            refs: refs.clone(),
            transfers: None,
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
    let boom = WalletId::new("boom").unwrap();
    for (i, node) in nodes.iter().enumerate() {
        let share = KeyShare {
            scheme: PANICKY,
            party: i as u16,
            threshold: 2,
            parties: 3,
            public_key: PublicKey { scheme: PANICKY, bytes: vec![1; 32] },
            secret: SecretBytes::new(vec![2; 32]),
        };
        node.keystore.put(&boom, SessionId::derive("test", b"boom"), &share).unwrap();
    }

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
