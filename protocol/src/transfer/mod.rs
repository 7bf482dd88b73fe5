//! A transfer as its proposer runs it, from request to confirmation: a pure state machine.
//! Inputs are what happened (its turn came, chain state arrived, the committee signed, the
//! chain answered, time passed); outputs are [`Effect`]s for the transfer actor to carry out
//! (journal a step, tell the members, fetch chain state, propose the signing, broadcast,
//! check the chain). No I/O here, not even through a port: chain state arrives as an input.
//!
//! Initiated → (turn) → building → signing → Signed → Broadcast → Confirmed, or Failed with a
//! typed [`TransferFailure`]. A restarted proposer rebuilds the machine from what its journal
//! holds ([`Transfer::resume`]): a signed transaction is broadcast (unless the chain already
//! knows it), never signed again.

use crate::ceremony::Millis;
use crate::chains::rpc::TxStatus;
use crate::chains::{ChainContext, SignedTx, UnsignedTx};
use crate::ids::{PartyIndex, SessionId};
use crate::proposal::{Outcome, Signable};
use crate::scheme::Signature;
use crate::wallet::{TransferIntent, TransferStage};

mod failure;
mod types;

pub use failure::{FailureKind, TransferFailure};
pub use types::*;

/// One transfer at its proposer.
#[derive(Clone, Debug)]
pub struct Transfer {
    order: Order,
    stage: Stage,
    /// Built, while the committee signs it.
    unsigned: Option<UnsignedTx>,
    /// Signed (journaled), until the transfer ends.
    signed: Option<SignedTx>,
    /// Steps members may have missed while this node was down, told once peers are back.
    pending_tells: Vec<TransferStage>,
    holds_turn: bool,
    /// The signing proposed (journaled), while its end is not known.
    signing: Option<(SessionId, Vec<PartyIndex>)>,
    /// Why the signing failed here, while the signers are asked whether it did elsewhere.
    signing_failed: Option<String>,
    /// Resumed after a crash mid-signing: once every signer gave that session up, it is
    /// proposed again (the same transaction), once in the transfer's life.
    repropose: bool,
    /// Signings proposed so far.
    attempts: u32,
}

/// How long a proposer waits before asking the signers again when some did not answer.
pub const ASK_AGAIN_MS: Millis = 2_000;

impl Transfer {
    fn new(order: Order, stage: Stage) -> Self {
        Self {
            order,
            stage,
            unsigned: None,
            signed: None,
            pending_tells: Vec::new(),
            holds_turn: false,
            signing: None,
            signing_failed: None,
            repropose: false,
            attempts: 0,
        }
    }

    /// A new transfer: journal it, tell the members, queue for the lane.
    pub fn start(order: Order) -> (Self, Vec<Effect>) {
        let request = order.request.clone();
        let effects = vec![
            Effect::Journal(Record::Initiated { request: request.clone() }),
            Effect::Tell(TransferStage::Initiated {
                to: request.to,
                amount: request.amount,
                fee_ceiling: request.fee_ceiling,
            }),
            Effect::WaitTurn,
        ];
        (Self::new(order, Stage::Queued), effects)
    }

    /// A transfer found unfinished in the journal after a restart. `signed` is its signed
    /// step, if it reached one (with the exact transaction and signatures journaled);
    /// `signing` its last signing proposed, if any (its signers are asked how it ended).
    pub fn resume(order: Order, signed: Option<SignedStep>, signing: Option<SigningStep>) -> (Self, Vec<Effect>) {
        let mut t = Self::new(order, Stage::Resuming);
        // Members heard nothing while this node was down: once some are back, tell them again
        // what they may have missed (their journals drop repeats).
        t.pending_tells.push(TransferStage::Initiated {
            to: t.order.request.to.clone(),
            amount: t.order.request.amount,
            fee_ceiling: t.order.request.fee_ceiling,
        });
        if let Some(SignedStep { session, unsigned, signatures, signed }) = signed {
            t.pending_tells.push(TransferStage::Signed {
                chain_txid: signed.txid.clone(),
                session,
                unsigned,
                signatures,
            });
            t.signed = Some(signed);
        } else if let Some(SigningStep { session, signers, unsigned, attempt }) = signing {
            t.order.signers = signers.clone();
            t.signing = Some((session, signers));
            t.unsigned = Some(unsigned);
            t.repropose = attempt < 2;
            t.attempts = attempt;
        }
        // Its place in the lane first: a transfer requested after the restart must not build
        // on the nonce or outputs this one may already have signed.
        (t, vec![Effect::WaitTurn])
    }

