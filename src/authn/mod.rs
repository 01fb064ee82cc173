//! Adapters that prove who is calling, outside the protocol core.
//!
//! - [`gssapi`]: the Kerberos acceptor (libgssapi over MIT krb5) for
//!   `Authorization: Negotiate` at `/token`.
//! - [`negotiate`]: the core's Negotiate port on top of the two, bounded in concurrency.
//! - [`ap_req`]: a bounds-checked look inside Negotiate tokens, for precise refusals and
//!   the cross-node replay digest.

pub mod ap_req;
pub mod gssapi;
pub mod issuer_keys;
pub mod jwks_fetch;
pub mod negotiate;
pub mod outbound;
pub mod password;
