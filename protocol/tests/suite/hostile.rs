//! Hostile peers and a hostile network, all parties in one process: misrouted private messages,
//! private messages sent as broadcasts, outsiders writing into a session, a bad secret share
//! on its own, and a broadcast split between recipients. Run once per scheme.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::common::*;
use protocol::confirm::Confirmed;
use protocol::sim::{Report, Sim};
use protocol::{
    BoxCeremony, Ceremony, Envelope, KeyShare, KeygenParams, Millis, PartyIndex, ProtocolError, Recipient, Rejection,
    SessionId, Signature, Step,
};

/// Every DKG here is 2-of-3.
const N: u16 = 3;
const T: u16 = 2;
const ROUND_TIMEOUT_MS: Millis = 10_000;

/// Rewrites what one party receives: each returned envelope is handed to it in order.
type Rewrite = Box<dyn FnMut(Envelope) -> Vec<Envelope>>;

/// One party's inbound path under the test's control. `Sim` routes by recipient, so this is the
/// only way to show a party an envelope addressed to someone else, or a broadcast whose
/// contents differ from what the other parties got.
struct Inbound<O> {
    inner: BoxCeremony<O>,
    rewrite: Rewrite,
}

impl<O> Ceremony for Inbound<O> {
    type Output = O;

    fn session(&self) -> SessionId {
        self.inner.session()
    }

    fn start(&mut self, now: Millis) -> Result<Step<O>, ProtocolError> {
        self.inner.start(now)
    }

    fn on_message(&mut self, now: Millis, msg: Envelope) -> Result<Step<O>, ProtocolError> {
        let mut merged = Step { outgoing: Vec::new(), output: None, rejected: Vec::new() };
        for e in (self.rewrite)(msg) {
            let step = self.inner.on_message(now, e)?;
            merged.outgoing.extend(step.outgoing);
            merged.rejected.extend(step.rejected);
            if step.output.is_some() {
                // The ceremony is over: it would answer anything more with `Finished`.
                merged.output = step.output;
                break;
            }
        }
        Ok(merged)
    }

    fn on_tick(&mut self, now: Millis) -> Result<Step<O>, ProtocolError> {
        self.inner.on_tick(now)
    }

    fn deadline(&self) -> Option<Millis> {
        self.inner.deadline()
    }

    fn round(&self) -> u16 {
        self.inner.round()
    }

    fn waiting_for(&self) -> Vec<PartyIndex> {
        self.inner.waiting_for()
    }

    fn set_round_timeout(&mut self, now: Millis, timeout: Millis) {
        self.inner.set_round_timeout(now, timeout);
    }
}

/// A 2-of-3 DKG as the node runs it: the scheme's keygen inside `Confirmed`, so a share comes
/// out only once every party confirmed the same key and broadcast transcript.
fn dkg_parties(name: &str, tag: &str) -> Vec<(PartyIndex, BoxCeremony<KeyShare>)> {
    let scheme = scheme(name);
    let s = session(tag);
    let setups = setups_for(&*scheme, N);
    (0..N)
        .map(|i| {
            let inner = scheme.keygen(&KeygenParams::new(s, i, N, T), setups[i as usize].as_ref()).unwrap();
            let c: BoxCeremony<KeyShare> = Box::new(Confirmed::new(inner, i, (0..N).collect(), ROUND_TIMEOUT_MS));
            (i, c)
        })
        .collect()
}

fn node_dkg(name: &str, tag: &str) -> Sim<KeyShare> {
    Sim::new(dkg_parties(name, tag))
}

/// The same DKG, with `party`'s inbound path rewritten by `rewrite`.
fn node_dkg_where(
    name: &str,
    tag: &str,
    party: PartyIndex,
    rewrite: impl FnMut(Envelope) -> Vec<Envelope> + 'static,
) -> Sim<KeyShare> {
    let mut parties = dkg_parties(name, tag);
    let (_, inner) = parties.remove(party as usize);
    let wrapped: BoxCeremony<KeyShare> = Box::new(Inbound { inner, rewrite: Box::new(rewrite) });
    parties.push((party, wrapped));
    Sim::new(parties)
}

/// A second, equally valid round-1 broadcast of `party` for the same session: what a party
/// that runs round 1 twice can show some recipients instead of the real one.
fn twin_round1(name: &str, tag: &str, party: PartyIndex) -> Vec<u8> {
    let scheme = scheme(name);
    let setups = setups_for(&*scheme, N);
    let params = KeygenParams::new(session(tag), party, N, T);
    let mut twin = scheme.keygen(&params, setups[party as usize].as_ref()).unwrap();
    let step = twin.start(0).unwrap();
    step.outgoing
        .into_iter()
        .find(|e| e.round == 1 && e.recipient == Recipient::Broadcast)
        .expect("round 1 of every DKG here is a broadcast")
        .payload
}

