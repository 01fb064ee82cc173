//! `POST /token` (RFC 6749 §3.2, §4.4): the client_credentials grant and RFC 9068
//! access tokens.
//!
//! Order of checks: the body parses (no repeated parameter), `grant_type` is present and
//! supported, the client authenticates with exactly one method, the client may use the
//! grant, the scope is granted, and the token is signed. No refresh token is issued for
//! client_credentials (§4.4.3).

use aws_lc_rs::rand::SecureRandom;
use serde::Serialize;

use super::client::TokenEndpointAuthMethod;
use super::client::{ClientRegistry, Credential};
use super::client_auth::jwt_assertion::AssertionRules;
use super::client_auth::tls_client_auth::PresentedCertificate;
use super::client_auth::{self, AuthContext, Authenticated, Authorization, Presented};
use super::error::OAuthError;
use super::form::Form;
use super::principal::host_of;
use super::scope::Scopes;
use crate::token::access_token::{AccessTokenClaims, Audience, Confirmation, mint};
use crate::token::keys::KeySet;

/// Server-wide token settings, validated from the config.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// `iss`, exactly as in the discovery document.
    pub issuer: String,
    /// `aud` for clients that register none.
    pub default_audience: Vec<String>,
    /// Lifetime in seconds for clients that register none.
    pub default_lifetime_secs: u64,
    /// Rules for client assertions (private_key_jwt, client_secret_jwt).
    pub assertions: AssertionRules,
}

/// One token request, as the transport received it.
#[derive(Debug, Clone, Copy)]
pub struct TokenRequest<'a> {
    /// The parsed `Authorization` header, if any.
    pub authorization: Option<Authorization<'a>>,
    /// The form body (the caller checked the media type and the size).
    pub body: &'a [u8],
    /// Now, in seconds since the epoch.
    pub now: u64,
    /// A fresh unique id for the token (the caller's random source).
    pub jti: &'a str,
}

/// A token request whose form, grant type and scope syntax are good, and whose client
/// credential has been read but not yet checked.
#[derive(Debug, Clone)]
pub struct ParsedTokenRequest {
    /// The one credential presented.
    pub presented: Presented,
    /// The `scope` parameter, if any.
    pub requested_scope: Option<Scopes>,
}

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

/// Handles a token request end to end, for credentials the core can check alone and
/// without replay records (tests). The service runs the steps itself: [`parse`], the
/// GSSAPI adapter for Negotiate, `client_auth::authenticate`, the replay record for
/// assertions, then [`grant`].
pub fn token(
    settings: &TokenSettings,
    registry: &ClientRegistry,
    keys: &KeySet,
    request: TokenRequest<'_>,
    rng: &dyn SecureRandom,
) -> Result<Issued, OAuthError> {
    let parsed = parse(request.authorization, request.body)?;
    let scope = parsed.requested_scope.clone();
    let ctx = AuthContext {
        verified_principal: None,
        now: request.now,
        assertion_rules: &settings.assertions,
        certificate: None,
        fetched_keys: None,
    };
    let authenticated = client_auth::authenticate(registry, parsed.presented, ctx)?;
    grant(
        settings,
        keys,
        authenticated,
        scope.as_ref(),
        Binding::default(),
        None,
        request.now,
        request.jti,
        rng,
    )
}

/// Reads the form, the grant type, the scope and the presented credential.
pub fn parse(
    authorization: Option<Authorization<'_>>,
    body: &[u8],
) -> Result<ParsedTokenRequest, OAuthError> {
    let mut form = Form::parse(body)?;
    let presented = client_auth::presented(authorization, &mut form)?;
    match form.get("grant_type") {
        None => return Err(OAuthError::invalid_request("grant_type is required")),
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthError::UnsupportedGrantType {
                description: format!(
                    "grant_type {:?} is not supported",
                    other.chars().take(60).collect::<String>()
                )
                .into(),
            });
        }
    }
    let requested_scope = form.get("scope").map(Scopes::parse).transpose()?;
    Ok(ParsedTokenRequest {
        presented,
        requested_scope,
    })
}

