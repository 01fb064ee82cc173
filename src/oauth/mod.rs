//! The OAuth 2.0 protocol core: no sockets, no files, no clock.
//!
//! ```text
//!   POST /token body + Authorization ──► form::Form::parse ──► client_auth::presented
//!                                                     │
//!            ClientRegistry ──► client_auth::authenticate ──► token_endpoint (grant)
//!                                                     │
//!                       token::mint (KeySet, now, jti, rng) ──► TokenResponse
//! ```
//!
//! Everything the core needs from the outside world — the time, a fresh `jti`, the random
//! source, the registered clients and keys — is handed in by the caller (`web`), which is
//! also the only module that renders [`OAuthError`] as HTTP.

pub mod client;
pub mod client_auth;
pub mod directory_policy;
pub mod discovery;
pub mod error;
pub mod form;
pub mod principal;
pub mod scope;
pub mod secret;
pub mod token_endpoint;

pub use error::OAuthError;
