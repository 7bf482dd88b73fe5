//! Who signs: a caller's choice, checked, or this node and the next connected members.

use protocol::PartyIndex;

use crate::rpc::RpcError;

/// The signer set: `wanted` (checked: includes `me`, all connected, at least `t`) or this node
/// and the next connected members, exactly `t` of them.
pub fn choose(
    me: PartyIndex,
    up: &[PartyIndex],
    wanted: Option<Vec<PartyIndex>>,
    t: u16,
) -> Result<Vec<PartyIndex>, RpcError> {
    let t = usize::from(t);
    let signers = match wanted {
        Some(mut s) => {
            s.sort_unstable();
            s.dedup();
            if !s.contains(&me) {
                return Err(RpcError::InvalidParams(format!("signers must include this node (party {me})")));
            }
            if let Some(down) = s.iter().find(|p| !up.contains(p)) {
                return Err(RpcError::InvalidParams(format!("signer {down} is not connected")));
            }
            s
        }
        None => {
            if up.len() < t {
                return Err(RpcError::NotEnoughSigners { needed: t, connected: up.len() });
            }
            let mut s: Vec<PartyIndex> =
                std::iter::once(me).chain(up.iter().copied().filter(|p| *p != me)).take(t).collect();
            s.sort_unstable();
            s
        }
    };
    if signers.len() < t {
        return Err(RpcError::InvalidParams(format!("{} signers given, the wallet needs {t}", signers.len())));
    }
    Ok(signers)
}
