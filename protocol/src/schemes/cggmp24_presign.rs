//! CGGMP24 presignatures: presigning (the interactive part, ahead of time) and the one-round
//! signing that consumes one. The library takes a presigned message only as a `DataToSign`,
//! which it builds by hashing the preimage itself; this module never builds one from a digest.

use std::collections::BTreeMap;

use cggmp24::generic_ec::coords::AlwaysHasAffineX;
use cggmp24::generic_ec::{NonZero, Point, Scalar};
use cggmp24::round_based::state_machine::wrap_protocol;
use cggmp24::signing::{
    DataToSign, PartialSignature, Presignature as LibPresignature, PresignatureCommitment, PresignaturePublicData,
};
use cggmp24::supported_curves::Secp256k1;
use cggmp24::ExecutionId;
use rand_core::OsRng;
use serde::{Deserialize, Serialize};
use sha2::digest::{self, FixedOutput, HashMarker, Output, OutputSizeUser, Update};
use sha2::{Digest as _, Sha256};

use super::cggmp24::{finish_signature, open_share, SignMsg, SmEngine, ID};
use crate::batch::Batch;
use crate::ceremony::BoxCeremony;
use crate::driver::{normalize_signers, Driver, Engine, Outgoing, Progress};
use crate::envelope::{decode_bounded, encode_bounded, Recipient};
use crate::error::ProtocolError;
use crate::ids::PartyIndex;
use crate::presign::{Hashing, Preimage, PresignParams, Presignature, MAX_PRESIGN_BATCH};
use crate::scheme::{KeyShare, SignParams, Signature};
use crate::secret::SecretBytes;

type E = Secp256k1;
const MAX_PRESIGNATURE: u64 = 64 * 1024;
const MAX_PARTIAL: u64 = 1024;

/// What a holder keeps: its nonce shares and every signer's commitments (in signer order).
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct Stored {
    presignature: LibPresignature<E>,
    gamma: NonZero<Point<E>>,
    commitments: Vec<(Point<E>, Point<E>)>,
}

/// The nonce shares a presignature holds (for leak scans).
pub(super) fn secret_values(presignature: &Presignature) -> Result<Vec<crate::SecretBytes>, ProtocolError> {
    let stored: Stored = decode_bounded(presignature.secret.expose(), MAX_PRESIGNATURE)
        .map_err(|e| ProtocolError::InvalidMaterial(e.to_string()))?;
    let k: &Scalar<E> = stored.presignature.tilde_k.as_ref();
    let chi: &Scalar<E> = stored.presignature.tilde_chi.as_ref();
    Ok(vec![
        crate::SecretBytes::new(k.to_be_bytes().as_bytes().to_vec()),
        crate::SecretBytes::new(chi.to_be_bytes().as_bytes().to_vec()),
    ])
}

fn exactly_t(share: &KeyShare, signers: &[PartyIndex]) -> Result<Vec<PartyIndex>, ProtocolError> {
    let signers = normalize_signers(signers, share.party, share.parties, share.threshold)?;
    if signers.len() != usize::from(share.threshold) {
        return Err(ProtocolError::InvalidSignerSet(format!(
            "CGGMP24 presigns with exactly t = {} signers, got {}",
            share.threshold,
            signers.len()
        )));
    }
    Ok(signers)
}

fn local_index(signers: &[PartyIndex], me: PartyIndex) -> Result<u16, ProtocolError> {
    signers
        .iter()
        .position(|&p| p == me)
        .and_then(|i| u16::try_from(i).ok())
        .ok_or_else(|| ProtocolError::Internal("signer not in set".into()))
}

