//! Named API keys with roles, kept hashed in a TOML file the config names
//! (`admin.api_keys_file`). `mpc-node keys create|revoke|list` edits the file; the running
//! node reloads it within a second, so keys come and go without a restart.
//!
//! A key is 32 random bytes shown once as `mpck_<64 hex>`; only its SHA-256 is stored (the key
//! is uniformly random, so a fast hash is enough). The admin token keeps working as the key
//! named `admin` with the admin role.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use protocol::limits::Rate;
use protocol::WalletId;
use rand_core::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a key may call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything: committee setup, wallet creation, audit, journal.
    Admin,
    /// Signing and transfers (and reading its wallets), optionally for named wallets only.
    Client,
}

/// One key as the file holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// Its name (in logs, metrics, the journal).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// SHA-256 of the key, hex.
    pub sha256: String,
    /// The wallets it may use (client keys; absent: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallets: Option<Vec<String>>,
    /// Its own requests per minute (absent: `limits.per_key_per_min`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_minute: Option<u32>,
}

/// The file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// Every key.
    #[serde(default)]
    pub key: Vec<KeyEntry>,
}

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing it.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Its content.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl KeyFile {
    /// Reads `path` (a missing file holds no keys).
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => return Err(KeyError::Io { path: path.to_owned(), source }),
        };
        let file: Self =
            toml::from_str(&text).map_err(|e| KeyError::Invalid { path: path.to_owned(), reason: e.to_string() })?;
        file.check().map_err(|reason| KeyError::Invalid { path: path.to_owned(), reason })?;
        Ok(file)
    }

    fn check(&self) -> Result<(), String> {
        let mut names = std::collections::BTreeSet::new();
        for k in &self.key {
            if k.name.is_empty()
                || k.name.len() > 64
                || !k.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(format!("key name {:?}: 1 to 64 of a-z, 0-9, '-', '_', '.'", k.name));
            }
            if k.name == ADMIN_NAME || !names.insert(&k.name) {
                return Err(format!("key name {:?} is taken", k.name));
            }
            if hex::decode(&k.sha256).map(|b| b.len()) != Ok(32) {
                return Err(format!("key {:?}: sha256 must be 64 hex characters", k.name));
            }
            for w in k.wallets.iter().flatten() {
                WalletId::new(w).map_err(|e| format!("key {:?}: {e}", k.name))?;
            }
            if k.per_minute.is_some_and(|r| r == 0 || r > protocol::limits::bucket::MAX_RATE_PER_MIN) {
                return Err(format!("key {:?}: per_minute out of range", k.name));
            }
        }
        Ok(())
    }

    /// Writes `path` atomically, readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        let io = |source| KeyError::Io { path: path.to_owned(), source };
        let text = toml::to_string_pretty(self)
            .map_err(|e| KeyError::Invalid { path: path.to_owned(), reason: e.to_string() })?;
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, format!("# API keys (hashed). Edit with `mpc-node keys`.\n{text}")).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Adds a key and returns its secret (shown once).
    pub fn create(
        &mut self,
        name: &str,
        role: Role,
        wallets: Option<Vec<String>>,
        per_minute: Option<u32>,
    ) -> Result<String, String> {
        let mut raw = [0u8; 32];
        rand_core::OsRng.fill_bytes(&mut raw);
        let secret = format!("mpck_{}", hex::encode(raw));
        let entry = KeyEntry {
            name: name.to_owned(),
            role,
            sha256: hex::encode(Sha256::digest(secret.as_bytes())),
            wallets,
            per_minute,
        };
        self.key.push(entry);
        if let Err(e) = self.check() {
            self.key.pop();
            return Err(e);
        }
        Ok(secret)
    }

    /// Removes the key named `name`; false if there was none.
    pub fn revoke(&mut self, name: &str) -> bool {
        let before = self.key.len();
        self.key.retain(|k| k.name != name);
        self.key.len() != before
    }
}

/// The key file's default name, under the data directory.
pub const API_KEYS_FILE: &str = "api_keys.toml";

/// The name the admin token goes by.
pub const ADMIN_NAME: &str = "admin";

/// Who is calling, once authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The key's name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The wallets it may use (`None`: all).
    pub wallets: Option<Vec<WalletId>>,
    /// Its own rate, if set.
    pub rate: Option<Rate>,
}

impl Caller {
    /// True when it may use `wallet`.
    pub fn may_use(&self, wallet: &str) -> bool {
        self.wallets.as_ref().is_none_or(|ws| ws.iter().any(|w| w.as_str() == wallet))
    }
}

/// The keys in force, reloaded from the file when it changes.
pub struct Keys {
    admin: [u8; 32],
    path: PathBuf,
    table: RwLock<(Option<SystemTime>, Arc<Table>)>,
}

/// Callers by the SHA-256 of their key.
type Table = HashMap<[u8; 32], Caller>;

fn table(file: &KeyFile) -> Table {
    let mut out = HashMap::new();
    for k in &file.key {
        let Ok(Ok(hash)) = hex::decode(&k.sha256).map(<[u8; 32]>::try_from) else { continue };
        let wallets = k.wallets.as_ref().map(|ws| ws.iter().filter_map(|w| WalletId::new(w).ok()).collect());
        let caller = Caller { name: k.name.clone(), role: k.role, wallets, rate: k.per_minute.map(Rate::per_minute) };
        out.insert(hash, caller);
    }
    out
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Keys {
    /// The admin token and the key file at `path` (loaded now: a bad file stops the start).
    pub fn open(admin_token: &str, path: PathBuf) -> Result<Arc<Self>, KeyError> {
        let file = KeyFile::load(&path)?;
        let admin = Sha256::digest(admin_token.trim().as_bytes()).into();
        let table = RwLock::new((modified(&path), Arc::new(table(&file))));
        Ok(Arc::new(Self { admin, path, table }))
    }

    /// Who a bearer token belongs to, if anyone. The admin token is compared in constant
    /// time; a key is found by its hash.
    pub fn identify(&self, token: &str) -> Option<Caller> {
        let token = zeroize::Zeroizing::new(token.trim().to_owned());
        let got: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if got.iter().zip(self.admin.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0 {
            return Some(Caller { name: ADMIN_NAME.into(), role: Role::Admin, wallets: None, rate: None });
        }
        let table = self.table.read().ok()?.1.clone();
        table.get(&got).cloned()
    }

    /// Reloads the file if it changed; a file that does not parse keeps the keys in force.
    pub fn reload(&self) {
        let now = modified(&self.path);
        if self.table.read().map(|t| t.0 == now).unwrap_or(true) {
            return;
        }
        match KeyFile::load(&self.path) {
            Ok(file) => {
                if let Ok(mut t) = self.table.write() {
                    *t = (now, Arc::new(table(&file)));
                    tracing::info!(keys = file.key.len(), "API keys reloaded");
                }
            }
            Err(e) => tracing::warn!(error = %e, "API key file not reloaded; the keys in force stay"),
        }
    }

    /// Reloads every second, for as long as the node runs.
    pub fn watch(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let keys = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                every.tick().await;
                keys.reload();
            }
        })
    }
}
