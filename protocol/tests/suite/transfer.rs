//! The transfer state machine in process: every effect it asks for is carried out by a small
//! in-memory world (journal, members, lane, chain, committee), and a crash after any effect is
//! resumed from what the journal holds, as a restarted proposer would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, VecDeque};

use ed25519_dalek::Signer;
use protocol::chains::bitcoin::{BitcoinChain, Network};
use protocol::chains::rpc::TxStatus;
use protocol::chains::{solana, Chain, ChainContext, SignedTx, TransferRequest, Utxo};
use protocol::proposal::{Outcome, Signable};
use protocol::transfer::{
    Effect, Input, Order, Record, Rules, SignResult, SignedStep, SigningStep, Stage, Transfer, TransferFailure,
};
use protocol::wallet::{ChainLimits, TransferPolicy, TransferStage};
use protocol::{PublicKey, SchemeId, SessionId, Signature, WalletId};

const SOL_TO: &str = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM";
const BTC_TO: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
const DEPTH: u32 = 2;
const POLL: u64 = 500;
const FOLLOW: u64 = 60_000;

/// Signs one payload as the committee would.
type SignFn = Box<dyn Fn(&[u8]) -> Signature>;
/// Whether a failure is the expected one.
type Expect = fn(&TransferFailure) -> bool;

/// A key and a signer that stand in for the committee.
struct Wallet {
    key: PublicKey,
    sign: SignFn,
    chain: Box<dyn Chain>,
    context: ChainContext,
    request: TransferRequest,
}

fn solana_wallet() -> Wallet {
    let sk = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let key = PublicKey { scheme: SchemeId::from_name("frost-ed25519"), bytes: sk.verifying_key().to_bytes().to_vec() };
    Wallet {
        key,
        sign: Box::new(move |m| Signature { bytes: sk.sign(m).to_bytes().to_vec(), recovery_id: None }),
        chain: Box::new(solana::Solana),
        context: ChainContext::Blockhash { recent_blockhash: "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N".into() },
        request: TransferRequest { to: SOL_TO.into(), amount: 5_000_000, fee_ceiling: None },
    }
}

fn bitcoin_wallet() -> Wallet {
    let pair = secp256k1::Keypair::from_seckey_slice(secp256k1::SECP256K1, &[3; 32]).unwrap();
    let key = PublicKey {
        scheme: SchemeId::from_name("frost-secp256k1-tr"),
        bytes: pair.x_only_public_key().0.serialize().to_vec(),
    };
    Wallet {
        key,
        sign: Box::new(move |m| {
            let msg = secp256k1::Message::from_digest_slice(m).unwrap();
            let sig = secp256k1::SECP256K1.sign_schnorr_no_aux_rand(&msg, &pair);
            Signature { bytes: sig.as_ref().to_vec(), recovery_id: None }
        }),
        chain: Box::new(BitcoinChain::p2tr(Network::Regtest)),
        // Two outputs of 30 000 sat: a 50 000 sat payment spends both.
        context: ChainContext::Utxos {
            utxos: vec![
                Utxo { txid: "11".repeat(32), vout: 0, amount: 30_000 },
                Utxo { txid: "22".repeat(32), vout: 1, amount: 30_000 },
            ],
            fee_rate_sat_vb: 2,
        },
        request: TransferRequest { to: BTC_TO.into(), amount: 50_000, fee_ceiling: None },
    }
}

fn policy(chain: &str) -> TransferPolicy {
    TransferPolicy { chains: [(chain.to_owned(), ChainLimits::default())].into() }
}

fn order(w: &Wallet) -> Order {
    Order {
        tx: "tx-0-abcd".into(),
        wallet: WalletId::new("w").unwrap(),
        key: w.key.clone(),
        chain: w.chain.name().into(),
        request: w.request.clone(),
        signers: vec![0, 1],
    }
}

/// How the committee and the chain behave in a run.
#[derive(Clone, Default)]
struct Script {
    context_error: Option<String>,
    sign: Option<SignResult>,
    broadcast_error: Option<String>,
    chain_fails_it: bool,
    journal_fails_at: Option<usize>,
    /// The ceremony fails here but member 1 completed it (its final message to us was lost).
    member_completed: bool,
    /// Member 1 does not answer the first this many outcome questions.
    silent_asks: usize,
    /// Member 1 answers the first outcome question with signatures that are not valid.
    bogus_answer: bool,
}

