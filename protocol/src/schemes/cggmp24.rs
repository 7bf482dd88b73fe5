//! Threshold ECDSA on secp256k1 by CGGMP24 (crate `cggmp24`, pinned pre-release). Every use of
//! that crate lives in this module, so moving to a later release is a one-module change.
//!
//! The library's protocols are async functions; its `state-machine` feature wraps each in a
//! synchronous state machine, which this module feeds envelope by envelope. Committee setup is
//! CGGMP24's auxiliary-info generation (Paillier keys from pregenerated safe primes); keygen is
//! its threshold DKG completed with that setup; signing is the full interactive protocol on a
//! 32-byte digest. Presignatures (`cggmp24_presign`) sign only messages whose preimage the
//! signer hashed itself: with raw digests they are the CVE-2025-66017 class.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use cggmp24::generic_ec::{Curve, Scalar};
use cggmp24::key_share::{AnyKeyShare, AuxInfo};
use cggmp24::round_based::state_machine::{ProceedResult, StateMachine};
use cggmp24::round_based::{Incoming, MessageDestination, MessageType, ProtocolMessage};
use cggmp24::security_level::SecurityLevel128;
use cggmp24::supported_curves::Secp256k1;
use cggmp24::{ExecutionId, PregeneratedPrimes, PrehashedDataToSign};
use k256::ecdsa::{RecoveryId, VerifyingKey};
use rand_core::{CryptoRng, OsRng, RngCore};
use serde::{de::DeserializeOwned, Serialize};
use sha2::Sha256;

use crate::ceremony::BoxCeremony;
use crate::driver::{check_committee, normalize_signers, Driver, Engine, Outgoing, Progress};
use crate::envelope::{decode_bounded, encode_bounded, Recipient};
use crate::error::ProtocolError;
use crate::ids::{PartyIndex, SchemeId};
use crate::presign::{Preimage, PresignParams, Presignature};
use crate::primes::{PrimePool, SafePrimes};
use crate::scheme::{
    KeyShare, KeygenParams, PublicKey, SetupMaterial, SetupParams, SignParams, Signature, ThresholdScheme,
};
use crate::secret::SecretBytes;

/// The scheme id.
pub const ID: SchemeId = SchemeId::new_static("cggmp24");

/// The pinned library release, for logs and the README.
pub const LIBRARY_VERSION: &str = "cggmp24 =0.7.0-alpha.3";

type Level = SecurityLevel128;
type AuxMsg = cggmp24::key_refresh::msg::Msg<Sha256, Level>;
type KeygenMsg = cggmp24::keygen::ThresholdMsg<Secp256k1, Level, Sha256>;
pub(super) type SignMsg = cggmp24::signing::msg::Msg<Secp256k1, Sha256>;
type FullShare = cggmp24::KeyShare<Secp256k1, Level>;

/// Protocol messages carry Paillier proofs; the largest (aux round 2) is a few hundred KiB.
const MAX_PAYLOAD: u64 = 2 * 1024 * 1024;
const MAX_MATERIAL: u64 = 4 * 1024 * 1024;

/// Finds one party's safe primes. Slow (tens of seconds): fill a pool ahead of time.
pub fn generate_safe_primes<R: RngCore + CryptoRng>(rng: &mut R) -> Result<SafePrimes, ProtocolError> {
    let primes = PregeneratedPrimes::<Level>::generate(rng);
    Ok(SafePrimes(SecretBytes::new(encode_bounded(&primes, MAX_MATERIAL)?)))
}

/// The adapter: needs the pool its setups draw primes from.
pub struct Cggmp24Scheme {
    primes: Arc<dyn PrimePool>,
}

/// The adapter, drawing setup primes from `primes`.
pub fn scheme(primes: Arc<dyn PrimePool>) -> Cggmp24Scheme {
    Cggmp24Scheme { primes }
}

fn invalid_material(e: impl ToString) -> ProtocolError {
    ProtocolError::InvalidMaterial(e.to_string())
}

impl ThresholdScheme for Cggmp24Scheme {
    fn id(&self) -> SchemeId {
        ID
    }

    fn needs_setup(&self) -> bool {
        true
    }

