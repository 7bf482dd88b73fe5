//! The members' side: another member's transfer steps, journaled here once checked (a signed
//! step only if the signatures verify over the transaction, a broadcast only after a verified
//! signature, a confirmation only if this node's own chain node shows it); and the resume of
//! this node's own unfinished transfers after a restart.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use protocol::chains::rpc::TxStatus;
use protocol::chains::SignedTx;
use protocol::proposal::STEPS_LIMIT;
use protocol::transfer::{Order, SignedStep, SigningStep, Transfer};
use protocol::wallet::{self, TransferNotice, TransferStage};
use protocol::{PartyIndex, Signature};
use ractor::ActorRef;
use store::events::TransactionInitiated;
use store::{DomainEvent, ExpectedVersion, StoreError, StreamId};

use super::effects::journaled;
use super::{proposer_of, TransferMsg, TransferState};

/// History entries per wallet looked at when a member reconnects (newest first).
const RETELL_ENTRIES: usize = 500;

/// Broadcast notices held until the signed step they follow is recorded (a member cannot make
/// this node hold more), and for how long.
pub(super) const EARLY_LIMIT: usize = 256;
const EARLY_TTL: Duration = Duration::from_secs(600);
/// The longest chain transaction id a held notice may carry (a Solana signature is 88).
const TXID_MAX: usize = 128;

impl TransferState {
    /// Whether this node's journal holds a final step (confirmed or failed) of `tx`.
    pub(super) fn is_final(&self, tx: &str) -> bool {
        let stream = StreamId::Transaction(tx.to_owned());
        self.args.journal.read_stream(&stream, 1, 64).unwrap_or_default().iter().any(|e| {
            matches!(e.event, DomainEvent::TransactionConfirmed { .. } | DomainEvent::TransactionFailed { .. })
        })
    }

    async fn record(&mut self, tx: &str, event: DomainEvent, step: &str) {
        let is_final =
            matches!(event, DomainEvent::TransactionConfirmed { .. } | DomainEvent::TransactionFailed { .. });
        if let Err(e) = self.append(tx, event, ExpectedVersion::Any, Some(format!("{tx}/{step}"))).await {
            tracing::warn!(tx, error = %e, "journaling a member's notice failed");
        } else if is_final {
            self.wake(tx);
        }
    }

    /// A member's confirmation, checked against this node's chain node.
    pub(super) async fn record_confirmed(&mut self, n: TransferNotice) {
        if let TransferStage::Confirmed { block, confirmations, .. } = n.stage {
            let event = DomainEvent::TransactionConfirmed { tx: n.tx.clone(), block, confirmations };
            self.record(&n.tx, event, "confirmed").await;
        }
    }

