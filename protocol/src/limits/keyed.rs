//! Buckets by key (API key, client address, wallet) with a bound on how many are tracked.
//!
//! A full bucket is the same as no bucket, so a key is forgotten as soon as its bucket has
//! refilled: a key at `rate` per minute and capacity `c` is tracked for at most `c / rate`
//! minutes after its last request. When `max_keys` are tracked, full buckets are swept; if
//! none is full, a new key is refused (fail closed) until the first tracked one refills.

use std::collections::HashMap;
use std::hash::Hash;

use super::bucket::{Bucket, Rate, Shortfall};

/// Buckets by key, all with the same default rate (a key may have its own).
#[derive(Debug)]
pub struct KeyedBuckets<K> {
    default: Rate,
    max_keys: usize,
    buckets: HashMap<K, (Bucket, Rate)>,
}

/// Why a keyed check refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyedShortfall {
    /// This key's bucket is short.
    Bucket(Shortfall),
    /// Too many keys are tracked: retry when the first refills.
    Saturated {
        /// Keys tracked.
        tracked: usize,
        /// Milliseconds until one is forgotten.
        retry_after_ms: u64,
    },
}

impl<K: Hash + Eq + Clone> KeyedBuckets<K> {
    /// At most `max_keys` keys tracked at once, each at `default` unless told otherwise.
    pub fn new(default: Rate, max_keys: usize) -> Self {
        Self { default, max_keys: max_keys.max(1), buckets: HashMap::new() }
    }

    /// Keys tracked now.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }

    /// Bytes the table holds per tracked key (entry and hash-table control byte, at its
    /// current allocation).
    pub fn bytes_per_key(&self) -> f64 {
        let slot = std::mem::size_of::<(K, (Bucket, Rate))>() + 1;
        (self.buckets.capacity() * slot) as f64 / self.buckets.len().max(1) as f64
    }

    /// Whether `key` may take `cost` now, at `rate` (or the default): nothing is taken.
    pub fn check(&self, key: &K, rate: Option<Rate>, now_ms: u64, cost: u32) -> Result<(), KeyedShortfall> {
        let rate = rate.unwrap_or(self.default);
        match self.buckets.get(key) {
            Some((bucket, _)) => bucket.after(&rate, now_ms, cost).map(|_| ()).map_err(KeyedShortfall::Bucket),
            None => Bucket::new().after(&rate, now_ms, cost).map(|_| ()).map_err(KeyedShortfall::Bucket),
        }
    }

    /// Takes `cost` from `key`'s bucket at `rate` (or the default), or says why not.
    pub fn take(&mut self, key: &K, rate: Option<Rate>, now_ms: u64, cost: u32) -> Result<(), KeyedShortfall> {
        let rate = rate.unwrap_or(self.default);
        if let Some((bucket, r)) = self.buckets.get_mut(key) {
            *r = rate;
            return bucket.take(&rate, now_ms, cost).map_err(KeyedShortfall::Bucket);
        }
        let fresh = Bucket::new().after(&rate, now_ms, cost).map_err(KeyedShortfall::Bucket)?;
        if self.buckets.len() >= self.max_keys {
            self.sweep(now_ms);
            if self.buckets.len() >= self.max_keys {
                let retry_after_ms = self.buckets.values().map(|(b, r)| b.full_in_ms(r, now_ms)).min().unwrap_or(1);
                return Err(KeyedShortfall::Saturated { tracked: self.buckets.len(), retry_after_ms });
            }
        }
        self.buckets.insert(key.clone(), (fresh, rate));
        Ok(())
    }

    /// Forgets every key whose bucket is full again.
    pub fn sweep(&mut self, now_ms: u64) {
        self.buckets.retain(|_, (b, r)| !b.is_full(r, now_ms));
    }

    /// Tokens `key` holds now (capacity when untracked).
    pub fn level(&self, key: &K, now_ms: u64) -> u64 {
        match self.buckets.get(key) {
            Some((b, r)) => b.level(r, now_ms),
            None => u64::from(self.default.capacity),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_keys_are_forgotten_and_a_full_table_fails_closed() {
        let mut t = KeyedBuckets::new(Rate::per_minute(60), 2);
        t.take(&"a", None, 0, 1).unwrap();
        t.take(&"b", None, 0, 1).unwrap();
        let Err(KeyedShortfall::Saturated { tracked: 2, retry_after_ms }) = t.take(&"c", None, 0, 1) else {
            panic!("a third key must wait")
        };
        assert_eq!(retry_after_ms, 1000, "one token refills in a second at 60/min");
        t.take(&"c", None, 1000, 1).unwrap();
        assert_eq!(t.tracked(), 1, "a and b refilled and were swept");
    }
}