    fn setup(&self, params: &SetupParams) -> Result<BoxCeremony<SetupMaterial>, ProtocolError> {
        check_committee(params.me, params.parties, 2)?;
        let SafePrimes(raw) = self.primes.take().ok_or(ProtocolError::NoPrimesAvailable)?;
        let primes: PregeneratedPrimes<Level> = decode_bounded(raw.expose(), MAX_MATERIAL).map_err(invalid_material)?;
        let (session, me, n) = (params.session, params.me, params.parties);
        let sm = cggmp24::round_based::state_machine::wrap_protocol(move |party| async move {
            let mut rng = OsRng;
            cggmp24::aux_info_gen(ExecutionId::new(session.as_bytes()), me, n, primes).start(&mut rng, party).await
        });
        let finish = move |aux: AuxInfo<Level>| {
            let secret = SecretBytes::new(encode_bounded(&aux, MAX_MATERIAL)?);
            Ok(SetupMaterial { scheme: ID, party: me, parties: n, secret })
        };
        let parties: Vec<PartyIndex> = (0..n).collect();
        let engine = SmEngine::<AuxMsg, _, _, _>::new(Box::new(sm), parties.clone(), me, 4, &[3], finish);
        Ok(Box::new(Driver::new(session, me, parties, params.round_timeout_ms, engine)))
    }

    fn keygen(
        &self,
        params: &KeygenParams,
        setup: Option<&SetupMaterial>,
    ) -> Result<BoxCeremony<KeyShare>, ProtocolError> {
        check_committee(params.me, params.parties, params.threshold)?;
        let setup = setup.ok_or_else(|| ProtocolError::SetupRequired("run the committee setup first".into()))?;
        self.check_scheme(&setup.scheme)?;
        if setup.party != params.me || setup.parties != params.parties {
            return Err(ProtocolError::SetupRequired(format!(
                "setup is for party {} of {}, keygen for party {} of {}",
                setup.party, setup.parties, params.me, params.parties
            )));
        }
        let aux: AuxInfo<Level> = decode_bounded(setup.secret.expose(), MAX_MATERIAL).map_err(invalid_material)?;
        let (session, me, n, t) = (params.session, params.me, params.parties, params.threshold);
        let sm = cggmp24::round_based::state_machine::wrap_protocol(move |party| async move {
            let mut rng = OsRng;
            cggmp24::keygen::<Secp256k1>(ExecutionId::new(session.as_bytes()), me, n)
                .set_threshold(t)
                .start(&mut rng, party)
                .await
        });
        let finish = move |core: cggmp24::IncompleteKeyShare<Secp256k1>| {
            let share = FullShare::from_parts((core, aux.clone()))
                .map_err(|e| ProtocolError::Internal(format!("key share does not validate: {e:?}")))?;
            let public_key = PublicKey { scheme: ID, bytes: encode_point(&share)? };
            let secret = encode_share(&share)?;
            Ok(KeyShare { scheme: ID, party: me, threshold: t, parties: n, public_key, secret })
        };
        let parties: Vec<PartyIndex> = (0..n).collect();
        let engine = SmEngine::<KeygenMsg, _, _, _>::new(Box::new(sm), parties.clone(), me, 5, &[3], finish);
        Ok(Box::new(Driver::new(session, me, parties, params.round_timeout_ms, engine)))
    }

    fn check_message(&self, message: &[u8]) -> Result<(), ProtocolError> {
        match message.len() {
            32 => Ok(()),
            n => Err(ProtocolError::InvalidMessage(format!("expected a 32-byte digest, got {n} bytes"))),
        }
    }

