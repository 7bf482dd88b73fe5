//! New shares of the same group key, dealt by the whole committee with Feldman commitments:
//! a proactive refresh (same threshold) or a reshare to a new threshold. Built from
//! Herzberg et al.'s proactive sharing and Desmedt–Jajodia redistribution:
//!
//! 1. every party i draws a random polynomial `g_i` of degree t'−1 whose constant term is
//!    pinned: zero for a refresh, `λ_i·y_i` for a reshare (its Lagrange-weighted share). It
//!    broadcasts commitments to the other coefficients only: every receiver computes the
//!    constant term's commitment itself (the identity, or `λ_i·Y_i` from the public shares),
//!    so no dealer can move the group key or deal a value that is not its own share;
//! 2. it sends each party j, privately, `g_i(x_j)` and a digest of every commitment it saw (a
//!    party that broadcast different commitments to different parties is caught here);
//! 3. each party checks every value against its dealer's commitments (a bad one blames the
//!    dealer), then sums: refresh `y'_j = y_j + Σ g_i(x_j)`, reshare `y'_j = Σ g_i(x_j)`; the
//!    public shares move the same way, and the result is checked against the group key.
//!
//! Why no proof of knowledge: the pinned constant leaves a dealer nothing to bias; a value it
//! cannot compute from its own polynomial fails the Feldman check. The node wraps this in
//! [`crate::confirm::Confirmed`]: a share is replaced only when every party confirmed the same
//! transcript, and staged (synced) before it confirms.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::linear::{evaluate, evaluate_commitment, Curve, Linear, LinearShares};
use crate::ceremony::BoxCeremony;
use crate::driver::{check_committee, Driver, Engine, Outgoing, Progress};
use crate::envelope::{decode_bounded, encode_bounded, Recipient};
use crate::error::ProtocolError;
use crate::ids::PartyIndex;
use crate::scheme::{KeyShare, KeygenParams};
use crate::secret::SecretBytes;

const MAX_PAYLOAD: u64 = 64 * 1024;

/// Round 2: the dealer's value for this recipient and its view of round 1.
#[derive(Serialize, Deserialize)]
struct Dealt {
    round1_digest: [u8; 32],
    value: SecretBytes,
}

/// A refresh keeps the threshold; a reshare moves to `params.threshold`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Refresh,
    Reshare,
}

/// A proactive refresh of `share` among the whole committee.
pub(super) fn refresh<S: LinearShares>(
    share: &KeyShare,
    params: &KeygenParams,
) -> Result<BoxCeremony<KeyShare>, ProtocolError> {
    if share.threshold != params.threshold {
        return Err(ProtocolError::InvalidMaterial("a refresh keeps the threshold".into()));
    }
    start::<S>(share, params, Mode::Refresh)
}

/// A reshare of `share` to threshold `params.threshold` among the whole committee.
pub(super) fn reshare<S: LinearShares>(
    share: &KeyShare,
    params: &KeygenParams,
) -> Result<BoxCeremony<KeyShare>, ProtocolError> {
    start::<S>(share, params, Mode::Reshare)
}

fn start<S: LinearShares>(
    share: &KeyShare,
    params: &KeygenParams,
    mode: Mode,
) -> Result<BoxCeremony<KeyShare>, ProtocolError> {
    let engine = engine::<S>(share, params, mode)?;
    let parties = engine.parties.clone();
    Ok(Box::new(Driver::new(params.session, params.me, parties, params.round_timeout_ms, engine)))
}

/// A refresh's engine alone, to run before another part in the same session.
pub(super) fn refresh_engine<S: LinearShares>(
    share: &KeyShare,
    params: &KeygenParams,
) -> Result<DealEngine<S>, ProtocolError> {
    if share.threshold != params.threshold {
        return Err(ProtocolError::InvalidMaterial("a refresh keeps the threshold".into()));
    }
    engine::<S>(share, params, Mode::Refresh)
}

fn engine<S: LinearShares>(
    share: &KeyShare,
    params: &KeygenParams,
    mode: Mode,
) -> Result<DealEngine<S>, ProtocolError> {
    if share.party != params.me || share.parties != params.parties {
        return Err(ProtocolError::InvalidMaterial("the parameters do not match the share".into()));
    }
    check_committee(params.me, params.parties, params.threshold)?;
    let view = S::view(share)?;
    if view.points.len() != usize::from(params.parties) || view.publics.len() != view.points.len() {
        return Err(ProtocolError::InvalidMaterial("the share does not describe every party".into()));
    }
    let parties: Vec<PartyIndex> = (0..params.parties).collect();
    let engine = DealEngine::<S> {
        mode,
        t: params.threshold,
        parties,
        view,
        share: share.clone(),
        coefficients: Vec::new(),
        commitments: BTreeMap::new(),
        round1_digest: None,
        dealt: BTreeMap::new(),
        early: Vec::new(),
    };
    Ok(engine)
}

