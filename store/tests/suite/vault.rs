//! The encrypted vault: atomic share + event, wrong secrets, corruption, swapped entries,
//! the persistent prime pool.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use protocol::primes::SafePrimes;
use protocol::{KeyShare, PublicKey, SchemeId, SecretBytes, SessionId, WalletId};
use store::keys::{self, cf};
use store::{
    AppendRequest, Db, DomainEvent, ExpectedVersion, Journal, KdfParams, StoreError, StreamId, Vault, VaultSecret,
};
use zeroize::Zeroizing;

const FAST_KDF: KdfParams = KdfParams { memory_kib: 1024, iterations: 1 };

fn pass(p: &str) -> VaultSecret {
    VaultSecret::Passphrase(Zeroizing::new(p.to_owned()))
}

fn share(party: u16) -> KeyShare {
    let scheme = SchemeId::from_name("frost-ed25519");
    KeyShare {
        scheme: scheme.clone(),
        party,
        threshold: 2,
        parties: 3,
        public_key: PublicKey { scheme, bytes: vec![7; 32] },
        secret: SecretBytes::new(vec![party as u8; 64]),
    }
}

fn store_share(journal: &Journal, vault: &Vault, wallet: &WalletId, share: &KeyShare) {
    let event = DomainEvent::KeySharesGenerated {
        wallet: wallet.clone(),
        scheme: share.scheme.clone(),
        session: SessionId::derive("dkg", wallet.as_str().as_bytes()),
        party: share.party,
        public_key: share.public_key.bytes.clone(),
    };
    let req = AppendRequest::new(StreamId::Wallet(wallet.clone()), ExpectedVersion::Any, vec![event])
        .with(vault.seal_share(wallet, share).unwrap());
    journal.append(req).unwrap();
}

#[test]
fn share_and_event_commit_together_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let w = WalletId::new("treasury").unwrap();
    {
        let db = Db::open(dir.path()).unwrap();
        let vault = Vault::open(db.clone(), pass("correct horse"), FAST_KDF).unwrap();
        store_share(&Journal::open(db).unwrap(), &vault, &w, &share(1));
    }
    let db = Db::open(dir.path()).unwrap();
    let vault = Vault::open(db.clone(), pass("correct horse"), FAST_KDF).unwrap();
    assert_eq!(vault.load_share(&w, &SchemeId::from_name("frost-ed25519"), 1).unwrap(), share(1));
    let events = Journal::open(db).unwrap().read_stream(&StreamId::Wallet(w), 1, 10).unwrap();
    assert!(matches!(events[0].event, DomainEvent::KeySharesGenerated { party: 1, .. }));
}

#[test]
fn a_failed_commit_stores_neither_share_nor_event() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let vault = Vault::open(db.clone(), pass("p"), FAST_KDF).unwrap();
    let journal = Journal::open(db).unwrap();
    let w = WalletId::new("w").unwrap();
    journal.inject_write_failure();
    let event = DomainEvent::BalanceObserved { wallet: w.clone(), chain: "x".into(), amount: 1 };
    let req = AppendRequest::new(StreamId::Wallet(w.clone()), ExpectedVersion::Any, vec![event])
        .with(vault.seal_share(&w, &share(0)).unwrap());
    assert!(journal.append(req).is_err());
    assert!(matches!(vault.load_share(&w, &SchemeId::from_name("frost-ed25519"), 0), Err(StoreError::NotFound(_))));
    assert_eq!(journal.head().unwrap().seq, 0);
}

#[test]
fn a_wrong_passphrase_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    Vault::open(Db::open(dir.path()).unwrap(), pass("right"), FAST_KDF).unwrap();
    let err = Vault::open(Db::open(dir.path()).unwrap(), pass("wrong"), FAST_KDF).err().unwrap();
    assert!(matches!(err, StoreError::WrongVaultKey), "{err}");
}

