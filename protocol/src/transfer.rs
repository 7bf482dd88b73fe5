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
use crate::chains::{Chain, ChainContext, SignedTx, TransferRequest, UnsignedTx};
use crate::ids::{PartyIndex, SessionId, WalletId};
use crate::proposal::{Outcome, Signable};
use crate::scheme::{PublicKey, Signature};
use crate::wallet::{TransferIntent, TransferPolicy, TransferStage};

/// What a client asked, checked, with the wallet's key and the signer set chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    /// The transaction id (`tx-<proposer>-<hex>`), its journal stream.
    pub tx: String,
    /// The paying wallet.
    pub wallet: WalletId,
    /// Its group key.
    pub key: PublicKey,
    /// Chain name.
    pub chain: String,
    /// Recipient, amount, fee ceiling.
    pub request: TransferRequest,
    /// Who signs (sorted, this node among them).
    pub signers: Vec<PartyIndex>,
}

/// What the machine consults, never changes: the chain's encoder, this node's own policy,
/// and how the transfer is followed.
pub struct Rules<'a> {
    /// The chain's encoder (pure).
    pub chain: &'a dyn Chain,
    /// This node's transfer limits (a proposer checks its own transfer first).
    pub policy: &'a TransferPolicy,
    /// Depth at which a transfer is confirmed.
    pub confirmations: u32,
    /// How long to wait between status checks.
    pub poll_ms: Millis,
    /// How long a broadcast transaction is followed before the node stops watching it.
    pub follow_ms: Millis,
}

/// Why a transfer failed. Journaled as its kind and text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransferFailure {
    /// The chain node could not give the state to build on (balance, nonce, outputs, fees).
    #[error("{0}")]
    ChainState(String),
    /// The transaction could not be built, or this node's own policy refuses it.
    #[error("{0}")]
    Build(String),
    /// A member (or this node's manager) declined the signing proposal.
    #[error("refused: {0}")]
    Refused(String),
    /// The signing ceremony failed (timeout, blamed party).
    #[error("signing failed: {0}")]
    Signing(String),
    /// The committee's signatures do not make the transaction (never expected).
    #[error("the signatures do not complete the transaction: {0}")]
    Finalize(String),
    /// The chain node refused the signed transaction.
    #[error("broadcast refused: {0}")]
    BroadcastRefused(String),
    /// The chain executed it and it failed (reverted, dropped).
    #[error("the chain failed it: {0}")]
    ChainRejected(String),
    /// A step could not be journaled.
    #[error("journal: {0}")]
    Journal(String),
    /// The proposer stopped before it proposed the signing; nothing left the node.
    #[error("interrupted before its signing was proposed; nothing was sent")]
    Interrupted,
}

/// What kind of failure ended a transfer: journaled beside its text, so a client tells a
/// refusal from a chain error by code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum FailureKind {
    /// [`TransferFailure::ChainState`].
    ChainState,
    /// [`TransferFailure::Build`].
    Build,
    /// [`TransferFailure::Refused`].
    Refused,
    /// [`TransferFailure::Signing`].
    Signing,
    /// [`TransferFailure::Finalize`].
    Finalize,
    /// [`TransferFailure::BroadcastRefused`].
    BroadcastRefused,
    /// [`TransferFailure::ChainRejected`].
    ChainRejected,
    /// [`TransferFailure::Journal`].
    Journal,
    /// [`TransferFailure::Interrupted`].
    Interrupted,
    /// Journaled by a release that did not record the kind.
    Unknown,
}

impl FailureKind {
    /// Stable name (clients match on it).
    pub fn name(self) -> &'static str {
        match self {
            Self::ChainState => "chain_state",
            Self::Build => "build",
            Self::Refused => "refused",
            Self::Signing => "signing",
            Self::Finalize => "finalize",
            Self::BroadcastRefused => "broadcast_refused",
            Self::ChainRejected => "chain_rejected",
            Self::Journal => "journal",
            Self::Interrupted => "interrupted",
            Self::Unknown => "unknown",
        }
    }
}

impl TransferFailure {
    /// Its kind.
    pub fn kind(&self) -> FailureKind {
        match self {
            Self::ChainState(_) => FailureKind::ChainState,
            Self::Build(_) => FailureKind::Build,
            Self::Refused(_) => FailureKind::Refused,
            Self::Signing(_) => FailureKind::Signing,
            Self::Finalize(_) => FailureKind::Finalize,
            Self::BroadcastRefused(_) => FailureKind::BroadcastRefused,
            Self::ChainRejected(_) => FailureKind::ChainRejected,
            Self::Journal(_) => FailureKind::Journal,
            Self::Interrupted => FailureKind::Interrupted,
        }
    }
}

/// How a signing proposal ended, as the actor reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignResult {
    /// Signed: one signature per payload, in order.
    Signed(SessionId, Vec<Signature>),
    /// Declined before the ceremony started (a member's policy, or our own).
    Refused(String),
    /// The ceremony ran and failed.
    Failed(String),
}

/// What happened, as the machine is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The wallet's lane on this chain is ours: build now.
    Turn,
    /// Members are reachable again (after a restart).
    PeersBack,
    /// Chain state to build on, or why the chain node could not give it.
    Context(Result<ChainContext, String>),
    /// The manager made the signing proposal (not yet sent): its session, or why not.
    Proposed(Result<SessionId, String>),
    /// The signing proposal ended.
    Signing(SignResult),
    /// What each signer that answered holds of the signing session asked about.
    Outcome(Vec<(PartyIndex, Outcome)>),
    /// What the chain says of the transaction (before broadcast: whether it already knows it).
    Status(Result<TxStatus, String>),
    /// The chain node's answer to the broadcast.
    Broadcast(Result<(), String>),
    /// A journal append failed.
    JournalFailed(String),
}