/// Everything outside the machine, in memory.
#[derive(Default)]
struct World {
    journal: Vec<Record>,
    told: Vec<TransferStage>,
    /// txid → confirmations (a block per status check once known).
    chain: BTreeMap<String, u64>,
    broadcasts: usize,
    proposals: Vec<Signable>,
    /// Made, not yet sent.
    prepared: Option<Signable>,
    /// What the signers completed and keep (their journals survive our crash).
    kept: BTreeMap<SessionId, Vec<Signature>>,
    asks: usize,
    turn_held: bool,
    now: u64,
    effects: usize,
    finished: bool,
}

impl World {
    /// Carries out effects until the machine asks for nothing more, or `crash_after` effects.
    fn run(
        &mut self,
        w: &Wallet,
        script: &Script,
        t: &mut Transfer,
        first: Vec<Effect>,
        crash_after: Option<usize>,
    ) -> bool {
        let policy = policy(w.chain.name());
        let rules = Rules { chain: &*w.chain, policy: &policy, confirmations: DEPTH, poll_ms: POLL, follow_ms: FOLLOW };
        let mut queue: VecDeque<Effect> = first.into();
        while let Some(effect) = queue.pop_front() {
            if crash_after.is_some_and(|n| self.effects >= n) {
                return false;
            }
            self.effects += 1;
            let input = match effect {
                Effect::Journal(r) => {
                    if script.journal_fails_at == Some(self.journal.len()) && !matches!(r, Record::Failed { .. }) {
                        queue.clear();
                        Some(Input::JournalFailed("disk full".into()))
                    } else {
                        self.journal.push(r);
                        None
                    }
                }
                Effect::Tell(stage) => {
                    self.told.push(stage);
                    None
                }
                Effect::WaitTurn => {
                    assert!(!self.turn_held, "one transfer in the lane at a time");
                    self.turn_held = true;
                    Some(Input::Turn)
                }
                Effect::ReleaseTurn => {
                    assert!(self.turn_held, "released a lane it did not hold");
                    self.turn_held = false;
                    None
                }
                Effect::WaitPeers => Some(Input::PeersBack),
                Effect::FetchContext { address, request } => {
                    assert_eq!(address, w.chain.address(&w.key).unwrap());
                    assert_eq!(request, w.request);
                    Some(Input::Context(match &script.context_error {
                        Some(e) => Err(e.clone()),
                        None => Ok(w.context.clone()),
                    }))
                }
                Effect::Propose { signable, signers } => {
                    assert_eq!(signers, vec![0, 1]);
                    self.proposals.push(signable.clone());
                    self.prepared = Some(signable);
                    Some(Input::Proposed(Ok((SessionId::derive("test", &[self.proposals.len() as u8]), signers))))
                }
                Effect::Submit { session } => {
                    assert!(
                        self.journal.iter().any(|r| matches!(r, Record::Signing(s) if s.session == session)),
                        "the signing is journaled before its proposal leaves"
                    );
                    let signable = self.prepared.take().expect("submitted what was made");
                    let sigs: Vec<Signature> = signable.payloads().iter().map(|p| (w.sign)(p)).collect();
                    let result = script.sign.clone().unwrap_or_else(|| SignResult::Signed(session, sigs.clone()));
                    if matches!(result, SignResult::Signed(..)) || script.member_completed {
                        self.kept.insert(session, sigs);
                    }
                    Some(Input::Signing(result))
                }
                Effect::AskOutcome { session, signers, after_ms } => {
                    self.now += after_ms;
                    self.asks += 1;
                    assert!(self.asks < 20, "asked forever");
                    let answers = signers
                        .iter()
                        .filter(|p| **p != 1 || self.asks > script.silent_asks)
                        .map(|p| {
                            let outcome = match self.kept.get(&session) {
                                _ if *p == 1 && script.bogus_answer && self.asks == 1 => {
                                    Outcome::Signed(vec![Signature { bytes: vec![9; 64], recovery_id: None }])
                                }
                                Some(sigs) => Outcome::Signed(sigs.clone()),
                                None => Outcome::Abandoned,
                            };
                            (*p, outcome)
                        })
                        .collect();
                    Some(Input::Outcome(answers))
                }
                Effect::CheckStatus { txid, after_ms } => {
                    self.now += after_ms;
                    let status = match self.chain.get_mut(&txid) {
                        Some(_) if script.chain_fails_it => TxStatus::Failed { reason: "reverted".into() },
                        Some(depth) => {
                            *depth += 1;
                            TxStatus::Confirmed { block: 100, confirmations: *depth }
                        }
                        None => TxStatus::Unknown,
                    };
                    Some(Input::Status(Ok(status)))
                }
                Effect::Broadcast { raw } => {
                    self.broadcasts += 1;
                    match &script.broadcast_error {
                        Some(e) => Some(Input::Broadcast(Err(e.clone()))),
                        None => {
                            let txid = self.txid_of(&raw);
                            self.chain.entry(txid).or_insert(0);
                            Some(Input::Broadcast(Ok(())))
                        }
                    }
                }
                Effect::Finished => {
                    self.finished = true;
                    None
                }
            };
            if let Some(input) = input {
                queue.extend(t.step(&rules, self.now, input));
            }
        }
        true
    }

