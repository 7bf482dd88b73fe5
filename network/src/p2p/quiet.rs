//! How refusals reach the log: at warn at most once per peer every [`WARN_EVERY`], the rest
//! at debug, so that a flooding peer cannot flood the log; at most [`WARNED_PEERS`] peers
//! are tracked (beyond, a new peer's refusals go to debug until old entries age out).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// The shortest time between two warnings about one peer.
pub(super) const WARN_EVERY: Duration = Duration::from_secs(10);
/// Peers tracked.
pub(super) const WARNED_PEERS: usize = 1024;

/// What to do with one refusal.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Loudness {
    /// Warn; `quieted` refusals of this peer went to debug since the last warning.
    Warn { quieted: u64 },
    /// Debug only.
    Quiet,
}

/// Per peer, when it was last warned about and how many refusals were quieted since.
pub(super) struct RefusalLog<P> {
    warned: HashMap<P, (Instant, u64)>,
}

impl<P: Hash + Eq + Copy> RefusalLog<P> {
    pub(super) fn new() -> Self {
        Self { warned: HashMap::new() }
    }

    /// A refusal of `peer` at `now`.
    pub(super) fn refused(&mut self, peer: P, now: Instant) -> Loudness {
        if self.warned.len() >= WARNED_PEERS && !self.warned.contains_key(&peer) {
            self.warned.retain(|_, (at, _)| now.duration_since(*at) < WARN_EVERY);
        }
        let full = self.warned.len() >= WARNED_PEERS;
        match self.warned.get_mut(&peer) {
            Some((at, quiet)) if now.duration_since(*at) < WARN_EVERY => {
                *quiet += 1;
                Loudness::Quiet
            }
            Some((at, quiet)) => {
                let quieted = *quiet;
                (*at, *quiet) = (now, 0);
                Loudness::Warn { quieted }
            }
            None if full => Loudness::Quiet,
            None => {
                self.warned.insert(peer, (now, 0));
                Loudness::Warn { quieted: 0 }
            }
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.warned.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flooding_peer_is_warned_about_once_every_ten_seconds() {
        let mut log = RefusalLog::new();
        let start = Instant::now();
        // 100 000 refusals over 25 s: warnings at 0 s, 10 s and 20 s only.
        let warns: Vec<u64> = (0..100_000u64)
            .filter_map(|k| match log.refused(7u32, start + Duration::from_micros(k * 250)) {
                Loudness::Warn { quieted } => Some(quieted),
                Loudness::Quiet => None,
            })
            .collect();
        assert_eq!(warns.len(), 3, "{warns:?}");
        assert_eq!(warns[0], 0);
        assert!(warns[1] > 39_000, "the quieted count is reported: {warns:?}");
    }

    #[test]
    fn many_peers_never_grow_the_table_past_its_bound() {
        let mut log = RefusalLog::new();
        let start = Instant::now();
        let warns = (0..50_000u32).filter(|p| matches!(log.refused(*p, start), Loudness::Warn { .. })).count();
        assert_eq!(warns, WARNED_PEERS);
        assert_eq!(log.tracked(), WARNED_PEERS);
        // Once the old entries age out, new peers are tracked (and warned about) again.
        assert!(matches!(log.refused(99_999, start + WARN_EVERY), Loudness::Warn { .. }));
        assert_eq!(log.tracked(), 1);
    }
}
