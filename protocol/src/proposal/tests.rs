//! The proposal book: votes, expiry, shapes.

use super::*;

fn keygen(proposer: PartyIndex, nonce: u8) -> Proposal {
    Proposal {
        proposer,
        nonce: [nonce; 16],
        kind: ProposalKind::Keygen {
            wallet: WalletId::new("w").unwrap(),
            scheme: SchemeId::from_name("frost-ed25519"),
            threshold: 2,
        },
        participants: vec![0, 1, 2],
        expires_at_ms: 1_000,
    }
}

#[test]
fn starts_when_every_participant_accepted() {
    let mut book = ProposalBook::default();
    let (sid, d) = book.propose(keygen(0, 1), 1, &Vote::Accept).unwrap();
    assert_eq!(d, Decision::Pending);
    assert_eq!(book.vote(sid, 0, &Vote::Accept).unwrap(), Decision::Pending);
    assert_eq!(book.vote(sid, 2, &Vote::Accept).unwrap(), Decision::Start(sid));
    // Late or repeated votes change nothing.
    assert_eq!(book.vote(sid, 2, &Vote::Accept).unwrap(), Decision::Pending);
}

#[test]
fn presigned_signings_and_presignings_are_checked_for_shape() {
    let with = |kind: ProposalKind| Proposal { kind, participants: vec![0, 1], ..keygen(0, 3) };
    let w = WalletId::new("w").unwrap();
    let id = |b: u8| SessionId::from_bytes([b; 32]);
    let message = crate::signable::PersonalMessage::new(b"hi".to_vec()).unwrap();
    let readable = Signable::PersonalMessage(Box::new(message));
    let ok = ProposalKind::SignPresigned { wallet: w.clone(), signable: readable.clone(), presignatures: vec![id(1)] };
    assert_eq!(ProposalBook::check(&with(ok), 0, 3, 0), Ok(()));
    let raw = ProposalKind::SignPresigned {
        wallet: w.clone(),
        signable: Signable::Raw(vec![1; 32]),
        presignatures: vec![id(1)],
    };
    assert!(
        matches!(ProposalBook::check(&with(raw), 0, 3, 0), Err(ProposalError::Invalid(_))),
        "never for a raw digest"
    );
    let short = ProposalKind::SignPresigned { wallet: w.clone(), signable: readable.clone(), presignatures: vec![] };
    assert!(ProposalBook::check(&with(short), 0, 3, 0).is_err(), "one presignature per payload");
    let twice =
        ProposalKind::SignPresigned { wallet: w.clone(), signable: readable, presignatures: vec![id(1), id(1)] };
    assert!(ProposalBook::check(&with(twice), 0, 3, 0).is_err());
    for count in [0, crate::presign::MAX_PRESIGN_BATCH + 1] {
        let p = with(ProposalKind::Presign { wallet: w.clone(), count });
        assert!(ProposalBook::check(&p, 0, 3, 0).is_err(), "{count} presignatures");
    }
    assert_eq!(ProposalBook::check(&with(ProposalKind::Presign { wallet: w, count: 4 }), 0, 3, 0), Ok(()));
}

#[test]
fn one_decline_abandons() {
    let mut book = ProposalBook::default();
    let (sid, _) = book.propose(keygen(0, 1), 0, &Vote::Accept).unwrap();
    assert_eq!(
        book.vote(sid, 1, &Vote::Decline("limit".into())).unwrap(),
        Decision::Abandon { session: sid, why: Abandoned::Declined { party: 1, reason: "limit".into() } }
    );
    assert_eq!(book.vote(sid, 2, &Vote::Accept).unwrap(), Decision::Pending, "never starts after a decline");
}

#[test]
fn concurrent_proposals_are_distinct_sessions_and_repeats_are_recognised() {
    let mut book = ProposalBook::default();
    let (a, _) = book.propose(keygen(0, 1), 2, &Vote::Accept).unwrap();
    let (b, _) = book.propose(keygen(1, 1), 2, &Vote::Accept).unwrap();
    assert_ne!(a, b);
    let (again, d) = book.propose(keygen(0, 1), 2, &Vote::Accept).unwrap();
    assert_eq!((again, d), (a, Decision::Pending));
}

#[test]
fn votes_from_outsiders_or_for_unknown_sessions_are_refused() {
    let mut book = ProposalBook::default();
    let (sid, _) = book.propose(keygen(0, 1), 0, &Vote::Accept).unwrap();
    assert!(book.vote(sid, 7, &Vote::Accept).is_err());
    assert!(book.vote(SessionId::derive("x", b"y"), 1, &Vote::Accept).is_err());
}

