//! `mpc-node archive verify`: the hash chain re-checked from the PostgreSQL rows alone. Every
//! entry's hash is recomputed from its archived fields (the exact payload bytes included) and
//! must chain to the one before, from seq 1 with no gap; the JSON view must be what the payload
//! decodes to; the position must name the last row. The first entry that fails is named.

use serde_json::{json, Value};
use store::journal::{entry_hash, RawEntry};
use tokio_postgres::Client;

use super::ArchiveError;

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The chain holds.
    Intact {
        /// Entries checked.
        entries: u64,
        /// The last hash.
        head: [u8; 32],
    },
    /// The first entry (or missing entry) at which it breaks.
    Broken {
        /// Its sequence number.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
}

impl Verdict {
    /// As `--json` prints it.
    pub fn to_json(&self, source: &str) -> Value {
        match self {
            Verdict::Intact { entries, head } => {
                json!({ "source": source, "ok": true, "entries": entries, "head_hash": hex::encode(head) })
            }
            Verdict::Broken { seq, reason } => json!({ "source": source, "ok": false, "seq": seq, "reason": reason }),
        }
    }
}

const PAGE: i64 = 10_000;

fn hash32(bytes: Vec<u8>) -> Option<[u8; 32]> {
    bytes.try_into().ok()
}

/// Walks `source`'s archived journal.
pub async fn verify(client: &Client, source: &str) -> Result<Verdict, ArchiveError> {
    let mut expected = 1u64;
    let mut prev = [0u8; 32];
    loop {
        let rows = client
            .query(
                "SELECT seq, stream, stream_version, event_type, schema_version, recorded_at_ms, payload, prev_hash,
                        hash, event
                 FROM mpc_journal WHERE source = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
                &[&source, &(expected as i64), &PAGE],
            )
            .await?;
        let count = rows.len();
        for r in rows {
            let seq = r.get::<_, i64>(0) as u64;
            if seq != expected {
                return Ok(Verdict::Broken { seq: expected, reason: format!("missing (the next row is seq {seq})") });
            }
            let (Some(prev_hash), Some(hash)) = (hash32(r.get(7)), hash32(r.get(8))) else {
                return Ok(Verdict::Broken { seq, reason: "a hash is not 32 bytes".into() });
            };
            let entry = RawEntry {
                seq,
                stream: r.get(1),
                stream_version: r.get::<_, i64>(2) as u64,
                event_type: r.get(3),
                schema_version: r.get::<_, i16>(4) as u16,
                recorded_at_ms: r.get::<_, i64>(5) as u64,
                payload: r.get(6),
                prev_hash,
                hash,
            };
            if entry.prev_hash != prev {
                return Ok(Verdict::Broken {
                    seq,
                    reason: "its previous hash is not the hash of the entry before".into(),
                });
            }
            if entry_hash(&entry) != entry.hash {
                return Ok(Verdict::Broken { seq, reason: "its hash does not match its contents".into() });
            }
            match entry.event() {
                Err(e) => return Ok(Verdict::Broken { seq, reason: format!("its payload does not decode: {e}") }),
                Ok(event) if crate::rpc::event_json(&event) != r.get::<_, Value>(9) => {
                    return Ok(Verdict::Broken { seq, reason: "its JSON view differs from its payload".into() });
                }
                Ok(_) => {}
            }
            prev = entry.hash;
            expected += 1;
        }
        if (count as i64) < PAGE {
            break;
        }
    }
    let last = expected - 1;
    let position = client.query_opt("SELECT seq, hash FROM mpc_archive_position WHERE source = $1", &[&source]).await?;
    match position {
        None if last == 0 => Ok(Verdict::Intact { entries: 0, head: prev }),
        None => Ok(Verdict::Broken { seq: last, reason: "rows but no position".into() }),
        Some(p) => {
            let (seq, hash) = (p.get::<_, i64>(0) as u64, p.get::<_, Vec<u8>>(1));
            if seq > last {
                Ok(Verdict::Broken {
                    seq: last + 1,
                    reason: format!("missing (the position says {seq} were archived)"),
                })
            } else if seq < last || hash != prev {
                Ok(Verdict::Broken { seq, reason: "the position does not name the last archived entry".into() })
            } else {
                Ok(Verdict::Intact { entries: last, head: prev })
            }
        }
    }
}
