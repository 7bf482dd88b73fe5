//! FROST (RFC 9591) DKG and two-round signing over any `frost_core` ciphersuite. The curve
//! adapters (`frost_ed25519`, `frost_secp256k1_tr`) are thin flavours of this module.
//!
//! DKG rounds: 1 = commitments and proof of knowledge (broadcast); 2 = secret shares (one per
//! recipient), each carrying a digest of every round-1 package the sender saw, so a party that
//! broadcast different commitments to different parties is caught before any share is kept.
//! Signing rounds: 1 = nonce commitments (broadcast); 2 = signature shares (broadcast); every
//! signer aggregates and verifies the signature itself.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use frost_core::keys::{dkg, refresh};
use frost_core::keys::{KeyPackage, PublicKeyPackage};
use frost_core::round1::{SigningCommitments, SigningNonces};
use frost_core::round2::SignatureShare;
use frost_core::{Ciphersuite, Identifier, SigningPackage};
use rand_core::OsRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ceremony::BoxCeremony;
use crate::driver::{check_committee, normalize_signers, Driver, Engine, Outgoing, Progress};
use crate::envelope::{decode_bounded, encode_bounded, Recipient};
use crate::error::ProtocolError;
use crate::ids::{PartyIndex, SchemeId};
use crate::scheme::{KeyShare, KeygenParams, PublicKey, SetupMaterial, SignParams, Signature, ThresholdScheme};
use crate::secret::SecretBytes;

/// What differs between FROST curves: the name, the public-key encoding chains use, and a
/// verifier for the final signature.
pub trait Flavor: Send + Sync + 'static {
    /// The frost ciphersuite.
    type C: Ciphersuite;
    /// The scheme id.
    const ID: SchemeId;
    /// The group key as chains encode it.
    fn encode_public_key(key: &frost_core::VerifyingKey<Self::C>) -> Result<Vec<u8>, ProtocolError>;
    /// Checks a 64-byte signature under an encoded public key.
    fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), ProtocolError>;
    /// Rejects messages this flavour must not sign (e.g. not a 32-byte digest).
    fn check_message(message: &[u8]) -> Result<(), ProtocolError>;
}

/// The adapter for one flavour.
pub struct FrostScheme<F: Flavor>(PhantomData<F>);

impl<F: Flavor> FrostScheme<F> {
    /// A new adapter.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<F: Flavor> Default for FrostScheme<F> {
    fn default() -> Self {
        Self::new()
    }
}

const MAX_PAYLOAD: u64 = 256 * 1024;

/// The secret part of a FROST key share as stored.
#[derive(Serialize, Deserialize)]
struct StoredShare {
    key_package: Vec<u8>,
    public_key_package: Vec<u8>,
}

/// A member's two packages: its key package and the group's public key package.
pub(super) type Packages<C> = (KeyPackage<C>, PublicKeyPackage<C>);

/// A stored share's secret from the library's packages.
pub(super) fn seal<F: Flavor>(
    key: &KeyPackage<F::C>,
    public: &PublicKeyPackage<F::C>,
) -> Result<SecretBytes, ProtocolError> {
    let mut stored = StoredShare {
        key_package: key.serialize().map_err(|e| ProtocolError::Internal(e.to_string()))?,
        public_key_package: public.serialize().map_err(|e| ProtocolError::Internal(e.to_string()))?,
    };
    let secret = SecretBytes::new(encode_bounded(&stored, MAX_PAYLOAD)?);
    zeroize::Zeroize::zeroize(&mut stored.key_package);
    Ok(secret)
}

/// The library's packages inside a stored share.
pub(super) fn open<F: Flavor>(share: &KeyShare) -> Result<Packages<F::C>, ProtocolError> {
    let mut stored: StoredShare = decode_bounded(share.secret.expose(), MAX_PAYLOAD)
        .map_err(|e| ProtocolError::InvalidMaterial(e.to_string()))?;
    let key_package =
        KeyPackage::<F::C>::deserialize(&stored.key_package).map_err(|e| ProtocolError::InvalidMaterial(e.to_string()));
    zeroize::Zeroize::zeroize(&mut stored.key_package);
    let public_key_package = PublicKeyPackage::<F::C>::deserialize(&stored.public_key_package)
        .map_err(|e| ProtocolError::InvalidMaterial(e.to_string()))?;
    Ok((key_package?, public_key_package))
}

