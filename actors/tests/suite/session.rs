//! Session actors running real ceremonies: in memory between actors, and across the libp2p
//! transport on loopback. A panicking or failing ceremony ends its own session only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common;

use actors::session::{
    NetworkOutbox, Observation, Outbox, SessionActor, SessionArgs, SessionError, SessionMsg, SessionOutcome,
};
use actors::worker::CeremonyFactory;
use network::p2p::NetEvent;
use protocol::primes::MemoryPrimePool;
use protocol::schemes::{self, SchemeEnv};
use protocol::{
    Envelope, KeyShare, KeygenParams, PartyIndex, ProtocolError, Recipient, SessionId, SignParams, Signature,
    ThresholdScheme,
};
use ractor::{Actor, ActorRef};
use tokio::sync::oneshot;

fn scheme(name: &str) -> Arc<dyn ThresholdScheme> {
    schemes::registry(&SchemeEnv { primes: Arc::new(MemoryPrimePool::default()) }).by_name(name).unwrap()
}

/// Routes envelopes between the session actors of one session, all in this process. An
/// envelope for a party whose actor is not registered yet waits for it (actors start, and
/// send their first round, one after another).
struct Router<O> {
    inner: Arc<Mutex<Routes<O>>>,
}

struct Routes<O> {
    parties: Vec<PartyIndex>,
    actors: HashMap<PartyIndex, ActorRef<SessionMsg<O>>>,
    waiting: HashMap<PartyIndex, Vec<Envelope>>,
}

impl<O> Clone for Router<O> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

impl<O: Send + 'static> Router<O> {
    fn new(parties: Vec<PartyIndex>) -> Self {
        Self { inner: Arc::new(Mutex::new(Routes { parties, actors: HashMap::new(), waiting: HashMap::new() })) }
    }

    fn register(&self, p: PartyIndex, actor: ActorRef<SessionMsg<O>>) {
        let mut r = self.inner.lock().unwrap();
        for e in r.waiting.remove(&p).unwrap_or_default() {
            let _ = actor.cast(SessionMsg::Incoming(e));
        }
        r.actors.insert(p, actor);
    }
}

struct RouterOutbox<O> {
    router: Router<O>,
    me: PartyIndex,
}

impl<O: Send + 'static> Outbox for RouterOutbox<O> {
    fn send(&self, envelope: Envelope) {
        let mut r = self.router.inner.lock().unwrap();
        let to: Vec<PartyIndex> = match envelope.recipient {
            Recipient::Broadcast => r.parties.iter().copied().filter(|p| *p != self.me).collect(),
            Recipient::Party(to) => vec![to],
        };
        for p in to {
            match r.actors.get(&p) {
                Some(actor) => {
                    let _ = actor.cast(SessionMsg::Incoming(envelope.clone()));
                }
                None => r.waiting.entry(p).or_default().push(envelope.clone()),
            }
        }
    }
}

async fn run_in_memory<O: Send + 'static>(
    factories: Vec<(PartyIndex, CeremonyFactory<O>)>,
    session: SessionId,
) -> Vec<SessionOutcome<O>> {
    run_observed(factories, session, None).await
}

async fn run_observed<O: Send + 'static>(
    factories: Vec<(PartyIndex, CeremonyFactory<O>)>,
    session: SessionId,
    observer: Option<tokio::sync::mpsc::UnboundedSender<Observation>>,
) -> Vec<SessionOutcome<O>> {
    let everyone: Vec<PartyIndex> = factories.iter().map(|(p, _)| *p).collect();
    let router = Router::<O>::new(everyone.clone());
    let mut waits = Vec::new();
    for (p, factory) in factories {
        let (done, wait) = oneshot::channel();
        let outbox = Arc::new(RouterOutbox { router: router.clone(), me: p });
        let args = SessionArgs {
            session,
            factory,
            outbox,
            done,
            observer: observer.clone(),
            me: p,
            participants: everyone.clone(),
            watch: Default::default(),
        };
        let (actor, _) = Actor::spawn(None, SessionActor::<O>::default(), args).await.unwrap();
        router.register(p, actor);
        waits.push(wait);
    }
    let mut out = Vec::new();
    for w in waits {
        out.push(tokio::time::timeout(Duration::from_secs(60), w).await.unwrap().unwrap());
    }
    out
}

