//! Read models: history pages newest first, balances, audit by time, lag, rebuild, snapshots.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::{SessionId, WalletId};
use store::events::TransactionInitiated;
use store::{AppendRequest, Db, DomainEvent, ExpectedVersion, Journal, Projections, StreamId};

fn w(s: &str) -> WalletId {
    WalletId::new(s).unwrap()
}

fn transfer(journal: &Journal, wallet: &WalletId, tx: &str, amount: u128) {
    let s = StreamId::Transaction(tx.into());
    let init = DomainEvent::TransactionInitiated(TransactionInitiated {
        tx: tx.into(),
        wallet: wallet.clone(),
        chain: "ethereum".into(),
        to: "0xdead".into(),
        amount,
        fee_ceiling: Some(10),
    });
    journal.append(AppendRequest::new(s.clone(), ExpectedVersion::NoStream, vec![init])).unwrap();
    let signed = DomainEvent::TransactionSigned {
        tx: tx.into(),
        session: SessionId::derive("s", tx.as_bytes()),
        chain_txid: format!("0x{tx}"),
        raw: vec![0xf8, 0x6c],
        signatures: Vec::new(),
        unsigned: None,
    };
    let sent = DomainEvent::TransactionBroadcast { tx: tx.into(), chain_txid: format!("0x{tx}") };
    journal.append(AppendRequest::new(s, ExpectedVersion::Exactly(1), vec![signed, sent])).unwrap();
}

fn setup() -> (tempfile::TempDir, Journal, Projections) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    (dir, Journal::open(db.clone()).unwrap(), Projections::new(db))
}

#[test]
fn history_is_newest_first_and_paginated() {
    let (_d, j, p) = setup();
    let (a, b) = (w("alice"), w("bob"));
    for i in 0..5 {
        transfer(&j, &a, &format!("a{i}"), i);
    }
    transfer(&j, &b, "b0", 1);
    assert_eq!(p.lag(&j).unwrap(), 18);
    p.catch_up(&j, 7).unwrap();
    assert_eq!(p.lag(&j).unwrap(), 0);

    let page1 = p.history(&a, None, 4).unwrap();
    assert_eq!(page1.entries.len(), 4);
    assert!(page1.entries.windows(2).all(|x| x[0].seq > x[1].seq), "newest first");
    assert_eq!(page1.entries[0].tx.as_deref(), Some("a4"));
    let mut all = page1.entries.clone();
    let mut cursor = page1.next_before;
    while let Some(before) = cursor {
        let page = p.history(&a, Some(before), 4).unwrap();
        all.extend(page.entries);
        cursor = page.next_before;
    }
    assert_eq!(all.len(), 15, "three events per transfer, none from bob");
    assert!(all.windows(2).all(|x| x[0].seq > x[1].seq));
    assert_eq!(p.history(&b, None, 100).unwrap().entries.len(), 3);
    assert!(p.history(&w("nobody"), None, 10).unwrap().entries.is_empty());
}

#[test]
fn balances_and_audit_trail() {
    let (_d, j, p) = setup();
    let a = w("alice");
    for (chain, amount) in [("ethereum", 5u128), ("solana", 7), ("ethereum", 9)] {
        let e = DomainEvent::BalanceObserved { wallet: a.clone(), chain: chain.into(), amount };
        j.append(AppendRequest::new(StreamId::Wallet(a.clone()), ExpectedVersion::Any, vec![e])).unwrap();
    }
    p.catch_up(&j, 100).unwrap();
    let balances = p.balances(&a).unwrap();
    let got: Vec<(String, u128)> = balances.iter().map(|b| (b.chain.clone(), b.amount)).collect();
    assert_eq!(got, vec![("ethereum".into(), 9), ("solana".into(), 7)]);

    let audit = p.audit(0, u64::MAX, 100).unwrap();
    assert_eq!(audit.len(), 3);
    assert_eq!(audit[0].prev_hash, [0u8; 32]);
    assert_eq!(audit[1].prev_hash, audit[0].hash, "audit lines carry their hash-chain position");
    assert_eq!(audit[2].hash, j.head().unwrap().hash);
    let t = audit[0].recorded_at_ms;
    assert!(p.audit(t + 60_000, u64::MAX, 100).unwrap().is_empty());
    assert_eq!(p.audit(0, u64::MAX, 2).unwrap().len(), 2);
}

#[test]
fn a_rebuild_gives_the_same_read_models() {
    let (_d, j, p) = setup();
    let a = w("alice");
    for i in 0..20 {
        transfer(&j, &a, &format!("t{i}"), i);
        let e = DomainEvent::BalanceObserved { wallet: a.clone(), chain: "bitcoin".into(), amount: i };
        j.append(AppendRequest::new(StreamId::Wallet(a.clone()), ExpectedVersion::Any, vec![e])).unwrap();
    }
    p.catch_up(&j, 5).unwrap();
    let (h, b, au) = (p.history(&a, None, 1000).unwrap(), p.balances(&a).unwrap(), p.audit(0, u64::MAX, 1000).unwrap());
    let report = p.rebuild(&j).unwrap();
    assert_eq!(report.replayed, 80);
    assert_eq!(p.history(&a, None, 1000).unwrap(), h);
    assert_eq!(p.balances(&a).unwrap(), b);
    assert_eq!(p.audit(0, u64::MAX, 1000).unwrap(), au);
}