pub(super) fn ident<C: Ciphersuite>(p: PartyIndex) -> Result<Identifier<C>, ProtocolError> {
    Identifier::try_from(p.wrapping_add(1))
        .map_err(|e| ProtocolError::Internal(format!("party {p} has no FROST identifier: {e}")))
}

/// Maps a FROST error to ours, turning its culprit identifiers back into party indices.
fn blame<C: Ciphersuite>(e: frost_core::Error<C>, parties: &[PartyIndex]) -> ProtocolError {
    let culprits: Vec<PartyIndex> = e
        .culprits()
        .iter()
        .filter_map(|id| parties.iter().copied().find(|&p| ident::<C>(p).ok().as_ref() == Some(id)))
        .collect();
    if culprits.is_empty() {
        ProtocolError::Internal(e.to_string())
    } else {
        ProtocolError::InvalidProof { culprits, reason: e.to_string() }
    }
}

fn malformed(culprit: PartyIndex, round: u16, reason: impl ToString) -> ProtocolError {
    ProtocolError::Malformed { culprit, round, reason: reason.to_string() }
}

fn expect_kind(sender: PartyIndex, round: u16, broadcast: bool, want: bool) -> Result<(), ProtocolError> {
    if broadcast == want {
        Ok(())
    } else {
        let what = if want { "must be broadcast" } else { "must be sent privately" };
        Err(malformed(sender, round, what))
    }
}

fn others(parties: &[PartyIndex], me: PartyIndex) -> impl Iterator<Item = PartyIndex> + '_ {
    parties.iter().copied().filter(move |&p| p != me)
}

impl<F: Flavor> ThresholdScheme for FrostScheme<F> {
    fn id(&self) -> SchemeId {
        F::ID
    }

    fn keygen(
        &self,
        params: &KeygenParams,
        _setup: Option<&SetupMaterial>,
    ) -> Result<BoxCeremony<KeyShare>, ProtocolError> {
        dkg::<F>(params, None)
    }

    fn refresh(&self, share: &KeyShare, params: &KeygenParams) -> Result<BoxCeremony<KeyShare>, ProtocolError> {
        self.check_scheme(&share.scheme)?;
        if share.party != params.me || share.parties != params.parties || share.threshold != params.threshold {
            return Err(ProtocolError::InvalidMaterial("the refresh parameters do not match the share".into()));
        }
        check_committee(params.me, params.parties, params.threshold)?;
        dkg::<F>(params, Some(open::<F>(share)?))
    }

    fn reshare(&self, share: &KeyShare, params: &KeygenParams) -> Result<BoxCeremony<KeyShare>, ProtocolError> {
        self.check_scheme(&share.scheme)?;
        super::deal::reshare::<super::frost_linear::FrostShares<F>>(share, params)
    }

    fn export(
        &self,
        share: &KeyShare,
        params: &crate::scheme::ExportParams,
    ) -> Result<BoxCeremony<Option<SecretBytes>>, ProtocolError> {
        self.check_scheme(&share.scheme)?;
        super::export::start::<super::frost_linear::FrostShares<F>>(share, params)
    }

    fn repairs(&self) -> bool {
        true
    }

    fn repair(
        &self,
        share: Option<&KeyShare>,
        params: &crate::scheme::RepairParams,
    ) -> Result<BoxCeremony<Option<KeyShare>>, ProtocolError> {
        super::frost_repair::start::<F>(share, params)
    }

    fn sign(&self, share: &KeyShare, params: &SignParams) -> Result<BoxCeremony<Signature>, ProtocolError> {
        self.check_scheme(&share.scheme)?;
        F::check_message(&params.message)?;
        let signers = normalize_signers(&params.signers, share.party, share.parties, share.threshold)?;
        let (key_package, public_key_package) = open::<F>(share)?;
        let engine = SignEngine::<F> {
            me: share.party,
            signers: signers.clone(),
            message: params.message.clone(),
            key_package,
            public_key_package,
            nonces: None,
            commitments: BTreeMap::new(),
            signing_package: None,
            shares: BTreeMap::new(),
            early_shares: Vec::new(),
        };
        Ok(Box::new(Driver::new(params.session, share.party, signers, params.round_timeout_ms, engine)))
    }

