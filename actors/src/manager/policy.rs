//! A member's policy on a proposal: take part or not, and what it waits for first.

use protocol::proposal::{Proposal, ProposalKind, Signable, Vote};
use protocol::wallet::TransferIntent;
use protocol::{SchemeId, SessionId, WalletId};

use super::{now_ms, ManagerState, Reservation, Running, RESERVATION_MS};

/// What our policy says of a proposal.
pub(super) enum Verdict {
    /// Take part, promising these (a transfer's nonce or outputs) to it.
    Accept(Vec<String>),
    /// Refuse, and why.
    Decline(String),
    /// Waiting for something still finishing here: vote when it has.
    Defer(Pending),
}

impl Verdict {
    fn of(vote: Vote) -> Self {
        match vote {
            Vote::Accept => Self::Accept(Vec::new()),
            Vote::Decline(why) => Self::Decline(why),
        }
    }
}

/// What a deferred vote waits for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Pending {
    /// A signing waits for its wallet's keygen.
    Wallet(WalletId),
    /// A keygen waits for its scheme's committee setup.
    Setup(SchemeId),
}

impl std::fmt::Display for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Wallet(w) => write!(f, "wallet {w}"),
            Self::Setup(s) => write!(f, "the {s} committee setup"),
        }
    }
}

impl ManagerState {
    /// Our policy: set up a scheme once; take part in a keygen for a new wallet (after the
    /// scheme's setup); sign only with a wallet we hold, every payload well-formed for its
    /// scheme, and a transfer only once reviewed.
    pub(super) fn policy(&self, session: SessionId, proposal: &Proposal) -> Verdict {
        if !proposal.participants.contains(&self.args.me) {
            return Verdict::Decline("not a participant".into());
        }
        // A store that cannot write would leave a ceremony's result (a share, a signature a
        // transfer relies on) only in memory: refuse before anything starts.
        if let Err(e) = self.args.keystore.writable() {
            return Verdict::Decline(format!("member {}'s store refuses new ceremonies: {e}", self.args.me));
        }
        if self.given_up.contains(&session) {
            return Verdict::Decline("this member gave the session up at its proposer's request".into());
        }
        if matches!(
            proposal.kind,
            ProposalKind::Setup { .. }
                | ProposalKind::Keygen { .. }
                | ProposalKind::Refresh { .. }
                | ProposalKind::RefreshAux { .. }
                | ProposalKind::Reshare { .. }
        ) {
            if let Err(e) = self.dkg_admitted() {
                return Verdict::Decline(e.to_string());
            }
        }
        // A wallet whose keygen, or another ceremony, is still finishing here: answer once it
        // ended (a signing's last round ends at each member at its own moment).
        if let ProposalKind::Refresh { wallet }
        | ProposalKind::RefreshAux { wallet }
        | ProposalKind::Reshare { wallet, .. }
        | ProposalKind::Export { wallet }
        | ProposalKind::Repair { wallet, .. } = &proposal.kind
        {
            let helper = !matches!(&proposal.kind, ProposalKind::Repair { lost, .. } if *lost == self.args.me);
            // Our own proposal is not sent yet: its caller hears it is pending and may wait.
            let running = self.running_for(wallet).any(|s| s != session);
            if helper && (self.claims.contains_key(wallet) || running) {
                return Verdict::Defer(Pending::Wallet(wallet.clone()));
            }
        }
        if let ProposalKind::SignPresigned { wallet, presignatures, .. } = &proposal.kind {
            // The proposer stored the presigning's output first; ours may still be storing
            // it: wait for that rather than decline (a decline costs a full signing).
            let storing = proposal.proposer != self.args.me && self.running_for(wallet).any(|s| s != session);
            let missing = presignatures
                .iter()
                .any(|id| !self.args.keystore.has_presignature(wallet, &proposal.participants, id).unwrap_or(false));
            if storing && missing {
                return Verdict::Defer(Pending::Wallet(wallet.clone()));
            }
        }
        if let Err(why) = self
            .presign_admissible(proposal)
            .and_then(|()| self.presigned_admissible(session, proposal))
            .and_then(|()| self.refresh_admissible(session, proposal))
            .and_then(|()| self.repair_admissible(session, proposal))
            .and_then(|()| self.export_admissible(session, proposal))
        {
            return Verdict::Decline(why);
        }
        let vote = match &proposal.kind {
            ProposalKind::Setup { scheme } => match self.args.registry.get(scheme) {
                Ok(s) if !s.needs_setup() => Vote::Decline(format!("{scheme} needs no setup")),
                Ok(_) if self.args.keystore.get_setup(scheme).is_ok() => Vote::Decline(format!("{scheme} is set up")),
                Ok(_) if self.setup_claims.get(scheme).is_some_and(|s| *s != session) => {
                    Vote::Decline(format!("another {scheme} committee setup is open or running here"))
                }
                Ok(_) => Vote::Accept,
                Err(e) => Vote::Decline(e.to_string()),
            },
            ProposalKind::Keygen { wallet, scheme, .. } => {
                if self.args.keystore.get(wallet).is_ok() {
                    return Verdict::Decline(format!("wallet {wallet} exists"));
                }
                if self.claims.get(wallet).is_some_and(|s| *s != session) {
                    return Verdict::Decline(format!("another keygen for wallet {wallet} is open"));
                }
                match self.args.registry.get(scheme) {
                    Ok(s) if s.needs_setup() && self.args.keystore.get_setup(scheme).is_err() => {
                        if self.running.values().any(|(r, _, id)| matches!(r, Running::Setup(_)) && id == scheme) {
                            return Verdict::Defer(Pending::Setup(scheme.clone()));
                        }
                        Vote::Decline(format!("{scheme} needs a committee setup first"))
                    }
                    Ok(_) => Vote::Accept,
                    Err(e) => Vote::Decline(e.to_string()),
                }
            }
            ProposalKind::Presign { .. }
            | ProposalKind::Refresh { .. }
            | ProposalKind::RefreshAux { .. }
            | ProposalKind::Reshare { .. }
            | ProposalKind::Export { .. }
            | ProposalKind::Repair { .. } => Vote::Accept,
            ProposalKind::Sign { wallet, signable } | ProposalKind::SignPresigned { wallet, signable, .. } => {
                match self.args.keystore.get(wallet) {
                    Ok(share) => {
                        let scheme = match self.args.registry.get(&share.scheme) {
                            Ok(s) => s,
                            Err(e) => return Verdict::Decline(e.to_string()),
                        };
                        if let Some(Err(e)) =
                            signable.payloads().iter().map(|p| scheme.check_message(p)).find(Result::is_err)
                        {
                            return Verdict::Decline(e.to_string());
                        }
                        match signable {
                            Signable::Raw(payload) => self.review_raw(wallet, &share.public_key, payload),
                            Signable::PersonalMessage(m) => match m.check() {
                                Ok(()) => self.ethereum_only(&share.scheme, "personal messages"),
                                Err(e) => Vote::Decline(e.to_string()),
                            },
                            Signable::TypedData(d) => match d.check() {
                                Ok(()) => self.ethereum_only(&share.scheme, "EIP-712 typed data"),
                                Err(e) => Vote::Decline(e.to_string()),
                            },
                            Signable::Transfer(intent) => {
                                return self.review_transfer(wallet, &share.public_key, intent)
                            }
                        }
                    }
                    Err(_) if self.claims.contains_key(wallet) => {
                        return Verdict::Defer(Pending::Wallet(wallet.clone()))
                    }
                    Err(e) => Vote::Decline(e.to_string()),
                }
            }
        };
        Verdict::of(vote)
    }

