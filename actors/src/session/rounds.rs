//! What a session saw of each party, round by round: when each answered, how many of its
//! messages were refused, and a hash chain over its broadcasts (the "state hash" a signed
//! abort carries, so every party can check an abort against what it saw itself).

use std::collections::BTreeMap;

use protocol::abort::PartyState;
use protocol::{Envelope, PartyIndex, Recipient};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One party in one round, as this node saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyRound {
    /// The party.
    pub party: PartyIndex,
    /// Its message for the round came.
    pub received: bool,
    /// Milliseconds from the round's start to its message (0 if it came before).
    pub latency_ms: u64,
    /// Its messages in the round that were admitted.
    pub valid: u32,
    /// All its messages in the round.
    pub total: u32,
}

/// One party's messages under one envelope round, before a round of ours claims them.
#[derive(Default)]
struct Heard {
    first_ms: u64,
    valid: u32,
    total: u32,
}

/// Per-round bookkeeping of one session. A party's messages are kept by their envelope round
/// until a round of ours closes and claims the earliest: a message that came before we
/// entered its round (early, or before the session started) still counts, at latency 0.
pub struct Rounds {
    me: PartyIndex,
    others: Vec<PartyIndex>,
    round: u16,
    started_ms: u64,
    heard: BTreeMap<PartyIndex, BTreeMap<u16, Heard>>,
    last: BTreeMap<PartyIndex, u16>,
    probed: bool,
    /// Rounds this node got through.
    completed: u16,
    /// Per party, its admitted broadcasts as (round, payload digest), in round order.
    chains: BTreeMap<PartyIndex, Vec<(u16, [u8; 32])>>,
}

impl Rounds {
    /// A session of `participants` seen by `me`.
    pub fn new(me: PartyIndex, participants: &[PartyIndex]) -> Self {
        let others: Vec<PartyIndex> = participants.iter().copied().filter(|p| *p != me).collect();
        Self {
            me,
            heard: others.iter().map(|p| (*p, BTreeMap::new())).collect(),
            others,
            round: 0,
            started_ms: 0,
            last: BTreeMap::new(),
            probed: false,
            completed: 0,
            chains: BTreeMap::new(),
        }
    }

    /// Rounds this node got through (a round counts once the ceremony moved past it).
    pub fn completed(&self) -> u16 {
        self.completed
    }

    /// The other participants.
    pub fn others(&self) -> &[PartyIndex] {
        &self.others
    }

    /// The round being collected.
    pub fn round(&self) -> u16 {
        self.round
    }

    /// When it started, ms since the session did.
    pub fn started_ms(&self) -> u64 {
        self.started_ms
    }

    /// A message arrived (before the ceremony judged it).
    pub fn arrived(&mut self, now: u64, e: &Envelope) {
        if let Some(rounds) = self.heard.get_mut(&e.sender) {
            // Bounded: a party cannot make us keep more than a few dozen rounds of it.
            if rounds.len() < 64 || rounds.contains_key(&e.round) {
                let h = rounds.entry(e.round).or_insert(Heard { first_ms: now, valid: 0, total: 0 });
                h.total += 1;
                h.valid += 1;
                self.last.insert(e.sender, e.round);
            }
        }
        if e.recipient == Recipient::Broadcast && e.sender != self.me && self.others.contains(&e.sender) {
            self.chain_push(e);
        }
    }

    /// This member broadcast `e`: kept like the others', so that a false claim about our own
    /// broadcasts can be contradicted too.
    pub fn sent(&mut self, e: &Envelope) {
        if e.recipient == Recipient::Broadcast && e.sender == self.me {
            self.chain_push(e);
        }
    }

    fn chain_push(&mut self, e: &Envelope) {
        let chain = self.chains.entry(e.sender).or_default();
        let entry = (e.round, <[u8; 32]>::from(Sha256::digest(&e.payload)));
        if chain.len() < 1024 && !chain.contains(&entry) {
            chain.push(entry);
            chain.sort_unstable();
        }
    }

    /// The ceremony set a message from `party` aside (its latest).
    pub fn refused(&mut self, party: PartyIndex) {
        let Some(round) = self.last.get(&party) else { return };
        if let Some(h) = self.heard.get_mut(&party).and_then(|r| r.get_mut(round)) {
            h.valid = h.valid.saturating_sub(1);
        }
    }

    /// The ceremony moved to `round` at `now` (everyone delivered the round it left): returns
    /// that round's report.
    pub fn advance(&mut self, now: u64, round: u16) -> Option<Vec<PartyRound>> {
        if round == self.round {
            return None;
        }
        let closed = (self.round != 0).then(|| self.claim(&[]));
        if closed.is_some() {
            self.completed = self.completed.saturating_add(1);
        }
        self.round = round;
        self.started_ms = now;
        self.probed = false;
        closed
    }

