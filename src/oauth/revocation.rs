//! `POST /revoke` (RFC 7009): a client revokes one of its own access tokens, or one of
//! its refresh tokens — which revokes that token's whole family (every refresh token
//! of the same sign-in, §2.1 allows it).
//!
//! The caller authenticates as at `/token`. A revoked token's `jti` stays refused until
//! the token's `exp`, on every node (the [`RevocationList`] port is the shared store).
//! Unknown, invalid and expired tokens succeed without effect (§2.2); a token of another
//! client is `unauthorized_client`.

use super::error::OAuthError;
use super::introspection::{TokenCallerRequest, token_caller};
use super::token_endpoint::Context;

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
    /// A refresh token of the caller's: its family is now refused.
    RefreshFamily {
        /// The caller.
        client_id: String,
        /// The family.
        family: String,
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
    let Some(super::introspection::Verified {
        claims,
        revocation_id,
        ..
    }) = super::introspection::verified(&token, &caller, ctx).await?
    else {
        // Not one of our access tokens: perhaps a refresh token (whatever the hint said,
        // §2.1 lets the server look further).
        let Some(grant) = (match ctx.refresh {
            Some(tokens) => tokens.peek(&token, ctx.now).await?,
            None => None,
        }) else {
            return Ok(Revocation::NoEffect);
        };
        // A template client is many hosts: a host revokes only its own families.
        if grant.client_id != caller.client.client_id
            || (grant.principal.is_some() && grant.principal != caller.principal)
        {
            return Err(OAuthError::unauthorized_client(
                "the token was not issued to this client",
            ));
        }
        if let Some(tokens) = ctx.refresh {
            tokens
                .revoke_family(&grant.family, grant.family_expires_at, ctx.now)
                .await?;
        }
        return Ok(Revocation::RefreshFamily {
            client_id: grant.client_id,
            family: grant.family,
        });
    };
    if claims.get("client_id").and_then(|c| c.as_str()) != Some(caller.client.client_id.as_str()) {
        return Err(OAuthError::unauthorized_client(
            "the token was not issued to this client",
        ));
    }
    let (Some(id), Some(jti), Some(exp)) = (
        revocation_id,
        claims.get("jti").and_then(|j| j.as_str()),
        claims.get("exp").and_then(|e| e.as_u64()),
    ) else {
        return Ok(Revocation::NoEffect);
    };
    // A second revocation of the same token is fine (RFC 7009 §2.2).
    ctx.revocations.revoke(&id, exp, ctx.now).await?;
    Ok(Revocation::Revoked {
        client_id: caller.client.client_id.clone(),
        jti: jti.to_owned(),
    })
}
