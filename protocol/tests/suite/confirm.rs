//! Confirmed completion of a DKG, all parties in one process: a share comes out only when
//! every party confirmed the same key and transcript.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use protocol::confirm::{Confirmed, CONFIRM_ROUND};
use protocol::sim::Sim;
use protocol::{BoxCeremony, KeyShare, KeygenParams, ProtocolError};

fn confirmed(tag: &str, n: u16, t: u16) -> Sim<KeyShare> {
    let scheme = common::scheme("frost-ed25519");
    let s = common::session(tag);
    Sim::new((0..n).map(|i| {
        let inner = scheme.keygen(&KeygenParams::new(s, i, n, t), None).unwrap();
        let c: BoxCeremony<KeyShare> = Box::new(Confirmed::new(inner, i, (0..n).collect(), 5_000));
        (i, c)
    }))
}

#[test]
fn every_party_yields_its_share_once_all_confirmed_the_same_key() {
    let shares = confirmed("confirm-ok", 4, 3).shuffled(7).run().into_result().unwrap();
    assert_eq!(shares.len(), 4);
    assert!(shares.iter().all(|s| s.public_key == shares[0].public_key));
}

#[test]
fn a_party_that_never_confirms_leaves_the_others_without_a_share() {
    let report = confirmed("confirm-silent", 4, 3)
        .with_filter(|e| if e.round == CONFIRM_ROUND && e.sender == 3 { vec![] } else { vec![e] })
        .run();
    for p in 0..3 {
        match report.errors.get(&p) {
            Some(ProtocolError::Timeout { round, missing, .. }) => {
                assert_eq!(missing, &vec![3]);
                assert_eq!(*round, 3, "the confirmation is the round after the DKG's two");
            }
            other => panic!("party {p}: expected a timeout, got {other:?}"),
        }
    }
    assert!(!report.outputs.contains_key(&0), "no share without every confirmation");
}

#[test]
fn a_different_confirmation_is_cheating_and_nobody_keeps_a_share() {
    let report = confirmed("confirm-forged", 3, 2)
        .with_filter(|mut e| {
            if e.round == CONFIRM_ROUND && e.sender == 1 {
                let last = e.payload.len() - 1;
                e.payload[last] ^= 1;
            }
            vec![e]
        })
        .run();
    // The liar's own copy is untouched, so only it may end with a share (useless alone; the
    // node's signed abort makes it delete that too).
    assert!(report.outputs.keys().all(|p| *p == 1), "an honest party kept a share: {:?}", report.outputs.keys());
    for p in [0, 2] {
        let e = report.errors.get(&p).expect("honest parties fail");
        assert!(e.is_misbehaviour(), "party {p}: {e}");
    }
}

#[test]
fn a_broadcast_sent_differently_to_one_party_is_caught_by_the_confirmation() {
    // Party 2 gets a copy of party 0's round-1 broadcast under another round: the DKG refuses
    // it, and nothing unadmitted enters the transcript, so the DKG still completes.
    let report = confirmed("confirm-stray", 3, 2)
        .with_filter(|e| {
            if e.round == 1 && e.sender == 0 {
                let mut stray = e.clone();
                stray.round = 9;
                vec![e, stray]
            } else {
                vec![e]
            }
        })
        .run();
    assert_eq!(report.outputs.len(), 3, "errors: {:?}", report.errors);
}
