//! Journal behaviour: streams, optimistic concurrency, idempotency, upcasting, tamper
//! detection and failing closed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use protocol::{SessionId, WalletId};
use store::events::{
    encode_failed_v1_for_tests, encode_limit_v1_for_tests, encode_v1_for_tests, LimitRefusedV1, TransactionFailedV1,
    TransactionInitiated, TransactionInitiatedV1, TransferFailureKind,
};
use store::keys::{self, cf};
use store::{AppendRequest, Db, DomainEvent, ExpectedVersion, IdempotencyKey, Journal, StoreError, StreamId};

fn wallet(s: &str) -> WalletId {
    WalletId::new(s).unwrap()
}

fn limit_event(i: u64) -> DomainEvent {
    DomainEvent::LimitRefused {
        subject: format!("api-key-{i}"),
        limit: "per_key".into(),
        retry_after_ms: i,
        level: 0,
        max: 1,
        refused: 1,
    }
}

fn open(dir: &tempfile::TempDir) -> Journal {
    Journal::open(Db::open(dir.path()).unwrap()).unwrap()
}

#[test]
fn appends_are_sequenced_per_stream_and_globally() {
    let dir = tempfile::tempdir().unwrap();
    let j = open(&dir);
    let a = StreamId::Wallet(wallet("a"));
    let b = StreamId::Wallet(wallet("b"));
    let r1 = j
        .append(AppendRequest::new(a.clone(), ExpectedVersion::NoStream, vec![limit_event(1), limit_event(2)]))
        .unwrap();
    let r2 = j.append(AppendRequest::new(b.clone(), ExpectedVersion::NoStream, vec![limit_event(3)])).unwrap();
    let r3 = j.append(AppendRequest::new(a.clone(), ExpectedVersion::Exactly(2), vec![limit_event(4)])).unwrap();
    assert_eq!((r1.first_seq, r1.last_seq, r1.stream_version), (1, 2, 2));
    assert_eq!((r2.first_seq, r2.stream_version), (3, 1));
    assert_eq!((r3.first_seq, r3.stream_version), (4, 3));
    let stream_a: Vec<u64> = j.read_stream(&a, 1, 100).unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(stream_a, vec![1, 2, 4]);
    assert_eq!(j.read_stream(&a, 3, 100).unwrap()[0].event, limit_event(4));
    assert_eq!(j.read_all(2, 2).unwrap().iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!(j.verify().unwrap().entries, 4);
    drop(j);
    // Everything survives a reopen, and the chain continues from the stored head.
    let j = open(&dir);
    assert_eq!(j.head().unwrap().seq, 4);
    j.append(AppendRequest::new(b, ExpectedVersion::Exactly(1), vec![limit_event(5)])).unwrap();
    assert_eq!(j.verify().unwrap().entries, 5);
}

#[test]
fn stale_writer_gets_a_conflict_not_an_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let j = open(&dir);
    let s = StreamId::Transaction("tx-1".into());
    j.append(AppendRequest::new(s.clone(), ExpectedVersion::NoStream, vec![limit_event(1)])).unwrap();
    let err = j.append(AppendRequest::new(s.clone(), ExpectedVersion::NoStream, vec![limit_event(2)])).unwrap_err();
    assert!(matches!(err, StoreError::Conflict { actual: 1, .. }), "{err}");
    let err = j.append(AppendRequest::new(s.clone(), ExpectedVersion::Exactly(5), vec![limit_event(2)])).unwrap_err();
    assert!(matches!(err, StoreError::Conflict { actual: 1, .. }), "{err}");
    assert_eq!(j.stream_version(&s).unwrap(), 1);
    assert_eq!(j.head().unwrap().seq, 1, "a refused append writes nothing");
}