    fn txid_of(&self, raw: &[u8]) -> String {
        self.signed().into_iter().find(|s| s.raw == raw).map(|s| s.txid).expect("broadcast of a journaled transaction")
    }

    fn signed(&self) -> Option<SignedTx> {
        self.journal.iter().find_map(|r| match r {
            Record::Signed(step) => Some(step.signed.clone()),
            _ => None,
        })
    }

    fn signing_step(&self) -> Option<SigningStep> {
        self.journal.iter().rev().find_map(|r| match r {
            Record::Signing(step) => Some((**step).clone()),
            _ => None,
        })
    }

    fn signed_step(&self) -> Option<SignedStep> {
        self.journal.iter().find_map(|r| match r {
            Record::Signed(step) => Some((**step).clone()),
            _ => None,
        })
    }

    fn kinds(&self) -> Vec<&'static str> {
        self.journal
            .iter()
            .map(|r| match r {
                Record::Initiated { .. } => "initiated",
                Record::Signing(_) => "signing",
                Record::Signed(_) => "signed",
                Record::Broadcast { .. } => "broadcast",
                Record::Confirmed { .. } => "confirmed",
                Record::Failed { .. } => "failed",
            })
            .collect()
    }

    fn failure(&self) -> Option<TransferFailure> {
        self.journal.iter().find_map(|r| match r {
            Record::Failed { failure } => Some(failure.clone()),
            _ => None,
        })
    }
}

fn run(w: &Wallet, script: Script) -> (World, Transfer) {
    let (mut t, first) = Transfer::start(order(w));
    let mut world = World::default();
    assert!(world.run(w, &script, &mut t, first, None));
    (world, t)
}

#[test]
fn a_transfer_goes_from_request_to_confirmation_journaling_and_telling_every_step() {
    let w = solana_wallet();
    let (world, t) = run(&w, Script::default());
    assert_eq!(t.stage(), &Stage::Confirmed);
    assert_eq!(world.kinds(), ["initiated", "signing", "signed", "broadcast", "confirmed"]);
    assert_eq!(world.told.len(), 4, "members hear each step");
    assert!(matches!(world.told[3], TransferStage::Confirmed { confirmations: DEPTH, .. }));
    assert_eq!(world.broadcasts, 1);
    assert_eq!(world.proposals.len(), 1);
    assert!(world.finished && !world.turn_held, "finished, lane released");
    // What the committee was asked to sign is exactly the transaction's payloads.
    let Signable::Transfer(intent) = &world.proposals[0] else { panic!("a transfer proposes its transaction") };
    assert_eq!(intent.tx, "tx-0-abcd");
    assert_eq!(w.chain.inspect(&w.key, &intent.unsigned).unwrap().amount, 5_000_000);
}

#[test]
fn the_first_effects_journal_before_anything_leaves_the_node() {
    let w = solana_wallet();
    let (_, first) = Transfer::start(order(&w));
    assert!(matches!(first[0], Effect::Journal(Record::Initiated { .. })));
    assert!(matches!(first[1], Effect::Tell(TransferStage::Initiated { amount: 5_000_000, .. })));
    assert_eq!(first[2], Effect::WaitTurn);
}

#[test]
fn a_two_input_bitcoin_spend_is_one_proposal_with_both_payloads() {
    let w = bitcoin_wallet();
    let (world, t) = run(&w, Script::default());
    assert_eq!(t.stage(), &Stage::Confirmed);
    assert_eq!(world.proposals.len(), 1, "one proposal, one vote round");
    assert_eq!(world.proposals[0].payloads().len(), 2, "both inputs' sighashes in it");
    let Some(Record::Signed(step)) = world.journal.get(2) else { panic!("{:?}", world.kinds()) };
    assert_eq!(step.signatures.len(), 2);
}