#[test]
fn key_files_work_and_a_wrong_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (good, bad, short) = (dir.path().join("good.key"), dir.path().join("bad.key"), dir.path().join("short.key"));
    std::fs::write(&good, hex::encode([5u8; 32])).unwrap();
    std::fs::write(&bad, [6u8; 32]).unwrap();
    std::fs::write(&short, [6u8; 7]).unwrap();
    let db_dir = dir.path().join("db");
    Vault::open(Db::open(&db_dir).unwrap(), VaultSecret::KeyFile(good.clone()), FAST_KDF).unwrap();
    Vault::open(Db::open(&db_dir).unwrap(), VaultSecret::KeyFile(good), FAST_KDF).unwrap();
    let err = Vault::open(Db::open(&db_dir).unwrap(), VaultSecret::KeyFile(bad), FAST_KDF).err().unwrap();
    assert!(matches!(err, StoreError::WrongVaultKey), "{err}");
    let err = Vault::open(Db::open(&db_dir).unwrap(), VaultSecret::KeyFile(short), FAST_KDF).err().unwrap();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err}");
}

fn with_raw(dir: &std::path::Path, edit: impl FnOnce(&rocksdb::DB)) {
    let raw = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir, cf::ALL).unwrap();
    edit(&raw);
}

#[test]
fn a_flipped_byte_in_a_sealed_share_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let w = WalletId::new("w").unwrap();
    {
        let db = Db::open(dir.path()).unwrap();
        let vault = Vault::open(db.clone(), pass("p"), FAST_KDF).unwrap();
        store_share(&Journal::open(db).unwrap(), &vault, &w, &share(2));
    }
    with_raw(dir.path(), |db| {
        let k = keys::vault("share", "w", "frost-ed25519", 2);
        let mut v = db.get_cf(db.cf_handle(cf::VAULT).unwrap(), &k).unwrap().unwrap();
        v[20] ^= 0x80;
        db.put_cf(db.cf_handle(cf::VAULT).unwrap(), &k, v).unwrap();
    });
    let vault = Vault::open(Db::open(dir.path()).unwrap(), pass("p"), FAST_KDF).unwrap();
    let err = vault.load_share(&w, &SchemeId::from_name("frost-ed25519"), 2).unwrap_err();
    assert!(matches!(err, StoreError::VaultCorrupt { .. }), "{err}");
}

#[test]
fn a_share_moved_to_another_wallet_or_party_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (WalletId::new("alice").unwrap(), WalletId::new("bob").unwrap());
    {
        let db = Db::open(dir.path()).unwrap();
        let vault = Vault::open(db.clone(), pass("p"), FAST_KDF).unwrap();
        store_share(&Journal::open(db).unwrap(), &vault, &a, &share(0));
    }
    with_raw(dir.path(), |db| {
        let h = db.cf_handle(cf::VAULT).unwrap();
        let v = db.get_cf(h, keys::vault("share", "alice", "frost-ed25519", 0)).unwrap().unwrap();
        db.put_cf(h, keys::vault("share", "bob", "frost-ed25519", 0), &v).unwrap();
        db.put_cf(h, keys::vault("share", "alice", "frost-ed25519", 1), &v).unwrap();
    });
    let vault = Vault::open(Db::open(dir.path()).unwrap(), pass("p"), FAST_KDF).unwrap();
    let scheme = SchemeId::from_name("frost-ed25519");
    assert!(vault.load_share(&a, &scheme, 0).is_ok());
    assert!(matches!(vault.load_share(&b, &scheme, 0), Err(StoreError::VaultCorrupt { .. })));
    assert!(matches!(vault.load_share(&a, &scheme, 1), Err(StoreError::VaultCorrupt { .. })));
}

#[test]
fn shares_are_not_stored_in_the_clear() {
    let dir = tempfile::tempdir().unwrap();
    let w = WalletId::new("w").unwrap();
    {
        let db = Db::open(dir.path()).unwrap();
        let vault = Vault::open(db.clone(), pass("p"), FAST_KDF).unwrap();
        let mut s = share(0);
        s.secret = SecretBytes::new(b"THE-SECRET-SHARE-BYTES".repeat(3));
        store_share(&Journal::open(db).unwrap(), &vault, &w, &s);
    }
    with_raw(dir.path(), |db| {
        for name in cf::ALL {
            for item in db.iterator_cf(db.cf_handle(name).unwrap(), rocksdb::IteratorMode::Start) {
                let (_, v) = item.unwrap();
                assert!(!v.windows(22).any(|w| w == b"THE-SECRET-SHARE-BYTES"), "plaintext secret found in {name}");
            }
        }
    });
}

