//! `mpc-node init`: makes a node's data directory with its identity, vault key and admin
//! token (each mode 0600), and prints its peer id and a config skeleton.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rand_core::{OsRng, RngCore};

use crate::config::{
    AdminSection, CeremonySection, Config, MemberSection, MetricsSection, NetworkSection, NodeSection, VaultSection,
};

/// File names inside the data directory.
pub const IDENTITY_FILE: &str = "identity.key";
/// The vault key file.
pub const VAULT_KEY_FILE: &str = "vault.key";
/// The admin token file.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// What `init` needs.
pub struct InitArgs {
    /// Data directory to create.
    pub data_dir: PathBuf,
    /// This node's party index.
    pub party: u16,
    /// Listen multiaddr.
    pub listen: String,
    /// Admin `host:port`.
    pub admin: String,
    /// Metrics `host:port`.
    pub metrics: String,
}

/// Why `init` failed.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The data directory already holds a node.
    #[error("{0} already holds a node identity; refusing to overwrite it")]
    Exists(PathBuf),
    /// Filesystem.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The identity could not be made.
    #[error(transparent)]
    Identity(#[from] network::p2p::NetError),
}

fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), InitError> {
    let io = |source| InitError::Io { path: path.to_owned(), source };
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Creates the data directory; returns the peer id and a config that lists only this node.
pub fn init(args: &InitArgs) -> Result<(String, Config), InitError> {
    let identity = args.data_dir.join(IDENTITY_FILE);
    if identity.exists() {
        return Err(InitError::Exists(args.data_dir.clone()));
    }
    std::fs::create_dir_all(&args.data_dir).map_err(|source| InitError::Io { path: args.data_dir.clone(), source })?;
    let peer_id = network::p2p::peer_id(&identity)?;
    let mut key = [0u8; 32];
    OsRng.fill_bytes(&mut key);
    write_secret(&args.data_dir.join(VAULT_KEY_FILE), hex::encode(key).as_bytes())?;
    let mut token = [0u8; 24];
    OsRng.fill_bytes(&mut token);
    write_secret(&args.data_dir.join(ADMIN_TOKEN_FILE), hex::encode(token).as_bytes())?;
    let config = Config {
        node: NodeSection { party: args.party, data_dir: args.data_dir.clone(), min_free_disk_mb: 256 },
        network: NetworkSection {
            listen: args.listen.clone(),
            max_message_bytes: 4 * 1024 * 1024,
            redial_interval_ms: 1000,
        },
        committee: vec![MemberSection { party: args.party, peer_id: peer_id.clone(), address: args.listen.clone() }],
        admin: AdminSection { listen: args.admin.clone(), token_file: ADMIN_TOKEN_FILE.into(), api_keys_file: None },
        metrics: MetricsSection { listen: args.metrics.clone() },
        ceremony: CeremonySection::default(),
        chains: Default::default(),
        chain: Vec::new(),
        vault: VaultSection { key_file: Some(VAULT_KEY_FILE.into()), passphrase_env: None },
        limits: Default::default(),
        signing: Default::default(),
        breaker: Default::default(),
        presign: Default::default(),
        backup: Default::default(),
        export: Default::default(),
        faults: None,
        archive: None,
    };
    Ok((peer_id, config))
}
