//! Ceremonies without a coordinator: any member proposes, every participant checks the
//! proposal against its own policy and votes, and each starts the session itself once every
//! participant accepted. Pure bookkeeping: the node carries proposals and votes as control
//! envelopes (round 0 of the proposal's session) over its authenticated transport.
//!
//! The session id is derived from the proposal's canonical bytes (proposer and a nonce
//! included), so two members proposing at the same time make two distinct sessions, never one
//! ceremony twice; a proposal seen again is recognised by its id.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::batch::MAX_PARTS;
use crate::ceremony::Millis;
use crate::envelope::{decode_bounded, encode_bounded};
use crate::error::CodecError;
use crate::ids::{PartyIndex, SchemeId, SessionId, WalletId};
pub use crate::signable::Signable;

/// The furthest ahead a proposal may expire: a member cannot make others keep one for long.
pub const MAX_LIFETIME_MS: u64 = 10 * 60 * 1000;

/// The most proposals of one other member a node holds open (not yet decided) at once: a
/// member cannot grow the others' memory by proposing faster than they decide.
pub const MAX_OPEN_PER_PROPOSER: usize = 64;

/// The envelope round that carries proposals and votes.
pub const CONTROL_ROUND: u16 = 0;
const CONTROL_LIMIT: u64 = 1024 * 1024;

/// What a proposal asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProposalKind {
    /// The committee setup a scheme needs before its first keygen (CGGMP24 auxiliary info).
    Setup {
        /// The scheme.
        scheme: SchemeId,
    },
    /// A dealerless key generation for a new wallet.
    Keygen {
        /// The wallet to create.
        wallet: WalletId,
        /// Its scheme.
        scheme: SchemeId,
        /// Signers needed.
        threshold: u16,
    },
    /// Signatures with an existing wallet: one per payload of what is signed, all in this
    /// one session (one vote round for a whole transaction).
    Sign {
        /// The wallet.
        wallet: WalletId,
        /// What is signed, in a form every signer inspects before voting.
        signable: Signable,
    },
    /// Presignatures for a wallet, made by exactly the participants (CGGMP24), in idle time.
    Presign {
        /// The wallet.
        wallet: WalletId,
        /// How many, 1..=[`crate::presign::MAX_PRESIGN_BATCH`].
        count: u16,
    },
    /// A one-round signing with presignatures the participants made together, one per
    /// payload, each used once; only for what every signer hashes itself, never a raw digest.
    SignPresigned {
        /// The wallet.
        wallet: WalletId,
        /// What is signed (never [`Signable::Raw`]).
        signable: Signable,
        /// The presignature for each payload, in order.
        presignatures: Vec<SessionId>,
    },
    /// A proactive refresh of a wallet's shares by the whole committee: same group key, new
    /// shares; the old ones are useless beside the new.
    Refresh {
        /// The wallet.
        wallet: WalletId,
    },
    /// The repair of `lost`'s share of a wallet by the other participants (at least t), for
    /// `lost` alone, which proposes it.
    Repair {
        /// The wallet.
        wallet: WalletId,
        /// Its scheme.
        scheme: SchemeId,
        /// Its threshold.
        threshold: u16,
        /// The member whose share is repaired (the proposer).
        lost: PartyIndex,
    },
    /// A reshare of a wallet by the whole committee to a new threshold: same group key, new
    /// shares; the old ones are useless beside the new.
    Reshare {
        /// The wallet.
        wallet: WalletId,
        /// The new threshold.
        threshold: u16,
    },
    /// A guarded export of a wallet's whole key to its proposer, by the participants (at
    /// least t), each of which an operator of that member approved.
    Export {
        /// The wallet.
        wallet: WalletId,
    },
    /// A proactive refresh that also makes new auxiliary material for the wallet's shares
    /// (CGGMP24: every member's Paillier keys; each spends one safe-prime set).
    RefreshAux {
        /// The wallet.
        wallet: WalletId,
    },
}

impl ProposalKind {
    /// The wallet and what is signed, for either kind of signing.
    pub fn signing(&self) -> Option<(&WalletId, &Signable)> {
        match self {
            Self::Sign { wallet, signable } | Self::SignPresigned { wallet, signable, .. } => Some((wallet, signable)),
            _ => None,
        }
    }
}

