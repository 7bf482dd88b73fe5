//! Behaviour that belongs to one scheme: CGGMP24's committee setup and exact signer count,
//! FROST's signing with more than t signers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use crate::common::*;
use protocol::primes::MemoryPrimePool;
use protocol::schemes::cggmp24;
use protocol::{KeygenParams, ProtocolError, SetupParams, SignParams, ThresholdScheme};

#[test]
fn cggmp24_live_setup_then_keygen_and_sign() {
    let scheme = scheme("cggmp24");
    // Two parties: the same aux-info code as any committee (the behaviour suite signs with
    // three to nine from committed setups), at a third of three parties' cost.
    let setups = run_setup(&*scheme, 2).into_result().unwrap();
    assert_eq!(setups.len(), 2);
    let sid = session("live-keygen");
    let shares = protocol::sim::Sim::new(
        (0..2u16).map(|i| (i, scheme.keygen(&KeygenParams::new(sid, i, 2, 2), Some(&setups[i as usize])).unwrap())),
    )
    .run()
    .into_result()
    .unwrap();
    let msg = message_for("cggmp24", 42);
    let sig = sign(&*scheme, &shares, &[0, 1], &msg);
    verify_independently("cggmp24", &shares[0].public_key.bytes, &msg, &sig);
}

#[test]
fn cggmp24_setup_without_primes_is_refused() {
    let scheme = cggmp24::scheme(Arc::new(MemoryPrimePool::default()));
    let params = SetupParams { session: session("no-primes"), me: 0, parties: 3, round_timeout_ms: 1000 };
    assert_eq!(scheme.setup(&params).err(), Some(ProtocolError::NoPrimesAvailable));
}

#[test]
fn cggmp24_corrupt_primes_are_refused() {
    let pool = MemoryPrimePool::new(vec![protocol::primes::SafePrimes(protocol::SecretBytes::new(vec![9; 40]))]);
    let scheme = cggmp24::scheme(Arc::new(pool));
    let params = SetupParams { session: session("bad-primes"), me: 0, parties: 3, round_timeout_ms: 1000 };
    assert!(matches!(scheme.setup(&params).err(), Some(ProtocolError::InvalidMaterial(_))));
}

#[test]
fn cggmp24_keygen_needs_a_matching_setup() {
    let scheme = scheme("cggmp24");
    let params = KeygenParams::new(session("no-setup"), 0, 3, 2);
    assert!(matches!(scheme.keygen(&params, None).err(), Some(ProtocolError::SetupRequired(_))));
    let setup5 = fixture_setup(5);
    assert!(matches!(scheme.keygen(&params, Some(&setup5[0])).err(), Some(ProtocolError::SetupRequired(_))));
    let setup3 = fixture_setup(3);
    assert!(matches!(scheme.keygen(&params, Some(&setup3[1])).err(), Some(ProtocolError::SetupRequired(_))));
}

#[test]
fn cggmp24_signs_with_exactly_t() {
    let scheme = scheme("cggmp24");
    let shares = keygen(&*scheme, 3, 2);
    let params = SignParams::new(session("t-plus-one"), vec![0, 1, 2], message_for("cggmp24", 1));
    assert!(matches!(scheme.sign(&shares[0], &params).err(), Some(ProtocolError::InvalidSignerSet(_))));
}

#[test]
fn cggmp24_refuses_a_message_that_is_not_a_digest() {
    let scheme = scheme("cggmp24");
    let shares = keygen(&*scheme, 3, 2);
    let params = SignParams::new(session("not-digest"), vec![0, 1], b"hello".to_vec());
    assert!(matches!(scheme.sign(&shares[0], &params).err(), Some(ProtocolError::InvalidMessage(_))));
}

