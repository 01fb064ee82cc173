//! `POST /revoke` (RFC 7009): a client revokes one of its own access tokens.
//!
//! The caller authenticates as at `/token`. A revoked token's `jti` stays refused until
//! the token's `exp`, on every node (the [`RevocationList`] port is the shared store).
//! Unknown, invalid and expired tokens succeed without effect (§2.2); a token of another
//! client is `unauthorized_client`.

use super::error::OAuthError;
use super::introspection::{TokenCallerRequest, token_caller};
use super::token_endpoint::Context;
use crate::token::access_token;

/// What a successful `/revoke` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// The token was ours, valid and the caller's: its `jti` is now refused.
    Revoked {
        /// The caller.
        client_id: String,
        /// The revoked token's id.
        jti: String,
    },
    /// Nothing to revoke (unknown, invalid, expired, or without `jti`/`exp`).
    NoEffect,
}

/// `POST /revoke`, end to end.
pub async fn revoke(
    request: TokenCallerRequest<'_>,
    ctx: &Context<'_>,
) -> Result<Revocation, OAuthError> {
    let (caller, token) = token_caller(request, ctx).await?;
    let Ok(claims) = access_token::verify(&token, ctx.keys, &ctx.settings.issuer, ctx.now) else {
        return Ok(Revocation::NoEffect);
    };
    if claims.get("client_id").and_then(|c| c.as_str()) != Some(caller.client.client_id.as_str()) {
        return Err(OAuthError::unauthorized_client(
            "the token was not issued to this client",
        ));
    }
    let (Some(jti), Some(exp)) = (
        claims.get("jti").and_then(|j| j.as_str()),
        claims.get("exp").and_then(|e| e.as_u64()),
    ) else {
        return Ok(Revocation::NoEffect);
    };
    // A second revocation of the same token is fine (RFC 7009 §2.2).
    ctx.revocations.revoke(jti, exp, ctx.now).await?;
    Ok(Revocation::Revoked {
        client_id: caller.client.client_id.clone(),
        jti: jti.to_owned(),
    })
}