/// What the issued token is bound to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Binding<'a> {
    /// The client certificate of the connection (RFC 8705 §3).
    pub certificate: Option<&'a PresentedCertificate>,
    /// The RFC 7638 thumbprint of a verified DPoP proof's key (RFC 9449 §6).
    pub dpop_jkt: Option<&'a str>,
}

/// Checks that the client may use client_credentials, grants the scope and signs the
/// token.
#[allow(clippy::too_many_arguments)]
pub fn grant(
    settings: &TokenSettings,
    keys: &KeySet,
    authenticated: Authenticated,
    requested_scope: Option<&Scopes>,
    binding: Binding<'_>,
    extra_claims: Option<&serde_json::Map<String, serde_json::Value>>,
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
    if matches!(client.credential, Credential::Public) {
        // DESIGN.md: public clients may not use client_credentials (RFC 6749 §4.4).
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use client_credentials",
        ));
    }
    let scope = Scopes::grant(&client.scopes, requested_scope)?.to_scope_string();
    let lifetime = client
        .token_lifetime_secs
        .unwrap_or(settings.default_lifetime_secs);
    let audience = if client.audience.is_empty() {
        &settings.default_audience
    } else {
        &client.audience
    };
    // RFC 9449 §5.2: a client registered for DPoP must send a proof.
    if client.dpop_bound && binding.dpop_jkt.is_none() {
        return Err(OAuthError::InvalidDpopProof {
            description: "this client must send a DPoP proof".into(),
        });
    }
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
    let access_token = mint(keys.active(), &claims, rng)
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
        },
        client_id: client.client_id.clone(),
        subject: authenticated.subject,
        method: authenticated.method,
        jti: jti.to_owned(),
        principal: authenticated.principal.clone(),
        mutual_auth_token: None,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use aws_lc_rs::rand::SystemRandom;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::oauth::client::{Client, ClientRegistration, ClientSource};
    use crate::oauth::client_auth::client_secret_basic;
    use crate::oauth::secret::{ClientSecret, SecretHash};
    use crate::token::keys::{SigningAlgorithm, SigningKey};

    const NOW: u64 = 1_800_000_000;

    fn fixture() -> (TokenSettings, ClientRegistry, KeySet) {
        let rng = SystemRandom::new();
        let key = SigningKey::from_pkcs8(
            SigningAlgorithm::ES256,
            &SigningKey::generate(SigningAlgorithm::ES256, &rng).unwrap(),
        )
        .unwrap();
        let mk = |id: &str, method, lifetime| {
            Client::from_registration(
                &ClientRegistration {
                    client_id: id.into(),
                    token_endpoint_auth_method: method,
                    client_secret_hash: (method != TokenEndpointAuthMethod::None)
                        .then(|| SecretHash::of(&ClientSecret::new("pw".into())).to_stored()),
                    scopes: vec!["directory.read".into(), "metrics".into()],
                    audience: vec![],
                    token_lifetime_secs: lifetime,
                    ..Default::default()
                },
                ClientSource::Config,
                None,
            )
            .unwrap()
        };
        let registry = ClientRegistry::new(
            vec![
                mk("svc", TokenEndpointAuthMethod::ClientSecretBasic, None),
                mk("short", TokenEndpointAuthMethod::ClientSecretPost, Some(60)),
                mk("pub", TokenEndpointAuthMethod::None, None),
            ],
            vec![],
        )
        .0;
        let settings = TokenSettings {
            issuer: "https://idp.test".into(),
            default_audience: vec!["https://idp.test".into()],
            default_lifetime_secs: 900,
            assertions: AssertionRules {
                audiences: vec!["https://idp.test/token".into(), "https://idp.test".into()],
                max_lifetime_secs: 300,
                leeway_secs: 60,
            },
        };
        (settings, registry, KeySet::new(Arc::new(key), vec![]))
    }

    fn call(auth: Option<&str>, body: &str) -> Result<Issued, OAuthError> {
        let (settings, registry, keys) = fixture();
        let request = TokenRequest {
            authorization: auth.map(Authorization::parse),
            body: body.as_bytes(),
            now: NOW,
            jti: "jti-1",
        };
        token(&settings, &registry, &keys, request, &SystemRandom::new())
    }

    fn basic_svc() -> String {
        format!("Basic {}", client_secret_basic::encode("svc", "pw"))
    }

    fn claims_of(jwt: &str) -> serde_json::Value {
        let payload = jwt.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    #[test]
    fn issues_rfc9068_claims_for_client_credentials() {
        let issued = call(Some(&basic_svc()), "grant_type=client_credentials").unwrap();
        assert_eq!(issued.response.token_type, "Bearer");
        assert_eq!(issued.response.expires_in, 900);
        let c = claims_of(&issued.response.access_token);
        assert_eq!(c["iss"], "https://idp.test");
        assert_eq!(c["sub"], "svc");
        assert_eq!(c["client_id"], "svc");
        assert_eq!(c["aud"], "https://idp.test");
        assert_eq!(c["iat"], NOW);
        assert_eq!(c["exp"], NOW + 900);
        assert_eq!(c["jti"], "jti-1");
        assert_eq!(c["scope"], "directory.read metrics");
    }

    #[test]
    fn per_client_lifetime_overrides_default() {
        let issued = call(
            None,
            "grant_type=client_credentials&client_id=short&client_secret=pw",
        )
        .unwrap();
        assert_eq!(issued.response.expires_in, 60);
        assert_eq!(claims_of(&issued.response.access_token)["exp"], NOW + 60);
    }

    #[test]
    fn requested_scope_is_intersected() {
        let issued = call(
            Some(&basic_svc()),
            "grant_type=client_credentials&scope=metrics+other",
        )
        .unwrap();
        assert_eq!(issued.response.scope, "metrics");
    }

    #[test]
    fn scope_outside_registration_is_invalid_scope() {
        let err = call(
            Some(&basic_svc()),
            "grant_type=client_credentials&scope=admin",
        )
        .unwrap_err();
        assert_eq!(err.code(), "invalid_scope");
    }

    #[test]
    fn missing_grant_type_is_invalid_request() {
        assert_eq!(
            call(Some(&basic_svc()), "scope=metrics")
                .unwrap_err()
                .code(),
            "invalid_request"
        );
    }

    #[test]
    fn unknown_grant_type_is_unsupported_grant_type() {
        assert_eq!(
            call(Some(&basic_svc()), "grant_type=password")
                .unwrap_err()
                .code(),
            "unsupported_grant_type"
        );
    }

    #[test]
    fn repeated_parameter_is_invalid_request() {
        let err = call(
            Some(&basic_svc()),
            "grant_type=client_credentials&grant_type=client_credentials",
        )
        .unwrap_err();
        assert_eq!(err.code(), "invalid_request");
    }

    #[test]
    fn public_client_is_unauthorized_for_client_credentials() {
        let err = call(None, "grant_type=client_credentials&client_id=pub").unwrap_err();
        assert_eq!(err.code(), "unauthorized_client");
    }

    #[test]
    fn wrong_secret_is_invalid_client() {
        let auth = format!("Basic {}", client_secret_basic::encode("svc", "nope"));
        assert_eq!(
            call(Some(&auth), "grant_type=client_credentials")
                .unwrap_err()
                .code(),
            "invalid_client"
        );
    }

    #[test]
    fn sssd_style_body_is_accepted() {
        let issued = call(
            None,
            "grant_type=client_credentials&&client_id=short&client_secret=pw&scope=directory.read",
        )
        .unwrap();
        assert_eq!(issued.response.scope, "directory.read");
    }
}