/// `params.count` presignatures side by side, presignature `i` named by batch part `i`.
pub(super) fn presign(
    share: &KeyShare,
    params: &PresignParams,
) -> Result<BoxCeremony<Vec<Presignature>>, ProtocolError> {
    if share.scheme != ID {
        return Err(ProtocolError::SchemeMismatch { expected: ID, got: share.scheme.clone() });
    }
    if params.count == 0 || params.count > MAX_PRESIGN_BATCH {
        return Err(ProtocolError::InvalidMessage(format!(
            "a presigning makes 1 to {MAX_PRESIGN_BATCH} presignatures, not {}",
            params.count
        )));
    }
    let signers = exactly_t(share, &params.signers)?;
    let full = open_share(share)?;
    let me = share.party;
    let local_i = local_index(&signers, me)?;
    let count = usize::from(params.count);
    let batch = Batch::new(params.session, signers.clone(), count, |part, _| {
        let (full, at_keygen, signers) = (full.clone(), signers.clone(), signers.clone());
        let sm = wrap_protocol(move |party| async move {
            let mut rng = OsRng;
            cggmp24::signing(ExecutionId::new(part.as_bytes()), local_i, &at_keygen, &full)
                .generate_presignature(&mut rng, party)
                .await
        });
        let (wallet, public_key) = (params.wallet.clone(), share.public_key.clone());
        let holders = signers.clone();
        let finish = move |(presignature, public): (LibPresignature<E>, PresignaturePublicData<E>)| {
            let stored = Stored {
                presignature,
                gamma: public.Gamma,
                commitments: public.commitments.iter().map(|c| (c.tilde_Delta, c.tilde_S)).collect(),
            };
            let secret = SecretBytes::new(encode_bounded(&stored, MAX_PRESIGNATURE)?);
            Ok(Presignature { scheme: ID, id: part, wallet, signers: holders, party: me, public_key, secret })
        };
        let engine = SmEngine::<SignMsg, _, _, _>::new(Box::new(sm), signers.clone(), me, 6, &[2, 3], finish);
        Ok(Box::new(Driver::new(part, me, signers, params.round_timeout_ms, engine)) as BoxCeremony<Presignature>)
    })?;
    Ok(Box::new(batch))
}

/// One round: every signer broadcasts its partial signature and combines all of them.
pub(super) fn sign_presigned(
    share: &KeyShare,
    params: &SignParams,
    preimage: &Preimage,
    presignature: Presignature,
) -> Result<BoxCeremony<Signature>, ProtocolError> {
    if share.scheme != ID || presignature.scheme != ID {
        return Err(ProtocolError::SchemeMismatch { expected: ID, got: presignature.scheme.clone() });
    }
    if presignature.party != share.party || presignature.public_key != share.public_key {
        return Err(ProtocolError::InvalidMaterial("the presignature belongs to another key share".into()));
    }
    let signers = exactly_t(share, &params.signers)?;
    if signers != presignature.signers {
        return Err(ProtocolError::InvalidSignerSet(format!(
            "the presignature was made by signers {:?}, not {signers:?}",
            presignature.signers
        )));
    }
    let digest = preimage.digest();
    if params.message.as_slice() != digest.as_slice() {
        return Err(ProtocolError::InvalidMessage("the preimage does not hash to the digest being signed".into()));
    }
    let data = match preimage.hashing {
        Hashing::Keccak256 => DataToSign::<E>::digest::<Keccak256D>(&preimage.bytes),
        Hashing::DoubleSha256 => DataToSign::<E>::digest::<Sha256d>(&preimage.bytes),
    };
    let stored: Stored = decode_bounded(presignature.secret.expose(), MAX_PRESIGNATURE)
        .map_err(|e| ProtocolError::InvalidMaterial(e.to_string()))?;
    if stored.commitments.len() != signers.len() {
        return Err(ProtocolError::InvalidMaterial("presignature commitments do not match its signers".into()));
    }
    let public = PresignaturePublicData {
        Gamma: stored.gamma,
        commitments: stored
            .commitments
            .iter()
            .map(|&(delta, s)| PresignatureCommitment { tilde_Delta: delta, tilde_S: s })
            .collect(),
    };
    let engine = Online {
        me: share.party,
        signers: signers.clone(),
        presignature: Some(stored.presignature),
        public,
        data,
        partials: BTreeMap::new(),
        public_key: share.public_key.bytes.clone(),
        digest,
    };
    Ok(Box::new(Driver::new(params.session, share.party, signers, params.round_timeout_ms, engine)))
}

struct Online {
    me: PartyIndex,
    signers: Vec<PartyIndex>,
    presignature: Option<LibPresignature<E>>,
    public: PresignaturePublicData<E>,
    data: DataToSign<E>,
    partials: BTreeMap<PartyIndex, PartialSignature<E>>,
    public_key: Vec<u8>,
    digest: [u8; 32],
}

