//! Proactive refresh, all parties in one process: same group key, new shares that sign with
//! the library's own signing; an old share mixed with new ones does not sign; a dealer who
//! sends a value off its commitments is blamed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use crate::common::*;
use protocol::confirm::Confirmed;
use protocol::envelope::Recipient;
use protocol::sim::Sim;
use protocol::{BoxCeremony, KeyShare, KeygenParams, ProtocolError, ThresholdScheme};

const SCHEMES: [&str; 3] = ["frost-ed25519", "frost-secp256k1-tr", "cggmp24"];

fn refresh_sim(scheme: &dyn ThresholdScheme, shares: &[KeyShare], tag: &str) -> Sim<KeyShare> {
    let s = session(tag);
    Sim::new(shares.iter().map(|share| {
        let params = KeygenParams::new(s, share.party, share.parties, share.threshold);
        let inner = scheme.refresh(share, &params).unwrap();
        let everyone: Vec<u16> = (0..share.parties).collect();
        (share.party, Box::new(Confirmed::new(inner, share.party, everyone, 10_000)) as BoxCeremony<KeyShare>)
    }))
}

fn refresh(scheme: &dyn ThresholdScheme, shares: &[KeyShare], tag: &str) -> Vec<KeyShare> {
    refresh_sim(scheme, shares, tag).run().into_result().unwrap()
}

#[test]
fn refreshed_shares_keep_the_key_and_sign() {
    for name in SCHEMES {
        let scheme = scheme(name);
        let old = keygen(&*scheme, 5, 3);
        let new = refresh(&*scheme, &old, &format!("refresh-{name}"));
        assert_eq!(new.len(), 5);
        for (o, n) in old.iter().zip(&new) {
            assert_eq!(o.public_key, n.public_key, "{name}: the group key must not move");
            assert_ne!(o.secret, n.secret, "{name}: party {} kept its old share", o.party);
        }
        let message = message_for(name, 7);
        let sig = sign(&*scheme, &new, &[1, 3, 4], &message);
        verify_independently(name, &new[0].public_key.bytes, &message, &sig);
        // Twice in a row: a refreshed share refreshes again.
        let newer = refresh(&*scheme, &new, &format!("refresh-again-{name}"));
        let sig = sign(&*scheme, &newer, &[0, 2, 4], &message);
        verify_independently(name, &newer[0].public_key.bytes, &message, &sig);
    }
}

#[test]
fn an_old_share_among_new_ones_does_not_sign() {
    for name in SCHEMES {
        let scheme = scheme(name);
        let old = keygen(&*scheme, 5, 3);
        let new = refresh(&*scheme, &old, &format!("mix-{name}"));
        let mixed = vec![old[0].clone(), new[1].clone(), new[2].clone(), new[3].clone(), new[4].clone()];
        let message = message_for(name, 9);
        let report = sign_sim(&*scheme, &mixed, &[0, 1, 2], &message, &format!("mix-sign-{name}")).run();
        assert!(report.outputs.is_empty(), "{name}: a mix of old and new shares signed");
        assert!(!report.errors.is_empty(), "{name}: the mixed signing must fail, not hang");
    }
}

#[test]
fn a_dealer_off_its_commitments_is_blamed() {
    for name in SCHEMES {
        let scheme = scheme(name);
        let old = keygen(&*scheme, 3, 2);
        // Party 2's private round-2 value to party 0 is altered in flight.
        let report = refresh_sim(&*scheme, &old, &format!("cheat-{name}"))
            .with_filter(|mut e| {
                if e.round == 2 && e.sender == 2 && e.recipient == Recipient::Party(0) {
                    let last = e.payload.len() - 1;
                    e.payload[last] ^= 0x01;
                }
                vec![e]
            })
            .run();
        assert!(report.outputs.is_empty(), "{name}: nobody may finish a refresh with a bad value");
        match report.errors.get(&0) {
            Some(ProtocolError::InvalidProof { culprits, .. }) => assert_eq!(culprits, &vec![2], "{name}"),
            Some(ProtocolError::Malformed { culprit, .. }) => assert_eq!(*culprit, 2, "{name}"),
            other => panic!("{name}: party 0 should blame party 2, got {other:?}"),
        }
    }
}

#[test]
fn a_share_of_another_committee_size_is_refused() {
    for name in SCHEMES {
        let scheme = scheme(name);
        let old = keygen(&*scheme, 3, 2);
        let params = KeygenParams::new(session("wrong"), 0, 5, 2);
        assert!(scheme.refresh(&old[0], &params).is_err(), "{name}");
    }
}