    /// Before this node proposes a committee setup: none is open or running here.
    pub(super) fn setup_free(&self, scheme: &SchemeId) -> Result<(), crate::Error> {
        match self.setup_claims.get(scheme) {
            Some(session) => Err(crate::Error::SetupRunning { scheme: scheme.clone(), session: *session }),
            None => Ok(()),
        }
    }

    /// Before this node proposes a keygen: its scheme's setup is done, or running here (the
    /// caller waits for that session), or missing.
    pub(super) fn setup_ready(&self, scheme: &SchemeId) -> Result<(), crate::Error> {
        let needs = self.args.registry.get(scheme).map(|s| s.needs_setup()).unwrap_or(false);
        if !needs || self.args.keystore.get_setup(scheme).is_ok() {
            return Ok(());
        }
        if let Some(session) = self.setup_claims.get(scheme) {
            return Err(crate::Error::SetupRunning { scheme: scheme.clone(), session: *session });
        }
        let running = self.running.iter().find(|(_, (r, _, id))| matches!(r, Running::Setup(_)) && id == scheme);
        match running {
            Some((session, _)) => Err(crate::Error::SetupRunning { scheme: scheme.clone(), session: *session }),
            None => Err(crate::Error::SetupRequired(scheme.clone())),
        }
    }