/// A proposal, as broadcast by its proposer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Who proposes.
    pub proposer: PartyIndex,
    /// Makes every proposal distinct (random, or a counter the proposer never repeats).
    pub nonce: [u8; 16],
    /// What.
    pub kind: ProposalKind,
    /// Who takes part (sorted, distinct): the whole committee for keygen, the signers for signing.
    pub participants: Vec<PartyIndex>,
    /// After this (proposer's wall clock, ms since the epoch) nobody starts it.
    pub expires_at_ms: u64,
}

impl Proposal {
    /// Canonical bytes (what the session id commits to).
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, CodecError> {
        encode_bounded(self, CONTROL_LIMIT)
    }

    /// The session this proposal starts.
    pub fn session(&self) -> Result<SessionId, CodecError> {
        let domain = match self.kind {
            ProposalKind::Setup { .. } => "setup",
            ProposalKind::Keygen { .. } => "keygen",
            ProposalKind::Sign { .. } | ProposalKind::SignPresigned { .. } => "sign",
            ProposalKind::Presign { .. } => "presign",
            ProposalKind::Refresh { .. } => "refresh",
            ProposalKind::RefreshAux { .. } => "refresh-aux",
            ProposalKind::Repair { .. } => "repair",
            ProposalKind::Reshare { .. } => "reshare",
            ProposalKind::Export { .. } => "export",
        };
        Ok(SessionId::derive(domain, &self.canonical_bytes()?))
    }
}

/// A participant's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Vote {
    /// Will take part.
    Accept,
    /// Will not, and why (policy, limit, breaker, unknown wallet...).
    Decline(String),
}

/// What travels in a control envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Control {
    /// A new proposal.
    Propose(Proposal),
    /// A vote on the proposal of `session`.
    Vote {
        /// The proposal's session.
        session: SessionId,
        /// The answer.
        vote: Vote,
    },
    /// A transfer's progress, from its proposer.
    Notice(Box<crate::wallet::TransferNotice>),
    /// Said to a member on every (re)connection: which run of this node's process is speaking.
    /// A new `boot` means it restarted and lost every ceremony it was in.
    Hello {
        /// Random, drawn once per process start.
        boot: u64,
    },
    /// From a signing's proposer that lost track of it (a restart, a failure): did you
    /// complete `session`? Answered with [`Control::Outcome`].
    AskOutcome {
        /// The signing session.
        session: SessionId,
    },
    /// A participant's answer to [`Control::AskOutcome`].
    Outcome {
        /// The signing session.
        session: SessionId,
        /// What this member holds of it.
        outcome: Outcome,
    },
    /// A coordinated abort, signed with the aborting node's key.
    Abort(crate::abort::SignedAbort),
    /// From a member holding a refreshed share it could not yet make live: did refresh
    /// `session` of `wallet` commit at yours? Answered with [`Control::Outcome`]
    /// ([`Outcome::Refreshed`], [`Outcome::Staged`] or [`Outcome::Abandoned`]), or not at all
    /// while it still runs there.
    AskRefresh {
        /// The refresh session.
        session: SessionId,
        /// Its wallet.
        wallet: WalletId,
    },
    /// Every step of one transfer, in order, told again to a member that reconnected: one
    /// message, so no step can overtake the one it follows. At most [`STEPS_LIMIT`] steps.
    Steps(Vec<crate::wallet::TransferNotice>),
}

/// The most steps of one transfer a [`Control::Steps`] carries (a member ignores more).
pub const STEPS_LIMIT: usize = 16;

/// What a member holds of a signing session its proposer asks about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// It completed here: its signatures, one per payload (the asker re-checks them).
    Signed(Vec<crate::scheme::Signature>),
    /// It did not complete here, and never will: this member gave it up for good.
    Abandoned,
    /// A refresh: its new share is live here.
    Refreshed,
    /// A refresh: its new share is staged here, not live, and it runs no more here.
    Staged,
}

impl Control {
    /// Encodes for a control envelope's payload.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        encode_bounded(self, CONTROL_LIMIT)
    }

    /// Decodes peer bytes (bounded, never panics).
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        decode_bounded(bytes, CONTROL_LIMIT)
    }
}

