//! The master key file (`keys.master_key_file`): 32 bytes that seal the private signing
//! keys and the client_secret_jwt secrets in the store. Created on first start, with mode
//! 0600, written aside and linked into place so that nodes starting at once on one path
//! share one key; never logged.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::StartError;
use crate::fs::create_private_parent;
use crate::oauth::client_auth::jwt_assertion::HmacSecret;
use crate::oauth::secret::ClientSecret;
use crate::token::seal::{MasterKey, SealError};

/// Reads the 32-byte master key, creating it (mode 0600) on first start.
pub fn load_or_create_master_key(path: &Path) -> Result<MasterKey, StartError> {
    let err = |message: String| StartError::MasterKey {
        path: path.display().to_string(),
        message,
    };
    match std::fs::read(path) {
        Ok(bytes) => {
            if let Ok(meta) = std::fs::metadata(path)
                && meta.permissions().mode() & 0o077 != 0
            {
                log::warn!(path = path.display().to_string().as_str(); "master key file is readable by group or others; chmod 600 it");
            }
            MasterKey::from_bytes(&bytes).map_err(|e| err(e.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_private_parent(path).map_err(|e| err(e.to_string()))?;
            let bytes =
                MasterKey::generate_bytes(&SystemRandom::new()).map_err(|e| err(e.to_string()))?;
            // Written under a private name, then linked into place: the key file appears
            // whole or not at all, and when another node (sharing the path) got there
            // first, its key is the one to use.
            let mut tag = [0u8; 8];
            SystemRandom::new()
                .fill(&mut tag)
                .map_err(|_| err("random source failed".into()))?;
            let partial = path.with_extension(format!("new-{:016x}", u64::from_be_bytes(tag)));
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&partial)
                .and_then(|mut file| file.write_all(&bytes).and_then(|()| file.sync_all()));
            if let Err(e) = written {
                let _ = std::fs::remove_file(&partial);
                return Err(err(format!("cannot create: {e}")));
            }
            let linked = std::fs::hard_link(&partial, path);
            let _ = std::fs::remove_file(&partial);
            match linked {
                Ok(()) => {
                    log::info!(path = path.display().to_string().as_str(); "created a new master key");
                    MasterKey::from_bytes(&bytes).map_err(|e| err(e.to_string()))
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let theirs =
                        std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
                    MasterKey::from_bytes(&theirs).map_err(|e| err(e.to_string()))
                }
                Err(e) => Err(err(format!("cannot create: {e}"))),
            }
        }
        Err(e) => Err(err(format!("cannot read: {e}"))),
    }
}

/// Associated data binding a sealed client_secret_jwt secret to its client.
fn client_secret_context(client_id: &str) -> Vec<u8> {
    format!("client_secret_jwt:{client_id}").into_bytes()
}

/// Seals a client_secret_jwt secret for the store (base64url of the sealed blob).
pub fn seal_client_secret(
    master: &MasterKey,
    client_id: &str,
    secret: &ClientSecret,
) -> Result<String, SealError> {
    let sealed = master.seal(
        secret.expose().as_bytes(),
        &client_secret_context(client_id),
        &SystemRandom::new(),
    )?;
    Ok(URL_SAFE_NO_PAD.encode(sealed))
}

/// Opens a sealed client_secret_jwt secret.
pub fn unseal_client_secret(
    master: &MasterKey,
    client_id: &str,
    sealed: &str,
) -> Result<HmacSecret, String> {
    let blob = URL_SAFE_NO_PAD
        .decode(sealed)
        .map_err(|_| "client_secret_sealed is not base64url".to_string())?;
    let plain = master
        .open(&blob, &client_secret_context(client_id))
        .map_err(|e| e.to_string())?;
    HmacSecret::new(plain).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_starting_at_once_share_one_new_master_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/master.key");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let keys: Vec<[u8; 32]> = (0..8)
            .map(|_| {
                let (path, barrier) = (path.clone(), std::sync::Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    let key = load_or_create_master_key(&path).expect("every node starts");
                    key.derive_key(b"same?").unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert!(keys.windows(2).all(|w| w[0] == w[1]), "one key for all");
        let on_disk = MasterKey::from_bytes(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(on_disk.derive_key(b"same?").unwrap(), keys[0]);
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "no partial files are left: {names:?}");
    }
}
