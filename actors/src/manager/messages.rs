//! What the session manager is told and asked.

use network::p2p::NetEvent;
use protocol::proposal::{Outcome, Proposal, ProposalKind};
use protocol::wallet::TransferNotice;
use protocol::{KeyShare, PartyIndex, SessionId, SetupMaterial, Signature};
use ractor::RpcReplyPort;

use super::{SessionInfo, SessionStatus};
use crate::session::SessionOutcome;

/// Messages of the manager.
pub enum ManagerMsg {
    /// A session's round report, straggler or end (the breaker, the adaptive timeout).
    Observed(crate::session::Observation),
    /// A member's abort was checked by its session and ignored.
    AbortIgnored(SessionId, PartyIndex, protocol::abort::AbortRejection),
    /// A checked abort that blamed nobody, held back a moment so this member's own verdict
    /// (which may name a cheater) can end the session first.
    AbortHeld(PartyIndex, protocol::abort::SignedAbort),
    /// Propose a ceremony; replies with its session id, or why our own policy refuses it.
    Propose {
        /// What.
        kind: ProposalKind,
        /// Who takes part (sorted).
        participants: Vec<PartyIndex>,
        /// Reply.
        reply: RpcReplyPort<Result<SessionId, crate::Error>>,
    },
    /// Make (not send) a proposal this node's policy accepts; [`ManagerMsg::Submit`] sends it.
    Prepare {
        /// What.
        kind: ProposalKind,
        /// Who takes part (sorted).
        participants: Vec<PartyIndex>,
        /// Reply.
        reply: RpcReplyPort<Result<Proposal, crate::Error>>,
    },
    /// Send a proposal made by [`ManagerMsg::Prepare`].
    Submit {
        /// The proposal.
        proposal: Proposal,
        /// Reply: its session.
        reply: RpcReplyPort<Result<SessionId, crate::Error>>,
    },
    /// Ask the signers of `session` (this node included) how it ended for them; replies with
    /// the answers that came within [`super::outcomes::ASK_WAIT`].
    AskOutcome {
        /// The signing session.
        session: SessionId,
        /// Its signers.
        participants: Vec<PartyIndex>,
        /// Reply.
        reply: RpcReplyPort<Vec<(PartyIndex, Outcome)>>,
    },
    /// The wait for answers about `session` is over.
    AskOver(SessionId),
    /// Propose a ceremony to `who`, chosen among the members connected now.
    ProposeAmong {
        /// What.
        kind: ProposalKind,
        /// Who takes part.
        who: crate::signers::Who,
        /// Reply.
        reply: RpcReplyPort<Result<SessionId, crate::Error>>,
    },
    /// Status of a session.
    Status {
        /// The session.
        session: SessionId,
        /// Reply.
        reply: RpcReplyPort<Option<SessionStatus>>,
    },
    /// Everything known about a session.
    Info {
        /// The session.
        session: SessionId,
        /// Reply.
        reply: RpcReplyPort<Option<SessionInfo>>,
    },
    /// Replies once the session has ended (at once if it has, `None` if unknown).
    Watch {
        /// The session.
        session: SessionId,
        /// Reply.
        reply: RpcReplyPort<Option<SessionInfo>>,
    },
    /// The most recently seen sessions, newest first.
    List {
        /// At most this many.
        limit: usize,
        /// Reply.
        reply: RpcReplyPort<Vec<SessionInfo>>,
    },
    /// Tell one member every step of a transfer, in order (a member that reconnected catching up).
    NotifyTo(PartyIndex, Vec<protocol::wallet::TransferNotice>),
    /// Something from the network.
    Net(NetEvent),
    /// Something from the network holding one of the bridge's permits until it is handled:
    /// the transport's bounded channel stays the bound on what waits here.
    Backlogged(NetEvent, tokio::sync::OwnedSemaphorePermit),
    /// A setup session ended.
    SetupDone(SessionId, SessionOutcome<SetupMaterial>),
    /// A keygen session ended.
    KeygenDone(SessionId, SessionOutcome<KeyShare>),
    /// A signing session ended: one signature per payload, in order.
    SignDone(SessionId, SessionOutcome<Vec<Signature>>),
    /// Periodic: expire proposals nobody settled, forget old ones.
    Sweep,
    /// Tell every member how a transfer this node proposed is going.
    Notify(TransferNotice),
    /// How many sessions have envelopes or votes buffered before their start (diagnostics).
    Buffered(RpcReplyPort<(usize, usize)>),
    /// The grace of a member's connection drop has passed.
    GraceOver(PartyIndex, u64),
    /// A presigning session ended (its presignatures stored first).
    PresignDone(SessionId, SessionOutcome<Vec<protocol::presign::Presignature>>),
    /// The refill chosen off the manager: wallet, signer set and count, or nothing to do.
    Refill(Option<(protocol::WalletId, Vec<PartyIndex>, u16)>),
    /// The signer set with presignatures of a wallet ready (see the pool), if any.
    PooledSigners {
        /// The wallet.
        wallet: protocol::WalletId,
        /// Payloads to sign: presignatures needed.
        needed: usize,
        /// Reply.
        reply: RpcReplyPort<Option<Vec<PartyIndex>>>,
    },
    /// Discard every presignature of a wallet held here (an operator's call); replies how many.
    DiscardPresignatures {
        /// The wallet.
        wallet: protocol::WalletId,
        /// Reply.
        reply: RpcReplyPort<Result<usize, crate::Error>>,
    },
    /// Our presigned signing was abandoned: propose it in full, then end it. The proposal
    /// travels along: the book may forget it (expired) before this is handled.
    FallBack(SessionId, Box<protocol::proposal::Proposal>, super::SessionFailure),
    /// A repair ended here (the member repairing stored its share): the group key.
    RepairDone(SessionId, SessionOutcome<protocol::PublicKey>),
    /// A refresh session ended (its share live if every member confirmed).
    RefreshDone(SessionId, SessionOutcome<KeyShare>),
    /// The members' answers about a refresh staged here.
    RefreshResolved {
        /// The wallet.
        wallet: protocol::WalletId,
        /// The refresh.
        session: SessionId,
        /// Who said what.
        answers: Vec<(PartyIndex, protocol::proposal::Outcome)>,
    },
    /// An export session ended here (`Some(key)` at its receiver).
    ExportDone(SessionId, SessionOutcome<Option<protocol::SecretBytes>>),
    /// This member's operator approves one export of `wallet` to `receiver`, for `ttl`.
    ApproveExport {
        /// The wallet.
        wallet: protocol::WalletId,
        /// Who may receive the key.
        receiver: PartyIndex,
        /// How long the approval waits (at most [`super::MAX_APPROVAL`]).
        ttl: std::time::Duration,
        /// Reply.
        reply: RpcReplyPort<Result<(), crate::Error>>,
    },
    /// Propose an export of `wallet` to this node among `participants`; the key goes to `sink`.
    ProposeExport {
        /// The wallet.
        wallet: protocol::WalletId,
        /// Who sends a share (sorted, this node among them).
        participants: Vec<PartyIndex>,
        /// Where the key goes.
        sink: super::KeySink,
        /// Reply: the session.
        reply: RpcReplyPort<Result<SessionId, crate::Error>>,
    },
}
