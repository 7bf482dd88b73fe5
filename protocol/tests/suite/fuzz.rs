//! The CI-sized fuzz run: every decoder a peer reaches (`protocol::fuzzing`) gets arbitrary
//! bytes and mutations of real messages (a FROST or CGGMP24 round message another party really
//! sent, each kind of control message), and must refuse them without a panic. The same
//! harnesses run under libFuzzer in `fuzz/`. `MPC_FUZZ_CASES=<n>` sets the cases per harness
//! (default 256: 1024 inputs per byte-level harness, 256 per FROST ceremony, 64 and
//! 16 for CGGMP24 keygen and signing).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::sync::OnceLock;

use proptest::prelude::*;
use protocol::abort::{AbortBody, PartyState, SignedAbort};
use protocol::chains::{ChainContext, TransferRequest};
use protocol::fuzzing;
use protocol::proposal::{Control, Proposal, ProposalKind, Signable, Vote};
use protocol::signable::{PersonalMessage, TypedData};
use protocol::wallet::TransferIntent;
use protocol::{BoxCeremony, Envelope, KeyShare, KeygenParams, Recipient, SchemeId, SignParams, WalletId};

fn cases(default: u32) -> u32 {
    std::env::var("MPC_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A valid control message of every kind, encoded: the mutation seeds.
fn control_seeds() -> &'static Vec<Vec<u8>> {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let wallet = WalletId::new("w").unwrap();
        let proposal =
            |kind| Proposal { proposer: 0, nonce: [7; 16], kind, participants: vec![0, 1, 2], expires_at_ms: 60_000 };
        let chains = protocol::chains::registry(protocol::chains::bitcoin::Network::Regtest);
        let mut kinds = vec![
            ProposalKind::Keygen { wallet: wallet.clone(), scheme: SchemeId::from_name("frost-ed25519"), threshold: 2 },
            ProposalKind::Setup { scheme: SchemeId::from_name("cggmp24") },
            ProposalKind::Sign { wallet: wallet.clone(), signable: Signable::Raw(vec![9; 32]) },
            ProposalKind::Sign {
                wallet: wallet.clone(),
                signable: Signable::PersonalMessage(Box::new(PersonalMessage::new(b"hello".to_vec()).unwrap())),
            },
            ProposalKind::Sign {
                wallet: wallet.clone(),
                signable: Signable::TypedData(Box::new(TypedData::new(TYPED.into()).unwrap())),
            },
            ProposalKind::Presign { wallet: wallet.clone(), count: 4 },
        ];
        let account = ChainContext::Account {
            chain_id: 1,
            nonce: 3,
            gas_limit: 21_000,
            max_fee_per_gas: 20_000_000_000,
            max_priority_fee_per_gas: 0,
            legacy_gas_price: None,
        };
        let solana = ChainContext::Blockhash { recent_blockhash: "11111111111111111111111111111111".into() };
        for (chain, to, context) in [
            ("ethereum", "0x3535353535353535353535353535353535353535", account),
            ("solana", "11111111111111111111111111111112", solana),
        ] {
            let c = chains.get(chain).unwrap();
            let request = TransferRequest { to: to.into(), amount: 1000, fee_ceiling: None };
            let unsigned = c.build(&fuzzing::key_for(&*c), &request, &context).unwrap();
            let intent = TransferIntent { tx: "tx-1".into(), chain: chain.into(), unsigned };
            kinds.push(ProposalKind::Sign { wallet: wallet.clone(), signable: Signable::Transfer(Box::new(intent)) });
        }
        let mut seeds: Vec<Vec<u8>> =
            kinds.into_iter().map(|k| Control::Propose(proposal(k)).encode().unwrap()).collect();
        let session = proposal(ProposalKind::Setup { scheme: SchemeId::from_name("cggmp24") }).session().unwrap();
        seeds.push(Control::Vote { session, vote: Vote::Decline("no".into()) }.encode().unwrap());
        let states = vec![PartyState { party: 1, count: 2, hash: [3; 32] }];
        let body = AbortBody::new(session, 2, "bad share", vec![1], true, states).encode().unwrap();
        seeds.push(Control::Abort(SignedAbort { body, signature: vec![5; 64] }).encode().unwrap());
        seeds
    })
}

