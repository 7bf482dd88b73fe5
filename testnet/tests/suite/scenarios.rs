//! End-to-end scenarios on real processes, written with the scenario builder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use testnet::scenario::{Expect, Outcome, Scenario};

#[test]
fn a_killed_member_misses_nothing_it_needs_and_rejoins() {
    Scenario::new(5, 3)
        .wallet(0, "frost-secp256k1-tr", "vault")
        .kill(4)
        .sign(1, "vault", None, Outcome::Signed)
        .sign(2, "vault", Some(vec![2, 3, 4]), Outcome::Refused)
        .restart(4)
        .sign(4, "vault", Some(vec![0, 2, 4]), Outcome::Signed)
        .expect(4, Expect::HasWallet("vault".into()))
        .expect(4, Expect::Connected(4))
        .expect(0, Expect::JournalVerifies)
        .run()
        .unwrap();
}

#[test]
fn a_member_frozen_for_less_than_a_proposals_lifetime_only_delays_the_signing() {
    // Party 2 is frozen (SIGSTOP) for 4 s just as it is asked to sign: its vote and its rounds
    // come late, and the signing still completes once it wakes.
    let report = Scenario::new(3, 2)
        .wallet(0, "frost-ed25519", "hot")
        .pause(2, 4_000)
        .sign(0, "hot", Some(vec![0, 2]), Outcome::Signed)
        .sign(1, "hot", None, Outcome::Signed)
        .expect(2, Expect::Connected(2))
        .expect(2, Expect::JournalVerifies)
        .run()
        .unwrap();
    assert_eq!(report.signings.len(), 2);
    let late = &report.signings[0];
    let took = late["finished_ms"].as_u64().unwrap() - late["seen_ms"].as_u64().unwrap();
    assert!(took >= 3_000, "the signing waited for the frozen member: {took} ms");
}

#[test]
fn a_member_made_slow_by_fault_injection_still_signs_and_is_seen_as_slow() {
    let slow = actors::faults::Faults {
        rule: vec![actors::faults::FaultRule { delay_ms: 400, ..Default::default() }],
        ..Default::default()
    };
    let report = Scenario::new(3, 2)
        .wallet(0, "frost-ed25519", "calm")
        .faults(2, slow)
        .sign(0, "calm", Some(vec![0, 2]), Outcome::Signed)
        .expect(2, Expect::JournalVerifies)
        .run()
        .unwrap();
    let s = &report.signings[0];
    let took = s["finished_ms"].as_u64().unwrap() - s["started_ms"].as_u64().unwrap();
    assert!(took >= 400, "every message of party 2 came 400 ms late: {took} ms");
}
