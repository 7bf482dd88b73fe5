//! The presignature pool (CGGMP24). In idle time this node proposes presignings for the
//! signer set it would choose; a signing of something every signer hashes itself then names
//! presignatures from the pool and takes one round. Each member checks the presignatures are
//! its own and unpromised, takes each out of its vault (deleted and marked used, synced)
//! before its partial signature exists, and discards any whose use is unknown. A raw digest,
//! or an empty pool, is signed in full.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use protocol::presign::{preimages_of, Preimage, PresignParams};
use protocol::proposal::{Proposal, ProposalKind, Signable};
use protocol::{PartyIndex, SessionId, WalletId};
use ractor::ActorRef;
use serde::{Deserialize, Serialize};

use super::{now_ms, ManagerMsg, ManagerState, Running};
use crate::events::CeremonyEvent;
use crate::signers::Who;

/// A pooled signer set is chosen only if each of its peers ranks at least this well.
const POOLED_MIN_RANK: f64 = 0.5;

/// How many presignatures this node keeps ready, and how it refills them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    /// Presignatures kept ready per CGGMP24 wallet for the signer set this node would choose;
    /// 0 turns the pool off (every ECDSA signing is a full one).
    pub target: u16,
    /// Made per presigning (1..=16): a batch shares one vote round and one journal event.
    pub batch: u16,
    /// Most this member holds per wallet and signer set, whoever proposes: a member cannot be
    /// made to store more.
    pub max_per_set: u16,
    /// Signer sets per wallet this member keeps presignatures for.
    pub max_sets: u16,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self { target: 8, batch: 4, max_per_set: 32, max_sets: 4 }
    }
}

/// The pool's bookkeeping in the manager.
#[derive(Default)]
pub(super) struct Pool {
    /// Presignatures named by an open or running signing: never named by another.
    promised: HashMap<SessionId, SessionId>,
    /// Our presigning in flight, if any (one at a time).
    refilling: Option<SessionId>,
    /// A refill is being chosen off the manager.
    choosing: bool,
    /// No refill before this.
    next_try: Option<Instant>,
    /// Presigned signings of ours that fell back to full signing: old session -> new.
    pub(super) replaced: HashMap<SessionId, SessionId>,
    /// User ceremonies running here: a presigning gives way while there are any.
    pub(super) busy: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// Why a signing went without a presignature (a label of the misses metric).
pub(super) fn miss_reason(signable: &Signable) -> &'static str {
    if signable.is_raw() {
        "raw"
    } else {
        "empty"
    }
}

/// Whether a member has room for `count` more presignatures of one signer set, holding `held`
/// of it and some of `sets` signer sets. Its own presigning is never refused for the number of
/// sets: peers' presignings fill `max_sets` first and would otherwise starve the very set this
/// node signs with. Its own sets stay bounded: `target` each, one set per choice of signers.
fn room_for(cfg: &PoolConfig, held: usize, count: u16, sets: usize, own: bool) -> Result<(), String> {
    if held + usize::from(count) > usize::from(cfg.max_per_set) {
        return Err(format!("holds {held} presignatures for this signer set; at most {}", cfg.max_per_set));
    }
    if held == 0 && !own && sets >= usize::from(cfg.max_sets) {
        return Err(format!("keeps presignatures for {sets} signer sets already"));
    }
    Ok(())
}

impl ManagerState {
    fn pool_on(&self, wallet: &WalletId) -> Option<protocol::KeyShare> {
        if self.args.presign.target == 0 {
            return None;
        }
        let share = self.args.keystore.get(wallet).ok()?;
        self.args.registry.get(&share.scheme).ok().filter(|s| s.presigns()).map(|_| share)
    }

