//! JSON shapes of the RPC answers (hex for bytes, names for kinds).

use actors::events::{SessionInfo, SessionStatus};
use actors::reads::CeremonyKind;
use schemars::JsonSchema;
use serde::Serialize;

use actors::wallets::WalletInfo;

/// A signature.
#[derive(Serialize, JsonSchema)]
pub struct SignatureView {
    /// 64 bytes, hex.
    pub signature: String,
    /// ECDSA's recovery id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_id: Option<u8>,
}

/// A session.
#[derive(Serialize, JsonSchema)]
pub struct SessionView {
    pub session: String,
    pub kind: &'static str,
    pub scheme: Option<String>,
    pub wallet: Option<String>,
    pub proposer: u16,
    pub participants: Vec<u16>,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// The first (for a raw signing, the only) signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureView>,
    /// Every signature, one per payload, when the session signed more than one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<SignatureView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub seen_ms: u64,
    pub started_ms: Option<u64>,
    pub finished_ms: Option<u64>,
    /// The first party this node flagged (late, silent, refused) and when, ms after the start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detected: Option<DetectedView>,
    /// Where its ceremony stands (or stopped), as this node last saw it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<ProgressView>,
}

/// A ceremony's progress.
#[derive(Serialize, JsonSchema)]
pub struct ProgressView {
    /// The round it collects, in the scheme's own numbering (CGGMP24's is not in time order).
    pub round: u16,
    /// Rounds this node got through.
    pub completed: u16,
    /// Rounds it has at most, if known.
    pub total: Option<u16>,
    /// Other participants heard from in the current round.
    pub heard: Vec<u16>,
    /// Other participants it still waits for in the current round.
    pub waiting: Vec<u16>,
    /// When the current round began, ms after the session started.
    pub round_started_ms: u64,
}

/// A party flagged in a session.
#[derive(Serialize, JsonSchema)]
pub struct DetectedView {
    pub party: u16,
    pub after_ms: u64,
}

/// Stable name of a ceremony kind.
pub fn kind_name(kind: CeremonyKind) -> &'static str {
    match kind {
        CeremonyKind::Setup => "setup",
        CeremonyKind::Keygen => "keygen",
        CeremonyKind::Sign => "sign",
        CeremonyKind::Refresh => "refresh",
        CeremonyKind::Presign => "presign",
        CeremonyKind::Repair => "repair",
        CeremonyKind::Reshare => "reshare",
        CeremonyKind::Export => "export",
    }
}

impl From<&SessionInfo> for SessionView {
    fn from(i: &SessionInfo) -> Self {
        let view = |sig: &protocol::Signature| SignatureView {
            signature: hex::encode(&sig.bytes),
            recovery_id: sig.recovery_id,
        };
        let (status, public_key, signature, error) = match &i.status {
            SessionStatus::Proposed => ("proposed", None, None, None),
            SessionStatus::Running => ("running", None, None, None),
            SessionStatus::SetupReady => ("setup_ready", None, None, None),
            SessionStatus::KeyReady(pk) => ("key_ready", Some(hex::encode(&pk.bytes)), None, None),
            SessionStatus::Signed(sigs) => ("signed", None, sigs.first().map(view), None),
            SessionStatus::Presigned(_) => ("presigned", None, None, None),
            SessionStatus::Failed(e) if i.started_ms.is_none() => ("refused", None, None, Some(e.to_string())),
            SessionStatus::Failed(e) => ("failed", None, None, Some(e.to_string())),
        };
        let signatures = match &i.status {
            SessionStatus::Signed(sigs) if sigs.len() > 1 => sigs.iter().map(view).collect(),
            _ => Vec::new(),
        };
        Self {
            session: i.session.to_string(),
            kind: kind_name(i.kind),
            scheme: i.scheme.as_ref().map(|s| s.to_string()),
            wallet: i.wallet.as_ref().map(|w| w.to_string()),
            proposer: i.proposer,
            participants: i.participants.clone(),
            status,
            public_key,
            signature,
            signatures,
            error,
            seen_ms: i.seen_ms,
            started_ms: i.started_ms,
            finished_ms: i.finished_ms,
            detected: i.detected.map(|(party, after_ms)| DetectedView { party, after_ms }),
            progress: i.progress.as_ref().map(|p| ProgressView {
                round: p.round,
                completed: p.completed,
                total: p.total,
                heard: p.heard.clone(),
                waiting: p.waiting.clone(),
                round_started_ms: p.round_started_ms,
            }),
        }
    }
}

/// A wallet with its addresses.
#[derive(Serialize, JsonSchema)]
pub struct WalletView {
    pub wallet: String,
    pub scheme: String,
    pub threshold: u16,
    pub parties: u16,
    pub public_key: String,
    pub created_ms: u64,
    /// Chain name to address, for every chain that takes this scheme's keys.
    pub addresses: std::collections::BTreeMap<String, String>,
}

impl WalletView {
    /// With the addresses `chains` derive.
    pub fn new(w: &WalletInfo, chains: &protocol::chains::Chains) -> Self {
        let addresses = chains
            .names()
            .into_iter()
            .filter_map(|name| chains.get(name))
            .filter(|c| c.scheme() == w.scheme)
            .filter_map(|c| c.address(&w.public_key).ok().map(|a| (c.name().to_owned(), a)))
            .collect();
        Self {
            wallet: w.wallet.to_string(),
            scheme: w.scheme.to_string(),
            threshold: w.threshold,
            parties: w.parties,
            public_key: hex::encode(&w.public_key.bytes),
            created_ms: w.created_ms,
            addresses,
        }
    }
}
