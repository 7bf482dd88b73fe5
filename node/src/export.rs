//! The export credential: a second secret, apart from the admin token, that every call of
//! `key_export` and `key_export_approve` must carry. Only its SHA-256 is kept on disk;
//! `mpc-node export-credential` makes a new one and prints it once.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use rand_core::RngCore;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::rpc::RpcError;

/// Where the credential's hash lives.
pub fn credential_path(config: &Config) -> PathBuf {
    let file = config.export.credential_file.clone().unwrap_or_else(|| PathBuf::from("export.credential"));
    config.in_data_dir(&file)
}

fn digest(credential: &str) -> String {
    hex::encode(Sha256::digest(credential.trim().as_bytes()))
}

/// Makes a new credential (replacing any earlier one) and returns it: shown once, never kept.
pub fn create(config: &Config) -> std::io::Result<String> {
    let mut raw = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut raw);
    let credential = format!("mpcx_{}", hex::encode(raw));
    let path = credential_path(config);
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    f.write_all(digest(&credential).as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(credential)
}

/// Checks both guards of this node: the switch, then the credential.
pub fn check(config: &Config, given: &str) -> Result<(), RpcError> {
    if !config.export.enabled {
        return Err(RpcError::ExportDisabled);
    }
    if given.trim().is_empty() {
        return Err(RpcError::ExportCredential("missing".into()));
    }
    let path = credential_path(config);
    let kept = std::fs::read_to_string(&path).map_err(|_| {
        RpcError::ExportCredential(format!(
            "none made on this node (run `mpc-node export-credential`; {})",
            path.display()
        ))
    })?;
    // Both sides are digests: comparing them leaks nothing about the credential.
    if kept.trim() != digest(given) {
        tracing::warn!("key export refused: wrong export credential");
        return Err(RpcError::ExportCredential("wrong".into()));
    }
    Ok(())
}
