//! The threshold-scheme port: what wallet logic and the node use, never naming a scheme.

use serde::{Deserialize, Serialize};

use crate::ceremony::{BoxCeremony, Millis, DEFAULT_ROUND_TIMEOUT_MS};
use crate::error::ProtocolError;
use crate::ids::{PartyIndex, SchemeId, SessionId};
use crate::secret::SecretBytes;

/// Largest committee the node accepts. The schemes allow more; our network limits and
/// CGGMP24's quadratic setup cost make 64 a sane ceiling.
pub const MAX_PARTIES: u16 = 64;

/// A group public key in the encoding its chains use: 32 bytes for Ed25519, the 32-byte x-only
/// BIP341 output key for FROST-Taproot, 33-byte compressed SEC1 for ECDSA.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PublicKey {
    /// The scheme that produced it.
    pub scheme: SchemeId,
    /// The encoded key.
    pub bytes: Vec<u8>,
}

/// A finished signature: 64 bytes (Ed25519 R‖s, BIP340 R.x‖s, or ECDSA r‖s with low s) and,
/// for ECDSA, the recovery id (0 or 1: parity of R.y).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The 64 signature bytes.
    pub bytes: Vec<u8>,
    /// ECDSA only.
    pub recovery_id: Option<u8>,
}

/// One party's share of a group key. The secret part is opaque to everyone but its adapter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyShare {
    /// Scheme that owns the secret format.
    pub scheme: SchemeId,
    /// This party's committee index.
    pub party: PartyIndex,
    /// Signers needed.
    pub threshold: u16,
    /// Committee size.
    pub parties: u16,
    /// The group key.
    pub public_key: PublicKey,
    /// Adapter-encoded secret share (zeroized on drop).
    pub secret: SecretBytes,
}

/// Per-committee material some schemes need before keygen (CGGMP24: Paillier keys and
/// ring-Pedersen parameters of every party). Reusable across keys of the same committee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupMaterial {
    /// Scheme that owns the format.
    pub scheme: SchemeId,
    /// This party's index.
    pub party: PartyIndex,
    /// Committee size it was made for.
    pub parties: u16,
    /// Adapter-encoded material (holds secrets: zeroized on drop).
    pub secret: SecretBytes,
}

/// Parameters of a committee setup ceremony.
#[derive(Clone, Debug)]
pub struct SetupParams {
    /// Fresh session id.
    pub session: SessionId,
    /// This party.
    pub me: PartyIndex,
    /// Committee size.
    pub parties: u16,
    /// Per-round timeout.
    pub round_timeout_ms: Millis,
}

/// Parameters of a distributed key generation.
#[derive(Clone, Debug)]
pub struct KeygenParams {
    /// Fresh session id.
    pub session: SessionId,
    /// This party.
    pub me: PartyIndex,
    /// Committee size n.
    pub parties: u16,
    /// Signers needed, t.
    pub threshold: u16,
    /// Per-round timeout.
    pub round_timeout_ms: Millis,
}

impl KeygenParams {
    /// Parameters with the default round timeout.
    pub fn new(session: SessionId, me: PartyIndex, parties: u16, threshold: u16) -> Self {
        Self { session, me, parties, threshold, round_timeout_ms: DEFAULT_ROUND_TIMEOUT_MS }
    }
}

/// Parameters of the repair of one lost share.
#[derive(Clone, Debug)]
pub struct RepairParams {
    /// Fresh session id.
    pub session: SessionId,
    /// This party.
    pub me: PartyIndex,
    /// The member whose share is repaired.
    pub lost: PartyIndex,
    /// The members who help (at least t, not `lost`).
    pub helpers: Vec<PartyIndex>,
    /// Committee size.
    pub parties: u16,
    /// The wallet's threshold.
    pub threshold: u16,
    /// Per-round timeout.
    pub round_timeout_ms: Millis,
}

/// Parameters of a guarded export of a wallet's whole key to one participant.
#[derive(Clone, Debug)]
pub struct ExportParams {
    /// Fresh session id.
    pub session: SessionId,
    /// This party.
    pub me: PartyIndex,
    /// Who gets the key (the proposer).
    pub receiver: PartyIndex,
    /// Who sends a share (at least t, `receiver` among them).
    pub participants: Vec<PartyIndex>,
    /// Per-round timeout.
    pub round_timeout_ms: Millis,
}

/// Parameters of one signing.
#[derive(Clone, Debug)]
pub struct SignParams {
    /// Fresh session id; a retry is a new session (never the same nonces twice).
    pub session: SessionId,
    /// Committee indices of the signers, this party among them.
    pub signers: Vec<PartyIndex>,
    /// What to sign: the message bytes for Ed25519, a 32-byte digest for the secp256k1 schemes.
    pub message: Vec<u8>,
    /// Per-round timeout.
    pub round_timeout_ms: Millis,
}

impl SignParams {
    /// Parameters with the default round timeout.
    pub fn new(session: SessionId, signers: Vec<PartyIndex>, message: Vec<u8>) -> Self {
        Self { session, signers, message, round_timeout_ms: DEFAULT_ROUND_TIMEOUT_MS }
    }
}

/// One threshold signature scheme. Adapters implement it; everything else uses it.
pub trait ThresholdScheme: Send + Sync {
    /// The scheme's stable name.
    fn id(&self) -> SchemeId;

    /// True when keygen needs a committee setup first (see [`SetupMaterial`]).
    fn needs_setup(&self) -> bool {
        false
    }

    /// The private values inside `share` (FROST: the signing share; CGGMP24: the secret
    /// share scalar and the Paillier primes), each in its canonical encoding: what a leak scan looks for in logs,
    /// answers, metrics and files. For tests and audits only; never log or send them.
    #[doc(hidden)]
    fn secret_values(&self, share: &KeyShare) -> Result<Vec<SecretBytes>, ProtocolError> {
        let _ = share;
        Ok(Vec::new())
    }

