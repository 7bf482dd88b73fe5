//! What a wallet has signed lately, as each member counts it: signatures in the last day
//! (all, and raw ones), and how often each message was signed in the last hour.
//!
//! Memory is bounded by the limits themselves: an entry is kept only for a signing that was
//! granted within the window, and at most `per_day` are granted a day.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// One day, ms.
pub const DAY_MS: u64 = 24 * 60 * 60 * 1000;
/// One hour, ms.
pub const HOUR_MS: u64 = 60 * 60 * 1000;

/// A wallet's signing limits at one member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletLimits {
    /// Signatures per wallet in any 24 hours.
    pub per_day: u32,
    /// Of those, raw ones (a digest or message the member cannot read).
    pub raw_per_day: u32,
    /// Times the same message may be signed in any hour.
    pub same_message_per_hour: u32,
}

impl Default for WalletLimits {
    fn default() -> Self {
        Self { per_day: 1000, raw_per_day: 100, same_message_per_hour: 3 }
    }
}

/// A granted signing, as persisted and replayed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// When, ms since the epoch.
    pub at_ms: u64,
    /// The digest of each payload signed (one signature each).
    pub digests: Vec<[u8; 32]>,
    /// True for raw signing.
    pub raw: bool,
}

/// Which wallet limit refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowLimit {
    /// Signatures in a day.
    Velocity,
    /// Raw signatures in a day.
    RawVelocity,
    /// The same message signed too often in an hour.
    Diversity,
}

/// A refusal by a window: which, how full, and when to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowShortfall {
    /// Which limit.
    pub limit: WindowLimit,
    /// Used in the window now.
    pub level: u64,
    /// The limit.
    pub max: u64,
    /// Milliseconds until the same signing would pass; `None` if it never can.
    pub retry_after_ms: Option<u64>,
}

/// A wallet's recent signings.
#[derive(Debug, Default)]
pub struct Usage {
    /// (when, signatures, raw), oldest first, within the last day.
    signed: VecDeque<(u64, u32, bool)>,
    total: u64,
    raw_total: u64,
    /// Each message's signing times within the last hour, oldest first.
    seen: HashMap<[u8; 32], VecDeque<u64>>,
}

impl Usage {
    /// Rebuilt from persisted grants (any order; old ones are dropped).
    pub fn replay(mut grants: Vec<Grant>, now_ms: u64) -> Self {
        grants.sort_by_key(|g| g.at_ms);
        let mut usage = Self::default();
        for g in grants.iter().filter(|g| g.at_ms.saturating_add(DAY_MS) > now_ms) {
            usage.record(g);
        }
        usage.expire(now_ms);
        usage
    }

    /// Signatures in the 24 hours before `now_ms` (all, raw).
    pub fn used(&mut self, now_ms: u64) -> (u64, u64) {
        self.expire(now_ms);
        (self.total, self.raw_total)
    }

    /// Entries held (for the memory bound).
    pub fn entries(&self) -> usize {
        self.signed.len() + self.seen.values().map(VecDeque::len).sum::<usize>()
    }

    fn expire(&mut self, now_ms: u64) {
        while let Some(&(at, n, raw)) = self.signed.front() {
            if at.saturating_add(DAY_MS) > now_ms {
                break;
            }
            self.signed.pop_front();
            self.total -= u64::from(n);
            if raw {
                self.raw_total -= u64::from(n);
            }
        }
        self.seen.retain(|_, times| {
            while times.front().is_some_and(|t| t.saturating_add(HOUR_MS) <= now_ms) {
                times.pop_front();
            }
            !times.is_empty()
        });
    }

    /// Ms until signings in the day window free `need` signatures (of the raw ones only, if
    /// `raw`).
    fn freed_in(&self, need: u64, raw: bool, now_ms: u64) -> Option<u64> {
        let mut freed = 0u64;
        for &(at, n, r) in &self.signed {
            if raw && !r {
                continue;
            }
            freed += u64::from(n);
            if freed >= need {
                return Some(at.saturating_add(DAY_MS).saturating_sub(now_ms));
            }
        }
        None
    }

