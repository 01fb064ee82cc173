//! The OAuth 2.0 protocol core: no sockets, no files, no clock.
//!
//! ```text
//!   POST /token body + Authorization ──► request::parse ──► TokenRequest { client, grant }
//!                                                     │
//!            ClientRegistry ──► client_auth::authenticate (client: Presented)
//!                                                     │
//!                       grant/<grant>.rs: the grant's rules, the scope granted
//!                                                     │
//!            issue::issue (KeySet, binding, now, jti, rng) ──► TokenResponse
//! ```
//!
//! Everything the core needs from the outside world — the time, a fresh `jti`, the random
//! source, the registered clients and keys — is handed in by the caller (`web`), which is
//! also the only module that renders [`OAuthError`] as HTTP.

pub mod authorize;
pub mod client;
pub mod client_auth;
pub mod device_authorization;
pub mod directory_policy;
pub mod discovery;
pub mod error;
pub mod federation;
pub mod form;
pub mod grant;
pub mod id_token;
pub mod introspection;
pub mod issue;
pub mod offline_token;
pub mod person;
pub mod pkce;
pub mod ports;
pub mod principal;
pub mod redirect_uri;
pub mod request;
pub mod revocation;
pub mod scope;
pub mod secret;
pub mod service_account;
#[cfg(test)]
pub mod testing;
pub mod throttle;
pub mod token_endpoint;

pub use error::OAuthError;
