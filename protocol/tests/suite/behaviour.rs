//! The behaviour suite of the threshold-scheme port, written once and run for every adapter.
//! All parties run in one process with no network; every signature is checked by a library
//! that did not produce it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::*;
use protocol::{Envelope, ProtocolError, Rejection, SessionId, SignParams};

/// Flips one bit well inside the payload's tail (inside the last proof or scalar), keeping
/// the encoding decodable so that it is the cryptography, not the codec, that catches it.
fn tamper(mut e: Envelope) -> Envelope {
    let len = e.payload.len();
    let at = len.saturating_sub(16).min(len.saturating_sub(1));
    e.payload[at] ^= 0x01;
    e
}

fn assert_blamed<O: std::fmt::Debug>(report: &protocol::sim::Report<O>, culprit: u16, honest: &[u16]) {
    for p in honest {
        let err = report.errors.get(p).unwrap_or_else(|| panic!("honest party {p} did not fail: {report:?}"));
        assert_eq!(err.culprits(), vec![culprit], "party {p} blamed the wrong party: {err}");
        assert!(err.is_misbehaviour(), "a cheat is not a timeout: {err}");
    }
}

macro_rules! behaviour_suite {
    ($module:ident, $name:literal) => {
        mod $module {
            use super::*;

            const NAME: &str = $name;

            fn signs_and_verifies(n: u16, t: u16, signer_sets: &[Vec<u16>]) {
                let scheme = scheme(NAME);
                let shares = keygen(&*scheme, n, t);
                let pk = shares[0].public_key.clone();
                for (k, signers) in signer_sets.iter().enumerate() {
                    let msg = message_for(NAME, k as u8);
                    let sig = sign(&*scheme, &shares, signers, &msg);
                    assert_eq!(sig.bytes.len(), 64);
                    scheme.verify(&pk, &msg, &sig).unwrap();
                    verify_independently(NAME, &pk.bytes, &msg, &sig);
                    // The same signature must not verify for another message.
                    assert_eq!(scheme.verify(&pk, &message_for(NAME, 200), &sig), Err(ProtocolError::InvalidSignature));
                }
            }

            #[test]
            fn two_of_three_every_signer_set() {
                signs_and_verifies(3, 2, &[vec![0, 1], vec![0, 2], vec![1, 2]]);
            }

            #[test]
            fn three_of_five() {
                signs_and_verifies(5, 3, &[vec![0, 2, 4]]);
            }

            #[test]
            fn five_of_nine() {
                signs_and_verifies(9, 5, &[vec![1, 3, 4, 6, 8]]);
            }

            #[test]
            fn public_key_has_the_chain_encoding() {
                let shares = keygen(&*scheme(NAME), 3, 2);
                let len = shares[0].public_key.bytes.len();
                assert_eq!(len, if NAME == "cggmp24" { 33 } else { 32 });
            }

            #[test]
            fn signer_set_smaller_than_threshold_is_refused() {
                let scheme = scheme(NAME);
                let shares = keygen(&*scheme, 3, 2);
                let params = SignParams::new(session("small"), vec![0], message_for(NAME, 1));
                match scheme.sign(&shares[0], &params) {
                    Err(ProtocolError::SignerSetTooSmall { got: 1, threshold: 2 }) => {}
                    other => panic!("expected SignerSetTooSmall, got {:?}", other.err()),
                }
            }

            #[test]
            fn bad_signer_sets_are_refused() {
                let scheme = scheme(NAME);
                let shares = keygen(&*scheme, 3, 2);
                let msg = message_for(NAME, 1);
                let dup = SignParams::new(session("dup"), vec![0, 0], msg.clone());
                assert!(matches!(scheme.sign(&shares[0], &dup).err(), Some(ProtocolError::InvalidSignerSet(_))));
                let outsider = SignParams::new(session("out"), vec![0, 7], msg.clone());
                assert!(matches!(
                    scheme.sign(&shares[0], &outsider).err(),
                    Some(ProtocolError::UnknownParty { party: 7, .. })
                ));
                let not_me = SignParams::new(session("notme"), vec![1, 2], msg);
                assert!(matches!(scheme.sign(&shares[0], &not_me).err(), Some(ProtocolError::InvalidSignerSet(_))));
            }

            #[test]
            fn invalid_thresholds_are_refused() {
                let scheme = scheme(NAME);
                let setups = setups_for(&*scheme, 3);
                for (n, t) in [(3u16, 1u16), (3, 4), (3, 0)] {
                    let params = protocol::KeygenParams::new(session("bad-t"), 0, n, t);
                    assert!(matches!(
                        scheme.keygen(&params, setups[0].as_ref()).err(),
                        Some(ProtocolError::InvalidThreshold { .. })
                    ));
                }
            }

            #[test]
            fn tampered_dkg_message_names_the_sender() {
                let scheme = scheme(NAME);
                let report = keygen_sim(&*scheme, 3, 2, "tamper-dkg")
                    .with_filter(|e| vec![if e.sender == 1 { tamper(e) } else { e }])
                    .run();
                if NAME == "cggmp24" {
                    // CGGMP24 first checks a round-1 commitment in its echo round, which shows
                    // that views differ, not who made them differ (a split broadcast looks the
                    // same from where an honest party stands): cheating, and nobody honest blamed.
                    for p in [0u16, 2] {
                        let err = report.errors.get(&p).unwrap_or_else(|| panic!("party {p} did not fail"));
                        assert!(err.is_misbehaviour(), "a cheat is not a timeout: {err}");
                        assert!(err.culprits().iter().all(|c| *c == 1), "party {p} blamed an honest party: {err}");
                    }
                } else {
                    assert_blamed(&report, 1, &[0, 2]);
                }
                assert!(
                    report.outputs.get(&0).is_none() && report.outputs.get(&2).is_none(),
                    "no share from a cheated DKG"
                );
            }

            #[test]
            fn tampered_signing_message_names_the_sender() {
                let scheme = scheme(NAME);
                let shares = keygen(&*scheme, 3, 2);
                let msg = message_for(NAME, 3);
                let report = sign_sim(&*scheme, &shares, &[0, 2], &msg, "tamper-sign")
                    .with_filter(|e| vec![if e.sender == 2 && e.round >= 2 { tamper(e) } else { e }])
                    .run();
                assert_blamed(&report, 2, &[0]);
            }

            #[test]
            fn equivocation_is_detected_and_blamed() {
                let scheme = scheme(NAME);
                let report = keygen_sim(&*scheme, 3, 2, "equivocate")
                    .with_filter(|e| {
                        if e.sender == 2 && e.round == 1 {
                            let twin = tamper(e.clone());
                            vec![e, twin]
                        } else {
                            vec![e]
                        }
                    })
                    .run();
                for p in [0u16, 1] {
                    assert!(
                        matches!(report.errors.get(&p), Some(ProtocolError::Equivocation { culprit: 2, round: 1 })),
                        "party {p}: {:?}",
                        report.errors.get(&p)
                    );
                }
            }

            #[test]
            fn duplicates_out_of_order_and_replays_are_harmless() {
                let scheme = scheme(NAME);
                let other = SessionId::derive("test", b"some other session");
                let shares = keygen_sim(&*scheme, 3, 2, "messy-network")
                    .with_filter(move |e| {
                        let mut replay = e.clone();
                        replay.session = other;
                        vec![e.clone(), e, replay]
                    })
                    .shuffled(7)
                    .run();
                assert!(shares.errors.is_empty(), "{:?}", shares.errors);
                assert_eq!(shares.outputs.len(), 3);
                assert!(shares.rejected.iter().any(|(_, r)| matches!(r, Rejection::Duplicate { .. })));
                assert!(shares.rejected.iter().any(|(_, r)| matches!(r, Rejection::WrongSession { .. })));
                let shares: Vec<_> = shares.outputs.into_values().collect();
                let scheme = scheme.as_ref();
                let msg = message_for(NAME, 9);
                let sigs = sign_sim(scheme, &shares, &[1, 2], &msg, "messy-sign")
                    .with_filter(|e| vec![e.clone(), e])
                    .shuffled(11)
                    .run()
                    .into_result()
                    .unwrap();
                verify_independently(NAME, &shares[0].public_key.bytes, &msg, &sigs[0]);
            }

            #[test]
            fn silent_party_times_out_and_is_named() {
                let scheme = scheme(NAME);
                let report = keygen_sim(&*scheme, 3, 2, "silent")
                    .with_filter(|e| if e.sender == 1 { vec![] } else { vec![e] })
                    .run();
                for p in [0u16, 2] {
                    match report.errors.get(&p) {
                        Some(ProtocolError::Timeout { missing, .. }) => assert_eq!(missing, &vec![1]),
                        other => panic!("party {p}: expected a timeout naming 1, got {other:?}"),
                    }
                }
                assert!(report.outputs.is_empty());
            }

            #[test]
            fn finished_ceremony_accepts_nothing_more() {
                let scheme = scheme(NAME);
                let setups = setups_for(&*scheme, 3);
                let params = protocol::KeygenParams::new(session("finished"), 0, 3, 2);
                let mut c = scheme.keygen(&params, setups[0].as_ref()).unwrap();
                let _ = c.start(0).unwrap();
                let err = c.on_tick(u64::MAX).err();
                assert!(matches!(err, Some(ProtocolError::Timeout { .. })), "{err:?}");
                assert_eq!(c.on_tick(0).err(), Some(ProtocolError::Finished));
            }

            #[test]
            fn key_share_of_another_scheme_is_refused() {
                let scheme = scheme(NAME);
                let mut shares = keygen(&*scheme, 3, 2);
                shares[0].scheme = protocol::SchemeId::from_name("something-else");
                let params = SignParams::new(session("mismatch"), vec![0, 1], message_for(NAME, 1));
                assert!(matches!(scheme.sign(&shares[0], &params).err(), Some(ProtocolError::SchemeMismatch { .. })));
            }

            #[test]
            fn corrupt_key_share_is_a_clear_error() {
                let scheme = scheme(NAME);
                let mut shares = keygen(&*scheme, 3, 2);
                shares[0].secret = protocol::SecretBytes::new(vec![1, 2, 3]);
                let params = SignParams::new(session("corrupt"), vec![0, 1], message_for(NAME, 1));
                assert!(matches!(scheme.sign(&shares[0], &params).err(), Some(ProtocolError::InvalidMaterial(_))));
            }
        }
    };
}

behaviour_suite!(frost_ed25519, "frost-ed25519");
behaviour_suite!(frost_secp256k1_tr, "frost-secp256k1-tr");
behaviour_suite!(cggmp24, "cggmp24");