fn keygen_factories(
    name: &'static str,
    session: SessionId,
    n: u16,
    t: u16,
    timeout_ms: u64,
) -> Vec<(PartyIndex, CeremonyFactory<KeyShare>)> {
    (0..n)
        .map(|i| {
            let f: CeremonyFactory<KeyShare> = Box::new(move || {
                let params = KeygenParams { round_timeout_ms: timeout_ms, ..KeygenParams::new(session, i, n, t) };
                scheme(name).keygen(&params, None)
            });
            (i, f)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_actors_run_a_dkg_and_a_signing() {
    let sid = SessionId::derive("actors", b"dkg");
    let shares: Vec<KeyShare> = run_in_memory(keygen_factories("frost-ed25519", sid, 3, 2, 120_000), sid)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(shares.iter().all(|s| s.public_key == shares[0].public_key));
    let sid = SessionId::derive("actors", b"sign");
    let factories: Vec<(PartyIndex, CeremonyFactory<Signature>)> = [0u16, 2]
        .iter()
        .map(|&i| {
            let share = shares[i as usize].clone();
            let f: CeremonyFactory<Signature> = Box::new(move || {
                scheme("frost-ed25519").sign(&share, &SignParams::new(sid, vec![0, 2], b"hello".to_vec()))
            });
            (i, f)
        })
        .collect();
    let sigs = run_in_memory(factories, sid).await;
    let sig = sigs[0].as_ref().unwrap();
    scheme("frost-ed25519").verify(&shares[0].public_key, b"hello", sig).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_ceremony_ends_only_its_own_session() {
    let good = SessionId::derive("actors", b"good");
    let bad = SessionId::derive("actors", b"bad");
    let panicking: Vec<(PartyIndex, CeremonyFactory<KeyShare>)> = vec![(0, Box::new(|| panic!("bug in a ceremony")))];
    let (bad_out, good_out) = tokio::join!(
        run_in_memory(panicking, bad),
        run_in_memory(keygen_factories("frost-secp256k1-tr", good, 3, 2, 120_000), good),
    );
    assert!(matches!(&bad_out[0], Err(SessionError::Panicked(m)) if m.contains("bug in a ceremony")));
    assert!(good_out.iter().all(Result::is_ok), "the other session is unaffected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_party_times_out_with_blame() {
    let sid = SessionId::derive("actors", b"silent");
    // Only parties 0 and 1 of three run: party 2 never speaks.
    let mut factories = keygen_factories("frost-ed25519", sid, 3, 2, 1_500);
    factories.truncate(2);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for outcome in run_observed(factories, sid, Some(tx)).await {
        match outcome {
            Err(SessionError::Protocol(ProtocolError::Timeout { missing, .. })) => assert_eq!(missing, vec![2]),
            other => panic!("expected a timeout naming party 2, got {other:?}"),
        }
    }
    // The health side sees who spoke in which round, and who was blamed for silence.
    let mut seen = Vec::new();
    while let Ok(o) = rx.try_recv() {
        seen.push(o);
    }
    assert!(seen.iter().any(|o| matches!(o, Observation::Arrived { party: 1, round: 1, .. })), "{seen:?}");
    assert!(seen.iter().any(|o| matches!(o, Observation::Arrived { party: 0, round: 1, .. })), "{seen:?}");
    assert!(!seen.iter().any(|o| matches!(o, Observation::Arrived { party: 2, .. })));
    let blamed: Vec<_> = seen.iter().filter(|o| matches!(o, Observation::Blamed { .. })).collect();
    assert_eq!(blamed.len(), 2, "each running party blames once: {seen:?}");
    assert!(blamed
        .iter()
        .all(|o| matches!(o, Observation::Blamed { parties, misbehaviour: false, .. } if parties == &vec![2])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dkg_runs_across_libp2p() {
    let dir = tempfile::tempdir().unwrap();
    let n = 3usize;
    let (handles, event_streams): (Vec<_>, Vec<_>) = common::committee(dir.path(), n).await.into_iter().unzip();

    let sid = SessionId::derive("actors", b"libp2p-dkg");
    let started = std::time::Instant::now();
    let mut waits = Vec::new();
    for (i, mut events) in event_streams.into_iter().enumerate() {
        let (done, wait) = oneshot::channel();
        let factory = keygen_factories("frost-ed25519", sid, n as u16, 2, 120_000).swap_remove(i).1;
        let args = SessionArgs {
            session: sid,
            factory,
            outbox: Arc::new(NetworkOutbox { network: handles[i].clone(), faults: None }),
            done,
            observer: None,
            me: i as PartyIndex,
            participants: (0..n as PartyIndex).collect(),
            watch: Default::default(),
        };
        let (actor, _) = Actor::spawn(None, SessionActor::<KeyShare>::default(), args).await.unwrap();
        // The network bridge, reduced to one session: route its envelopes to the actor.
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                if let NetEvent::Message { envelope, .. } = ev {
                    if envelope.session == sid {
                        let _ = actor.cast(SessionMsg::Incoming(envelope));
                    }
                }
            }
        });
        waits.push(wait);
    }
    let mut keys = Vec::new();
    for w in waits {
        keys.push(tokio::time::timeout(Duration::from_secs(30), w).await.unwrap().unwrap().unwrap().public_key);
    }
    assert!(keys.iter().all(|k| *k == keys[0]), "all parties agree on the key");
    eprintln!("networked 2-of-3 FROST-Ed25519 DKG over libp2p: {:?}", started.elapsed());
}