    fn sign(&self, share: &KeyShare, params: &SignParams) -> Result<BoxCeremony<Signature>, ProtocolError> {
        self.check_scheme(&share.scheme)?;
        self.check_message(&params.message)?;
        let digest: [u8; 32] = params.message.as_slice().try_into().map_err(|_| {
            ProtocolError::InvalidMessage(format!("expected a 32-byte digest, got {} bytes", params.message.len()))
        })?;
        let signers = normalize_signers(&params.signers, share.party, share.parties, share.threshold)?;
        if signers.len() != share.threshold as usize {
            return Err(ProtocolError::InvalidSignerSet(format!(
                "CGGMP24 signs with exactly t = {} signers, got {}",
                share.threshold,
                signers.len()
            )));
        }
        let full = open_share(share)?;
        let public_key = share.public_key.bytes.clone();
        let local_i = signers
            .iter()
            .position(|&p| p == share.party)
            .and_then(|i| u16::try_from(i).ok())
            .ok_or_else(|| ProtocolError::Internal("signer not in set".into()))?;
        let session = params.session;
        let at_keygen = signers.clone();
        let sm = cggmp24::round_based::state_machine::wrap_protocol(move |party| async move {
            let mut rng = OsRng;
            let data = PrehashedDataToSign::from_scalar(Scalar::<Secp256k1>::from_be_bytes_mod_order(digest));
            cggmp24::signing(ExecutionId::new(session.as_bytes()), local_i, &at_keygen, &full)
                .sign(&mut rng, party, &data)
                .await
        });
        let finish = move |sig: cggmp24::Signature<Secp256k1>| finish_signature(sig, &public_key, &digest);
        let engine = SmEngine::<SignMsg, _, _, _>::new(Box::new(sm), signers.clone(), share.party, 6, &[2, 3], finish);
        Ok(Box::new(Driver::new(session, share.party, signers, params.round_timeout_ms, engine)))
    }

    fn presigns(&self) -> bool {
        true
    }

    fn presign(
        &self,
        share: &KeyShare,
        params: &PresignParams,
    ) -> Result<BoxCeremony<Vec<Presignature>>, ProtocolError> {
        super::cggmp24_presign::presign(share, params)
    }

    fn presignature_secret_values(&self, presignature: &Presignature) -> Result<Vec<SecretBytes>, ProtocolError> {
        super::cggmp24_presign::secret_values(presignature)
    }

    fn sign_presigned(
        &self,
        share: &KeyShare,
        params: &SignParams,
        preimage: &Preimage,
        presignature: Presignature,
    ) -> Result<BoxCeremony<Signature>, ProtocolError> {
        super::cggmp24_presign::sign_presigned(share, params, preimage, presignature)
    }

    fn refresh(&self, share: &KeyShare, params: &KeygenParams) -> Result<BoxCeremony<KeyShare>, ProtocolError> {
        self.check_scheme(&share.scheme)?;
        super::deal::refresh::<super::cggmp24_linear::CggmpShares>(share, params)
    }

    fn refreshes_aux(&self) -> bool {
        true
    }

    /// The key-share refresh, then (rounds 3..=6 of the same session) a new aux-info
    /// generation from a fresh safe-prime set: every member's Paillier keys and ring-Pedersen
    /// parameters are new too, and go into this wallet's share with its refreshed secret.
    fn refresh_aux(&self, share: &KeyShare, params: &KeygenParams) -> Result<BoxCeremony<KeyShare>, ProtocolError> {
        self.check_scheme(&share.scheme)?;
        let deal = super::deal::refresh_engine::<super::cggmp24_linear::CggmpShares>(share, params)?;
        let SafePrimes(raw) = self.primes.take().ok_or(ProtocolError::NoPrimesAvailable)?;
        let primes: PregeneratedPrimes<Level> = decode_bounded(raw.expose(), MAX_MATERIAL).map_err(invalid_material)?;
        let (me, n) = (params.me, params.parties);
        let eid = *crate::ids::SessionId::derive("refresh-aux-info", params.session.as_bytes()).as_bytes();
        let parties: Vec<PartyIndex> = (0..n).collect();
        let aux_parties = parties.clone();
        let next: crate::then::Next<KeyShare, _> = Box::new(move |refreshed: KeyShare| {
            let sm = cggmp24::round_based::state_machine::wrap_protocol(move |party| async move {
                let mut rng = OsRng;
                cggmp24::aux_info_gen(ExecutionId::new(&eid), me, n, primes).start(&mut rng, party).await
            });
            let finish = move |aux: AuxInfo<Level>| {
                let mut dirty = open_share(&refreshed)?.into_inner();
                dirty.aux = aux.into_inner();
                Ok(KeyShare { secret: reseal_share(dirty)?, ..refreshed })
            };
            Ok(SmEngine::<AuxMsg, _, _, _>::new(Box::new(sm), aux_parties, me, 4, &[3], finish))
        });
        let engine = crate::then::Then::new(deal, 4, next);
        Ok(Box::new(Driver::new(params.session, me, parties, params.round_timeout_ms, engine)))
    }