    /// Whether a signing of `digests` (raw or not) fits `limits` at `now_ms`. Expires old
    /// entries; records nothing.
    pub fn check(&mut self, limits: &WalletLimits, grant: &Grant, now_ms: u64) -> Result<(), WindowShortfall> {
        self.expire(now_ms);
        let n = grant.digests.len() as u64;
        let per_day = u64::from(limits.per_day);
        if self.total + n > per_day {
            let retry = if n > per_day { None } else { self.freed_in(self.total + n - per_day, false, now_ms) };
            return Err(WindowShortfall {
                limit: WindowLimit::Velocity,
                level: self.total,
                max: per_day,
                retry_after_ms: retry,
            });
        }
        let raw_per_day = u64::from(limits.raw_per_day);
        if grant.raw && self.raw_total + n > raw_per_day {
            let retry =
                if n > raw_per_day { None } else { self.freed_in(self.raw_total + n - raw_per_day, true, now_ms) };
            return Err(WindowShortfall {
                limit: WindowLimit::RawVelocity,
                level: self.raw_total,
                max: raw_per_day,
                retry_after_ms: retry,
            });
        }
        let per_hour = limits.same_message_per_hour as usize;
        let mut counts: HashMap<&[u8; 32], usize> = HashMap::new();
        for d in &grant.digests {
            *counts.entry(d).or_default() += 1;
        }
        for (d, k) in counts {
            let times = self.seen.get(d);
            let seen = times.map_or(0, VecDeque::len);
            if seen + k > per_hour {
                // The oldest signings that must leave the hour for `k` more to fit.
                let must_leave = seen + k - per_hour;
                let retry = match times {
                    Some(t) if k <= per_hour => t.get(must_leave - 1).map(|at| at + HOUR_MS - now_ms),
                    _ => None,
                };
                return Err(WindowShortfall {
                    limit: WindowLimit::Diversity,
                    level: seen as u64,
                    max: per_hour as u64,
                    retry_after_ms: retry,
                });
            }
        }
        Ok(())
    }

    /// Gives back a granted signing that never ran (its proposal was abandoned before it
    /// started, so no signature can exist). False if it is not counted here.
    pub fn refund(&mut self, grant: &Grant) -> bool {
        let n = grant.digests.len() as u32;
        let Some(i) = self.signed.iter().position(|&(at, k, raw)| at == grant.at_ms && k == n && raw == grant.raw)
        else {
            return false;
        };
        self.signed.remove(i);
        self.total -= u64::from(n);
        if grant.raw {
            self.raw_total -= u64::from(n);
        }
        for d in &grant.digests {
            if let Some(times) = self.seen.get_mut(d) {
                if let Some(j) = times.iter().position(|&t| t == grant.at_ms) {
                    times.remove(j);
                }
                if times.is_empty() {
                    self.seen.remove(d);
                }
            }
        }
        true
    }

    /// Counts a granted signing.
    pub fn record(&mut self, grant: &Grant) {
        let n = grant.digests.len() as u32;
        self.signed.push_back((grant.at_ms, n, grant.raw));
        self.total += u64::from(n);
        if grant.raw {
            self.raw_total += u64::from(n);
        }
        for d in &grant.digests {
            self.seen.entry(*d).or_default().push_back(grant.at_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(at_ms: u64, d: u8, raw: bool) -> Grant {
        Grant { at_ms, digests: vec![[d; 32]], raw }
    }

    #[test]
    fn the_fourth_same_message_in_an_hour_waits_for_the_first_to_leave() {
        let limits = WalletLimits::default();
        let mut u = Usage::default();
        for i in 0..3 {
            let g = grant(1_000 + i, 7, false);
            u.check(&limits, &g, g.at_ms).unwrap();
            u.record(&g);
        }
        let refused = u.check(&limits, &grant(2_000, 7, false), 2_000).unwrap_err();
        assert_eq!(refused.limit, WindowLimit::Diversity);
        assert_eq!(refused.retry_after_ms, Some(1_000 + HOUR_MS - 2_000));
        assert!(u.check(&limits, &grant(1_000 + HOUR_MS, 7, false), 1_000 + HOUR_MS).is_ok());
        assert!(u.check(&limits, &grant(2_000, 8, false), 2_000).is_ok(), "another message passes");
    }

    #[test]
    fn velocity_counts_signatures_over_a_rolling_day_and_survives_replay() {
        let limits = WalletLimits { per_day: 3, raw_per_day: 1, same_message_per_hour: 10 };
        let mut u = Usage::default();
        let grants: Vec<Grant> = (0..3).map(|i| grant(i * 1000, i as u8, false)).collect();
        for g in &grants {
            u.record(g);
        }
        let refused = u.check(&limits, &grant(5_000, 9, false), 5_000).unwrap_err();
        assert_eq!((refused.limit, refused.level, refused.max), (WindowLimit::Velocity, 3, 3));
        assert_eq!(refused.retry_after_ms, Some(DAY_MS - 5_000));
        let mut back = Usage::replay(grants, 5_000);
        assert_eq!(back.used(5_000), (3, 0));
        assert!(back.check(&limits, &grant(DAY_MS, 9, false), DAY_MS).is_ok(), "the first left the day");
        let mut u = Usage::replay(vec![grant(10, 5, false)], 10);
        assert!(u.refund(&grant(10, 5, false)));
        assert_eq!(u.used(10), (0, 0));
        assert_eq!(u.entries(), 0, "a refund leaves nothing behind");
        assert!(!u.refund(&grant(10, 5, false)), "only once");
        let mut raw = Usage::default();
        raw.record(&grant(0, 1, true));
        assert_eq!(raw.check(&limits, &grant(1, 2, true), 1).unwrap_err().limit, WindowLimit::RawVelocity);
        assert!(raw.check(&limits, &grant(1, 2, false), 1).is_ok(), "a reviewed signing is not raw");
    }
}