impl Online {
    /// sigma_j * Gamma == m * Delta_j + r * S_j: a partial signature that fails this was made
    /// from something other than its sender's presignature.
    fn checks(&self, j: usize, partial: &PartialSignature<E>) -> bool {
        let Some(c) = self.public.commitments.get(j) else { return false };
        let r = self.public.Gamma.x().to_scalar();
        partial.sigma * self.public.Gamma == self.data.to_scalar() * c.tilde_Delta + r * c.tilde_S
    }

    fn finish(&self) -> Result<Progress<Signature>, ProtocolError> {
        let ordered: Vec<PartialSignature<E>> =
            self.signers.iter().filter_map(|p| self.partials.get(p).copied()).collect();
        let sig = PartialSignature::combine(&ordered, &self.public, self.data)
            .ok_or_else(|| ProtocolError::Internal("partial signatures did not combine".into()))?;
        Ok(Progress::done(Vec::new(), finish_signature(sig, &self.public_key, &self.digest)?))
    }
}

impl Engine for Online {
    type Output = Signature;

    fn rounds(&self) -> u16 {
        1
    }

    fn start(&mut self) -> Result<Progress<Signature>, ProtocolError> {
        let presignature = self.presignature.take().ok_or(ProtocolError::Finished)?;
        let mine = presignature.issue_partial_signature(self.data);
        let payload = encode_bounded(&mine, MAX_PARTIAL)?;
        self.partials.insert(self.me, mine);
        Ok(Progress::send(vec![Outgoing { round: 1, to: Recipient::Broadcast, payload }]))
    }

    fn deliver(
        &mut self,
        sender: PartyIndex,
        round: u16,
        broadcast: bool,
        payload: Vec<u8>,
    ) -> Result<Progress<Signature>, ProtocolError> {
        let malformed = |reason: &str| ProtocolError::Malformed { culprit: sender, round, reason: reason.into() };
        if !broadcast {
            return Err(malformed("a partial signature must be broadcast"));
        }
        let partial: PartialSignature<E> =
            decode_bounded(&payload, MAX_PARTIAL).map_err(|e| malformed(&e.to_string()))?;
        let j = self.signers.iter().position(|&p| p == sender).ok_or_else(|| malformed("not a signer"))?;
        if !self.checks(j, &partial) {
            return Err(ProtocolError::Aborted {
                culprits: vec![sender],
                reason: format!("party {sender}'s partial signature does not match its presignature commitment"),
            });
        }
        self.partials.insert(sender, partial);
        if self.partials.len() == self.signers.len() {
            return self.finish();
        }
        Ok(Progress::nothing())
    }

    fn current_round(&self) -> u16 {
        1
    }

    fn waiting_for(&self) -> Vec<PartyIndex> {
        self.signers.iter().copied().filter(|p| !self.partials.contains_key(p)).collect()
    }
}

/// Keccak-256 as a `digest` hash function, so the library can hash preimages with it.
#[derive(Clone, Default)]
struct Keccak256D(Vec<u8>);

impl HashMarker for Keccak256D {}
impl OutputSizeUser for Keccak256D {
    type OutputSize = digest::consts::U32;
}
impl Update for Keccak256D {
    fn update(&mut self, data: &[u8]) {
        self.0.extend_from_slice(data);
    }
}
impl FixedOutput for Keccak256D {
    fn finalize_into(self, out: &mut Output<Self>) {
        out.copy_from_slice(&Hashing::Keccak256.digest(&self.0));
    }
}

/// SHA-256 applied twice (Bitcoin's sighash), as a `digest` hash function.
#[derive(Clone, Default)]
struct Sha256d(Sha256);

impl HashMarker for Sha256d {}
impl OutputSizeUser for Sha256d {
    type OutputSize = digest::consts::U32;
}
impl Update for Sha256d {
    fn update(&mut self, data: &[u8]) {
        sha2::Digest::update(&mut self.0, data);
    }
}
impl FixedOutput for Sha256d {
    fn finalize_into(self, out: &mut Output<Self>) {
        out.copy_from_slice(&Sha256::digest(self.0.finalize()));
    }
}