    /// The transaction id.
    pub fn tx(&self) -> &str {
        &self.order.tx
    }

    /// The order.
    pub fn order(&self) -> &Order {
        &self.order
    }

    /// The chain's id for the transaction, once signed.
    pub fn chain_txid(&self) -> Option<&str> {
        self.signed.as_ref().map(|s| s.txid.as_str())
    }

    /// Where it stands.
    pub fn stage(&self) -> &Stage {
        &self.stage
    }

    /// Feeds one input at `now` (ms, any monotonic clock); returns what to do.
    pub fn step(&mut self, rules: &Rules<'_>, now: Millis, input: Input) -> Vec<Effect> {
        match (&self.stage, input) {
            (Stage::Confirmed | Stage::Failed(_) | Stage::Unfollowed, _) => Vec::new(),
            // Its start could not be journaled: the transfer never existed; nothing to record.
            (Stage::Queued, Input::JournalFailed(reason)) if self.signed.is_none() => {
                self.stage = Stage::Failed(TransferFailure::Journal(reason));
                vec![Effect::Finished]
            }
            (_, Input::JournalFailed(reason)) => self.fail(TransferFailure::Journal(reason)),
            (Stage::Resuming, Input::Turn) if !self.holds_turn => {
                self.holds_turn = true;
                vec![Effect::WaitPeers]
            }
            (Stage::Resuming, Input::PeersBack) if self.holds_turn => {
                let mut effects: Vec<Effect> = self.pending_tells.drain(..).map(Effect::Tell).collect();
                if let Some(signed) = &self.signed {
                    // Resumed with a signed transaction: broadcast it unless the chain has it.
                    let txid = signed.txid.clone();
                    self.stage = Stage::Signed;
                    effects.push(Effect::CheckStatus { txid, after_ms: 0 });
                } else if let Some((session, signers)) = self.signing.clone() {
                    // Stopped while it was being signed: the signers may hold signatures.
                    self.stage = Stage::Recovering;
                    effects.push(Effect::AskOutcome { session, signers, after_ms: 0 });
                } else {
                    // Stopped before a signing was proposed: nothing left the node, so it is
                    // simply carried on, built on the chain's state as it is now.
                    self.stage = Stage::Queued;
                    effects.extend(self.step(rules, now, Input::Turn));
                }
                effects
            }
            (Stage::Queued, Input::Turn) => {
                self.holds_turn = true;
                match rules.chain.address(&self.order.key) {
                    Ok(address) => {
                        self.stage = Stage::Building;
                        vec![Effect::FetchContext { address, request: self.order.request.clone() }]
                    }
                    Err(e) => self.fail(TransferFailure::Build(e.to_string())),
                }
            }
            (Stage::Building, Input::Context(Err(e))) => self.fail(TransferFailure::ChainState(e)),
            (Stage::Building, Input::Context(Ok(context))) => self.build(rules, &context),
            (Stage::Signing, Input::Proposed(Err(reason))) => self.fail(TransferFailure::Refused(reason)),
            (Stage::Signing, Input::Proposed(Ok((session, signers)))) => self.proposed(session, signers),
            (Stage::Signing, Input::Signing(result)) if self.signing.is_some() => self.signed(rules, result),
            (Stage::Recovering, Input::Outcome(answers)) => self.recover(rules, answers),
            (Stage::Signed, Input::Status(known)) => match known {
                Ok(TxStatus::Pending | TxStatus::Confirmed { .. }) => self.broadcast_recorded(now),
                _ => match &self.signed {
                    Some(s) => {
                        self.stage = Stage::Broadcasting;
                        vec![Effect::Broadcast { raw: s.raw.clone() }]
                    }
                    None => self.fail(TransferFailure::Finalize("no signed transaction".into())),
                },
            },
            (Stage::Broadcasting, Input::Broadcast(Err(e))) => self.fail(TransferFailure::BroadcastRefused(e)),
            (Stage::Broadcasting, Input::Broadcast(Ok(()))) => self.broadcast_recorded(now),
            (Stage::Following { since_ms }, Input::Status(status)) => {
                let since_ms = *since_ms;
                self.follow(rules, now, since_ms, status)
            }
            // Anything else is a late or duplicate answer: nothing to do.
            _ => Vec::new(),
        }
    }