#[test]
fn every_failure_is_journaled_told_typed_and_frees_the_lane() {
    let w = solana_wallet();
    let cases: Vec<(Script, Expect, usize)> = vec![
        (
            Script { context_error: Some("node down".into()), ..Default::default() },
            |f| matches!(f, TransferFailure::ChainState(_)),
            0,
        ),
        (
            Script { sign: Some(SignResult::Refused("party 2 declined: limit".into())), ..Default::default() },
            |f| matches!(f, TransferFailure::Refused(_)),
            0,
        ),
        (
            Script { sign: Some(SignResult::Failed("round 1 timed out".into())), ..Default::default() },
            |f| matches!(f, TransferFailure::Signing(_)),
            0,
        ),
        (
            Script {
                sign: Some(SignResult::Signed(
                    SessionId::derive("t", b"x"),
                    vec![Signature { bytes: vec![1; 64], recovery_id: None }],
                )),
                ..Default::default()
            },
            |f| matches!(f, TransferFailure::Finalize(_)),
            0,
        ),
        (
            Script { broadcast_error: Some("insufficient funds".into()), ..Default::default() },
            |f| matches!(f, TransferFailure::BroadcastRefused(_)),
            1,
        ),
        (Script { chain_fails_it: true, ..Default::default() }, |f| matches!(f, TransferFailure::ChainRejected(_)), 1),
        (Script { journal_fails_at: Some(1), ..Default::default() }, |f| matches!(f, TransferFailure::Journal(_)), 0),
    ];
    // A start the journal did not take: the transfer never existed, nothing is told.
    let (world, t) = run(&w, Script { journal_fails_at: Some(0), ..Default::default() });
    assert!(world.journal.is_empty() && world.told.is_empty() && world.finished, "{:?}", world.kinds());
    assert!(matches!(t.stage(), Stage::Failed(TransferFailure::Journal(_))));
    for (script, expected, broadcasts) in cases {
        let (world, t) = run(&w, script);
        let failure = world.failure().unwrap_or_else(|| panic!("no failure journaled: {:?}", world.kinds()));
        assert!(expected(&failure), "{failure:?}");
        assert_eq!(t.stage(), &Stage::Failed(failure.clone()));
        assert!(
            matches!(world.told.last(), Some(TransferStage::Failed { kind, reason }) if *reason == failure.to_string() && *kind == failure.kind())
        );
        assert!(world.finished && !world.turn_held, "{failure:?}: the lane is free again");
        assert_eq!(world.broadcasts, broadcasts, "{failure:?}");
    }
}

#[test]
fn the_proposers_own_limits_refuse_before_anyone_is_asked() {
    let w = solana_wallet();
    let capped = TransferPolicy {
        chains: [("solana".to_owned(), ChainLimits { max_amount: Some(1), ..Default::default() })].into(),
    };
    let rules = Rules { chain: &*w.chain, policy: &capped, confirmations: DEPTH, poll_ms: POLL, follow_ms: FOLLOW };
    let (mut t, _) = Transfer::start(order(&w));
    let fetch = t.step(&rules, 0, Input::Turn);
    assert!(matches!(fetch[..], [Effect::FetchContext { .. }]));
    let effects = t.step(&rules, 0, Input::Context(Ok(w.context.clone())));
    assert!(!effects.iter().any(|e| matches!(e, Effect::Propose { .. })), "nothing proposed");
    match t.stage() {
        Stage::Failed(TransferFailure::Build(why)) => assert!(why.contains("exceeds this member's limit"), "{why}"),
        other => panic!("{other:?}"),
    }
}

/// A transfer driven by hand up to its signatures; returns it and the effects that followed.
fn signed(w: &Wallet, rules: &Rules<'_>) -> (Transfer, Vec<Effect>) {
    let (mut t, _) = Transfer::start(order(w));
    let _ = t.step(rules, 0, Input::Turn);
    let propose = t.step(rules, 0, Input::Context(Ok(w.context.clone())));
    let Some(Effect::Propose { signable, .. }) = propose.first() else { panic!("{propose:?}") };
    let sigs = signable.payloads().iter().map(|p| (w.sign)(p)).collect();
    let session = SessionId::derive("t", b"s");
    let submit = t.step(rules, 0, Input::Proposed(Ok((session, vec![0, 1]))));
    assert!(matches!(submit.as_slice(), [Effect::Journal(Record::Signing(_)), Effect::Submit { .. }]), "{submit:?}");
    let after = t.step(rules, 0, Input::Signing(SignResult::Signed(session, sigs)));
    (t, after)
}

