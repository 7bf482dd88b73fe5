//! Durable state on RocksDB.
//!
//! - [`keys`]: every column family and key layout, declared once.
//! - [`journal`]: the append-only, hash-chained event journal (streams, optimistic concurrency,
//!   idempotent appends, group commit, `verify`).
//! - [`events`]: versioned domain events with upcasting.
//! - [`vault`]: key shares, committee setups and safe primes, encrypted at rest.
//! - [`presignatures`]: sealed presignatures, each taken (and marked used) once.
//! - [`limits`]: the signings the limiter granted, replayed at start.
//! - [`records`]: consumed session ids and nonces.
//! - [`projections`]: CQRS read models (history, balances, audit) with lag, rebuild, snapshots.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod backup;
pub mod db;
pub mod error;
pub mod events;
pub mod journal;
pub mod keys;
pub mod limits;
pub mod presignatures;
pub mod projections;
pub mod records;
pub mod refresh;
pub mod vault;

pub use db::Db;
pub use error::StoreError;
pub use events::{CeremonyKind, DomainEvent, StreamId};
pub use journal::{AppendRequest, Appended, ExpectedVersion, IdempotencyKey, Journal, JournalHead, RecordedEvent};
pub use projections::{OpenTransfer, Projections, WalletRow};
pub use vault::{KdfParams, Vault, VaultSecret};