/// Why a proposal was not taken up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    /// Malformed: participants unsorted, duplicated, too few, or the proposer/sender outside.
    #[error("invalid proposal: {0}")]
    Invalid(String),
    /// Its expiry has passed.
    #[error("proposal expired")]
    Expired,
    /// A vote for a proposal we do not know, or from a non-participant.
    #[error("unexpected vote: {0}")]
    UnexpectedVote(String),
    /// The proposer already has [`MAX_OPEN_PER_PROPOSER`] proposals open here.
    #[error("party {0} already has {MAX_OPEN_PER_PROPOSER} proposals open here")]
    TooManyOpen(PartyIndex),
    /// Encoding.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// What the book decided after an input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do yet.
    Pending,
    /// Every participant accepted: start the session.
    Start(SessionId),
    /// Someone declined (or it expired): drop it, with why.
    Abandon {
        /// The session.
        session: SessionId,
        /// Who declined and why, or who never answered.
        why: Abandoned,
    },
}

/// Why a proposal was dropped before its session started.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Abandoned {
    /// A participant declined (its own policy), with the reason it gave.
    #[error("party {party} declined: {reason}")]
    Declined {
        /// Who.
        party: PartyIndex,
        /// Its reason.
        reason: String,
    },
    /// Its lifetime ended before every participant accepted.
    #[error("expired before every participant accepted (no answer from {missing:?})")]
    Expired {
        /// The participants whose acceptance never arrived.
        missing: Vec<PartyIndex>,
    },
    /// A participant's connection dropped and it did not come back in time.
    #[error("party {party} unreachable before the session started")]
    Unreachable {
        /// Who.
        party: PartyIndex,
    },
}

struct Entry {
    proposal: Proposal,
    accepted: BTreeSet<PartyIndex>,
    settled: bool,
}

/// Tracks open proposals and their votes for one node.
#[derive(Default)]
pub struct ProposalBook {
    open: BTreeMap<SessionId, Entry>,
}

impl ProposalBook {
    /// Checks the shape of a proposal received from `sender` (or made by us).
    pub fn check(
        proposal: &Proposal,
        sender: PartyIndex,
        committee_size: u16,
        now_ms: u64,
    ) -> Result<(), ProposalError> {
        let p = &proposal.participants;
        if p.windows(2).any(|w| w[0] >= w[1]) {
            return Err(ProposalError::Invalid("participants must be sorted and distinct".into()));
        }
        if p.iter().any(|&i| i >= committee_size) {
            return Err(ProposalError::Invalid("participant outside the committee".into()));
        }
        if proposal.proposer != sender {
            return Err(ProposalError::Invalid(format!(
                "sent by {sender} but names {} as proposer",
                proposal.proposer
            )));
        }
        if !p.contains(&proposal.proposer) {
            return Err(ProposalError::Invalid("the proposer must take part".into()));
        }
        match &proposal.kind {
            ProposalKind::Setup { .. } => {
                if p.len() != usize::from(committee_size) {
                    return Err(ProposalError::Invalid("a setup involves the whole committee".into()));
                }
            }
            ProposalKind::Keygen { threshold, .. } => {
                if p.len() != usize::from(committee_size) {
                    return Err(ProposalError::Invalid("a keygen involves the whole committee".into()));
                }
                if *threshold < 2 || usize::from(*threshold) > p.len() {
                    return Err(ProposalError::Invalid(format!("threshold {threshold} of {}", p.len())));
                }
            }
            ProposalKind::Presign { count, .. } => {
                if p.len() < 2 {
                    return Err(ProposalError::Invalid("a presigning needs at least two signers".into()));
                }
                if *count == 0 || *count > crate::presign::MAX_PRESIGN_BATCH {
                    return Err(ProposalError::Invalid(format!(
                        "{count} presignatures in one presigning; 1 to {}",
                        crate::presign::MAX_PRESIGN_BATCH
                    )));
                }
            }
            ProposalKind::SignPresigned { signable, presignatures, .. } => {
                if signable.is_raw() {
                    return Err(ProposalError::Invalid("a raw digest is never signed with a presignature".into()));
                }
                if presignatures.len() != signable.payloads().len() {
                    return Err(ProposalError::Invalid("one presignature per payload".into()));
                }
                let distinct: BTreeSet<&SessionId> = presignatures.iter().collect();
                if distinct.len() != presignatures.len() {
                    return Err(ProposalError::Invalid("a presignature named twice".into()));
                }
                Self::check_signing(p, signable)?;
            }
            ProposalKind::Sign { signable, .. } => Self::check_signing(p, signable)?,
            ProposalKind::Refresh { .. } | ProposalKind::RefreshAux { .. } => {
                if p.len() != usize::from(committee_size) {
                    return Err(ProposalError::Invalid("a refresh involves the whole committee".into()));
                }
            }
            ProposalKind::Reshare { threshold, .. } => {
                if p.len() != usize::from(committee_size) {
                    return Err(ProposalError::Invalid("a reshare involves the whole committee".into()));
                }
                if *threshold < 2 || *threshold > committee_size {
                    return Err(ProposalError::Invalid(format!("no {threshold}-of-{committee_size} reshare")));
                }
            }
            ProposalKind::Export { .. } => {
                if p.len() < 2 {
                    return Err(ProposalError::Invalid("an export needs the shares of at least two members".into()));
                }
            }
            ProposalKind::Repair { lost, threshold, .. } => {
                if *lost != proposal.proposer {
                    return Err(ProposalError::Invalid("only the member repairing proposes its repair".into()));
                }
                if *threshold < 2 || p.len() <= usize::from(*threshold) {
                    return Err(ProposalError::Invalid(format!("a repair needs t = {threshold} helpers")));
                }
            }
        }
        if proposal.expires_at_ms <= now_ms {
            return Err(ProposalError::Expired);
        }
        if proposal.expires_at_ms > now_ms.saturating_add(MAX_LIFETIME_MS) {
            return Err(ProposalError::Invalid(format!("expires more than {MAX_LIFETIME_MS} ms ahead")));
        }
        Ok(())
    }

