//! The node's TOML config (documented in `configs/node.example.toml`). Every error names the
//! field and says why; unknown keys are errors, so a typo never silently falls back to a
//! default.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A config that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid TOML, or a key of the wrong type, or an unknown key.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's report (names the key and line).
        message: String,
    },
    /// A value that parses but cannot work.
    #[error("{field}: {reason}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// Why.
        reason: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { field: field.into(), reason: reason.into() }
}

/// The whole config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This node.
    pub node: NodeSection,
    /// Party-to-party transport.
    pub network: NetworkSection,
    /// Every member, this node included.
    pub committee: Vec<MemberSection>,
    /// Admin JSON-RPC.
    pub admin: AdminSection,
    /// Prometheus exporter.
    pub metrics: MetricsSection,
    /// Ceremony timing.
    #[serde(default)]
    pub ceremony: CeremonySection,
    /// Key-share encryption at rest.
    pub vault: VaultSection,
    /// Chains this node derives addresses for and signs transactions on.
    #[serde(default)]
    pub chains: ChainsSection,
    /// One `[[chain]]` per chain this node signs transfers on: its node endpoint and this
    /// member's limits. A chain not listed is refused in every transfer proposal.
    #[serde(default)]
    pub chain: Vec<ChainSection>,
    /// This node's rate limits: client buckets at the entry, each wallet's signing limits
    /// as a member. Every field has a default (see configs/node.example.toml).
    #[serde(default)]
    pub limits: protocol::limits::LimitsConfig,
    /// What this member signs without reading it: raw signing is off unless a wallet is
    /// named here.
    #[serde(default)]
    pub signing: protocol::signable::RawSigning,
    /// The DKG circuit breaker: thresholds on peers' round scores, and the cooldown.
    #[serde(default)]
    pub breaker: protocol::breaker::BreakerConfig,
    /// The CGGMP24 presignature pool: one-round ECDSA signing of what members hash themselves.
    #[serde(default)]
    pub presign: actors::manager::PoolConfig,
    /// Backups made by the `backup_create` RPC: where, and the passphrase's variable.
    #[serde(default)]
    pub backup: BackupSection,
    /// Guarded export of a wallet's whole key: off unless switched on here.
    #[serde(default)]
    pub export: ExportSection,
    /// Fault injection into this node's outgoing ceremony messages, for drills and the
    /// breaker harness. Absent: off. Never in production.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<actors::faults::Faults>,
    /// The journal streamed to PostgreSQL (`[archive]`). Absent: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveSection>,
}

/// `[archive]`: every journal entry, in order and exactly once, into PostgreSQL, with read
/// models beside it. PostgreSQL down or slow never blocks signing: the archive falls behind
/// (`mpc_archive_lag_events`, `node_info.archive`) and catches up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSection {
    /// Where: a `postgresql://user@host:port/db` URL or `host=… user=… dbname=…`, without the
    /// password.
    pub url: String,
    /// The environment variable holding the password (none: trust, peer or certificate auth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// The label of this node's rows (default `party-<index>`; members may share a database).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Entries per PostgreSQL transaction (1..=10000).
    #[serde(default = "default_archive_batch")]
    pub batch: u32,
    /// Longest pause between reconnection attempts, ms.
    #[serde(default = "default_archive_retry_ms")]
    pub retry_max_ms: u64,
    /// Retention: remove journal entries the archive holds once older than this many seconds,
    /// from the streams the node never reads again (finished ceremonies, refusals). Absent:
    /// keep everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune_after_s: Option<u64>,
}

fn default_archive_batch() -> u32 {
    1000
}

fn default_archive_retry_ms() -> u64 {
    10_000
}

