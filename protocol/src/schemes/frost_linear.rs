//! FROST key shares as [`Linear`] views: party j's share is the polynomial at its identifier
//! (j + 1). Conversions go through frost's public encodings, so no library internals are used.

use std::collections::BTreeMap;

use frost_core::keys::{KeyPackage, PublicKeyPackage, SigningShare, VerifyingShare};

use super::frost::{ident, open, seal, Flavor};
use super::linear::{Curve, FrostCurve, Linear, LinearShares};
use crate::error::ProtocolError;
use crate::ids::PartyIndex;
use crate::scheme::KeyShare;

/// The mapping for flavour `F`.
pub(crate) struct FrostShares<F>(std::marker::PhantomData<F>);

type K<F> = FrostCurve<<F as Flavor>::C>;

fn material(e: impl ToString) -> ProtocolError {
    ProtocolError::InvalidMaterial(e.to_string())
}

impl<F: Flavor> LinearShares for FrostShares<F> {
    type K = K<F>;

    fn view(share: &KeyShare) -> Result<Linear<K<F>>, ProtocolError> {
        let (key, public) = open::<F>(share)?;
        let mut points = Vec::new();
        let mut publics = Vec::new();
        for p in 0..share.parties {
            let id = ident::<F::C>(p)?;
            points.push(K::<F>::scalar_from(&id.serialize()).map_err(material)?);
            let vs = public.verifying_shares().get(&id).ok_or_else(|| material(format!("no public share of {p}")))?;
            publics.push(K::<F>::point_from(&vs.serialize().map_err(material)?).map_err(material)?);
        }
        let group = K::<F>::point_from(&public.verifying_key().serialize().map_err(material)?).map_err(material)?;
        let mut raw = key.signing_share().serialize();
        let secret = K::<F>::scalar_from(&raw).map_err(material);
        zeroize::Zeroize::zeroize(&mut raw);
        Ok(Linear { me: share.party, threshold: share.threshold, points, publics, group, secret: secret? })
    }

    fn rebuild(old: &KeyShare, new: &Linear<K<F>>) -> Result<KeyShare, ProtocolError> {
        let internal = |e: String| ProtocolError::Internal(e);
        let (_, public) = open::<F>(old)?;
        let mut shares = BTreeMap::new();
        for (p, y) in new.publics.iter().enumerate() {
            let p = PartyIndex::try_from(p).map_err(|e| internal(e.to_string()))?;
            let bytes = K::<F>::point_bytes(y).map_err(internal)?;
            shares.insert(
                ident::<F::C>(p)?,
                VerifyingShare::<F::C>::deserialize(&bytes).map_err(|e| internal(e.to_string()))?,
            );
        }
        let mut raw = K::<F>::scalar_bytes(&new.secret);
        let signing = SigningShare::<F::C>::deserialize(&raw).map_err(|e| internal(e.to_string()));
        zeroize::Zeroize::zeroize(&mut raw);
        let me = ident::<F::C>(new.me)?;
        let mine = *shares.get(&me).ok_or_else(|| internal("no public share of ours".into()))?;
        let key = KeyPackage::new(me, signing?, mine, *public.verifying_key(), new.threshold);
        let public = PublicKeyPackage::new(shares, *public.verifying_key(), Some(new.threshold));
        let secret = seal::<F>(&key, &public)?;
        Ok(KeyShare { threshold: new.threshold, secret, ..old.clone() })
    }
}
