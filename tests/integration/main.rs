//! The one integration test binary: the real `ahdapa` binary on loopback, real TLS,
//! real curl, and an independent JWT implementation (PyJWT) as clients.
//!
//! Every test starts its own server with its own state directory and clients, so tests
//! run in parallel and in any order. A missing tool (curl, openssl, python3 with PyJWT)
//! fails the test: the README's test command installs them.

#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod abuse;
mod admin;
mod assertions;
mod browser;
mod device;
mod directory;
mod dpop;
mod exchange;
mod federation;
mod harness;
mod hostile;
mod hs256;
mod interop;
mod jwe;
mod kdc;
mod kerberos;
mod keys;
mod ldap;
mod lifecycle;
mod mtls;
mod operations;
mod postgres;
mod registration;
mod service_accounts;
mod signin;
mod sssd;
mod token_endpoint;