    fn verify(&self, public_key: &PublicKey, message: &[u8], signature: &Signature) -> Result<(), ProtocolError> {
        self.check_scheme(&public_key.scheme)?;
        F::verify(&public_key.bytes, message, &signature.bytes)
    }

    fn secret_values(&self, share: &KeyShare) -> Result<Vec<SecretBytes>, ProtocolError> {
        let (key, _) = open::<F>(share)?;
        Ok(vec![SecretBytes::new(key.signing_share().serialize())])
    }
}

// ---------------------------------------------------------------------------------------------
// DKG

/// A DKG, or frost's DKG-based refresh of `refreshing`.
fn dkg<F: Flavor>(
    params: &KeygenParams,
    refreshing: Option<Packages<F::C>>,
) -> Result<BoxCeremony<KeyShare>, ProtocolError> {
    check_committee(params.me, params.parties, params.threshold)?;
    let parties: Vec<PartyIndex> = (0..params.parties).collect();
    let engine = DkgEngine::<F> {
        me: params.me,
        n: params.parties,
        t: params.threshold,
        parties: parties.clone(),
        secret1: None,
        secret2: None,
        round1: BTreeMap::new(),
        own_round1: None,
        round1_digest: None,
        round2: BTreeMap::new(),
        early_round2: Vec::new(),
        refreshing,
    };
    Ok(Box::new(Driver::new(params.session, params.me, parties, params.round_timeout_ms, engine)))
}

struct DkgEngine<F: Flavor> {
    me: PartyIndex,
    n: u16,
    t: u16,
    parties: Vec<PartyIndex>,
    secret1: Option<dkg::round1::SecretPackage<F::C>>,
    secret2: Option<dkg::round2::SecretPackage<F::C>>,
    round1: BTreeMap<Identifier<F::C>, dkg::round1::Package<F::C>>,
    own_round1: Option<Vec<u8>>,
    round1_digest: Option<[u8; 32]>,
    round2: BTreeMap<Identifier<F::C>, dkg::round2::Package<F::C>>,
    early_round2: Vec<(PartyIndex, Vec<u8>)>,
    /// Set for a proactive refresh: the share being refreshed. Same rounds as the DKG, but
    /// every party deals a sharing of zero, so the group key stays and the shares change.
    refreshing: Option<Packages<F::C>>,
}

/// A round-2 DKG message: the share, and the sender's digest of all round-1 packages.
#[derive(Serialize, Deserialize)]
struct DkgRound2 {
    round1_digest: [u8; 32],
    package: SecretBytes,
}

impl<F: Flavor> DkgEngine<F> {
    fn round1_view_digest(&self) -> Result<[u8; 32], ProtocolError> {
        let mut all: BTreeMap<PartyIndex, Vec<u8>> = BTreeMap::new();
        for &p in &self.parties {
            let bytes = if p == self.me {
                self.own_round1.clone().ok_or_else(|| ProtocolError::Internal("no own round-1 package".into()))?
            } else {
                let pkg = self
                    .round1
                    .get(&ident::<F::C>(p)?)
                    .ok_or_else(|| ProtocolError::Internal("round-1 package missing".into()))?;
                pkg.serialize().map_err(|e| ProtocolError::Internal(e.to_string()))?
            };
            all.insert(p, bytes);
        }
        let mut h = Sha256::new();
        for (p, bytes) in all {
            h.update(p.to_be_bytes());
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(&bytes);
        }
        Ok(h.finalize().into())
    }

