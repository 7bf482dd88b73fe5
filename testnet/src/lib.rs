//! The local multi-node testnet: starts n `mpc-node` processes on loopback, runs the demo
//! (DKG per scheme, one signed transaction per chain) and hosts the end-to-end tests.
//!
//! Filled by the testnet issue; today it only fixes the crate's place in the layout.
