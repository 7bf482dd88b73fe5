//! Who signs: a caller's choice, checked, or this node and the healthiest, most reputable
//! connected members (ties by party index).

use network::p2p::NetworkHandle;
use protocol::PartyIndex;

use crate::error::Error;

/// Who takes part in a ceremony this node proposes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Who {
    /// The whole committee (a setup, a keygen): every member must be connected.
    Everyone,
    /// Signers: `wanted` (checked), or this node and the next connected members.
    Signers {
        /// A caller's fixed choice.
        wanted: Option<Vec<PartyIndex>>,
        /// The wallet's threshold.
        threshold: u16,
    },
    /// This node and connected members, none of `avoid` (a retry after they failed).
    SignersAvoiding {
        /// Members not to choose.
        avoid: Vec<PartyIndex>,
        /// The wallet's threshold.
        threshold: u16,
    },
}

/// The participants `who` names, among the members connected now (this node included),
/// preferring peers the health board ranks higher.
pub async fn resolve(
    network: &NetworkHandle,
    me: PartyIndex,
    parties: u16,
    who: Who,
    health: Option<&crate::health::Board>,
) -> Result<Vec<PartyIndex>, Error> {
    let mut up = network.connected().await.map_err(|e| Error::Unavailable(e.to_string()))?;
    up.push(me);
    up.sort_unstable();
    up.dedup();
    if let Some(board) = health {
        // Best first, in steps of a tenth so noise in latencies does not reorder healthy
        // members; a stable sort keeps party order among equals.
        let rank = |p: &PartyIndex| if *p == me { f64::INFINITY } else { (board.rank(*p) * 10.0).floor() };
        up.sort_by(|a, b| rank(b).partial_cmp(&rank(a)).unwrap_or(std::cmp::Ordering::Equal));
    }
    match who {
        Who::Everyone if up.len() < usize::from(parties) => {
            Err(Error::NotEnoughConnected { needed: usize::from(parties), connected: up.len() })
        }
        Who::Everyone => Ok((0..parties).collect()),
        Who::Signers { wanted, threshold } => choose(me, &up, wanted, threshold),
        Who::SignersAvoiding { avoid, threshold } => {
            up.retain(|p| *p == me || !avoid.contains(p));
            choose(me, &up, None, threshold)
        }
    }
}

/// The signer set: `wanted` (checked: includes `me`, all connected, at least `t`) or this node
/// and the first connected members of `up` (in preference order), exactly `t` of them. `up`
/// includes `me`.
pub fn choose(
    me: PartyIndex,
    up: &[PartyIndex],
    wanted: Option<Vec<PartyIndex>>,
    t: u16,
) -> Result<Vec<PartyIndex>, Error> {
    let t = usize::from(t);
    let signers = match wanted {
        Some(mut s) => {
            s.sort_unstable();
            s.dedup();
            if !s.contains(&me) {
                return Err(Error::WithoutMe(me));
            }
            if let Some(down) = s.iter().find(|p| !up.contains(*p)) {
                return Err(Error::NotConnected(*down));
            }
            s
        }
        None => {
            if up.len() < t {
                return Err(Error::NotEnoughConnected { needed: t, connected: up.len() });
            }
            let mut s: Vec<PartyIndex> =
                std::iter::once(me).chain(up.iter().copied().filter(|p| *p != me)).take(t).collect();
            s.sort_unstable();
            s
        }
    };
    if signers.len() < t {
        return Err(Error::TooFew { given: signers.len(), needed: t });
    }
    Ok(signers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chosen_set_is_checked_and_a_default_one_is_this_node_and_the_next_connected() {
        assert_eq!(choose(1, &[0, 1, 3], None, 2), Ok(vec![0, 1]));
        assert_eq!(choose(1, &[1, 3, 0], None, 2), Ok(vec![1, 3]), "preference order, result sorted");
        assert_eq!(choose(1, &[1, 3], None, 3), Err(Error::NotEnoughConnected { needed: 3, connected: 2 }));
        assert_eq!(choose(1, &[0, 1, 2], Some(vec![2, 1, 2]), 2), Ok(vec![1, 2]));
        assert_eq!(choose(1, &[0, 1, 2], Some(vec![0, 2]), 2), Err(Error::WithoutMe(1)));
        assert_eq!(choose(1, &[0, 1], Some(vec![1, 4]), 2), Err(Error::NotConnected(4)));
        assert_eq!(choose(1, &[0, 1], Some(vec![1]), 2), Err(Error::TooFew { given: 1, needed: 2 }));
    }
}
