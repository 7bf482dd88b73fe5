//! Proactive refresh of CGGMP24 key shares: same group key, new shares. The published crate has
//! no threshold share refresh (only Paillier aux-info refresh), so this is our own, read from
//! the construction upstream keeps unpublished and from Herzberg et al.'s proactive sharing:
//!
//! 1. every party draws a random polynomial `f_i` of degree t−1 with `f_i(0) = 0` and
//!    broadcasts Feldman commitments `C_ik = a_ik·G` for k = 1..t−1 (the constant term is the
//!    identity by construction, so no party can move the group key);
//! 2. it sends each party j, privately, `f_i(I_j)` and a digest of every commitment it saw (a
//!    party that broadcast different commitments to different parties is caught here);
//! 3. each party checks every received value against its commitments (a bad one blames its
//!    dealer), adds them all to its share, and moves every public share by the committed sum.
//!
//! Why no proof of knowledge: a dealer's commitments can only be matched by values it can
//! compute, so it cannot cancel another dealer's polynomial; a refresh never reveals a share.
//! The node wraps this in [`crate::confirm::Confirmed`], so a share is replaced only when every
//! party confirmed the same transcript. The Paillier aux info is kept: regenerating it is the
//! committee setup's job (minutes of safe-prime work), not this ceremony's.

use std::collections::BTreeMap;

use cggmp24::generic_ec::{NonZero, Point, Scalar, SecretScalar};
use cggmp24::supported_curves::Secp256k1;
use rand_core::OsRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::cggmp24::{open_share, reseal_share, ID};
use crate::ceremony::BoxCeremony;
use crate::driver::{check_committee, Driver, Engine, Outgoing, Progress};
use crate::envelope::{decode_bounded, encode_bounded, Recipient};
use crate::error::ProtocolError;
use crate::ids::PartyIndex;
use crate::scheme::{KeyShare, KeygenParams};
use crate::secret::SecretBytes;

type E = Secp256k1;
const MAX_PAYLOAD: u64 = 64 * 1024;

/// Round 2: the dealer's value for this recipient and its view of round 1.
#[derive(Serialize, Deserialize)]
struct Dealt {
    round1_digest: [u8; 32],
    value: SecretBytes,
}

/// Starts a refresh of `share` among the whole committee.
pub(super) fn refresh(share: &KeyShare, params: &KeygenParams) -> Result<BoxCeremony<KeyShare>, ProtocolError> {
    if share.party != params.me || share.parties != params.parties || share.threshold != params.threshold {
        return Err(ProtocolError::InvalidMaterial("the refresh parameters do not match the share".into()));
    }
    check_committee(params.me, params.parties, params.threshold)?;
    let full = open_share(share)?;
    let mut points = Vec::new();
    for j in 0..params.parties {
        let p = full
            .core
            .key_info
            .share_preimage(j)
            .ok_or_else(|| ProtocolError::InvalidMaterial(format!("no share index for party {j}")))?;
        points.push(*p.as_ref());
    }
    let parties: Vec<PartyIndex> = (0..params.parties).collect();
    let engine = RefreshEngine {
        me: params.me,
        t: params.threshold,
        parties: parties.clone(),
        points,
        share: share.clone(),
        coefficients: Vec::new(),
        commitments: BTreeMap::new(),
        round1_digest: None,
        dealt: BTreeMap::new(),
        early: Vec::new(),
    };
    Ok(Box::new(Driver::new(params.session, params.me, parties, params.round_timeout_ms, engine)))
}

struct RefreshEngine {
    me: PartyIndex,
    t: u16,
    parties: Vec<PartyIndex>,
    /// `I_j`: the point each party's share is the polynomial's value at.
    points: Vec<Scalar<E>>,
    share: KeyShare,
    /// Our polynomial's coefficients a_1..a_{t−1} (wiped on drop).
    coefficients: Vec<SecretScalar<E>>,
    commitments: BTreeMap<PartyIndex, Vec<Point<E>>>,
    round1_digest: Option<[u8; 32]>,
    dealt: BTreeMap<PartyIndex, Scalar<E>>,
    early: Vec<(PartyIndex, Vec<u8>)>,
}

fn malformed(culprit: PartyIndex, round: u16, reason: impl ToString) -> ProtocolError {
    ProtocolError::Malformed { culprit, round, reason: reason.to_string() }
}

/// `f(x) = Σ a_k x^k` for k = 1..: the constant term is zero.
fn evaluate(coefficients: &[SecretScalar<E>], x: &Scalar<E>) -> Scalar<E> {
    let mut acc = Scalar::<E>::zero();
    for a in coefficients.iter().rev() {
        acc = (acc + a.as_ref()) * x;
    }
    acc
}

