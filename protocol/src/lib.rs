//! The domain core of the threshold-signing node, sans IO: no tokio, no sockets, no disk.
//!
//! - [`scheme`]: the port every threshold scheme implements (setup, DKG, signing, refresh,
//!   verification) and the material it produces.
//! - [`breaker`]: the DKG circuit breaker as a pure state machine, the health score and the
//!   adaptive round timeout.
//! - [`confirm`]: a DKG yields its share only once every party confirmed the same key and
//!   transcript.
//! - [`abort`]: the coordinated abort, signed with the node key, checked against what each
//!   party saw.
//! - [`batch`]: several signatures (one per payload of a transaction) in one session.
//! - [`ceremony`]: a ceremony is a pure state machine: messages and timer ticks in, messages,
//!   a result or a typed error out.
//! - [`envelope`]: the one wire envelope (session, round, sender, recipient) and its bounded codec.
//! - [`schemes`]: the adapters (FROST-Ed25519, FROST-secp256k1-Taproot, CGGMP24 ECDSA) and
//!   their registry.
//! - [`primes`]: the safe-prime pool CGGMP24 setups draw from.
//! - [`proposal`]: coordinator-free proposals and votes, and when to start a session.
//! - [`chains`]: the chain port and its encoders (Ethereum, Bitcoin P2TR/P2WPKH, Solana) and
//!   the chain RPC port.
//! - [`wallet`], [`transfer`]: what a member reviews before it signs a transfer, and the
//!   transfer itself as a pure state machine (inputs in, effects out).
//! - [`signable`], [`eip712`]: forms of signing a member reads (EIP-191, EIP-712) and the
//!   raw-signing policy; smuggled Solana transactions told apart.
//! - [`limits`]: token buckets and signing windows, pure, clock passed in.
//! - [`error`]: errors that name the culprit whenever a peer caused them.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod abort;
pub mod batch;
pub mod breaker;
pub mod ceremony;
pub mod chains;
pub mod confirm;
mod driver;
pub mod eip712;
pub mod envelope;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod ids;
pub mod limits;
pub mod presign;
pub mod primes;
pub mod proposal;
pub mod scheme;
pub mod schemes;
pub mod secret;
pub mod signable;
pub mod sim;
mod then;
pub mod transfer;
pub mod wallet;

pub use ceremony::{BoxCeremony, Ceremony, Millis, Step};
pub use envelope::{Envelope, Recipient};
pub use error::{CodecError, ProtocolError, Rejection};
pub use ids::{PartyIndex, SchemeId, SessionId, WalletId};
pub use scheme::{
    ExportParams, KeyShare, KeygenParams, PublicKey, RepairParams, SetupMaterial, SetupParams, SignParams, Signature,
    ThresholdScheme,
};
pub use secret::SecretBytes;
