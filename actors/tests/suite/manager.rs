//! Two or three nodes in one process, each with its libp2p transport, store, keystore and session
//! manager: a keygen proposed by one node and a signing proposed by another run without any
//! coordinator; every participant stores its share and computes the signature itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use crate::common;

use actors::keystore::{Keystore, StoreKeystore};
use actors::manager::{ManagerMsg, SessionStatus};
use protocol::primes::MemoryPrimePool;
use protocol::proposal::{ProposalKind, Signable};
use protocol::schemes::{self, SchemeEnv};
use protocol::{SchemeId, SessionId, WalletId};
use store::{Db, Journal, KdfParams, Vault, VaultSecret};

async fn status(node: &common::Node, session: SessionId) -> Option<SessionStatus> {
    ractor::call!(node.manager, |reply| ManagerMsg::Status { session, reply }).unwrap()
}

/// Waits for a final status (generous: CI runs the CGGMP24 rounds on two busy cores).
async fn settled(node: &common::Node, session: SessionId) -> SessionStatus {
    let mut last = None;
    for _ in 0..4800 {
        match status(node, session).await {
            Some(SessionStatus::Proposed) | Some(SessionStatus::Running) | None => {}
            Some(s) => return s,
        }
        last = status(node, session).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("session did not settle; last status {last:?}");
}

/// Proposes a keygen of the whole committee at `via`; every node ends with the same key.
async fn keygen_everywhere(nodes: &[common::Node], via: usize, kind: ProposalKind) -> Vec<protocol::PublicKey> {
    let participants: Vec<u16> = (0..nodes.len() as u16).collect();
    let session =
        ractor::call!(nodes[via].manager, |reply| ManagerMsg::Propose { kind, participants, reply }).unwrap().unwrap();
    let mut keys = Vec::new();
    for node in nodes {
        match settled(node, session).await {
            SessionStatus::KeyReady(pk) => keys.push(pk),
            other => panic!("{other:?}"),
        }
    }
    assert!(keys.iter().all(|k| *k == keys[0]), "every node holds a share of the same key");
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keygen_and_signing_by_proposal_without_a_coordinator() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = common::nodes(dir.path(), 3).await;
    let wallet = WalletId::new("treasury").unwrap();
    let kind =
        ProposalKind::Keygen { wallet: wallet.clone(), scheme: SchemeId::from_name("frost-ed25519"), threshold: 2 };
    let keys = keygen_everywhere(&nodes, 0, kind).await;
    for (i, node) in nodes.iter().enumerate() {
        assert_eq!(node.keystore.get(&wallet).unwrap().party, i as u16, "every share is stored");
    }

    // A second keygen for the same wallet is refused by the proposer's own policy.
    let again =
        ProposalKind::Keygen { wallet: wallet.clone(), scheme: SchemeId::from_name("frost-ed25519"), threshold: 2 };
    let refused = ractor::call!(nodes[1].manager, |reply| ManagerMsg::Propose {
        kind: again,
        participants: vec![0, 1, 2],
        reply
    })
    .unwrap();
    assert!(refused.is_err());

    // Node 1 proposes a signing by parties 1 and 2; node 0 is not asked.
    let sign = ProposalKind::Sign { wallet: wallet.clone(), signable: Signable::Raw(b"pay 1 SOL".to_vec()) };
    let session =
        ractor::call!(nodes[1].manager, |reply| ManagerMsg::Propose { kind: sign, participants: vec![1, 2], reply })
            .unwrap()
            .unwrap();
    let mut sigs = Vec::new();
    for node in &nodes[1..] {
        match settled(node, session).await {
            SessionStatus::Signed(mut one) => {
                assert_eq!(one.len(), 1, "one payload, one signature");
                sigs.push(one.remove(0))
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sigs[0], sigs[1], "each signer computed the same signature itself");
    let scheme = schemes::registry(&SchemeEnv { primes: Arc::new(MemoryPrimePool::default()) })
        .by_name("frost-ed25519")
        .unwrap();
    scheme.verify(&keys[0], b"pay 1 SOL", &sigs[0]).unwrap();
    assert!(!matches!(status(&nodes[0], session).await, Some(SessionStatus::Signed(_))), "party 0 did not sign");

    // Signing with a wallet nobody has is declined by the proposer.
    let unknown = ProposalKind::Sign { wallet: WalletId::new("nope").unwrap(), signable: Signable::Raw(vec![1]) };
    let refused =
        ractor::call!(nodes[2].manager, |reply| ManagerMsg::Propose { kind: unknown, participants: vec![1, 2], reply })
            .unwrap();
    assert!(refused.is_err());
}

#[tokio::test]
async fn shares_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("vault.key");
    std::fs::write(&key_file, [9u8; 32]).unwrap();
    let wallet = WalletId::new("cold").unwrap();
    let share = protocol::KeyShare {
        scheme: SchemeId::from_name("frost-ed25519"),
        party: 2,
        threshold: 2,
        parties: 3,
        public_key: protocol::PublicKey { scheme: SchemeId::from_name("frost-ed25519"), bytes: vec![1; 32] },
        secret: protocol::SecretBytes::new(vec![7; 40]),
    };
    let open = || {
        let db = Db::open(&dir.path().join("db")).unwrap();
        let vault =
            Arc::new(Vault::open(db.clone(), VaultSecret::KeyFile(key_file.clone()), KdfParams::default()).unwrap());
        StoreKeystore::new(Arc::new(Journal::open(db).unwrap()), vault)
    };
    {
        let ks = open();
        ks.put(&wallet, SessionId::derive("t", b"1"), &share).unwrap();
        assert!(ks.put(&wallet, SessionId::derive("t", b"2"), &share).is_err(), "a wallet is created once");
    }
    assert_eq!(open().get(&wallet).unwrap(), share);
    // A session id runs once on a node, and stays run after a restart.
    let session = SessionId::derive("t", b"run-once");
    assert!(open().consume_session(session).unwrap());
    assert!(!open().consume_session(session).unwrap(), "never twice, not even after a restart");
    assert!(open().consume_session(SessionId::derive("t", b"another")).unwrap());
}

/// Two members (a CGGMP24 setup costs seconds of CPU per member; the setup race and the
/// in-process behaviour suite use more): the setup, a keygen and a signing, each by proposal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cggmp24_setup_keygen_and_signing_by_proposal() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = common::nodes(dir.path(), 2).await;
    let scheme = SchemeId::from_name("cggmp24");
    let wallet = WalletId::new("eth-hot").unwrap();
    // Before the committee setup, a CGGMP24 keygen is declined.
    let early = ProposalKind::Keygen { wallet: wallet.clone(), scheme: scheme.clone(), threshold: 2 };
    let refused = propose(&nodes[0], early, vec![0, 1]).await.unwrap_err();
    assert!(refused.contains("setup"), "{refused}");

    let session = propose(&nodes[1], ProposalKind::Setup { scheme: scheme.clone() }, vec![0, 1]).await.unwrap();
    for node in &nodes {
        assert_eq!(settled(node, session).await, SessionStatus::SetupReady);
    }
    let kind = ProposalKind::Keygen { wallet: wallet.clone(), scheme: scheme.clone(), threshold: 2 };
    let keys = keygen_everywhere(&nodes, 1, kind).await;
    let digest = [0x42u8; 32].to_vec();
    let sign = ProposalKind::Sign { wallet, signable: Signable::Raw(digest.clone()) };
    let session = propose(&nodes[0], sign, vec![0, 1]).await.unwrap();
    let sig = match settled(&nodes[1], session).await {
        SessionStatus::Signed(mut sigs) if sigs.len() == 1 => sigs.remove(0),
        other => panic!("{other:?}"),
    };
    let registry = schemes::registry(&SchemeEnv { primes: Arc::new(MemoryPrimePool::default()) });
    registry.get(&scheme).unwrap().verify(&keys[0], &digest, &sig).unwrap();
    assert!(sig.recovery_id.is_some());
}

/// Two Ethereum transactions on one nonce: the second is never signed, whether its proposer
/// or another member promised the nonce first. (The committee's CGGMP24 setup is the
/// committed one: the setup itself is the test above.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ethereum_transactions_on_one_nonce_are_never_both_signed() {
    use protocol::chains::{ethereum::Ethereum, Chain, ChainContext, TransferRequest};
    use protocol::wallet::TransferIntent;

    let dir = tempfile::tempdir().unwrap();
    let nodes = common::nodes(dir.path(), 3).await;
    for (node, setup) in nodes.iter().zip(common::fixture_setup(3)) {
        node.keystore.put_setup(SessionId::derive("t", b"committed setup"), &setup).unwrap();
    }
    let scheme = SchemeId::from_name("cggmp24");
    let kind = ProposalKind::Keygen { wallet: WalletId::new("eth-hot").unwrap(), scheme, threshold: 2 };
    let keys = keygen_everywhere(&nodes, 1, kind).await;
    let intent = |tx: &str, nonce: u64, amount: u128| {
        let ctx = ChainContext::Account {
            chain_id: 31337,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            legacy_gas_price: None,
        };
        let request =
            TransferRequest { to: "0x3535353535353535353535353535353535353535".into(), amount, fee_ceiling: None };
        let unsigned = Ethereum.build(&keys[0], &request, &ctx).unwrap();
        let intent = TransferIntent { tx: tx.into(), chain: "ethereum".into(), unsigned };
        ProposalKind::Sign { wallet: WalletId::new("eth-hot").unwrap(), signable: Signable::Transfer(Box::new(intent)) }
    };
    let a = propose(&nodes[0], intent("tx-0-nonce-a", 0, 1_000), vec![0, 1]).await.unwrap();
    assert!(matches!(settled(&nodes[0], a).await, SessionStatus::Signed(_)));
    let own = propose(&nodes[1], intent("tx-1-nonce-b", 0, 2_000), vec![1, 2]).await.unwrap_err();
    assert!(own.contains("already promised to transaction tx-0-nonce-a"), "{own}");
    let b = propose(&nodes[2], intent("tx-2-nonce-b", 0, 2_000), vec![1, 2]).await.unwrap();
    match settled(&nodes[2], b).await {
        SessionStatus::Failed(reason) => assert!(reason.to_string().contains("already promised"), "{reason}"),
        other => panic!("a second transaction on nonce 0 was signed: {other:?}"),
    }
    // The next nonce is free.
    let c = propose(&nodes[2], intent("tx-2-nonce-c", 1, 2_000), vec![1, 2]).await.unwrap();
    assert!(matches!(settled(&nodes[2], c).await, SessionStatus::Signed(_)));
}

