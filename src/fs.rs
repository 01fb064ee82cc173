//! Small filesystem helpers shared by the adapters that own files (store, master key).

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

/// Creates the parent directory of `path` (mode 0700, with missing ancestors) if it does
/// not exist. State directories hold secrets, so nobody else may list them.
pub fn create_private_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir),
        _ => Ok(()),
    }
}