/// One party's side of a dealing.
pub(super) struct DealEngine<S: LinearShares> {
    mode: Mode,
    /// The threshold of the new shares.
    t: u16,
    parties: Vec<PartyIndex>,
    view: Linear<S::K>,
    share: KeyShare,
    /// Our polynomial, constant term first (wiped when done).
    coefficients: Vec<<S::K as Curve>::Scalar>,
    /// Every dealer's commitments, constant term first (the constant computed here).
    commitments: BTreeMap<PartyIndex, Vec<<S::K as Curve>::Point>>,
    round1_digest: Option<[u8; 32]>,
    dealt: BTreeMap<PartyIndex, <S::K as Curve>::Scalar>,
    /// Round-2 values that came before our round 1 ended (at most one per party).
    early: Vec<(PartyIndex, Vec<u8>)>,
}

fn malformed(culprit: PartyIndex, round: u16, reason: impl ToString) -> ProtocolError {
    ProtocolError::Malformed { culprit, round, reason: reason.to_string() }
}

impl<S: LinearShares> DealEngine<S> {
    /// The constant term dealer `i` must use.
    fn constant(&self, i: PartyIndex) -> Result<<S::K as Curve>::Scalar, ProtocolError> {
        match self.mode {
            Mode::Refresh => Ok(S::K::zero()),
            Mode::Reshare => Ok(self.view.lagrange(&self.parties, i)? * self.view.secret),
        }
    }

    /// The commitment to dealer `i`'s constant term, computed from public data only.
    fn constant_commitment(&self, i: PartyIndex) -> Result<<S::K as Curve>::Point, ProtocolError> {
        match self.mode {
            Mode::Refresh => Ok(S::K::identity()),
            Mode::Reshare => Ok(S::K::mul(&self.view.public(i)?, &self.view.lagrange(&self.parties, i)?)),
        }
    }

    fn view_digest(&self) -> Result<[u8; 32], ProtocolError> {
        let mut h = Sha256::new();
        h.update(if self.mode == Mode::Refresh { b"deal-refresh-round1" } else { b"deal-reshare-round1" });
        h.update(self.t.to_be_bytes());
        for (p, cs) in &self.commitments {
            h.update(p.to_be_bytes());
            for c in cs.iter().skip(1) {
                h.update(S::K::point_bytes(c).map_err(ProtocolError::Internal)?);
            }
        }
        Ok(h.finalize().into())
    }

    fn finish_round1(&mut self) -> Result<Progress<KeyShare>, ProtocolError> {
        let digest = self.view_digest()?;
        self.round1_digest = Some(digest);
        let mut out = Vec::new();
        for &p in self.parties.iter().filter(|&&p| p != self.view.me) {
            let value = evaluate::<S::K>(&self.coefficients, &self.view.point(p)?);
            let value = SecretBytes::new(S::K::scalar_bytes(&value));
            let msg = Dealt { round1_digest: digest, value };
            out.push(Outgoing { round: 2, to: Recipient::Party(p), payload: encode_bounded(&msg, MAX_PAYLOAD)? });
        }
        let own = evaluate::<S::K>(&self.coefficients, &self.view.point(self.view.me)?);
        self.dealt.insert(self.view.me, own);
        let mut progress = Progress::send(out);
        for (sender, payload) in std::mem::take(&mut self.early) {
            let p = self.take_dealt(sender, payload)?;
            if p.output.is_some() {
                progress.output = p.output;
            }
        }
        Ok(progress)
    }

    fn take_dealt(&mut self, sender: PartyIndex, payload: Vec<u8>) -> Result<Progress<KeyShare>, ProtocolError> {
        let msg: Dealt = decode_bounded(&payload, MAX_PAYLOAD).map_err(|e| malformed(sender, 2, e))?;
        if Some(msg.round1_digest) != self.round1_digest {
            return Err(ProtocolError::InconsistentBroadcast { reported_by: sender, round: 1 });
        }
        let value = S::K::scalar_from(msg.value.expose()).map_err(|e| malformed(sender, 2, e))?;
        let committed = self.commitments.get(&sender).ok_or_else(|| malformed(sender, 2, "no commitments"))?;
        if S::K::base(&value) != evaluate_commitment::<S::K>(committed, &self.view.point(self.view.me)?) {
            return Err(ProtocolError::InvalidProof {
                culprits: vec![sender],
                reason: "a dealt value does not match its dealer's commitments".into(),
            });
        }
        self.dealt.insert(sender, value);
        if self.dealt.len() < self.parties.len() {
            return Ok(Progress::nothing());
        }
        self.finish()
    }