    fn finish_round1(&mut self) -> Result<Progress<KeyShare>, ProtocolError> {
        let secret = self.secret1.take().ok_or_else(|| ProtocolError::Internal("round 1 not started".into()))?;
        let (secret2, packages) = if self.refreshing.is_some() {
            refresh::refresh_dkg_part2(secret, &self.round1)
        } else {
            dkg::part2(secret, &self.round1)
        }
        .map_err(|e| blame(e, &self.parties))?;
        self.secret2 = Some(secret2);
        let digest = self.round1_view_digest()?;
        self.round1_digest = Some(digest);
        let mut out = Vec::new();
        for p in others(&self.parties, self.me) {
            let pkg = packages
                .get(&ident::<F::C>(p)?)
                .ok_or_else(|| ProtocolError::Internal(format!("no share for party {p}")))?;
            let package = SecretBytes::new(pkg.serialize().map_err(|e| ProtocolError::Internal(e.to_string()))?);
            let msg = DkgRound2 { round1_digest: digest, package };
            let payload = encode_bounded(&msg, MAX_PAYLOAD)?;
            out.push(Outgoing { round: 2, to: Recipient::Party(p), payload });
        }
        let mut progress = Progress::send(out);
        for (sender, payload) in std::mem::take(&mut self.early_round2) {
            let p = self.take_round2(sender, payload)?;
            progress.outgoing.extend(p.outgoing);
            if p.output.is_some() {
                progress.output = p.output;
            }
        }
        Ok(progress)
    }

    fn take_round2(&mut self, sender: PartyIndex, payload: Vec<u8>) -> Result<Progress<KeyShare>, ProtocolError> {
        let msg: DkgRound2 = decode_bounded(&payload, MAX_PAYLOAD).map_err(|e| malformed(sender, 2, e))?;
        if Some(msg.round1_digest) != self.round1_digest {
            return Err(ProtocolError::InconsistentBroadcast { reported_by: sender, round: 1 });
        }
        let pkg =
            dkg::round2::Package::<F::C>::deserialize(msg.package.expose()).map_err(|e| malformed(sender, 2, e))?;
        if self.refreshing.is_some() {
            // frost checks refresh shares too, but names no culprit: check each as it comes.
            let dealt = self.round1.get(&ident::<F::C>(sender)?).ok_or_else(|| malformed(sender, 2, "no round 1"))?;
            if !zero_share_matches::<F::C>(dealt, &pkg, ident::<F::C>(self.me)?) {
                return Err(ProtocolError::InvalidProof {
                    culprits: vec![sender],
                    reason: "refresh share does not match its dealer's commitments".into(),
                });
            }
        }
        self.round2.insert(ident::<F::C>(sender)?, pkg);
        if self.round2.len() + 1 < self.n as usize {
            return Ok(Progress::nothing());
        }
        let secret2 = self.secret2.take().ok_or_else(|| ProtocolError::Internal("round 2 not reached".into()))?;
        let (key_package, public_key_package) = match self.refreshing.take() {
            Some((old_key, old_public)) => {
                let refreshed =
                    refresh::refresh_dkg_shares(&secret2, &self.round1, &self.round2, old_public.clone(), old_key)
                        .map_err(|e| blame(e, &self.parties))?;
                if refreshed.1.verifying_key() != old_public.verifying_key() {
                    return Err(ProtocolError::Internal("the refresh changed the group key".into()));
                }
                refreshed
            }
            None => dkg::part3(&secret2, &self.round1, &self.round2).map_err(|e| blame(e, &self.parties))?,
        };
        let public_key = PublicKey { scheme: F::ID, bytes: F::encode_public_key(public_key_package.verifying_key())? };
        let stored = StoredShare {
            key_package: key_package.serialize().map_err(|e| ProtocolError::Internal(e.to_string()))?,
            public_key_package: public_key_package.serialize().map_err(|e| ProtocolError::Internal(e.to_string()))?,
        };
        let secret = SecretBytes::new(encode_bounded(&stored, MAX_PAYLOAD)?);
        let mut stored = stored;
        zeroize::Zeroize::zeroize(&mut stored.key_package);
        Ok(Progress::done(
            Vec::new(),
            KeyShare { scheme: F::ID, party: self.me, threshold: self.t, parties: self.n, public_key, secret },
        ))
    }
}

impl<F: Flavor> Engine for DkgEngine<F> {
    type Output = KeyShare;

    fn rounds(&self) -> u16 {
        2
    }