    fn check_signing(p: &[PartyIndex], signable: &Signable) -> Result<(), ProposalError> {
        if p.len() < 2 {
            return Err(ProposalError::Invalid("a signing needs at least two signers".into()));
        }
        let payloads = signable.payloads();
        if payloads.is_empty() || payloads.iter().any(Vec::is_empty) {
            return Err(ProposalError::Invalid("nothing to sign".into()));
        }
        if payloads.len() > MAX_PARTS {
            return Err(ProposalError::Invalid(format!(
                "{} payloads in one signing; at most {MAX_PARTS}",
                payloads.len()
            )));
        }
        Ok(())
    }

    /// Records a proposal (ours or a peer's) and our own vote on it. A proposal seen before is
    /// recognised and not recorded twice.
    pub fn propose(
        &mut self,
        proposal: Proposal,
        me: PartyIndex,
        my_vote: &Vote,
    ) -> Result<(SessionId, Decision), ProposalError> {
        let session = proposal.session()?;
        if self.open.contains_key(&session) {
            return Ok((session, Decision::Pending));
        }
        let mut entry = Entry { proposal, accepted: BTreeSet::new(), settled: false };
        let decision = match my_vote {
            Vote::Accept => {
                entry.accepted.insert(me);
                Self::decide(session, &mut entry)
            }
            Vote::Decline(why) => {
                entry.settled = true;
                Decision::Abandon { session, why: Abandoned::Declined { party: me, reason: why.clone() } }
            }
        };
        self.open.insert(session, entry);
        Ok((session, decision))
    }

    /// Records a proposal without our vote yet (we vote later with [`Self::vote`], e.g. once a
    /// wallet it names has finished its keygen here).
    pub fn hold(&mut self, proposal: Proposal) -> Result<SessionId, ProposalError> {
        let session = proposal.session()?;
        if self.open.contains_key(&session) {
            return Ok(session);
        }
        let by = proposal.proposer;
        if self.open.values().filter(|e| !e.settled && e.proposal.proposer == by).count() >= MAX_OPEN_PER_PROPOSER {
            return Err(ProposalError::TooManyOpen(by));
        }
        self.open.entry(session).or_insert(Entry { proposal, accepted: BTreeSet::new(), settled: false });
        Ok(session)
    }

