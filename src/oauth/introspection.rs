//! `POST /introspect` (RFC 7662): whether one of our access tokens is active, for an
//! authenticated client.
//!
//! The caller authenticates the way it does at `/token` (RFC 7662 §2.1 leaves the method
//! to the server; ours are the token endpoint's). A token is active when it verifies
//! (signature, issuer, expiry), is not revoked, and the caller may see it: its own
//! tokens, or every token with `introspection_all_tokens`. Anything else is
//! `{"active": false}` (§2.2), never an error that would tell the caller why.

use super::client_auth::tls_client_auth::PresentedCertificate;
use super::client_auth::{self, Authenticated, Authorization};
use super::error::OAuthError;
use super::ports::RevocationList;
use super::token_endpoint::{self, Context};
use crate::token::access_token;

/// One `/introspect` or `/revoke` request, as the transport received it.
#[derive(Debug, Clone, Copy)]
pub struct TokenCallerRequest<'a> {
    /// The parsed `Authorization` header, if any.
    pub authorization: Option<Authorization<'a>>,
    /// The form body (the caller checked the media type and the size).
    pub body: &'a [u8],
    /// The client certificate the connection presented and the transport trusted.
    pub certificate: Option<&'a PresentedCertificate>,
}

/// `POST /introspect`, end to end: the RFC 7662 §2.2 response object.
pub async fn introspect(
    request: TokenCallerRequest<'_>,
    ctx: &Context<'_>,
) -> Result<serde_json::Value, OAuthError> {
    let (caller, token) = token_caller(request, ctx).await?;
    let inactive = serde_json::json!({"active": false});
    let Some(Verified {
        mut claims,
        revocation_id,
        client_signed,
    }) = verified(&token, &caller, ctx).await?
    else {
        // Not one of ours: perhaps a client's own offline-minted token for the caller.
        return Ok(
            super::offline_token::introspect(&token, &caller.client, ctx)
                .await?
                .unwrap_or(inactive),
        );
    };
    let owner = claims
        .get("client_id")
        .and_then(|c| c.as_str())
        .unwrap_or_default();
    if owner != caller.client.client_id && !caller.client.introspect_all_tokens {
        return Ok(inactive);
    }
    // An HS256 token is revoked by its client (under its own id) or by ahdapa (a replayed
    // code revokes the tokens it gave, by `jti`).
    let revoked = match &revocation_id {
        Some(id) => {
            ctx.revocations.is_revoked(id, ctx.now).await?
                || (client_signed && is_revoked(&claims, ctx.revocations, ctx.now).await?)
        }
        None => true,
    };
    if revoked {
        return Ok(inactive);
    }
    let bound = claims.get("cnf").and_then(|c| c.get("jkt")).is_some();
    claims.insert("active".into(), true.into());
    claims.insert(
        "token_type".into(),
        (if bound { "DPoP" } else { "Bearer" }).into(),
    );
    Ok(serde_json::Value::Object(claims))
}

/// One of our live access tokens, checked for a caller.
pub(super) struct Verified {
    /// Its claims.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// What its revocation is recorded under: its `jti`; for an HS256 token, its client
    /// and `jti` together, since that client may sign a token naming any `jti` and must
    /// not revoke another client's token with it. `None` without a `jti`.
    pub revocation_id: Option<String>,
    /// HS256: checked with the caller's own secret.
    pub client_signed: bool,
}

/// `token` when it is one of our live access tokens, for `caller`: a JWE one only if
/// ahdapa remembers encrypting it (it holds no key to open it); an HS256 one
/// (`token_signing`) only when it is the caller's own, since its client holds the key and
/// to anyone else the token would prove nothing, and only when it expires as soon as
/// ahdapa's own tokens do.
pub(super) async fn verified(
    token: &str,
    caller: &Authenticated,
    ctx: &Context<'_>,
) -> Result<Option<Verified>, OAuthError> {
    let jti = |claims: &serde_json::Map<String, serde_json::Value>| {
        claims
            .get("jti")
            .and_then(|j| j.as_str())
            .map(str::to_owned)
    };
    if crate::token::jwe::is_compact_jwe(token) {
        let Some(encrypted) = ctx.encrypted else {
            return Ok(None);
        };
        return Ok(encrypted
            .claims(token, ctx.now)
            .await?
            .map(|claims| Verified {
                revocation_id: jti(&claims),
                claims,
                client_signed: false,
            }));
    }
    let client_key = caller.client.client_key();
    let Ok(claims) =
        access_token::verify(token, ctx.keys, &ctx.settings.issuer, ctx.now, client_key)
    else {
        return Ok(None);
    };
    // Only a caller with a key of its own can have had an HS256 token verified.
    if client_key.is_none() || !access_token::is_client_signed(token) {
        return Ok(Some(Verified {
            revocation_id: jti(&claims),
            claims,
            client_signed: false,
        }));
    }
    let latest = ctx
        .now
        .saturating_add(super::client::MAX_TOKEN_LIFETIME_SECS);
    if claims
        .get("exp")
        .and_then(|e| e.as_u64())
        .is_none_or(|exp| exp > latest)
    {
        return Ok(None);
    }
    Ok(Some(Verified {
        revocation_id: jti(&claims).map(|j| format!("{}\u{1f}{j}", caller.client.client_id)),
        claims,
        client_signed: true,
    }))
}

/// True when the token with these (verified) claims was revoked; a token without a
/// `jti` cannot be checked and counts as revoked.
pub async fn is_revoked(
    claims: &serde_json::Map<String, serde_json::Value>,
    revocations: &dyn RevocationList,
    now: u64,
) -> Result<bool, OAuthError> {
    match claims.get("jti").and_then(|j| j.as_str()) {
        Some(jti) => revocations.is_revoked(jti, now).await,
        None => Ok(true),
    }
}

/// The authenticated caller of `/introspect` or `/revoke` and the `token` it names
/// (RFC 7662 §2.1, RFC 7009 §2.1: both endpoints take the same form).
pub(super) async fn token_caller(
    request: TokenCallerRequest<'_>,
    ctx: &Context<'_>,
) -> Result<(Authenticated, String), OAuthError> {
    let (presented, form) = client_auth::parse_client_request(request.authorization, request.body)?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?
        .to_owned();
    let (caller, _) = token_endpoint::authenticate(presented, request.certificate, ctx).await?;
    Ok((caller, token))
}
