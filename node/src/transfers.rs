//! The transfer service: `wallet_transfer` end to end. The proposer journals each step
//! (`TransactionInitiated`, `Signed` with the raw transaction, `Broadcast`, `Confirmed` or
//! `Failed`) through the journal actor and tells every member, whose journals follow. A
//! restarted proposer resumes from its journal: a signed transaction is broadcast (once: not if
//! the chain already knows it), never signed again; one interrupted before it was signed is
//! failed, as nothing left the node.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::events::SessionStatus;
use actors::journal::JournalMsg;
use actors::manager::ManagerMsg;
use actors::supervisor::NodeRefs;
use network::p2p::NetworkHandle;
use protocol::chains::rpc::TxStatus;
use protocol::chains::{SignedTx, TransferRequest};
use protocol::proposal::ProposalKind;
use protocol::wallet::{self, TransferIntent, TransferNotice, TransferStage};
use protocol::{PartyIndex, SessionId, Signature, WalletId};
use rand_core::RngCore;
use store::events::{SignedPayload, TransactionInitiated};
use store::{AppendRequest, DomainEvent, ExpectedVersion, IdempotencyKey, Journal, StreamId};

use crate::chains::Endpoints;
use crate::rpc::RpcError;
use crate::wallets::{WalletIndex, WalletInfo};

/// How long a signing may take before the transfer fails.
const SIGN_WAIT: Duration = Duration::from_secs(600);
/// How long a broadcast transaction is followed before the node stops watching it.
const FOLLOW_FOR: Duration = Duration::from_secs(3600);

/// What a client asks.
pub struct TransferParams {
    /// Paying wallet.
    pub wallet: WalletId,
    /// Chain name.
    pub chain: String,
    /// The request.
    pub request: TransferRequest,
    /// Signers (default: this node and the next connected members).
    pub signers: Option<Vec<PartyIndex>>,
}

/// Test-only fault injection (`MPC_FAULT=exit-after-signed`): the process exits right after
/// journaling a signed transaction, before broadcasting it.
fn fault(point: &str) {
    if std::env::var("MPC_FAULT").ok().as_deref() == Some(point) {
        tracing::warn!(point, "MPC_FAULT: exiting here");
        std::process::exit(86);
    }
}

/// Held by one transfer of a wallet on a chain at a time.
pub type Lane = Arc<tokio::sync::Mutex<()>>;

/// The service.
pub struct Transfers {
    /// This node.
    pub me: PartyIndex,
    /// The actor tree.
    pub refs: NodeRefs,
    /// The journal (reads; writes go through the journal actor).
    pub journal: Arc<Journal>,
    /// Wallets held here.
    pub wallets: Arc<WalletIndex>,
    /// Chains.
    pub endpoints: Arc<Endpoints>,
    /// The transport (who is connected).
    pub network: NetworkHandle,
    /// How often a broadcast transaction's status is polled.
    pub poll: Duration,
    /// One lane per (wallet, chain): a transfer holds it from building to broadcast, so two
    /// transfers never take the same nonce or outputs.
    pub lanes: std::sync::Mutex<BTreeMap<(WalletId, String), Lane>>,
}

fn rpc_unavailable(e: impl std::fmt::Display) -> RpcError {
    RpcError::Unavailable(e.to_string())
}

/// Each signature with exactly what it signs, as the journal keeps them.
fn journaled(unsigned: &protocol::chains::UnsignedTx, signatures: &[Signature]) -> Vec<SignedPayload> {
    unsigned
        .payloads
        .iter()
        .zip(signatures)
        .map(|(payload, sig)| SignedPayload {
            payload: payload.clone(),
            signature: sig.bytes.clone(),
            recovery_id: sig.recovery_id,
        })
        .collect()
}

/// The proposer's party, from a transaction id `tx-<party>-<hex>`.
pub fn proposer_of(tx: &str) -> Option<PartyIndex> {
    tx.strip_prefix("tx-")?.split('-').next()?.parse().ok()
}

impl Transfers {
    fn lane(&self, wallet: &WalletId, chain: &str) -> Lane {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        lanes.entry((wallet.clone(), chain.to_owned())).or_default().clone()
    }

