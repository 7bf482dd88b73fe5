//! Test helper for the kill loop (`tests/suite/crash.rs`): appends forever, printing `acked <i>`
//! after each append returns. Every third append also seals a key share in the same batch.
//!
//! journal_crash_child <db-dir> <key-file> <first-index>
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use protocol::{KeyShare, PublicKey, SchemeId, SecretBytes, SessionId, WalletId};
use store::{AppendRequest, Db, DomainEvent, ExpectedVersion, IdempotencyKey, Journal, KdfParams, Vault, VaultSecret};

/// The request the parent retries: the same index always builds the same append.
pub fn request(vault: &Vault, i: u64) -> AppendRequest {
    let key = IdempotencyKey::from_request_id(&format!("req-{i}"));
    if i % 3 == 0 {
        let wallet = share_wallet(i);
        let scheme = SchemeId::from_name("frost-ed25519");
        let share = KeyShare {
            scheme: scheme.clone(),
            party: 1,
            threshold: 2,
            parties: 3,
            public_key: PublicKey { scheme: scheme.clone(), bytes: vec![1; 32] },
            secret: SecretBytes::new(i.to_be_bytes().repeat(8)),
        };
        let event = DomainEvent::KeySharesGenerated {
            wallet: wallet.clone(),
            scheme,
            session: SessionId::derive("crash", &i.to_be_bytes()),
            party: share.party,
            public_key: vec![1; 32],
        };
        AppendRequest::new(StreamId::Wallet(wallet.clone()), ExpectedVersion::Any, vec![event])
            .idempotent(key)
            .with(vault.seal_share(&wallet, &share).unwrap())
    } else {
        let wallet = WalletId::new(&format!("w{}", i % 5)).unwrap();
        let event = DomainEvent::LimitRefused {
            subject: format!("req-{i}"),
            limit: "test".into(),
            retry_after_ms: i,
            level: 0,
            max: 1,
            refused: 1,
        };
        AppendRequest::new(StreamId::Wallet(wallet), ExpectedVersion::Any, vec![event]).idempotent(key)
    }
}

use store::StreamId;

/// Each share index gets its own wallet, so shares never overwrite each other.
pub fn share_wallet(i: u64) -> WalletId {
    WalletId::new(&format!("s{i}")).unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, key_file, first): (&str, &str, u64) = (&args[1], &args[2], args[3].parse().unwrap());
    let db = Db::open(std::path::Path::new(dir)).unwrap();
    let vault = Vault::open(db.clone(), VaultSecret::KeyFile(key_file.into()), KdfParams::default()).unwrap();
    let journal = Journal::open(db).unwrap();
    let mut out = std::io::stdout().lock();
    for i in first.. {
        journal.append(request(&vault, i)).unwrap();
        writeln!(out, "acked {i}").unwrap();
        out.flush().unwrap();
    }
}
