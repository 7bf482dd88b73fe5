//! The ceremony port: a pure state machine driven by messages and timer ticks.

use crate::envelope::Envelope;
use crate::error::{ProtocolError, Rejection};
use crate::ids::{PartyIndex, SessionId};

/// Milliseconds on a monotonic clock chosen by the caller (the session actor, or a test).
pub type Millis = u64;

/// Round timeout used when the caller does not choose one.
pub const DEFAULT_ROUND_TIMEOUT_MS: Millis = 10_000;

/// What one call into a ceremony produced.
#[derive(Debug)]
#[must_use]
pub struct Step<O> {
    /// Messages to send now, in order.
    pub outgoing: Vec<Envelope>,
    /// The result, once: after it the ceremony accepts nothing more.
    pub output: Option<O>,
    /// Incoming messages set aside without ending the ceremony, with the reason.
    pub rejected: Vec<Rejection>,
}

impl<O> Step<O> {
    pub(crate) fn empty() -> Self {
        Self { outgoing: Vec::new(), output: None, rejected: Vec::new() }
    }
}

/// One execution of a DKG, signing, setup or refresh protocol for one party.
///
/// Sans-IO: it never reads a clock, a socket or a disk. Time comes in with every call. An
/// `Err` ends the ceremony for good (later calls return [`ProtocolError::Finished`]); a
/// rejected message does not. Not `Send` in general (CGGMP24's executor is single-threaded):
/// create it on the thread that drives it.
pub trait Ceremony {
    /// What a successful ceremony yields.
    type Output;

    /// The session this ceremony belongs to.
    fn session(&self) -> SessionId;

    /// Emits this party's first messages and arms the round timer.
    fn start(&mut self, now: Millis) -> Result<Step<Self::Output>, ProtocolError>;

    /// Feeds one message from the transport.
    fn on_message(&mut self, now: Millis, msg: Envelope) -> Result<Step<Self::Output>, ProtocolError>;

    /// Feeds a timer tick; fails with [`ProtocolError::Timeout`] once the round deadline passed.
    fn on_tick(&mut self, now: Millis) -> Result<Step<Self::Output>, ProtocolError>;

    /// When the current round times out, if the ceremony is running.
    fn deadline(&self) -> Option<Millis>;

    /// The round this party is waiting on.
    fn round(&self) -> u16;

    /// Participants whose message for the current round has not arrived.
    fn waiting_for(&self) -> Vec<PartyIndex>;

    /// How many rounds it has at most, for progress reports (`None`: not known).
    fn total_rounds(&self) -> Option<u16> {
        None
    }

    /// Changes the round timeout (the adaptive timeout, the breaker's longer waits): the
    /// current round's deadline moves to its start plus `timeout`, never before `now`.
    fn set_round_timeout(&mut self, now: Millis, timeout: Millis) {
        let _ = (now, timeout);
    }
}

/// A ceremony behind a pointer, as adapters hand them out.
pub type BoxCeremony<O> = Box<dyn Ceremony<Output = O>>;