    fn start(&mut self) -> Result<Progress<KeyShare>, ProtocolError> {
        let (secret, package) = if self.refreshing.is_some() {
            refresh::refresh_dkg_part1(ident::<F::C>(self.me)?, self.n, self.t, OsRng)
        } else {
            dkg::part1(ident::<F::C>(self.me)?, self.n, self.t, OsRng)
        }
        .map_err(|e| ProtocolError::Internal(e.to_string()))?;
        let payload = package.serialize().map_err(|e| ProtocolError::Internal(e.to_string()))?;
        self.own_round1 = Some(payload.clone());
        self.secret1 = Some(secret);
        Ok(Progress::send(vec![Outgoing { round: 1, to: Recipient::Broadcast, payload }]))
    }

    fn deliver(
        &mut self,
        sender: PartyIndex,
        round: u16,
        broadcast: bool,
        payload: Vec<u8>,
    ) -> Result<Progress<KeyShare>, ProtocolError> {
        match round {
            1 => {
                expect_kind(sender, round, broadcast, true)?;
                let pkg = dkg::round1::Package::<F::C>::deserialize(&payload).map_err(|e| malformed(sender, 1, e))?;
                // A refresh deals zero: its constant term (the identity) is left out.
                let degree = if self.refreshing.is_some() { self.t - 1 } else { self.t };
                if pkg.commitment().coefficients().len() != degree as usize {
                    return Err(malformed(sender, 1, "commitment has the wrong degree"));
                }
                self.round1.insert(ident::<F::C>(sender)?, pkg);
                if self.round1.len() + 1 == self.n as usize {
                    self.finish_round1()
                } else {
                    Ok(Progress::nothing())
                }
            }
            _ => {
                expect_kind(sender, round, broadcast, false)?;
                if self.round1_digest.is_none() {
                    self.early_round2.push((sender, payload));
                    Ok(Progress::nothing())
                } else {
                    self.take_round2(sender, payload)
                }
            }
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
        let have: Vec<PartyIndex> = if self.current_round() == 1 {
            self.parties
                .iter()
                .copied()
                .filter(|p| ident::<F::C>(*p).is_ok_and(|id| self.round1.contains_key(&id)))
                .collect()
        } else {
            self.parties
                .iter()
                .copied()
                .filter(|p| ident::<F::C>(*p).is_ok_and(|id| self.round2.contains_key(&id)))
                .collect()
        };
        others(&self.parties, self.me).filter(|p| !have.contains(p)).collect()
    }
}

/// Feldman check of a refresh share (a sharing of zero): `f(x)·G = Σ C_k·x^k` for k ≥ 1, at
/// our identifier x.
fn zero_share_matches<C: Ciphersuite>(
    dealt: &dkg::round1::Package<C>,
    share: &dkg::round2::Package<C>,
    me: Identifier<C>,
) -> bool {
    use frost_core::{Field, Group};
    type Fe<C> = <<C as Ciphersuite>::Group as Group>::Field;
    let scalar = |bytes: &[u8]| -> Option<<Fe<C> as Field>::Scalar> {
        let ser = <Fe<C> as Field>::Serialization::try_from(bytes).ok()?;
        <Fe<C> as Field>::deserialize(&ser).ok()
    };
    let (Some(x), Some(value)) = (scalar(&me.serialize()), scalar(&share.signing_share().serialize())) else {
        return false;
    };
    let Ok(commitments) = dealt.commitment().serialize() else { return false };
    let mut sum = <C::Group as Group>::identity();
    let mut power = x;
    for c in commitments {
        let Ok(ser) = <C::Group as Group>::Serialization::try_from(c.as_slice()) else { return false };
        let Ok(point) = <C::Group as Group>::deserialize(&ser) else { return false };
        sum = sum + point * power;
        power = power * x;
    }
    <C::Group as Group>::generator() * value == sum
}

// ---------------------------------------------------------------------------------------------
// Signing

struct SignEngine<F: Flavor> {
    me: PartyIndex,
    signers: Vec<PartyIndex>,
    message: Vec<u8>,
    key_package: KeyPackage<F::C>,
    public_key_package: PublicKeyPackage<F::C>,
    nonces: Option<SigningNonces<F::C>>,
    commitments: BTreeMap<Identifier<F::C>, SigningCommitments<F::C>>,
    signing_package: Option<SigningPackage<F::C>>,
    shares: BTreeMap<Identifier<F::C>, SignatureShare<F::C>>,
    early_shares: Vec<(PartyIndex, Vec<u8>)>,
}

impl<F: Flavor> SignEngine<F> {
    fn finish_round1(&mut self) -> Result<Progress<Signature>, ProtocolError> {
        let package = SigningPackage::new(self.commitments.clone(), &self.message);
        // Nonces are used exactly once: taken out here and wiped when dropped below.
        let nonces = self.nonces.take().ok_or_else(|| ProtocolError::Internal("nonces already used".into()))?;
        let share =
            frost_core::round2::sign(&package, &nonces, &self.key_package).map_err(|e| blame(e, &self.signers))?;
        drop(nonces);
        self.shares.insert(ident::<F::C>(self.me)?, share);
        self.signing_package = Some(package);
        let mut progress =
            Progress::send(vec![Outgoing { round: 2, to: Recipient::Broadcast, payload: share.serialize() }]);
        for (sender, payload) in std::mem::take(&mut self.early_shares) {
            let p = self.take_share(sender, payload)?;
            if p.output.is_some() {
                progress.output = p.output;
            }
        }
        Ok(progress)
    }

