//! The pool of pregenerated safe primes that CGGMP24's committee setup consumes. Finding them
//! takes tens of seconds per party, so they are made ahead of time; the store persists the pool.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::secret::SecretBytes;

/// One party's set of safe primes for one setup (opaque; its adapter knows the format).
/// Secret: they become the party's Paillier private key. Used once, never twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafePrimes(pub SecretBytes);

/// Where setup ceremonies take their primes from.
pub trait PrimePool: Send + Sync {
    /// Removes and returns one set, or `None` when the pool is empty.
    fn take(&self) -> Option<SafePrimes>;
    /// Sets left.
    fn available(&self) -> usize;
}

/// An in-memory pool (tests, the example, and the store's cache in front of disk).
#[derive(Default)]
pub struct MemoryPrimePool {
    sets: Mutex<Vec<SafePrimes>>,
}

impl MemoryPrimePool {
    /// A pool holding `sets`.
    pub fn new(sets: Vec<SafePrimes>) -> Self {
        Self { sets: Mutex::new(sets) }
    }

    /// Adds a set.
    pub fn put(&self, set: SafePrimes) {
        if let Ok(mut sets) = self.sets.lock() {
            sets.push(set);
        }
    }
}

impl PrimePool for MemoryPrimePool {
    fn take(&self) -> Option<SafePrimes> {
        self.sets.lock().ok()?.pop()
    }

    fn available(&self) -> usize {
        self.sets.lock().map(|s| s.len()).unwrap_or(0)
    }
}
