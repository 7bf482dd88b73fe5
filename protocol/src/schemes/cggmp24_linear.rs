//! CGGMP24 key shares as [`Linear`] views, for refresh, reshare and export. The published
//! crate has no threshold share refresh nor resharing (only Paillier aux-info refresh), so
//! these run our own Feldman dealing ([`super::deal`], read from the construction upstream
//! keeps unpublished and from the proactive-sharing literature) over the crate's key shares:
//! party j's share is the polynomial at the crate's own index `I_j`. The Paillier aux info is
//! kept: it belongs to the committee (the same parties before and after), and regenerating it
//! is the committee setup's job (minutes of safe-prime work), not this ceremony's. Every
//! changed share passes the crate's own validation before it is sealed.

use cggmp24::generic_ec::NonZero;

use super::cggmp24::{open_share, reseal_share};
use super::linear::{EcCurve, Linear, LinearShares};
use crate::error::ProtocolError;
use crate::scheme::KeyShare;

/// The mapping.
pub(crate) struct CggmpShares;

impl LinearShares for CggmpShares {
    type K = EcCurve;

    fn view(share: &KeyShare) -> Result<Linear<EcCurve>, ProtocolError> {
        let full = open_share(share)?;
        let info = &full.core.key_info;
        let mut points = Vec::new();
        for j in 0..share.parties {
            let p = info
                .share_preimage(j)
                .ok_or_else(|| ProtocolError::InvalidMaterial(format!("no share index for party {j}")))?;
            points.push(*p.as_ref());
        }
        let publics = info.public_shares.iter().map(|p| **p).collect();
        Ok(Linear {
            me: share.party,
            threshold: share.threshold,
            points,
            publics,
            group: *info.shared_public_key,
            secret: *full.core.x.as_ref(),
        })
    }

    fn rebuild(old: &KeyShare, new: &Linear<EcCurve>) -> Result<KeyShare, ProtocolError> {
        let internal = |why: &str| ProtocolError::Internal(why.into());
        let mut dirty = open_share(old)?.into_inner();
        dirty.core.x = NonZero::from_scalar(new.secret).ok_or_else(|| internal("the new share is zero"))?.into_secret();
        dirty.core.key_info.public_shares = new
            .publics
            .iter()
            .map(|p| NonZero::from_point(*p).ok_or_else(|| internal("a public share is zero")))
            .collect::<Result<_, _>>()?;
        let vss = dirty.core.key_info.vss_setup.as_mut().ok_or_else(|| internal("not a threshold share"))?;
        vss.min_signers = new.threshold;
        let secret = reseal_share(dirty)?;
        Ok(KeyShare { threshold: new.threshold, secret, ..old.clone() })
    }
}
