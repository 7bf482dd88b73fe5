//! The journal actor: the one writer of ceremony records. Every session's start, result or
//! abort (with blame) becomes an event on the session's stream, appended off the actor's
//! thread so a synced write never stalls the runtime.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use store::journal::VerifyReport;
use store::{AppendRequest, DomainEvent, ExpectedVersion, Journal, JournalHead, StoreError, StreamId};

use crate::events::{CeremonyEvent, CeremonyListener};

/// Messages of the journal actor.
pub enum JournalMsg {
    /// Record a ceremony's lifecycle event.
    Ceremony(CeremonyEvent),
    /// Re-hash the whole chain.
    Verify(RpcReplyPort<Result<VerifyReport, StoreError>>),
    /// The chain's head.
    Head(RpcReplyPort<Result<JournalHead, StoreError>>),
    /// Append events (a transfer's steps), synced, off the actor's thread.
    Append(AppendRequest, RpcReplyPort<Result<store::Appended, StoreError>>),
    /// Append events nobody waits for (the limiter's refusals); a failure is logged.
    Note(StreamId, Vec<DomainEvent>),
}

/// The journal actor.
pub struct JournalActor;

/// A ceremony event as journal entries of its session's stream (a signing's signatures are
/// kept beside its completion, in the same append).
fn to_domain(event: CeremonyEvent) -> Option<(StreamId, Vec<DomainEvent>)> {
    Some(match event {
        CeremonyEvent::Started { session, kind, scheme, wallet, participants } => (
            StreamId::Session(session),
            vec![DomainEvent::CeremonyStarted { session, kind, scheme, wallet, participants }],
        ),
        CeremonyEvent::Completed { session, duration_ms, tx, signatures, .. } => {
            let mut events = vec![DomainEvent::CeremonyCompleted { session, duration_ms }];
            if !signatures.is_empty() {
                events.push(DomainEvent::SignaturesKept { session, tx, signatures });
            }
            (StreamId::Session(session), events)
        }
        CeremonyEvent::Aborted { session, reason, blamed, misbehaviour, .. } => {
            (StreamId::Session(session), vec![DomainEvent::CeremonyAborted { session, reason, blamed, misbehaviour }])
        }
        CeremonyEvent::Abandoned { journaled: false, .. } => return None,
        CeremonyEvent::Abandoned { session, reason, .. } => (
            StreamId::Session(session),
            vec![DomainEvent::CeremonyAborted {
                session,
                reason: format!("not started: {reason}"),
                blamed: Vec::new(),
                misbehaviour: false,
            }],
        ),
        CeremonyEvent::Breaker { session, from, to, reason } => (
            StreamId::Health,
            vec![DomainEvent::BreakerTransition { session, from: from.name().into(), to: to.name().into(), reason }],
        ),
        CeremonyEvent::AbortIgnored { .. } | CeremonyEvent::PoolUse { .. } | CeremonyEvent::PoolLevel { .. } => {
            return None
        }
    })
}

impl Actor for JournalActor {
    type Msg = JournalMsg;
    type State = Arc<Journal>;
    type Arguments = Arc<Journal>;

    async fn pre_start(
        &self,
        _myself: ActorRef<JournalMsg>,
        journal: Arc<Journal>,
    ) -> Result<Arc<Journal>, ActorProcessingErr> {
        Ok(journal)
    }

    async fn handle(
        &self,
        _myself: ActorRef<JournalMsg>,
        msg: JournalMsg,
        journal: &mut Arc<Journal>,
    ) -> Result<(), ActorProcessingErr> {
        let journal = journal.clone();
        match msg {
            JournalMsg::Ceremony(event) => {
                let Some((stream, events)) = to_domain(event) else { return Ok(()) };
                let kind = events.first().map(|e| e.event_type()).unwrap_or("none");
                let request = AppendRequest::new(stream, ExpectedVersion::Any, events);
                match tokio::task::spawn_blocking(move || journal.append(request)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::error!(event = kind, error = %e, "journaling a ceremony event failed"),
                    Err(e) => tracing::error!(event = kind, error = %e, "journal writer vanished"),
                }
            }
            JournalMsg::Verify(reply) => {
                let report = tokio::task::spawn_blocking(move || journal.verify())
                    .await
                    .unwrap_or_else(|e| Err(StoreError::InvalidInput(e.to_string())));
                let _ = reply.send(report);
            }
            JournalMsg::Append(request, reply) => {
                let result = tokio::task::spawn_blocking(move || journal.append(request))
                    .await
                    .unwrap_or_else(|e| Err(StoreError::InvalidInput(e.to_string())));
                let _ = reply.send(result);
            }
            JournalMsg::Note(stream, events) => {
                let request = AppendRequest::new(stream, ExpectedVersion::Any, events);
                let result = tokio::task::spawn_blocking(move || journal.append(request)).await;
                if !matches!(result, Ok(Ok(_))) {
                    tracing::warn!("a note (a limiter refusal, a reputation change) could not be journaled");
                }
            }
            JournalMsg::Head(reply) => {
                let _ = reply.send(journal.head());
            }
        }
        Ok(())
    }
}

/// Hands the manager's ceremony events to the journal actor.
pub struct JournalListener(pub ActorRef<JournalMsg>);

impl CeremonyListener for JournalListener {
    fn on_ceremony(&self, event: &CeremonyEvent) {
        let _ = self.0.cast(JournalMsg::Ceremony(event.clone()));
    }
}