#[test]
fn concurrent_writers_on_one_stream_never_lose_an_update() {
    let dir = tempfile::tempdir().unwrap();
    let j = Arc::new(open(&dir));
    let s = StreamId::Wallet(wallet("contended"));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (j, s) = (j.clone(), s.clone());
            std::thread::spawn(move || {
                let mut conflicts = 0;
                let mut done = 0;
                while done < 10 {
                    let v = j.stream_version(&s).unwrap();
                    match j.append(AppendRequest::new(s.clone(), ExpectedVersion::Exactly(v), vec![limit_event(t)])) {
                        Ok(_) => done += 1,
                        Err(StoreError::Conflict { .. }) => conflicts += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
                conflicts
            })
        })
        .collect();
    let conflicts: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(j.stream_version(&s).unwrap(), 80);
    assert_eq!(j.verify().unwrap().entries, 80);
    eprintln!("{conflicts} conflicts resolved by retry");
}

#[test]
fn group_commit_batches_concurrent_appends_into_a_valid_chain() {
    let dir = tempfile::tempdir().unwrap();
    let j = Arc::new(open(&dir));
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let j = j.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let s = StreamId::Transaction(format!("t{t}"));
                    j.append(AppendRequest::new(s, ExpectedVersion::Exactly(i), vec![limit_event(i)])).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let report = j.verify().unwrap();
    assert_eq!(report.entries, 400);
    assert_eq!(report.head, j.head().unwrap());
}

#[test]
fn a_retried_append_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let j = open(&dir);
    let s = StreamId::Wallet(wallet("idem"));
    let key = IdempotencyKey::from_request_id("req-1");
    let first =
        j.append(AppendRequest::new(s.clone(), ExpectedVersion::Any, vec![limit_event(1)]).idempotent(key)).unwrap();
    let again =
        j.append(AppendRequest::new(s.clone(), ExpectedVersion::Any, vec![limit_event(1)]).idempotent(key)).unwrap();
    assert!(!first.deduplicated && again.deduplicated);
    assert_eq!((again.first_seq, again.last_seq), (first.first_seq, first.last_seq));
    assert_eq!(j.head().unwrap().seq, 1);
    // After a restart the key is still remembered.
    drop(j);
    let j = open(&dir);
    let after =
        j.append(AppendRequest::new(s.clone(), ExpectedVersion::Any, vec![limit_event(1)]).idempotent(key)).unwrap();
    assert!(after.deduplicated);
    // The same key for a different append is an error, not a silent success.
    let err = j.append(AppendRequest::new(s, ExpectedVersion::Any, vec![limit_event(2)]).idempotent(key)).unwrap_err();
    assert!(matches!(err, StoreError::IdempotencyMismatch { .. }), "{err}");
    assert_eq!(j.head().unwrap().seq, 1);
}

#[test]
fn duplicate_keys_inside_one_group_commit_are_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let j = Arc::new(open(&dir));
    let key = IdempotencyKey::from_request_id("same");
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let j = j.clone();
            std::thread::spawn(move || {
                let s = StreamId::Wallet(WalletId::new("w").unwrap());
                j.append(AppendRequest::new(s, ExpectedVersion::Any, vec![limit_event(7)]).idempotent(key)).unwrap()
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| !r.deduplicated).count(), 1);
    assert_eq!(j.head().unwrap().seq, 1);
}

