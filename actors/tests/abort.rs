//! Coordinated aborts over real libp2p transports in one process: a forged, unsigned,
//! relayed, replayed or malformed abort is ignored and counted; a member never acts on one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

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
