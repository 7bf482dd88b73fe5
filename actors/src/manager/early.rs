//! Round messages that arrive before their session starts here (a fast peer is a round
//! ahead, or its proposal is still on its way). Kept for a while, bounded per sending member
//! in bytes, envelopes and sessions: a member that sprays session ids or big envelopes fills
//! only its own share and never pushes out what honest members sent.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use protocol::{Envelope, PartyIndex, SessionId};

/// What one member may have waiting here at once.
#[derive(Clone, Copy, Debug)]
pub struct EarlyLimits {
    /// Bytes of payload.
    pub bytes: usize,
    /// Envelopes.
    pub envelopes: usize,
    /// Distinct sessions.
    pub sessions: usize,
}

impl Default for EarlyLimits {
    fn default() -> Self {
        // A CGGMP24 setup round is a few hundred KiB per member: several sessions of it fit.
        Self { bytes: 8 << 20, envelopes: 512, sessions: 64 }
    }
}

#[derive(Default)]
struct Usage {
    bytes: usize,
    envelopes: usize,
    sessions: usize,
}

/// Why an early envelope was not kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dropped {
    /// The member already has its share waiting here.
    SenderFull,
}

/// The buffer: per session, when its first envelope came and each envelope with its sender.
pub struct EarlyBuffer {
    limits: EarlyLimits,
    sessions: HashMap<SessionId, (Instant, Vec<(PartyIndex, Envelope)>)>,
    usage: HashMap<PartyIndex, Usage>,
}

impl Default for EarlyBuffer {
    fn default() -> Self {
        Self::new(EarlyLimits::default())
    }
}

fn size(e: &Envelope) -> usize {
    e.payload.len().saturating_add(64)
}

impl EarlyBuffer {
    /// An empty buffer with these per-member limits.
    pub fn new(limits: EarlyLimits) -> Self {
        Self { limits, sessions: HashMap::new(), usage: HashMap::new() }
    }

    /// Keeps `envelope` from `from` for its session, unless `from` is at its share.
    pub fn push(&mut self, from: PartyIndex, envelope: Envelope) -> Result<(), Dropped> {
        let new_session = !self.sessions.get(&envelope.session).is_some_and(|(_, q)| q.iter().any(|(p, _)| *p == from));
        let usage = self.usage.entry(from).or_default();
        let bytes = size(&envelope);
        if usage.envelopes >= self.limits.envelopes
            || usage.bytes.saturating_add(bytes) > self.limits.bytes
            || (new_session && usage.sessions >= self.limits.sessions)
        {
            return Err(Dropped::SenderFull);
        }
        usage.bytes += bytes;
        usage.envelopes += 1;
        usage.sessions += usize::from(new_session);
        self.sessions.entry(envelope.session).or_insert_with(|| (Instant::now(), Vec::new())).1.push((from, envelope));
        Ok(())
    }

    /// Takes every envelope waiting for `session`, in arrival order.
    pub fn take(&mut self, session: &SessionId) -> Vec<Envelope> {
        let Some((_, queue)) = self.sessions.remove(session) else { return Vec::new() };
        let mut counted: Vec<PartyIndex> = Vec::new();
        for (from, e) in &queue {
            if let Some(u) = self.usage.get_mut(from) {
                u.bytes = u.bytes.saturating_sub(size(e));
                u.envelopes = u.envelopes.saturating_sub(1);
                if !counted.contains(from) {
                    counted.push(*from);
                    u.sessions = u.sessions.saturating_sub(1);
                }
            }
        }
        self.usage.retain(|_, u| u.envelopes > 0);
        queue.into_iter().map(|(_, e)| e).collect()
    }

    /// Drops what waits for `session`.
    pub fn remove(&mut self, session: &SessionId) {
        self.take(session);
    }

    /// Drops sessions whose first envelope came `ttl` ago or more: they never started here.
    pub fn expire(&mut self, ttl: Duration) {
        let old: Vec<SessionId> =
            self.sessions.iter().filter(|(_, (t, _))| t.elapsed() >= ttl).map(|(s, _)| *s).collect();
        for s in old {
            self.remove(&s);
        }
    }

    /// Sessions with something waiting.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True when nothing waits.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Payload bytes waiting from `from`.
    #[cfg(test)]
    pub fn bytes_from(&self, from: PartyIndex) -> usize {
        self.usage.get(&from).map_or(0, |u| u.bytes)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use protocol::Recipient;

    fn env(session: u32, sender: PartyIndex, len: usize) -> Envelope {
        Envelope {
            session: SessionId::derive("early", &session.to_be_bytes()),
            round: 1,
            sender,
            recipient: Recipient::Broadcast,
            payload: vec![0; len],
        }
    }

    #[test]
    fn a_member_spraying_sessions_fills_only_its_own_share() {
        let mut b = EarlyBuffer::new(EarlyLimits { bytes: 1 << 20, envelopes: 100, sessions: 8 });
        b.push(1, env(0, 1, 10)).unwrap();
        for s in 1..10_000 {
            let _ = b.push(2, env(s, 2, 10));
        }
        assert_eq!(b.len(), 1 + 8, "the sprayer holds at most its 8 sessions");
        assert_eq!(b.take(&env(0, 1, 0).session).len(), 1, "the honest member's envelope is still there");
        // An honest member still gets its share while the sprayer is full.
        assert!(b.push(1, env(20_000, 1, 10)).is_ok());
        assert_eq!(b.push(2, env(20_001, 2, 10)), Err(Dropped::SenderFull));
    }

    #[test]
    fn bytes_are_bounded_per_member_and_given_back_when_taken() {
        let mut b = EarlyBuffer::new(EarlyLimits { bytes: 4096, envelopes: 100, sessions: 100 });
        assert!(b.push(3, env(1, 3, 3000)).is_ok());
        assert_eq!(b.push(3, env(1, 3, 3000)), Err(Dropped::SenderFull), "over the byte share");
        assert!(b.bytes_from(3) <= 4096);
        assert_eq!(b.take(&env(1, 3, 0).session).len(), 1);
        assert_eq!(b.bytes_from(3), 0);
        assert!(b.push(3, env(2, 3, 3000)).is_ok(), "room again once taken");
    }

    #[test]
    fn envelopes_come_out_in_arrival_order_and_expire() {
        let mut b = EarlyBuffer::new(EarlyLimits::default());
        let mut a = env(7, 1, 1);
        a.round = 2;
        b.push(1, env(7, 1, 1)).unwrap();
        b.push(2, a).unwrap();
        let out = b.take(&env(7, 1, 0).session);
        assert_eq!(out.iter().map(|e| e.round).collect::<Vec<_>>(), vec![1, 2]);
        b.push(1, env(8, 1, 1)).unwrap();
        b.expire(Duration::ZERO);
        assert!(b.is_empty());
        assert_eq!(b.bytes_from(1), 0);
    }
}
