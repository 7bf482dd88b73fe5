//! The node's edges toward other machines.
//!
//! - [`chain_rpc`]: JSON-RPC clients to chain nodes (Ethereum, Bitcoin Core, Solana) behind the
//!   protocol crate's `ChainRpc` port, with timeouts, retries with backoff, bounded responses
//!   and typed errors.
//! - [`p2p`]: the libp2p transport between parties (persistent Ed25519 identity, committee-only
//!   connections, gossipsub for broadcast rounds, request-response for private rounds) behind
//!   a small handle; no other crate sees a libp2p type.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod chain_rpc;
pub mod p2p;
pub mod ports;
