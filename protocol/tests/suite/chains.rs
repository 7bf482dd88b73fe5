//! The chain encoders: published vectors, and transfers signed by the threshold schemes that
//! software we did not write accepts (Bitcoin Core's script interpreter via
//! `bitcoinconsensus`; alloy's sender recovery; ed25519-dalek). Execution on a real Ethereum
//! node and in Solana's runtime is tested in `network/tests/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::*;
use alloy_consensus::transaction::SignerRecoverable;
use alloy_consensus::TxEnvelope;
use alloy_eips::eip2718::Decodable2718;
use protocol::chains::bitcoin::{BitcoinChain, Network};
use protocol::chains::{ethereum, solana, Chain, ChainContext, ChainError, TransferRequest, Utxo};
use protocol::proposal::{Control, Proposal, ProposalKind, Signable};
use protocol::{KeyShare, PublicKey, SchemeId, Signature, WalletId};

/// Signs every payload of `tx` with the threshold scheme (signers 0 and 1 of a 2-of-3).
fn threshold_sign(scheme_name: &str, shares: &[KeyShare], payloads: &[Vec<u8>]) -> Vec<Signature> {
    let scheme = scheme(scheme_name);
    payloads.iter().map(|p| sign(&*scheme, shares, &[0, 1], p)).collect()
}

fn eth_context(legacy: Option<u128>) -> ChainContext {
    ChainContext::Account {
        chain_id: 31337,
        nonce: 0,
        gas_limit: 21_000,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        legacy_gas_price: legacy,
    }
}

#[test]
fn eip155_example_vector() {
    // The example transaction of EIP-155.
    let key = k256::ecdsa::SigningKey::from_slice(&[0x46; 32]).unwrap();
    let from = alloy_primitives::Address::from_public_key(key.verifying_key());
    let request = TransferRequest {
        to: "0x3535353535353535353535353535353535353535".into(),
        amount: 1_000_000_000_000_000_000,
        fee_ceiling: None,
    };
    let context = ChainContext::Account {
        chain_id: 1,
        nonce: 9,
        gas_limit: 21_000,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 0,
        legacy_gas_price: Some(20_000_000_000),
    };
    let (body, _summary, hash) = ethereum::build_body(from, &request, &context).unwrap();
    assert_eq!(hex::encode(hash), "daf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53");
    let (sig, recid) = key.sign_prehash_recoverable(hash.as_slice()).unwrap();
    let sig = Signature { bytes: sig.to_bytes().to_vec(), recovery_id: Some(recid.to_byte()) };
    let signed = ethereum::attach(&body, from, &sig).unwrap();
    assert_eq!(
        hex::encode(&signed.raw),
        "f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83"
    );
}

#[test]
fn ethereum_address_is_eip55() {
    let key = k256::ecdsa::SigningKey::from_slice(&[0x46; 32]).unwrap();
    let pk = PublicKey { scheme: SchemeId::from_name("cggmp24"), bytes: key.verifying_key().to_sec1_bytes().to_vec() };
    assert_eq!(ethereum::Ethereum.address(&pk).unwrap(), "0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F");
    // A wrong checksum is refused; all-lowercase is accepted.
    assert!(ethereum::parse_address("0x9d8a62f656a8d1615C1294fd71e9CFb3E4855A4F").is_err());
    assert!(ethereum::parse_address("0x9d8a62f656a8d1615c1294fd71e9cfb3e4855a4f").is_ok());
}

