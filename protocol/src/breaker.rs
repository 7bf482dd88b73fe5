//! The DKG circuit breaker as a pure state machine (clock passed in), and the health score and
//! adaptive round timeout it reads. The health actors feed it one observation per round: each
//! party's score in [0, 1].
//!
//! ```text
//! CLOSED ──(a party < 0.6 two rounds running)──▶ HALF_OPEN (longer timeouts)
//! CLOSED / HALF_OPEN / RECOVERY ──(a party < 0.3)──▶ OPEN: abort
//! HALF_OPEN / RECOVERY ──(every party ≥ 0.7)──▶ CLOSED
//! OPEN ──(the abort is done)──▶ COOLDOWN ──(cooldown over)──▶ RECOVERY: one retry
//! ```
//!
//! OPEN is left only through COOLDOWN, and the breaker is never CLOSED right after a round in
//! which a party scored under the open threshold.

use serde::{Deserialize, Serialize};

use crate::ids::PartyIndex;

/// The breaker's states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BreakerState {
    /// Normal operation.
    Closed,
    /// A party is degraded: rounds wait longer.
    HalfOpen,
    /// A party failed: the ceremony is aborted.
    Open,
    /// Waiting before a retry.
    Cooldown,
    /// One retry under watch.
    Recovery,
}

impl BreakerState {
    /// Stable name (metrics, journal).
    pub fn name(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::HalfOpen => "half_open",
            Self::Open => "open",
            Self::Cooldown => "cooldown",
            Self::Recovery => "recovery",
        }
    }

    /// How much longer than usual rounds wait in this state.
    pub fn timeout_factor(self, config: &BreakerConfig) -> f64 {
        match self {
            Self::HalfOpen | Self::Recovery => config.slow_factor,
            _ => 1.0,
        }
    }
}

/// Thresholds and durations (tests use short ones).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// A party under this for `low_rounds` rounds running half-opens the breaker.
    pub half_open_below: f64,
    /// A party under this opens it (abort).
    pub open_below: f64,
    /// Every party at or above this closes it again.
    pub close_above: f64,
    /// Rounds running a party must stay under `half_open_below`.
    pub low_rounds: u32,
    /// Wait after an abort before a retry, ms.
    pub cooldown_ms: u64,
    /// Round timeouts are this many times longer while half-open or recovering.
    pub slow_factor: f64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            half_open_below: 0.6,
            open_below: 0.3,
            close_above: 0.7,
            low_rounds: 2,
            cooldown_ms: 60_000,
            slow_factor: 2.0,
        }
    }
}

/// A change of state and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// From.
    pub from: BreakerState,
    /// To.
    pub to: BreakerState,
    /// Why, in words (the parties and scores concerned).
    pub reason: String,
    /// When, ms.
    pub at_ms: u64,
}

/// The breaker.
#[derive(Clone, Debug)]
pub struct Breaker {
    config: BreakerConfig,
    state: BreakerState,
    /// Per party: rounds running under `half_open_below`.
    low: Vec<(PartyIndex, u32)>,
    cooldown_until: u64,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Self { config, state: BreakerState::Closed, low: Vec::new(), cooldown_until: 0 }
    }

    /// Where it stands.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    fn go(&mut self, to: BreakerState, reason: String, at_ms: u64) -> Option<Transition> {
        let from = self.state;
        self.state = to;
        if to == BreakerState::Cooldown {
            self.cooldown_until = at_ms.saturating_add(self.config.cooldown_ms);
        }
        if matches!(to, BreakerState::Closed | BreakerState::Cooldown) {
            self.low.clear();
        }
        Some(Transition { from, to, reason, at_ms })
    }

    /// One round's scores (every party's). Returns the transition it causes, if any.
    pub fn observe(&mut self, now_ms: u64, scores: &[(PartyIndex, f64)]) -> Option<Transition> {
        if matches!(self.state, BreakerState::Open | BreakerState::Cooldown) {
            return None;
        }
        let c = self.config;
        // A NaN score is no evidence of health.
        let score = |s: f64| if s.is_nan() { 0.0 } else { s };
        if let Some((p, s)) = scores.iter().find(|(_, s)| score(*s) < c.open_below) {
            return self.go(BreakerState::Open, format!("party {p} scored {s:.2}, under {:.2}", c.open_below), now_ms);
        }
        for &(p, s) in scores {
            let low = self.low.iter_mut().find(|(q, _)| *q == p);
            match (score(s) < c.half_open_below, low) {
                (true, Some((_, n))) => *n += 1,
                (true, None) => self.low.push((p, 1)),
                (false, Some((_, n))) => *n = 0,
                (false, None) => {}
            }
        }
        match self.state {
            BreakerState::Closed => {
                let (p, n) = *self.low.iter().find(|(_, n)| *n >= c.low_rounds)?;
                self.go(
                    BreakerState::HalfOpen,
                    format!("party {p} under {:.2} for {n} rounds", c.half_open_below),
                    now_ms,
                )
            }
            BreakerState::HalfOpen | BreakerState::Recovery => {
                if !scores.is_empty() && scores.iter().all(|(_, s)| score(*s) >= c.close_above) {
                    let reason = format!("every party at or above {:.2}", c.close_above);
                    return self.go(BreakerState::Closed, reason, now_ms);
                }
                None
            }
            BreakerState::Open | BreakerState::Cooldown => None,
        }
    }

    /// The abort the breaker opened for is done: cool down.
    pub fn aborted(&mut self, now_ms: u64) -> Option<Transition> {
        if self.state != BreakerState::Open {
            return None;
        }
        self.go(BreakerState::Cooldown, "the ceremony was aborted".into(), now_ms)
    }

    /// Time passes: a cooldown that is over allows one retry.
    pub fn tick(&mut self, now_ms: u64) -> Option<Transition> {
        if self.state != BreakerState::Cooldown || now_ms < self.cooldown_until {
            return None;
        }
        self.go(BreakerState::Recovery, format!("cooldown of {} ms over", self.config.cooldown_ms), now_ms)
    }

    /// True when a new ceremony may start now (not while open or cooling down).
    pub fn admits(&self) -> bool {
        !matches!(self.state, BreakerState::Open | BreakerState::Cooldown)
    }
}