    fn reshare(&self, share: &KeyShare, params: &KeygenParams) -> Result<BoxCeremony<KeyShare>, ProtocolError> {
        self.check_scheme(&share.scheme)?;
        super::deal::reshare::<super::cggmp24_linear::CggmpShares>(share, params)
    }

    fn export(
        &self,
        share: &KeyShare,
        params: &crate::scheme::ExportParams,
    ) -> Result<BoxCeremony<Option<SecretBytes>>, ProtocolError> {
        self.check_scheme(&share.scheme)?;
        super::export::start::<super::cggmp24_linear::CggmpShares>(share, params)
    }

    fn secret_values(&self, share: &KeyShare) -> Result<Vec<SecretBytes>, ProtocolError> {
        let full = open_share(share)?;
        let x: &Scalar<Secp256k1> = full.core.x.as_ref();
        Ok(vec![
            SecretBytes::new(x.to_be_bytes().as_bytes().to_vec()),
            SecretBytes::new(full.aux.p.to_bytes_msf()),
            SecretBytes::new(full.aux.q.to_bytes_msf()),
        ])
    }

    fn verify(&self, public_key: &PublicKey, message: &[u8], signature: &Signature) -> Result<(), ProtocolError> {
        self.check_scheme(&public_key.scheme)?;
        let key = VerifyingKey::from_sec1_bytes(&public_key.bytes).map_err(|_| ProtocolError::InvalidSignature)?;
        let sig = k256::ecdsa::Signature::from_slice(&signature.bytes).map_err(|_| ProtocolError::InvalidSignature)?;
        if sig.normalize_s().is_some() {
            return Err(ProtocolError::InvalidSignature); // high S: chains reject it
        }
        use k256::ecdsa::signature::hazmat::PrehashVerifier;
        key.verify_prehash(message, &sig).map_err(|_| ProtocolError::InvalidSignature)?;
        if let Some(v) = signature.recovery_id {
            let id = RecoveryId::from_byte(v).ok_or(ProtocolError::InvalidSignature)?;
            let recovered =
                VerifyingKey::recover_from_prehash(message, &sig, id).map_err(|_| ProtocolError::InvalidSignature)?;
            if recovered != key {
                return Err(ProtocolError::InvalidSignature);
            }
        }
        Ok(())
    }
}

/// The library's key share needs a self-describing format (it uses `deserialize_any`), so it is
/// stored as JSON, unlike the other material.
fn encode_share(share: &FullShare) -> Result<SecretBytes, ProtocolError> {
    serde_json::to_vec(share).map(SecretBytes::new).map_err(|e| ProtocolError::Internal(e.to_string()))
}

fn decode_share(secret: &SecretBytes) -> Result<FullShare, ProtocolError> {
    if secret.len() as u64 > MAX_MATERIAL {
        return Err(invalid_material("key share too large"));
    }
    serde_json::from_slice(secret.expose()).map_err(invalid_material)
}

/// The library's key share, checked against the metadata stored beside it.
pub(super) fn open_share(share: &KeyShare) -> Result<FullShare, ProtocolError> {
    let full = decode_share(&share.secret)?;
    if full.core.i != share.party || full.n() != share.parties || full.min_signers() != share.threshold {
        return Err(invalid_material("key share metadata does not match its secret"));
    }
    Ok(full)
}

/// Checks a changed library share (public shares against the secret, the group key) and
/// encodes it for the vault.
pub(super) fn reseal_share(
    dirty: cggmp24::key_share::DirtyKeyShare<Secp256k1, Level>,
) -> Result<SecretBytes, ProtocolError> {
    let valid = FullShare::validate(dirty)
        .map_err(|e| ProtocolError::Internal(format!("refreshed share invalid: {}", e.error())))?;
    encode_share(&valid)
}

fn encode_point(share: &FullShare) -> Result<Vec<u8>, ProtocolError> {
    Ok(share.shared_public_key().to_bytes(true).as_bytes().to_vec())
}

