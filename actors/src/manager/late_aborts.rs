//! Aborts of a DKG for a member that was away. A member can complete a DKG (every other
//! confirmation heard) and be killed before its own confirmation leaves: the others then fail
//! the DKG and abort it while it is down, and its restart forgets the DKG it completed. So
//! each member tells its own signed abort of a DKG again to a participant that reconnects
//! (within the abort window), and a member that knows a DKG only from its journal (it
//! restarted since) still acts on a checked abort of it: the wallet must not stay on some
//! members only.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use protocol::abort::{AbortBody, AbortRejection, SignedAbort};
use protocol::proposal::Control;
use protocol::{PartyIndex, SessionId};

use super::{now_ms, ManagerState};

/// Own DKG aborts kept for participants that reconnect.
const KEPT: usize = 64;

/// This member's signed aborts of DKGs, newest last.
#[derive(Default)]
pub(super) struct SentAborts(VecDeque<(SessionId, SignedAbort, Vec<PartyIndex>, Instant)>);

impl SentAborts {
    pub(super) fn keep(&mut self, session: SessionId, signed: SignedAbort, participants: Vec<PartyIndex>) {
        self.0.push_back((session, signed, participants, Instant::now()));
        while self.0.len() > KEPT {
            self.0.pop_front();
        }
    }
}

impl ManagerState {
    /// How long after a DKG completed here an abort of it still counts: another member's
    /// confirmation round ends within its (longest, stretched) round timeout of ours, twice
    /// that for the abort to arrive. After it the wallet is final here.
    pub(super) fn abort_window(&self) -> Duration {
        self.args.max_round_timeout.max(self.args.round_timeout).mul_f64(2.0 * self.watch.config.slow_factor)
    }

    /// `party` reconnected: our aborts of DKGs it was in, again, in case it missed them.
    pub(super) fn retell_aborts(&mut self, party: PartyIndex) {
        let window = self.abort_window();
        self.watch.sent.0.retain(|(_, _, _, at)| at.elapsed() <= window);
        for (session, signed, participants, _) in &self.watch.sent.0 {
            if participants.contains(&party) {
                self.send_direct(*session, party, &Control::Abort(signed.clone()));
            }
        }
    }

    /// A checked abort (signature verified) of a session this node does not know: if its
    /// journal says a DKG of that session made a live share here within the window, the share
    /// is discarded, as it would have been had this node not restarted.
    pub(super) fn abort_of_forgotten_dkg(&mut self, from: PartyIndex, signed: &SignedAbort, session: SessionId) {
        let stale = |s: &Self| s.abort_ignored(Some(session), from, AbortRejection::Stale);
        let Ok(body) = AbortBody::decode(&signed.body) else { return stale(self) };
        let done = match self.args.keystore.completed_dkg(session) {
            Ok(Some(done)) => done,
            Ok(None) => return stale(self),
            Err(e) => return tracing::error!(%session, error = %e, "reading a completed DKG failed"),
        };
        if !done.participants.contains(&body.by) {
            return self.abort_ignored(Some(session), from, AbortRejection::NotAMember(body.by));
        }
        if now_ms().saturating_sub(done.at_ms) > self.abort_window().as_millis() as u64 {
            return stale(self);
        }
        let reason = format!("party {} aborted the DKG after it completed here: {}", body.by, body.reason);
        match self.args.keystore.discard(&done.wallet, session, &reason) {
            Ok(true) => tracing::warn!(%session, wallet = %done.wallet, by = body.by,
                "share discarded after a restart: the DKG did not complete everywhere"),
            Ok(false) => {}
            Err(e) => tracing::error!(%session, wallet = %done.wallet, error = %e, "discarding the share failed"),
        }
    }
}