#[test]
fn prime_sets_are_consumed_durably_and_never_twice() {
    let dir = tempfile::tempdir().unwrap();
    let sets: Vec<SafePrimes> = (0..3u8).map(|i| SafePrimes(SecretBytes::new(vec![i; 100]))).collect();
    {
        let vault = Vault::open(Db::open(dir.path()).unwrap(), pass("p"), FAST_KDF).unwrap();
        vault.add_primes(&sets).unwrap();
        assert_eq!(vault.primes_available().unwrap(), 3);
        assert!(vault.take_primes().unwrap().is_some());
    }
    let vault = Vault::open(Db::open(dir.path()).unwrap(), pass("p"), FAST_KDF).unwrap();
    assert_eq!(vault.primes_available().unwrap(), 2, "a taken set stays taken across a restart");
    let mut seen = Vec::new();
    while let Some(s) = vault.take_primes().unwrap() {
        assert!(!seen.contains(&s));
        seen.push(s);
    }
    assert_eq!(seen.len(), 2);
}

fn presignature(wallet: &WalletId, signers: &[u16], i: u8) -> protocol::presign::Presignature {
    let scheme = SchemeId::from_name("cggmp24");
    protocol::presign::Presignature {
        scheme: scheme.clone(),
        id: SessionId::derive("presign-test", &[i]),
        wallet: wallet.clone(),
        signers: signers.to_vec(),
        party: signers[0],
        public_key: PublicKey { scheme, bytes: vec![2; 33] },
        secret: SecretBytes::new(vec![i; 200]),
    }
}

#[test]
fn presignatures_are_taken_once_and_a_used_id_is_refused_even_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let wallet = WalletId::new("w-pool").unwrap();
    let (a, b) = (presignature(&wallet, &[0, 2], 1), presignature(&wallet, &[0, 2], 2));
    let other_set = presignature(&wallet, &[0, 1], 3);
    {
        let db = Db::open(dir.path()).unwrap();
        let journal = Journal::open(db.clone()).unwrap();
        let vault = Vault::open(db, pass("p"), FAST_KDF).unwrap();
        let event = DomainEvent::PresignaturesAdded {
            wallet: wallet.clone(),
            session: SessionId::derive("presign", b"batch"),
            signers: vec![0, 2],
            count: 3,
        };
        let writes = vault.seal_presignatures(&[a.clone(), b.clone(), other_set.clone()]).unwrap();
        let req = AppendRequest::new(
            StreamId::Session(SessionId::derive("presign", b"batch")),
            ExpectedVersion::Any,
            vec![event],
        );
        journal.append(writes.into_iter().fold(req, AppendRequest::with)).unwrap();
        let sets = vault.presignature_sets(&wallet).unwrap();
        assert_eq!(sets.get(&vec![0, 2]), Some(&2));
        assert_eq!(sets.get(&vec![0, 1]), Some(&1));
        let taken = vault.take_presignature(&wallet, &[0, 2], &a.id).unwrap().expect("a is here");
        assert_eq!(taken, a);
        assert!(vault.take_presignature(&wallet, &[0, 2], &a.id).unwrap().is_none(), "taken once only");
        assert!(vault.take_presignature(&wallet, &[0, 1], &b.id).unwrap().is_none(), "only for its own signers");
    }
    let db = Db::open(dir.path()).unwrap();
    let vault = Vault::open(db, pass("p"), FAST_KDF).unwrap();
    assert!(vault.take_presignature(&wallet, &[0, 2], &a.id).unwrap().is_none(), "still used after a reopen");
    assert!(!vault.has_presignature(&wallet, &[0, 2], &a.id).unwrap());
    assert!(vault.seal_presignatures(std::slice::from_ref(&a)).is_err(), "a used id is never stored again");
    assert_eq!(vault.presignature_ids(&wallet, &[0, 2]).unwrap(), vec![b.id]);
    assert!(vault.discard_presignature(&wallet, &[0, 2], &b.id).unwrap());
    assert!(vault.seal_presignatures(&[b]).is_err(), "a discarded id counts as used");
    assert_eq!(vault.discard_all_presignatures(&wallet).unwrap(), 1);
    assert!(vault.presignature_sets(&wallet).unwrap().is_empty());
}
