//! Opening the RocksDB database with every column family.

use std::path::Path;
use std::sync::Arc;

use rocksdb::{BlockBasedOptions, Cache, ColumnFamilyDescriptor, Options, DB};

use crate::error::StoreError;
use crate::keys::cf;

/// Memtables of every column family together (flushed to disk beyond).
const MEMTABLES_TOTAL: usize = 32 << 20;
/// One column family's memtable.
const MEMTABLE_PER_FAMILY: usize = 4 << 20;
/// Read cache shared by every column family.
const BLOCK_CACHE: usize = 16 << 20;

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
        // Bounded memory whatever the load: RocksDB's defaults give each column family its own
        // 64 MiB memtables (two of them) and block cache, hundreds of MiB over ours.
        opts.set_db_write_buffer_size(MEMTABLES_TOTAL);
        let cache = Cache::new_lru_cache(BLOCK_CACHE);
        let cf_options = || {
            let mut o = Options::default();
            o.set_compression_type(rocksdb::DBCompressionType::Lz4);
            o.set_write_buffer_size(MEMTABLE_PER_FAMILY);
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&cache);
            o.set_block_based_table_factory(&table);
            o
        };
        let cfs = cf::ALL.iter().map(|name| ColumnFamilyDescriptor::new(*name, cf_options()));
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
