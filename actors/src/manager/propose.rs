//! This node's own proposals: made (checked against its own policy), then sent. A transfer
//! makes its signing proposal first and journals it before it is sent, so a restarted
//! proposer knows which session to ask its signers about.

use protocol::proposal::{expiry, Control, Proposal, ProposalBook, ProposalError, ProposalKind, Vote};
use protocol::{PartyIndex, SessionId};
use ractor::ActorRef;

use super::{now_ms, ManagerMsg, ManagerState, Verdict};

impl ManagerState {
    /// Makes a proposal this node would send now: well-formed, and its own policy accepts it.
    /// Nothing is reserved or sent.
    pub(super) fn prepare(
        &mut self,
        kind: ProposalKind,
        participants: Vec<PartyIndex>,
    ) -> Result<Proposal, crate::Error> {
        self.made(kind, participants, true).map(|(proposal, _)| proposal)
    }

    /// A proposal made now, with what it would reserve; a signing names presignatures from
    /// the pool when `pooled` and the pool has them.
    fn made(
        &mut self,
        kind: ProposalKind,
        participants: Vec<PartyIndex>,
        pooled: bool,
    ) -> Result<(Proposal, Vec<String>), crate::Error> {
        self.args.keystore.writable().map_err(|e| crate::Error::StoreRefuses(e.to_string()))?;
        let kind = if pooled { self.with_presignatures(kind, &participants) } else { kind };
        if matches!(kind, ProposalKind::Setup { .. } | ProposalKind::Keygen { .. }) {
            self.dkg_admitted()?;
        }
        if let ProposalKind::Keygen { scheme, .. } = &kind {
            self.setup_ready(scheme)?;
        }
        if let ProposalKind::Setup { scheme } = &kind {
            self.setup_free(scheme)?;
        }
        let mut nonce = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
        let proposal = Proposal {
            proposer: self.args.me,
            nonce,
            kind,
            participants,
            expires_at_ms: expiry(now_ms(), self.args.proposal_ttl.as_millis() as u64),
        };
        self.admissible(&proposal).map(|spends| (proposal, spends))
    }

    /// Checks `proposal` as this node's own and returns what it would reserve.
    fn admissible(&self, proposal: &Proposal) -> Result<Vec<String>, crate::Error> {
        if proposal.proposer != self.args.me {
            return Err(ProposalError::Invalid("not this node's proposal".into()).into());
        }
        ProposalBook::check(proposal, self.args.me, self.args.parties, now_ms())?;
        let session = proposal.session().map_err(ProposalError::from)?;
        match self.policy(session, proposal) {
            Verdict::Decline(why) => Err(crate::Error::Declined(why)),
            Verdict::Defer(pending) => Err(crate::Error::Pending(pending.to_string())),
            Verdict::Accept(spends) => Ok(spends),
        }
    }

    /// Sends a proposal made by [`Self::prepare`] (checked again: time has passed).
    pub(super) async fn submit(
        &mut self,
        myself: &ActorRef<ManagerMsg>,
        proposal: Proposal,
    ) -> Result<SessionId, crate::Error> {
        let spends = self.admissible(&proposal)?;
        self.send(myself, proposal, spends).await
    }

    /// Opens `proposal` in the book, reserves what it uses up, and sends it.
    async fn send(
        &mut self,
        myself: &ActorRef<ManagerMsg>,
        proposal: Proposal,
        spends: Vec<String>,
    ) -> Result<SessionId, crate::Error> {
        let session = proposal.session().map_err(ProposalError::from)?;
        if self.book.contains(&session) {
            return Err(ProposalError::Invalid("this proposal is open already".into()).into());
        }
        self.within_limits(session, &proposal).await.map_err(crate::Error::Limited)?;
        self.reserve(session, &proposal, spends)?;
        let (session, decision) = self.book.propose(proposal.clone(), self.args.me, &Vote::Accept)?;
        self.remember(session, &proposal);
        // Gossip tells members outside it to ignore its rounds; participants hear it directly.
        self.control(session, &Control::Propose(proposal.clone()));
        let (participants, expires) = (proposal.participants.clone(), proposal.expires_at_ms);
        self.say(session, &participants, expires, Control::Propose(proposal));
        self.decided(myself, decision).await;
        Ok(session)
    }

    /// Makes and sends a proposal.
    pub(super) async fn propose(
        &mut self,
        myself: &ActorRef<ManagerMsg>,
        kind: ProposalKind,
        participants: Vec<PartyIndex>,
    ) -> Result<SessionId, crate::Error> {
        // Checked once: nothing happens between making and sending it here.
        let (proposal, spends) = self.made(kind, participants, true)?;
        self.send(myself, proposal, spends).await
    }

    /// Makes and sends exactly this proposal (a signing stays as it is, pool or not).
    pub(super) async fn propose_exactly(
        &mut self,
        myself: &ActorRef<ManagerMsg>,
        kind: ProposalKind,
        participants: Vec<PartyIndex>,
    ) -> Result<SessionId, crate::Error> {
        let (proposal, spends) = self.made(kind, participants, false)?;
        self.send(myself, proposal, spends).await
    }
}