async fn propose(node: &common::Node, kind: ProposalKind, participants: Vec<u16>) -> Result<SessionId, String> {
    ractor::call!(node.manager, |reply| ManagerMsg::Propose { kind, participants, reply })
        .unwrap()
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_proposals_neither_deadlock_nor_run_twice() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = common::nodes(dir.path(), 3).await;
    let wallet = WalletId::new("contested").unwrap();
    let kind =
        || ProposalKind::Keygen { wallet: wallet.clone(), scheme: SchemeId::from_name("frost-ed25519"), threshold: 2 };
    // Two nodes propose a keygen for the same wallet at the same moment.
    let (a, b) = tokio::join!(propose(&nodes[0], kind(), vec![0, 1, 2]), propose(&nodes[1], kind(), vec![0, 1, 2]));
    let sessions: Vec<SessionId> = [a, b].into_iter().flatten().collect();
    assert!(!sessions.is_empty());
    // Every proposal settles everywhere (no deadlock), and at most one produced a key.
    let mut made = 0;
    for s in &sessions {
        let outcomes: Vec<SessionStatus> = {
            let mut v = Vec::new();
            for node in &nodes {
                v.push(settled(node, *s).await);
            }
            v
        };
        if outcomes.iter().all(|o| matches!(o, SessionStatus::KeyReady(_))) {
            made += 1;
        } else {
            assert!(outcomes.iter().all(|o| matches!(o, SessionStatus::Failed(_))), "{outcomes:?}");
        }
    }
    assert!(made <= 1, "one wallet, at most one key");
    // Whatever happened, the wallet can be created now, exactly once.
    if made == 0 {
        let s = ractor::call!(nodes[2].manager, |reply| ManagerMsg::Propose {
            kind: kind(),
            participants: vec![0, 1, 2],
            reply
        })
        .unwrap()
        .unwrap();
        for node in &nodes {
            assert!(matches!(settled(node, s).await, SessionStatus::KeyReady(_)));
        }
    }
    let key = nodes[0].keystore.get(&wallet).unwrap().public_key;
    for node in &nodes {
        assert_eq!(node.keystore.get(&wallet).unwrap().public_key, key);
    }

    // Two signings with that wallet proposed at once by different nodes: both run, as two sessions.
    let sign = |p: &[u8]| ProposalKind::Sign { wallet: wallet.clone(), signable: Signable::Raw(p.to_vec()) };
    let (x, y) =
        tokio::join!(propose(&nodes[0], sign(b"one"), vec![0, 1]), propose(&nodes[1], sign(b"two"), vec![0, 1]));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_ne!(x, y);
    for s in [x, y] {
        assert!(matches!(settled(&nodes[0], s).await, SessionStatus::Signed(_)));
        assert!(matches!(settled(&nodes[1], s).await, SessionStatus::Signed(_)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_without_us_leave_nothing_buffered_and_ours_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = common::nodes(dir.path(), 3).await;
    let wallet = WalletId::new("busy").unwrap();
    let kind =
        ProposalKind::Keygen { wallet: wallet.clone(), scheme: SchemeId::from_name("frost-ed25519"), threshold: 2 };
    let s = propose(&nodes[0], kind, vec![0, 1, 2]).await.unwrap();
    for node in &nodes {
        assert!(matches!(settled(node, s).await, SessionStatus::KeyReady(_)));
    }
    // Many signings by 0 and 1: node 2 sees every broadcast of sessions it is not part of.
    for k in 0..80u32 {
        let sign = ProposalKind::Sign { wallet: wallet.clone(), signable: Signable::Raw(k.to_be_bytes().to_vec()) };
        let s = propose(&nodes[k as usize % 2], sign, vec![0, 1]).await.unwrap();
        assert!(matches!(settled(&nodes[0], s).await, SessionStatus::Signed(_)));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (envelopes, votes) = ractor::call!(nodes[2].manager, ManagerMsg::Buffered).unwrap();
    assert_eq!((envelopes, votes), (0, 0), "node 2 keeps nothing of sessions without it");
    // And its own signings run as before.
    let sign = ProposalKind::Sign { wallet, signable: Signable::Raw(b"ours".to_vec()) };
    let s = propose(&nodes[2], sign, vec![1, 2]).await.unwrap();
    assert!(matches!(settled(&nodes[2], s).await, SessionStatus::Signed(_)));
    assert_eq!(status(&nodes[2], s).await.map(|x| x.is_final()), Some(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_never_signs_two_transactions_spending_the_same_output() {
    use protocol::chains::bitcoin::{BitcoinChain, Network};
    use protocol::chains::{Chain, ChainContext, TransferRequest, Utxo};
    use protocol::wallet::TransferIntent;
    let dir = tempfile::tempdir().unwrap();
    let nodes = common::nodes(dir.path(), 3).await;
    let wallet = WalletId::new("btc").unwrap();
    let kind = ProposalKind::Keygen {
        wallet: wallet.clone(),
        scheme: SchemeId::from_name("frost-secp256k1-tr"),
        threshold: 2,
    };
    let s = propose(&nodes[0], kind, vec![0, 1, 2]).await.unwrap();
    let key = match settled(&nodes[0], s).await {
        SessionStatus::KeyReady(pk) => pk,
        other => panic!("{other:?}"),
    };
    for node in &nodes[1..] {
        assert!(matches!(settled(node, s).await, SessionStatus::KeyReady(_)));
    }
    let chain = BitcoinChain::p2tr(Network::Regtest);
    let ctx = ChainContext::Utxos {
        utxos: vec![Utxo { txid: "66".repeat(32), vout: 0, amount: 80_000 }],
        fee_rate_sat_vb: 2,
    };
    let intent = |tx: &str, amount: u128| {
        let request =
            TransferRequest { to: "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080".into(), amount, fee_ceiling: None };
        let unsigned = chain.build(&key, &request, &ctx).unwrap();
        let intent = TransferIntent { tx: tx.into(), chain: "bitcoin-p2tr".into(), unsigned };
        ProposalKind::Sign { wallet: wallet.clone(), signable: Signable::Transfer(Box::new(intent)) }
    };
    // Nodes 0 and 1 sign transaction A, which spends the output.
    let a = propose(&nodes[0], intent("tx-0-aaaa", 30_000), vec![0, 1]).await.unwrap();
    assert!(matches!(settled(&nodes[0], a).await, SessionStatus::Signed(_)));
    // Transaction B spends the same output: node 1 refuses to propose it...
    let own = propose(&nodes[1], intent("tx-1-bbbb", 20_000), vec![1, 2]).await.unwrap_err();
    assert!(own.contains("already promised to transaction tx-0-aaaa"), "{own}");
    // ...and, proposed by node 2 (which never saw A), node 1 declines it.
    let b = propose(&nodes[2], intent("tx-2-bbbb", 20_000), vec![1, 2]).await.unwrap();
    match settled(&nodes[2], b).await {
        SessionStatus::Failed(reason) => assert!(reason.to_string().contains("already promised"), "{reason}"),
        other => panic!("a conflicting spend was signed: {other:?}"),
    }
    // Transaction A itself may be signed again (a retry spends nothing new).
    let again = propose(&nodes[1], intent("tx-0-aaaa", 30_000), vec![0, 1]).await.unwrap();
    assert!(matches!(settled(&nodes[1], again).await, SessionStatus::Signed(_)));
    // A manager started afresh over node 1's store (as after a restart) still knows the
    // output is promised to A.
    let (restarted, _) =
        ractor::Actor::spawn(None, actors::manager::SessionManager, nodes[1].args.clone()).await.unwrap();
    let kind = intent("tx-1-cccc", 25_000);
    let after = ractor::call!(restarted, |reply| ManagerMsg::Propose { kind, participants: vec![1, 2], reply })
        .unwrap()
        .map_err(|e| e.to_string())
        .unwrap_err();
    assert!(after.contains("already promised to transaction tx-0-aaaa"), "{after}");
    restarted.stop(None);
}

/// A transaction with two inputs is one proposal, one vote round and one session that signs
/// both sighashes; each signature verifies over its own input's payload, and a proposal whose
/// payloads are not the body's is declined by every member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_input_bitcoin_spend_is_one_proposal_and_one_session() {
    use protocol::chains::bitcoin::{BitcoinChain, Network};
    use protocol::chains::{Chain, ChainContext, TransferRequest, Utxo};
    use protocol::wallet::TransferIntent;
    let dir = tempfile::tempdir().unwrap();
    let nodes = common::nodes(dir.path(), 3).await;
    let wallet = WalletId::new("btc2").unwrap();
    let scheme = SchemeId::from_name("frost-secp256k1-tr");
    let kind = ProposalKind::Keygen { wallet: wallet.clone(), scheme: scheme.clone(), threshold: 2 };
    let key = keygen_everywhere(&nodes, 0, kind).await.remove(0);
    let chain = BitcoinChain::p2tr(Network::Regtest);
    // Two outputs of 30 000 sat: a 50 000 sat payment needs both.
    let ctx = ChainContext::Utxos {
        utxos: vec![
            Utxo { txid: "11".repeat(32), vout: 0, amount: 30_000 },
            Utxo { txid: "22".repeat(32), vout: 1, amount: 30_000 },
        ],
        fee_rate_sat_vb: 2,
    };
    let request = TransferRequest {
        to: "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080".into(),
        amount: 50_000,
        fee_ceiling: None,
    };
    let unsigned = chain.build(&key, &request, &ctx).unwrap();
    assert_eq!(unsigned.payloads.len(), 2, "two inputs, two sighashes");
    let intent = TransferIntent { tx: "tx-0-two".into(), chain: "bitcoin-p2tr".into(), unsigned: unsigned.clone() };
    let sign = ProposalKind::Sign { wallet: wallet.clone(), signable: Signable::Transfer(Box::new(intent.clone())) };
    let session = propose(&nodes[0], sign, vec![0, 2]).await.unwrap();
    let registry = schemes::registry(&SchemeEnv { primes: Arc::new(MemoryPrimePool::default()) });
    for node in [&nodes[0], &nodes[2]] {
        let sigs = match settled(node, session).await {
            SessionStatus::Signed(sigs) => sigs,
            other => panic!("{other:?}"),
        };
        assert_eq!(sigs.len(), 2, "one signature per input, from one session");
        for (payload, sig) in unsigned.payloads.iter().zip(&sigs) {
            registry.get(&scheme).unwrap().verify(&key, payload, sig).unwrap();
        }
        let signed = chain.finalize(&key, &unsigned, &sigs).unwrap();
        assert!(!signed.raw.is_empty());
        let list = ractor::call!(node.manager, |reply| ManagerMsg::List { limit: 100, reply }).unwrap();
        let signings: Vec<_> = list.iter().filter(|i| i.kind == store::CeremonyKind::Sign).collect();
        assert_eq!(signings.len(), 1, "one proposal for the whole transaction");
    }
    // Payloads that are not the body's: the proposer's own review refuses before anyone votes.
    let mut forged = intent;
    forged.tx = "tx-2-forged".into();
    forged.unsigned.payloads[1] = vec![7; 32];
    let sign = ProposalKind::Sign { wallet, signable: Signable::Transfer(Box::new(forged)) };
    let refused = propose(&nodes[2], sign, vec![1, 2]).await.unwrap_err();
    assert!(refused.contains("transaction check failed"), "{refused}");
}

/// A failed fsync fails the journal closed; from then on the member refuses every new
/// ceremony, its own and its peers', with a typed reason, and keeps the share it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_journal_failed_closed_refuses_new_ceremonies() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = common::nodes(dir.path(), 3).await;
    let wallet = WalletId::new("disk").unwrap();
    let kind =
        ProposalKind::Keygen { wallet: wallet.clone(), scheme: SchemeId::from_name("frost-ed25519"), threshold: 2 };
    keygen_everywhere(&nodes, 0, kind).await;
    let share_before = nodes[2].keystore.get(&wallet).unwrap();

    // The next synced commit fails as a failed fsync would.
    let journal = nodes[2].keystore.journal.clone();
    journal.inject_write_failure();
    let probe = store::AppendRequest::new(
        store::StreamId::Health,
        store::ExpectedVersion::Any,
        vec![store::DomainEvent::BreakerTransition {
            session: None,
            from: "closed".into(),
            to: "closed".into(),
            reason: "probe".into(),
        }],
    );
    assert!(journal.append(probe).is_err());
    assert!(!journal.is_healthy());

    let sign = || ProposalKind::Sign { wallet: wallet.clone(), signable: Signable::Raw(b"after the failure".to_vec()) };
    // Its own proposal: refused before anything is sent.
    let own =
        ractor::call!(nodes[2].manager, |reply| ManagerMsg::Propose { kind: sign(), participants: vec![0, 2], reply })
            .unwrap();
    assert!(matches!(own, Err(actors::Error::StoreRefuses(_))), "{own:?}");
    // A peer's proposal naming it: it declines, saying why.
    let session = propose(&nodes[0], sign(), vec![0, 2]).await.unwrap();
    match settled(&nodes[0], session).await {
        SessionStatus::Failed(f) => assert!(f.to_string().contains("store refuses new ceremonies"), "{f}"),
        other => panic!("a member with a failed journal took part: {other:?}"),
    }
    // The others still sign without it, and it keeps the share it had.
    let session = propose(&nodes[0], sign(), vec![0, 1]).await.unwrap();
    assert!(matches!(settled(&nodes[1], session).await, SessionStatus::Signed(_)));
    assert_eq!(nodes[2].keystore.get(&wallet).unwrap(), share_before);
}

/// Two committee setups proposed at once never both run: a member holds one setup of a scheme
/// open at a time and declines another; the proposer of a second one is told to wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_committee_setups_never_both_run() {
    let dir = tempfile::tempdir().unwrap();
    // Two members: the race needs two proposers, and a setup of two costs a third of three's.
    let nodes = common::nodes(dir.path(), 2).await;
    let scheme = SchemeId::from_name("cggmp24");
    let setup = || ProposalKind::Setup { scheme: scheme.clone() };
    let first = propose(&nodes[0], setup(), vec![0, 1]).await.unwrap();
    // The same node again while its first is open: refused at once, naming the open one.
    let again =
        ractor::call!(nodes[0].manager, |reply| ManagerMsg::Propose { kind: setup(), participants: vec![0, 1], reply })
            .unwrap();
    assert!(matches!(&again, Err(actors::Error::SetupRunning { session, .. }) if *session == first), "{again:?}");
    // Another node racing it: at most one of the two runs anywhere.
    let second = propose(&nodes[1], setup(), vec![0, 1]).await;
    let mut ran = 0;
    for session in [Some(first), second.ok()].into_iter().flatten() {
        let status = settled(&nodes[0], session).await;
        eprintln!("{session}: {status:?}");
        if status == SessionStatus::SetupReady {
            ran += 1;
        }
    }
    assert!(ran <= 1, "two setups ran: each spent a prime set on every member");
}

/// A member asked to sign with a wallet it does not hold (it lost its share) declines, saying
/// so, and nothing of the signing runs anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_the_wallet_declines_a_peers_signing_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = common::nodes(dir.path(), 3).await;
    let wallet = WalletId::new("lost-here").unwrap();
    let kind =
        ProposalKind::Keygen { wallet: wallet.clone(), scheme: SchemeId::from_name("frost-ed25519"), threshold: 2 };
    let participants: Vec<u16> = vec![0, 1, 2];
    let keygen =
        ractor::call!(nodes[0].manager, |reply| ManagerMsg::Propose { kind, participants, reply }).unwrap().unwrap();
    for node in &nodes {
        assert!(matches!(settled(node, keygen).await, SessionStatus::KeyReady(_)));
    }
    assert!(nodes[2].keystore.discard(&wallet, keygen, "lost in a test").unwrap());
    let sign = ProposalKind::Sign { wallet: wallet.clone(), signable: Signable::Raw(b"pay".to_vec()) };
    let session = propose(&nodes[0], sign, vec![0, 2]).await.unwrap();
    match settled(&nodes[0], session).await {
        SessionStatus::Failed(f) => {
            let why = f.to_string();
            assert!(why.contains("party 2") || why.contains("member 2"), "the decliner is named: {why}");
            assert!(why.contains("lost-here"), "the wallet is named: {why}");
        }
        other => panic!("a member without the wallet took part: {other:?}"),
    }
    assert!(!matches!(status(&nodes[2], session).await, Some(SessionStatus::Running)));
}

/// A member spraying votes for sessions nobody proposed fills only its own share of the
/// early-vote buffer (64 sessions); the others' proposals, votes and signings go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn votes_sprayed_ahead_of_any_proposal_fill_only_the_sprayers_share() {
    use protocol::proposal::{Control, Vote, CONTROL_ROUND};
    use protocol::{Envelope, Recipient};
    let dir = tempfile::tempdir().unwrap();
    let nodes = common::nodes(dir.path(), 3).await;
    let wallet = WalletId::new("sprayed").unwrap();
    let kind =
        ProposalKind::Keygen { wallet: wallet.clone(), scheme: SchemeId::from_name("frost-ed25519"), threshold: 2 };
    keygen_everywhere(&nodes, 0, kind).await;
    for k in 0..1000u32 {
        let session = SessionId::derive("spray", &k.to_be_bytes());
        let payload = Control::Vote { session, vote: Vote::Accept }.encode().unwrap();
        let envelope = Envelope { session, round: CONTROL_ROUND, sender: 2, recipient: Recipient::Broadcast, payload };
        nodes[2].network.broadcast(envelope).await.unwrap();
    }
    // Wait until node 1 has taken in what it will of the spray.
    let mut votes = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, now) = ractor::call!(nodes[1].manager, ManagerMsg::Buffered).unwrap();
        if now == votes && now > 0 {
            break;
        }
        votes = now;
    }
    assert_eq!(votes, 64, "node 1 keeps the sprayer's votes for at most 64 sessions");
    for (i, participants) in [vec![0, 1], vec![1, 2]].into_iter().enumerate() {
        let sign = ProposalKind::Sign { wallet: wallet.clone(), signable: Signable::Raw(vec![i as u8; 8]) };
        let s = propose(&nodes[1], sign, participants).await.unwrap();
        assert!(matches!(settled(&nodes[1], s).await, SessionStatus::Signed(_)));
    }
}
