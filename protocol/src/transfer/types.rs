//! What the transfer machine is given, told and asks for: its order and rules, its inputs,
//! the records it journals and the effects it asks the actor to carry out.

use crate::ceremony::Millis;
use crate::chains::rpc::TxStatus;
use crate::chains::{Chain, ChainContext, SignedTx, TransferRequest, UnsignedTx};
use crate::ids::{PartyIndex, SessionId, WalletId};
use crate::proposal::{Outcome, Signable};
use crate::scheme::{PublicKey, Signature};
use crate::wallet::{TransferPolicy, TransferStage};

use super::TransferFailure;

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
    /// The manager made the signing proposal (not yet sent): its session and signers (chosen
    /// then if the order named none), or why not.
    Proposed(Result<(SessionId, Vec<PartyIndex>), String>),
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
    /// Which signing of the transfer this is (1: the first).
    pub attempt: u32,
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
