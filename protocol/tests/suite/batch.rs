//! Several signatures in one session, all parties in one process: every scheme signs every
//! payload, each part under its own transcript; a batch of one is the plain ceremony on the
//! wire; a sender naming a part that does not exist is blamed; a silent party is named.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::*;
use protocol::batch::{part_session, sign_batch};
use protocol::sim::Sim;
use protocol::{ProtocolError, SignParams, Signature};

fn batch_sim(
    scheme: &dyn protocol::ThresholdScheme,
    shares: &[protocol::KeyShare],
    signers: &[u16],
    payloads: &[Vec<u8>],
    tag: &str,
) -> Sim<Vec<Signature>> {
    let s = session(tag);
    Sim::new(signers.iter().map(|&i| {
        let params = SignParams::new(s, signers.to_vec(), Vec::new());
        (i, sign_batch(scheme, &shares[i as usize], &params, payloads).unwrap())
    }))
}

#[test]
fn every_scheme_signs_every_payload_of_a_batch_in_one_session() {
    for name in ["frost-ed25519", "frost-secp256k1-tr", "cggmp24"] {
        let scheme = scheme(name);
        let shares = keygen(&*scheme, 3, 2);
        let payloads: Vec<Vec<u8>> = (1..=3).map(|k| message_for(name, k)).collect();
        let all = batch_sim(&*scheme, &shares, &[0, 2], &payloads, &format!("batch-{name}"))
            .shuffled(7)
            .run()
            .into_result()
            .unwrap();
        assert_eq!(all.len(), 2, "{name}: both signers finished");
        assert_eq!(all[0], all[1], "{name}: both computed the same signatures");
        assert_eq!(all[0].len(), payloads.len());
        for (payload, sig) in payloads.iter().zip(&all[0]) {
            verify_independently(name, &shares[0].public_key.bytes, payload, sig);
        }
    }
}

#[test]
fn a_batch_of_one_is_the_plain_ceremony_and_parts_get_their_own_sessions() {
    let scheme = scheme("frost-ed25519");
    let shares = keygen(&*scheme, 3, 2);
    let message = message_for("frost-ed25519", 9);
    let tag = "batch-of-one";
    let s = session(tag);
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let log = seen.clone();
    let sigs = batch_sim(&*scheme, &shares, &[0, 1], std::slice::from_ref(&message), tag)
        .with_filter(move |e| {
            log.borrow_mut().push((e.session, e.payload.len()));
            vec![e]
        })
        .run()
        .into_result()
        .unwrap();
    verify_independently("frost-ed25519", &shares[0].public_key.bytes, &message, &sigs[0][0]);
    assert!(seen.borrow().iter().all(|(session, _)| *session == s), "a batch of one speaks under its own session");
    let plain_sizes: Vec<usize> = {
        let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let l = log.clone();
        sign_sim(&*scheme, &shares, &[0, 1], &message, tag)
            .with_filter(move |e| {
                l.borrow_mut().push(e.payload.len());
                vec![e]
            })
            .run()
            .into_result()
            .unwrap();
        let sizes = log.borrow().clone();
        sizes
    };
    let mut batch_sizes: Vec<usize> = seen.borrow().iter().map(|(_, n)| *n).collect();
    let mut plain = plain_sizes;
    batch_sizes.sort_unstable();
    plain.sort_unstable();
    assert_eq!(batch_sizes, plain, "no framing for a single payload");
    let parts: Vec<_> = (0..3).map(|i| part_session(s, i, 3)).collect();
    assert!(parts.iter().all(|p| *p != s), "parts never reuse the batch's session");
    assert!(parts[0] != parts[1] && parts[1] != parts[2] && parts[0] != parts[2], "nor each other's");
    assert_eq!(part_session(s, 0, 1), s);
}

#[test]
fn a_sender_naming_a_missing_part_is_blamed() {
    let scheme = scheme("frost-ed25519");
    let shares = keygen(&*scheme, 3, 2);
    let payloads: Vec<Vec<u8>> = (1..=2).map(|k| message_for("frost-ed25519", k)).collect();
    let report = batch_sim(&*scheme, &shares, &[0, 1], &payloads, "batch-bad-part")
        .with_filter(|mut e| {
            if e.sender == 1 {
                e.payload[0..2].copy_from_slice(&9u16.to_be_bytes());
            }
            vec![e]
        })
        .run();
    let err = report.errors.get(&0).expect("party 0 fails");
    assert!(matches!(err, ProtocolError::Malformed { culprit: 1, .. }), "{err:?}");
    // A payload too short to name a part is blamed the same way.
    let report = batch_sim(&*scheme, &shares, &[0, 1], &payloads, "batch-short")
        .with_filter(|mut e| {
            if e.sender == 0 {
                e.payload.truncate(1);
            }
            vec![e]
        })
        .run();
    assert!(matches!(report.errors.get(&1), Some(ProtocolError::Malformed { culprit: 0, .. })), "{report:?}");
}

#[test]
fn a_silent_signer_times_out_the_whole_batch_naming_it() {
    let scheme = scheme("frost-secp256k1-tr");
    let shares = keygen(&*scheme, 3, 2);
    let payloads: Vec<Vec<u8>> = (1..=2).map(|k| message_for("frost-secp256k1-tr", k)).collect();
    let s = session("batch-silent");
    let report = batch_sim(&*scheme, &shares, &[0, 2], &payloads, "batch-silent")
        .with_filter(|e| if e.sender == 2 { Vec::new() } else { vec![e] })
        .run();
    match report.errors.get(&0) {
        Some(ProtocolError::Timeout { session, missing, .. }) => {
            assert_eq!(*session, s, "named for the batch's session");
            assert_eq!(missing, &vec![2]);
        }
        other => panic!("{other:?}"),
    }
    assert!(report.outputs.is_empty());
}

#[test]
fn empty_or_oversized_batches_and_bad_payloads_are_refused_before_start() {
    let scheme = scheme("frost-secp256k1-tr");
    let shares = keygen(&*scheme, 3, 2);
    let params = SignParams::new(session("batch-refused"), vec![0, 1], Vec::new());
    assert!(sign_batch(&*scheme, &shares[0], &params, &[]).is_err());
    let many = vec![message_for("frost-secp256k1-tr", 1); protocol::batch::MAX_PARTS + 1];
    assert!(sign_batch(&*scheme, &shares[0], &params, &many).is_err());
    let bad = vec![message_for("frost-secp256k1-tr", 1), b"not a digest".to_vec()];
    assert!(matches!(sign_batch(&*scheme, &shares[0], &params, &bad), Err(ProtocolError::InvalidMessage(_))));
}