    async fn append(
        &self,
        tx: &str,
        event: DomainEvent,
        expected: ExpectedVersion,
        key: Option<String>,
    ) -> Result<u64, RpcError> {
        let journal =
            self.refs.journal.get().ok_or_else(|| RpcError::Unavailable("journal actor is restarting".into()))?;
        let mut request = AppendRequest::new(StreamId::Transaction(tx.to_owned()), expected, vec![event]);
        if let Some(k) = key {
            request = request.idempotent(IdempotencyKey::from_request_id(&k));
        }
        let appended = ractor::call!(journal, |reply| JournalMsg::Append(request, reply))
            .map_err(rpc_unavailable)?
            .map_err(rpc_unavailable)?;
        Ok(appended.last_seq)
    }

    fn notify(&self, tx: &str, wallet: &WalletId, chain: &str, stage: TransferStage) {
        if let Some(m) = self.refs.manager.get() {
            let notice = TransferNotice { tx: tx.to_owned(), wallet: wallet.clone(), chain: chain.to_owned(), stage };
            let _ = m.cast(ManagerMsg::Notify(notice));
        }
    }

    /// Starts a transfer: checks it, journals `TransactionInitiated` (so `tx_get` finds it at
    /// once) and runs the rest in the background. Returns the transaction id.
    pub async fn start(self: &Arc<Self>, p: TransferParams) -> Result<String, RpcError> {
        let w = self
            .wallets
            .get(&self.journal, &p.wallet)?
            .ok_or_else(|| RpcError::NotFound(format!("wallet {}", p.wallet)))?;
        let endpoint = self.endpoints.by_name.get(&p.chain).ok_or_else(|| {
            RpcError::InvalidParams(format!("chain {} is not configured here ([[chain]] in the config)", p.chain))
        })?;
        if endpoint.chain.scheme() != w.scheme {
            return Err(RpcError::InvalidParams(format!(
                "{} takes {} wallets; {} is {}",
                p.chain,
                endpoint.chain.scheme(),
                p.wallet,
                w.scheme
            )));
        }
        if endpoint.rpc.is_none() {
            return Err(RpcError::Unavailable(format!(
                "no rpc_url for {} here: transfers are proposed by a node with one",
                p.chain
            )));
        }
        if p.request.amount == 0 {
            return Err(RpcError::InvalidParams("amount must be above 0".into()));
        }
        let mut up = self.network.connected().await.map_err(rpc_unavailable)?;
        up.push(self.me);
        let signers = crate::signers::choose(self.me, &up, p.signers, w.threshold)?;
        let mut id = [0u8; 8];
        rand_core::OsRng.fill_bytes(&mut id);
        let tx = format!("tx-{}-{}", self.me, hex::encode(id));
        let initiated = DomainEvent::TransactionInitiated(TransactionInitiated {
            tx: tx.clone(),
            wallet: p.wallet.clone(),
            chain: p.chain.clone(),
            to: p.request.to.clone(),
            amount: p.request.amount,
            fee_ceiling: p.request.fee_ceiling,
        });
        self.append(&tx, initiated, ExpectedVersion::NoStream, None).await?;
        let stage = TransferStage::Initiated {
            to: p.request.to.clone(),
            amount: p.request.amount,
            fee_ceiling: p.request.fee_ceiling,
        };
        self.notify(&tx, &p.wallet, &p.chain, stage);
        let me = self.clone();
        let id = tx.clone();
        tokio::spawn(async move {
            if let Err(reason) = me.sign_and_send(&id, &w, &p.chain, &p.request, signers).await {
                me.fail(&id, &w.wallet, &p.chain, reason).await;
            }
        });
        Ok(tx)
    }

    async fn fail(&self, tx: &str, wallet: &WalletId, chain: &str, reason: String) {
        tracing::warn!(tx, %reason, "transfer failed");
        let event = DomainEvent::TransactionFailed { tx: tx.to_owned(), reason: reason.clone() };
        if let Err(e) = self.append(tx, event, ExpectedVersion::Any, Some(format!("{tx}/failed"))).await {
            tracing::error!(tx, error = %e, "journaling the failure failed");
        }
        self.notify(tx, wallet, chain, TransferStage::Failed { reason });
    }