fn repair_sim(
    scheme: &dyn ThresholdScheme,
    shares: &[KeyShare],
    lost: u16,
    helpers: &[u16],
    tag: &str,
) -> Sim<Option<KeyShare>> {
    let s = session(tag);
    let mut parties: Vec<u16> = helpers.to_vec();
    parties.push(lost);
    Sim::new(parties.into_iter().map(|me| {
        let params = protocol::RepairParams {
            session: s,
            me,
            lost,
            helpers: helpers.to_vec(),
            parties: shares[0].parties,
            threshold: shares[0].threshold,
            round_timeout_ms: 10_000,
        };
        let share = (me != lost).then(|| &shares[usize::from(me)]);
        (me, scheme.repair(share, &params).unwrap())
    }))
}

#[test]
fn a_lost_frost_share_is_repaired_by_t_helpers_and_signs() {
    for name in ["frost-ed25519", "frost-secp256k1-tr"] {
        let scheme = scheme(name);
        let shares = keygen(&*scheme, 5, 3);
        let report = repair_sim(&*scheme, &shares, 4, &[0, 2, 3], &format!("repair-{name}")).run();
        assert!(report.errors.is_empty(), "{name}: {:?}", report.errors);
        for helper in [0u16, 2, 3] {
            assert_eq!(report.outputs.get(&helper), Some(&None), "{name}: a helper learns no share");
        }
        let repaired = report.outputs.get(&4).cloned().flatten().expect("the member repairing gets its share");
        assert_eq!(repaired.public_key, shares[0].public_key);
        assert_eq!(repaired.secret, shares[4].secret, "{name}: the same share as before it was lost");
        let mut after = shares.clone();
        after[4] = repaired;
        let message = message_for(name, 3);
        let sig = sign(&*scheme, &after, &[1, 4, 2], &message);
        verify_independently(name, &after[0].public_key.bytes, &message, &sig);
    }
}

#[test]
fn a_helper_sending_a_wrong_value_is_caught_and_too_few_helpers_refused() {
    let scheme = scheme("frost-ed25519");
    let shares = keygen(&*scheme, 5, 3);
    let report = repair_sim(&*scheme, &shares, 4, &[0, 1, 2], "repair-cheat")
        .with_filter(|mut e| {
            if e.round == 2 && e.sender == 1 {
                let i = e.payload.len() / 3;
                e.payload[i] ^= 0x04;
            }
            vec![e]
        })
        .run();
    assert!(report.outputs.get(&4).cloned().flatten().is_none(), "a wrong sigma gave a share");
    assert!(report.errors.contains_key(&4), "{:?}", report.errors);
    let params = protocol::RepairParams {
        session: session("too-few"),
        me: 0,
        lost: 4,
        helpers: vec![0, 1],
        parties: 5,
        threshold: 3,
        round_timeout_ms: 10_000,
    };
    assert!(scheme.repair(Some(&shares[0]), &params).is_err(), "two helpers for t = 3");
    let cggmp = common::scheme("cggmp24");
    assert!(matches!(cggmp.repair(None, &params), Err(ProtocolError::Unsupported { .. })));
}

#[test]
fn a_cggmp24_refresh_with_new_aux_info_changes_the_paillier_keys_and_signs() {
    let scheme = scheme("cggmp24");
    assert!(scheme.refreshes_aux() && !common::scheme("frost-ed25519").refreshes_aux());
    // Two parties (2-of-2): the same aux-info code as any committee, at half of three's cost.
    let old = keygen(&*scheme, 2, 2);
    let s = session("refresh-aux");
    let new = Sim::new(old.iter().map(|share| {
        let params = KeygenParams::new(s, share.party, share.parties, share.threshold);
        let inner = scheme.refresh_aux(share, &params).unwrap();
        (share.party, Box::new(Confirmed::new(inner, share.party, vec![0, 1], 10_000)) as BoxCeremony<KeyShare>)
    }))
    .run()
    .into_result()
    .unwrap();
    let aux = |s: &KeyShare| serde_json::from_slice::<serde_json::Value>(s.secret.expose()).unwrap()["aux"].clone();
    for (o, n) in old.iter().zip(&new) {
        assert_eq!(o.public_key, n.public_key, "the group key must not move");
        assert_ne!(aux(o), aux(n), "party {}: its Paillier keys must be new", o.party);
        assert_ne!(aux(o), serde_json::Value::Null);
    }
    let message = message_for("cggmp24", 11);
    let sig = sign(&*scheme, &new, &[0, 1], &message);
    verify_independently("cggmp24", &new[0].public_key.bytes, &message, &sig);
    // An old share (old Paillier keys) beside a new one does not sign.
    let mixed = vec![old[0].clone(), new[1].clone()];
    let report = sign_sim(&*scheme, &mixed, &[0, 1], &message, "mix-aux").run();
    assert!(report.outputs.is_empty(), "a mix of old and new shares signed");
}
