//! Opening the RocksDB database with every column family.

use std::path::Path;
use std::sync::Arc;

use rocksdb::{ColumnFamilyDescriptor, Options, DB};

use crate::error::StoreError;
use crate::keys::cf;

/// The node's database. Cheap to clone; every component shares one.
#[derive(Clone)]
pub struct Db {
    pub(crate) inner: Arc<DB>,
}

impl Db {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        // Corrupted files are reported at open rather than skipped.
        opts.set_paranoid_checks(true);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let cfs = cf::ALL.iter().map(|name| ColumnFamilyDescriptor::new(*name, Options::default()));
        let db = DB::open_cf_descriptors(&opts, path, cfs)?;
        Ok(Self { inner: Arc::new(db) })
    }

    pub(crate) fn cf(&self, name: &'static str) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.inner
            .cf_handle(name)
            .ok_or_else(|| StoreError::corrupt("database", format!("missing column family {name}")))
    }

    /// Bytes an unprivileged writer may still use on the data directory's file system.
    pub fn free_bytes(&self) -> Result<u64, StoreError> {
        let st = rustix::fs::statvfs(self.inner.path()).map_err(std::io::Error::from)?;
        Ok(st.f_bavail.saturating_mul(st.f_frsize))
    }

    /// Refuses new work while the file system has less than `floor` bytes free: a ceremony
    /// that started would fail at its first synced write, possibly half-way.
    pub fn check_free(&self, floor: u64) -> Result<(), StoreError> {
        if floor == 0 {
            return Ok(());
        }
        let free = self.free_bytes()?;
        if free < floor {
            return Err(StoreError::DiskFull { free_mb: free >> 20, floor_mb: floor >> 20 });
        }
        Ok(())
    }

    /// Flushes memtables to disk (benchmarks and tests; durability comes from the synced WAL).
    pub fn flush(&self) -> Result<(), StoreError> {
        for name in cf::ALL {
            self.inner.flush_cf(self.cf(name)?)?;
        }
        Ok(())
    }
}
