//! The grants that end in a person's tokens — `authorization_code`, the device grant
//! and `refresh_token` — and what they share once the grant is settled: the access
//! token's `sub` is the person, an ID token when the scope has `openid`, and a refresh
//! token when the client's policy gives one (always a new one on a refresh).
//!
//! ```text
//!   device poll ──► ports::DeviceCodes: peek, pace (slow_down), redeem once
//!   refresh     ──► ports::RefreshTokens: use (counted on every node), family ended?,
//!                   reuse outside the grace window ──► revoke the family
//!        │
//!   PersonGrant ──► issue::issue (token_endpoint) ──► finish: ID token, refresh token
//! ```

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::OAuthError;
use super::client::Client;
use super::grant::device_code::{self, DeviceStatus};
use super::grant::refresh_token::{self, RefreshGrant, Use};
use super::id_token::{self, IdTokenClaims};
use super::issue::Issued;
use super::ports::RefreshTokens;
use super::scope::Scopes;
use super::token_endpoint::Context;
use crate::oauth::client_auth::tls_client_auth::PresentedCertificate;

/// Refresh-token rules, from `[refresh_tokens]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshRules {
    /// A family ends this long after its sign-in, whatever its use.
    pub lifetime_secs: u64,
    /// A token unused this long expires (its family may live on in a newer token).
    pub idle_secs: u64,
    /// A used token may be presented once more this long after (a retry).
    pub grace_secs: u64,
}

/// Device-grant rules, from `[device]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRules {
    /// How long a device code and its user code live.
    pub lifetime_secs: u64,
    /// The polling interval given to devices.
    pub interval_secs: u64,
}

/// A settled grant for a person: who, how they signed in, what for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonGrant {
    /// The person.
    pub subject: String,
    /// When they authenticated.
    pub auth_time: u64,
    /// How.
    pub amr: Vec<String>,
    /// Their browser session.
    pub sid: String,
    /// Claims by scope, for the ID token.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// The authorization request's nonce.
    pub nonce: Option<String>,
    /// RFC 8707 resources.
    pub resource: Vec<String>,
    /// For a refresh: the family the next refresh token joins, the token it replaces
    /// (its successor is derived from it), and whether this is the grace-window retry.
    pub family: Option<(RefreshGrant, String, bool)>,
}

/// The device poll (RFC 8628 §3.4–3.5): the person's grant once approved, exactly once.
pub async fn poll_device(
    client: &Client,
    principal: Option<&str>,
    request: &device_code::Request,
    ctx: &Context<'_>,
) -> Result<(Scopes, PersonGrant), OAuthError> {
    let devices = ctx
        .devices
        .ok_or_else(|| OAuthError::server_error("the device grant needs a device store"))?;
    let code = &request.device_code;
    let Some(device) = devices.peek(code, ctx.now).await? else {
        return Err(OAuthError::invalid_grant(
            "the device code is unknown or expired",
        ));
    };
    device_code::check(client, &device, ctx.now)?;
    // A Kerberos template client is many hosts: a code is the asking host's own.
    if device.principal.is_some() && device.principal.as_deref() != principal {
        return Err(OAuthError::invalid_grant(
            "the device code was issued to another host",
        ));
    }
    match device.status {
        DeviceStatus::Pending => {
            let previous = devices.pace(code, ctx.now).await?;
            let (pace, slow) = device_code::pace(previous, device.interval, ctx.now);
            devices.record_pace(code, pace, device.expires_at).await?;
            Err(if slow {
                OAuthError::SlowDown
            } else {
                OAuthError::AuthorizationPending
            })
        }
        DeviceStatus::Denied => Err(OAuthError::AccessDenied {
            description: "the person denied the request".into(),
        }),
        DeviceStatus::Approved(approval) => {
            if !devices.redeem(code, ctx.now).await? {
                return Err(OAuthError::invalid_grant(
                    "the device code was already redeemed",
                ));
            }
            let scope = Scopes::parse(&device.scope)?;
            Ok((
                scope,
                PersonGrant {
                    subject: approval.subject,
                    auth_time: approval.auth_time,
                    amr: approval.amr,
                    sid: approval.sid,
                    claims: approval.claims,
                    nonce: None,
                    resource: Vec::new(),
                    family: None,
                },
            ))
        }
    }
}

