//! Retention (`[archive] prune_after_s`): the node removes journal entries the archive
//! acknowledged and the read models applied, older than the age, from the streams it never
//! reads again: finished ceremonies' sessions and the limiter's refusals. Kept: wallets,
//! committee setups, peer health, transactions, and the sessions of transfers still open (a
//! resuming proposer asks its signers about them). The node's own read models (history,
//! balances, audit) keep their rows; `journal_verify` checks the chain across the tombstones.

use std::collections::BTreeSet;

use store::events::{DomainEvent, StreamId};
use store::journal::Pruned;
use store::{Journal, Projections};

use super::ArchiveError;

/// Entries looked at per pass (a pass every few minutes; a backlog clears over several).
const PER_PASS: usize = 20_000;

/// The sessions of open transfers, as stream keys.
fn protected(journal: &Journal, projections: &Projections) -> Result<BTreeSet<String>, ArchiveError> {
    let mut keep = BTreeSet::new();
    for open in projections.open_transfers()? {
        for e in journal.read_stream(&StreamId::Transaction(open.tx.clone()), 1, 1000)? {
            if let DomainEvent::SigningProposed { session, .. } | DomainEvent::TransactionSigned { session, .. } =
                &e.event
            {
                keep.insert(StreamId::Session(*session).key());
            }
        }
    }
    Ok(keep)
}

/// One pass: up to the archive's `position` and the read models' checkpoint, before `before_ms`.
pub fn prune(
    journal: &Journal,
    projections: &Projections,
    position: u64,
    before_ms: u64,
) -> Result<Pruned, ArchiveError> {
    let keep = protected(journal, projections)?;
    let upto = position.min(projections.applied()?);
    // A committee setup's record lives in a session-shaped stream: kept by its type.
    let prunable = |stream: &str, event_type: &str| {
        event_type != "CommitteeSetupStored"
            && (stream == "limits" || (stream.starts_with("session/") && !keep.contains(stream)))
    };
    Ok(journal.prune(upto, before_ms, &prunable, PER_PASS)?)
}
