//! The node's edges toward other machines.
//!
//! - [`chain_rpc`]: JSON-RPC clients to chain nodes (Ethereum, Bitcoin Core, Solana) behind the
//!   protocol crate's `ChainRpc` port, with timeouts, retries with backoff, bounded responses
//!   and typed errors.
//! - The libp2p transport between parties (peer identity, gossip for broadcast rounds,
//!   request-response for private rounds) arrives with the node issue; no other crate will see
//!   a libp2p type.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod chain_rpc;