/// `grant_type=refresh_token`: the narrowed scope and the person's grant, or why not.
/// A reuse outside the grace window revokes the whole family.
#[allow(clippy::too_many_arguments)]
pub async fn refresh(
    client: &Client,
    principal: Option<&str>,
    request: &refresh_token::Request,
    dpop_jkt: Option<&str>,
    certificate: Option<&PresentedCertificate>,
    ctx: &Context<'_>,
) -> Result<(Scopes, PersonGrant), OAuthError> {
    let tokens = ctx
        .refresh
        .ok_or_else(|| OAuthError::server_error("refresh tokens need a store"))?;
    // Everything that can fail without theft is checked before the use is counted (a
    // directory outage or a missing certificate must not turn the client's next try
    // into a "reuse"); a token in the wrong hands revokes its family at once.
    let Some(grant) = tokens.peek(&request.refresh_token, ctx.now).await? else {
        return Err(OAuthError::invalid_grant(
            "the refresh token is unknown or expired",
        ));
    };
    let theft = if grant.client_id != client.client_id {
        Some("the refresh token was presented by another client")
    } else if grant.principal.is_some() && grant.principal.as_deref() != principal {
        Some("the refresh token was presented by another host")
    } else if grant
        .dpop_jkt
        .as_deref()
        .zip(dpop_jkt)
        .is_some_and(|(bound, presented)| bound != presented)
    {
        Some("the refresh token was presented with another DPoP key")
    } else {
        None
    };
    if let Some(why) = theft {
        return revoke(tokens, &grant, client, why, ctx).await;
    }
    // RFC 9449 §5 and RFC 8705 §4: a bound family stays bound.
    if grant.dpop_jkt.is_some() && dpop_jkt.is_none() {
        return Err(OAuthError::InvalidDpopProof {
            description: "this refresh token is DPoP-bound: send a proof with its key".into(),
        });
    }
    if let Some(x5t) = &grant.x5t_s256
        && certificate.map(PresentedCertificate::x5t_s256).as_ref() != Some(x5t)
    {
        return Err(OAuthError::invalid_grant(
            "this refresh token is bound to a client certificate: connect with it",
        ));
    }
    if let Some(directory) = ctx.directory {
        let standing = directory.principal(&grant.subject).await?;
        if standing.is_none_or(|e| e.locked) {
            return Err(OAuthError::invalid_grant(
                "the account is locked or no longer in the directory",
            ));
        }
    }
    if tokens.is_ended(&grant, ctx.now).await? {
        return Err(OAuthError::invalid_grant(
            "the refresh token was revoked (or its session signed out)",
        ));
    }
    let scope = refresh_token::authorize(client, request, &grant)?;
    // The use, counted once on every node.
    let Some(used) = tokens.use_token(&request.refresh_token, ctx.now).await? else {
        return Err(OAuthError::invalid_grant(
            "the refresh token is unknown or expired",
        ));
    };
    let retry = match refresh_token::classify(
        used.uses,
        used.first_used_at,
        ctx.settings.refresh.grace_secs,
        ctx.now,
    ) {
        Use::First => false,
        Use::Retry => true,
        Use::Reuse => {
            return revoke(
                tokens,
                &grant,
                client,
                "the refresh token was used before",
                ctx,
            )
            .await;
        }
    };
    Ok((
        scope,
        PersonGrant {
            subject: grant.subject.clone(),
            auth_time: grant.auth_time,
            amr: grant.amr.clone(),
            sid: grant.sid.clone(),
            claims: grant.claims.clone(),
            nonce: None,
            resource: grant.resource.clone(),
            family: Some((grant, request.refresh_token.clone(), retry)),
        },
    ))
}