/// Low-S, then the recovery id found by trial recovery against the group key.
pub(super) fn finish_signature(
    sig: cggmp24::Signature<Secp256k1>,
    public_key: &[u8],
    digest: &[u8; 32],
) -> Result<Signature, ProtocolError> {
    let mut bytes = [0u8; 64];
    sig.normalize_s().write_to_slice(&mut bytes);
    let key = VerifyingKey::from_sec1_bytes(public_key).map_err(|e| ProtocolError::Internal(e.to_string()))?;
    let ksig = k256::ecdsa::Signature::from_slice(&bytes).map_err(|e| ProtocolError::Internal(e.to_string()))?;
    let id = RecoveryId::trial_recovery_from_prehash(&key, digest, &ksig)
        .map_err(|_| ProtocolError::Internal("signature does not verify under the group key".into()))?;
    Ok(Signature { bytes: bytes.to_vec(), recovery_id: Some(id.to_byte()) })
}

/// The library's errors keep their blame private but print it, as `faulty_party: N`
/// (AbortBlame) or `parties: [N, ..]` (Feldman and size checks), protocol-local indices: read
/// it back so blame stays data. An echo mismatch (`NotReliable([(N, msg), ..])`) lists the
/// parties whose echo differs from ours, which after a split broadcast are the honest parties
/// that were shown the other version: it blames nobody, like FROST's inconsistent broadcast.
fn blamed_in(report: &str, parties: &[PartyIndex]) -> Vec<PartyIndex> {
    let mut local: Vec<usize> = Vec::new();
    let leading_number = |s: &str| -> Option<usize> {
        let digits: String = s.trim_start().chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().ok()
    };
    for piece in report.split("faulty_party: ").skip(1) {
        local.extend(leading_number(piece));
    }
    for piece in report.split("parties: [").skip(1) {
        let list = piece.split(']').next().unwrap_or("");
        local.extend(list.split(',').filter_map(leading_number));
    }
    let mut out = Vec::new();
    for i in local {
        if let Some(&p) = parties.get(i) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

type BoxSm<M, O, E> = Box<dyn StateMachine<Output = Result<O, E>, Msg = M>>;

/// Drives one wrapped cggmp24 protocol from envelopes.
pub(super) struct SmEngine<M, O, E, F> {
    sm: BoxSm<M, O, E>,
    /// Protocol-local index -> committee index.
    parties: Vec<PartyIndex>,
    me: PartyIndex,
    rounds: u16,
    p2p_rounds: &'static [u16],
    queue: VecDeque<Incoming<M>>,
    needs_message: bool,
    next_id: u64,
    current_round: u16,
    received: HashSet<(u16, PartyIndex)>,
    finish: Option<F>,
}

impl<M, O, E, F, Out> SmEngine<M, O, E, F>
where
    M: ProtocolMessage + Serialize + DeserializeOwned + 'static,
    E: std::fmt::Debug + std::fmt::Display,
    F: FnOnce(O) -> Result<Out, ProtocolError>,
{
    pub(super) fn new(
        sm: BoxSm<M, O, E>,
        parties: Vec<PartyIndex>,
        me: PartyIndex,
        rounds: u16,
        p2p_rounds: &'static [u16],
        finish: F,
    ) -> Self {
        Self {
            sm,
            parties,
            me,
            rounds,
            p2p_rounds,
            queue: VecDeque::new(),
            needs_message: false,
            next_id: 0,
            current_round: 1,
            received: HashSet::new(),
            finish: Some(finish),
        }
    }

    fn local(&self, p: PartyIndex) -> Option<u16> {
        self.parties.iter().position(|&x| x == p).and_then(|i| u16::try_from(i).ok())
    }

    fn run(&mut self) -> Result<Progress<Out>, ProtocolError> {
        let mut out = Vec::new();
        loop {
            if self.needs_message {
                let Some(msg) = self.queue.pop_front() else {
                    return Ok(Progress::send(out));
                };
                self.sm
                    .received_msg(msg)
                    .map_err(|_| ProtocolError::Internal("state machine refused a message".into()))?;
                self.needs_message = false;
            }
            match self.sm.proceed() {
                ProceedResult::SendMsg(o) => {
                    let round = o.msg.round().saturating_add(1);
                    let to = match o.recipient {
                        MessageDestination::AllParties => Recipient::Broadcast,
                        MessageDestination::OneParty(j) => Recipient::Party(
                            *self
                                .parties
                                .get(usize::from(j))
                                .ok_or_else(|| ProtocolError::Internal(format!("no party {j}")))?,
                        ),
                    };
                    let payload = encode_bounded(&o.msg, MAX_PAYLOAD)?;
                    self.current_round = round;
                    out.push(Outgoing { round, to, payload });
                }
                ProceedResult::NeedsOneMoreMessage => self.needs_message = true,
                ProceedResult::Yielded => {}
                ProceedResult::Output(Ok(value)) => {
                    let finish = self.finish.take().ok_or(ProtocolError::Finished)?;
                    return Ok(Progress::done(out, finish(value)?));
                }
                ProceedResult::Output(Err(e)) => {
                    let report = format!("{e}: {e:?}");
                    let culprits = blamed_in(&report, &self.parties);
                    return Err(ProtocolError::Aborted { culprits, reason: report });
                }
                ProceedResult::Error(e) => return Err(ProtocolError::Internal(e.to_string())),
            }
        }
    }
}

impl<M, O, E, F, Out> Engine for SmEngine<M, O, E, F>
where
    M: ProtocolMessage + Serialize + DeserializeOwned + 'static,
    E: std::fmt::Debug + std::fmt::Display,
    F: FnOnce(O) -> Result<Out, ProtocolError>,
{
    type Output = Out;

    fn rounds(&self) -> u16 {
        self.rounds
    }

    fn start(&mut self) -> Result<Progress<Out>, ProtocolError> {
        self.run()
    }

    fn deliver(
        &mut self,
        sender: PartyIndex,
        round: u16,
        broadcast: bool,
        payload: Vec<u8>,
    ) -> Result<Progress<Out>, ProtocolError> {
        let malformed = |reason: String| ProtocolError::Malformed { culprit: sender, round, reason };
        let msg: M = decode_bounded(&payload, MAX_PAYLOAD).map_err(|e| malformed(e.to_string()))?;
        if msg.round().saturating_add(1) != round {
            return Err(malformed(format!("payload is a round-{} message", msg.round().saturating_add(1))));
        }
        if broadcast == self.p2p_rounds.contains(&round) {
            return Err(malformed(if broadcast { "must be sent privately" } else { "must be broadcast" }.into()));
        }
        let local = self.local(sender).ok_or_else(|| malformed("not a participant".into()))?;
        self.received.insert((round, sender));
        self.queue.push_back(Incoming {
            id: self.next_id,
            sender: local,
            msg_type: if broadcast { MessageType::Broadcast } else { MessageType::P2P },
            msg,
        });
        self.next_id += 1;
        self.run()
    }

    fn current_round(&self) -> u16 {
        self.current_round
    }

    fn waiting_for(&self) -> Vec<PartyIndex> {
        self.parties
            .iter()
            .copied()
            .filter(|&p| p != self.me && !self.received.contains(&(self.current_round, p)))
            .collect()
    }
}

#[allow(dead_code)]
fn _curve_is_secp256k1(_: &dyn Fn() -> Secp256k1) -> &'static str {
    Secp256k1::CURVE_NAME
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blame_is_read_back_from_library_reports() {
        let report = "aborted: EncProofOfK([(AbortBlame { faulty_party: 1, data_message: 3 }, x), \
                      (AbortBlame { faulty_party: 2, data_message: 4 }, y)])";
        assert_eq!(blamed_in(report, &[0, 3, 7]), vec![3, 7]);
        assert_eq!(blamed_in("faulty_party: 9", &[0, 1]), Vec::<PartyIndex>::new());
        assert_eq!(blamed_in("FeldmanVerificationFailed { parties: [0, 2] }", &[4, 5, 6]), vec![4, 6]);
        assert_eq!(
            blamed_in("Round1NotReliable([(1, 3), (2, 4)])", &[4, 5, 6]),
            Vec::<PartyIndex>::new(),
            "an echo mismatch names whoever saw another version, not who sent it"
        );
        assert_eq!(blamed_in("no blame here", &[0, 1]), Vec::<PartyIndex>::new());
    }
}
