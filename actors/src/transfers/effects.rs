//! Carrying out a transfer's effects: the journal through the journal actor, members through
//! the manager, the chain node on blocking threads, the committee by proposal. What answers at
//! once is returned; what takes time answers later as a [`TransferMsg::Input`].

use std::time::{Duration, Instant};

use protocol::chains::rpc::ChainRpc;
use protocol::proposal::{Proposal, ProposalKind};
use protocol::transfer::{Effect, Input, Record, SignResult, SignedStep};
use protocol::wallet::{TransferNotice, TransferStage};
use protocol::Signature;
use ractor::ActorRef;
use store::events::{SignedPayload, TransactionInitiated};
use store::{AppendRequest, DomainEvent, ExpectedVersion, IdempotencyKey, StreamId};

use super::{TransferMsg, TransferState};
use crate::events::{SessionFailure, SessionStatus};
use crate::journal::JournalMsg;
use crate::manager::ManagerMsg;

/// Test-only fault injection: `MPC_FAULT=<point>` ends the process (exit 86) at that point.
/// `exit-after-signed`: after journaling a signed transaction and telling the members, before
/// broadcasting it; `exit-after-signing-journaled`: after journaling a signing, before its
/// proposal is sent; `exit-on-signatures`: when the committee's signatures arrive, before
/// anything is journaled of them.
pub(super) fn fault(point: &str) {
    if std::env::var("MPC_FAULT").ok().as_deref() == Some(point) {
        tracing::warn!(point, "MPC_FAULT: exiting here");
        std::process::exit(86);
    }
}

/// Each signature with exactly what it signs, as the journal keeps them.
pub(super) fn journaled(payloads: &[Vec<u8>], signatures: &[Signature]) -> Vec<SignedPayload> {
    payloads
        .iter()
        .zip(signatures)
        .map(|(payload, sig)| SignedPayload {
            payload: payload.clone(),
            signature: sig.bytes.clone(),
            recovery_id: sig.recovery_id,
        })
        .collect()
}

impl TransferState {
    /// Appends one event to `tx`'s stream through the journal actor (synced). `key` makes a
    /// repeat (a resumed step, a member's notice heard twice) harmless.
    pub(super) async fn append(
        &self,
        tx: &str,
        event: DomainEvent,
        expected: ExpectedVersion,
        key: Option<String>,
    ) -> Result<u64, String> {
        let journal = self.args.refs.journal.get().ok_or("journal actor is restarting")?;
        let mut request = AppendRequest::new(StreamId::Transaction(tx.to_owned()), expected, vec![event]);
        if let Some(k) = key {
            request = request.idempotent(IdempotencyKey::from_request_id(&k));
        }
        let appended = ractor::call!(journal, |reply| JournalMsg::Append(request, reply))
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        Ok(appended.last_seq)
    }

    fn domain_event(&self, tx: &str, record: Record) -> Option<(DomainEvent, ExpectedVersion, Option<String>)> {
        let t = self.running.get(tx)?;
        let order = t.order();
        let keyed = |step: &str| Some(format!("{tx}/{step}"));
        Some(match record {
            Record::Initiated { request } => (
                DomainEvent::TransactionInitiated(TransactionInitiated {
                    tx: tx.to_owned(),
                    wallet: order.wallet.clone(),
                    chain: order.chain.clone(),
                    to: request.to,
                    amount: request.amount,
                    fee_ceiling: request.fee_ceiling,
                }),
                ExpectedVersion::NoStream,
                None,
            ),
            Record::Signing(step) => (
                DomainEvent::SigningProposed {
                    tx: tx.to_owned(),
                    session: step.session,
                    signers: step.signers,
                    unsigned: step.unsigned,
                },
                ExpectedVersion::Any,
                Some(format!("{tx}/signing/{}", step.session)),
            ),
            Record::Signed(step) => {
                let SignedStep { session, unsigned, signatures, signed } = *step;
                (
                    DomainEvent::TransactionSigned {
                        tx: tx.to_owned(),
                        session,
                        chain_txid: signed.txid,
                        raw: signed.raw,
                        signatures: journaled(&unsigned.payloads, &signatures),
                        unsigned: Some(unsigned),
                    },
                    ExpectedVersion::Any,
                    keyed("signed"),
                )
            }
            Record::Broadcast { chain_txid } => (
                DomainEvent::TransactionBroadcast { tx: tx.to_owned(), chain_txid },
                ExpectedVersion::Any,
                keyed("broadcast"),
            ),
            Record::Confirmed { block, confirmations } => (
                DomainEvent::TransactionConfirmed { tx: tx.to_owned(), block, confirmations },
                ExpectedVersion::Any,
                keyed("confirmed"),
            ),
            Record::Failed { failure } => {
                tracing::warn!(tx, reason = %failure, "transfer failed");
                (
                    DomainEvent::TransactionFailed {
                        tx: tx.to_owned(),
                        kind: failure.kind(),
                        reason: failure.to_string(),
                    },
                    ExpectedVersion::Any,
                    keyed("failed"),
                )
            }
        })
    }

