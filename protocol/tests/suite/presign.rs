//! CGGMP24 presignatures, all parties in one process: made together, each consumed by one
//! one-round signing that verifies with libsecp256k1; the wrong preimage, the wrong signers or a
//! cheating partial signature never yield a signature.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use crate::common::*;
use protocol::presign::{Hashing, Preimage, PresignParams, Presignature};
use protocol::{ProtocolError, SignParams, WalletId};

#[test]
fn presignatures_sign_hashed_messages_in_one_round_and_verify_outside() {
    let scheme = scheme("cggmp24");
    let shares = keygen(&*scheme, 3, 2);
    let all = presign_all(&*scheme, &shares, &[0, 2], 2, "pool-a");
    assert_eq!(all.len(), 2);
    for holder in &all {
        assert_eq!(holder.len(), 2);
        assert_eq!(holder[0].id, all[0][0].id, "every holder names a presignature alike");
        assert_ne!(holder[0].id, holder[1].id);
        assert_eq!(holder[0].signers, vec![0, 2]);
    }
    // Stored and read back, as the vault does.
    let column0: Vec<Presignature> =
        column(&all, 0).iter().map(|p| bincode::deserialize(&bincode::serialize(p).unwrap()).unwrap()).collect();

    let eth = Preimage { hashing: Hashing::Keccak256, bytes: b"\x19Ethereum Signed Message:\n5hello".to_vec() };
    let report = sign_with(&*scheme, &shares, column0, &eth, "use-a0").run();
    assert_eq!(report.messages, 2, "one partial signature from each signer, nothing else");
    let sigs = report.into_result().unwrap();
    assert_eq!(sigs[0], sigs[1]);
    verify_independently("cggmp24", &shares[0].public_key.bytes, &eth.digest(), &sigs[0]);
    scheme.verify(&shares[0].public_key, &eth.digest(), &sigs[0]).unwrap();

    let btc = Preimage { hashing: Hashing::DoubleSha256, bytes: vec![7; 180] };
    let sigs = sign_with(&*scheme, &shares, column(&all, 1), &btc, "use-a1").run().into_result().unwrap();
    verify_independently("cggmp24", &shares[0].public_key.bytes, &btc.digest(), &sigs[0]);
}

#[test]
fn the_wrong_preimage_signers_or_key_are_refused_before_anything_is_sent() {
    let scheme = scheme("cggmp24");
    let shares = keygen(&*scheme, 3, 2);
    let all = presign_all(&*scheme, &shares, &[0, 1], 1, "pool-b");
    let pre = all[0][0].clone();
    let preimage = Preimage { hashing: Hashing::Keccak256, bytes: b"transfer".to_vec() };

    let other_digest = SignParams::new(session("b1"), vec![0, 1], vec![9; 32]);
    let e = scheme.sign_presigned(&shares[0], &other_digest, &preimage, pre.clone()).err();
    assert!(matches!(e, Some(ProtocolError::InvalidMessage(_))), "{e:?}");

    let other_signers = SignParams::new(session("b2"), vec![0, 2], preimage.digest().to_vec());
    let e = scheme.sign_presigned(&shares[0], &other_signers, &preimage, pre.clone()).err();
    assert!(matches!(e, Some(ProtocolError::InvalidSignerSet(_))), "{e:?}");

    let right = SignParams::new(session("b3"), vec![0, 1], preimage.digest().to_vec());
    let e = scheme.sign_presigned(&shares[1], &right, &preimage, pre.clone()).err();
    assert!(matches!(e, Some(ProtocolError::InvalidMaterial(_))), "another holder's presignature: {e:?}");

    let frost = common::scheme("frost-secp256k1-tr");
    assert!(!frost.presigns());
    let e = frost.presign(&shares[0], &PresignParams::new(session("b4"), WalletId::new("w").unwrap(), vec![0, 1], 1));
    assert!(matches!(e.err(), Some(ProtocolError::Unsupported { .. })));
    let too_many = PresignParams::new(session("b5"), WalletId::new("w").unwrap(), vec![0, 1], 17);
    assert!(matches!(scheme.presign(&shares[0], &too_many).err(), Some(ProtocolError::InvalidMessage(_))));
}

#[test]
fn a_partial_signature_off_its_commitment_is_blamed_on_its_sender() {
    let scheme = scheme("cggmp24");
    let shares = keygen(&*scheme, 3, 2);
    let all = presign_all(&*scheme, &shares, &[1, 2], 1, "pool-c");
    let preimage = Preimage { hashing: Hashing::Keccak256, bytes: b"pay bob".to_vec() };
    let report = sign_with(&*scheme, &shares, column(&all, 0), &preimage, "use-c")
        .with_filter(|mut e| {
            if e.sender == 2 {
                if let Some(last) = e.payload.last_mut() {
                    *last ^= 1;
                }
            }
            vec![e]
        })
        .run();
    assert!(!report.outputs.contains_key(&1), "no signature from a cheated round");
    match report.errors.get(&1) {
        Some(ProtocolError::Aborted { culprits, .. }) => assert_eq!(culprits, &vec![2]),
        other => panic!("party 1 should blame party 2, got {other:?}"),
    }
}

#[test]
fn members_derive_preimages_of_what_they_read_and_none_of_a_raw_digest() {
    use protocol::proposal::Signable;
    use protocol::signable::{PersonalMessage, TypedData};
    let chains = protocol::chains::registry(protocol::chains::bitcoin::Network::Regtest);
    let key = protocol::PublicKey { scheme: protocol::SchemeId::from_name("cggmp24"), bytes: vec![2; 33] };
    let m = PersonalMessage::new(b"hello".to_vec()).unwrap();
    let digest = m.digest.clone();
    let p = protocol::presign::preimages_of(&Signable::PersonalMessage(Box::new(m)), &chains, &key).unwrap().unwrap();
    assert_eq!(p[0].digest().to_vec(), digest);
    let doc = r#"{"types":{"EIP712Domain":[{"name":"name","type":"string"}],"Note":[{"name":"text","type":"string"}]},"primaryType":"Note","domain":{"name":"t"},"message":{"text":"hi"}}"#;
    let d = TypedData::new(doc.into()).unwrap();
    let digest = d.digest.clone();
    let p = protocol::presign::preimages_of(&Signable::TypedData(Box::new(d)), &chains, &key).unwrap().unwrap();
    assert_eq!(p[0].digest().to_vec(), digest);
    assert_eq!(p[0].bytes.len(), 66);
    assert!(protocol::presign::preimages_of(&Signable::Raw(vec![1; 32]), &chains, &key).unwrap().is_none());
}