    async fn sign_and_send(
        self: &Arc<Self>,
        tx: &str,
        w: &WalletInfo,
        chain_name: &str,
        request: &TransferRequest,
        signers: Vec<PartyIndex>,
    ) -> Result<(), String> {
        let lane = self.lane(&w.wallet, chain_name);
        let in_lane = lane.lock().await;
        let endpoint = self.endpoints.by_name.get(chain_name).ok_or("chain vanished")?;
        let rpc = endpoint.rpc.clone().ok_or("no chain node")?;
        let (chain, policy, key, req) =
            (endpoint.chain.clone(), self.endpoints.policy.clone(), w.public_key.clone(), request.clone());
        let unsigned = tokio::task::spawn_blocking(move || wallet::prepare(&*chain, &*rpc, &policy, &key, &req))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let intent = TransferIntent { tx: tx.to_owned(), chain: chain_name.to_owned(), unsigned: unsigned.clone() };
        let transaction = intent.encode().map_err(|e| e.to_string())?;
        let mut signatures: Vec<Signature> = Vec::new();
        let mut first_session = None;
        for payload in &unsigned.payloads {
            let (session, sig) = self.sign(&w.wallet, payload.clone(), transaction.clone(), signers.clone()).await?;
            first_session.get_or_insert(session);
            signatures.push(sig);
        }
        let signed =
            wallet::complete(&*endpoint.chain, &w.public_key, &unsigned, &signatures).map_err(|e| e.to_string())?;
        let session = first_session.ok_or("nothing to sign")?;
        let journaled = journaled(&unsigned, &signatures);
        let event = DomainEvent::TransactionSigned {
            tx: tx.to_owned(),
            session,
            chain_txid: signed.txid.clone(),
            raw: signed.raw.clone(),
            signatures: journaled,
            unsigned: Some(unsigned.clone()),
        };
        self.append(tx, event, ExpectedVersion::Any, Some(format!("{tx}/signed"))).await.map_err(|e| e.to_string())?;
        let stage = TransferStage::Signed { chain_txid: signed.txid.clone(), session, unsigned, signatures };
        self.notify(tx, &w.wallet, chain_name, stage);
        fault("exit-after-signed");
        self.broadcast(tx, &w.wallet, chain_name, &signed).await?;
        drop(in_lane);
        self.follow(tx, &w.wallet, chain_name, &signed.txid).await
    }

    async fn sign(
        &self,
        wallet: &WalletId,
        payload: Vec<u8>,
        transaction: Vec<u8>,
        signers: Vec<PartyIndex>,
    ) -> Result<(SessionId, Signature), String> {
        let manager = self.refs.manager.get().ok_or("session manager is restarting")?;
        let kind = ProposalKind::Sign { wallet: wallet.clone(), payload, transaction };
        let session = ractor::call!(manager, |reply| ManagerMsg::Propose { kind, participants: signers, reply })
            .map_err(|e| e.to_string())??;
        let info = ractor::call_t!(manager, |reply| ManagerMsg::Watch { session, reply }, SIGN_WAIT.as_millis() as u64)
            .map_err(|e| format!("signing did not finish: {e}"))?
            .ok_or("signing session forgotten")?;
        match info.status {
            SessionStatus::Signed(sig) => Ok((session, sig)),
            SessionStatus::Failed(reason) if info.started_ms.is_none() => Err(format!("refused: {reason}")),
            SessionStatus::Failed(reason) => Err(format!("signing failed: {reason}")),
            other => Err(format!("signing ended as {other:?}")),
        }
    }

    /// Broadcasts (in the wallet's lane), then follows it.
    async fn broadcast_and_follow(
        &self,
        tx: &str,
        wallet: &WalletId,
        chain_name: &str,
        signed: SignedTx,
    ) -> Result<(), String> {
        let lane = self.lane(wallet, chain_name);
        let in_lane = lane.lock().await;
        self.broadcast(tx, wallet, chain_name, &signed).await?;
        drop(in_lane);
        self.follow(tx, wallet, chain_name, &signed.txid).await
    }