    /// The round ended without advancing (the ceremony failed in it): its report.
    pub fn close(&mut self, missing: &[PartyIndex]) -> Vec<PartyRound> {
        self.claim(missing)
    }

    /// Each party's earliest unclaimed message answers the round that closes.
    fn claim(&mut self, missing: &[PartyIndex]) -> Vec<PartyRound> {
        let started = self.started_ms;
        self.heard
            .iter_mut()
            .map(|(&party, rounds)| {
                let answer = if missing.contains(&party) { None } else { rounds.pop_first().map(|(_, h)| h) };
                match answer {
                    Some(h) => PartyRound {
                        party,
                        received: true,
                        latency_ms: h.first_ms.saturating_sub(started),
                        valid: h.valid,
                        total: h.total,
                    },
                    None => {
                        PartyRound { party, received: !missing.contains(&party), latency_ms: 0, valid: 0, total: 0 }
                    }
                }
            })
            .collect()
    }

    /// Median latency of the parties heard in this round so far.
    pub fn p50_heard(&self) -> Option<u64> {
        let mut l: Vec<u64> = self
            .heard
            .values()
            .filter_map(|r| r.values().next().map(|h| h.first_ms.saturating_sub(self.started_ms)))
            .collect();
        if l.is_empty() {
            return None;
        }
        l.sort_unstable();
        Some(l[(l.len() - 1) / 2])
    }

    /// Once per round: marks the probe done and says whether it was still due.
    pub fn take_probe(&mut self) -> bool {
        !std::mem::replace(&mut self.probed, true)
    }

    /// Every other party's broadcast chain head (what a signed abort carries).
    pub fn states(&self) -> Vec<PartyState> {
        self.others
            .iter()
            .map(|&party| {
                let chain = self.chains.get(&party).map(Vec::as_slice).unwrap_or_default();
                PartyState { party, count: chain.len() as u32, hash: head(chain) }
            })
            .collect()
    }

    /// Every party's chain head at every length, this member's own included: what a finished
    /// DKG keeps to judge a later claim that it failed elsewhere.
    pub fn all_prefix_states(&self) -> Vec<PartyState> {
        self.chains
            .iter()
            .flat_map(|(&party, chain)| {
                (1..=chain.len()).map(move |n| PartyState { party, count: n as u32, hash: head(&chain[..n]) })
            })
            .collect()
    }

    /// Checks another party's claimed states against ours: a claim about a count we also
    /// reached must match our chain at that count (we may lag; we must not disagree). Claims
    /// about our own broadcasts are checked against what we sent.
    pub fn agrees(&self, claimed: &[PartyState]) -> Result<(), String> {
        for c in claimed {
            if c.count == 0 {
                continue;
            }
            let Some(chain) = self.chains.get(&c.party) else { continue };
            if let Some(prefix) = chain.get(..c.count as usize) {
                if head(prefix) != c.hash {
                    return Err(format!("party {}'s broadcast {} differs from what this node saw", c.party, c.count));
                }
            }
        }
        Ok(())
    }
}

/// The hash over a party's broadcasts (round order): its state hash.
fn head(chain: &[(u16, [u8; 32])]) -> [u8; 32] {
    if chain.is_empty() {
        return [0; 32];
    }
    let mut h = Sha256::new();
    for (round, digest) in chain {
        h.update(round.to_be_bytes());
        h.update(digest);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::SessionId;

    fn broadcast(sender: PartyIndex, round: u16, byte: u8) -> Envelope {
        let session = SessionId::derive("rounds-test", b"");
        Envelope { session, round, sender, recipient: Recipient::Broadcast, payload: vec![byte; 4] }
    }

    #[test]
    fn a_false_claim_about_our_own_broadcasts_is_contradicted() {
        let mut rounds = Rounds::new(0, &[0, 1, 2]);
        rounds.sent(&broadcast(0, 1, 1));
        rounds.sent(&broadcast(0, 2, 2));
        rounds.arrived(0, &broadcast(1, 1, 7));
        let mine = rounds.all_prefix_states().into_iter().filter(|s| s.party == 0).collect::<Vec<_>>();
        assert_eq!(mine.iter().map(|s| s.count).collect::<Vec<_>>(), vec![1, 2]);
        // The truth at either length agrees; a wrong hash at a length we reached does not.
        assert!(rounds.agrees(&mine).is_ok());
        let lie = PartyState { party: 0, count: 1, hash: [9; 32] };
        assert!(rounds.agrees(&[lie]).is_err());
        // A length we never reached cannot be judged (the claimer may be ahead of us).
        assert!(rounds.agrees(&[PartyState { party: 1, count: 3, hash: [9; 32] }]).is_ok());
        // Abort bodies carry only the other parties' states.
        assert!(rounds.states().iter().all(|s| s.party != 0));
    }
}
