//! Assembly of the running service, by concern: building it from the config and
//! reloading it ([`assembly`]), keeping it current with the store ([`refresh`]), the
//! client registry ([`registry`]), the signing-key ring ([`keyring`]) and the master
//! key file ([`master_key`]).

pub mod assembly;
pub mod keyring;
pub mod master_key;
pub mod refresh;
pub mod registry;

use crate::store::StoreError;

/// Why the service could not start. Each names the file or setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened.
    #[error("store {path}: {source}")]
    Store {
        /// The database path.
        path: String,
        /// What failed.
        source: StoreError,
    },
    /// The store failed while loading.
    #[error(transparent)]
    Load(#[from] StoreError),
    /// The master key file could not be read or created.
    #[error("keys.master_key_file {path}: {message}")]
    MasterKey {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
    /// The jwks_uri fetcher could not be set up (its CA file).
    #[error("{0}")]
    Assertions(String),
    /// The TLS configuration could not be built from its files.
    #[error("{0}")]
    Tls(String),
    /// The Kerberos acceptor could not be set up (keytab, principal).
    #[error("kerberos: {0}")]
    Kerberos(String),
    /// The directory client could not be set up (its CA file).
    #[error("{0}")]
    Directory(String),
    /// A stored signing key did not open or parse.
    #[error("signing key {kid}: {message}")]
    SigningKey {
        /// The key id.
        kid: String,
        /// What failed.
        message: String,
    },
}