    /// Carries out one effect; returns the answer when it is known at once.
    pub(super) async fn carry_out(
        &mut self,
        myself: &ActorRef<TransferMsg>,
        tx: &str,
        effect: Effect,
    ) -> Option<Input> {
        match effect {
            Effect::Journal(record) => {
                let signing = matches!(record, Record::Signing(_));
                let (event, expected, key) = self.domain_event(tx, record)?;
                match self.append(tx, event, expected, key).await {
                    Ok(_) => {
                        if signing {
                            fault("exit-after-signing-journaled");
                        }
                        None
                    }
                    Err(e) => {
                        tracing::error!(tx, error = %e, "journaling a transfer step failed");
                        self.journal_error = Some(e.clone());
                        Some(Input::JournalFailed(e))
                    }
                }
            }
            Effect::Tell(stage) => {
                let signed = matches!(stage, TransferStage::Signed { .. });
                let order = self.running.get(tx)?.order();
                let notice = TransferNotice {
                    tx: tx.to_owned(),
                    wallet: order.wallet.clone(),
                    chain: order.chain.clone(),
                    stage,
                };
                if let Some(m) = self.args.refs.manager.get() {
                    let _ = m.cast(ManagerMsg::Notify(notice));
                }
                if signed {
                    fault("exit-after-signed");
                }
                None
            }
            Effect::WaitTurn => {
                let order = self.running.get(tx)?.order();
                let lane = self.lanes.entry((order.wallet.clone(), order.chain.clone())).or_default();
                lane.push_back(tx.to_owned());
                (lane.front().map(String::as_str) == Some(tx)).then_some(Input::Turn)
            }
            Effect::ReleaseTurn => {
                let order = self.running.get(tx)?.order();
                let key = (order.wallet.clone(), order.chain.clone());
                let lane = self.lanes.get_mut(&key)?;
                lane.retain(|t| t != tx);
                if let Some(next) = lane.front().cloned() {
                    let _ = myself.cast(TransferMsg::Input(next, Input::Turn));
                }
                None
            }
            Effect::WaitPeers => {
                let (network, me, tx) = (self.args.network.clone(), myself.clone(), tx.to_owned());
                tokio::spawn(async move {
                    let started = Instant::now();
                    while started.elapsed() < Duration::from_secs(15) {
                        if network.connected().await.map(|c| !c.is_empty()).unwrap_or(false) {
                            // Gossip meshes form on the next heartbeat.
                            tokio::time::sleep(Duration::from_millis(1500)).await;
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    let _ = me.cast(TransferMsg::Input(tx, Input::PeersBack));
                });
                None
            }
            Effect::FetchContext { address, request } => {
                let rpc = self.rpc(tx)?;
                self.answer_later(myself, tx, Duration::ZERO, move || {
                    Input::Context(rpc.context(&address, &request).map_err(|e| e.to_string()))
                });
                None
            }
            Effect::CheckStatus { txid, after_ms } => {
                let rpc = self.rpc(tx)?;
                self.answer_later(myself, tx, Duration::from_millis(after_ms), move || {
                    Input::Status(rpc.status(&txid).map_err(|e| e.to_string()))
                });
                None
            }
            Effect::Broadcast { raw } => {
                let rpc = self.rpc(tx)?;
                self.answer_later(myself, tx, Duration::ZERO, move || {
                    Input::Broadcast(rpc.broadcast(&raw).map(|_| ()).map_err(|e| e.to_string()))
                });
                None
            }
            Effect::Propose { signable, signers } => {
                let wallet = self.running.get(tx)?.order().wallet.clone();
                let Some(manager) = self.args.refs.manager.get() else {
                    return Some(Input::Proposed(Err("session manager is restarting".into())));
                };
                // A transfer carried on after a restart has no signers yet: chosen now, among
                // the members connected.
                let signers = if signers.is_empty() {
                    let w = match self.args.wallets.get(&wallet) {
                        Ok(Some(w)) => w,
                        Ok(None) => return Some(Input::Proposed(Err(format!("wallet {wallet} is not held here")))),
                        Err(e) => return Some(Input::Proposed(Err(e.to_string()))),
                    };
                    let who = crate::signers::Who::Signers { wanted: None, threshold: w.threshold };
                    let board = Some(&self.args.refs.board);
                    match crate::signers::resolve(&self.args.network, self.args.me, w.parties, who, board).await {
                        Ok(s) => s,
                        Err(e) => return Some(Input::Proposed(Err(e.to_string()))),
                    }
                } else {
                    signers
                };
                let kind = ProposalKind::Sign { wallet, signable };
                let made = ractor::call!(manager, |reply| ManagerMsg::Prepare { kind, participants: signers, reply });
                match made {
                    Ok(Ok(proposal)) => match proposal.session() {
                        Ok(session) => {
                            let signers = proposal.participants.clone();
                            self.prepared.insert(tx.to_owned(), proposal);
                            Some(Input::Proposed(Ok((session, signers))))
                        }
                        Err(e) => Some(Input::Proposed(Err(e.to_string()))),
                    },
                    Ok(Err(why)) => Some(Input::Proposed(Err(why.to_string()))),
                    Err(e) => Some(Input::Proposed(Err(e.to_string()))),
                }
            }
            Effect::Submit { session } => {
                let proposal = self.prepared.remove(tx).filter(|p| p.session().ok() == Some(session));
                let Some(proposal) = proposal else {
                    return Some(Input::Signing(SignResult::Refused("the proposal was lost".into())));
                };
                let (manager, me, tx, wait) =
                    (self.args.refs.manager.clone(), myself.clone(), tx.to_owned(), self.args.sign_wait);
                tokio::spawn(async move {
                    let result = sign(manager.get(), proposal, wait).await;
                    let _ = me.cast(TransferMsg::Input(tx, Input::Signing(result)));
                });
                None
            }
            Effect::AskOutcome { session, signers, after_ms } => {
                let (manager, me, tx) = (self.args.refs.manager.clone(), myself.clone(), tx.to_owned());
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(after_ms)).await;
                    let answers = match manager.get() {
                        Some(m) => {
                            ractor::call!(m, |reply| ManagerMsg::AskOutcome { session, participants: signers, reply })
                                .unwrap_or_default()
                        }
                        None => Vec::new(),
                    };
                    let _ = me.cast(TransferMsg::Input(tx, Input::Outcome(answers)));
                });
                None
            }
            Effect::Finished => {
                self.finished(myself, tx);
                None
            }
        }
    }

    fn rpc(&self, tx: &str) -> Option<std::sync::Arc<dyn ChainRpc>> {
        let order = self.running.get(tx)?.order();
        self.args.chains.by_name.get(&order.chain)?.rpc.clone()
    }

    /// Runs `call` (a blocking chain-node call) after `delay`, and sends its answer back.
    fn answer_later(
        &self,
        myself: &ActorRef<TransferMsg>,
        tx: &str,
        delay: Duration,
        call: impl FnOnce() -> Input + Send + 'static,
    ) {
        let (me, tx) = (myself.clone(), tx.to_owned());
        tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let input = tokio::task::spawn_blocking(call)
                .await
                .unwrap_or_else(|e| Input::Status(Err(format!("chain call panicked: {e}"))));
            let _ = me.cast(TransferMsg::Input(tx, input));
        });
    }
}

