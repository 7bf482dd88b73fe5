//! The ractor actor tree of a party node.
//!
//! - [`worker`]: a ceremony on its own thread (the sans-IO state machine is not `Send`, and
//!   CGGMP24 rounds compute for seconds); panics are contained and reported.
//! - [`session`]: one session actor per ceremony: network messages and ticks in, envelopes out
//!   through an [`session::Outbox`], one outcome.
//!
//! The supervisor, session manager, network bridge, journal, health, breaker and limiter actors
//! arrive with the node issue and the ones after it.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod session;
pub mod worker;