    /// A raw digest or message: nothing to read, so only where this member's own config allows
    /// it for the wallet, and never a Solana transaction from the wallet in disguise.
    fn review_raw(&self, wallet: &WalletId, key: &protocol::PublicKey, payload: &[u8]) -> Vote {
        if protocol::signable::is_solana_message(payload, &key.bytes) {
            return Vote::Decline(format!(
                "the raw message is a Solana transaction paying from wallet {wallet}: send it as a transfer, which members review"
            ));
        }
        if !self.args.raw.allows(wallet) {
            return Vote::Decline(format!(
                "raw signing is off for wallet {wallet} at member {} (its [signing] raw_wallets)",
                self.args.me
            ));
        }
        Vote::Accept
    }

    /// EIP-191 and EIP-712 (hashed here already) are signed only by Ethereum (ECDSA) wallets.
    fn ethereum_only(&self, scheme: &SchemeId, what: &str) -> Vote {
        match self.args.chains.get("ethereum") {
            Some(eth) if eth.scheme() == *scheme => Vote::Accept,
            _ => Vote::Decline(format!("{what} are Ethereum's: {scheme} wallets do not sign them")),
        }
    }

    /// A signing for a transfer: the chain re-derives what the transaction does from its body,
    /// this member's limits apply to that, and nothing it uses up (a nonce, an output) may be
    /// promised to another transaction of the wallet.
    fn review_transfer(&self, wallet: &WalletId, key: &protocol::PublicKey, intent: &TransferIntent) -> Verdict {
        let Some(chain) = self.args.chains.get(&intent.chain) else {
            return Verdict::Decline(format!("unknown chain {}", intent.chain));
        };
        let reviewed = match self.args.transfer_policy.review(&*chain, key, intent) {
            Ok(r) => r,
            Err(refusal) => return Verdict::Decline(refusal.to_string()),
        };
        let now = now_ms();
        for key in &reviewed.spends {
            if let Some(r) = self.reservations.get(&(wallet.clone(), key.clone())) {
                if r.tx != intent.tx && r.expires_ms > now {
                    return Verdict::Decline(format!("{key} is already promised to transaction {}", r.tx));
                }
            }
        }
        let s = &reviewed.summary;
        tracing::info!(tx = %intent.tx, chain = %s.chain, to = %s.to, amount = s.amount, "transfer reviewed");
        Verdict::Accept(reviewed.spends)
    }

    /// Promises what an accepted transfer signing uses up to its transaction, for
    /// [`RESERVATION_MS`] (a signed transaction may still be broadcast), or until the signing
    /// fails without a signature.
    /// Each is recorded (synced) before this member's acceptance leaves it, so a restart does
    /// not forget it; if that fails, the member must not accept.
    pub(super) fn reserve(
        &mut self,
        session: SessionId,
        proposal: &Proposal,
        spends: Vec<String>,
    ) -> Result<(), crate::Error> {
        if let Some((wallet, Signable::Transfer(intent))) = proposal.kind.signing() {
            let expires_ms = now_ms().saturating_add(RESERVATION_MS);
            for key in spends {
                let record = crate::keystore::Reservation {
                    wallet: wallet.to_string(),
                    spend: key.clone(),
                    tx: intent.tx.clone(),
                    session,
                    expires_ms,
                };
                self.args.keystore.reserve_spend(&record)?;
                self.reservations
                    .insert((wallet.clone(), key), Reservation { tx: intent.tx.clone(), session, expires_ms });
            }
        }
        self.promise(session, proposal);
        Ok(())
    }

    /// What a restarted member had promised, from its store.
    pub(super) fn restore_reservations(&mut self) {
        match self.args.keystore.reserved_spends(now_ms()) {
            Ok(all) => {
                for r in all {
                    let Ok(wallet) = WalletId::new(&r.wallet) else { continue };
                    let kept = Reservation { tx: r.tx, session: r.session, expires_ms: r.expires_ms };
                    self.reservations.insert((wallet, r.spend), kept);
                }
            }
            Err(e) => tracing::error!(error = %e, "reading the promised spends failed"),
        }
    }

    /// A signing that made no signature frees what it had reserved.
    pub(super) fn release(&mut self, session: SessionId) {
        if self.reservations.values().any(|r| r.session == session) {
            if let Err(e) = self.args.keystore.release_spends(&session) {
                tracing::warn!(%session, error = %e, "forgetting the promised spends failed; they expire");
            }
        }
        self.reservations.retain(|_, r| r.session != session);
        self.unpromise(session);
    }
}
