//! The ractor actor tree of a party node: supervisor, network bridge, session manager with one
//! session actor per ceremony, health and circuit breaker, limiter, and the journal actor.
//!
//! Filled by the node issue; today it only fixes the crate's place in the layout.