    /// Whether `party` accepted `session` (as far as this book heard).
    pub fn accepted(&self, session: &SessionId, party: PartyIndex) -> bool {
        self.open.get(session).is_some_and(|e| e.accepted.contains(&party))
    }

    /// Whether `session` is known (open or settled, not yet forgotten).
    pub fn contains(&self, session: &SessionId) -> bool {
        self.open.contains_key(session)
    }

    /// Forgets settled proposals that have expired, except `keep` (still running). An expired
    /// proposal is refused by [`Self::check`], so forgetting it cannot let it start again.
    pub fn forget_expired(&mut self, now_ms: u64, keep: impl Fn(&SessionId) -> bool) {
        self.open.retain(|s, e| !e.settled || e.proposal.expires_at_ms > now_ms || keep(s));
    }

    /// Records `from`'s vote.
    pub fn vote(&mut self, session: SessionId, from: PartyIndex, vote: &Vote) -> Result<Decision, ProposalError> {
        let entry = self
            .open
            .get_mut(&session)
            .ok_or_else(|| ProposalError::UnexpectedVote(format!("unknown session {session:?}")))?;
        if !entry.proposal.participants.contains(&from) {
            return Err(ProposalError::UnexpectedVote(format!("party {from} is not a participant")));
        }
        if entry.settled {
            return Ok(Decision::Pending);
        }
        match vote {
            Vote::Accept => {
                entry.accepted.insert(from);
                Ok(Self::decide(session, entry))
            }
            Vote::Decline(why) => {
                entry.settled = true;
                Ok(Decision::Abandon { session, why: Abandoned::Declined { party: from, reason: why.clone() } })
            }
        }
    }

    fn decide(session: SessionId, entry: &mut Entry) -> Decision {
        if !entry.settled && entry.proposal.participants.iter().all(|p| entry.accepted.contains(p)) {
            entry.settled = true;
            Decision::Start(session)
        } else {
            Decision::Pending
        }
    }

    /// Drops proposals that expired before they settled; returns them as abandoned.
    pub fn expire(&mut self, now_ms: u64) -> Vec<Decision> {
        let mut out = Vec::new();
        for (session, e) in self.open.iter_mut() {
            if !e.settled && e.proposal.expires_at_ms <= now_ms {
                e.settled = true;
                let missing = e.proposal.participants.iter().copied().filter(|p| !e.accepted.contains(p)).collect();
                out.push(Decision::Abandon { session: *session, why: Abandoned::Expired { missing } });
            }
        }
        out
    }

    /// Drops the open proposals `party` takes part in (it is gone); returns them as abandoned.
    /// With `only_accepted`, just those it had already accepted (it restarted: that acceptance,
    /// and any session it started on it, are lost; the others it can still answer).
    /// Proposals `keep` names are left alone.
    pub fn abandon_with(
        &mut self,
        party: PartyIndex,
        only_accepted: bool,
        keep: impl Fn(&SessionId) -> bool,
    ) -> Vec<Decision> {
        let mut out = Vec::new();
        for (session, e) in self.open.iter_mut() {
            let named = e.proposal.participants.contains(&party);
            if !e.settled && named && (!only_accepted || e.accepted.contains(&party)) && !keep(session) {
                e.settled = true;
                out.push(Decision::Abandon { session: *session, why: Abandoned::Unreachable { party } });
            }
        }
        out
    }

    /// Whether `session` is open (not settled) and still lacks `party`'s acceptance.
    pub fn waiting_on(&self, session: &SessionId, party: PartyIndex) -> bool {
        self.open.get(session).is_some_and(|e| !e.settled && !e.accepted.contains(&party))
    }

    /// The proposal of `session`, if known.
    pub fn get(&self, session: &SessionId) -> Option<&Proposal> {
        self.open.get(session).map(|e| &e.proposal)
    }

    /// Forgets settled proposals (after their session ended).
    pub fn forget(&mut self, session: &SessionId) {
        self.open.remove(session);
    }
}

/// Wall-clock expiry helper: `now + ttl`.
pub fn expiry(now_ms: u64, ttl: Millis) -> u64 {
    now_ms.saturating_add(ttl)
}

#[cfg(test)]
mod tests;
