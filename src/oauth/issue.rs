//! The one minting step every grant ends in: the token's lifetime and audience from the
//! client (or the server defaults), its binding — `cnf.x5t#S256` of the client
//! certificate (RFC 8705 §3) or `cnf.jkt` of the DPoP key (RFC 9449 §6) — and the RFC 9068
//! claims, signed with the active key.
//!
//! A grant decides *who* gets *which scope*; this decides nothing about that. It refuses
//! only what the binding rules demand: a certificate-bound client without its
//! certificate, a DPoP-bound client without a proof.

use aws_lc_rs::rand::SecureRandom;
use serde::Serialize;

use super::client::TokenEndpointAuthMethod;
use super::client_auth::Authenticated;
use super::client_auth::tls_client_auth::PresentedCertificate;
use super::error::OAuthError;
use super::principal::host_of;
use super::scope::Scopes;
use super::token_endpoint::TokenSettings;
use crate::token::access_token::{AccessTokenClaims, Audience, Confirmation, mint};
use crate::token::keys::KeySet;

/// RFC 6749 §5.1 successful response.
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    /// The JWT.
    pub access_token: String,
    /// `Bearer` (DPoP comes later).
    pub token_type: &'static str,
    /// Seconds until expiry.
    pub expires_in: u64,
    /// The granted scope.
    pub scope: String,
    /// The OpenID Connect ID token (authorization_code with `openid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// A refresh token (code and device grants by the client's policy; every refresh).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// RFC 8693 §2.2.1: what a token exchange issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

/// A successful issuance, with what the audit log needs.
#[derive(Debug, Clone)]
pub struct Issued {
    /// What the client receives.
    pub response: TokenResponse,
    /// The authenticated client.
    pub client_id: String,
    /// The token's `sub`.
    pub subject: String,
    /// How the client authenticated.
    pub method: TokenEndpointAuthMethod,
    /// The token's `jti`.
    pub jti: String,
    /// The Kerberos principal, for kerberos_client_auth.
    pub principal: Option<String>,
    /// For Negotiate: the AP-REP to return in `WWW-Authenticate` (set by the adapter).
    pub mutual_auth_token: Option<Vec<u8>>,
}

/// What the issued token is bound to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Binding<'a> {
    /// The client certificate of the connection (RFC 8705 §3).
    pub certificate: Option<&'a PresentedCertificate>,
    /// The RFC 7638 thumbprint of a verified DPoP proof's key (RFC 9449 §6).
    pub dpop_jkt: Option<&'a str>,
}

/// Mints the access token for `authenticated`, granted `scope`.
#[allow(clippy::too_many_arguments)]
pub fn issue(
    settings: &TokenSettings,
    keys: &KeySet,
    authenticated: Authenticated,
    scope: &Scopes,
    binding: Binding<'_>,
    extra_claims: Option<&serde_json::Map<String, serde_json::Value>>,
    resource: &[String],
    not_after: Option<u64>,
    now: u64,
    jti: &str,
    rng: &dyn SecureRandom,
) -> Result<Issued, OAuthError> {
    let client = &authenticated.client;
    // RFC 8705 §3: certificate-bound tokens carry the thumbprint of the client certificate.
    let x5t = match (client.certificate_bound, binding.certificate) {
        (false, _) => None,
        (true, Some(cert)) => Some(cert.x5t_s256()),
        (true, None) => {
            return Err(OAuthError::invalid_request(
                "this client's tokens are certificate-bound: connect with its client certificate",
            ));
        }
    };
    // RFC 9449 §5.2: a client registered for DPoP must send a proof.
    if client.dpop_bound && binding.dpop_jkt.is_none() {
        return Err(OAuthError::InvalidDpopProof {
            description: "this client must send a DPoP proof".into(),
        });
    }
    let scope = scope.to_scope_string();
    let lifetime = client
        .token_lifetime_secs
        .unwrap_or(settings.default_lifetime_secs);
    // A token exchanged for another lives no longer than the one it was made from.
    let lifetime = match not_after {
        Some(end) => lifetime.min(end.saturating_sub(now)),
        None => lifetime,
    };
    if lifetime == 0 {
        return Err(OAuthError::invalid_request("the subject_token has expired"));
    }
    // RFC 8707: the resources asked for (each checked against the registration) are
    // the audience.
    let audience = if !resource.is_empty() {
        resource
    } else if client.audience.is_empty() {
        &settings.default_audience
    } else {
        &client.audience
    };
    let principal = authenticated.principal.as_deref();
    let claims = AccessTokenClaims {
        iss: &settings.issuer,
        sub: &authenticated.subject,
        aud: Audience::of(audience),
        exp: now.saturating_add(lifetime),
        iat: now,
        jti,
        client_id: &client.client_id,
        scope: &scope,
        krb5_principal: principal,
        host: principal.and_then(host_of),
        cnf: (x5t.is_some() || binding.dpop_jkt.is_some()).then_some(Confirmation {
            x5t_s256: x5t.as_deref(),
            jkt: binding.dpop_jkt,
        }),
        extra: extra_claims,
    };
    let access_token = mint(client.signer(keys.active()), &claims, rng)
        .map_err(|e| OAuthError::server_error(format!("minting failed: {e}")))?;
    Ok(Issued {
        response: TokenResponse {
            access_token,
            token_type: if binding.dpop_jkt.is_some() {
                "DPoP"
            } else {
                "Bearer"
            },
            expires_in: lifetime,
            scope,
            id_token: None,
            refresh_token: None,
            issued_token_type: None,
        },
        client_id: client.client_id.clone(),
        subject: authenticated.subject,
        method: authenticated.method,
        jti: jti.to_owned(),
        principal: authenticated.principal.clone(),
        mutual_auth_token: None,
    })
}