/// A step for the journal (the actor writes it as the matching domain event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// Requested.
    Initiated {
        /// The request.
        request: TransferRequest,
    },
    /// About to be proposed for signing in `session`: from here a signature may exist.
    Signing(Box<SigningStep>),
    /// Signed by the committee.
    Signed(Box<SignedStep>),
    /// Sent to the chain.
    Broadcast {
        /// The chain's id.
        chain_txid: String,
    },
    /// Confirmed.
    Confirmed {
        /// Block or slot.
        block: u64,
        /// Depth seen.
        confirmations: u32,
    },
    /// Failed.
    Failed {
        /// Why.
        failure: TransferFailure,
    },
}

/// A transaction the committee signed, as journaled: what a restarted proposer resumes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedStep {
    /// The signing session.
    pub session: SessionId,
    /// The transaction.
    pub unsigned: UnsignedTx,
    /// One per payload, in order.
    pub signatures: Vec<Signature>,
    /// The signed transaction and the chain's id for it.
    pub signed: SignedTx,
}

/// A signing about to be proposed, as journaled before the proposal leaves the node: what a
/// restarted proposer asks the signers about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningStep {
    /// The signing session.
    pub session: SessionId,
    /// Who signs.
    pub signers: Vec<PartyIndex>,
    /// The transaction.
    pub unsigned: UnsignedTx,
}

/// What the actor must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Append this step to the transaction's stream (synced); on failure answer
    /// [`Input::JournalFailed`] and carry out nothing after it.
    Journal(Record),
    /// Tell every member the step, so their journals follow.
    Tell(TransferStage),
    /// Queue for the wallet's lane on this chain; answer [`Input::Turn`] when it is ours.
    WaitTurn,
    /// Let the next transfer of the lane build.
    ReleaseTurn,
    /// Answer [`Input::PeersBack`] once some member is connected.
    WaitPeers,
    /// Ask the chain node for what `request` from `address` needs; answer [`Input::Context`].
    FetchContext {
        /// The wallet's address on the chain.
        address: String,
        /// The request.
        request: TransferRequest,
    },
    /// Make (do not send) the proposal to sign every payload in one session; answer
    /// [`Input::Proposed`].
    Propose {
        /// What is signed (the whole transaction).
        signable: Signable,
        /// Who signs.
        signers: Vec<PartyIndex>,
    },
    /// Send the proposal made for `session` and wait for its end; answer [`Input::Signing`].
    Submit {
        /// The session.
        session: SessionId,
    },
    /// After `after_ms`, ask `signers` what they hold of `session`; answer
    /// [`Input::Outcome`] with the answers that came in time.
    AskOutcome {
        /// The signing session.
        session: SessionId,
        /// Who to ask (this node included).
        signers: Vec<PartyIndex>,
        /// Wait this long first.
        after_ms: Millis,
    },
    /// Ask the chain for `txid`'s status after `after_ms`; answer [`Input::Status`].
    CheckStatus {
        /// The chain's id.
        txid: String,
        /// Wait this long first.
        after_ms: Millis,
    },
    /// Send the signed transaction; answer [`Input::Broadcast`].
    Broadcast {
        /// Raw bytes.
        raw: Vec<u8>,
    },
    /// The transfer is over here (confirmed, failed, or no longer followed): forget it.
    Finished,
}

/// Where a transfer stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Journaled; waiting for its turn in the lane.
    Queued,
    /// Restarted: holding (or waiting for) its lane, then for members to be back.
    Resuming,
    /// Holding the lane: chain state asked for.
    Building,
    /// The committee is signing.
    Signing,
    /// The signing's end is not known here (a restart, a failed ceremony): asking the signers
    /// whether any completed it, until one has or every one gave it up.
    Recovering,
    /// Signed and journaled: asking the chain whether it already has it.
    Signed,
    /// Being broadcast.
    Broadcasting,
    /// Broadcast: followed until deep enough, since `since_ms`.
    Following {
        /// When following began.
        since_ms: Millis,
    },
    /// Deep enough.
    Confirmed,
    /// Failed, and why.
    Failed(TransferFailure),
    /// Broadcast, but not confirmed within the follow window: no longer watched here.
    Unfollowed,
}

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
    /// proposed again (the same transaction), once.
    repropose: bool,
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
        } else if let Some(SigningStep { session, signers, unsigned }) = signing {
            t.order.signers = signers.clone();
            t.signing = Some((session, signers));
            t.unsigned = Some(unsigned);
            t.repropose = true;
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
                    // Stopped before a signing was proposed: nothing left the node.
                    effects.extend(self.fail(TransferFailure::Interrupted));
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
            (Stage::Signing, Input::Proposed(Ok(session))) => self.proposed(session),
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
    fn proposed(&mut self, session: SessionId) -> Vec<Effect> {
        let Some(unsigned) = self.unsigned.clone() else {
            return self.fail(TransferFailure::Finalize("the transaction was lost".into()));
        };
        let signers = self.order.signers.clone();
        self.signing = Some((session, signers.clone()));
        vec![
            Effect::Journal(Record::Signing(Box::new(SigningStep { session, signers, unsigned }))),
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