/// `[[chain]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSection {
    /// `ethereum`, `bitcoin-p2tr`, `bitcoin-p2wpkh` or `solana`.
    pub name: String,
    /// JSON-RPC endpoint of a chain node (needed to propose transfers, read balances and
    /// check confirmations; a member without one still reviews and signs).
    #[serde(default)]
    pub rpc_url: Option<String>,
    /// What the node must report: the chain id (Ethereum), the genesis hash (Solana), the
    /// chain name `main`/`test`/`regtest` (Bitcoin Core). Checked at start.
    pub network: String,
    /// Depth at which a transfer counts as confirmed.
    #[serde(default = "default_confirmations")]
    pub confirmations: u32,
    /// Largest fee this member signs for, smallest unit, as a decimal string.
    #[serde(default)]
    pub fee_ceiling: Option<String>,
    /// Largest amount per transfer this member signs for, smallest unit, decimal string.
    #[serde(default)]
    pub max_amount: Option<String>,
    /// Ethereum: build EIP-155 legacy transactions instead of EIP-1559.
    #[serde(default)]
    pub legacy: bool,
    /// Bitcoin Core: RPC user.
    #[serde(default)]
    pub rpc_user: Option<String>,
    /// Bitcoin Core: environment variable holding the RPC password.
    #[serde(default)]
    pub rpc_password_env: Option<String>,
    /// Bitcoin: fee rate when the node cannot estimate one, sat/vB.
    #[serde(default = "default_fallback_fee")]
    pub fallback_fee_sat_vb: u64,
}

impl ChainSection {
    /// A chain with a node endpoint, one confirmation, no limits.
    pub fn new(name: &str, rpc_url: &str, network: &str) -> Self {
        Self {
            name: name.into(),
            rpc_url: Some(rpc_url.into()),
            network: network.into(),
            confirmations: default_confirmations(),
            fee_ceiling: None,
            max_amount: None,
            legacy: false,
            rpc_user: None,
            rpc_password_env: None,
            fallback_fee_sat_vb: default_fallback_fee(),
        }
    }
}

fn default_confirmations() -> u32 {
    1
}
fn default_fallback_fee() -> u64 {
    2
}

/// Reads a decimal amount of a config field.
pub fn amount(field: &str, text: &Option<String>) -> Result<Option<u128>, ConfigError> {
    text.as_deref()
        .map(|t| t.trim().parse::<u128>().map_err(|_| invalid(field, format!("{t:?} is not a whole decimal amount"))))
        .transpose()
}

/// `[chains]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainsSection {
    /// Bitcoin network of the addresses: mainnet, testnet, testnet4, signet or regtest.
    #[serde(default = "default_bitcoin_network")]
    pub bitcoin_network: String,
}

impl Default for ChainsSection {
    fn default() -> Self {
        Self { bitcoin_network: default_bitcoin_network() }
    }
}

fn default_bitcoin_network() -> String {
    "mainnet".into()
}

/// `[node]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// This node's party index in `[[committee]]`.
    pub party: u16,
    /// Where the database and key files live.
    pub data_dir: PathBuf,
    /// New ceremonies are refused while the data directory's file system has less than this
    /// free, MiB (0: no floor). A ceremony that starts must be able to journal its result.
    #[serde(default = "default_min_free_disk_mb")]
    pub min_free_disk_mb: u64,
}

fn default_min_free_disk_mb() -> u64 {
    256
}

/// `[network]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// Listen multiaddr, e.g. `/ip4/0.0.0.0/tcp/7000`.
    pub listen: String,
    /// Largest envelope accepted, bytes.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// First wait before a missing member is dialed again, ms (doubles, at most 30 s).
    #[serde(default = "default_redial_ms")]
    pub redial_interval_ms: u64,
}

/// `[[committee]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSection {
    /// Party index, 0..n.
    pub party: u16,
    /// libp2p peer id (printed by `mpc-node init`).
    pub peer_id: String,
    /// Its listen multiaddr as reachable from here.
    pub address: String,
}

/// `[admin]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// `host:port` of the JSON-RPC endpoint.
    pub listen: String,
    /// File holding the bearer token (relative paths are under `data_dir`).
    pub token_file: PathBuf,
    /// File of named API keys, stored hashed (relative paths are under `data_dir`;
    /// default `api_keys.toml`). `mpc-node keys` edits it; the running node reloads it.
    #[serde(default)]
    pub api_keys_file: Option<PathBuf>,
}

