//! One token bucket as a single number (GCRA): the time at which the bucket would be full
//! again. Refill is lazy (computed at each check), so a bucket costs 16 bytes and no timer.
//!
//! Time is kept in units of `1 / rate` ms (`ms × rate`): one token then takes exactly 60 000
//! units to come back, with no rounding, so the retry time given is exact to the millisecond.

use serde::{Deserialize, Serialize};

/// Units of scaled time per token (one minute, in `ms × rate`).
const PER_TOKEN: u64 = 60_000;
/// Highest rate accepted: keeps `now_ms × rate` far inside a u64.
pub const MAX_RATE_PER_MIN: u32 = 1_000_000;

/// A bucket's shape: `rate` tokens a minute, holding at most `capacity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    /// Tokens refilled per minute.
    pub per_minute: u32,
    /// Most tokens held (the burst).
    pub capacity: u32,
}

impl Rate {
    /// `per_minute` with the usual capacity of 1.5 × the rate (at least 1).
    pub fn per_minute(per_minute: u32) -> Self {
        let per_minute = per_minute.clamp(1, MAX_RATE_PER_MIN);
        let capacity = (per_minute.saturating_mul(3) / 2).max(1);
        Self { per_minute, capacity }
    }

    fn rate(&self) -> u64 {
        u64::from(self.per_minute.clamp(1, MAX_RATE_PER_MIN))
    }

    fn scaled(&self, now_ms: u64) -> u64 {
        now_ms.saturating_mul(self.rate())
    }

    fn span(&self) -> u64 {
        u64::from(self.capacity).saturating_mul(PER_TOKEN)
    }
}

/// Why a bucket refused, in its own terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shortfall {
    /// Whole tokens in the bucket now.
    pub level: u64,
    /// Its capacity.
    pub capacity: u64,
    /// Milliseconds until the same request would pass; `None` if it never can (its cost is
    /// above the capacity).
    pub retry_after_ms: Option<u64>,
}

/// The bucket: the (scaled) time at which it is full again. Zero is a full bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    full_at: u64,
}

impl Bucket {
    /// A full bucket.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whole tokens held at `now_ms`.
    pub fn level(&self, rate: &Rate, now_ms: u64) -> u64 {
        let owed = self.full_at.saturating_sub(rate.scaled(now_ms));
        rate.span().saturating_sub(owed) / PER_TOKEN
    }

    /// True when the bucket is full at `now_ms`: forgetting it loses nothing.
    pub fn is_full(&self, rate: &Rate, now_ms: u64) -> bool {
        self.full_at <= rate.scaled(now_ms)
    }

    /// Milliseconds until the bucket is full again (0 if it is).
    pub fn full_in_ms(&self, rate: &Rate, now_ms: u64) -> u64 {
        self.full_at.saturating_sub(rate.scaled(now_ms)).div_ceil(rate.rate())
    }

    /// What the bucket would be after taking `cost` tokens at `now_ms`, or why it cannot.
    /// Nothing changes: [`Bucket::take`] does both.
    pub fn after(&self, rate: &Rate, now_ms: u64, cost: u32) -> Result<Bucket, Shortfall> {
        let now = rate.scaled(now_ms);
        let need = u64::from(cost).saturating_mul(PER_TOKEN);
        let full_at = self.full_at.max(now).saturating_add(need);
        let span = rate.span();
        if full_at - now <= span {
            return Ok(Bucket { full_at });
        }
        let retry_after_ms = (need <= span).then(|| (full_at - span - now).div_ceil(rate.rate()));
        Err(Shortfall { level: self.level(rate, now_ms), capacity: u64::from(rate.capacity), retry_after_ms })
    }

    /// Takes `cost` tokens at `now_ms`, or says when to retry.
    pub fn take(&mut self, rate: &Rate, now_ms: u64, cost: u32) -> Result<(), Shortfall> {
        *self = self.after(rate, now_ms, cost)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_gives_its_capacity_then_refills_one_token_per_interval() {
        let rate = Rate::per_minute(100);
        assert_eq!(rate.capacity, 150);
        let mut b = Bucket::new();
        for _ in 0..150 {
            b.take(&rate, 1_000_000, 1).unwrap();
        }
        let short = b.take(&rate, 1_000_000, 1).unwrap_err();
        assert_eq!(short.level, 0);
        assert_eq!(short.retry_after_ms, Some(600), "one token every 600 ms at 100/min");
        assert!(b.take(&rate, 1_000_599, 1).is_err());
        assert!(b.take(&rate, 1_000_600, 1).is_ok());
    }

    #[test]
    fn a_cost_above_capacity_never_passes() {
        let rate = Rate { per_minute: 10, capacity: 4 };
        assert_eq!(Bucket::new().after(&rate, 5, 5).unwrap_err().retry_after_ms, None);
    }
}
