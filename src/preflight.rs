//! What `ahdapa check-config` and `ahdapa serve` check in the files a valid config names
//! before anything is written: a start that would fail must fail before it has created
//! a master key, a database or a signing key.
//!
//! Each problem names its key path, like the config's own errors. Nothing here is left
//! behind: whether a missing state directory can be made is tried with an empty probe
//! directory that is removed at once. `serve` binds its listeners after these checks and
//! before it opens the store, so a port in use also stops it before any state is written.

use std::path::Path;

use crate::config::{Config, ConfigError};

/// The problems found, every one of them (empty when the start can go ahead).
pub fn check(config: &Config) -> Vec<ConfigError> {
    let mut problems = Vec::new();
    let mut problem = |path: &str, message: String| problems.push(ConfigError::new(path, message));
    if config.store.postgres.is_none()
        && let Err(m) = creatable_file(&config.store.sqlite_path)
    {
        problem("store.sqlite_path", m);
    }
    if let Err(m) = master_key(&config.keys.master_key_file) {
        problem("keys.master_key_file", m);
    }
    if let Some(k) = &config.kerberos {
        match keytab(&k.keytab) {
            Err(m) => problem("kerberos.keytab", m),
            Ok(()) => {
                if let Err(m) =
                    crate::authn::gssapi::Acceptor::check(&k.service_principal, &k.keytab)
                {
                    // Either may be wrong: the keytab lacks the principal.
                    problem("kerberos.keytab / kerberos.service_principal", m);
                }
            }
        }
        if let Err(m) = creatable_file(&k.replay_cache) {
            problem("kerberos.replay_cache", m);
        }
    }
    problems
}

/// The master key file, when it exists, holds exactly 32 bytes; when it does not, it
/// can be created.
fn master_key(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => Err(format!("{} is not a regular file", path.display())),
        Ok(_) => {
            let bytes =
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if bytes.len() == 32 {
                Ok(())
            } else {
                Err(format!(
                    "{} holds {} bytes; a master key is exactly 32 (a new one is made when the file is missing)",
                    path.display(),
                    bytes.len()
                ))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => creatable_file(path),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// A keytab: a readable regular file in the MIT keytab format (0x05 0x01 or 0x05 0x02).
fn keytab(path: &Path) -> Result<(), String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    match bytes.get(..2) {
        Some([5, 1 | 2]) => Ok(()),
        _ => Err(format!(
            "{} is not a keytab (export one with ipa-getkeytab or kadmin ktadd)",
            path.display()
        )),
    }
}

/// An existing regular file, or one whose nearest existing ancestor is a directory we
/// may write in (the missing directories are made at start).
fn creatable_file(path: &Path) -> Result<(), String> {
    if let Ok(meta) = std::fs::metadata(path) {
        return if meta.is_file() {
            Ok(())
        } else {
            Err(format!(
                "{} exists and is not a regular file",
                path.display()
            ))
        };
    }
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d.as_os_str().is_empty() {
            break;
        }
        match std::fs::metadata(d) {
            Ok(meta) if meta.is_dir() => {
                return writable(d).map_err(|e| {
                    format!("cannot create {}: in {}: {e}", path.display(), d.display())
                });
            }
            Ok(_) => {
                return Err(format!(
                    "cannot create {}: {} is not a directory",
                    path.display(),
                    d.display()
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => dir = d.parent(),
            Err(e) => {
                return Err(format!(
                    "cannot create {}: {}: {e}",
                    path.display(),
                    d.display()
                ));
            }
        }
    }
    Ok(())
}

/// Whether this process may create entries in `dir`: an empty probe directory is made
/// and removed (permission bits say little for root, and nothing of read-only mounts or
/// pseudo file systems).
fn writable(dir: &Path) -> Result<(), String> {
    let probe = dir.join(format!(".ahdapa-check-{}", std::process::id()));
    std::fs::create_dir(&probe).map_err(|e| e.to_string())?;
    std::fs::remove_dir(&probe).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_would_fail_the_start_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // A master key of the wrong size, a directory, a missing file in a missing dir.
        std::fs::write(d.join("short.key"), b"12345").unwrap();
        assert!(
            master_key(&d.join("short.key"))
                .unwrap_err()
                .contains("holds 5 bytes")
        );
        assert!(master_key(d).unwrap_err().contains("not a regular file"));
        std::fs::write(d.join("good.key"), [7u8; 32]).unwrap();
        assert_eq!(master_key(&d.join("good.key")), Ok(()));
        assert_eq!(master_key(&d.join("new/dir/master.key")), Ok(()));
        // A keytab that is a directory, or garbage.
        assert!(keytab(d).unwrap_err().contains("not a regular file"));
        std::fs::write(d.join("garbage.keytab"), b"hello").unwrap();
        assert!(
            keytab(&d.join("garbage.keytab"))
                .unwrap_err()
                .contains("is not a keytab")
        );
        std::fs::write(d.join("ok.keytab"), [5u8, 2, 0, 0]).unwrap();
        assert_eq!(keytab(&d.join("ok.keytab")), Ok(()));
        // A database under a file.
        let under_file = d.join("short.key").join("ahdapa.db");
        assert!(
            creatable_file(&under_file)
                .unwrap_err()
                .contains("is not a directory")
        );
        assert!(
            creatable_file(d)
                .unwrap_err()
                .contains("not a regular file")
        );
        assert!(creatable_file(Path::new("/proc/ahdapa/ahdapa.db")).is_err());
        assert_eq!(creatable_file(&d.join("a/b/ahdapa.db")), Ok(()));
        assert!(!d.join("a").exists(), "the check leaves nothing behind");
        assert_eq!(std::fs::read_dir(d).unwrap().count(), 4);
    }
}