    fn finish(&mut self) -> Result<Progress<KeyShare>, ProtocolError> {
        let keep = self.mode == Mode::Refresh;
        let mut secret = if keep { self.view.secret } else { S::K::zero() };
        for v in self.dealt.values() {
            secret = secret + *v;
        }
        let mut publics = Vec::with_capacity(self.parties.len());
        for &j in &self.parties {
            let at = self.view.point(j)?;
            let mut moved = if keep { self.view.public(j)? } else { S::K::identity() };
            for cs in self.commitments.values() {
                moved = moved + evaluate_commitment::<S::K>(cs, &at);
            }
            publics.push(moved);
        }
        for v in self.dealt.values_mut() {
            *v = S::K::zero();
        }
        let new = Linear::<S::K> {
            me: self.view.me,
            threshold: self.t,
            points: self.view.points.clone(),
            publics,
            group: self.view.group,
            secret,
        };
        // Our own arithmetic double-checked: our value is our public share, and any t' public
        // shares still make the group key.
        let signers: Vec<PartyIndex> = (0..self.t).collect();
        if S::K::base(&new.secret) != new.public(new.me)? || new.combine_publics(&signers)? != new.group {
            return Err(ProtocolError::Internal("the dealt shares do not make the group key".into()));
        }
        let share = S::rebuild(&self.share, &new)?;
        Ok(Progress::done(Vec::new(), share))
    }
}

impl<S: LinearShares> Engine for DealEngine<S> {
    type Output = KeyShare;

    fn rounds(&self) -> u16 {
        2
    }

    fn start(&mut self) -> Result<Progress<KeyShare>, ProtocolError> {
        let mut coefficients = vec![self.constant(self.view.me)?];
        coefficients.extend((1..self.t).map(|_| S::K::random()));
        let mut commitments = vec![self.constant_commitment(self.view.me)?];
        commitments.extend(coefficients.iter().skip(1).map(S::K::base));
        let payload = commitments
            .iter()
            .skip(1)
            .map(S::K::point_bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(ProtocolError::Internal)?;
        self.coefficients = coefficients;
        self.commitments.insert(self.view.me, commitments);
        let payload = encode_bounded(&payload, MAX_PAYLOAD)?;
        Ok(Progress::send(vec![Outgoing { round: 1, to: Recipient::Broadcast, payload }]))
    }

    fn deliver(
        &mut self,
        sender: PartyIndex,
        round: u16,
        broadcast: bool,
        payload: Vec<u8>,
    ) -> Result<Progress<KeyShare>, ProtocolError> {
        match (round, broadcast) {
            (1, true) => {
                let raw: Vec<Vec<u8>> = decode_bounded(&payload, MAX_PAYLOAD).map_err(|e| malformed(sender, 1, e))?;
                if raw.len() + 1 != usize::from(self.t) {
                    return Err(malformed(sender, 1, "commitments of the wrong degree"));
                }
                let mut points = vec![self.constant_commitment(sender)?];
                for b in &raw {
                    points.push(S::K::point_from(b).map_err(|e| malformed(sender, 1, e))?);
                }
                self.commitments.insert(sender, points);
                if self.commitments.len() == self.parties.len() {
                    self.finish_round1()
                } else {
                    Ok(Progress::nothing())
                }
            }
            (2, false) if self.round1_digest.is_none() => {
                if self.early.iter().any(|(p, _)| *p == sender) {
                    return Err(malformed(sender, 2, "a second value"));
                }
                self.early.push((sender, payload));
                Ok(Progress::nothing())
            }
            (2, false) => self.take_dealt(sender, payload),
            _ => Err(malformed(sender, round, "a broadcast sent privately, or the reverse")),
        }
    }

    fn current_round(&self) -> u16 {
        if self.round1_digest.is_some() {
            2
        } else {
            1
        }
    }

    fn waiting_for(&self) -> Vec<PartyIndex> {
        let have = |p: &PartyIndex| {
            if self.current_round() == 1 {
                self.commitments.contains_key(p)
            } else {
                self.dealt.contains_key(p)
            }
        };
        self.parties.iter().copied().filter(|p| *p != self.view.me && !have(p)).collect()
    }
}

impl<S: LinearShares> Drop for DealEngine<S> {
    fn drop(&mut self) {
        for c in &mut self.coefficients {
            *c = std::hint::black_box(S::K::zero());
        }
    }
}
