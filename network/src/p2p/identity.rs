//! The node's persistent libp2p identity: an Ed25519 key made on first start, kept in a file
//! readable by the owner only.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use libp2p::identity::Keypair;

use super::NetError;

/// Loads the key at `path`, or creates one there (mode 0600). Refuses a key file that others
/// can read.
pub(crate) fn load_or_create(path: &Path) -> Result<Keypair, NetError> {
    if path.exists() {
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(NetError::Identity(format!(
                "{} is readable by others (mode {:o}); chmod 600 it",
                path.display(),
                mode & 0o777
            )));
        }
        let bytes = std::fs::read(path)?;
        return Keypair::from_protobuf_encoding(&bytes)
            .map_err(|e| NetError::Identity(format!("{}: {e}", path.display())));
    }
    let key = Keypair::generate_ed25519();
    let bytes = key.to_protobuf_encoding().map_err(|e| NetError::Identity(e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    Ok(key)
}

/// The peer id (base58) of the identity at `path`, creating it if needed.
pub fn peer_id(path: &Path) -> Result<String, NetError> {
    Ok(load_or_create(path)?.public().to_peer_id().to_base58())
}
