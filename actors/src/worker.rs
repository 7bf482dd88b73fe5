//! A ceremony runs on its own thread: the sans-IO state machine is not `Send` (CGGMP24's
//! executor), and a CGGMP24 round computes for seconds, which must not stall the async
//! runtime. The worker feeds inputs in order, returns every step, and turns a panic inside the
//! ceremony into a reported failure instead of a crash.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc as std_mpsc;

use protocol::{BoxCeremony, Envelope, Millis, ProtocolError, Rejection};
use tokio::sync::mpsc;

/// Builds the ceremony on the worker thread.
pub type CeremonyFactory<O> = Box<dyn FnOnce() -> Result<BoxCeremony<O>, ProtocolError> + Send>;

/// What the worker is asked to do.
#[derive(Debug)]
pub enum WorkerInput {
    /// Emit the first messages.
    Start(Millis),
    /// A message from the network.
    Message(Millis, Envelope),
    /// A timer tick.
    Tick(Millis),
    /// A new round timeout (at a time).
    SetTimeout(Millis, Millis),
}

/// What the worker reports.
#[derive(Debug)]
pub enum WorkerOutput<O> {
    /// Messages to send, set-aside messages, and maybe the result.
    Step {
        /// To send.
        outgoing: Vec<Envelope>,
        /// Set aside, with reasons.
        rejected: Vec<Rejection>,
        /// The result, once.
        output: Option<O>,
        /// The next deadline, if still running.
        deadline: Option<Millis>,
        /// The round the ceremony now collects.
        round: u16,
        /// Who it still waits for in that round.
        waiting: Vec<protocol::PartyIndex>,
        /// How many rounds it has at most, if known.
        total: Option<u16>,
    },
    /// The ceremony ended with an error.
    Failed(ProtocolError),
    /// The ceremony panicked (a bug): reported, never propagated.
    Panicked(String),
}

/// Handle to a running worker thread; dropping it stops the thread.
pub struct Worker {
    inputs: std_mpsc::Sender<WorkerInput>,
}

impl Worker {
    /// Starts a worker thread that builds the ceremony with `factory` and reports on `outputs`.
    pub fn spawn<O: Send + 'static>(
        name: String,
        factory: CeremonyFactory<O>,
        outputs: mpsc::UnboundedSender<WorkerOutput<O>>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = std_mpsc::channel::<WorkerInput>();
        std::thread::Builder::new().name(name).spawn(move || run(factory, rx, outputs))?;
        Ok(Self { inputs: tx })
    }

    /// Queues an input; false when the worker has finished.
    pub fn send(&self, input: WorkerInput) -> bool {
        self.inputs.send(input).is_ok()
    }
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn run<O>(
    factory: CeremonyFactory<O>,
    inputs: std_mpsc::Receiver<WorkerInput>,
    outputs: mpsc::UnboundedSender<WorkerOutput<O>>,
) {
    let mut ceremony = match std::panic::catch_unwind(AssertUnwindSafe(factory)) {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            let _ = outputs.send(WorkerOutput::Failed(e));
            return;
        }
        Err(p) => {
            let _ = outputs.send(WorkerOutput::Panicked(panic_text(p)));
            return;
        }
    };
    while let Ok(input) = inputs.recv() {
        if let WorkerInput::SetTimeout(now, timeout) = input {
            ceremony.set_round_timeout(now, timeout);
            let _ = outputs.send(WorkerOutput::Step {
                outgoing: Vec::new(),
                rejected: Vec::new(),
                output: None,
                deadline: ceremony.deadline(),
                round: ceremony.round(),
                waiting: ceremony.waiting_for(),
                total: ceremony.total_rounds(),
            });
            continue;
        }
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| match input {
            WorkerInput::Start(now) => ceremony.start(now),
            WorkerInput::Message(now, env) => ceremony.on_message(now, env),
            WorkerInput::Tick(now) => ceremony.on_tick(now),
            WorkerInput::SetTimeout(..) => {
                Ok(protocol::Step { outgoing: Vec::new(), output: None, rejected: Vec::new() })
            }
        }));
        let (report, done) = match result {
            Ok(Ok(step)) => {
                let done = step.output.is_some();
                let deadline = ceremony.deadline();
                (
                    WorkerOutput::Step {
                        outgoing: step.outgoing,
                        rejected: step.rejected,
                        output: step.output,
                        deadline,
                        round: ceremony.round(),
                        waiting: ceremony.waiting_for(),
                        total: ceremony.total_rounds(),
                    },
                    done,
                )
            }
            Ok(Err(e)) => (WorkerOutput::Failed(e), true),
            Err(p) => (WorkerOutput::Panicked(panic_text(p)), true),
        };
        if outputs.send(report).is_err() || done {
            return;
        }
    }
}
