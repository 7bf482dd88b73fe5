//! Fault injection into this node's outgoing ceremony messages: delay, jitter, drop, corrupt,
//! per peer. Off unless the config has a `[faults]` section; when on, the node says so at
//! start, every minute in its log, in `node_info` and in a metric. For drills and the breaker
//! harness: a node with faults is a slow, silent, jittery or cheating party on purpose.

use std::time::Duration;

use protocol::proposal::CONTROL_ROUND;
use protocol::{Envelope, PartyIndex, Recipient};
use rand_core::RngCore;
use serde::{Deserialize, Serialize};

/// One rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultRule {
    /// The peers whose private messages it touches; empty: every peer, and broadcasts too (a
    /// broadcast reaches every member at once, so only a rule for everyone touches it).
    pub to: Vec<PartyIndex>,
    /// The ceremony rounds it touches; empty: every round (the DKG confirmation is round
    /// 65534).
    pub rounds: Vec<u16>,
    /// Added before every message, ms.
    pub delay_ms: u64,
    /// Up to this much more, drawn per message, ms.
    pub jitter_ms: u64,
    /// Messages dropped, percent.
    pub drop_percent: u8,
    /// Messages with one byte of payload flipped, percent (the receiver blames us).
    pub corrupt_percent: u8,
}

/// The rules in force.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Applied in order; the first that matches a message is used.
    pub rule: Vec<FaultRule>,
    /// A hostile member: this many junk messages a second to the others, signed as this
    /// member (so the transport lets them through): round messages for sessions that never
    /// start, undecodable control messages, votes for unknown sessions, and signing proposals
    /// for wallets nobody holds. 0: none.
    pub junk_per_second: u32,
    /// Largest junk payload, bytes (default 16 KiB).
    pub junk_max_bytes: u32,
}

/// One junk message of a flooding member.
pub fn junk(me: PartyIndex, parties: u16, max_bytes: u32, now_ms: u64) -> Envelope {
    let mut rng = rand_core::OsRng;
    let mut session = [0u8; 32];
    rng.fill_bytes(&mut session);
    let session = protocol::SessionId::from_bytes(session);
    let max = if max_bytes == 0 { 16 * 1024 } else { max_bytes as usize };
    let mut payload = vec![0u8; (rng.next_u32() as usize) % max.max(1)];
    rng.fill_bytes(&mut payload);
    let other = (me + 1 + (rng.next_u32() % u32::from(parties.max(2) - 1)) as u16) % parties.max(2);
    let recipient = if rng.next_u32() % 2 == 0 { Recipient::Broadcast } else { Recipient::Party(other) };
    let control = |c: protocol::proposal::Control| c.encode().unwrap_or_default();
    let (session, round, payload) = match rng.next_u32() % 4 {
        0 => (session, 1 + (rng.next_u32() % 6) as u16, payload),
        1 => (session, CONTROL_ROUND, payload),
        2 => {
            let vote = protocol::proposal::Vote::Accept;
            (session, CONTROL_ROUND, control(protocol::proposal::Control::Vote { session, vote }))
        }
        _ => match protocol::WalletId::new(&format!("junk-{}", hex::encode(&session.as_bytes()[..6]))) {
            Ok(wallet) => {
                let proposal = protocol::proposal::Proposal {
                    proposer: me,
                    nonce: [7; 16],
                    kind: protocol::proposal::ProposalKind::Sign {
                        wallet,
                        signable: protocol::proposal::Signable::Raw(payload.iter().take(32).copied().collect()),
                    },
                    participants: (0..parties).collect(),
                    expires_at_ms: now_ms + 60_000,
                };
                let id = proposal.session().unwrap_or(session);
                (id, CONTROL_ROUND, control(protocol::proposal::Control::Propose(proposal)))
            }
            Err(_) => (session, 1, payload),
        },
    };
    let recipient = if round == CONTROL_ROUND { Recipient::Broadcast } else { recipient };
    Envelope { session, round, sender: me, recipient, payload }
}

/// What becomes of one message.
#[derive(Debug, PartialEq, Eq)]
pub enum Fate {
    /// Sent after the delay (maybe altered).
    Send(Duration, Envelope),
    /// Never sent.
    Dropped,
}

impl Faults {
    /// True when any rule does anything.
    pub fn active(&self) -> bool {
        self.junk_per_second > 0
            || self.rule.iter().any(|r| r.delay_ms + r.jitter_ms > 0 || r.drop_percent > 0 || r.corrupt_percent > 0)
    }

