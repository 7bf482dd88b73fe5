//! Coordinated aborts over real libp2p transports in one process: a forged, unsigned,
//! relayed, replayed or malformed abort is ignored and counted; a member never acts on one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actors::manager::{CeremonyEvent, CeremonyListener};
use protocol::abort::{signing_bytes, AbortBody, PartyState, SignedAbort};
use protocol::proposal::{Control, CONTROL_ROUND};
use protocol::{Envelope, Recipient, SessionId};

#[derive(Default)]
struct Ignored(Mutex<Vec<(Option<SessionId>, u16, &'static str)>>);

impl CeremonyListener for Ignored {
    fn on_ceremony(&self, event: &CeremonyEvent) {
        if let CeremonyEvent::AbortIgnored { session, from, reason } = event {
            self.0.lock().unwrap().push((*session, *from, reason));
        }
    }
}

fn envelope(session: SessionId, sender: u16, abort: SignedAbort) -> Envelope {
    let payload = Control::Abort(abort).encode().unwrap();
    Envelope { session, round: CONTROL_ROUND, sender, recipient: Recipient::Broadcast, payload }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_unsigned_relayed_malformed_and_stale_aborts_are_ignored_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Ignored::default());
    let listener = seen.clone();
    let nodes = common::nodes_with(dir.path(), 3, move |i| {
        if i == 1 {
            vec![listener.clone() as Arc<dyn CeremonyListener>]
        } else {
            Vec::new()
        }
    })
    .await;
    let session = SessionId::derive("test", b"abort");
    let states = vec![PartyState { party: 2, count: 1, hash: [7; 32] }];
    let body = AbortBody::new(session, 0, "party 2 silent", vec![2], false, states).encode().unwrap();
    let sender = &nodes[0].network;

    // Unsigned (an empty signature) and forged (another member's key).
    let unsigned = SignedAbort { body: body.clone(), signature: Vec::new() };
    let forged = SignedAbort { body: body.clone(), signature: nodes[2].network.sign(&signing_bytes(&body)).unwrap() };
    // Signed by 2, sent by 0: a relay is not the signer speaking.
    let by_two = AbortBody::new(session, 2, "relayed", vec![], false, vec![]).encode().unwrap();
    let relayed = SignedAbort { signature: nodes[2].network.sign(&signing_bytes(&by_two)).unwrap(), body: by_two };
    // Well signed by its sender, for a session node 1 never ran: stale (a replay looks the same).
    let genuine = SignedAbort { signature: sender.sign(&signing_bytes(&body)).unwrap(), body: body.clone() };
    let garbage = SignedAbort { body: vec![1, 2, 3], signature: vec![0; 64] };
    let mut tampered_body = AbortBody::decode(&body).unwrap();
    tampered_body.states[0].hash = [8; 32];
    let tampered =
        SignedAbort { body: bincode_body(&tampered_body), signature: sender.sign(&signing_bytes(&body)).unwrap() };

    // The transport drops a byte-identical copy; a replay under a new envelope gets through
    // to the manager, which finds the session not running.
    let replayed = AbortBody::new(session, 0, "party 2 silent (again)", vec![2], false, vec![]).encode().unwrap();
    let replayed = SignedAbort { signature: sender.sign(&signing_bytes(&replayed)).unwrap(), body: replayed };
    for abort in [unsigned, forged, relayed, genuine, garbage, tampered, replayed] {
        sender.broadcast(envelope(session, 0, abort)).await.unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..100 {
        got = seen.0.lock().unwrap().iter().map(|(_, _, r)| *r).collect::<Vec<_>>();
        if got.len() >= 7 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    got.sort_unstable();
    assert_eq!(
        got,
        vec!["bad_signature", "bad_signature", "malformed", "malformed", "not_the_signer", "stale", "stale"],
        "every bad abort is ignored, with its reason"
    );
    assert!(seen.0.lock().unwrap().iter().all(|(_, from, _)| *from == 0));
}

/// The body as bytes without recomputing its root (a tampered state keeps the old root).
fn bincode_body(body: &AbortBody) -> Vec<u8> {
    protocol::envelope::encode_bounded(body, 16 * 1024).unwrap()
}

/// Waits for a final status at `node`.
async fn settled(node: &common::Node, session: SessionId) -> actors::manager::SessionStatus {
    use actors::manager::{ManagerMsg, SessionStatus};
    for _ in 0..2400 {
        match ractor::call!(node.manager, |reply| ManagerMsg::Status { session, reply }).unwrap() {
            Some(SessionStatus::Proposed) | Some(SessionStatus::Running) | None => {}
            Some(s) => return s,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("session did not settle");
}

async fn propose(node: &common::Node, kind: protocol::proposal::ProposalKind, participants: Vec<u16>) -> SessionId {
    use actors::manager::ManagerMsg;
    ractor::call!(node.manager, |reply| ManagerMsg::Propose { kind, participants, reply }).unwrap().unwrap()
}

/// Three nodes, node 1 listening for ignored aborts, and a FROST wallet of all three.
async fn committee_with_wallet(
    dir: &std::path::Path,
    seen: &Arc<Ignored>,
    wallet: &protocol::WalletId,
) -> (Vec<common::Node>, SessionId) {
    use protocol::proposal::ProposalKind;
    let listener = seen.clone();
    let nodes = common::nodes_with(dir, 3, move |i| {
        if i == 1 {
            vec![listener.clone() as Arc<dyn CeremonyListener>]
        } else {
            Vec::new()
        }
    })
    .await;
    let kind = ProposalKind::Keygen {
        wallet: wallet.clone(),
        scheme: protocol::SchemeId::from_name("frost-ed25519"),
        threshold: 2,
    };
    let dkg = propose(&nodes[0], kind, vec![0, 1, 2]).await;
    (nodes, dkg)
}

async fn ignored_reasons(seen: &Ignored, want: usize) -> Vec<&'static str> {
    for _ in 0..100 {
        let got: Vec<_> = seen.0.lock().unwrap().iter().map(|(_, _, r)| *r).collect();
        if got.len() >= want {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    seen.0.lock().unwrap().iter().map(|(_, _, r)| *r).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_from_a_member_outside_the_signing_is_ignored_and_the_signing_stands() {
    use actors::manager::SessionStatus;
    use protocol::proposal::{ProposalKind, Signable};
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Ignored::default());
    let wallet = protocol::WalletId::new("outsider-abort").unwrap();
    let (nodes, dkg) = committee_with_wallet(dir.path(), &seen, &wallet).await;
    for node in &nodes {
        assert!(matches!(settled(node, dkg).await, SessionStatus::KeyReady(_)));
    }
    let sign = ProposalKind::Sign { wallet, signable: Signable::Raw(b"not yours to stop".to_vec()) };
    let session = propose(&nodes[0], sign, vec![0, 1]).await;
    // Once node 1 knows the signing, node 2 (a committee member, not a signer) aborts it,
    // with a valid signature.
    while ractor::call!(nodes[1].manager, |reply| actors::manager::ManagerMsg::Status { session, reply })
        .unwrap()
        .is_none()
    {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let body = AbortBody::new(session, 2, "party 0 silent", vec![0], false, vec![]).encode().unwrap();
    let abort = SignedAbort { signature: nodes[2].network.sign(&signing_bytes(&body)).unwrap(), body };
    nodes[2].network.broadcast(envelope(session, 2, abort)).await.unwrap();
    assert_eq!(ignored_reasons(&seen, 1).await, vec!["not_a_member"]);
    assert!(matches!(settled(&nodes[1], session).await, SessionStatus::Signed(_)));
    assert!(matches!(settled(&nodes[0], session).await, SessionStatus::Signed(_)));
}

/// A participant claiming, right after a DKG completed, that it failed, with broadcast states
/// that contradict what node 1 saw: node 1 ignores it (`disagrees`) and keeps its share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_false_complaint_after_a_dkg_is_ignored_and_the_share_is_kept() {
    use actors::manager::SessionStatus;
    use protocol::proposal::{ProposalKind, Signable};
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Ignored::default());
    let wallet = protocol::WalletId::new("false-complaint").unwrap();
    let (nodes, dkg) = committee_with_wallet(dir.path(), &seen, &wallet).await;
    assert!(matches!(settled(&nodes[1], dkg).await, SessionStatus::KeyReady(_)));
    // Party 0's broadcasts, as node 2 falsely reports them: every plausible count, a wrong hash.
    let states = (1..=8).map(|count| PartyState { party: 0, count, hash: [9; 32] }).collect();
    let body = AbortBody::new(dkg, 2, "party 0 equivocated", vec![0], true, states).encode().unwrap();
    let abort = SignedAbort { signature: nodes[2].network.sign(&signing_bytes(&body)).unwrap(), body };
    nodes[2].network.broadcast(envelope(dkg, 2, abort)).await.unwrap();
    assert_eq!(ignored_reasons(&seen, 1).await, vec!["disagrees"]);
    assert!(matches!(settled(&nodes[1], dkg).await, SessionStatus::KeyReady(_)), "the DKG stays complete");
    let sign = ProposalKind::Sign { wallet, signable: Signable::Raw(b"still here".to_vec()) };
    let s = propose(&nodes[1], sign, vec![0, 1]).await;
    match settled(&nodes[1], s).await {
        SessionStatus::Signed(_) => {}
        other => panic!("the members no longer sign together: {other:?}"),
    }
}
