//! Shared helpers for the behaviour suite: run ceremonies in process, load fixtures, and
//! verify signatures with libraries that did not produce them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use protocol::presign::{Preimage, PresignParams, Presignature};
use protocol::primes::{MemoryPrimePool, SafePrimes};
use protocol::schemes::{self, Registry, SchemeEnv};
use protocol::sim::{Report, Sim};
use protocol::{
    KeyShare, KeygenParams, PartyIndex, SessionId, SetupMaterial, SetupParams, SignParams, Signature, ThresholdScheme,
    WalletId,
};

/// The committed test-only primes: nine sets, public, never for real keys.
pub fn fixture_primes() -> Vec<SafePrimes> {
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/primes.bin")).unwrap();
    bincode::deserialize(&bytes).unwrap()
}

/// The committed CGGMP24 committee setup for `n` parties (made from the fixture primes).
pub fn fixture_setup(n: u16) -> Vec<SetupMaterial> {
    let path = format!("{}/tests/fixtures/setup-{n}.bin", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    bincode::deserialize(&bytes).unwrap()
}

pub fn registry(with_primes: bool) -> Registry {
    let sets = if with_primes { fixture_primes() } else { Vec::new() };
    schemes::registry(&SchemeEnv { primes: Arc::new(MemoryPrimePool::new(sets)) })
}

pub fn scheme(name: &str) -> Arc<dyn ThresholdScheme> {
    registry(name == "cggmp24").by_name(name).unwrap()
}

pub fn session(tag: &str) -> SessionId {
    SessionId::derive("test", tag.as_bytes())
}

pub fn setups_for(scheme: &dyn ThresholdScheme, n: u16) -> Vec<Option<SetupMaterial>> {
    if scheme.needs_setup() {
        fixture_setup(n).into_iter().map(Some).collect()
    } else {
        vec![None; n as usize]
    }
}

/// Runs a live committee setup for `n` parties.
pub fn run_setup(scheme: &dyn ThresholdScheme, n: u16) -> Report<SetupMaterial> {
    let s = session(&format!("setup-{n}"));
    Sim::new((0..n).map(|i| {
        let params = SetupParams { session: s, me: i, parties: n, round_timeout_ms: 10_000 };
        (i, scheme.setup(&params).unwrap())
    }))
    .run()
}

pub fn keygen_sim(scheme: &dyn ThresholdScheme, n: u16, t: u16, tag: &str) -> Sim<KeyShare> {
    let s = session(tag);
    let setups = setups_for(scheme, n);
    Sim::new((0..n).map(|i| {
        let params = KeygenParams::new(s, i, n, t);
        (i, scheme.keygen(&params, setups[i as usize].as_ref()).unwrap())
    }))
}

pub fn keygen(scheme: &dyn ThresholdScheme, n: u16, t: u16) -> Vec<KeyShare> {
    let shares = keygen_sim(scheme, n, t, &format!("keygen-{n}-{t}")).run().into_result().unwrap();
    assert_eq!(shares.len(), n as usize);
    for s in &shares {
        assert_eq!(s.public_key, shares[0].public_key, "all parties must agree on the group key");
    }
    shares
}

pub fn sign_sim(
    scheme: &dyn ThresholdScheme,
    shares: &[KeyShare],
    signers: &[PartyIndex],
    message: &[u8],
    tag: &str,
) -> Sim<Signature> {
    let s = session(tag);
    Sim::new(signers.iter().map(|&i| {
        let params = SignParams::new(s, signers.to_vec(), message.to_vec());
        (i, scheme.sign(&shares[i as usize], &params).unwrap())
    }))
}

pub fn sign(scheme: &dyn ThresholdScheme, shares: &[KeyShare], signers: &[PartyIndex], message: &[u8]) -> Signature {
    let tag = format!("sign-{signers:?}-{}", hex::encode(message));
    let sigs = sign_sim(scheme, shares, signers, message, &tag).run().into_result().unwrap();
    assert_eq!(sigs.len(), signers.len());
    for s in &sigs {
        assert_eq!(s, &sigs[0], "every signer computes the same signature");
    }
    sigs[0].clone()
}

/// Verifies with a library that did not produce the signature.
pub fn verify_independently(scheme: &str, public_key: &[u8], message: &[u8], sig: &Signature) {
    match scheme {
        "frost-ed25519" => {
            let key = ed25519_dalek::VerifyingKey::from_bytes(public_key.try_into().unwrap()).unwrap();
            let sig = ed25519_dalek::Signature::from_slice(&sig.bytes).unwrap();
            key.verify_strict(message, &sig).expect("ed25519-dalek verify_strict");
        }
        "frost-secp256k1-tr" => {
            let key = secp256k1::XOnlyPublicKey::from_slice(public_key).unwrap();
            let sig = secp256k1::schnorr::Signature::from_slice(&sig.bytes).unwrap();
            let msg = secp256k1::Message::from_digest_slice(message).unwrap();
            secp256k1::SECP256K1.verify_schnorr(&sig, &msg, &key).expect("libsecp256k1 BIP340");
        }
        "cggmp24" => {
            let key = secp256k1::PublicKey::from_slice(public_key).unwrap();
            let msg = secp256k1::Message::from_digest_slice(message).unwrap();
            let plain = secp256k1::ecdsa::Signature::from_compact(&sig.bytes).unwrap();
            let mut normalized = plain;
            normalized.normalize_s();
            assert_eq!(plain, normalized, "signature must be low-S");
            secp256k1::SECP256K1.verify_ecdsa(&msg, &plain, &key).expect("libsecp256k1 ECDSA");
            let v = sig.recovery_id.expect("ECDSA signatures carry a recovery id");
            let id = secp256k1::ecdsa::RecoveryId::from_i32(i32::from(v)).unwrap();
            let rec = secp256k1::ecdsa::RecoverableSignature::from_compact(&sig.bytes, id).unwrap();
            let recovered = secp256k1::SECP256K1.recover_ecdsa(&msg, &rec).unwrap();
            assert_eq!(recovered, key, "public key recovered from (r, s, v) must be the group key");
        }
        other => panic!("no independent verifier for {other}"),
    }
}

/// A message of the right shape for the scheme: raw bytes for Ed25519, a digest otherwise.
pub fn message_for(scheme: &str, seed: u8) -> Vec<u8> {
    match scheme {
        "frost-ed25519" => format!("solana message {seed}").into_bytes(),
        _ => {
            use sha2::Digest;
            sha2::Sha256::digest([seed]).to_vec()
        }
    }
}

pub fn presign_all(
    scheme: &dyn ThresholdScheme,
    shares: &[KeyShare],
    signers: &[PartyIndex],
    count: u16,
    tag: &str,
) -> Vec<Vec<Presignature>> {
    let s = session(tag);
    let wallet = WalletId::new("w-pool").unwrap();
    Sim::new(signers.iter().map(|&i| {
        let params = PresignParams::new(s, wallet.clone(), signers.to_vec(), count);
        (i, scheme.presign(&shares[i as usize], &params).unwrap())
    }))
    .run()
    .into_result()
    .unwrap()
}

pub fn sign_with(
    scheme: &dyn ThresholdScheme,
    shares: &[KeyShare],
    pre: Vec<Presignature>,
    preimage: &Preimage,
    tag: &str,
) -> Sim<protocol::Signature> {
    let s = session(tag);
    let signers = pre[0].signers.clone();
    Sim::new(pre.into_iter().map(|p| {
        let params = SignParams::new(s, signers.clone(), preimage.digest().to_vec());
        let party = p.party;
        (party, scheme.sign_presigned(&shares[party as usize], &params, preimage, p).unwrap())
    }))
}

/// Presignature `index` of every holder.
pub fn column(all: &[Vec<Presignature>], index: usize) -> Vec<Presignature> {
    all.iter().map(|p| p[index].clone()).collect()
}

/// Signs each payload from a fresh presignature of signers 0 and 1, each preimage hashed by
/// the library.
pub fn sign_from_pool(scheme: &dyn ThresholdScheme, shares: &[KeyShare], preimages: &[Preimage]) -> Vec<Signature> {
    let all = presign_all(scheme, shares, &[0, 1], preimages.len() as u16, "pool-for-chain");
    preimages
        .iter()
        .enumerate()
        .map(|(i, p)| {
            sign_with(scheme, shares, column(&all, i), p, &format!("pooled-{i}")).run().into_result().unwrap()[0]
                .clone()
        })
        .collect()
}
