//! Reshare to a new threshold and guarded export, all parties in one process: the group key
//! stays, the new threshold is what signs, an old share among new ones does not sign, a cheating
//! dealer or exporter is blamed, and the exported key is the group's private key as another
//! library sees it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::*;
use protocol::confirm::Confirmed;
use protocol::envelope::Recipient;
use protocol::sim::Sim;
use protocol::{
    BoxCeremony, ExportParams, KeyShare, KeygenParams, PartyIndex, ProtocolError, SecretBytes, ThresholdScheme,
};

const SCHEMES: [&str; 3] = ["frost-ed25519", "frost-secp256k1-tr", "cggmp24"];

fn reshare_sim(scheme: &dyn ThresholdScheme, shares: &[KeyShare], t: u16, tag: &str) -> Sim<KeyShare> {
    let s = session(tag);
    Sim::new(shares.iter().map(|share| {
        let params = KeygenParams::new(s, share.party, share.parties, t);
        let inner = scheme.reshare(share, &params).unwrap();
        let everyone: Vec<u16> = (0..share.parties).collect();
        (share.party, Box::new(Confirmed::new(inner, share.party, everyone, 10_000)) as BoxCeremony<KeyShare>)
    }))
}

fn reshare(scheme: &dyn ThresholdScheme, shares: &[KeyShare], t: u16, tag: &str) -> Vec<KeyShare> {
    reshare_sim(scheme, shares, t, tag).run().into_result().unwrap()
}

#[test]
fn a_reshare_moves_the_threshold_and_keeps_the_key() {
    for name in SCHEMES {
        let scheme = scheme(name);
        let old = keygen(&*scheme, 5, 3);
        let up = reshare(&*scheme, &old, 4, &format!("up-{name}"));
        for (o, n) in old.iter().zip(&up) {
            assert_eq!(o.public_key, n.public_key, "{name}: the group key must not move");
            assert_eq!(n.threshold, 4, "{name}");
        }
        let message = message_for(name, 3);
        let sig = sign(&*scheme, &up, &[0, 2, 3, 4], &message);
        verify_independently(name, &up[0].public_key.bytes, &message, &sig);
        let three = protocol::SignParams::new(session(&format!("three-{name}")), vec![0, 1, 2], message.clone());
        assert!(scheme.sign(&up[0], &three).is_err(), "{name}: three signers may not sign a 4-of-5 key");
        // And down again, to 2-of-5.
        let down = reshare(&*scheme, &up, 2, &format!("down-{name}"));
        let sig = sign(&*scheme, &down, &[1, 4], &message);
        verify_independently(name, &down[0].public_key.bytes, &message, &sig);
        // An old share among new ones does not sign (a reshare to the same threshold).
        let same = reshare(&*scheme, &old, 3, &format!("same-{name}"));
        let mixed = vec![old[0].clone(), same[1].clone(), same[2].clone(), same[3].clone(), same[4].clone()];
        let report = sign_sim(&*scheme, &mixed, &[0, 1, 2], &message, &format!("mix-{name}")).run();
        assert!(report.outputs.is_empty(), "{name}: an old share signed with a new one");
    }
}

#[test]
fn a_reshare_dealer_off_its_commitments_is_blamed() {
    for name in SCHEMES {
        let scheme = scheme(name);
        let old = keygen(&*scheme, 3, 2);
        let report = reshare_sim(&*scheme, &old, 3, &format!("cheat-{name}"))
            .with_filter(|mut e| {
                if e.round == 2 && e.sender == 1 && e.recipient == Recipient::Party(2) {
                    let last = e.payload.len() - 1;
                    e.payload[last] ^= 0x01;
                }
                vec![e]
            })
            .run();
        assert!(report.outputs.is_empty(), "{name}: nobody may finish a reshare with a bad value");
        let blamed = report
            .errors
            .values()
            .any(|e| matches!(e, ProtocolError::InvalidProof { culprits, .. } if culprits == &vec![1]));
        assert!(blamed, "{name}: party 1 must be blamed: {:?}", report.errors);
    }
}