/// `[metrics]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// `host:port` of `/metrics`.
    pub listen: String,
}

/// `[ceremony]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CeremonySection {
    /// Base round timeout, ms: the adaptive timeout (2.5 × the p50 of recent rounds) never
    /// goes below it.
    #[serde(default = "default_round_timeout_ms")]
    pub round_timeout_ms: u64,
    /// Longest adaptive round timeout, ms (a setup always takes this; the breaker's
    /// `slow_factor` stretches it while half-open). Raised to the base if below it.
    #[serde(default = "default_max_round_timeout_ms")]
    pub max_round_timeout_ms: u64,
    /// Ignored: session actors wake at their round's deadline. Accepted so older configs load.
    #[serde(default, skip_serializing)]
    pub tick_ms: Option<u64>,
    /// How long a proposal waits for every participant's vote, ms.
    #[serde(default = "default_proposal_ttl_ms")]
    pub proposal_ttl_ms: u64,
    /// How long a participant whose connection dropped may take to reconnect before its
    /// running ceremonies end, blaming it as unreachable, ms.
    #[serde(default = "default_peer_grace_ms")]
    pub peer_grace_ms: u64,
    /// Safe-prime sets to keep ready for CGGMP24 setups, generated in the background
    /// (0: never generate; import them with `mpc-node import-primes`).
    #[serde(default = "default_primes_ready")]
    pub primes_ready: usize,
}

impl Default for CeremonySection {
    fn default() -> Self {
        Self {
            round_timeout_ms: default_round_timeout_ms(),
            max_round_timeout_ms: default_max_round_timeout_ms(),
            tick_ms: None,
            proposal_ttl_ms: default_proposal_ttl_ms(),
            peer_grace_ms: default_peer_grace_ms(),
            primes_ready: default_primes_ready(),
        }
    }
}

/// `[backup]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSection {
    /// Directory `backup_create` writes into (relative paths are under `data_dir`).
    #[serde(default = "default_backup_dir")]
    pub dir: PathBuf,
    /// Environment variable holding the backup passphrase (at least 12 characters). Keep it
    /// apart from the vault's secret: a backup holds the vault key file.
    #[serde(default = "default_backup_passphrase_env")]
    pub passphrase_env: String,
}

impl Default for BackupSection {
    fn default() -> Self {
        Self { dir: default_backup_dir(), passphrase_env: default_backup_passphrase_env() }
    }
}

fn default_backup_dir() -> PathBuf {
    PathBuf::from("backups")
}

fn default_backup_passphrase_env() -> String {
    crate::backup::PASSPHRASE_ENV.into()
}

/// `[export]`: a member takes part in a key export only when `enabled`, and its operator
/// proves the export credential (kept apart from the admin token) for every call.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSection {
    /// Off by default.
    #[serde(default)]
    pub enabled: bool,
    /// The SHA-256 of the export credential, as `mpc-node export-credential` writes it
    /// (relative paths are under `data_dir`; default `export.credential`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_file: Option<PathBuf>,
}

/// `[vault]`: exactly one of `key_file` and `passphrase_env`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultSection {
    /// A file with 32 random bytes or 64 hex characters (relative paths are under `data_dir`).
    pub key_file: Option<PathBuf>,
    /// Name of an environment variable holding a passphrase (stretched with Argon2id).
    pub passphrase_env: Option<String>,
}