    /// Another member's notice: journal the step here too, once checked. Handled in order.
    pub(super) async fn on_notice(&mut self, myself: &ActorRef<TransferMsg>, from: PartyIndex, n: TransferNotice) {
        if proposer_of(&n.tx) != Some(from) || from == self.args.me {
            tracing::warn!(from, tx = %n.tx, "transfer notice not from its proposer; ignored");
            return;
        }
        let known = self.args.journal.stream_version(&StreamId::Transaction(n.tx.clone())).unwrap_or(0) > 0;
        if matches!(n.stage, TransferStage::Initiated { .. }) && !known {
            let now = self.now();
            if self.announced.take(&from, None, now, 1).is_err() {
                tracing::debug!(from, tx = %n.tx, "member over its budget of announced transactions; notice ignored");
                return;
            }
        }
        let a = &self.args;
        let Ok(Some(w)) = a.wallets.get(&n.wallet) else { return };
        let (event, step) = match n.stage.clone() {
            TransferStage::Initiated { to, amount, fee_ceiling } => (
                DomainEvent::TransactionInitiated(TransactionInitiated {
                    tx: n.tx.clone(),
                    wallet: n.wallet.clone(),
                    chain: n.chain.clone(),
                    to,
                    amount,
                    fee_ceiling,
                }),
                "initiated",
            ),
            TransferStage::Signed { chain_txid, session, unsigned, signatures } => {
                // Only what the committee really signed: re-check every signature here.
                let Some(chain) = a.chains.chains.get(&n.chain) else { return };
                let signed = match wallet::check_signed(&*chain, &w.public_key, &unsigned, &signatures, &chain_txid) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(from, tx = %n.tx, error = %e, "a signed-transaction notice that does not verify; ignored");
                        return;
                    }
                };
                let event = DomainEvent::TransactionSigned {
                    tx: n.tx.clone(),
                    session,
                    chain_txid,
                    raw: signed.raw,
                    signatures: journaled(&unsigned.payloads, &signatures),
                    unsigned: Some(unsigned),
                };
                (event, "signed")
            }
            TransferStage::Broadcast { chain_txid } => {
                // A broadcast of something this node has not seen verified is not recorded.
                let stream = StreamId::Transaction(n.tx.clone());
                let events = a.journal.read_stream(&stream, 1, 64).unwrap_or_default();
                if !events.iter().any(
                    |e| matches!(&e.event, DomainEvent::TransactionSigned { chain_txid: c, .. } if *c == chain_txid),
                ) {
                    // Direct messages may overtake each other (a reconnected member is told every
                    // step at once): hold it for the signed step, if the transaction is known here.
                    self.hold_early(from, n, known);
                    return;
                }
                (DomainEvent::TransactionBroadcast { tx: n.tx.clone(), chain_txid }, "broadcast")
            }
            TransferStage::Confirmed { ref chain_txid, .. } => {
                let Some(rpc) = a.chains.by_name.get(&n.chain).and_then(|e| e.rpc.clone()) else {
                    return self.record_confirmed(n).await;
                };
                // Checked off the actor (a chain node may be slow); journaled when it answers.
                let (id, me) = (chain_txid.clone(), myself.clone());
                tokio::spawn(async move {
                    let seen = tokio::task::spawn_blocking(move || rpc.status(&id)).await;
                    if matches!(seen, Ok(Ok(TxStatus::Confirmed { .. }))) {
                        let _ = me.cast(TransferMsg::NoticeChecked(n));
                    } else {
                        tracing::warn!(tx = %n.tx, "a confirmation our chain node does not show; not recorded");
                    }
                });
                return;
            }
            TransferStage::Failed { kind, reason } => {
                // Only a transaction announced here before can fail here: no stream from nothing.
                let stream = StreamId::Transaction(n.tx.clone());
                if a.journal.stream_version(&stream).unwrap_or(0) == 0 {
                    tracing::debug!(from, tx = %n.tx, "a failure notice for a transaction never announced here; ignored");
                    return;
                }
                (DomainEvent::TransactionFailed { tx: n.tx.clone(), kind, reason }, "failed")
            }
        };
        self.record(&n.tx, event, step).await;
        if step == "signed" {
            self.release_early(&n.tx).await;
        }
    }

    /// Holds a broadcast notice that came before its signed step, within [`EARLY_LIMIT`].
    fn hold_early(&mut self, from: PartyIndex, n: TransferNotice, known: bool) {
        let now = Instant::now();
        self.early.retain(|_, (_, _, at)| now.duration_since(*at) < EARLY_TTL);
        let TransferStage::Broadcast { chain_txid } = &n.stage else { return };
        let room = self.early.len() < EARLY_LIMIT || self.early.contains_key(&n.tx);
        if !known || !room || chain_txid.len() > TXID_MAX {
            tracing::warn!(from, tx = %n.tx, "a broadcast notice before a verified signature; ignored");
            return;
        }
        tracing::debug!(from, tx = %n.tx, "a broadcast notice before its signed step; held");
        self.early.insert(n.tx.clone(), (from, n, now));
    }

    /// The signed step of `tx` is recorded: a broadcast notice held for it is recorded now if
    /// it names the transaction that was signed.
    async fn release_early(&mut self, tx: &str) {
        let Some((from, n, _)) = self.early.remove(tx) else { return };
        let TransferStage::Broadcast { chain_txid } = n.stage else { return };
        let stream = StreamId::Transaction(tx.to_owned());
        let events = self.args.journal.read_stream(&stream, 1, 64).unwrap_or_default();
        if events
            .iter()
            .any(|e| matches!(&e.event, DomainEvent::TransactionSigned { chain_txid: c, .. } if *c == chain_txid))
        {
            self.record(tx, DomainEvent::TransactionBroadcast { tx: tx.to_owned(), chain_txid }, "broadcast").await;
        } else {
            tracing::warn!(from, tx, "a held broadcast notice names another transaction than the one signed; ignored");
        }
    }

    /// Anti-entropy: every step of this node's own recent transfers (the newest
    /// [`RETELL_ENTRIES`] history entries of each wallet), told again straight to `party`,
    /// in order. The member records what it lacks and ignores the rest (each step has its
    /// idempotency key), so a member that was down while a notice went out catches up.
    pub(super) fn retell(&self, party: PartyIndex) -> Result<usize, StoreError> {
        let Some(manager) = self.args.refs.manager.get() else { return Ok(0) };
        let projections = self.args.wallets.projections();
        projections.refresh(&self.args.journal)?;
        let wallets = self.args.wallets.list().map_err(|e| StoreError::InvalidInput(e.to_string()))?;
        let mut told = 0;
        for w in wallets {
            let page = projections.history(&w.wallet, None, RETELL_ENTRIES)?;
            let mut txs: Vec<String> = Vec::new();
            for e in page.entries.into_iter().rev() {
                match e.tx {
                    Some(tx) if proposer_of(&tx) == Some(self.args.me) && !txs.contains(&tx) => txs.push(tx),
                    _ => {}
                }
            }
            for tx in txs {
                let stream = StreamId::Transaction(tx.clone());
                let mut chain = String::new();
                let mut steps = Vec::new();
                for e in self.args.journal.read_stream(&stream, 1, 256)? {
                    let stage = match e.event {
                        DomainEvent::TransactionInitiated(i) => {
                            chain = i.chain;
                            TransferStage::Initiated { to: i.to, amount: i.amount, fee_ceiling: i.fee_ceiling }
                        }
                        DomainEvent::TransactionSigned {
                            chain_txid,
                            session,
                            unsigned: Some(unsigned),
                            signatures,
                            ..
                        } => TransferStage::Signed {
                            chain_txid,
                            session,
                            unsigned,
                            signatures: signatures
                                .into_iter()
                                .map(|s| Signature { bytes: s.signature, recovery_id: s.recovery_id })
                                .collect(),
                        },
                        DomainEvent::TransactionBroadcast { chain_txid, .. } => TransferStage::Broadcast { chain_txid },
                        DomainEvent::TransactionConfirmed { block, confirmations, .. } => {
                            let Some(chain_txid) = self.confirmed_txid(&tx)? else { continue };
                            TransferStage::Confirmed { chain_txid, block, confirmations }
                        }
                        DomainEvent::TransactionFailed { kind, reason, .. } => TransferStage::Failed { kind, reason },
                        _ => continue,
                    };
                    if steps.len() < STEPS_LIMIT {
                        steps.push(TransferNotice {
                            tx: tx.clone(),
                            wallet: w.wallet.clone(),
                            chain: chain.clone(),
                            stage,
                        });
                    }
                }
                told += steps.len();
                if !steps.is_empty() {
                    let _ = manager.cast(crate::manager::ManagerMsg::NotifyTo(party, steps));
                }
            }
        }
        Ok(told)
    }

    /// The chain's id of `tx` as its signed step recorded it.
    fn confirmed_txid(&self, tx: &str) -> Result<Option<String>, StoreError> {
        let stream = StreamId::Transaction(tx.to_owned());
        Ok(self.args.journal.read_stream(&stream, 1, 256)?.into_iter().rev().find_map(|e| match e.event {
            DomainEvent::TransactionSigned { chain_txid, .. }
            | DomainEvent::TransactionBroadcast { chain_txid, .. } => Some(chain_txid),
            _ => None,
        }))
    }

    /// This node's unfinished transfers: each resumes where its journal stream stopped.
    pub(super) async fn resume(&mut self, myself: &ActorRef<TransferMsg>) -> Result<usize, StoreError> {
        // The open-transfers read model names them; each one's own stream tells where it stopped.
        let projections = self.args.wallets.projections();
        projections.refresh(&self.args.journal)?;
        let mut open: BTreeMap<String, Vec<DomainEvent>> = BTreeMap::new();
        for t in projections.open_transfers()? {
            if proposer_of(&t.tx) != Some(self.args.me) || self.running.contains_key(&t.tx) {
                continue;
            }
            let stream = StreamId::Transaction(t.tx.clone());
            let events = self.args.journal.read_stream(&stream, 1, 256)?.into_iter().map(|e| e.event).collect();
            open.insert(t.tx, events);
        }
        let mut resumed = 0;
        for (tx, events) in open {
            let Some(DomainEvent::TransactionInitiated(init)) = events.first().cloned() else { continue };
            if events
                .iter()
                .any(|e| matches!(e, DomainEvent::TransactionConfirmed { .. } | DomainEvent::TransactionFailed { .. }))
            {
                continue;
            }
            let Ok(Some(w)) = self.args.wallets.get(&init.wallet) else { continue };
            if !self.args.chains.by_name.contains_key(&init.chain) {
                tracing::warn!(tx = %tx, chain = %init.chain, "unfinished transfer on a chain no longer configured");
                continue;
            }
            let signed = events.iter().find_map(|e| match e {
                DomainEvent::TransactionSigned {
                    session,
                    chain_txid,
                    raw,
                    signatures,
                    unsigned: Some(unsigned),
                    ..
                } if !raw.is_empty() => {
                    let sigs = signatures
                        .iter()
                        .map(|s| Signature { bytes: s.signature.clone(), recovery_id: s.recovery_id })
                        .collect();
                    Some(SignedStep {
                        session: *session,
                        unsigned: unsigned.clone(),
                        signatures: sigs,
                        signed: SignedTx { raw: raw.clone(), txid: chain_txid.clone() },
                    })
                }
                _ => None,
            });
            // The last signing proposed: its signers may hold signatures.
            let attempt = events.iter().filter(|e| matches!(e, DomainEvent::SigningProposed { .. })).count();
            let signing = events.iter().rev().find_map(|e| match e {
                DomainEvent::SigningProposed { session, signers, unsigned, .. } => Some(SigningStep {
                    session: *session,
                    signers: signers.clone(),
                    unsigned: unsigned.clone(),
                    attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
                }),
                _ => None,
            });
            let order = Order {
                tx: tx.clone(),
                wallet: init.wallet.clone(),
                key: w.public_key,
                chain: init.chain.clone(),
                request: protocol::chains::TransferRequest {
                    to: init.to.clone(),
                    amount: init.amount,
                    fee_ceiling: init.fee_ceiling,
                },
                signers: Vec::new(),
            };
            if signed.is_some() {
                tracing::info!(tx = %tx, "resuming: broadcasting the signed transaction");
            } else if let Some(s) = &signing {
                tracing::info!(tx = %tx, session = %s.session, "resuming: asking the signers how its signing ended");
            }
            resumed += 1;
            let (transfer, first) = Transfer::resume(order, signed, signing);
            self.running.insert(tx.clone(), transfer);
            self.perform(myself, &tx, first).await;
        }
        Ok(resumed)
    }
}