#[test]
fn a_reshare_to_an_impossible_threshold_is_refused() {
    for name in SCHEMES {
        let scheme = scheme(name);
        let old = keygen(&*scheme, 3, 2);
        for t in [0, 1, 4] {
            let params = KeygenParams::new(session("bad-t"), 0, 3, t);
            assert!(scheme.reshare(&old[0], &params).is_err(), "{name}: t = {t}");
        }
    }
}

fn export_sim(
    scheme: &dyn ThresholdScheme,
    shares: &[KeyShare],
    who: &[PartyIndex],
    receiver: PartyIndex,
    tag: &str,
) -> Sim<Option<SecretBytes>> {
    let s = session(tag);
    Sim::new(who.iter().map(|&p| {
        let params = ExportParams { session: s, me: p, receiver, participants: who.to_vec(), round_timeout_ms: 10_000 };
        (p, scheme.export(&shares[usize::from(p)], &params).unwrap())
    }))
}

/// Checks `key` is the private key of `public` with a library that did not compute it.
fn assert_is_private_key(name: &str, key: &[u8], public: &[u8]) {
    let msg = secp256k1::Message::from_digest([7u8; 32]);
    match name {
        "frost-ed25519" => {
            let sk = frost_ed25519::SigningKey::deserialize(key).unwrap();
            assert_eq!(frost_ed25519::VerifyingKey::from(&sk).serialize().unwrap(), public);
        }
        "frost-secp256k1-tr" => {
            let pair = secp256k1::Keypair::from_seckey_slice(secp256k1::SECP256K1, key).unwrap();
            let sig = secp256k1::SECP256K1.sign_schnorr_no_aux_rand(&msg, &pair);
            let q = secp256k1::XOnlyPublicKey::from_slice(public).unwrap();
            secp256k1::SECP256K1.verify_schnorr(&sig, &msg, &q).expect("the exported key signs for Q");
        }
        "cggmp24" => {
            let sk = secp256k1::SecretKey::from_slice(key).unwrap();
            let sig = secp256k1::SECP256K1.sign_ecdsa(&msg, &sk);
            let pk = secp256k1::PublicKey::from_slice(public).unwrap();
            secp256k1::SECP256K1.verify_ecdsa(&msg, &sig, &pk).expect("the exported key signs for the group key");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn an_export_yields_the_group_private_key_at_the_receiver_only() {
    for name in SCHEMES {
        let scheme = scheme(name);
        let shares = keygen(&*scheme, 5, 3);
        let report = export_sim(&*scheme, &shares, &[1, 2, 4], 2, &format!("export-{name}")).run();
        assert!(report.errors.is_empty(), "{name}: {:?}", report.errors);
        assert!(report.outputs[&1].is_none() && report.outputs[&4].is_none(), "{name}: only the receiver gets the key");
        let key = report.outputs[&2].clone().expect("the receiver has the key");
        assert_is_private_key(name, key.expose(), &shares[0].public_key.bytes);
    }
}

#[test]
fn a_wrong_export_share_is_blamed_and_too_few_are_refused() {
    for name in SCHEMES {
        let scheme = scheme(name);
        let shares = keygen(&*scheme, 5, 3);
        let report = export_sim(&*scheme, &shares, &[0, 1, 3], 0, &format!("export-cheat-{name}"))
            .with_filter(|mut e| {
                if e.sender == 3 {
                    e.payload[5] ^= 0x10;
                }
                vec![e]
            })
            .run();
        assert!(report.outputs.get(&0).cloned().flatten().is_none(), "{name}: a wrong share gave a key");
        let blamed = matches!(&report.errors[&0], ProtocolError::InvalidProof { culprits, .. } if culprits == &vec![3]);
        assert!(blamed, "{name}: party 3 must be blamed: {:?}", report.errors);
        let params = ExportParams {
            session: session("few"),
            me: 0,
            receiver: 0,
            participants: vec![0, 1],
            round_timeout_ms: 10_000,
        };
        assert!(scheme.export(&shares[0], &params).is_err(), "{name}: two shares of a 3-of-5 key");
    }
}
