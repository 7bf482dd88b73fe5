//! The limiter's writes, off its thread: a check answers from memory in microseconds, while
//! one writer thread records each grant (to the WAL, no sync of its own: the journal's synced
//! appends and a sync every second make it durable). A killed process keeps what was written;
//! what is still queued at that instant (microseconds' worth) is lost.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;

use protocol::limits::Grant;
use protocol::{SessionId, WalletId};
use store::limits::GrantLog;

enum Write {
    Record(WalletId, SessionId, Grant),
    Remove(WalletId, SessionId, u64),
    Prune(u64),
    Sync,
}

/// The writer: a queue and its thread.
pub struct Writer {
    queue: Option<Sender<Write>>,
    thread: Option<JoinHandle<()>>,
}

fn run(log: GrantLog, queue: Receiver<Write>) {
    for write in queue {
        let result = match &write {
            Write::Record(wallet, session, grant) => log.record(wallet, session, grant),
            Write::Remove(wallet, session, at_ms) => log.remove(wallet, session, *at_ms),
            Write::Prune(before_ms) => log.prune(*before_ms),
            Write::Sync => log.sync(),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "the limiter's store write failed: a restart may count less than was granted");
        }
    }
    if let Err(e) = log.sync() {
        tracing::warn!(error = %e, "granted signings not synced at stop");
    }
}

impl Writer {
    /// Starts the thread over `log`.
    pub fn start(log: GrantLog) -> std::io::Result<Self> {
        let (queue, rx) = channel();
        let thread = std::thread::Builder::new().name("limiter-writer".into()).spawn(move || run(log, rx))?;
        Ok(Self { queue: Some(queue), thread: Some(thread) })
    }

    fn send(&self, write: Write) {
        if let Some(q) = &self.queue {
            if q.send(write).is_err() {
                tracing::error!("the limiter's writer is gone: grants are no longer kept");
            }
        }
    }

    /// Records a granted signing.
    pub fn record(&self, wallet: &WalletId, session: &SessionId, grant: &Grant) {
        self.send(Write::Record(wallet.clone(), *session, grant.clone()));
    }

    /// Forgets a refunded one.
    pub fn remove(&self, wallet: &WalletId, session: &SessionId, at_ms: u64) {
        self.send(Write::Remove(wallet.clone(), *session, at_ms));
    }

    /// Drops grants older than `before_ms`.
    pub fn prune(&self, before_ms: u64) {
        self.send(Write::Prune(before_ms));
    }

    /// Makes what was written durable.
    pub fn sync(&self) {
        self.send(Write::Sync);
    }

    /// Writes what is queued, syncs, and stops the thread.
    pub fn finish(&mut self) {
        self.queue = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.finish();
    }
}
