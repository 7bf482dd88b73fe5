//! Who signs: a caller's choice, checked, or this node and the next connected members.

use protocol::PartyIndex;

/// Why a signer set cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignerError {
    /// A chosen set must include the node that proposes.
    #[error("signers must include this node (party {0})")]
    WithoutMe(PartyIndex),
    /// A chosen signer is not connected.
    #[error("signer {0} is not connected")]
    NotConnected(PartyIndex),
    /// Fewer signers given than the wallet needs.
    #[error("{given} signers given, the wallet needs {needed}")]
    TooFew {
        /// Given.
        given: usize,
        /// Needed.
        needed: usize,
    },
    /// Not enough members are connected to sign.
    #[error("need {needed} members, {connected} reachable")]
    NotEnoughConnected {
        /// Needed.
        needed: usize,
        /// Connected, this node included.
        connected: usize,
    },
}

/// The signer set: `wanted` (checked: includes `me`, all connected, at least `t`) or this node
/// and the next connected members, exactly `t` of them. `up` includes `me`.
pub fn choose(
    me: PartyIndex,
    up: &[PartyIndex],
    wanted: Option<Vec<PartyIndex>>,
    t: u16,
) -> Result<Vec<PartyIndex>, SignerError> {
    let t = usize::from(t);
    let signers = match wanted {
        Some(mut s) => {
            s.sort_unstable();
            s.dedup();
            if !s.contains(&me) {
                return Err(SignerError::WithoutMe(me));
            }
            if let Some(down) = s.iter().find(|p| !up.contains(p)) {
                return Err(SignerError::NotConnected(*down));
            }
            s
        }
        None => {
            if up.len() < t {
                return Err(SignerError::NotEnoughConnected { needed: t, connected: up.len() });
            }
            let mut s: Vec<PartyIndex> =
                std::iter::once(me).chain(up.iter().copied().filter(|p| *p != me)).take(t).collect();
            s.sort_unstable();
            s
        }
    };
    if signers.len() < t {
        return Err(SignerError::TooFew { given: signers.len(), needed: t });
    }
    Ok(signers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chosen_set_is_checked_and_a_default_one_is_this_node_and_the_next_connected() {
        assert_eq!(choose(1, &[0, 1, 3], None, 2), Ok(vec![0, 1]));
        assert_eq!(choose(1, &[1, 3], None, 3), Err(SignerError::NotEnoughConnected { needed: 3, connected: 2 }));
        assert_eq!(choose(1, &[0, 1, 2], Some(vec![2, 1, 2]), 2), Ok(vec![1, 2]));
        assert_eq!(choose(1, &[0, 1, 2], Some(vec![0, 2]), 2), Err(SignerError::WithoutMe(1)));
        assert_eq!(choose(1, &[0, 1], Some(vec![1, 4]), 2), Err(SignerError::NotConnected(4)));
        assert_eq!(choose(1, &[0, 1], Some(vec![1]), 2), Err(SignerError::TooFew { given: 1, needed: 2 }));
    }
}