/// Sends the signing proposal made for every payload and waits for its session's end.
async fn sign(manager: Option<ActorRef<ManagerMsg>>, proposal: Proposal, wait: Duration) -> SignResult {
    let Some(manager) = manager else { return SignResult::Refused("session manager is restarting".into()) };
    let session = match ractor::call!(manager, |reply| ManagerMsg::Submit { proposal, reply }) {
        Ok(Ok(s)) => s,
        Ok(Err(why)) => return SignResult::Refused(why.to_string()),
        Err(e) => return SignResult::Refused(e.to_string()),
    };
    let info = match ractor::call_t!(manager, |reply| ManagerMsg::Watch { session, reply }, wait.as_millis() as u64) {
        Ok(Some(info)) => info,
        Ok(None) => return SignResult::Failed("signing session forgotten".into()),
        Err(e) => return SignResult::Failed(format!("signing did not finish: {e}")),
    };
    match info.status {
        SessionStatus::Signed(sigs) => SignResult::Signed(session, sigs),
        SessionStatus::Failed(f @ (SessionFailure::Abandoned(_) | SessionFailure::NotStarted(_))) => {
            SignResult::Refused(f.to_string())
        }
        SessionStatus::Failed(failure) => SignResult::Failed(failure.to_string()),
        other => SignResult::Failed(format!("signing ended as {other:?}")),
    }
}
