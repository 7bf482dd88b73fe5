//! The store's errors.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB reported an error.
    #[error("database error: {0}")]
    Db(#[from] rocksdb::Error),
    /// An earlier write or sync failed; the store refuses writes until restarted.
    #[error("store failed closed after an earlier write error; restart the node")]
    FailedClosed,
    /// The data directory's free space is under the configured floor: new ceremonies are
    /// refused before a write can fail half-way.
    #[error("the data directory has {free_mb} MiB free, under the floor of {floor_mb} MiB ([node] min_free_disk_mb): free space, then retry")]
    DiskFull {
        /// Free space now, MiB.
        free_mb: u64,
        /// The floor, MiB.
        floor_mb: u64,
    },
    /// The synced write of this append failed; nothing of it was stored, and the store is now
    /// failed closed.
    #[error("write failed, store now failed closed: {0}")]
    WriteFailed(String),
    /// Optimistic concurrency: the stream is not at the expected version.
    #[error("stream {stream} is at version {actual}, expected {expected}")]
    Conflict {
        /// The stream.
        stream: String,
        /// What the writer expected.
        expected: String,
        /// Where the stream is.
        actual: u64,
    },
    /// An idempotency key was reused for a different append.
    #[error("idempotency key {key} was used for a different append")]
    IdempotencyMismatch {
        /// The key, hex.
        key: String,
    },
    /// Stored bytes did not decode.
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// The decoder's report.
        detail: String,
    },
    /// `verify` found the hash chain broken.
    #[error("journal tampered at sequence {seq}: {reason}")]
    Tampered {
        /// First bad sequence number.
        seq: u64,
        /// What was wrong.
        reason: String,
    },
    /// An event type or schema version this build does not know.
    #[error("unknown event {event_type} v{version}")]
    UnknownEvent {
        /// Stored type name.
        event_type: String,
        /// Stored schema version.
        version: u16,
    },
    /// The vault secret does not open this vault.
    #[error("wrong vault secret (passphrase or key file)")]
    WrongVaultKey,
    /// A sealed entry failed authentication: corrupted, or moved from another wallet or party.
    #[error("vault entry for {what} failed authentication (corrupted or swapped)")]
    VaultCorrupt {
        /// Which entry.
        what: String,
    },
    /// Nothing stored under that key.
    #[error("not found: {0}")]
    NotFound(String),
    /// A caller passed something unusable.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Reading a key file or another OS-level failure.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A backup that the passphrase given does not open.
    #[error("wrong backup passphrase")]
    BackupPassphrase,
    /// A backup file that is not one, or was altered or cut short.
    #[error("backup file damaged or tampered with: {0}")]
    BackupDamaged(String),
}

impl StoreError {
    pub(crate) fn corrupt(what: &'static str, detail: impl ToString) -> Self {
        StoreError::Corrupt { what, detail: detail.to_string() }
    }
}
