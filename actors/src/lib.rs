//! The ractor actor tree of a party node.
//!
//! - [`worker`]: a ceremony on its own thread (the sans-IO state machine is not `Send`, and
//!   CGGMP24 rounds compute for seconds); panics are contained and reported.
//! - [`session`]: one session actor per ceremony: network messages and ticks in, envelopes out
//!   through an [`session::Outbox`], one outcome.
//!
//! - [`manager`]: the session manager (proposals, votes, one session actor per ceremony,
//!   statuses) and the network bridge.
//! - [`keystore`]: key shares in the encrypted vault, journaled atomically.
//! - [`journal`]: the journal actor, which records every ceremony's start and end.
//! - [`bridge`]: the network bridge actor (transport events in, envelopes to the manager).
//! - [`transfers`]: the transfer actor: runs this node's transfers (the pure state machine
//!   `protocol::transfer`) and records the steps other members report.
//! - [`wallets`], [`signers`]: the wallets held here, and who signs.
//! - [`reads`]: the read side the admin API answers from (projections, transaction streams).
//! - [`error`]: the one error a caller of the tree gets back, each refusal typed.
//! - [`supervisor`]: the node supervisor, root of the tree, restarting what it can.
//!
//! - [`limiter`]: the limiter actor: client buckets at the entry node, each wallet's
//!   signing limits at every member.
//!
//! - [`health`]: one health actor per peer (score, latency, reputation) and the board they
//!   publish to; the DKG circuit breaker runs in the manager (`manager::breaker`).
//! - [`faults`]: fault injection into outgoing ceremony messages (drills; off by default).
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub use error::Error;

pub mod bridge;
pub mod error;
pub mod events;
pub mod faults;
pub mod health;
pub mod journal;
pub mod keystore;
pub mod limiter;
pub mod manager;
pub mod reads;
pub mod session;
pub mod signers;
pub mod supervisor;
pub mod transfers;
pub mod wallets;
pub mod worker;
pub mod yielding;
