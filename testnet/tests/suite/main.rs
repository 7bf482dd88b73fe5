//! The testnet crate's integration tests in one binary: one link instead of one per file,
//! and the shared helpers compiled once. Each file is a module; nextest still runs every
//! test in its own process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod demo;
mod drill;
mod scenarios;