const TYPED: &str = r#"{"types":{"EIP712Domain":[{"name":"name","type":"string"}],"Note":[{"name":"text","type":"string"}]},"primaryType":"Note","domain":{"name":"t"},"message":{"text":"hi"}}"#;

/// Flips, cuts or grows `seed` as `edits` say.
fn mutate(seed: &[u8], edits: &[(u16, u8)]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for &(at, b) in edits {
        match b % 4 {
            0 if !out.is_empty() => {
                let i = usize::from(at) % out.len();
                out[i] ^= b | 1;
            }
            1 => out.truncate(usize::from(at) % (out.len() + 1)),
            2 => out.insert(usize::from(at) % (out.len() + 1), b),
            _ if !out.is_empty() => {
                let i = usize::from(at) % out.len();
                out[i] = 0xff;
            }
            _ => {}
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256) * 4, ..ProptestConfig::default() })]

    #[test]
    fn envelopes_from_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        fuzzing::envelope(&bytes);
    }

    #[test]
    fn control_messages_from_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        fuzzing::control(&bytes);
    }

    #[test]
    fn control_messages_mutated_from_real_ones(
        pick in any::<usize>(),
        edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..8),
    ) {
        let seeds = control_seeds();
        fuzzing::control(&mutate(&seeds[pick % seeds.len()], &edits));
    }

    #[test]
    fn envelopes_mutated_from_real_ones(
        pick in any::<usize>(),
        edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..8),
    ) {
        let seeds = control_seeds();
        let e = Envelope {
            session: protocol::SessionId::derive("fuzz", b"e"),
            round: 0,
            sender: 1,
            recipient: Recipient::Broadcast,
            payload: seeds[pick % seeds.len()].clone(),
        };
        fuzzing::envelope(&mutate(&e.encode().unwrap(), &edits));
    }
}

/// A scheme's keygen for party 0 of 3 and a real first-round message party 1 sent it.
struct Target<O> {
    make: Box<dyn Fn() -> BoxCeremony<O>>,
    template: Envelope,
}

fn first_message_to_0<O>(mut other: BoxCeremony<O>) -> Envelope {
    let step = other.start(0).unwrap();
    step.outgoing
        .into_iter()
        .find(|e| matches!(e.recipient, Recipient::Broadcast | Recipient::Party(0)))
        .expect("party 1 sends party 0 something in its first round")
}

fn keygen_target(name: &'static str) -> Target<KeyShare> {
    let scheme = common::scheme(name);
    let setups = common::setups_for(&*scheme, 3);
    let session = common::session(&format!("fuzz-keygen-{name}"));
    let other = scheme.keygen(&KeygenParams::new(session, 1, 3, 2), setups[1].as_ref()).unwrap();
    let template = first_message_to_0(other);
    let make = move || scheme.keygen(&KeygenParams::new(session, 0, 3, 2), setups[0].as_ref()).unwrap();
    Target { make: Box::new(make), template }
}

fn sign_target(name: &'static str) -> Target<protocol::Signature> {
    let scheme = common::scheme(name);
    let shares = common::keygen(&*scheme, 3, 2);
    let session = common::session(&format!("fuzz-sign-{name}"));
    let params = SignParams::new(session, vec![0, 1], common::message_for(name, 1));
    let other = scheme.sign(&shares[1], &params).unwrap();
    let template = first_message_to_0(other);
    let make = move || scheme.sign(&shares[0], &params).unwrap();
    Target { make: Box::new(make), template }
}

fn run_rounds<O>(target: &Target<O>, n: u32, what: &str) {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: n, ..ProptestConfig::default() });
    let strategy = proptest::collection::vec(any::<u8>(), 0..512);
    runner
        .run(&strategy, |data| {
            fuzzing::round_message(&*target.make, &target.template, &data);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}

#[test]
fn frost_round_messages_bent_out_of_shape() {
    for name in ["frost-ed25519", "frost-secp256k1-tr"] {
        run_rounds(&keygen_target(name), cases(256), name);
        run_rounds(&sign_target(name), cases(256), name);
    }
}

#[test]
fn cggmp24_round_messages_bent_out_of_shape() {
    // Each input starts a fresh CGGMP24 party (its first round's proofs): fewer cases.
    run_rounds(&keygen_target("cggmp24"), cases(256) / 4, "cggmp24 keygen");
    run_rounds(&sign_target("cggmp24"), cases(256) / 16, "cggmp24 signing");
}