#[test]
fn malformed_or_expired_proposals_are_refused() {
    let ok = keygen(0, 1);
    assert!(ProposalBook::check(&ok, 0, 3, 10).is_ok());
    assert!(
        matches!(ProposalBook::check(&ok, 1, 3, 10), Err(ProposalError::Invalid(_))),
        "sender must be the proposer"
    );
    assert_eq!(ProposalBook::check(&ok, 0, 3, 1_000), Err(ProposalError::Expired));
    let mut unsorted = ok.clone();
    unsorted.participants = vec![2, 0, 1];
    assert!(ProposalBook::check(&unsorted, 0, 3, 10).is_err());
    let mut partial = ok.clone();
    partial.participants = vec![0, 1];
    assert!(ProposalBook::check(&partial, 0, 3, 10).is_err(), "keygen needs the whole committee");
    let mut bad_t = ok;
    bad_t.kind =
        ProposalKind::Keygen { wallet: WalletId::new("w").unwrap(), scheme: SchemeId::from_name("x"), threshold: 4 };
    assert!(ProposalBook::check(&bad_t, 0, 3, 10).is_err());
}

#[test]
fn unsettled_proposals_expire() {
    let mut book = ProposalBook::default();
    let (sid, _) = book.propose(keygen(0, 1), 0, &Vote::Accept).unwrap();
    assert!(book.expire(999).is_empty());
    assert_eq!(
        book.expire(1_000),
        vec![Decision::Abandon { session: sid, why: Abandoned::Expired { missing: vec![1, 2] } }],
        "an expired proposal names who never answered"
    );
    assert_eq!(book.vote(sid, 1, &Vote::Accept).unwrap(), Decision::Pending);
}

#[test]
fn a_lost_participant_abandons_the_open_proposals_it_is_in() {
    let mut book = ProposalBook::default();
    let (sid, _) = book.propose(keygen(0, 1), 0, &Vote::Accept).unwrap();
    let mut other = keygen(0, 2);
    other.participants = vec![0, 2];
    other.kind = ProposalKind::Sign { wallet: WalletId::new("w").unwrap(), signable: Signable::Raw(vec![1]) };
    let (without_1, _) = book.propose(other, 0, &Vote::Accept).unwrap();
    assert!(book.abandon_with(1, true, |_| false).is_empty(), "party 1 had not accepted: it may still answer");
    assert_eq!(
        book.abandon_with(1, false, |_| false),
        vec![Decision::Abandon { session: sid, why: Abandoned::Unreachable { party: 1 } }]
    );
    assert_eq!(book.vote(sid, 1, &Vote::Accept).unwrap(), Decision::Pending, "never starts after");
    assert_eq!(book.vote(without_1, 2, &Vote::Accept).unwrap(), Decision::Start(without_1));
}

#[test]
fn control_messages_roundtrip_and_garbage_is_an_error() {
    let c = Control::Propose(keygen(0, 3));
    assert_eq!(Control::decode(&c.encode().unwrap()).unwrap(), c);
    assert!(Control::decode(&[0xFF; 7]).is_err());
    let step = |stage| crate::wallet::TransferNotice {
        tx: "tx-0-ab".into(),
        wallet: WalletId::new("w").unwrap(),
        chain: "solana".into(),
        stage,
    };
    let steps = Control::Steps(vec![
        step(crate::wallet::TransferStage::Initiated { to: "x".into(), amount: 1, fee_ceiling: None }),
        step(crate::wallet::TransferStage::Broadcast { chain_txid: "y".into() }),
    ]);
    assert_eq!(Control::decode(&steps.encode().unwrap()).unwrap(), steps, "steps keep their order");
}

#[test]
fn a_proposal_expiring_far_ahead_is_refused() {
    let now = 1_000_000;
    let mut far = keygen(0, 9);
    far.expires_at_ms = now + MAX_LIFETIME_MS + 1;
    assert!(matches!(ProposalBook::check(&far, 0, 3, now), Err(ProposalError::Invalid(_))));
    far.expires_at_ms = u64::MAX;
    assert!(matches!(ProposalBook::check(&far, 0, 3, now), Err(ProposalError::Invalid(_))));
    let mut near = keygen(0, 9);
    near.expires_at_ms = now + MAX_LIFETIME_MS;
    assert_eq!(ProposalBook::check(&near, 0, 3, now), Ok(()));
}

#[test]
fn a_member_cannot_hold_more_than_its_share_of_open_proposals() {
    let mut book = ProposalBook::default();
    let many = |proposer: PartyIndex, i: usize| Proposal {
        nonce: {
            let mut n = [0u8; 16];
            n[..8].copy_from_slice(&(i as u64).to_be_bytes());
            n
        },
        ..keygen(proposer, 0)
    };
    for i in 0..MAX_OPEN_PER_PROPOSER {
        book.hold(many(2, i)).unwrap();
    }
    assert_eq!(book.hold(many(2, 10_000)), Err(ProposalError::TooManyOpen(2)), "the flooder is at its share");
    let again = many(2, 0);
    assert!(book.hold(again).is_ok(), "a proposal already held is recognised, not refused");
    assert!(book.hold(many(1, 0)).is_ok(), "another member still gets its proposals held");
    // Once decided, they no longer count against the proposer.
    let first = many(2, 1).session().unwrap();
    assert!(matches!(book.vote(first, 0, &Vote::Decline("no".into())), Ok(Decision::Abandon { .. })));
    assert!(book.hold(many(2, 10_001)).is_ok());
}