#[test]
fn old_schema_versions_are_upcast_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let j = open(&dir);
    let v1 = TransactionInitiatedV1 {
        tx: "tx-old".into(),
        wallet: wallet("legacy"),
        chain: "ethereum".into(),
        to: "0xabc".into(),
        amount: 42,
    };
    let s = StreamId::Transaction("tx-old".into());
    j.append_encoded(s.clone(), "TransactionInitiated", 1, encode_v1_for_tests(&v1).unwrap()).unwrap();
    let read = j.read_stream(&s, 1, 1).unwrap();
    assert_eq!(
        read[0].event,
        DomainEvent::TransactionInitiated(TransactionInitiated {
            tx: "tx-old".into(),
            wallet: wallet("legacy"),
            chain: "ethereum".into(),
            to: "0xabc".into(),
            amount: 42,
            fee_ceiling: None,
        })
    );
    assert_eq!(j.verify().unwrap().entries, 1);
    // A failure journaled before failures had a kind reads back with its text, kind unknown.
    let failed = TransactionFailedV1 { variant: 9, tx: "tx-old".into(), reason: "broadcast refused: nonce".into() };
    j.append_encoded(s.clone(), "TransactionFailed", 1, encode_failed_v1_for_tests(&failed).unwrap()).unwrap();
    assert_eq!(
        j.read_stream(&s, 2, 1).unwrap()[0].event,
        DomainEvent::TransactionFailed {
            tx: "tx-old".into(),
            kind: TransferFailureKind::Unknown,
            reason: "broadcast refused: nonce".into()
        }
    );
    assert_eq!(j.verify().unwrap().entries, 2);
    // A refusal journaled before refusals carried their level reads back as one refusal.
    let limit = LimitRefusedV1 { variant: 10, subject: "key-a".into(), limit: "api_key".into(), retry_after_ms: 600 };
    j.append_encoded(s.clone(), "LimitRefused", 1, encode_limit_v1_for_tests(&limit).unwrap()).unwrap();
    assert_eq!(
        j.read_stream(&s, 3, 1).unwrap()[0].event,
        DomainEvent::LimitRefused {
            subject: "key-a".into(),
            limit: "api_key".into(),
            retry_after_ms: 600,
            level: 0,
            max: 0,
            refused: 1
        }
    );
    // A version this build does not know is an error, not a guess.
    j.append_encoded(s.clone(), "TransactionInitiated", 9, vec![1, 2, 3]).unwrap();
    assert!(matches!(j.read_stream(&s, 4, 1).unwrap_err(), StoreError::UnknownEvent { version: 9, .. }));
}

fn tamper_and_verify(edit: impl FnOnce(&rocksdb::DB)) -> StoreError {
    let dir = tempfile::tempdir().unwrap();
    {
        let j = open(&dir);
        for i in 0..10 {
            let s = StreamId::Session(SessionId::derive("t", &[i as u8]));
            j.append(AppendRequest::new(s, ExpectedVersion::NoStream, vec![limit_event(i)])).unwrap();
        }
        assert_eq!(j.verify().unwrap().entries, 10);
    }
    {
        let mut opts = rocksdb::Options::default();
        opts.create_missing_column_families(true);
        let raw = rocksdb::DB::open_cf(&opts, dir.path(), cf::ALL).unwrap();
        edit(&raw);
    }
    open(&dir).verify().unwrap_err()
}

fn events_cf(db: &rocksdb::DB) -> &rocksdb::ColumnFamily {
    db.cf_handle(cf::EVENTS).unwrap()
}

#[test]
fn a_flipped_byte_is_detected() {
    let err = tamper_and_verify(|db| {
        let mut v = db.get_cf(events_cf(db), keys::event(5)).unwrap().unwrap();
        let last = v.len() - 40; // inside the payload, before the two hashes
        v[last] ^= 0x01;
        db.put_cf(events_cf(db), keys::event(5), v).unwrap();
    });
    assert!(matches!(err, StoreError::Tampered { seq: 5, .. }), "{err}");
}

#[test]
fn a_removed_entry_is_detected() {
    let err = tamper_and_verify(|db| db.delete_cf(events_cf(db), keys::event(4)).unwrap());
    assert!(matches!(err, StoreError::Tampered { seq: 4, .. }), "{err}");
}

#[test]
fn a_removed_tail_is_detected() {
    let err = tamper_and_verify(|db| {
        db.delete_cf(events_cf(db), keys::event(10)).unwrap();
        db.delete_cf(events_cf(db), keys::event(9)).unwrap();
    });
    assert!(matches!(err, StoreError::Tampered { .. }), "{err}");
}

#[test]
fn reordered_entries_are_detected() {
    let err = tamper_and_verify(|db| {
        let a = db.get_cf(events_cf(db), keys::event(3)).unwrap().unwrap();
        let b = db.get_cf(events_cf(db), keys::event(4)).unwrap().unwrap();
        db.put_cf(events_cf(db), keys::event(3), b).unwrap();
        db.put_cf(events_cf(db), keys::event(4), a).unwrap();
    });
    assert!(matches!(err, StoreError::Tampered { seq: 3, .. }), "{err}");
}