    /// The private values inside a presignature (CGGMP24: the nonce shares), as
    /// [`Self::secret_values`]: for leak scans only.
    #[doc(hidden)]
    fn presignature_secret_values(
        &self,
        presignature: &crate::presign::Presignature,
    ) -> Result<Vec<SecretBytes>, ProtocolError> {
        let _ = presignature;
        Ok(Vec::new())
    }

    /// Starts the committee setup ceremony.
    fn setup(&self, params: &SetupParams) -> Result<BoxCeremony<SetupMaterial>, ProtocolError> {
        let _ = params;
        Err(ProtocolError::Unsupported { scheme: self.id(), operation: "setup" })
    }

    /// Starts a dealerless DKG. `setup` is this party's committee setup when the scheme needs one.
    fn keygen(
        &self,
        params: &KeygenParams,
        setup: Option<&SetupMaterial>,
    ) -> Result<BoxCeremony<KeyShare>, ProtocolError>;

    /// Checks that `message` is something this scheme signs (e.g. a 32-byte digest for
    /// ECDSA), so a bad request is refused before any ceremony starts.
    fn check_message(&self, message: &[u8]) -> Result<(), ProtocolError> {
        if message.is_empty() {
            return Err(ProtocolError::InvalidMessage("nothing to sign".into()));
        }
        Ok(())
    }

    /// Starts a signing ceremony with `share`.
    fn sign(&self, share: &KeyShare, params: &SignParams) -> Result<BoxCeremony<Signature>, ProtocolError>;

    /// True when [`ThresholdScheme::presign`] and [`ThresholdScheme::sign_presigned`] work.
    fn presigns(&self) -> bool {
        false
    }

    /// Starts a presigning ceremony among exactly `params.signers`: `params.count`
    /// presignatures, each usable once, by exactly those signers.
    fn presign(
        &self,
        share: &KeyShare,
        params: &crate::presign::PresignParams,
    ) -> Result<BoxCeremony<Vec<crate::presign::Presignature>>, ProtocolError> {
        let _ = (share, params);
        Err(ProtocolError::Unsupported { scheme: self.id(), operation: "presign" })
    }

    /// Starts a one-round signing of `params.message` with `presignature`, which it consumes.
    /// `preimage` is what this signer re-derived: it must hash to `params.message`, and the
    /// library hashes it itself.
    fn sign_presigned(
        &self,
        share: &KeyShare,
        params: &SignParams,
        preimage: &crate::presign::Preimage,
        presignature: crate::presign::Presignature,
    ) -> Result<BoxCeremony<Signature>, ProtocolError> {
        let _ = (share, params, preimage, presignature);
        Err(ProtocolError::Unsupported { scheme: self.id(), operation: "sign with a presignature" })
    }

    /// Starts a proactive refresh: same group key, new shares.
    fn refresh(&self, share: &KeyShare, params: &KeygenParams) -> Result<BoxCeremony<KeyShare>, ProtocolError> {
        let _ = (share, params);
        Err(ProtocolError::Unsupported { scheme: self.id(), operation: "refresh" })
    }

    /// True when [`ThresholdScheme::refresh_aux`] works (the scheme has per-party auxiliary
    /// material besides the key shares: CGGMP24's Paillier keys).
    fn refreshes_aux(&self) -> bool {
        false
    }

    /// Starts a refresh of the key shares that also makes new auxiliary material for them.
    fn refresh_aux(&self, share: &KeyShare, params: &KeygenParams) -> Result<BoxCeremony<KeyShare>, ProtocolError> {
        let _ = (share, params);
        Err(ProtocolError::Unsupported { scheme: self.id(), operation: "refresh with new auxiliary info" })
    }

    /// Starts a reshare to threshold `params.threshold` among the whole committee: same group
    /// key, new shares; the old ones are useless beside the new.
    fn reshare(&self, share: &KeyShare, params: &KeygenParams) -> Result<BoxCeremony<KeyShare>, ProtocolError> {
        let _ = (share, params);
        Err(ProtocolError::Unsupported { scheme: self.id(), operation: "reshare" })
    }

    /// Starts this participant's side of a guarded export: the receiver alone gets
    /// `Some(key)`, the scheme's private key encoding (see the README's recovery section).
    fn export(
        &self,
        share: &KeyShare,
        params: &ExportParams,
    ) -> Result<BoxCeremony<Option<SecretBytes>>, ProtocolError> {
        let _ = (share, params);
        Err(ProtocolError::Unsupported { scheme: self.id(), operation: "export" })
    }

    /// True when [`ThresholdScheme::repair`] works.
    fn repairs(&self) -> bool {
        false
    }

    /// Starts this member's side of the repair of `params.lost`'s share: a helper passes its
    /// share, the member repairing passes none and alone gets `Some(share)`.
    fn repair(
        &self,
        share: Option<&KeyShare>,
        params: &RepairParams,
    ) -> Result<BoxCeremony<Option<KeyShare>>, ProtocolError> {
        let _ = (share, params);
        Err(ProtocolError::Unsupported { scheme: self.id(), operation: "repair" })
    }

    /// Checks `signature` on `message` (as in [`SignParams::message`]) under `public_key`.
    fn verify(&self, public_key: &PublicKey, message: &[u8], signature: &Signature) -> Result<(), ProtocolError>;

    /// Checks that stored material belongs to this scheme.
    fn check_scheme(&self, got: &SchemeId) -> Result<(), ProtocolError> {
        if *got == self.id() {
            Ok(())
        } else {
            Err(ProtocolError::SchemeMismatch { expected: self.id(), got: got.clone() })
        }
    }
}
