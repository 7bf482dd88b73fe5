//! Backups of a whole node in one sealed file: a consistent checkpoint of its database (journal,
//! vault, presignatures, limits), its identity, vault key, admin token and API keys, and its
//! config. Restored on a clean machine, the node keeps its peer id and shares and rejoins its
//! committee as if it had only been down. The vault stays sealed inside under its own secret;
//! the file as a whole is sealed again under the backup passphrase.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rand_core::RngCore;
use store::backup::{self, Archive};
use store::db::Db;
use store::vault::KdfParams;
use zeroize::Zeroizing;

use crate::config::Config;
use crate::init::IDENTITY_FILE;

/// Default environment variable holding the backup passphrase.
pub const PASSPHRASE_ENV: &str = "MPC_BACKUP_PASSPHRASE";

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The passphrase variable is not set.
    #[error("${0} is not set: it holds the backup passphrase")]
    NoPassphrase(String),
    /// Sealing or opening failed (wrong passphrase, damaged file...).
    #[error("{0}")]
    Store(#[from] store::StoreError),
    /// Restore target is not empty.
    #[error("{0} is not empty: restore into a new directory")]
    NotEmpty(PathBuf),
    /// A file in the backup names a path outside the data directory.
    #[error("the backup names a path outside its data directory: {0}")]
    BadPath(String),
    /// The config inside does not parse.
    #[error("the config inside the backup: {0}")]
    Config(String),
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.to_owned(), source }
}

/// The passphrase from `var`.
pub fn passphrase(var: &str) -> Result<Zeroizing<String>, BackupError> {
    std::env::var(var).map(Zeroizing::new).map_err(|_| BackupError::NoPassphrase(var.to_owned()))
}

/// The node's own files to carry, relative to its data directory when they are inside it.
fn node_files(config: &Config) -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from(IDENTITY_FILE), config.admin.token_file.clone()];
    files.extend(config.vault.key_file.clone());
    files.extend(config.admin.api_keys_file.clone());
    files
}

fn relative(config: &Config, p: &Path) -> Result<String, BackupError> {
    let full = config.in_data_dir(p);
    let rel = full.strip_prefix(&config.node.data_dir).map_err(|_| BackupError::BadPath(full.display().to_string()))?;
    Ok(rel.to_string_lossy().into_owned())
}

/// Everything the node needs, read now: the database through a checkpoint (consistent while
/// the node runs).
pub fn collect(config: &Config, db: &Db) -> Result<Archive, BackupError> {
    let mut tag = [0u8; 8];
    rand_core::OsRng.fill_bytes(&mut tag);
    let tmp = config.node.data_dir.join(format!(".backup-{}", hex::encode(tag)));
    db.checkpoint(&tmp)?;
    let result = (|| {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&tmp).map_err(io(&tmp))? {
            let path = entry.map_err(io(&tmp))?.path();
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            files.push((format!("db/{name}"), Zeroizing::new(bytes)));
        }
        for f in node_files(config) {
            let full = config.in_data_dir(&f);
            if full.exists() {
                files.push((relative(config, &f)?, Zeroizing::new(std::fs::read(&full).map_err(io(&full))?)));
            }
        }
        let text = toml::to_string_pretty(config).map_err(|e| BackupError::Config(e.to_string()))?;
        Ok(Archive { party: config.node.party, created_ms: now_ms(), config: text, files })
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Seals a backup of the node into `out` (created, mode 0600; never overwritten). Returns the
/// archive's file count and the file's size.
pub fn create(config: &Config, db: &Db, passphrase: &str, out: &Path) -> Result<(usize, u64), BackupError> {
    let archive = collect(config, db)?;
    let sealed = backup::seal(&archive, passphrase, KdfParams::default())?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(out).map_err(io(out))?;
    f.write_all(&sealed).map_err(io(out))?;
    f.sync_all().map_err(io(out))?;
    Ok((archive.files.len(), sealed.len() as u64))
}

/// Opens a backup file (the passphrase checked, every byte authenticated).
pub fn open(file: &Path, passphrase: &str) -> Result<Archive, BackupError> {
    let len = std::fs::metadata(file).map_err(io(file))?.len();
    if len > backup::MAX_BACKUP_BYTES {
        return Err(store::StoreError::BackupDamaged(format!("{len} bytes: larger than any backup")).into());
    }
    let bytes = std::fs::read(file).map_err(io(file))?;
    Ok(backup::open(&bytes, passphrase)?)
}

/// Restores `archive` into `data_dir` (absent or empty): its files, and its config rewritten
/// for the new place at `data_dir/node.toml`, which is returned.
pub fn restore(archive: &Archive, data_dir: &Path) -> Result<PathBuf, BackupError> {
    if data_dir.exists() && std::fs::read_dir(data_dir).map_err(io(data_dir))?.next().is_some() {
        return Err(BackupError::NotEmpty(data_dir.to_owned()));
    }
    let mut config: Config = toml::from_str(&archive.config).map_err(|e| BackupError::Config(e.to_string()))?;
    let old = config.node.data_dir.clone();
    for (name, _) in &archive.files {
        let p = Path::new(name);
        if p.is_absolute() || p.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
            return Err(BackupError::BadPath(name.clone()));
        }
    }
    std::fs::create_dir_all(data_dir.join("db")).map_err(io(data_dir))?;
    for (name, bytes) in &archive.files {
        let path = data_dir.join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let mut f =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(io(&path))?;
        f.write_all(bytes).map_err(io(&path))?;
        f.sync_all().map_err(io(&path))?;
    }
    // Paths that pointed into the old data directory point into the new one.
    let moved = |p: &mut PathBuf| {
        if let Ok(rel) = p.strip_prefix(&old) {
            *p = rel.to_owned();
        }
    };
    moved(&mut config.admin.token_file);
    if let Some(p) = config.vault.key_file.as_mut() {
        moved(p);
    }
    if let Some(p) = config.admin.api_keys_file.as_mut() {
        moved(p);
    }
    config.node.data_dir = data_dir.to_owned();
    let path = data_dir.join("node.toml");
    let text = toml::to_string_pretty(&config).map_err(|e| BackupError::Config(e.to_string()))?;
    std::fs::write(&path, text).map_err(io(&path))?;
    Ok(path)
}
