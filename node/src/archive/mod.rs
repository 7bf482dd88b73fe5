//! The archive: this node's journal streamed into PostgreSQL, entry by entry, in order and
//! exactly once, with read models beside it (history by wallet, balances by wallet and chain,
//! the audit trail by time), and `mpc-node archive verify` to re-check the hash chain from the
//! database's rows alone.
//!
//! - [`sink`]: the actor that follows the journal. PostgreSQL down or slow never touches
//!   signing: the sink only reads the journal, falls behind, reports its lag and catches up.
//! - [`verify`]: the chain check over the archived rows.
//! - `schema.sql`: the tables, created by the sink on first connect.

pub mod retention;
pub mod sink;
pub mod verify;

use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::{Client, NoTls};

use crate::config::ArchiveSection;

/// The tables (idempotent DDL).
pub const SCHEMA: &str = include_str!("schema.sql");

/// What went wrong with the archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The connection string or password.
    #[error("archive config: {0}")]
    Config(String),
    /// PostgreSQL refused or failed.
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The journal could not be read.
    #[error("journal: {0}")]
    Journal(#[from] store::StoreError),
    /// The archive and this journal disagree (another node's database, or a journal replaced).
    #[error("the archive does not continue this journal: {0}")]
    Diverged(String),
    /// Timed out.
    #[error("timed out: {0}")]
    Timeout(&'static str),
}

/// The label of this node's rows.
pub fn source(section: &ArchiveSection, party: protocol::PartyIndex) -> String {
    section.source.clone().unwrap_or_else(|| format!("party-{party}"))
}

/// Connects (the password from `password_env`), with a statement timeout so a hung server
/// cannot hold the sink forever; the connection is driven by its own task.
pub async fn connect(section: &ArchiveSection) -> Result<Client, ArchiveError> {
    let mut config = tokio_postgres::Config::from_str(&section.url).map_err(|e| ArchiveError::Config(e.to_string()))?;
    if let Some(var) = &section.password_env {
        let password = std::env::var(var).map_err(|_| ArchiveError::Config(format!("{var} is not set")))?;
        config.password(password);
    }
    config.connect_timeout(Duration::from_secs(5));
    config.application_name("mpc-node archive");
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "archive connection closed");
        }
    });
    client.batch_execute("SET statement_timeout = '30s'").await?;
    Ok(client)
}

/// Creates the tables if missing (one migrator at a time: members may share a database).
pub async fn migrate(client: &mut Client) -> Result<(), ArchiveError> {
    let tx = client.transaction().await?;
    tx.batch_execute("SELECT pg_advisory_xact_lock(7283551)").await?;
    tx.batch_execute(SCHEMA).await?;
    tx.commit().await?;
    Ok(())
}
