//! Assembly of the running service, by concern: the master key file and the signing-key
//! ring (the rest still lives in `service.rs`).

pub mod keyring;
pub mod master_key;
