//! Repair of one lost FROST share by t helpers (frost's repairable threshold scheme, eprint
//! 2017/1155). Round 1: each helper splits `λ_i·s_i` into random deltas, one privately to each
//! helper. Round 2: each helper sends the sum of the deltas it got (sigma) and the group's
//! public key package to the member repairing. That member adds the sigmas up: its share. A
//! helper sees only random deltas, never another share nor the repaired one; the repaired
//! share is checked against its public share, so a helper that sent a wrong value is caught.

use std::collections::BTreeMap;

use frost_core::keys::repairable::{repair_share_part1, repair_share_part2, repair_share_part3, Delta, Sigma};
use frost_core::keys::PublicKeyPackage;
use frost_core::Identifier;
use rand_core::OsRng;
use serde::{Deserialize, Serialize};

use super::frost::{ident, open, seal, Flavor, Packages};
use crate::ceremony::BoxCeremony;
use crate::driver::{Driver, Engine, Outgoing, Progress};
use crate::envelope::{decode_bounded, encode_bounded, Recipient};
use crate::error::ProtocolError;
use crate::ids::PartyIndex;
use crate::scheme::{KeyShare, PublicKey, RepairParams};
use crate::secret::SecretBytes;

const MAX_PAYLOAD: u64 = 256 * 1024;

/// Round 2, to the member repairing.
#[derive(Serialize, Deserialize)]
struct ToRepaired {
    sigma: SecretBytes,
    public_key_package: Vec<u8>,
}

struct RepairEngine<F: Flavor> {
    me: PartyIndex,
    lost: PartyIndex,
    helpers: Vec<PartyIndex>,
    parties: u16,
    threshold: u16,
    /// A helper's packages; `None` for the member repairing.
    own: Option<Packages<F::C>>,
    deltas: BTreeMap<PartyIndex, Delta<F::C>>,
    sent_sigma: bool,
    sigmas: BTreeMap<PartyIndex, (Sigma<F::C>, Vec<u8>)>,
}

fn malformed(culprit: PartyIndex, round: u16, reason: impl ToString) -> ProtocolError {
    ProtocolError::Malformed { culprit, round, reason: reason.to_string() }
}

fn internal(e: impl ToString) -> ProtocolError {
    ProtocolError::Internal(e.to_string())
}

impl<F: Flavor> RepairEngine<F> {
    fn helper_ids(&self) -> Result<Vec<Identifier<F::C>>, ProtocolError> {
        self.helpers.iter().map(|&p| ident::<F::C>(p)).collect()
    }

    /// A helper with every delta: its sigma goes to the member repairing; its part is done.
    fn send_sigma(&mut self) -> Result<Progress<Option<KeyShare>>, ProtocolError> {
        if self.sent_sigma || self.deltas.len() < self.helpers.len() {
            return Ok(Progress::nothing());
        }
        let (_, public) = self.own.as_ref().ok_or_else(|| internal("not a helper"))?;
        let deltas: Vec<Delta<F::C>> = self.deltas.values().copied().collect();
        let sigma = repair_share_part2::<F::C>(&deltas);
        self.deltas.clear();
        let msg = ToRepaired {
            sigma: SecretBytes::new(sigma.serialize()),
            public_key_package: public.serialize().map_err(internal)?,
        };
        self.sent_sigma = true;
        let out = Outgoing { round: 2, to: Recipient::Party(self.lost), payload: encode_bounded(&msg, MAX_PAYLOAD)? };
        Ok(Progress::done(vec![out], None))
    }

    fn finish(&mut self) -> Result<Progress<Option<KeyShare>>, ProtocolError> {
        let first = self.sigmas.values().next().map(|(_, p)| p.clone()).ok_or_else(|| internal("no sigma"))?;
        if let Some((&p, _)) = self.sigmas.iter().find(|(_, (_, pkg))| *pkg != first) {
            return Err(ProtocolError::InconsistentBroadcast { reported_by: p, round: 2 });
        }
        let public = PublicKeyPackage::<F::C>::deserialize(&first).map_err(|e| malformed(self.helpers[0], 2, e))?;
        let sigmas: Vec<Sigma<F::C>> = self.sigmas.values().map(|(s, _)| *s).collect();
        let me = ident::<F::C>(self.me)?;
        let key_package = repair_share_part3(&sigmas, me, &public).map_err(internal)?;
        if public.verifying_shares().get(&me) != Some(key_package.verifying_share()) {
            return Err(ProtocolError::InvalidProof {
                culprits: self.helpers.clone(),
                reason: "the repaired share does not match its public share: a helper sent a wrong value".into(),
            });
        }
        if public.min_signers() != Some(self.threshold) {
            return Err(malformed(self.helpers[0], 2, "the public key package names another threshold"));
        }
        let public_key = PublicKey { scheme: F::ID, bytes: F::encode_public_key(public.verifying_key())? };
        let secret = seal::<F>(&key_package, &public)?;
        Ok(Progress::done(
            Vec::new(),
            Some(KeyShare {
                scheme: F::ID,
                party: self.me,
                threshold: self.threshold,
                parties: self.parties,
                public_key,
                secret,
            }),
        ))
    }
}