#[test]
fn cggmp24_recovery_id_is_checked_by_verify() {
    let scheme = scheme("cggmp24");
    let shares = keygen(&*scheme, 3, 2);
    let msg = message_for("cggmp24", 5);
    let mut sig = sign(&*scheme, &shares, &[1, 2], &msg);
    scheme.verify(&shares[0].public_key, &msg, &sig).unwrap();
    sig.recovery_id = sig.recovery_id.map(|v| v ^ 1);
    assert_eq!(scheme.verify(&shares[0].public_key, &msg, &sig), Err(ProtocolError::InvalidSignature));
}

#[test]
fn frost_signs_with_more_than_t() {
    for name in ["frost-ed25519", "frost-secp256k1-tr"] {
        let scheme = scheme(name);
        let shares = keygen(&*scheme, 5, 3);
        let msg = message_for(name, 8);
        let sig = sign(&*scheme, &shares, &[0, 1, 3, 4], &msg);
        verify_independently(name, &shares[0].public_key.bytes, &msg, &sig);
    }
}

#[test]
fn taproot_refuses_a_message_that_is_not_a_digest() {
    let scheme = scheme("frost-secp256k1-tr");
    let shares = keygen(&*scheme, 3, 2);
    let params = SignParams::new(session("tr-not-digest"), vec![0, 1], vec![1; 31]);
    assert!(matches!(scheme.sign(&shares[0], &params).err(), Some(ProtocolError::InvalidMessage(_))));
}

#[test]
fn each_signing_uses_fresh_nonces() {
    // Same key, same message, two sessions: FROST signatures must differ (fresh nonces).
    for name in ["frost-ed25519", "frost-secp256k1-tr"] {
        let scheme = scheme(name);
        let shares = keygen(&*scheme, 3, 2);
        let msg = message_for(name, 3);
        let a = sign_sim(&*scheme, &shares, &[0, 1], &msg, "nonce-a").run().into_result().unwrap();
        let b = sign_sim(&*scheme, &shares, &[0, 1], &msg, "nonce-b").run().into_result().unwrap();
        assert_ne!(a[0].bytes, b[0].bytes, "{name}: nonces reused");
    }
}

/// A party's Paillier proofs (the aux-info round's private `π_mod`/`π_fac` message) altered on
/// the way to one member: that member's setup fails naming the prover, and it keeps no setup.
#[test]
fn cggmp24_a_bad_paillier_proof_in_the_setup_fails_it_naming_the_prover() {
    let scheme = scheme("cggmp24");
    let s = session("bad-aux-proof");
    let altered = std::rc::Rc::new(std::cell::Cell::new(0usize));
    let count = altered.clone();
    // Two parties: the victim and the prover are all it takes, at a third of three's cost.
    let report = protocol::sim::Sim::new((0..2u16).map(|i| {
        let params = SetupParams { session: s, me: i, parties: 2, round_timeout_ms: 10_000 };
        (i, scheme.setup(&params).unwrap())
    }))
    .with_filter(move |mut e| {
        // The only private round of the aux-info generation carries the proofs.
        if e.sender == 1 && e.recipient == protocol::Recipient::Party(0) {
            // The proofs' integers travel as hex digits: one digit changed to another keeps
            // the message well-formed, so the proof check (not the codec) must catch it.
            let middle = e.payload.len() / 2;
            let at = (middle..e.payload.len()).find(|&k| e.payload[k].is_ascii_hexdigit()).unwrap();
            e.payload[at] = if e.payload[at] == b'3' { b'4' } else { b'3' };
            count.set(count.get() + 1);
        }
        vec![e]
    })
    .run();
    assert_eq!(altered.get(), 1, "exactly one message altered");
    let err = report.errors.get(&0).unwrap_or_else(|| panic!("party 0 accepted a bad proof: {report:?}"));
    eprintln!("party 0: {err}");
    assert_eq!(err.culprits(), vec![1], "party 0 must name the prover: {err}");
    assert!(err.is_misbehaviour(), "{err}");
    assert!(!err.to_string().contains("malformed"), "the codec caught it, not the proof check: {err}");
    assert!(!report.outputs.contains_key(&0), "party 0 kept a setup");
}