    /// Our own signing: names presignatures from the pool when every signer can hash what it
    /// signs and the pool of exactly these signers has one per payload.
    pub(super) fn with_presignatures(&mut self, kind: ProposalKind, participants: &[PartyIndex]) -> ProposalKind {
        let ProposalKind::Sign { wallet, signable } = kind else { return kind };
        let Some(share) = self.pool_on(&wallet) else { return ProposalKind::Sign { wallet, signable } };
        let hashed = matches!(preimages_of(&signable, &self.args.chains, &share.public_key), Ok(Some(_)));
        let needed = signable.payloads().len();
        let ids: Vec<SessionId> = if hashed && participants.len() == usize::from(share.threshold) {
            let ids = self.args.keystore.presignature_ids(&wallet, participants).unwrap_or_default();
            ids.into_iter().filter(|id| !self.pool.promised.contains_key(id)).take(needed).collect()
        } else {
            Vec::new()
        };
        if ids.len() < needed || !hashed {
            let reason = if hashed { "empty" } else { miss_reason(&signable) };
            self.emit(CeremonyEvent::PoolUse { wallet: wallet.clone(), hit: false, reason });
            return ProposalKind::Sign { wallet, signable };
        }
        self.emit(CeremonyEvent::PoolUse { wallet: wallet.clone(), hit: true, reason: "hit" });
        ProposalKind::SignPresigned { wallet, signable, presignatures: ids }
    }

    /// A member's check of a presigned signing, before its review of what is signed: the
    /// presignatures are here, made by exactly these signers, promised to no other signing,
    /// and every payload's preimage is derived here.
    pub(super) fn presigned_admissible(&self, session: SessionId, proposal: &Proposal) -> Result<(), String> {
        let ProposalKind::SignPresigned { wallet, signable, presignatures } = &proposal.kind else { return Ok(()) };
        let share = self.args.keystore.get(wallet).map_err(|e| e.to_string())?;
        let scheme = self.args.registry.get(&share.scheme).map_err(|e| e.to_string())?;
        if !scheme.presigns() {
            return Err(format!("{} signs without presignatures", share.scheme));
        }
        for id in presignatures {
            if self.pool.promised.get(id).is_some_and(|s| *s != session) {
                return Err(format!("presignature {id} is promised to another signing"));
            }
            if !self.args.keystore.has_presignature(wallet, &proposal.participants, id).unwrap_or(false) {
                return Err(format!("presignature {id} is not here (used, discarded or never made): sign in full"));
            }
        }
        match preimages_of(signable, &self.args.chains, &share.public_key)? {
            Some(p) if p.len() == presignatures.len() => Ok(()),
            _ => Err("what is signed has no preimage this member derives: sign in full".into()),
        }
    }

    /// A member's policy on a presigning: a wallet it holds, a scheme that presigns, exactly
    /// t signers, room in its pool, and no user signing or other presigning running here.
    pub(super) fn presign_admissible(&self, proposal: &Proposal) -> Result<(), String> {
        let ProposalKind::Presign { wallet, count } = &proposal.kind else { return Ok(()) };
        let cfg = self.args.presign;
        let share = self.args.keystore.get(wallet).map_err(|e| e.to_string())?;
        let scheme = self.args.registry.get(&share.scheme).map_err(|e| e.to_string())?;
        if !scheme.presigns() || cfg.target == 0 {
            return Err(format!("this member keeps no presignatures for {}", share.scheme));
        }
        if proposal.participants.len() != usize::from(share.threshold) {
            return Err(format!("presignatures are made by exactly t = {} signers", share.threshold));
        }
        if self.running.values().any(|(r, _, _)| !matches!(r, Running::Presign(_))) {
            return Err("busy with a user's ceremony: presign later".into());
        }
        if self.running.values().any(|(r, _, _)| matches!(r, Running::Presign(_))) {
            return Err("already presigning".into());
        }
        let sets = self.args.keystore.presignature_sets(wallet).map_err(|e| e.to_string())?;
        let held = sets.get(&proposal.participants).copied().unwrap_or(0);
        room_for(&cfg, held, *count, sets.len(), proposal.proposer == self.args.me)
    }

