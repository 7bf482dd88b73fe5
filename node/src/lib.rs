//! The `mpc-node` binary's library.
//!
//! - [`config`]: the TOML config, checked field by field.
//! - [`init`]: `mpc-node init` (identity, vault key, admin token, config skeleton).
//!
//! `mpc-node run` (the actor tree, admin JSON-RPC and metrics) arrives with the node issue.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod config;
pub mod init;
