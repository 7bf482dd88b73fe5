//! Runs every party of a ceremony in one process with no network, as `round_based::sim` does
//! for one library: for tests, the example and the floor benchmark. Messages can be dropped,
//! altered, duplicated or reordered on the way, and time can be advanced to fire timeouts.

use std::collections::{BTreeMap, VecDeque};

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::ceremony::{BoxCeremony, Millis, Step};
use crate::envelope::{Envelope, Recipient};
use crate::error::{ProtocolError, Rejection};
use crate::ids::PartyIndex;

/// Rewrites each message before it is routed: return it unchanged, altered, twice, or not at all.
pub type Filter = Box<dyn FnMut(Envelope) -> Vec<Envelope>>;

/// What every party ended with.
#[derive(Debug)]
pub struct Report<O> {
    /// Parties that finished, with their result.
    pub outputs: BTreeMap<PartyIndex, O>,
    /// Parties that failed, with their error.
    pub errors: BTreeMap<PartyIndex, ProtocolError>,
    /// Messages set aside by their recipient, with the reason.
    pub rejected: Vec<(PartyIndex, Rejection)>,
    /// Envelopes routed (a broadcast counts once).
    pub messages: usize,
    /// Encoded bytes of those envelopes.
    pub bytes: usize,
}

impl<O> Report<O> {
    /// The outputs in party order, or the first error.
    pub fn into_result(self) -> Result<Vec<O>, (PartyIndex, ProtocolError)> {
        if let Some((p, e)) = self.errors.into_iter().next() {
            return Err((p, e));
        }
        Ok(self.outputs.into_values().collect())
    }
}

/// An in-process run of one ceremony across parties.
pub struct Sim<O> {
    parties: BTreeMap<PartyIndex, BoxCeremony<O>>,
    filter: Option<Filter>,
    shuffle: Option<ChaCha20Rng>,
}

struct Delivery {
    to: PartyIndex,
    msg: Envelope,
}

impl<O> Sim<O> {
    /// Each party's ceremony, keyed by its committee index.
    pub fn new(parties: impl IntoIterator<Item = (PartyIndex, BoxCeremony<O>)>) -> Self {
        Self { parties: parties.into_iter().collect(), filter: None, shuffle: None }
    }

    /// Passes every sent message through `filter`.
    pub fn with_filter(mut self, filter: impl FnMut(Envelope) -> Vec<Envelope> + 'static) -> Self {
        self.filter = Some(Box::new(filter));
        self
    }

    /// Delivers pending messages in a random order drawn from `seed`.
    pub fn shuffled(mut self, seed: u64) -> Self {
        self.shuffle = Some(ChaCha20Rng::seed_from_u64(seed));
        self
    }

    /// Runs until every party has a result or an error. When messages run out while some
    /// parties still wait, time jumps to the next deadline so their timeouts fire.
    pub fn run(mut self) -> Report<O> {
        let mut report =
            Report { outputs: BTreeMap::new(), errors: BTreeMap::new(), rejected: Vec::new(), messages: 0, bytes: 0 };
        let mut queue: VecDeque<Delivery> = VecDeque::new();
        let mut now: Millis = 0;
        let ids: Vec<PartyIndex> = self.parties.keys().copied().collect();
        for &p in &ids {
            let result = match self.parties.get_mut(&p) {
                Some(c) => c.start(now),
                None => continue,
            };
            self.absorb(p, result, &mut queue, &mut report);
        }
        loop {
            while let Some(d) = self.next(&mut queue) {
                let result = match self.parties.get_mut(&d.to) {
                    Some(c) => c.on_message(now, d.msg),
                    None => continue,
                };
                self.absorb(d.to, result, &mut queue, &mut report);
            }
            let Some(deadline) = self.parties.values().filter_map(|c| c.deadline()).min() else { break };
            now = now.max(deadline);
            for &p in &ids {
                let result = match self.parties.get_mut(&p) {
                    Some(c) => c.on_tick(now),
                    None => continue,
                };
                self.absorb(p, result, &mut queue, &mut report);
            }
        }
        report
    }

    fn next(&mut self, queue: &mut VecDeque<Delivery>) -> Option<Delivery> {
        match self.shuffle.as_mut() {
            Some(rng) if !queue.is_empty() => {
                let i = (rng.next_u64() % queue.len() as u64) as usize;
                queue.remove(i)
            }
            _ => queue.pop_front(),
        }
    }

    fn absorb(
        &mut self,
        party: PartyIndex,
        result: Result<Step<O>, ProtocolError>,
        queue: &mut VecDeque<Delivery>,
        report: &mut Report<O>,
    ) {
        match result {
            Err(e) => {
                self.parties.remove(&party);
                report.errors.insert(party, e);
            }
            Ok(step) => {
                report.rejected.extend(step.rejected.into_iter().map(|r| (party, r)));
                for msg in step.outgoing {
                    let sent = match self.filter.as_mut() {
                        Some(f) => f(msg),
                        None => vec![msg],
                    };
                    for msg in sent {
                        report.messages += 1;
                        report.bytes += msg.encode().map(|b| b.len()).unwrap_or(0);
                        match msg.recipient {
                            Recipient::Party(to) => queue.push_back(Delivery { to, msg }),
                            Recipient::Broadcast => {
                                for &to in self.parties.keys().filter(|&&to| to != msg.sender) {
                                    queue.push_back(Delivery { to, msg: msg.clone() });
                                }
                            }
                        }
                    }
                }
                if let Some(out) = step.output {
                    self.parties.remove(&party);
                    report.outputs.insert(party, out);
                }
            }
        }
    }
}