    fn build(&mut self, rules: &Rules<'_>, context: &ChainContext) -> Vec<Effect> {
        let unsigned =
            match crate::wallet::build(rules.chain, rules.policy, &self.order.key, &self.order.request, context) {
                Ok(u) => u,
                Err(e) => return self.fail(TransferFailure::Build(e.to_string())),
            };
        self.stage = Stage::Signing;
        self.unsigned = Some(unsigned.clone());
        let intent = TransferIntent { tx: self.order.tx.clone(), chain: self.order.chain.clone(), unsigned };
        vec![Effect::Propose { signable: Signable::Transfer(Box::new(intent)), signers: self.order.signers.clone() }]
    }

    /// The proposal exists: journal that it will be signed, then send it.
    fn proposed(&mut self, session: SessionId, signers: Vec<PartyIndex>) -> Vec<Effect> {
        let Some(unsigned) = self.unsigned.clone() else {
            return self.fail(TransferFailure::Finalize("the transaction was lost".into()));
        };
        if signers.is_empty() {
            return self.fail(TransferFailure::Refused("a signing needs signers".into()));
        }
        self.order.signers = signers.clone();
        self.signing = Some((session, signers.clone()));
        self.attempts += 1;
        let attempt = self.attempts;
        vec![
            Effect::Journal(Record::Signing(Box::new(SigningStep { session, signers, unsigned, attempt }))),
            Effect::Submit { session },
        ]
    }

    fn signed(&mut self, rules: &Rules<'_>, result: SignResult) -> Vec<Effect> {
        let (session, signatures) = match result {
            SignResult::Signed(session, sigs) => (session, sigs),
            // Declined before it started: no member ran it, so no signature can exist.
            SignResult::Refused(reason) => return self.fail(TransferFailure::Refused(reason)),
            // It ran and failed here; another signer may still have completed it.
            SignResult::Failed(reason) => {
                let Some((session, signers)) = self.signing.clone() else {
                    return self.fail(TransferFailure::Signing(reason));
                };
                self.signing_failed = Some(reason);
                self.stage = Stage::Recovering;
                return vec![Effect::AskOutcome { session, signers, after_ms: 0 }];
            }
        };
        self.complete(rules, session, signatures)
    }

    /// The signers' answers about a signing whose end was not known here: a signer's valid
    /// signatures finish the transfer; every signer having given it up proves none exists.
    fn recover(&mut self, rules: &Rules<'_>, answers: Vec<(PartyIndex, Outcome)>) -> Vec<Effect> {
        let Some((session, signers)) = self.signing.clone() else { return Vec::new() };
        let Some(unsigned) = self.unsigned.clone() else { return Vec::new() };
        for (_, outcome) in &answers {
            if let Outcome::Signed(sigs) = outcome {
                // A member's answer is checked like any signature: a bad one is ignored.
                if crate::wallet::complete(rules.chain, &self.order.key, &unsigned, sigs).is_ok() {
                    return self.complete(rules, session, sigs.clone());
                }
            }
        }
        let gave_up = |p: &PartyIndex| answers.iter().any(|(q, o)| q == p && *o == Outcome::Abandoned);
        if !signers.iter().all(gave_up) {
            return vec![Effect::AskOutcome { session, signers, after_ms: ASK_AGAIN_MS }];
        }
        if std::mem::take(&mut self.repropose) {
            // Interrupted mid-signing and given up by all: the same transaction, once more.
            self.signing = None;
            self.stage = Stage::Signing;
            let intent = TransferIntent { tx: self.order.tx.clone(), chain: self.order.chain.clone(), unsigned };
            let signable = Signable::Transfer(Box::new(intent));
            return vec![Effect::Propose { signable, signers: self.order.signers.clone() }];
        }
        let why = self.signing_failed.take().unwrap_or_else(|| "interrupted".into());
        self.fail(TransferFailure::Signing(format!(
            "{why}; every signer gave session {session} up: no signature exists"
        )))
    }