fn default_max_message_bytes() -> usize {
    4 * 1024 * 1024
}
fn default_redial_ms() -> u64 {
    1000
}
fn default_round_timeout_ms() -> u64 {
    10_000
}
fn default_max_round_timeout_ms() -> u64 {
    30_000
}
fn default_peer_grace_ms() -> u64 {
    3_000
}
fn default_proposal_ttl_ms() -> u64 {
    30_000
}
fn default_primes_ready() -> usize {
    1
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::parse(&text, path)
    }

    /// Parses and checks config text (`path` is only for messages).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config =
            toml::from_str(text).map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })?;
        config.check()?;
        Ok(config)
    }

    /// Cross-field checks.
    pub fn check(&self) -> Result<(), ConfigError> {
        let n = self.committee.len();
        if n < 2 {
            return Err(invalid("committee", format!("needs at least 2 members, has {n}")));
        }
        if n > usize::from(protocol::scheme::MAX_PARTIES) {
            return Err(invalid("committee", format!("at most {} members", protocol::scheme::MAX_PARTIES)));
        }
        let mut parties = BTreeSet::new();
        let mut peers = BTreeSet::new();
        for (i, m) in self.committee.iter().enumerate() {
            let field = format!("committee[{i}]");
            if !parties.insert(m.party) {
                return Err(invalid(format!("{field}.party"), format!("party {} is listed twice", m.party)));
            }
            if !peers.insert(&m.peer_id) {
                return Err(invalid(format!("{field}.peer_id"), format!("{} is listed twice", m.peer_id)));
            }
            if m.peer_id.len() < 40 || !m.peer_id.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(invalid(format!("{field}.peer_id"), format!("{:?} is not a peer id", m.peer_id)));
            }
            if !m.address.starts_with('/') {
                return Err(invalid(format!("{field}.address"), format!("{:?} is not a multiaddr", m.address)));
            }
        }
        if parties.iter().copied().ne(0..n as u16) {
            return Err(invalid("committee", format!("parties must be 0..{n} with none missing, got {parties:?}")));
        }
        if !parties.contains(&self.node.party) {
            return Err(invalid("node.party", format!("{} is not in the committee", self.node.party)));
        }
        if !self.network.listen.starts_with('/') {
            return Err(invalid("network.listen", format!("{:?} is not a multiaddr", self.network.listen)));
        }
        if self.network.max_message_bytes < 64 * 1024 {
            return Err(invalid("network.max_message_bytes", "below 64 KiB: CGGMP24 rounds would not fit"));
        }
        let l = &self.limits;
        for (field, rate) in [
            ("limits.per_key_per_min", l.per_key_per_min),
            ("limits.per_ip_per_min", l.per_ip_per_min),
            ("limits.per_wallet_per_min", l.per_wallet_per_min),
        ] {
            if rate == 0 || rate > protocol::limits::bucket::MAX_RATE_PER_MIN {
                return Err(invalid(field, format!("must be 1..={}", protocol::limits::bucket::MAX_RATE_PER_MIN)));
            }
        }
        if l.max_tracked == 0 {
            return Err(invalid("limits.max_tracked", "must be at least 1"));
        }
        for (field, addr) in [("admin.listen", &self.admin.listen), ("metrics.listen", &self.metrics.listen)] {
            addr.parse::<std::net::SocketAddr>().map_err(|e| invalid(field, format!("{addr:?}: {e}")))?;
        }
        if self.admin.listen == self.metrics.listen && !self.admin.listen.ends_with(":0") {
            return Err(invalid("metrics.listen", "same address as admin.listen"));
        }
        if self.ceremony.round_timeout_ms == 0 {
            return Err(invalid("ceremony.round_timeout_ms", "must be above 0"));
        }
        if self.ceremony.peer_grace_ms == 0 || self.ceremony.peer_grace_ms > self.ceremony.round_timeout_ms {
            return Err(invalid("ceremony.peer_grace_ms", "must be above 0 and at most the round timeout"));
        }
        let b = &self.breaker;
        let unit = |v: f64| (0.0..=1.0).contains(&v);
        if !(unit(b.open_below) && unit(b.half_open_below) && unit(b.close_above))
            || b.open_below > b.half_open_below
            || b.half_open_below > b.close_above
        {
            return Err(invalid(
                "breaker",
                "thresholds must be in [0, 1] with open_below <= half_open_below <= close_above",
            ));
        }
        if b.low_rounds == 0 || b.cooldown_ms == 0 || !(1.0..=10.0).contains(&b.slow_factor) {
            return Err(invalid("breaker", "low_rounds and cooldown_ms must be above 0, slow_factor in [1, 10]"));
        }
        let p = &self.presign;
        if p.batch == 0 || p.batch > protocol::presign::MAX_PRESIGN_BATCH || p.max_sets == 0 || p.max_per_set < p.target
        {
            return Err(invalid("presign", "batch must be 1..=16, max_sets above 0, and max_per_set at least target"));
        }
        if let Some(a) = &self.archive {
            if a.url.trim().is_empty() {
                return Err(invalid("archive.url", "empty"));
            }
            if a.batch == 0 || a.batch > 10_000 {
                return Err(invalid("archive.batch", "1..=10000"));
            }
            if a.retry_max_ms < 250 {
                return Err(invalid("archive.retry_max_ms", "at least 250"));
            }
            if a.prune_after_s == Some(0) {
                return Err(invalid("archive.prune_after_s", "at least 1 (leave it out to keep everything)"));
            }
        }
        if let Some(f) = &self.faults {
            if f.rule.iter().any(|r| r.drop_percent > 100 || r.corrupt_percent > 100) {
                return Err(invalid("faults.rule", "percentages are 0..=100"));
            }
            if f.rule.iter().flat_map(|r| &r.to).any(|p| usize::from(*p) >= n) {
                return Err(invalid("faults.rule.to", "names a party outside the committee"));
            }
        }
        if self.ceremony.proposal_ttl_ms < 1000 {
            return Err(invalid("ceremony.proposal_ttl_ms", "below 1000: members could not answer in time"));
        }
        if self.ceremony.proposal_ttl_ms > protocol::proposal::MAX_LIFETIME_MS - 60_000 {
            return Err(invalid("ceremony.proposal_ttl_ms", "above 540000: members refuse proposals that far ahead"));
        }
        if self.ceremony.primes_ready > 16 {
            return Err(invalid("ceremony.primes_ready", "above 16: each set costs minutes of CPU"));
        }
        if protocol::chains::bitcoin_network(&self.chains.bitcoin_network).is_none() {
            return Err(invalid(
                "chains.bitcoin_network",
                format!("{:?}: use mainnet, testnet, testnet4, signet or regtest", self.chains.bitcoin_network),
            ));
        }
        let mut names = BTreeSet::new();
        for (i, c) in self.chain.iter().enumerate() {
            let field = |f: &str| format!("chain[{i}].{f}");
            if !["ethereum", "bitcoin-p2tr", "bitcoin-p2wpkh", "solana"].contains(&c.name.as_str()) {
                return Err(invalid(
                    field("name"),
                    format!("{:?}: use ethereum, bitcoin-p2tr, bitcoin-p2wpkh or solana", c.name),
                ));
            }
            if !names.insert(&c.name) {
                return Err(invalid(field("name"), format!("{} is listed twice", c.name)));
            }
            if c.name == "ethereum" && c.network.parse::<u64>().is_err() {
                return Err(invalid(field("network"), format!("{:?}: Ethereum's network is its chain id", c.network)));
            }
            if let Some(url) = &c.rpc_url {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(invalid(field("rpc_url"), format!("{url:?} is not an http(s) URL")));
                }
            }
            if c.confirmations == 0 {
                return Err(invalid(field("confirmations"), "at least 1"));
            }
            amount(&field("fee_ceiling"), &c.fee_ceiling)?;
            amount(&field("max_amount"), &c.max_amount)?;
        }
        match (&self.vault.key_file, &self.vault.passphrase_env) {
            (Some(_), None) | (None, Some(_)) => Ok(()),
            _ => Err(invalid("vault", "set exactly one of key_file and passphrase_env")),
        }
    }

    /// A path from the config, relative ones taken under `data_dir`.
    pub fn in_data_dir(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.node.data_dir.join(p)
        }
    }
}
