//! Durable state on RocksDB: the hash-chained event journal, the encrypted key-share vault,
//! the safe-prime pool, consumed-nonce and session-id records, and the CQRS read models.
//!
//! Filled by the store issue; today it only fixes the crate's place in the layout.
