//! Guarded export of a wallet's whole key, and reshare to a new threshold. An export runs only
//! where the operator switched it on (`[export] enabled`), to the member whose operator asked
//! for it with the export credential, among at least t members each of whose operators
//! approved exactly that export (wallet and receiver) with their own credential beforehand.
//! Every participant journals `KeyExported` (synced) and warns before its share leaves; the
//! key reaches only the caller of `key_export`, never the journal, a log or a session status.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use protocol::proposal::{Proposal, ProposalKind};
use protocol::{BoxCeremony, ExportParams, PartyIndex, SecretBytes, SessionId, WalletId};
use ractor::ActorRef;
use store::CeremonyKind;
use tokio::sync::oneshot;

use super::{ManagerMsg, ManagerState, Running, SessionStatus};
use crate::session::SessionOutcome;
use crate::worker::CeremonyFactory;

/// Where an exported key goes: the `key_export` caller waiting on this node.
pub type KeySink = oneshot::Sender<Result<SecretBytes, String>>;

/// Operators' approvals and the callers waiting for a key.
#[derive(Default)]
pub(super) struct Exports {
    /// Per wallet: the receiver this member's operator approved, until when.
    approvals: HashMap<WalletId, (PartyIndex, Instant)>,
    /// Per export session proposed here: its caller.
    sinks: HashMap<SessionId, KeySink>,
}

impl Exports {
    /// Forgets callers that stopped waiting (their export was declined, or timed out).
    pub(super) fn forget_closed(&mut self) {
        self.sinks.retain(|_, sink| !sink.is_closed());
    }
}

/// The longest an approval may wait for its export.
pub const MAX_APPROVAL: Duration = Duration::from_secs(3600);

impl ManagerState {
    /// Our policy on an export.
    pub(super) fn export_admissible(&self, session: SessionId, proposal: &Proposal) -> Result<(), String> {
        let ProposalKind::Export { wallet } = &proposal.kind else { return Ok(()) };
        if !self.args.export_enabled {
            return Err("key export is switched off on this member ([export] enabled = false)".into());
        }
        let share = self.args.keystore.get(wallet).map_err(|e| e.to_string())?;
        if proposal.participants.len() < usize::from(share.threshold) {
            return Err(format!("{wallet} needs {} shares to export", share.threshold));
        }
        if self.running_for(wallet).any(|s| s != session) {
            return Err(format!("another ceremony of {wallet} runs here"));
        }
        if proposal.proposer == self.args.me {
            return Ok(());
        }
        match self.exports.approvals.get(wallet) {
            Some((receiver, until)) if *receiver == proposal.proposer && *until > Instant::now() => Ok(()),
            _ => Err(format!(
                "no operator of member {} approved exporting {wallet} to member {}",
                self.args.me, proposal.proposer
            )),
        }
    }

    /// An operator of this member approves exporting `wallet` to `receiver`, once, for `ttl`.
    pub(super) fn approve_export(
        &mut self,
        wallet: WalletId,
        receiver: PartyIndex,
        ttl: Duration,
    ) -> Result<(), crate::Error> {
        if !self.args.export_enabled {
            return Err(crate::Error::Declined("key export is switched off on this member".into()));
        }
        if receiver >= self.args.parties || receiver == self.args.me {
            return Err(crate::Error::Declined(format!("member {receiver} cannot receive this export")));
        }
        self.args.keystore.get(&wallet).map_err(|e| crate::Error::Declined(e.to_string()))?;
        let now = Instant::now();
        self.exports.approvals.retain(|_, (_, until)| *until > now);
        tracing::warn!(%wallet, receiver, ttl_ms = ttl.as_millis() as u64, "key export approved by this member's operator");
        self.exports.approvals.insert(wallet, (receiver, now + ttl.min(MAX_APPROVAL)));
        Ok(())
    }

    /// Proposes an export of `wallet` to us among `participants`; the key goes to `sink`.
    pub(super) async fn propose_export(
        &mut self,
        myself: &ActorRef<ManagerMsg>,
        wallet: WalletId,
        participants: Vec<PartyIndex>,
        sink: KeySink,
    ) -> Result<SessionId, crate::Error> {
        let session = self.propose(myself, ProposalKind::Export { wallet }, participants).await?;
        self.exports.sinks.insert(session, sink);
        Ok(session)
    }

    /// Starts this member's side of export `session`: journaled before anything leaves.
    pub(super) async fn start_export(
        &mut self,
        myself: &ActorRef<ManagerMsg>,
        session: SessionId,
        wallet: &WalletId,
        receiver: PartyIndex,
        participants: Vec<PartyIndex>,
    ) -> Result<(Running, protocol::SchemeId), String> {
        let share = self.args.keystore.get(wallet).map_err(|e| e.to_string())?;
        let id = share.scheme.clone();
        let scheme = self.args.registry.get(&id).map_err(|e| e.to_string())?;
        if receiver != self.args.me {
            // One approval, one export.
            self.exports.approvals.remove(wallet);
        }
        self.args
            .keystore
            .record_export(wallet, session, receiver, &participants)
            .map_err(|e| format!("journaling the export failed: {e}"))?;
        tracing::warn!(%wallet, %session, receiver, ?participants, "KEY EXPORT: this member's share takes part in exporting the whole key");
        let params = ExportParams {
            session,
            me: self.args.me,
            receiver,
            participants: participants.clone(),
            round_timeout_ms: self.round_timeout_for(CeremonyKind::Export, &id),
        };
        let factory: CeremonyFactory<Option<SecretBytes>> =
            Box::new(move || scheme.export(&share, &params) as Result<BoxCeremony<_>, _>);
        let actor = self
            .spawn_session(myself, session, participants, factory, move |o| ManagerMsg::ExportDone(session, o))
            .await?;
        Ok((Running::Export(actor), id))
    }

    /// An export ended here: the key, at the receiver, to its caller alone.
    pub(super) fn export_done(&mut self, session: SessionId, outcome: SessionOutcome<Option<SecretBytes>>) {
        let sink = self.exports.sinks.remove(&session);
        let key =
            self.sessions.get(&session).and_then(|i| i.wallet.clone()).and_then(|w| self.args.keystore.get(&w).ok());
        let status = match (&outcome, key) {
            (Ok(_), Some(share)) => Ok(SessionStatus::KeyReady(share.public_key)),
            (Ok(_), None) => Err(crate::session::SessionError::Worker("the wallet is gone".into())),
            (Err(e), _) => Err(e.clone()),
        };
        self.finished(session, CeremonyKind::Export, status);
        if let (Some(sink), Ok(key)) = (sink, outcome) {
            let _ = sink.send(key.ok_or_else(|| "this member was not the receiver".to_string()));
        }
    }
}