/// Revokes `grant`'s family (a reuse, or a token in the wrong hands), with an audit
/// event, and answers `invalid_grant`.
async fn revoke(
    tokens: &dyn RefreshTokens,
    grant: &RefreshGrant,
    client: &Client,
    why: &'static str,
    ctx: &Context<'_>,
) -> Result<(Scopes, PersonGrant), OAuthError> {
    tokens
        .revoke_family(&grant.family, grant.family_expires_at, ctx.now)
        .await?;
    log::warn!(
        target: "ahdapa::audit",
        audit = "refresh.family_revoked",
        reason = why,
        client_id = grant.client_id.as_str(),
        presented_by = client.client_id.as_str(),
        subject = grant.subject.as_str(),
        family = grant.family.as_str();
        "refresh token family of {} revoked: {why}", grant.subject
    );
    Err(OAuthError::invalid_grant(format!(
        "{why}; every refresh token of this sign-in is revoked"
    )))
}

/// Adds what a person's grant gives besides the access token: the ID token (scope
/// `openid`) and the refresh token (by the client's policy; always on a refresh).
#[allow(clippy::too_many_arguments)]
pub async fn finish(
    issued: &mut Issued,
    client: &Client,
    principal: Option<&str>,
    scope: &Scopes,
    person: PersonGrant,
    dpop_jkt: Option<&str>,
    certificate: Option<&PresentedCertificate>,
    ctx: &Context<'_>,
) -> Result<(), OAuthError> {
    if scope.tokens().iter().any(|s| s == "openid") {
        // The client's algorithm (OIDC Registration `id_token_signed_response_alg`);
        // the ring keeps an active key of every algorithm a client asks for.
        let server_key = match client.id_token_alg {
            None => ctx.keys.active(),
            Some(alg) => ctx.keys.active_for(alg).ok_or_else(|| {
                OAuthError::server_error(format!(
                    "no active {} key yet for {}'s ID tokens",
                    alg.as_str(),
                    client.client_id
                ))
            })?,
        };
        let signer = client.signer(server_key);
        let claims = IdTokenClaims {
            iss: &ctx.settings.issuer,
            sub: &person.subject,
            aud: &client.client_id,
            exp: ctx.now.saturating_add(ctx.settings.default_lifetime_secs),
            iat: ctx.now,
            auth_time: person.auth_time,
            nonce: person.nonce.as_deref(),
            amr: &person.amr,
            azp: &client.client_id,
            at_hash: Some(id_token::at_hash(&issued.response.access_token, &signer)),
            sid: Some(&person.sid),
            profile: &person.claims,
        };
        issued.response.id_token = Some(id_token::mint(signer, &claims, ctx.rng)?);
    }
    let (next, parent) = match person.family {
        // Rotation: the family's scope, binding and end carry over (RFC 6749 §6).
        Some((family, parent, retry)) => (family, Some((parent, retry))),
        None if client.refresh_tokens.applies(scope) => {
            let mut id = [0u8; 16];
            ctx.rng
                .fill(&mut id)
                .map_err(|_| OAuthError::server_error("random source failed"))?;
            let family = RefreshGrant {
                family: URL_SAFE_NO_PAD.encode(id),
                client_id: client.client_id.clone(),
                principal: principal.map(str::to_owned),
                subject: person.subject,
                scope: scope.to_scope_string(),
                sid: person.sid,
                auth_time: person.auth_time,
                amr: person.amr,
                claims: person.claims,
                resource: person.resource,
                dpop_jkt: dpop_jkt.map(str::to_owned),
                x5t_s256: certificate
                    .filter(|_| client.certificate_bound)
                    .map(PresentedCertificate::x5t_s256),
                family_expires_at: ctx.now.saturating_add(ctx.settings.refresh.lifetime_secs),
            };
            (family, None)
        }
        None => return Ok(()),
    };
    let tokens = ctx
        .refresh
        .ok_or_else(|| OAuthError::server_error("refresh tokens need a store"))?;
    let expires_at = ctx
        .now
        .saturating_add(ctx.settings.refresh.idle_secs)
        .min(next.family_expires_at);
    issued.response.refresh_token = Some(
        tokens
            .issue(
                &next,
                parent.as_ref().map(|(p, retry)| (p.as_str(), *retry)),
                expires_at,
                ctx.now,
            )
            .await?,
    );
    Ok(())
}