    /// Promises the presignatures an accepted signing names to it.
    pub(super) fn promise(&mut self, session: SessionId, proposal: &Proposal) {
        if let ProposalKind::SignPresigned { presignatures, .. } = &proposal.kind {
            for id in presignatures {
                self.pool.promised.insert(*id, session);
            }
        }
    }

    /// The signer set with the most presignatures of `wallet` ready here (at least `needed`),
    /// this node in it and every other member connected and healthy; `None` if there is none.
    pub(super) fn pooled_signers(&self, wallet: &WalletId, needed: usize) -> Option<Vec<PartyIndex>> {
        let share = self.pool_on(wallet)?;
        let me = self.args.me;
        let healthy = |p: &PartyIndex| {
            *p == me
                || (self.up_at.contains_key(p)
                    && !self.down.contains_key(p)
                    && self.args.health.as_ref().is_none_or(|b| b.rank(*p) >= POOLED_MIN_RANK))
        };
        let sets = self.args.keystore.presignature_sets(wallet).ok()?;
        sets.into_iter()
            .filter(|(set, n)| {
                set.len() == usize::from(share.threshold)
                    && set.contains(&me)
                    && *n >= needed
                    && set.iter().all(healthy)
            })
            .max_by_key(|(_, n)| *n)
            .map(|(set, _)| set)
    }

    /// Discards every presignature of `wallet` here; a signing that names one is declined.
    pub(super) fn discard_pool(&mut self, wallet: &WalletId) -> Result<usize, crate::Error> {
        let sets = self.args.keystore.presignature_sets(wallet)?;
        let n = self.args.keystore.discard_presignatures(wallet)?;
        for set in sets.keys() {
            self.pool_level(wallet, set);
        }
        tracing::info!(%wallet, discarded = n, "presignatures discarded at the operator's request");
        Ok(n)
    }

    /// Forgets what a signing that ended was promised.
    pub(super) fn unpromise(&mut self, session: SessionId) {
        self.pool.promised.retain(|_, s| *s != session);
    }

    /// The presignatures of a signing that will not run here: their use elsewhere is unknown,
    /// so they are discarded, never offered again.
    pub(super) fn discard_named(&mut self, session: SessionId) {
        let Some(proposal) = self.book.get(&session).cloned() else { return };
        let ProposalKind::SignPresigned { wallet, presignatures, .. } = &proposal.kind else { return };
        for id in presignatures {
            self.pool.promised.remove(id);
            if let Err(e) = self.args.keystore.discard_presignature(wallet, &proposal.participants, id) {
                tracing::warn!(%session, %id, error = %e, "discarding a presignature failed");
            }
        }
        self.pool_level(wallet, &proposal.participants);
    }

    /// The proposal of a presigned signing this node proposed (it falls back to a full one).
    pub(super) fn falls_back(&self, session: SessionId) -> Option<Proposal> {
        self.book
            .get(&session)
            .filter(|p| p.proposer == self.args.me && matches!(p.kind, ProposalKind::SignPresigned { .. }))
            .cloned()
    }

    /// Our presigned signing was abandoned (a member lacked a presignature, or declined):
    /// the same signing once more, in full, for whoever waits on it.
    pub(super) async fn fall_back(&mut self, myself: &ActorRef<ManagerMsg>, session: SessionId, proposal: Proposal) {
        let ProposalKind::SignPresigned { wallet, signable, .. } = proposal.kind else { return };
        if proposal.proposer != self.args.me {
            return;
        }
        let kind = ProposalKind::Sign { wallet: wallet.clone(), signable };
        match self.propose_exactly(myself, kind, proposal.participants).await {
            Ok(full) => {
                tracing::info!(%session, %full, "presigned signing abandoned; signing in full");
                self.emit(CeremonyEvent::PoolUse { wallet, hit: false, reason: "fell_back" });
                self.pool.replaced.insert(session, full);
                if let Some(w) = self.watchers.remove(&session) {
                    self.watchers.entry(full).or_default().extend(w);
                }
            }
            Err(e) => {
                tracing::warn!(%session, error = %e, "the full signing after a presigned one could not be proposed")
            }
        }
    }