impl<F: Flavor> Engine for RepairEngine<F> {
    type Output = Option<KeyShare>;

    fn rounds(&self) -> u16 {
        2
    }

    fn start(&mut self) -> Result<Progress<Option<KeyShare>>, ProtocolError> {
        let Some((key, _)) = self.own.as_ref() else { return Ok(Progress::nothing()) };
        let helpers = self.helper_ids()?;
        let deltas = repair_share_part1(&helpers, key, &mut OsRng, ident::<F::C>(self.lost)?).map_err(internal)?;
        let mut out = Vec::new();
        for &p in &self.helpers {
            let d = deltas.get(&ident::<F::C>(p)?).ok_or_else(|| internal("no delta for a helper"))?;
            if p == self.me {
                self.deltas.insert(p, *d);
            } else {
                out.push(Outgoing { round: 1, to: Recipient::Party(p), payload: d.serialize() });
            }
        }
        let mut progress = self.send_sigma()?;
        out.append(&mut progress.outgoing);
        progress.outgoing = out;
        Ok(progress)
    }

    fn deliver(
        &mut self,
        sender: PartyIndex,
        round: u16,
        broadcast: bool,
        payload: Vec<u8>,
    ) -> Result<Progress<Option<KeyShare>>, ProtocolError> {
        if broadcast || !self.helpers.contains(&sender) {
            return Err(malformed(sender, round, "repair messages come privately from helpers"));
        }
        match round {
            1 if self.own.is_some() => {
                let d = Delta::<F::C>::deserialize(&payload).map_err(|e| malformed(sender, 1, e))?;
                self.deltas.insert(sender, d);
                self.send_sigma()
            }
            2 if self.own.is_none() => {
                let msg: ToRepaired = decode_bounded(&payload, MAX_PAYLOAD).map_err(|e| malformed(sender, 2, e))?;
                let sigma = Sigma::<F::C>::deserialize(msg.sigma.expose()).map_err(|e| malformed(sender, 2, e))?;
                self.sigmas.insert(sender, (sigma, msg.public_key_package));
                if self.sigmas.len() == self.helpers.len() {
                    self.finish()
                } else {
                    Ok(Progress::nothing())
                }
            }
            _ => Err(malformed(sender, round, "a message for another role")),
        }
    }

    fn current_round(&self) -> u16 {
        if self.own.is_some() {
            1
        } else {
            2
        }
    }

    fn waiting_for(&self) -> Vec<PartyIndex> {
        let have =
            |p: &PartyIndex| if self.own.is_some() { self.deltas.contains_key(p) } else { self.sigmas.contains_key(p) };
        self.helpers.iter().copied().filter(|p| *p != self.me && !have(p)).collect()
    }
}

/// Starts this member's side of a repair: a helper with its share, or the member repairing.
pub(super) fn start<F: Flavor>(
    share: Option<&KeyShare>,
    params: &RepairParams,
) -> Result<BoxCeremony<Option<KeyShare>>, ProtocolError> {
    let mut helpers = params.helpers.clone();
    helpers.sort_unstable();
    helpers.dedup();
    let bad = |why: &str| Err(ProtocolError::InvalidMessage(format!("repair: {why}")));
    if helpers.len() != params.helpers.len() || helpers.contains(&params.lost) {
        return bad("the helpers are distinct and do not include the member repairing");
    }
    if helpers.len() < usize::from(params.threshold) || params.threshold < 2 {
        return bad("at least t helpers");
    }
    if helpers.iter().chain([&params.lost]).any(|&p| p >= params.parties) {
        return bad("a party outside the committee");
    }
    let own = match (share, params.me == params.lost) {
        (None, true) => None,
        (Some(s), false) if helpers.contains(&params.me) => {
            if s.scheme != F::ID
                || s.party != params.me
                || s.threshold != params.threshold
                || s.parties != params.parties
            {
                return Err(ProtocolError::InvalidMaterial("the share does not match the repair".into()));
            }
            Some(open::<F>(s)?)
        }
        _ => return bad("a helper brings its share; the member repairing has none"),
    };
    let mut participants = helpers.clone();
    participants.push(params.lost);
    participants.sort_unstable();
    let engine = RepairEngine::<F> {
        me: params.me,
        lost: params.lost,
        helpers,
        parties: params.parties,
        threshold: params.threshold,
        own,
        deltas: BTreeMap::new(),
        sent_sigma: false,
        sigmas: BTreeMap::new(),
    };
    Ok(Box::new(Driver::new(params.session, params.me, participants, params.round_timeout_ms, engine)))
}