/// Party 2 splits its round-1 broadcast: party 0 gets a valid twin, party 1 the real one.
fn split_broadcast_dkg(name: &str, tag: &str) -> Report<KeyShare> {
    let twin = twin_round1(name, tag, 2);
    node_dkg_where(name, tag, 0, move |mut e| {
        if e.sender == 2 && e.round == 1 && e.recipient == Recipient::Broadcast {
            e.payload = twin.clone();
        }
        vec![e]
    })
    .run()
}

/// Flips the lowest bit of the last byte. Every private DKG message here ends with the share
/// scalar (FROST's round-2 package ends with its signing share; CGGMP24's `Round2Uni` is the
/// big-endian sigma), so the message still decodes and the share check has to catch it.
fn flip_last_bit(payload: &mut [u8]) {
    if let Some(b) = payload.last_mut() {
        *b ^= 1;
    }
}

macro_rules! hostile_suite {
    ($module:ident, $name:literal, $private_round:literal) => {
        mod $module {
            use super::*;

            const NAME: &str = $name;
            /// The DKG round whose messages go to one recipient each (the secret shares).
            const PRIVATE_ROUND: u16 = $private_round;

            #[test]
            fn a_private_message_delivered_to_the_wrong_party_is_set_aside_and_the_dkg_completes() {
                // The network hands party 0 a copy of party 1's private message for party 2,
                // just before party 0's next delivery.
                let stash: Rc<RefCell<Vec<Envelope>>> = Rc::default();
                let copies = Rc::clone(&stash);
                let report = node_dkg_where(NAME, "misrouted", 0, move |e| {
                    let mut out: Vec<Envelope> = stash.borrow_mut().drain(..).collect();
                    out.push(e);
                    out
                })
                .with_filter(move |e| {
                    if e.sender == 1 && e.recipient == Recipient::Party(2) {
                        copies.borrow_mut().push(e.clone());
                    }
                    vec![e]
                })
                .run();
                assert!(report.errors.is_empty(), "{:?}", report.errors);
                assert!(
                    report.rejected.contains(&(0, Rejection::NotForUs { sender: 1, recipient: 2 })),
                    "party 0 should have set the misrouted message aside: {:?}",
                    report.rejected
                );
                let shares: Vec<KeyShare> = report.outputs.into_values().collect();
                assert_eq!(shares.len(), N as usize);
                assert!(shares.iter().all(|s| s.public_key == shares[0].public_key));
                // The wallet works: parties 0 and 2 sign, another library verifies.
                let msg = message_for(NAME, 1);
                let sig = sign(&*scheme(NAME), &shares, &[0, 2], &msg);
                verify_independently(NAME, &shares[0].public_key.bytes, &msg, &sig);
            }

            #[test]
            fn a_private_dkg_message_sent_as_a_broadcast_fails_the_dkg_naming_its_sender() {
                // Party 1 broadcasts the share meant for party 0 alone: 0 and 2 both receive it.
                let report = node_dkg(NAME, "private-as-broadcast")
                    .with_filter(|mut e| {
                        if e.sender == 1 && e.recipient == Recipient::Party(0) {
                            e.recipient = Recipient::Broadcast;
                        }
                        vec![e]
                    })
                    .run();
                for p in [0u16, 2] {
                    match report.errors.get(&p) {
                        Some(ProtocolError::Malformed { culprit: 1, round, reason }) => {
                            assert_eq!(*round, PRIVATE_ROUND, "party {p}");
                            assert!(reason.contains("privately"), "party {p}: {reason}");
                        }
                        other => panic!("party {p}: expected Malformed naming party 1, got {other:?}"),
                    }
                }
                assert!(report.outputs.is_empty(), "a share came out: {:?}", report.outputs.keys());
            }

            #[test]
            fn a_key_holder_left_out_of_a_signing_cannot_write_into_it() {
                let scheme = scheme(NAME);
                let shares = keygen(&*scheme, N, T);
                let msg = message_for(NAME, 2);
                // Party 2 holds a share but is not a signer: it replays party 1's messages under
                // its own name into the session of signers 0 and 1.
                let report = sign_sim(&*scheme, &shares, &[0, 1], &msg, "outsider")
                    .with_filter(|e| {
                        if e.sender == 1 {
                            let mut forged = e.clone();
                            forged.sender = 2;
                            vec![e, forged]
                        } else {
                            vec![e]
                        }
                    })
                    .run();
                assert!(report.errors.is_empty(), "{:?}", report.errors);
                for p in [0u16, 1] {
                    assert!(
                        report.rejected.contains(&(p, Rejection::NotAParticipant { sender: 2 })),
                        "party {p}: {:?}",
                        report.rejected
                    );
                }
                let sigs: Vec<Signature> = report.outputs.into_values().collect();
                assert_eq!(sigs.len(), 2);
                assert_eq!(sigs[0], sigs[1], "both signers computed the same signature");
                scheme.verify(&shares[0].public_key, &msg, &sigs[0]).unwrap();
                verify_independently(NAME, &shares[0].public_key.bytes, &msg, &sigs[0]);
            }

            #[test]
            fn a_bad_secret_share_alone_fails_the_dkg_naming_its_dealer_and_nobody_keeps_a_share() {
                let altered = Rc::new(Cell::new(0usize));
                let count = Rc::clone(&altered);
                let report = node_dkg(NAME, "bad-share")
                    .with_filter(move |mut e| {
                        // Only party 1's private share for party 0; every broadcast stays intact.
                        if e.sender == 1 && e.recipient == Recipient::Party(0) {
                            assert_eq!(e.round, PRIVATE_ROUND, "the only private DKG round");
                            flip_last_bit(&mut e.payload);
                            count.set(count.get() + 1);
                        }
                        vec![e]
                    })
                    .run();
                assert_eq!(altered.get(), 1, "exactly one message should have been altered");
                let err = report.errors.get(&0).unwrap_or_else(|| panic!("party 0 did not fail: {report:?}"));
                assert_eq!(err.culprits(), vec![1], "party 0 must name the dealer: {err}");
                assert!(err.is_misbehaviour(), "a bad share is cheating, not a timeout: {err}");
                assert!(
                    matches!(err, ProtocolError::InvalidProof { .. } | ProtocolError::Aborted { .. }),
                    "the share decoded, so the share check (not the codec) must catch it: {err}"
                );
                // The others never saw anything wrong; they must still not keep a share, and must
                // not accuse party 0 of cheating (at most of not answering).
                assert!(report.outputs.is_empty(), "a share came out: {:?}", report.outputs.keys());
                for p in [1u16, 2] {
                    if let Some(e) = report.errors.get(&p) {
                        assert!(!(e.is_misbehaviour() && e.culprits().contains(&0)), "party {p} accused 0: {e}");
                    }
                }
            }

            #[test]
            fn a_rogue_key_copied_from_another_party_fails_the_dkg_naming_the_copier() {
                // Party 2 claims party 0's round-1 broadcast (commitment and proof) as its own:
                // the public key would then depend on a secret party 2 does not know. The proof
                // is bound to its prover, so the copy fails and nobody keeps a share.
                let first: Rc<RefCell<Option<Vec<u8>>>> = Rc::default();
                let copied = Rc::new(Cell::new(0usize));
                let (seen, count) = (Rc::clone(&first), Rc::clone(&copied));
                let report = node_dkg(NAME, "rogue-key")
                    .with_filter(move |mut e| {
                        if e.round == 1 && e.recipient == Recipient::Broadcast {
                            if e.sender == 0 && seen.borrow().is_none() {
                                *seen.borrow_mut() = Some(e.payload.clone());
                            } else if e.sender == 2 {
                                let theirs = seen.borrow().clone().expect("party 0's round 1 is routed first");
                                e.payload = theirs;
                                count.set(count.get() + 1);
                            }
                        }
                        vec![e]
                    })
                    .run();
                assert!(copied.get() >= 1, "party 2's round-1 broadcast was never replaced");
                assert!(report.outputs.is_empty(), "a share came out: {:?}", report.outputs.keys());
                for p in [0u16, 1] {
                    let err = report.errors.get(&p).unwrap_or_else(|| panic!("party {p} did not fail: {report:?}"));
                    assert!(err.is_misbehaviour(), "party {p}: a copied proof is cheating: {err}");
                    if NAME == "cggmp24" {
                        // Round 1 is a hash commitment: the copy is caught one round earlier,
                        // by the echo (party 2 echoes its real commitment), which shows that
                        // views differ but not who made them differ; no honest party is named.
                        assert!(err.culprits().iter().all(|&c| c == 2), "party {p}: {err}");
                    } else {
                        assert_eq!(err.culprits(), vec![2], "party {p} must name the copier: {err}");
                    }
                }
            }

            #[test]
            fn a_broadcast_split_between_recipients_leaves_no_share_anywhere() {
                let report = split_broadcast_dkg(NAME, "split-broadcast");
                assert!(report.outputs.is_empty(), "a share came out of a split DKG: {:?}", report.outputs.keys());
                for p in 0..N {
                    let err = report.errors.get(&p).unwrap_or_else(|| panic!("party {p} did not fail: {report:?}"));
                    assert!(err.is_misbehaviour(), "party {p}: a split broadcast is cheating, not a timeout: {err}");
                }
                if NAME == "cggmp24" {
                    // The echo round shows that views differ, not who made them differ: an
                    // honest party (one shown the odd copy, or one whose echo differs) is
                    // never blamed.
                    for (p, err) in &report.errors {
                        assert!(err.culprits().iter().all(|&c| c == 2), "party {p} blamed an honest party: {err}");
                    }
                } else {
                    // FROST's round-2 digest shows that views differ, not who made them differ:
                    // nobody is blamed rather than the wrong party.
                    for (p, err) in &report.errors {
                        assert!(
                            matches!(err, ProtocolError::InconsistentBroadcast { round: 1, .. }),
                            "party {p}: {err}"
                        );
                        assert!(err.culprits().is_empty(), "party {p}: {err}");
                    }
                }
            }
        }
    };
}

hostile_suite!(frost_ed25519, "frost-ed25519", 2);
hostile_suite!(frost_secp256k1_tr, "frost-secp256k1-tr", 2);
hostile_suite!(cggmp24, "cggmp24", 3);
