//! `POST /device_authorization` (RFC 8628 §3.1–3.2): a device asks for a device code and
//! a user code to show the person.
//!
//! The caller authenticates as at `/token` — a public client with its `client_id`, a
//! secret, an assertion, a certificate, or a host's keytab over Negotiate (upstream
//! SSSD's `oidc_child --client-use-gssapi`: the first POST unauthenticated gets `401`
//! with `WWW-Authenticate: Negotiate`, the retry carries the AP-REQ). A Kerberos template
//! client's directory requirements (host groups) apply here too. The scope is narrowed
//! to the client's registered scopes, never refused (SSSD asks for the literal `user`
//! when nothing is configured).

use serde::Serialize;

use super::client_auth;
use super::error::OAuthError;
use super::grant::device_code::{DeviceGrant, DeviceStatus, display_user_code};
use super::grant::{GrantType, check_registered};
use super::introspection::TokenCallerRequest;
use super::scope::Scopes;
use super::token_endpoint::{self, Context};

/// RFC 8628 §3.2 response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceAuthorization {
    /// For the device's polls.
    pub device_code: String,
    /// For the person to type, `XXXX-XXXX`.
    pub user_code: String,
    /// Where the person goes.
    pub verification_uri: String,
    /// The same with the code filled in (for a QR code or a link).
    pub verification_uri_complete: String,
    /// Seconds until both codes expire.
    pub expires_in: u64,
    /// Seconds between polls.
    pub interval: u64,
}

/// A successful device authorization and, for Negotiate, the AP-REP.
#[derive(Debug, Clone)]
pub struct Started {
    /// What the device receives.
    pub response: DeviceAuthorization,
    /// The client.
    pub client_id: String,
    /// The host's principal, for Kerberos clients.
    pub principal: Option<String>,
    /// The AP-REP for mutual authentication.
    pub mutual_auth_token: Option<Vec<u8>>,
}

/// `POST /device_authorization`, end to end.
pub async fn start(
    request: TokenCallerRequest<'_>,
    ctx: &Context<'_>,
) -> Result<Started, OAuthError> {
    let devices = ctx
        .devices
        .ok_or_else(|| OAuthError::server_error("the device grant needs a device store"))?;
    let (presented, form) = client_auth::parse_client_request(request.authorization, request.body)?;
    let requested = form.get("scope").map(Scopes::parse).transpose()?;
    let (caller, mutual) =
        token_endpoint::authenticate(presented, request.certificate, ctx).await?;
    check_registered(&caller.client, GrantType::DeviceCode)?;
    token_endpoint::directory_claims(&caller, ctx).await?;
    let scope = Scopes::narrow(&caller.client.scopes, requested.as_ref());
    if scope.is_empty() {
        return Err(OAuthError::invalid_scope(
            "this client is registered for no scope",
        ));
    }
    let rules = ctx.settings.device;
    let grant = DeviceGrant {
        client_id: caller.client.client_id.clone(),
        scope: scope.to_scope_string(),
        user_code: String::new(),
        principal: caller.principal.clone(),
        interval: rules.interval_secs,
        expires_at: ctx.now.saturating_add(rules.lifetime_secs),
        status: DeviceStatus::Pending,
    };
    let (device_code, user_code) = devices.start(grant, ctx.now).await?;
    let user_code = display_user_code(&user_code);
    let verification_uri = format!("{}/device", ctx.settings.issuer);
    let verification_uri_complete = format!("{verification_uri}?user_code={user_code}");
    Ok(Started {
        response: DeviceAuthorization {
            device_code,
            user_code,
            verification_uri,
            verification_uri_complete,
            expires_in: rules.lifetime_secs,
            interval: rules.interval_secs,
        },
        client_id: caller.client.client_id.clone(),
        principal: caller.principal,
        mutual_auth_token: mutual,
    })
}
