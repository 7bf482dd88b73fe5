//! The protocol crate's integration tests in one binary: one link instead of one per file,
//! and the shared helpers compiled once. Each file is a module; nextest still runs every
//! test in its own process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod advisories;
mod batch;
mod behaviour;
mod breaker;
mod chains;
mod confirm;
mod fuzz;
mod hostile;
mod limits;
mod presign;
mod refresh;
mod reshare;
mod scheme_specific;
mod transfer;
mod transfer_recovery;