/// `Σ C_k x^k`: the commitment to `f(x)`.
fn evaluate_commitment(commitments: &[Point<E>], x: &Scalar<E>) -> Point<E> {
    let mut acc = Point::<E>::zero();
    for c in commitments.iter().rev() {
        acc = (acc + c) * x;
    }
    acc
}

impl RefreshEngine {
    fn view_digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"cggmp24-refresh-round1");
        for (p, cs) in &self.commitments {
            h.update(p.to_be_bytes());
            for c in cs {
                h.update(c.to_bytes(true).as_bytes());
            }
        }
        h.finalize().into()
    }

    fn point_of(&self, p: PartyIndex) -> Result<&Scalar<E>, ProtocolError> {
        self.points.get(usize::from(p)).ok_or_else(|| ProtocolError::Internal(format!("party {p} has no point")))
    }

    fn finish_round1(&mut self) -> Result<Progress<KeyShare>, ProtocolError> {
        let digest = self.view_digest();
        self.round1_digest = Some(digest);
        let mut out = Vec::new();
        for &p in self.parties.iter().filter(|&&p| p != self.me) {
            let value = evaluate(&self.coefficients, self.point_of(p)?);
            let msg = Dealt { round1_digest: digest, value: SecretBytes::new(value.to_be_bytes().as_bytes().to_vec()) };
            out.push(Outgoing { round: 2, to: Recipient::Party(p), payload: encode_bounded(&msg, MAX_PAYLOAD)? });
        }
        let own = evaluate(&self.coefficients, self.point_of(self.me)?);
        self.dealt.insert(self.me, own);
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
        let value = Scalar::<E>::from_be_bytes(msg.value.expose()).map_err(|e| malformed(sender, 2, e))?;
        let committed = self.commitments.get(&sender).ok_or_else(|| malformed(sender, 2, "no commitments"))?;
        if Point::generator() * value != evaluate_commitment(committed, self.point_of(self.me)?) {
            return Err(ProtocolError::InvalidProof {
                culprits: vec![sender],
                reason: "refresh value does not match its dealer's commitments".into(),
            });
        }
        self.dealt.insert(sender, value);
        if self.dealt.len() < self.parties.len() {
            return Ok(Progress::nothing());
        }
        self.finish()
    }

    fn finish(&mut self) -> Result<Progress<KeyShare>, ProtocolError> {
        let mut dirty = open_share(&self.share)?.into_inner();
        let mut x = *dirty.core.x.as_ref();
        for v in self.dealt.values() {
            x += v;
        }
        let x = NonZero::from_scalar(x)
            .ok_or_else(|| ProtocolError::Internal("the refreshed share is zero".into()))?
            .into_secret();
        dirty.core.x = x;
        for (j, public) in dirty.core.key_info.public_shares.iter_mut().enumerate() {
            let at = self.points.get(j).ok_or_else(|| ProtocolError::Internal("share points too short".into()))?;
            let mut moved = **public;
            for cs in self.commitments.values() {
                moved += evaluate_commitment(cs, at);
            }
            *public = NonZero::from_point(moved)
                .ok_or_else(|| ProtocolError::Internal("a public share became zero".into()))?;
        }
        for v in self.dealt.values_mut() {
            *v = Scalar::zero();
        }
        let secret = reseal_share(dirty)?;
        Ok(Progress::done(Vec::new(), KeyShare { scheme: ID, secret, ..self.share.clone() }))
    }
}

impl Engine for RefreshEngine {
    type Output = KeyShare;

    fn rounds(&self) -> u16 {
        2
    }

    fn start(&mut self) -> Result<Progress<KeyShare>, ProtocolError> {
        let mut rng = OsRng;
        self.coefficients = (1..self.t).map(|_| SecretScalar::<E>::random(&mut rng)).collect();
        let commitments: Vec<Point<E>> = self.coefficients.iter().map(|a| Point::generator() * a.as_ref()).collect();
        let payload: Vec<Vec<u8>> = commitments.iter().map(|c| c.to_bytes(true).as_bytes().to_vec()).collect();
        self.commitments.insert(self.me, commitments);
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
                let points = raw
                    .iter()
                    .map(|b| Point::<E>::from_bytes(b).map_err(|e| malformed(sender, 1, e)))
                    .collect::<Result<Vec<_>, _>>()?;
                self.commitments.insert(sender, points);
                if self.commitments.len() == self.parties.len() {
                    self.finish_round1()
                } else {
                    Ok(Progress::nothing())
                }
            }
            (2, false) if self.round1_digest.is_none() => {
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
        self.parties.iter().copied().filter(|p| *p != self.me && !have(p)).collect()
    }
}