    /// Takes the presignatures a starting signing names out of the vault, each with the
    /// preimage it signs (derived here again).
    pub(super) fn take_named(
        &mut self,
        session: SessionId,
        proposal: &Proposal,
    ) -> Result<Vec<(Preimage, protocol::presign::Presignature)>, String> {
        let ProposalKind::SignPresigned { wallet, signable, presignatures } = &proposal.kind else {
            return Err("not a presigned signing".into());
        };
        let share = self.args.keystore.get(wallet).map_err(|e| e.to_string())?;
        let preimages = preimages_of(signable, &self.args.chains, &share.public_key)?
            .ok_or("what is signed has no preimage here")?;
        let mut out = Vec::with_capacity(presignatures.len());
        for (id, preimage) in presignatures.iter().zip(preimages) {
            self.pool.promised.remove(id);
            match self.args.keystore.take_presignature(wallet, &proposal.participants, id) {
                Ok(Some(p)) => out.push((preimage, p)),
                Ok(None) => return Err(format!("presignature {id} is gone (used already)")),
                Err(e) => return Err(format!("taking presignature {id} failed: {e}")),
            }
        }
        tracing::debug!(%session, used = out.len(), "presignatures taken for one use");
        self.pool_level(wallet, &proposal.participants);
        Ok(out)
    }

    /// Reports the pool level of `wallet` and `signers`.
    pub(super) fn pool_level(&self, wallet: &WalletId, signers: &[PartyIndex]) {
        let level = self.args.keystore.presignature_ids(wallet, signers).map(|v| v.len()).unwrap_or(0);
        self.emit(CeremonyEvent::PoolLevel { wallet: wallet.clone(), signers: signers.to_vec(), level });
    }

    /// A presigning of ours ended (made, failed or abandoned): the next may start.
    pub(super) fn refill_over(&mut self, session: SessionId, ok: bool) {
        if self.pool.refilling == Some(session) {
            self.pool.refilling = None;
            let wait = if ok { 0 } else { 2000 + rand_core::RngCore::next_u64(&mut rand_core::OsRng) % 3000 };
            self.pool.next_try = Some(Instant::now() + Duration::from_millis(wait));
        }
    }

    /// Idle time: find the wallet whose pool (for the signers this node would choose) is the
    /// lowest, off the manager; [`ManagerMsg::Refill`] proposes it.
    pub(super) fn refill(&mut self, myself: &ActorRef<ManagerMsg>) {
        let cfg = self.args.presign;
        let idle = self.running.is_empty() && !self.book_has_open_signing();
        if cfg.target == 0 || !idle || self.pool.refilling.is_some() || self.pool.choosing {
            return;
        }
        if self.pool.next_try.is_some_and(|t| Instant::now() < t) {
            return;
        }
        let wallets: Vec<(WalletId, u16)> = match self.args.keystore.wallets() {
            Ok(w) => w
                .into_iter()
                .filter(|(_, scheme, _)| self.args.registry.get(scheme).map(|s| s.presigns()).unwrap_or(false))
                .map(|(w, _, t)| (w, t))
                .collect(),
            Err(_) => return,
        };
        if wallets.is_empty() {
            return;
        }
        self.pool.choosing = true;
        let (me, parties, network) = (self.args.me, self.args.parties, self.args.network.clone());
        let (health, keystore, myself) = (self.args.health.clone(), self.args.keystore.clone(), myself.clone());
        tokio::spawn(async move {
            let mut lowest: Option<(usize, WalletId, Vec<PartyIndex>)> = None;
            for (wallet, threshold) in wallets {
                let who = Who::Signers { wanted: None, threshold };
                let Ok(set) = crate::signers::resolve(&network, me, parties, who, health.as_ref()).await else {
                    continue;
                };
                let level = keystore.presignature_ids(&wallet, &set).map(|v| v.len()).unwrap_or(usize::MAX);
                if level < usize::from(cfg.target) && lowest.as_ref().is_none_or(|(l, _, _)| level < *l) {
                    lowest = Some((level, wallet, set));
                }
            }
            let pick = lowest.map(|(level, wallet, set)| {
                let count = (usize::from(cfg.target) - level).min(usize::from(cfg.batch.max(1))) as u16;
                (wallet, set, count)
            });
            let _ = myself.cast(ManagerMsg::Refill(pick));
        });
    }