    /// One line for logs and `node_info`.
    pub fn describe(&self) -> String {
        self.rule
            .iter()
            .map(|r| {
                let to = if r.to.is_empty() { "everyone".to_owned() } else { format!("{:?}", r.to) };
                let rounds =
                    if r.rounds.is_empty() { "every round".to_owned() } else { format!("rounds {:?}", r.rounds) };
                format!(
                    "to {to}, {rounds}: delay {} ms + jitter {} ms, drop {} %, corrupt {} %",
                    r.delay_ms, r.jitter_ms, r.drop_percent, r.corrupt_percent
                )
            })
            .chain((self.junk_per_second > 0).then(|| format!("{} junk messages a second", self.junk_per_second)))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The fate of `envelope` (control messages are never touched: proposals and votes stay
    /// honest, so the faults hit the ceremony itself).
    pub fn apply(&self, mut envelope: Envelope) -> Fate {
        if envelope.round == CONTROL_ROUND {
            return Fate::Send(Duration::ZERO, envelope);
        }
        let rule = self.rule.iter().find(|r| {
            let round = r.rounds.is_empty() || r.rounds.contains(&envelope.round);
            round
                && match envelope.recipient {
                    Recipient::Broadcast => r.to.is_empty(),
                    Recipient::Party(p) => r.to.is_empty() || r.to.contains(&p),
                }
        });
        let Some(rule) = rule else { return Fate::Send(Duration::ZERO, envelope) };
        let mut rng = rand_core::OsRng;
        let roll = |rng: &mut rand_core::OsRng| (rng.next_u32() % 100) as u8;
        if rule.drop_percent > 0 && roll(&mut rng) < rule.drop_percent {
            return Fate::Dropped;
        }
        if rule.corrupt_percent > 0 && roll(&mut rng) < rule.corrupt_percent && !envelope.payload.is_empty() {
            let i = envelope.payload.len() / 2;
            envelope.payload[i] ^= 0x5a;
        }
        let jitter = if rule.jitter_ms > 0 { rng.next_u64() % (rule.jitter_ms + 1) } else { 0 };
        Fate::Send(Duration::from_millis(rule.delay_ms + jitter), envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::SessionId;

    fn env(to: Recipient, round: u16) -> Envelope {
        Envelope { session: SessionId::derive("t", b"f"), round, sender: 0, recipient: to, payload: vec![1, 2, 3] }
    }

    #[test]
    fn rules_hit_their_peers_and_never_control_messages() {
        let f = Faults {
            rule: vec![FaultRule { to: vec![2], drop_percent: 100, ..Default::default() }],
            ..Default::default()
        };
        assert!(f.active());
        assert_eq!(f.apply(env(Recipient::Party(2), 1)), Fate::Dropped);
        assert!(matches!(f.apply(env(Recipient::Party(1), 1)), Fate::Send(d, _) if d.is_zero()));
        assert!(matches!(f.apply(env(Recipient::Broadcast, 1)), Fate::Send(..)), "a peer rule spares broadcasts");
        let all = Faults {
            rule: vec![FaultRule { corrupt_percent: 100, delay_ms: 5, ..Default::default() }],
            ..Default::default()
        };
        match all.apply(env(Recipient::Broadcast, 1)) {
            Fate::Send(d, e) => assert_eq!((d.as_millis(), e.payload), (5, vec![1, 2 ^ 0x5a, 3])),
            Fate::Dropped => panic!("not dropped"),
        }
        assert!(
            matches!(all.apply(env(Recipient::Broadcast, CONTROL_ROUND)), Fate::Send(_, e) if e.payload == vec![1, 2, 3])
        );
        assert!(!Faults::default().active());
        let confirm = Faults {
            rule: vec![FaultRule { rounds: vec![7], drop_percent: 100, ..Default::default() }],
            ..Default::default()
        };
        assert_eq!(confirm.apply(env(Recipient::Broadcast, 7)), Fate::Dropped);
        assert!(matches!(confirm.apply(env(Recipient::Broadcast, 1)), Fate::Send(..)), "other rounds pass");
    }

    #[test]
    fn junk_is_signed_as_its_member_and_never_a_valid_proposal_for_a_held_wallet() {
        let f = Faults { junk_per_second: 10, ..Default::default() };
        assert!(f.active());
        assert!(f.describe().contains("10 junk messages a second"));
        for _ in 0..200 {
            let e = junk(2, 3, 1024, 1_000);
            assert_eq!(e.sender, 2);
            assert!(e.payload.len() <= 64 * 1024);
            if let Recipient::Party(p) = e.recipient {
                assert!(p < 3 && p != 2, "to another member");
            }
            if let Ok(protocol::proposal::Control::Propose(p)) = protocol::proposal::Control::decode(&e.payload) {
                assert!(p.kind.signing().is_some_and(|(w, _)| w.as_str().starts_with("junk-")));
            }
        }
    }
}