    fn take_share(&mut self, sender: PartyIndex, payload: Vec<u8>) -> Result<Progress<Signature>, ProtocolError> {
        let share = SignatureShare::<F::C>::deserialize(&payload).map_err(|e| malformed(sender, 2, e))?;
        self.shares.insert(ident::<F::C>(sender)?, share);
        if self.shares.len() < self.signers.len() {
            return Ok(Progress::nothing());
        }
        let package =
            self.signing_package.as_ref().ok_or_else(|| ProtocolError::Internal("no signing package".into()))?;
        let signature = frost_core::aggregate(package, &self.shares, &self.public_key_package)
            .map_err(|e| blame(e, &self.signers))?;
        let bytes = signature.serialize().map_err(|e| ProtocolError::Internal(e.to_string()))?;
        let public_key = F::encode_public_key(self.public_key_package.verifying_key())?;
        F::verify(&public_key, &self.message, &bytes)?;
        Ok(Progress::done(Vec::new(), Signature { bytes, recovery_id: None }))
    }
}

impl<F: Flavor> Engine for SignEngine<F> {
    type Output = Signature;

    fn rounds(&self) -> u16 {
        2
    }

    fn start(&mut self) -> Result<Progress<Signature>, ProtocolError> {
        let (nonces, commitments) = frost_core::round1::commit(self.key_package.signing_share(), &mut OsRng);
        let payload = commitments.serialize().map_err(|e| ProtocolError::Internal(e.to_string()))?;
        self.commitments.insert(ident::<F::C>(self.me)?, commitments);
        self.nonces = Some(nonces);
        Ok(Progress::send(vec![Outgoing { round: 1, to: Recipient::Broadcast, payload }]))
    }

    fn deliver(
        &mut self,
        sender: PartyIndex,
        round: u16,
        broadcast: bool,
        payload: Vec<u8>,
    ) -> Result<Progress<Signature>, ProtocolError> {
        expect_kind(sender, round, broadcast, true)?;
        match round {
            1 => {
                let c = SigningCommitments::<F::C>::deserialize(&payload).map_err(|e| malformed(sender, 1, e))?;
                self.commitments.insert(ident::<F::C>(sender)?, c);
                if self.commitments.len() == self.signers.len() {
                    self.finish_round1()
                } else {
                    Ok(Progress::nothing())
                }
            }
            _ => {
                if self.signing_package.is_none() {
                    self.early_shares.push((sender, payload));
                    Ok(Progress::nothing())
                } else {
                    self.take_share(sender, payload)
                }
            }
        }
    }

    fn current_round(&self) -> u16 {
        if self.signing_package.is_some() {
            2
        } else {
            1
        }
    }

    fn waiting_for(&self) -> Vec<PartyIndex> {
        let map_has = |p: PartyIndex| -> bool {
            let Ok(id) = ident::<F::C>(p) else { return false };
            if self.current_round() == 1 {
                self.commitments.contains_key(&id)
            } else {
                self.shares.contains_key(&id)
            }
        };
        others(&self.signers, self.me).filter(|&p| !map_has(p)).collect()
    }
}
