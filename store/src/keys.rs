//! Every column family and key layout of the store, declared once. Integers are big-endian so
//! that RocksDB's byte order is numeric order; variable-length parts are length-prefixed so no
//! key is a prefix of another's.

/// Column family names.
pub mod cf {
    /// Global log: `seq` -> entry (hash-chained).
    pub const EVENTS: &str = "events";
    /// Per-stream index: `stream ‖ version` -> `seq`.
    pub const STREAM_INDEX: &str = "stream_index";
    /// Per-stream head: `stream` -> version.
    pub const STREAM_HEADS: &str = "stream_heads";
    /// Idempotency keys: `key` -> the append it stood for.
    pub const IDEMPOTENCY: &str = "idempotency";
    /// Journal head, vault KDF parameters and check value.
    pub const META: &str = "meta";
    /// Sealed key shares and committee setups: `kind ‖ wallet ‖ scheme ‖ party` -> ciphertext.
    pub const VAULT: &str = "vault";
    /// Sealed safe-prime sets: `id` -> ciphertext.
    pub const PRIMES: &str = "primes";
    /// Consumed session ids and nonces: `kind ‖ id` -> time consumed.
    pub const CONSUMED: &str = "consumed";
    /// Read model: `wallet ‖ !seq` -> history entry (newest first).
    pub const PROJ_HISTORY: &str = "proj_history";
    /// Read model: `wallet ‖ chain` -> balance.
    pub const PROJ_BALANCES: &str = "proj_balances";
    /// Read model: `time_ms ‖ seq` -> audit entry.
    pub const PROJ_AUDIT: &str = "proj_audit";
    /// Read models' own state: checkpoint, transaction -> wallet map.
    pub const PROJ_STATE: &str = "proj_state";
    /// Snapshots of projection state.
    pub const SNAPSHOTS: &str = "snapshots";
    /// Signings the limiter granted: `time_ms ‖ wallet ‖ session` -> grant (digests, raw).
    pub const LIMITS: &str = "limits";

    /// All of them, for opening the database.
    pub const ALL: &[&str] = &[
        EVENTS,
        STREAM_INDEX,
        STREAM_HEADS,
        IDEMPOTENCY,
        META,
        VAULT,
        PRIMES,
        CONSUMED,
        PROJ_HISTORY,
        PROJ_BALANCES,
        PROJ_AUDIT,
        PROJ_STATE,
        SNAPSHOTS,
        LIMITS,
    ];

    /// The read models: dropped and rebuilt together.
    pub const PROJECTIONS: &[&str] = &[PROJ_HISTORY, PROJ_BALANCES, PROJ_AUDIT, PROJ_STATE];
}

/// `META` key of the journal head `(seq, hash)`.
pub const META_HEAD: &[u8] = b"journal/head";
/// `META` key of the vault's KDF salt and parameters.
pub const META_VAULT_KDF: &[u8] = b"vault/kdf";
/// `META` key of the vault's check value (detects a wrong secret at open).
pub const META_VAULT_CHECK: &[u8] = b"vault/check";
/// `PROJ_STATE` key of the projections' applied sequence.
pub const PROJ_CHECKPOINT: &[u8] = b"checkpoint";
/// `SNAPSHOTS` key of the latest snapshot.
pub const SNAPSHOT_LATEST: &[u8] = b"latest";

pub(crate) fn push_part(out: &mut Vec<u8>, part: &[u8]) {
    out.extend_from_slice(&(part.len() as u32).to_be_bytes());
    out.extend_from_slice(part);
}

/// The first length-prefixed part of `bytes` (as [`push_part`] wrote it).
pub(crate) fn read_part(bytes: &[u8]) -> Option<&[u8]> {
    let len = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    bytes.get(4..4usize.checked_add(len)?)
}

/// `EVENTS` key.
pub fn event(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// `STREAM_INDEX` key.
pub fn stream_index(stream: &str, version: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.len() + 12);
    push_part(&mut k, stream.as_bytes());
    k.extend_from_slice(&version.to_be_bytes());
    k
}

/// `STREAM_HEADS` key.
pub fn stream_head(stream: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.len() + 4);
    push_part(&mut k, stream.as_bytes());
    k
}