#[test]
fn ethereum_transfers_signed_by_cggmp24_recover_to_the_wallet() {
    let shares = keygen(&*scheme("cggmp24"), 3, 2);
    let pk = shares[0].public_key.clone();
    let chain = ethereum::Ethereum;
    let from = chain.address(&pk).unwrap();
    let request =
        TransferRequest { to: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8".into(), amount: 12345, fee_ceiling: None };
    for legacy in [None, Some(3_000_000_000u128)] {
        let tx = chain.build(&pk, &request, &eth_context(legacy)).unwrap();
        let sigs = threshold_sign("cggmp24", &shares, &tx.payloads);
        let signed = chain.finalize(&pk, &tx, &sigs).unwrap();
        let envelope = TxEnvelope::decode_2718(&mut signed.raw.as_slice()).unwrap();
        assert_eq!(envelope.recover_signer().unwrap().to_checksum(None), from, "legacy={legacy:?}");
        assert_eq!(format!("{:#x}", envelope.tx_hash()), signed.txid);
        assert_eq!(envelope.is_legacy(), legacy.is_some());
        // A signature with the other recovery id is refused before anything is sent.
        let mut wrong = sigs.clone();
        wrong[0].recovery_id = wrong[0].recovery_id.map(|v| v ^ 1);
        assert!(matches!(chain.finalize(&pk, &tx, &wrong), Err(ChainError::InvalidSignature(_))));
    }
    let capped = TransferRequest { fee_ceiling: Some(1), ..request.clone() };
    assert!(matches!(chain.build(&pk, &capped, &eth_context(None)), Err(ChainError::FeeAboveCeiling { .. })));
    let blockhash = ChainContext::Blockhash { recent_blockhash: "11111111111111111111111111111111".into() };
    assert!(matches!(chain.build(&pk, &request, &blockhash), Err(ChainError::WrongContext(_))));
}

#[test]
fn bitcoin_address_vectors() {
    // BIP86: output key of m/86'/0'/0'/0/0.
    let q = hex::decode("a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c").unwrap();
    let pk = PublicKey { scheme: SchemeId::from_name("frost-secp256k1-tr"), bytes: q };
    assert_eq!(
        BitcoinChain::p2tr(Network::Bitcoin).address(&pk).unwrap(),
        "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"
    );
    // BIP84: key of m/84'/0'/0'/0/0.
    let k = hex::decode("0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c").unwrap();
    let pk = PublicKey { scheme: SchemeId::from_name("cggmp24"), bytes: k };
    assert_eq!(
        BitcoinChain::p2wpkh(Network::Bitcoin).address(&pk).unwrap(),
        "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    );
    assert!(BitcoinChain::p2wpkh(Network::Regtest).address(&pk).unwrap().starts_with("bcrt1q"));
    assert!(BitcoinChain::p2wpkh(Network::Testnet).address(&pk).unwrap().starts_with("tb1q"));
}

#[test]
fn bip341_key_path_vector_without_script_tree() {
    // BIP341 wallet test vectors, scriptPubKey[0]: internal key, no script tree.
    use bitcoin::key::TapTweak;
    let internal = bitcoin::key::XOnlyPublicKey::from_slice(
        &hex::decode("d6889cb081036e0faefa3a35157ad71086b123b2b144b649798b494c300a961d").unwrap(),
    )
    .unwrap();
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    let (tweaked, _) = internal.tap_tweak(&secp, None);
    let q = tweaked.to_x_only_public_key().serialize();
    assert_eq!(hex::encode(q), "53a1f6e454df1aa2776a2814a721372d6258050de330b3c6d10ee8f4e0dda343");
    let pk = PublicKey { scheme: SchemeId::from_name("frost-secp256k1-tr"), bytes: q.to_vec() };
    assert_eq!(
        BitcoinChain::p2tr(Network::Bitcoin).address(&pk).unwrap(),
        "bc1p2wsldez5mud2yam29q22wgfh9439spgduvct83k3pm50fcxa5dps59h4z5"
    );
}

/// Verifies every input with libbitcoinconsensus, all standard flags and taproot on.
fn consensus_verify(raw: &[u8], prevouts: &[(Vec<u8>, u64)]) -> Result<(), String> {
    let utxos: Vec<bitcoinconsensus::Utxo> = prevouts
        .iter()
        .map(|(script, value)| bitcoinconsensus::Utxo {
            script_pubkey: script.as_ptr(),
            script_pubkey_len: script.len() as u32,
            value: *value as i64,
        })
        .collect();
    let flags = bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT | bitcoinconsensus::VERIFY_TAPROOT;
    for (i, (script, value)) in prevouts.iter().enumerate() {
        bitcoinconsensus::verify_with_flags(script, *value, raw, Some(&utxos), i, flags)
            .map_err(|e| format!("input {i}: {e:?}"))?;
    }
    Ok(())
}

fn bitcoin_spend_is_accepted(chain: BitcoinChain, scheme_name: &str) {
    let shares = keygen(&*scheme(scheme_name), 3, 2);
    let pk = shares[0].public_key.clone();
    let address = chain.address(&pk).unwrap();
    let script =
        protocol::chains::bitcoin::parse_address(&address, Network::Regtest).unwrap().script_pubkey().to_bytes();
    let utxos = vec![
        Utxo { txid: "11".repeat(32), vout: 0, amount: 60_000 },
        Utxo { txid: "22".repeat(32), vout: 3, amount: 50_000 },
    ];
    let recipient = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080".to_string();
    let request = TransferRequest { to: recipient, amount: 100_000, fee_ceiling: Some(5_000) };
    let tx = chain.build(&pk, &request, &ChainContext::Utxos { utxos: utxos.clone(), fee_rate_sat_vb: 10 }).unwrap();
    assert_eq!(tx.payloads.len(), 2, "both inputs are needed");
    let sigs = threshold_sign(scheme_name, &shares, &tx.payloads);
    let signed = chain.finalize(&pk, &tx, &sigs).unwrap();
    let prevouts: Vec<(Vec<u8>, u64)> = [60_000u64, 50_000].iter().map(|v| (script.clone(), *v)).collect();
    consensus_verify(&signed.raw, &prevouts).unwrap();

    // A flipped byte in the first witness signature fails.
    let mut flipped = signed.raw.clone();
    let tail = flipped.len() - 4 - 40; // inside the last witness, before the locktime
    flipped[tail] ^= 0x01;
    assert!(consensus_verify(&flipped, &prevouts).is_err());
    // A wrong amount in a prevout fails (both sighashes commit to amounts).
    let mut wrong = prevouts.clone();
    wrong[1].1 += 1;
    assert!(consensus_verify(&signed.raw, &wrong).is_err());
}

#[test]
fn a_p2wpkh_spend_signed_from_presignatures_is_accepted_by_bitcoin_core() {
    let shares = keygen(&*scheme("cggmp24"), 3, 2);
    let pk = shares[0].public_key.clone();
    let chain = BitcoinChain::p2wpkh(Network::Regtest);
    let script = protocol::chains::bitcoin::parse_address(&chain.address(&pk).unwrap(), Network::Regtest)
        .unwrap()
        .script_pubkey()
        .to_bytes();
    let utxos = vec![
        Utxo { txid: "33".repeat(32), vout: 1, amount: 70_000 },
        Utxo { txid: "44".repeat(32), vout: 0, amount: 40_000 },
    ];
    let request = TransferRequest {
        to: "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080".into(),
        amount: 100_000,
        fee_ceiling: None,
    };
    let tx = chain.build(&pk, &request, &ChainContext::Utxos { utxos, fee_rate_sat_vb: 10 }).unwrap();
    let preimages = chain.preimages(&pk, &tx).unwrap().expect("P2WPKH payloads have BIP143 preimages");
    assert_eq!(preimages.len(), 2);
    let sigs = sign_from_pool(&*scheme("cggmp24"), &shares, &preimages);
    let signed = chain.finalize(&pk, &tx, &sigs).unwrap();
    consensus_verify(&signed.raw, &[(script.clone(), 70_000), (script, 40_000)]).unwrap();
    assert!(BitcoinChain::p2tr(Network::Regtest).preimages(&pk, &tx).unwrap().is_none(), "Taproot has no presigning");
}

#[test]
fn an_ethereum_transfer_signed_from_a_presignature_recovers_to_the_wallet() {
    let shares = keygen(&*scheme("cggmp24"), 3, 2);
    let pk = shares[0].public_key.clone();
    let chain = ethereum::Ethereum;
    let request =
        TransferRequest { to: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8".into(), amount: 777, fee_ceiling: None };
    let tx = chain.build(&pk, &request, &eth_context(None)).unwrap();
    let preimages = chain.preimages(&pk, &tx).unwrap().unwrap();
    let sigs = sign_from_pool(&*scheme("cggmp24"), &shares, &preimages);
    let signed = chain.finalize(&pk, &tx, &sigs).unwrap();
    let envelope = TxEnvelope::decode_2718(&mut signed.raw.as_slice()).unwrap();
    assert_eq!(envelope.recover_signer().unwrap().to_checksum(None), chain.address(&pk).unwrap());
    let mut tampered = tx.clone();
    tampered.payloads[0][0] ^= 1;
    assert!(chain.preimages(&pk, &tampered).is_err(), "payloads that are not the body's are refused");
}

#[test]
fn bitcoin_p2tr_key_path_spend_by_frost_is_accepted_by_bitcoin_core() {
    bitcoin_spend_is_accepted(BitcoinChain::p2tr(Network::Regtest), "frost-secp256k1-tr");
}

#[test]
fn bitcoin_p2wpkh_spend_by_cggmp24_is_accepted_by_bitcoin_core() {
    bitcoin_spend_is_accepted(BitcoinChain::p2wpkh(Network::Regtest), "cggmp24");
}

#[test]
fn bitcoin_refuses_bad_requests() {
    let shares = keygen(&*scheme("frost-secp256k1-tr"), 3, 2);
    let pk = shares[0].public_key.clone();
    let chain = BitcoinChain::p2tr(Network::Regtest);
    let utxos = vec![Utxo { txid: "33".repeat(32), vout: 0, amount: 10_000 }];
    let ctx = ChainContext::Utxos { utxos, fee_rate_sat_vb: 5 };
    let to = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
    let big = TransferRequest { to: to.into(), amount: 50_000, fee_ceiling: None };
    assert!(matches!(chain.build(&pk, &big, &ctx), Err(ChainError::InsufficientFunds { .. })));
    let mainnet =
        TransferRequest { to: "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu".into(), amount: 1_000, fee_ceiling: None };
    assert!(matches!(chain.build(&pk, &mainnet, &ctx), Err(ChainError::InvalidAddress(_))));
    let dust = TransferRequest { to: to.into(), amount: 100, fee_ceiling: None };
    assert!(matches!(chain.build(&pk, &dust, &ctx), Err(ChainError::InvalidTransfer(_))));
    let ecdsa_key = PublicKey { scheme: SchemeId::from_name("cggmp24"), bytes: vec![2; 33] };
    assert!(matches!(chain.address(&ecdsa_key), Err(ChainError::InvalidKey(_))));
}

#[test]
fn solana_transfer_signed_by_frost_verifies() {
    let shares = keygen(&*scheme("frost-ed25519"), 3, 2);
    let pk = shares[0].public_key.clone();
    let chain = solana::Solana;
    let from = chain.address(&pk).unwrap();
    assert_eq!(bs58::decode(&from).into_vec().unwrap(), pk.bytes);
    let request = TransferRequest {
        to: "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM".into(),
        amount: 1_000_000,
        fee_ceiling: None,
    };
    let ctx = ChainContext::Blockhash { recent_blockhash: "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N".into() };
    let tx = chain.build(&pk, &request, &ctx).unwrap();
    let sigs = threshold_sign("frost-ed25519", &shares, &tx.payloads);
    let signed = chain.finalize(&pk, &tx, &sigs).unwrap();
    // Wire format: one signature, then the message that it signs.
    assert_eq!(signed.raw[0], 1);
    assert_eq!(&signed.raw[65..], tx.payloads[0].as_slice());
    let key = ed25519_dalek::VerifyingKey::from_bytes(pk.bytes.as_slice().try_into().unwrap()).unwrap();
    let sig = ed25519_dalek::Signature::from_slice(&signed.raw[1..65]).unwrap();
    key.verify_strict(&signed.raw[65..], &sig).unwrap();
    assert_eq!(signed.txid, bs58::encode(&signed.raw[1..65]).into_string());
    // A signature over something else is refused.
    let mut bad = sigs.clone();
    bad[0].bytes[0] ^= 1;
    assert!(matches!(chain.finalize(&pk, &tx, &bad), Err(ChainError::InvalidSignature(_))));
}

/// A member's review of a transfer proposal: what `inspect` re-derives from the body alone
/// must match what the proposer built, a tampered payload or body is caught, and the policy
/// limits apply to the re-derived values.
#[test]
fn members_review_what_they_sign() {
    use protocol::wallet::{ChainLimits, PolicyRefusal, TransferIntent, TransferPolicy};
    let eth_key = keygen(&*scheme("cggmp24"), 3, 2)[0].public_key.clone();
    let tr_key = keygen(&*scheme("frost-secp256k1-tr"), 3, 2)[0].public_key.clone();
    let sol_key = keygen(&*scheme("frost-ed25519"), 3, 2)[0].public_key.clone();
    let btc_ctx = ChainContext::Utxos {
        utxos: vec![Utxo { txid: "44".repeat(32), vout: 1, amount: 80_000 }],
        fee_rate_sat_vb: 2,
    };
    let sol_ctx = ChainContext::Blockhash { recent_blockhash: "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N".into() };
    let cases: Vec<(Box<dyn Chain>, PublicKey, TransferRequest, ChainContext)> = vec![
        (
            Box::new(ethereum::Ethereum),
            eth_key,
            TransferRequest {
                to: "0x3535353535353535353535353535353535353535".into(),
                amount: 10u128.pow(18),
                fee_ceiling: None,
            },
            eth_context(None),
        ),
        (
            Box::new(BitcoinChain::p2tr(Network::Regtest)),
            tr_key,
            TransferRequest {
                to: "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080".into(),
                amount: 30_000,
                fee_ceiling: None,
            },
            btc_ctx,
        ),
        (
            Box::new(solana::Solana),
            sol_key,
            TransferRequest {
                to: "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM".into(),
                amount: 5_000_000,
                fee_ceiling: None,
            },
            sol_ctx,
        ),
    ];
    for (chain, key, request, ctx) in cases {
        let unsigned = chain.build(&key, &request, &ctx).unwrap();
        let summary = chain.inspect(&key, &unsigned).unwrap();
        assert_eq!(summary, unsigned.summary, "{}", chain.name());
        assert_eq!(summary.amount, request.amount);
        let intent = TransferIntent { tx: "tx-1".into(), chain: chain.name().into(), unsigned: unsigned.clone() };
        // Decoded once, with the proposal that carries it.
        let control = Control::Propose(Proposal {
            proposer: 0,
            nonce: [1; 16],
            kind: ProposalKind::Sign {
                wallet: WalletId::new("w").unwrap(),
                signable: Signable::Transfer(Box::new(intent.clone())),
            },
            participants: vec![0, 1],
            expires_at_ms: 1,
        });
        assert_eq!(Control::decode(&control.encode().unwrap()).unwrap(), control);

        let open = TransferPolicy {
            chains: [(
                chain.name().to_owned(),
                ChainLimits { network: Some(summary.network.clone()), ..Default::default() },
            )]
            .into(),
        };
        let reviewed = open.review(&*chain, &key, &intent).unwrap();
        assert_eq!(reviewed.spends, chain.spends(&unsigned).unwrap());
        // A payload that is not the transaction's.
        let mut foreign = intent.clone();
        foreign.unsigned.payloads[0] = vec![9; 32];
        assert!(matches!(open.review(&*chain, &key, &foreign), Err(PolicyRefusal::Invalid(_))));
        // A summary that lies about the amount.
        let mut lying = intent.clone();
        lying.unsigned.summary.amount = 1;
        assert!(matches!(open.review(&*chain, &key, &lying), Err(PolicyRefusal::Invalid(_))));
        // Payloads for another body.
        let mut swapped = intent.clone();
        swapped.unsigned.payloads[0][0] ^= 1;
        assert!(matches!(chain.inspect(&key, &swapped.unsigned), Err(ChainError::InvalidTransfer(_))));
        // Limits apply to what the body says.
        let capped = TransferPolicy {
            chains: [(
                chain.name().to_owned(),
                ChainLimits { max_amount: Some(request.amount - 1), ..Default::default() },
            )]
            .into(),
        };
        assert!(matches!(capped.review(&*chain, &key, &intent), Err(PolicyRefusal::AmountAboveLimit { .. })));
        let fee_capped = TransferPolicy {
            chains: [(
                chain.name().to_owned(),
                ChainLimits { fee_ceiling: Some(summary.fee - 1), ..Default::default() },
            )]
            .into(),
        };
        assert!(matches!(fee_capped.review(&*chain, &key, &intent), Err(PolicyRefusal::FeeAboveCeiling { .. })));
        let wrong_net = TransferPolicy {
            chains: [(
                chain.name().to_owned(),
                ChainLimits { network: Some("elsewhere".into()), ..Default::default() },
            )]
            .into(),
        };
        assert!(matches!(wrong_net.review(&*chain, &key, &intent), Err(PolicyRefusal::WrongNetwork { .. })));
        assert!(matches!(
            TransferPolicy::default().review(&*chain, &key, &intent),
            Err(PolicyRefusal::ChainNotEnabled(_))
        ));
    }
}

/// A member's check of a proposer's "signed" notice: real signatures over the transaction pass;
/// a flipped signature, a claim about another transaction id, or signatures over another
/// transaction do not.
#[test]
fn members_recheck_a_claimed_signature_before_recording_it() {
    use protocol::wallet::check_signed;
    let cases: Vec<(Box<dyn Chain>, &str, TransferRequest, ChainContext)> = vec![
        (
            Box::new(ethereum::Ethereum),
            "cggmp24",
            TransferRequest { to: "0x3535353535353535353535353535353535353535".into(), amount: 7, fee_ceiling: None },
            eth_context(None),
        ),
        (
            Box::new(BitcoinChain::p2tr(Network::Regtest)),
            "frost-secp256k1-tr",
            TransferRequest {
                to: "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080".into(),
                amount: 30_000,
                fee_ceiling: None,
            },
            ChainContext::Utxos {
                utxos: vec![Utxo { txid: "55".repeat(32), vout: 0, amount: 80_000 }],
                fee_rate_sat_vb: 2,
            },
        ),
        (
            Box::new(solana::Solana),
            "frost-ed25519",
            TransferRequest { to: "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM".into(), amount: 9, fee_ceiling: None },
            ChainContext::Blockhash { recent_blockhash: "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N".into() },
        ),
    ];
    for (chain, scheme_name, request, ctx) in cases {
        let shares = keygen(&*scheme(scheme_name), 3, 2);
        let key = shares[0].public_key.clone();
        let tx = chain.build(&key, &request, &ctx).unwrap();
        let sigs = threshold_sign(scheme_name, &shares, &tx.payloads);
        let signed = chain.finalize(&key, &tx, &sigs).unwrap();
        assert_eq!(check_signed(&*chain, &key, &tx, &sigs, &signed.txid).unwrap(), signed, "{}", chain.name());
        let mut forged = sigs.clone();
        forged[0].bytes[40] ^= 1;
        assert!(check_signed(&*chain, &key, &tx, &forged, &signed.txid).is_err(), "{}: forged", chain.name());
        assert!(check_signed(&*chain, &key, &tx, &sigs, "another").is_err(), "{}: other txid", chain.name());
        let other =
            chain.build(&key, &TransferRequest { amount: request.amount + 1, ..request.clone() }, &ctx).unwrap();
        assert!(check_signed(&*chain, &key, &other, &sigs, &signed.txid).is_err(), "{}: other tx", chain.name());
    }
}

/// What a transaction uses up, as members reserve it: the nonce on Ethereum, every output
/// spent on Bitcoin, nothing on Solana.
#[test]
fn spends_name_what_a_transaction_uses_up() {
    let eth_key = keygen(&*scheme("cggmp24"), 3, 2)[0].public_key.clone();
    let eth = ethereum::Ethereum;
    let req = TransferRequest { to: "0x3535353535353535353535353535353535353535".into(), amount: 1, fee_ceiling: None };
    let tx = eth.build(&eth_key, &req, &eth_context(None)).unwrap();
    assert_eq!(eth.spends(&tx).unwrap(), vec!["ethereum/31337/nonce/0".to_owned()]);

    let tr_key = keygen(&*scheme("frost-secp256k1-tr"), 3, 2)[0].public_key.clone();
    let btc = BitcoinChain::p2tr(Network::Regtest);
    let utxos = vec![
        Utxo { txid: "77".repeat(32), vout: 1, amount: 40_000 },
        Utxo { txid: "88".repeat(32), vout: 2, amount: 40_000 },
    ];
    let req = TransferRequest {
        to: "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080".into(),
        amount: 60_000,
        fee_ceiling: None,
    };
    let tx = btc.build(&tr_key, &req, &ChainContext::Utxos { utxos, fee_rate_sat_vb: 1 }).unwrap();
    let mut spends = btc.spends(&tx).unwrap();
    spends.sort();
    assert_eq!(
        spends,
        vec![format!("bitcoin/regtest/{}:1", "77".repeat(32)), format!("bitcoin/regtest/{}:2", "88".repeat(32))]
    );

    let sol_key = keygen(&*scheme("frost-ed25519"), 3, 2)[0].public_key.clone();
    let req =
        TransferRequest { to: "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM".into(), amount: 5, fee_ceiling: None };
    let ctx = ChainContext::Blockhash { recent_blockhash: "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N".into() };
    let tx = solana::Solana.build(&sol_key, &req, &ctx).unwrap();
    assert!(solana::Solana.spends(&tx).unwrap().is_empty());
}
