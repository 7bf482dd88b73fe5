//! What one participant may hand a running session over its life: a bounded number of
//! envelopes and bytes. A ceremony needs a few messages per round from each participant (a
//! batch of 64 CGGMP24 signings a few hundred); a participant flooding a running session
//! beyond that cannot grow the session's mailbox or its worker's queue.

use std::collections::HashMap;

use protocol::{PartyIndex, SessionId};

/// Envelopes one participant may send into one session.
pub(super) const ENVELOPES_PER_SENDER: u32 = 4096;
/// Bytes one participant may send into one session (aux-info rounds are the largest).
pub(super) const BYTES_PER_SENDER: u64 = 64 << 20;

/// Per running session, per sender: envelopes and bytes taken.
#[derive(Default)]
pub(super) struct Inflow {
    taken: HashMap<SessionId, HashMap<PartyIndex, (u32, u64)>>,
}

impl Inflow {
    /// Counts an envelope of `bytes` from `sender` into `session`; false once over its share.
    pub(super) fn admit(&mut self, session: SessionId, sender: PartyIndex, bytes: usize) -> bool {
        let (count, total) = self.taken.entry(session).or_default().entry(sender).or_default();
        let bytes = bytes as u64;
        if *count >= ENVELOPES_PER_SENDER || total.saturating_add(bytes) > BYTES_PER_SENDER {
            return false;
        }
        *count += 1;
        *total += bytes;
        true
    }

    /// The session ended here.
    pub(super) fn forget(&mut self, session: &SessionId) {
        self.taken.remove(session);
    }

    #[cfg(test)]
    fn sessions(&self) -> usize {
        self.taken.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flooding_participant_is_cut_off_at_its_share_and_others_are_not() {
        let mut inflow = Inflow::default();
        let s = SessionId::derive("inflow-test", b"s");
        let admitted = (0..10_000).filter(|_| inflow.admit(s, 2, 100)).count();
        assert_eq!(admitted, ENVELOPES_PER_SENDER as usize);
        assert!(inflow.admit(s, 1, 100), "another participant keeps its own share");
        // Bytes bound too: a few huge envelopes.
        let t = SessionId::derive("inflow-test", b"t");
        let big = (BYTES_PER_SENDER / 4) as usize;
        assert_eq!((0..10).filter(|_| inflow.admit(t, 2, big)).count(), 4);
        inflow.forget(&s);
        inflow.forget(&t);
        assert_eq!(inflow.sessions(), 0, "nothing kept once the sessions ended");
    }
}