    /// Signatures made (by this node's session, or kept by a signer): finish the transaction.
    fn complete(&mut self, rules: &Rules<'_>, session: SessionId, signatures: Vec<Signature>) -> Vec<Effect> {
        self.signing = None;
        let Some(unsigned) = self.unsigned.take() else {
            return self.fail(TransferFailure::Finalize("the transaction was lost".into()));
        };
        let signed = match crate::wallet::complete(rules.chain, &self.order.key, &unsigned, &signatures) {
            Ok(s) => s,
            Err(e) => return self.fail(TransferFailure::Finalize(e.to_string())),
        };
        self.signed = Some(signed.clone());
        self.stage = Stage::Signed;
        let txid = signed.txid.clone();
        vec![
            Effect::Journal(Record::Signed(Box::new(SignedStep {
                session,
                unsigned: unsigned.clone(),
                signatures: signatures.clone(),
                signed: signed.clone(),
            }))),
            Effect::Tell(TransferStage::Signed { chain_txid: txid.clone(), session, unsigned, signatures }),
            Effect::CheckStatus { txid, after_ms: 0 },
        ]
    }

    fn broadcast_recorded(&mut self, now: Millis) -> Vec<Effect> {
        let Some(txid) = self.signed.as_ref().map(|s| s.txid.clone()) else {
            return self.fail(TransferFailure::Finalize("no signed transaction".into()));
        };
        self.stage = Stage::Following { since_ms: now };
        let mut effects = vec![
            Effect::Journal(Record::Broadcast { chain_txid: txid.clone() }),
            Effect::Tell(TransferStage::Broadcast { chain_txid: txid.clone() }),
        ];
        effects.extend(self.release());
        effects.push(Effect::CheckStatus { txid, after_ms: 0 });
        effects
    }

    fn follow(
        &mut self,
        rules: &Rules<'_>,
        now: Millis,
        since_ms: Millis,
        status: Result<TxStatus, String>,
    ) -> Vec<Effect> {
        let Some(txid) = self.signed.as_ref().map(|s| s.txid.clone()) else { return Vec::new() };
        match status {
            Ok(TxStatus::Confirmed { block, confirmations }) if confirmations >= u64::from(rules.confirmations) => {
                let confirmations = u32::try_from(confirmations).unwrap_or(u32::MAX);
                self.stage = Stage::Confirmed;
                vec![
                    Effect::Journal(Record::Confirmed { block, confirmations }),
                    Effect::Tell(TransferStage::Confirmed { chain_txid: txid, block, confirmations }),
                    Effect::Finished,
                ]
            }
            Ok(TxStatus::Failed { reason }) => self.fail(TransferFailure::ChainRejected(reason)),
            // Pending, unknown, not deep enough, or the chain node did not answer: ask again.
            _ if now.saturating_sub(since_ms) >= rules.follow_ms => {
                self.stage = Stage::Unfollowed;
                vec![Effect::Finished]
            }
            _ => vec![Effect::CheckStatus { txid, after_ms: rules.poll_ms }],
        }
    }

    fn release(&mut self) -> Option<Effect> {
        std::mem::take(&mut self.holds_turn).then_some(Effect::ReleaseTurn)
    }

    fn fail(&mut self, failure: TransferFailure) -> Vec<Effect> {
        self.stage = Stage::Failed(failure.clone());
        let mut effects = vec![
            Effect::Journal(Record::Failed { failure: failure.clone() }),
            Effect::Tell(TransferStage::Failed { kind: failure.kind(), reason: failure.to_string() }),
        ];
        effects.extend(self.release());
        effects.push(Effect::Finished);
        effects
    }
}