    /// Broadcasts unless the chain already knows the transaction; journals and tells it.
    async fn broadcast(&self, tx: &str, wallet: &WalletId, chain_name: &str, signed: &SignedTx) -> Result<(), String> {
        let endpoint = self.endpoints.by_name.get(chain_name).ok_or("chain vanished")?;
        let rpc = endpoint.rpc.clone().ok_or("no chain node")?;
        let (r, txid) = (rpc.clone(), signed.txid.clone());
        let known = tokio::task::spawn_blocking(move || r.status(&txid)).await.map_err(|e| e.to_string())?;
        if !matches!(known, Ok(TxStatus::Pending | TxStatus::Confirmed { .. })) {
            let (r, raw) = (rpc.clone(), signed.raw.clone());
            tokio::task::spawn_blocking(move || r.broadcast(&raw))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("broadcast refused: {e}"))?;
        }
        let event = DomainEvent::TransactionBroadcast { tx: tx.to_owned(), chain_txid: signed.txid.clone() };
        self.append(tx, event, ExpectedVersion::Any, Some(format!("{tx}/broadcast")))
            .await
            .map_err(|e| e.to_string())?;
        self.notify(tx, wallet, chain_name, TransferStage::Broadcast { chain_txid: signed.txid.clone() });
        Ok(())
    }

    async fn follow(&self, tx: &str, wallet: &WalletId, chain_name: &str, txid: &str) -> Result<(), String> {
        let endpoint = self.endpoints.by_name.get(chain_name).ok_or("chain vanished")?;
        let rpc = endpoint.rpc.clone().ok_or("no chain node")?;
        let started = Instant::now();
        while started.elapsed() < FOLLOW_FOR {
            let (r, id) = (rpc.clone(), txid.to_owned());
            match tokio::task::spawn_blocking(move || r.status(&id)).await.map_err(|e| e.to_string())? {
                Ok(TxStatus::Confirmed { block, confirmations })
                    if confirmations >= u64::from(endpoint.confirmations) =>
                {
                    let confirmations = u32::try_from(confirmations).unwrap_or(u32::MAX);
                    let event = DomainEvent::TransactionConfirmed { tx: tx.to_owned(), block, confirmations };
                    self.append(tx, event, ExpectedVersion::Any, Some(format!("{tx}/confirmed")))
                        .await
                        .map_err(|e| e.to_string())?;
                    self.notify(
                        tx,
                        wallet,
                        chain_name,
                        TransferStage::Confirmed { chain_txid: txid.to_owned(), block, confirmations },
                    );
                    return Ok(());
                }
                Ok(TxStatus::Failed { reason }) => return Err(format!("the chain failed it: {reason}")),
                Ok(_) => {}
                Err(e) => tracing::debug!(tx, error = %e, "status check failed; retrying"),
            }
            tokio::time::sleep(self.poll).await;
        }
        tracing::warn!(tx, "stopped following: not confirmed in time");
        Ok(())
    }

    /// On start: picks up this node's unfinished transfers from the journal.
    pub async fn resume(self: &Arc<Self>) -> Result<usize, RpcError> {
        let mut open: BTreeMap<String, Vec<DomainEvent>> = BTreeMap::new();
        let mut from = 1;
        loop {
            let events = self.journal.read_all(from, 1024)?;
            let Some(last) = events.last().map(|e| e.seq) else { break };
            for e in events {
                if let StreamId::Transaction(tx) = &e.stream {
                    if proposer_of(tx) == Some(self.me) {
                        open.entry(tx.clone()).or_default().push(e.event);
                    }
                }
            }
            from = last + 1;
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
            resumed += 1;
            let signed_stage = events.iter().find_map(|e| match e {
                DomainEvent::TransactionSigned {
                    session, chain_txid, signatures, unsigned: Some(unsigned), ..
                } => Some(TransferStage::Signed {
                    chain_txid: chain_txid.clone(),
                    session: *session,
                    unsigned: unsigned.clone(),
                    signatures: signatures
                        .iter()
                        .map(|s| Signature { bytes: s.signature.clone(), recovery_id: s.recovery_id })
                        .collect(),
                }),
                _ => None,
            });
            let signed = events.iter().find_map(|e| match e {
                DomainEvent::TransactionSigned { chain_txid, raw, .. } if !raw.is_empty() => {
                    Some(SignedTx { raw: raw.clone(), txid: chain_txid.clone() })
                }
                _ => None,
            });
            let me = self.clone();
            tokio::spawn(async move {
                // Members heard nothing while this node was down: once some are back, tell them
                // again what they may have missed (their journals drop repeats).
                me.wait_for_peers(Duration::from_secs(15)).await;
                let stage = TransferStage::Initiated {
                    to: init.to.clone(),
                    amount: init.amount,
                    fee_ceiling: init.fee_ceiling,
                };
                me.notify(&tx, &init.wallet, &init.chain, stage);
                if let Some(stage) = signed_stage {
                    me.notify(&tx, &init.wallet, &init.chain, stage);
                }
                let result = match signed {
                    Some(signed) => {
                        tracing::info!(tx = %tx, "resuming: broadcasting the signed transaction");
                        me.broadcast_and_follow(&tx, &init.wallet, &init.chain, signed).await
                    }
                    None => Err("interrupted before it was signed; nothing was sent".to_owned()),
                };
                if let Err(reason) = result {
                    me.fail(&tx, &init.wallet, &init.chain, reason).await;
                }
            });
        }
        Ok(resumed)
    }

    /// Waits until some member is connected (or `limit` passes).
    async fn wait_for_peers(&self, limit: Duration) {
        let started = Instant::now();
        while started.elapsed() < limit {
            if self.network.connected().await.map(|c| !c.is_empty()).unwrap_or(false) {
                // Gossip meshes form on the next heartbeat.
                tokio::time::sleep(Duration::from_millis(1500)).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Another member's notice: journal the step here too (a confirmation only once this
    /// node's own chain node agrees, when it has one).
    pub async fn on_notice(self: &Arc<Self>, from: PartyIndex, n: TransferNotice) {
        if proposer_of(&n.tx) != Some(from) || from == self.me {
            tracing::warn!(from, tx = %n.tx, "transfer notice not from its proposer; ignored");
            return;
        }
        if !matches!(self.wallets.get(&self.journal, &n.wallet), Ok(Some(_))) {
            return;
        }
        let (event, step) = match n.stage {
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
                let Some(chain) = self.endpoints.chains.get(&n.chain) else { return };
                let Ok(Some(w)) = self.wallets.get(&self.journal, &n.wallet) else { return };
                let signed = match wallet::check_signed(&*chain, &w.public_key, &unsigned, &signatures, &chain_txid) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(from, tx = %n.tx, error = %e, "a signed-transaction notice that does not verify; ignored");
                        return;
                    }
                };
                let journaled = journaled(&unsigned, &signatures);
                let event = DomainEvent::TransactionSigned {
                    tx: n.tx.clone(),
                    session,
                    chain_txid,
                    raw: signed.raw,
                    signatures: journaled,
                    unsigned: Some(unsigned),
                };
                (event, "signed")
            }
            TransferStage::Broadcast { chain_txid } => {
                // A broadcast of something this node has not seen verified is not recorded.
                let stream = StreamId::Transaction(n.tx.clone());
                let events = self.journal.read_stream(&stream, 1, 64).unwrap_or_default();
                if !events.iter().any(
                    |e| matches!(&e.event, DomainEvent::TransactionSigned { chain_txid: c, .. } if *c == chain_txid),
                ) {
                    tracing::warn!(from, tx = %n.tx, "a broadcast notice before a verified signature; ignored");
                    return;
                }
                (DomainEvent::TransactionBroadcast { tx: n.tx.clone(), chain_txid }, "broadcast")
            }
            TransferStage::Confirmed { chain_txid, block, confirmations } => {
                if let Some(rpc) = self.endpoints.by_name.get(&n.chain).and_then(|e| e.rpc.clone()) {
                    let id = chain_txid.clone();
                    let seen = tokio::task::spawn_blocking(move || rpc.status(&id)).await;
                    if !matches!(seen, Ok(Ok(TxStatus::Confirmed { .. }))) {
                        tracing::warn!(tx = %n.tx, "a confirmation our chain node does not show; not recorded");
                        return;
                    }
                }
                (DomainEvent::TransactionConfirmed { tx: n.tx.clone(), block, confirmations }, "confirmed")
            }
            TransferStage::Failed { reason } => (DomainEvent::TransactionFailed { tx: n.tx.clone(), reason }, "failed"),
        };
        let key = format!("{}/{step}", n.tx);
        if let Err(e) = self.append(&n.tx, event, ExpectedVersion::Any, Some(key)).await {
            tracing::warn!(tx = %n.tx, error = %e, "journaling a member's notice failed");
        }
    }
}