#[test]
fn garbage_in_an_entry_is_detected_not_a_panic() {
    let err = tamper_and_verify(|db| db.put_cf(events_cf(db), keys::event(7), [0xFFu8; 9]).unwrap());
    assert!(matches!(err, StoreError::Tampered { seq: 7, .. }), "{err}");
}

#[test]
fn a_failed_write_fails_the_journal_closed() {
    let dir = tempfile::tempdir().unwrap();
    let j = open(&dir);
    let s = StreamId::Wallet(wallet("w"));
    j.append(AppendRequest::new(s.clone(), ExpectedVersion::Any, vec![limit_event(1)])).unwrap();
    j.inject_write_failure();
    let err = j.append(AppendRequest::new(s.clone(), ExpectedVersion::Any, vec![limit_event(2)])).unwrap_err();
    assert!(matches!(err, StoreError::WriteFailed(_)), "{err}");
    assert!(!j.is_healthy());
    let err = j.append(AppendRequest::new(s, ExpectedVersion::Any, vec![limit_event(3)])).unwrap_err();
    assert!(matches!(err, StoreError::FailedClosed), "{err}");
    drop(j);
    let j = open(&dir);
    assert_eq!(j.verify().unwrap().entries, 1, "nothing of the failed append was stored");
}

#[test]
fn subscribers_hear_every_commit() {
    let dir = tempfile::tempdir().unwrap();
    let j = open(&dir);
    let rx = j.subscribe().unwrap();
    for i in 0..3 {
        j.append(AppendRequest::new(StreamId::Wallet(wallet("s")), ExpectedVersion::Any, vec![limit_event(i)]))
            .unwrap();
    }
    let heads: Vec<u64> = rx.try_iter().collect();
    assert_eq!(heads, vec![1, 2, 3]);
}

#[test]
fn pruned_entries_leave_tombstones_the_chain_check_crosses() {
    let dir = tempfile::tempdir().unwrap();
    let j = open(&dir);
    let kept = StreamId::Wallet(wallet("kept"));
    for i in 0..10u64 {
        let s = StreamId::Session(SessionId::derive("p", &[i as u8]));
        j.append(AppendRequest::new(s, ExpectedVersion::NoStream, vec![limit_event(i)])).unwrap();
        j.append(AppendRequest::new(kept.clone(), ExpectedVersion::Any, vec![limit_event(100 + i)])).unwrap();
    }
    let head = j.head().unwrap().seq;
    let sessions_only = |stream: &str, _: &str| stream.starts_with("session/");
    // Up to seq 12, everything recorded so far: the 6 session entries among them go.
    let p = j.prune(12, u64::MAX, &sessions_only, 1000).unwrap();
    assert_eq!((p.removed, p.scanned), (6, 12));
    assert_eq!(j.verify().unwrap().entries, head, "the check runs across the tombstones");
    assert_eq!(j.read_stream(&kept, 1, 100).unwrap().len(), 10, "the wallet's stream is whole");
    assert!(j.get(1).unwrap().is_none() && j.get(2).unwrap().is_some());
    let first = StreamId::Session(SessionId::derive("p", &[0]));
    assert!(j.read_stream(&first, 1, 10).unwrap().is_empty());
    // The next pass starts where this one stopped, and never removes the head.
    let p = j.prune(u64::MAX, u64::MAX, &sessions_only, 1000).unwrap();
    assert_eq!(p.removed, 4);
    assert!(j.get(head).unwrap().is_some());
    // Nothing newer than the age goes.
    let p = j.prune(u64::MAX, 0, &|_: &str, _: &str| true, 1000).unwrap();
    assert_eq!(p.removed, 0);
    drop(j);
    // A tombstone removed by hand is a gap again.
    {
        let mut opts = rocksdb::Options::default();
        opts.create_missing_column_families(true);
        let raw = rocksdb::DB::open_cf(&opts, dir.path(), cf::ALL).unwrap();
        let mut key = b"pruned/".to_vec();
        key.extend_from_slice(&3u64.to_be_bytes());
        raw.delete_cf(raw.cf_handle(cf::META).unwrap(), key).unwrap();
    }
    let err = open(&dir).verify().unwrap_err();
    assert!(matches!(err, StoreError::Tampered { seq: 3, .. }), "{err}");
}