#[test]
fn a_snapshot_bounds_the_replay() {
    let (_d, j, p) = setup();
    let a = w("alice");
    for i in 0..10 {
        transfer(&j, &a, &format!("t{i}"), i);
    }
    p.catch_up(&j, 100).unwrap();
    assert_eq!(p.snapshot().unwrap(), 30);
    transfer(&j, &a, "late", 1);
    let e = DomainEvent::BalanceObserved { wallet: a.clone(), chain: "solana".into(), amount: 3 };
    j.append(AppendRequest::new(StreamId::Wallet(a.clone()), ExpectedVersion::Any, vec![e])).unwrap();
    let report = p.rebuild_from_snapshot(&j).unwrap();
    assert_eq!((report.from_snapshot, report.replayed), (30, 4));
    assert_eq!(p.balances(&a).unwrap()[0].amount, 3);
    // The transaction owner map came from the snapshot: a later event of an old transaction
    // still lands in the right wallet's history.
    j.append(AppendRequest::new(
        StreamId::Transaction("t3".into()),
        ExpectedVersion::Exactly(3),
        vec![DomainEvent::TransactionConfirmed { tx: "t3".into(), block: 9, confirmations: 3 }],
    ))
    .unwrap();
    p.catch_up(&j, 10).unwrap();
    assert_eq!(p.history(&a, None, 1).unwrap().entries[0].tx.as_deref(), Some("t3"));
}

#[test]
fn the_follower_keeps_lag_near_zero() {
    let (_d, j, p) = setup();
    let j = Arc::new(j);
    let follower = p.spawn_follower(j.clone()).unwrap();
    let a = w("alice");
    for i in 0..50 {
        transfer(&j, &a, &format!("f{i}"), i);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while p.lag(&j).unwrap() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(p.lag(&j).unwrap(), 0);
    assert_eq!(p.history(&a, None, 1000).unwrap().entries.len(), 150);
    follower.stop().unwrap();
}

/// The wallets held here and the transfers still open are read models too: no reader scans
/// the journal for them, they survive a rebuild from a snapshot, and a reader that needs its
/// own write sees it at once.
#[test]
fn wallets_and_open_transfers_are_projected_and_read_your_writes() {
    let (_d, j, p) = setup();
    let (a, b) = (w("alice"), w("bob"));
    for (wallet, key) in [(&a, 1u8), (&b, 2)] {
        let created = DomainEvent::WalletCreated {
            wallet: wallet.clone(),
            scheme: protocol::SchemeId::from_name("frost-ed25519"),
            threshold: 2,
            parties: 3,
            public_key: vec![key; 32],
        };
        j.append(AppendRequest::new(StreamId::Wallet(wallet.clone()), ExpectedVersion::NoStream, vec![created]))
            .unwrap();
    }
    transfer(&j, &a, "open-1", 5);
    transfer(&j, &a, "done-1", 6);
    transfer(&j, &b, "failed-1", 7);
    let finish = |tx: &str, v: u64, e: DomainEvent| {
        j.append(AppendRequest::new(StreamId::Transaction(tx.into()), ExpectedVersion::Exactly(v), vec![e])).unwrap();
    };
    finish("done-1", 3, DomainEvent::TransactionConfirmed { tx: "done-1".into(), block: 1, confirmations: 1 });
    // Nothing applied yet: a plain read does not see it, a refresh does.
    assert!(p.wallet(&a).unwrap().is_none());
    p.refresh(&j).unwrap();
    let row = p.wallet(&a).unwrap().unwrap();
    assert_eq!((row.threshold, row.parties, row.public_key.bytes.clone()), (2, 3, vec![1; 32]));
    assert_eq!(p.wallets().unwrap().iter().map(|r| r.wallet.clone()).collect::<Vec<_>>(), vec![a.clone(), b.clone()]);
    let open: Vec<String> = p.open_transfers().unwrap().into_iter().map(|o| o.tx).collect();
    assert_eq!(open, vec!["failed-1".to_owned(), "open-1".to_owned()], "a confirmed transfer is no longer open");
    finish(
        "failed-1",
        3,
        DomainEvent::TransactionFailed {
            tx: "failed-1".into(),
            kind: store::events::TransferFailureKind::Refused,
            reason: "x".into(),
        },
    );
    p.refresh(&j).unwrap();
    assert_eq!(p.open_transfers().unwrap().len(), 1);
    // Kept by a snapshot: a rebuild from it still knows every wallet and open transfer.
    p.snapshot().unwrap();
    p.rebuild_from_snapshot(&j).unwrap();
    assert_eq!(p.wallets().unwrap().len(), 2);
    assert_eq!(p.open_transfers().unwrap()[0].tx, "open-1");
    assert_eq!(p.refresh(&j).unwrap(), 0, "nothing left to apply");
}
