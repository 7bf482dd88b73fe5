//! The kill loop: a child process appends (events, and shares sealed in the same batch) in a
//! loop and is killed with SIGKILL at random points, many times. After each kill the reopened
//! journal verifies, every acknowledged append is there, a retried append is not duplicated,
//! and every share has its event and every event its share.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use protocol::SchemeId;
use rand_core::RngCore;
use store::{Db, DomainEvent, Journal, KdfParams, Vault, VaultSecret};

use crate::child;

const ROUNDS: usize = 30;

/// The append index behind each stored event (a session id maps back through `sessions`).
fn stored_ids(journal: &Journal, sessions: &Sessions) -> BTreeSet<u64> {
    let mut ids = BTreeSet::new();
    for e in journal.read_all(1, usize::MAX).unwrap() {
        assert!(ids.insert(sessions.index_of(&e.event)), "append stored twice: {:?}", e.event);
    }
    ids
}

/// The session ids of the appends so far, derived once each (not once per event and round).
#[derive(Default)]
struct Sessions(std::collections::HashMap<protocol::SessionId, u64>, u64);

impl Sessions {
    fn cover(&mut self, upto: u64) {
        for i in self.1..upto {
            self.0.insert(protocol::SessionId::derive("crash", &i.to_be_bytes()), i);
        }
        self.1 = self.1.max(upto);
    }

    fn index_of(&self, event: &DomainEvent) -> u64 {
        match event {
            DomainEvent::LimitRefused { retry_after_ms, .. } => *retry_after_ms,
            DomainEvent::KeySharesGenerated { session, .. } => {
                *self.0.get(session).unwrap_or_else(|| panic!("unknown session (more than {} appends?)", self.1))
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn killed_appender_leaves_a_verifiable_journal_and_no_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("db");
    let key_file = dir.path().join("vault.key");
    std::fs::write(&key_file, [3u8; 32]).unwrap();
    let mut next = 0u64;
    let mut acked_total = 0u64;
    let mut sessions = Sessions::default();
    for round in 0..ROUNDS {
        let mut proc = Command::new(env!("CARGO_BIN_EXE_journal_crash_child"))
            .args([db_dir.to_str().unwrap(), key_file.to_str().unwrap(), &next.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = proc.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| l.strip_prefix("acked ").and_then(|n| n.parse::<u64>().ok()))
                .collect::<Vec<u64>>()
        });
        let wait = 30 + rand_core::OsRng.next_u64() % 170;
        std::thread::sleep(Duration::from_millis(wait));
        proc.kill().unwrap(); // SIGKILL
        proc.wait().unwrap();
        // A line cut by the kill parses as a smaller, already acknowledged number: harmless.
        let acked = reader.join().unwrap();

        let db = Db::open(&db_dir).unwrap();
        let vault = Vault::open(db.clone(), VaultSecret::KeyFile(key_file.clone()), KdfParams::default()).unwrap();
        let journal = Journal::open(db).unwrap();
        let report = journal.verify().unwrap_or_else(|e| panic!("round {round}: {e}"));
        // Atomicity at the kill point: a share exists exactly when its event does. The child
        // appends in order, so no share exists past the one it had in flight (the first share
        // index after the last stored or acknowledged append): the search ends a few past it.
        // A fast disk takes thousands of synced appends in a round.
        sessions.cover(next + 50_000);
        let stored = stored_ids(&journal, &sessions);
        assert_eq!(stored.len() as u64, report.entries);
        let last = stored.iter().chain(&acked).max().copied().unwrap_or(next);
        for i in (0..last + 7).filter(|i| i % 3 == 0) {
            let share = vault.load_share(&child::share_wallet(i), &SchemeId::from_name("frost-ed25519"), 1).is_ok();
            assert_eq!(share, stored.contains(&i), "round {round}: share and event of {i} not atomic");
        }

        // Every acknowledged append is durable: retrying it is a no-op.
        for &i in &acked {
            assert!(journal.append(child::request(&vault, i)).unwrap().deduplicated, "round {round}: acked {i} lost");
        }
        // The append in flight at the kill is retried: stored exactly once either way.
        let in_flight = acked.iter().max().map(|i| i + 1).unwrap_or(next);
        journal.append(child::request(&vault, in_flight)).unwrap();
        let all = journal.read_all(1, usize::MAX).unwrap();
        let mut ids = BTreeSet::new();
        for e in &all {
            let id = sessions.index_of(&e.event);
            assert!(ids.insert(id), "round {round}: append {id} stored twice");
            if let DomainEvent::KeySharesGenerated { wallet, party, .. } = &e.event {
                vault.load_share(wallet, &SchemeId::from_name("frost-ed25519"), *party).unwrap();
            }
        }
        assert_eq!(ids, (0..=in_flight).collect::<BTreeSet<_>>(), "round {round}: gap in appends");
        acked_total += acked.len() as u64;
        next = in_flight + 1;
    }
    eprintln!("{ROUNDS} kills, {acked_total} acknowledged appends, {next} appends in all");
    assert!(acked_total > 0, "the child never got an append through");
}
