//! The `mpc-node` binary's library.
//!
//! - [`config`]: the TOML config, checked field by field.
//! - [`init`]: `mpc-node init` (identity, vault key, admin token, config skeleton).
//! - [`runtime`]: `mpc-node run`: store, transport, chain adapters, actor tree, admin RPC,
//!   metrics: the one place that assembles the node.
//! - [`rpc`]: the admin JSON-RPC 2.0 endpoint and its bearer-token layer.
//! - [`metrics`]: the Prometheus metrics and their endpoint.
//! - [`archive`]: the journal streamed to PostgreSQL, and its verification there.
//! - [`console`]: the live console page served at `/console` on the admin address.
//! - [`client`]: the operator's client commands (`mpc-node info`, `wallet`, `transfer`, ...).
//!
//! The workflow (transfers, proposals, ceremonies) lives in the actor tree (`actors`); this
//! crate assembles it and adapts the admin RPC to actor calls.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod archive;
pub mod backup;
pub mod client;
pub mod config;
pub mod console;
pub mod export;
pub mod init;
pub mod metrics;
pub mod rpc;
pub mod runtime;
