//! The node crate's integration tests in one binary: one link instead of one per file,
//! and the shared helpers compiled once. Each file is a module; nextest still runs every
//! test in its own process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../testnet/src/btc_facade.rs"]
mod bitcoin_facade;
#[path = "../../../network/tests/suite/common.rs"]
mod chain_software;
mod common;
#[path = "../../../protocol/tests/suite/common/mod.rs"]
mod independent;

mod announcements;
mod archive;
mod backup;
mod breaker;
mod chaos;
mod cli;
mod cluster;
mod console;
mod delivery;
mod disk;
mod export;
mod fixtures;
mod guard;
mod interrupted;
mod kill_trials;
mod lost_peer;
mod malformed_rpc;
mod operator;
mod presign;
mod refresh;
mod refusals;
mod repair;
mod secrets;
mod soak;
mod transfers;
mod units;
