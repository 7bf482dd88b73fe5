//! Guarded export: the participants' shares combined into the whole key, at one receiver.
//! One round: every participant but the receiver sends it its share, privately. The receiver
//! checks each share against that party's public share (a wrong one blames its sender),
//! interpolates at zero and checks the result against the group key. Whether an export may
//! run at all is the node's business (a config switch, a credential, t approvals); this is
//! only the arithmetic.

use std::collections::BTreeMap;

use super::linear::{Curve, Linear, LinearShares};
use crate::ceremony::BoxCeremony;
use crate::driver::{Driver, Engine, Outgoing, Progress};
use crate::envelope::Recipient;
use crate::error::ProtocolError;
use crate::ids::PartyIndex;
use crate::scheme::{ExportParams, KeyShare};
use crate::secret::SecretBytes;

/// Starts this participant's side of an export of `share`'s whole key to `params.receiver`.
pub(super) fn start<S: LinearShares>(
    share: &KeyShare,
    params: &ExportParams,
) -> Result<BoxCeremony<Option<SecretBytes>>, ProtocolError> {
    let mut participants = params.participants.clone();
    participants.sort_unstable();
    participants.dedup();
    let bad = |why: &str| Err(ProtocolError::InvalidMessage(format!("export: {why}")));
    if participants.len() != params.participants.len() || participants.len() < usize::from(share.threshold) {
        return bad("at least t distinct participants");
    }
    if !participants.contains(&params.me) || !participants.contains(&params.receiver) {
        return bad("this member and the receiver take part");
    }
    if participants.iter().any(|&p| p >= share.parties) || share.party != params.me {
        return bad("a party outside the committee");
    }
    let view = S::view(share)?;
    let engine = ExportEngine::<S> {
        view,
        receiver: params.receiver,
        participants: participants.clone(),
        parts: BTreeMap::new(),
    };
    Ok(Box::new(Driver::new(params.session, params.me, participants, params.round_timeout_ms, engine)))
}

struct ExportEngine<S: LinearShares> {
    view: Linear<S::K>,
    receiver: PartyIndex,
    participants: Vec<PartyIndex>,
    parts: BTreeMap<PartyIndex, <S::K as Curve>::Scalar>,
}

impl<S: LinearShares> ExportEngine<S> {
    fn combine(&mut self) -> Result<Progress<Option<SecretBytes>>, ProtocolError> {
        let mut key = S::K::zero();
        for (&j, part) in &self.parts {
            key = key + self.view.lagrange(&self.participants, j)? * *part;
        }
        for p in self.parts.values_mut() {
            *p = S::K::zero();
        }
        if S::K::base(&key) != self.view.group {
            return Err(ProtocolError::Internal("the combined key is not the group key".into()));
        }
        let secret = SecretBytes::new(S::K::scalar_bytes(&key));
        key = std::hint::black_box(S::K::zero());
        let _ = key;
        Ok(Progress::done(Vec::new(), Some(secret)))
    }
}

impl<S: LinearShares> Engine for ExportEngine<S> {
    type Output = Option<SecretBytes>;

    fn rounds(&self) -> u16 {
        1
    }

    fn start(&mut self) -> Result<Progress<Option<SecretBytes>>, ProtocolError> {
        if self.view.me != self.receiver {
            let payload = S::K::scalar_bytes(&self.view.secret);
            let out = Outgoing { round: 1, to: Recipient::Party(self.receiver), payload };
            return Ok(Progress::done(vec![out], None));
        }
        self.parts.insert(self.view.me, self.view.secret);
        Ok(Progress::nothing())
    }

    fn deliver(
        &mut self,
        sender: PartyIndex,
        round: u16,
        broadcast: bool,
        mut payload: Vec<u8>,
    ) -> Result<Progress<Option<SecretBytes>>, ProtocolError> {
        let malformed = |reason: &str| ProtocolError::Malformed { culprit: sender, round, reason: reason.into() };
        if round != 1 || broadcast || self.view.me != self.receiver {
            return Err(malformed("export shares go privately to the receiver in round 1"));
        }
        let part = S::K::scalar_from(&payload);
        zeroize::Zeroize::zeroize(&mut payload);
        let part = part.map_err(|e| malformed(&e))?;
        if S::K::base(&part) != self.view.public(sender)? {
            return Err(ProtocolError::InvalidProof {
                culprits: vec![sender],
                reason: "its share does not match its public share".into(),
            });
        }
        self.parts.insert(sender, part);
        if self.parts.len() < self.participants.len() {
            return Ok(Progress::nothing());
        }
        self.combine()
    }

    fn current_round(&self) -> u16 {
        1
    }

    fn waiting_for(&self) -> Vec<PartyIndex> {
        if self.view.me != self.receiver {
            return Vec::new();
        }
        self.participants.iter().copied().filter(|p| !self.parts.contains_key(p)).collect()
    }
}
