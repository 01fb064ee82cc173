//! `POST /token` (RFC 6749 §3.2): the server-wide token settings, and the whole flow for
//! what the core can check alone ([`token`]: tier-(a) tests; the service runs the same
//! steps with its adapters in between).
//!
//! The steps: [`super::request::parse`] (form, credential, grant), client authentication
//! (`client_auth`), the grant's rules (`grant/`), then [`super::issue::issue`].

use aws_lc_rs::rand::SecureRandom;

use super::client::ClientRegistry;
use super::client_auth::jwt_assertion::AssertionRules;
use super::client_auth::{self, AuthContext, Authorization};
use super::error::OAuthError;
use super::grant::{Grant, client_credentials};
use super::issue::{Binding, Issued};
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

/// Handles a token request end to end, for credentials the core can check alone and
/// without replay records (tests).
pub fn token(
    settings: &TokenSettings,
    registry: &ClientRegistry,
    keys: &KeySet,
    request: TokenRequest<'_>,
    rng: &dyn SecureRandom,
) -> Result<Issued, OAuthError> {
    let parsed = super::request::parse(request.authorization, request.body)?;
    let ctx = AuthContext {
        verified_principal: None,
        now: request.now,
        assertion_rules: &settings.assertions,
        certificate: None,
        fetched_keys: None,
    };
    let authenticated = client_auth::authenticate(registry, parsed.client, ctx)?;
    let scope = match &parsed.grant {
        Grant::ClientCredentials(g) => client_credentials::authorize(&authenticated.client, g)?,
    };
    super::issue::issue(
        settings,
        keys,
        authenticated,
        &scope,
        Binding::default(),
        None,
        request.now,
        request.jti,
        rng,
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use aws_lc_rs::rand::SystemRandom;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::oauth::client::{Client, ClientRegistration, ClientSource, TokenEndpointAuthMethod};
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