/// `VAULT` key.
pub fn vault(kind: &str, wallet: &str, scheme: &str, party: u16) -> Vec<u8> {
    let mut k = Vec::new();
    push_part(&mut k, kind.as_bytes());
    push_part(&mut k, wallet.as_bytes());
    push_part(&mut k, scheme.as_bytes());
    k.extend_from_slice(&party.to_be_bytes());
    k
}

/// `VAULT` key prefix of one wallet's presignatures for one signer set (or, with `signers`
/// empty, of all its presignatures).
pub fn presignature_prefix(wallet: &str, signers: &[u16]) -> Vec<u8> {
    let mut k = Vec::new();
    push_part(&mut k, b"presig");
    push_part(&mut k, wallet.as_bytes());
    if !signers.is_empty() {
        let set: Vec<u8> = signers.iter().flat_map(|p| p.to_be_bytes()).collect();
        push_part(&mut k, &set);
    }
    k
}

/// `VAULT` key of one presignature.
pub fn presignature(wallet: &str, signers: &[u16], id: &[u8; 32]) -> Vec<u8> {
    let mut k = presignature_prefix(wallet, signers);
    k.extend_from_slice(id);
    k
}

/// `CONSUMED` key.
pub fn consumed(kind: &str, id: &[u8]) -> Vec<u8> {
    let mut k = Vec::new();
    push_part(&mut k, kind.as_bytes());
    k.extend_from_slice(id);
    k
}

/// `PROJ_HISTORY` key prefix of one wallet.
pub fn history_prefix(wallet: &str) -> Vec<u8> {
    let mut k = Vec::new();
    push_part(&mut k, wallet.as_bytes());
    k
}

/// `PROJ_HISTORY` key: the sequence is inverted so that iteration is newest first.
pub fn history(wallet: &str, seq: u64) -> Vec<u8> {
    let mut k = history_prefix(wallet);
    k.extend_from_slice(&(!seq).to_be_bytes());
    k
}

/// `PROJ_BALANCES` key.
pub fn balance(wallet: &str, chain: &str) -> Vec<u8> {
    let mut k = history_prefix(wallet);
    push_part(&mut k, chain.as_bytes());
    k
}

/// `PROJ_AUDIT` key.
pub fn audit(time_ms: u64, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&time_ms.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// `LIMITS` key: time first, so old grants are one range.
pub fn limit_grant(time_ms: u64, wallet: &str, session: &[u8; 32]) -> Vec<u8> {
    let mut k = time_ms.to_be_bytes().to_vec();
    push_part(&mut k, wallet.as_bytes());
    k.extend_from_slice(session);
    k
}

/// `PROJ_STATE` key of a transaction's wallet.
pub fn tx_wallet(tx: &str) -> Vec<u8> {
    let mut k = b"tx/".to_vec();
    k.extend_from_slice(tx.as_bytes());
    k
}

/// `PROJ_STATE` key prefix of the wallets held here.
pub const WALLET_PREFIX: &[u8] = b"wallet/";

/// `PROJ_STATE` key of a wallet held here.
pub fn wallet_row(wallet: &str) -> Vec<u8> {
    let mut k = WALLET_PREFIX.to_vec();
    k.extend_from_slice(wallet.as_bytes());
    k
}

/// `PROJ_STATE` key prefix of the transfers not yet confirmed or failed.
pub const OPEN_TX_PREFIX: &[u8] = b"open/";

/// `PROJ_STATE` key of an unfinished transfer.
pub fn open_tx(tx: &str) -> Vec<u8> {
    let mut k = OPEN_TX_PREFIX.to_vec();
    k.extend_from_slice(tx.as_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_stream_key_is_a_prefix_of_another() {
        assert!(!stream_index("ab", 1).starts_with(&stream_head("a")));
        assert_ne!(vault("share", "ab", "c", 0), vault("share", "a", "bc", 0));
    }

    #[test]
    fn history_iterates_newest_first() {
        assert!(history("w", 10) < history("w", 9));
        assert!(history("w", 1).starts_with(&history_prefix("w")));
        assert!(!history("wx", 1).starts_with(&history_prefix("w")));
    }
}