    /// Proposes the presigning [`Self::refill`] chose, if this node is still idle.
    pub(super) async fn refill_chosen(
        &mut self,
        myself: &ActorRef<ManagerMsg>,
        pick: Option<(WalletId, Vec<PartyIndex>, u16)>,
    ) {
        self.pool.choosing = false;
        let Some((wallet, signers, count)) = pick else {
            self.pool.next_try = Some(Instant::now() + Duration::from_secs(1));
            return;
        };
        if !self.running.is_empty() || self.pool.refilling.is_some() {
            return;
        }
        let count = count.clamp(1, protocol::presign::MAX_PRESIGN_BATCH);
        match self.propose_exactly(myself, ProposalKind::Presign { wallet, count }, signers).await {
            Ok(session) => self.pool.refilling = Some(session),
            Err(e) => {
                tracing::debug!(error = %e, "presigning not proposed");
                let wait = 2000 + rand_core::RngCore::next_u64(&mut rand_core::OsRng) % 3000;
                self.pool.next_try = Some(Instant::now() + Duration::from_millis(wait));
            }
        }
    }

    fn book_has_open_signing(&self) -> bool {
        self.sessions.values().any(|i| {
            i.kind == store::CeremonyKind::Sign
                && i.status == crate::events::SessionStatus::Proposed
                && i.seen_ms + self.args.proposal_ttl.as_millis() as u64 > now_ms()
        })
    }

    /// Counts the user ceremonies running here, for presignings to give way to.
    pub(super) fn update_busy(&self) {
        let users = self.running.values().filter(|(r, _, _)| !matches!(r, Running::Presign(_))).count();
        self.pool.busy.store(users, std::sync::atomic::Ordering::Relaxed);
    }

    /// Builds a presigning's parameters.
    pub(super) fn presign_params(
        &self,
        session: SessionId,
        wallet: WalletId,
        signers: Vec<PartyIndex>,
        count: u16,
        timeout: u64,
    ) -> PresignParams {
        PresignParams { round_timeout_ms: timeout, ..PresignParams::new(session, wallet, signers, count) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_full_of_peers_sets_still_presigns_for_its_own() {
        let cfg = PoolConfig { max_sets: 4, ..PoolConfig::default() };
        let refused = room_for(&cfg, 0, 4, 4, false).unwrap_err();
        assert!(refused.contains("4 signer sets already"), "{refused}");
        assert_eq!(room_for(&cfg, 0, 4, 4, true), Ok(()), "this node's own set is never starved");
        assert_eq!(room_for(&cfg, 2, 4, 4, false), Ok(()), "a set it holds already has room");
    }

    #[test]
    fn no_proposer_makes_a_member_hold_more_than_max_per_set() {
        let cfg = PoolConfig { max_per_set: 8, ..PoolConfig::default() };
        for own in [false, true] {
            assert_eq!(room_for(&cfg, 4, 4, 1, own), Ok(()));
            let refused = room_for(&cfg, 5, 4, 1, own).unwrap_err();
            assert!(refused.contains("at most 8"), "{refused}");
        }
    }
}