/// A party's health in [0, 1]: (received / expected) × (valid / total) × (1 − latency penalty).
/// The penalty is (p95 / base timeout)², capped at 1: a party answering in half the timeout
/// loses a quarter, one at the timeout loses everything.
pub fn health_score(received: u64, expected: u64, valid: u64, total: u64, p95_ms: u64, base_timeout_ms: u64) -> f64 {
    let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { (a as f64 / b as f64).min(1.0) };
    let lateness = ratio(p95_ms, base_timeout_ms.max(1));
    ratio(received, expected) * ratio(valid, total) * (1.0 - lateness * lateness)
}

/// The round timeout from observed latencies: 2.5 × their p50, within `[base, max]`.
pub fn adaptive_timeout_ms(latencies_ms: &[u64], base_ms: u64, max_ms: u64) -> u64 {
    if latencies_ms.is_empty() {
        return base_ms;
    }
    let mut sorted = latencies_ms.to_vec();
    sorted.sort_unstable();
    let p50 = sorted[(sorted.len() - 1) / 2];
    (p50.saturating_mul(5) / 2).clamp(base_ms, max_ms.max(base_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_party_half_opens_a_silent_one_opens_and_a_retry_waits_for_the_cooldown() {
        let mut b = Breaker::new(BreakerConfig { cooldown_ms: 1000, ..Default::default() });
        assert!(b.observe(0, &[(0, 1.0), (1, 0.5)]).is_none(), "one low round is not enough");
        let t = b.observe(10, &[(0, 1.0), (1, 0.5)]).unwrap();
        assert_eq!((t.from, t.to), (BreakerState::Closed, BreakerState::HalfOpen));
        assert_eq!(b.state().timeout_factor(&BreakerConfig::default()), 2.0);
        assert_eq!(b.observe(20, &[(0, 1.0), (1, 0.8)]).unwrap().to, BreakerState::Closed);
        assert_eq!(b.observe(30, &[(0, 1.0), (1, 0.1)]).unwrap().to, BreakerState::Open);
        assert!(!b.admits());
        assert!(b.observe(40, &[(0, 1.0), (1, 1.0)]).is_none(), "open is left only through cooldown");
        assert_eq!(b.aborted(50).unwrap().to, BreakerState::Cooldown);
        assert!(b.tick(1049).is_none());
        assert_eq!(b.tick(1050).unwrap().to, BreakerState::Recovery);
        assert!(b.admits());
    }

    #[test]
    fn scores_and_timeouts() {
        assert_eq!(health_score(10, 10, 10, 10, 0, 10_000), 1.0);
        assert!((health_score(10, 10, 10, 10, 5_000, 10_000) - 0.75).abs() < 1e-9);
        assert_eq!(health_score(5, 10, 5, 5, 0, 10_000), 0.5);
        assert_eq!(health_score(10, 10, 10, 10, 20_000, 10_000), 0.0);
        assert_eq!(adaptive_timeout_ms(&[], 10_000, 30_000), 10_000);
        assert_eq!(adaptive_timeout_ms(&[6_000, 8_000, 100], 10_000, 30_000), 15_000);
        assert_eq!(adaptive_timeout_ms(&[60_000], 10_000, 30_000), 30_000);
    }
}