#[test]
fn a_transaction_the_chain_already_has_is_not_sent_again() {
    let w = solana_wallet();
    let policy = policy("solana");
    let rules = Rules { chain: &*w.chain, policy: &policy, confirmations: DEPTH, poll_ms: POLL, follow_ms: FOLLOW };
    let (mut t, after_sign) = signed(&w, &rules);
    assert!(matches!(after_sign.last(), Some(Effect::CheckStatus { after_ms: 0, .. })));
    let known = t.step(&rules, 5, Input::Status(Ok(TxStatus::Pending)));
    assert!(!known.iter().any(|e| matches!(e, Effect::Broadcast { .. })), "{known:?}");
    assert!(matches!(known[0], Effect::Journal(Record::Broadcast { .. })));
    assert!(known.contains(&Effect::ReleaseTurn));
}

#[test]
fn a_transfer_not_confirmed_within_the_follow_window_stops_being_watched_without_failing() {
    let w = solana_wallet();
    let policy = policy("solana");
    let rules = Rules { chain: &*w.chain, policy: &policy, confirmations: DEPTH, poll_ms: POLL, follow_ms: FOLLOW };
    let (mut t, _) = signed(&w, &rules);
    let _ = t.step(&rules, 0, Input::Status(Ok(TxStatus::Unknown)));
    let _ = t.step(&rules, 10, Input::Broadcast(Ok(())));
    // A chain node that does not answer is asked again, at the poll interval.
    let again = t.step(&rules, 20, Input::Status(Err("timeout".into())));
    assert_eq!(again, vec![Effect::CheckStatus { txid: t.chain_txid().unwrap().to_owned(), after_ms: POLL }]);
    let shallow = t.step(&rules, 30, Input::Status(Ok(TxStatus::Confirmed { block: 1, confirmations: 1 })));
    assert!(matches!(shallow[..], [Effect::CheckStatus { .. }]), "not deep enough yet");
    let late = t.step(&rules, 10 + FOLLOW, Input::Status(Ok(TxStatus::Pending)));
    assert_eq!(late, vec![Effect::Finished]);
    assert_eq!(t.stage(), &Stage::Unfollowed);
}

#[test]
fn late_duplicate_or_out_of_order_inputs_change_nothing() {
    let w = solana_wallet();
    let policy = policy("solana");
    let rules = Rules { chain: &*w.chain, policy: &policy, confirmations: DEPTH, poll_ms: POLL, follow_ms: FOLLOW };
    let (mut t, _) = Transfer::start(order(&w));
    assert!(t.step(&rules, 0, Input::Broadcast(Ok(()))).is_empty(), "a broadcast answer before signing");
    assert!(t.step(&rules, 0, Input::Signing(SignResult::Failed("x".into()))).is_empty(), "before proposing");
    let _ = t.step(&rules, 0, Input::Turn);
    assert!(t.step(&rules, 0, Input::Turn).is_empty(), "a second turn");
    let _ = t.step(&rules, 0, Input::Context(Err("down".into())));
    assert!(matches!(t.stage(), Stage::Failed(_)));
    for input in [Input::Turn, Input::Context(Ok(w.context.clone())), Input::JournalFailed("x".into())] {
        assert!(t.step(&rules, 0, input).is_empty(), "a failed transfer is over");
    }
}

