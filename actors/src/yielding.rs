//! Low priority for background ceremonies (presigning). Before each step a presigning waits,
//! on its own worker thread, while a user's ceremony runs on this node: at most
//! [`MAX_PAUSE`] per step, so its own rounds never time out for it, and a user's signing waits
//! at most for the one step already computing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::{BoxCeremony, Ceremony, Envelope, Millis, PartyIndex, ProtocolError, SessionId, Step};

/// Longest wait before one step.
pub const MAX_PAUSE: Duration = Duration::from_secs(2);

/// A ceremony that gives way to user ceremonies (`busy` counts those running here).
pub struct Yielding<O> {
    inner: BoxCeremony<O>,
    busy: Arc<AtomicUsize>,
}

impl<O> Yielding<O> {
    /// Wraps `inner`.
    pub fn new(inner: BoxCeremony<O>, busy: Arc<AtomicUsize>) -> Self {
        Self { inner, busy }
    }

    fn give_way(&self) {
        let started = Instant::now();
        while self.busy.load(Ordering::Relaxed) > 0 && started.elapsed() < MAX_PAUSE {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl<O> Ceremony for Yielding<O> {
    type Output = O;

    fn session(&self) -> SessionId {
        self.inner.session()
    }

    fn start(&mut self, now: Millis) -> Result<Step<O>, ProtocolError> {
        self.give_way();
        self.inner.start(now)
    }

    fn on_message(&mut self, now: Millis, msg: Envelope) -> Result<Step<O>, ProtocolError> {
        self.give_way();
        self.inner.on_message(now, msg)
    }

    fn on_tick(&mut self, now: Millis) -> Result<Step<O>, ProtocolError> {
        self.inner.on_tick(now)
    }

    fn deadline(&self) -> Option<Millis> {
        self.inner.deadline()
    }

    fn round(&self) -> u16 {
        self.inner.round()
    }

    fn waiting_for(&self) -> Vec<PartyIndex> {
        self.inner.waiting_for()
    }

    fn total_rounds(&self) -> Option<u16> {
        self.inner.total_rounds()
    }

    fn set_round_timeout(&mut self, now: Millis, timeout: Millis) {
        self.inner.set_round_timeout(now, timeout);
    }
}
