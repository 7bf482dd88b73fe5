//! A proposer restarted in the middle of a signing, step by step: it takes its lane first,
//! asks the signers, and proposes the same transaction again only when every signer gave the
//! first signing up, once in the transfer's life.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use protocol::chains::bitcoin::{BitcoinChain, Network};
use protocol::chains::{Chain, ChainContext, TransferRequest, Utxo};
use protocol::proposal::Outcome;
use protocol::transfer::{Effect, Input, Order, Record, Rules, SignResult, Stage, Transfer, TransferFailure};
use protocol::wallet::{ChainLimits, TransferPolicy};
use protocol::{PublicKey, SchemeId, SessionId, WalletId};

struct Wallet {
    key: PublicKey,
    chain: BitcoinChain,
    context: ChainContext,
}

fn bitcoin_wallet() -> Wallet {
    let pair = secp256k1::Keypair::from_seckey_slice(secp256k1::SECP256K1, &[5; 32]).unwrap();
    let bytes = pair.x_only_public_key().0.serialize().to_vec();
    let utxo = |b: &str, vout, amount| Utxo { txid: b.repeat(32), vout, amount };
    Wallet {
        key: PublicKey { scheme: SchemeId::from_name("frost-secp256k1-tr"), bytes },
        chain: BitcoinChain::p2tr(Network::Regtest),
        context: ChainContext::Utxos { utxos: vec![utxo("33", 0, 30_000), utxo("44", 1, 30_000)], fee_rate_sat_vb: 2 },
    }
}

fn order(w: &Wallet) -> Order {
    Order {
        tx: "tx-0-beef".into(),
        wallet: WalletId::new("w").unwrap(),
        key: w.key.clone(),
        chain: w.chain.name().into(),
        request: TransferRequest {
            to: "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080".into(),
            amount: 50_000,
            fee_ceiling: None,
        },
        signers: vec![0, 1],
    }
}

#[test]
fn a_proposer_restarted_mid_signing_proposes_the_same_transaction_again_only_if_no_signer_completed() {
    let w = bitcoin_wallet();
    let policy = TransferPolicy { chains: [(w.chain.name().to_owned(), ChainLimits::default())].into() };
    let rules = Rules { chain: &w.chain, policy: &policy, confirmations: 1, poll_ms: 500, follow_ms: 60_000 };
    let (mut t, _) = Transfer::start(order(&w));
    let _ = t.step(&rules, 0, Input::Turn);
    let propose = t.step(&rules, 0, Input::Context(Ok(w.context.clone())));
    let Some(Effect::Propose { signable: first, .. }) = propose.first().cloned() else { panic!("{propose:?}") };
    let session = SessionId::derive("t", b"first");
    let effects = t.step(&rules, 0, Input::Proposed(Ok((session, vec![0, 1]))));
    let Some(Effect::Journal(Record::Signing(step))) = effects.first().cloned() else { panic!("{effects:?}") };
    assert_eq!(step.attempt, 1);
    // Crash. Nobody completed it; the restarted proposer asks, then proposes it again.
    let (mut t, first_effects) = Transfer::resume(order(&w), None, Some((*step).clone()));
    assert_eq!(first_effects, vec![Effect::WaitTurn], "its place in the lane before anything else");
    assert!(t.step(&rules, 0, Input::PeersBack).is_empty(), "not before its turn");
    assert_eq!(t.step(&rules, 0, Input::Turn), vec![Effect::WaitPeers]);
    let ask = t.step(&rules, 0, Input::PeersBack);
    let told = ask.iter().filter(|e| matches!(e, Effect::Tell(_))).count();
    assert_eq!(ask[told..], [Effect::AskOutcome { session, signers: vec![0, 1], after_ms: 0 }]);
    let all_gave_up = vec![(0, Outcome::Abandoned), (1, Outcome::Abandoned)];
    let again = t.step(&rules, 0, Input::Outcome(all_gave_up.clone()));
    let [Effect::Propose { signable: second, .. }] = again.as_slice() else { panic!("{again:?}") };
    assert_eq!(second, &first, "the same transaction: the same inputs, never a second spend");
    // The second signing fails too and is given up by all: now it fails, with proof.
    let s2 = SessionId::derive("t", b"second");
    let _ = t.step(&rules, 0, Input::Proposed(Ok((s2, vec![0, 1]))));
    let ask = t.step(&rules, 0, Input::Signing(SignResult::Failed("timeout".into())));
    assert!(matches!(ask.as_slice(), [Effect::AskOutcome { session, .. }] if *session == s2), "{ask:?}");
    let ended = t.step(&rules, 0, Input::Outcome(all_gave_up.clone()));
    assert!(matches!(t.stage(), Stage::Failed(TransferFailure::Signing(_))), "{ended:?}");
    assert!(!ended.iter().any(|e| matches!(e, Effect::Propose { .. })), "proposed again once only");
    // Restarted again during its second signing: once in its life, so now it fails.
    let mut second = (*step).clone();
    second.attempt = 2;
    let (mut t, _) = Transfer::resume(order(&w), None, Some(second));
    let _ = t.step(&rules, 0, Input::Turn);
    let _ = t.step(&rules, 0, Input::PeersBack);
    let ended = t.step(&rules, 0, Input::Outcome(all_gave_up));
    assert!(matches!(t.stage(), Stage::Failed(TransferFailure::Signing(_))), "{ended:?}");
}