/// A crash after every effect of the happy path, then a restart from the journal: a transfer
/// interrupted before its signing was proposed is carried on (nothing had left the node); one
/// interrupted later asks its signers, takes the signatures one of them kept or, when every
/// one gave the session up, proposes the same transaction once more; each is confirmed and
/// sent exactly once.
#[test]
fn a_crash_at_every_step_resumes_from_the_journal_to_one_end() {
    for w in [solana_wallet(), bitcoin_wallet()] {
        let (clean, _) = run(&w, Script::default());
        let total = clean.effects;
        for crash_after in 0..total {
            let (mut t, first) = Transfer::start(order(&w));
            let mut world = World::default();
            let completed = world.run(&w, &Script::default(), &mut t, first, Some(crash_after));
            assert!(!completed, "crash point {crash_after} of {total}");
            if world.journal.is_empty() {
                continue; // Crashed before the transfer existed: nothing to resume.
            }
            // Restart: nothing in memory survives but the journal, the chain and what the
            // signers keep.
            let journal = std::mem::take(&mut world.journal);
            let chain = std::mem::take(&mut world.chain);
            let kept = std::mem::take(&mut world.kept);
            let broadcasts = world.broadcasts;
            let proposals = world.proposals.len();
            let mut after = World { journal: journal.clone(), chain, kept, broadcasts, ..Default::default() };
            let finished = journal.iter().any(|r| matches!(r, Record::Confirmed { .. } | Record::Failed { .. }));
            if finished {
                continue; // Nothing to resume.
            }
            let (mut t, first) = Transfer::resume(order(&w), after.signed_step(), after.signing_step());
            assert!(after.run(&w, &Script::default(), &mut t, first, None));
            let kinds = after.kinds();
            assert!(proposals <= 1);
            let was_signing = journal.iter().any(|r| matches!(r, Record::Signing(_)));
            // Wherever it stopped, it ends confirmed, signed and sent exactly once.
            assert_eq!(t.stage(), &Stage::Confirmed, "crash at {crash_after}: {kinds:?}");
            assert_eq!(kinds.iter().filter(|k| **k == "signed").count(), 1, "crash at {crash_after}: {kinds:?}");
            assert_eq!(after.broadcasts, 1, "sent exactly once (crash at {crash_after})");
            // Members hear again what they may have missed, before anything else.
            assert!(matches!(after.told[0], TransferStage::Initiated { .. }));
            if was_signing {
                // Proposed again only when no signer completed the first signing.
                let completed = journal.iter().any(|r| matches!(r, Record::Signed(_))) || !world.kept.is_empty();
                assert!(after.proposals.len() <= usize::from(!completed), "crash at {crash_after}");
            } else {
                // Stopped before its signing was proposed: nothing to ask, simply carried on.
                assert_eq!((after.asks, after.proposals.len()), (0, 1), "crash at {crash_after}");
            }
            assert!(!after.turn_held, "the lane is free after the resumed transfer");
        }
    }
}

#[test]
fn a_signing_that_failed_here_but_completed_at_a_member_is_finished_with_its_signatures() {
    for w in [solana_wallet(), bitcoin_wallet()] {
        let failed = Some(SignResult::Failed("round 3 timed out".into()));
        let (world, t) = run(&w, Script { sign: failed, member_completed: true, ..Default::default() });
        assert_eq!(t.stage(), &Stage::Confirmed, "{:?}", world.kinds());
        assert_eq!(world.kinds(), ["initiated", "signing", "signed", "broadcast", "confirmed"]);
        assert_eq!((world.proposals.len(), world.broadcasts), (1, 1));
    }
}

#[test]
fn a_failed_signing_is_reported_failed_only_once_every_signer_gave_it_up() {
    let w = solana_wallet();
    let failed = Some(SignResult::Failed("party 1 unreachable".into()));
    // Member 1 is silent twice, then answers: asked again until it does.
    let (world, t) = run(&w, Script { sign: failed.clone(), silent_asks: 2, ..Default::default() });
    assert_eq!(world.asks, 3);
    let Stage::Failed(TransferFailure::Signing(why)) = t.stage() else { panic!("{:?}", t.stage()) };
    assert!(why.contains("no signature exists"), "{why}");
    assert_eq!(world.now, 2 * protocol::transfer::ASK_AGAIN_MS, "asked again after a pause");
    assert!(!world.turn_held && world.broadcasts == 0);
    // A member answering with signatures that do not verify proves nothing: asked again.
    let (world, t) = run(&w, Script { sign: failed, bogus_answer: true, ..Default::default() });
    assert_eq!(world.asks, 2);
    assert!(matches!(t.stage(), Stage::Failed(TransferFailure::Signing(_))));
    // A refusal before the ceremony started needs no asking: nobody ran it.
    let refused = Some(SignResult::Refused("party 1 declined".into()));
    let (world, t) = run(&w, Script { sign: refused, ..Default::default() });
    assert_eq!(world.asks, 0);
    assert!(matches!(t.stage(), Stage::Failed(TransferFailure::Refused(_))));
}
