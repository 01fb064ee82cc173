//! Authorization server metadata: RFC 8414 (`/.well-known/oauth-authorization-server`)
//! and OpenID Connect Discovery 1.0 (`/.well-known/openid-configuration`).
//!
//! It advertises exactly what is implemented, nothing aspirational: a client that trusts
//! this document must never be refused for using something it lists.

use serde::Serialize;

use crate::token::keys::SigningAlgorithm;

/// The algorithms client assertions may be signed with, at every endpoint that takes
/// them.
const ASSERTION_ALGS: [&str; 9] = [
    "EdDSA", "Ed25519", "ES256", "ES384", "RS256", "PS256", "HS256", "HS384", "HS512",
];

/// The metadata document.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    /// RFC 8414 §2 `issuer`.
    pub issuer: String,
    /// `token_endpoint`.
    pub token_endpoint: String,
    /// `jwks_uri`.
    pub jwks_uri: String,
    /// RFC 7662 `introspection_endpoint`.
    pub introspection_endpoint: String,
    /// RFC 7009 `revocation_endpoint`.
    pub revocation_endpoint: String,
    /// Client authentication at the introspection endpoint (the same as `/token`).
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Client authentication at the revocation endpoint (the same as `/token`).
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Grants implemented.
    pub grant_types_supported: Vec<&'static str>,
    /// Client authentication methods implemented at `/token`.
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Algorithms accepted in private_key_jwt and client_secret_jwt assertions (RFC 9864
    /// `Ed25519` beside the older `EdDSA`).
    pub token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    /// RFC 8414 §2: the same assertion algorithms at `/introspect`.
    pub introspection_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    /// RFC 8414 §2: the same assertion algorithms at `/revoke`.
    pub revocation_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    /// RFC 9449 §5.1: the algorithms accepted in DPoP proofs.
    pub dpop_signing_alg_values_supported: Vec<&'static str>,
    /// RFC 8705 §3.3: certificate-bound access tokens are issued (over TLS).
    pub tls_client_certificate_bound_access_tokens: bool,
    /// `authorization_endpoint`: people sign in here (authorization code + PKCE).
    pub authorization_endpoint: String,
    /// RFC 8628 §4 `device_authorization_endpoint`: hosts logging people in.
    pub device_authorization_endpoint: String,
    /// OIDC `userinfo_endpoint`.
    pub userinfo_endpoint: String,
    /// OIDC RP-Initiated Logout `end_session_endpoint`.
    pub end_session_endpoint: String,
    /// Only `code` (no implicit or hybrid flow, RFC 9700 §2.1.2).
    pub response_types_supported: Vec<&'static str>,
    /// Only `query`.
    pub response_modes_supported: Vec<&'static str>,
    /// OIDC: `sub` is the same for every client (`public`).
    pub subject_types_supported: Vec<&'static str>,
    /// OIDC: the algorithms of ID tokens.
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    /// OIDC Discovery: the JWE `alg`s of ID tokens for clients with an `encryption_key`.
    pub id_token_encryption_alg_values_supported: &'static [&'static str],
    /// OIDC Discovery: the JWE `enc`s.
    pub id_token_encryption_enc_values_supported: &'static [&'static str],
    /// RFC 7636: S256 only.
    pub code_challenge_methods_supported: Vec<&'static str>,
    /// OIDC: the scopes that add claims.
    pub scopes_supported: Vec<&'static str>,
    /// OIDC: the claims ID tokens carry.
    pub claims_supported: Vec<&'static str>,
    /// RFC 9207: every authorization response carries `iss`.
    pub authorization_response_iss_parameter_supported: bool,
    /// OIDC Core §3.1.2.1 `prompt` values honoured.
    pub prompt_values_supported: Vec<&'static str>,
    /// Access token signing algorithms.
    pub access_token_signing_alg_values_supported: Vec<&'static str>,
    /// RFC 7591 §3 / RFC 8414 §2: present when dynamic registration is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
}

impl Metadata {
    /// The document for an issuer URL (no trailing slash) that signs with `algorithm`;
    /// `kerberos` lists `kerberos_client_auth` (ahdapa's name for Negotiate at `/token`).
    pub fn new(issuer: &str, algorithm: SigningAlgorithm, kerberos: bool, mtls: bool) -> Self {
        let mut methods = vec![
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "client_secret_jwt",
        ];
        if kerberos {
            methods.push("kerberos_client_auth");
        }
        if mtls {
            methods.extend(["tls_client_auth", "self_signed_tls_client_auth"]);
        }
        let mut token_methods = methods.clone();
        // Public sign-in clients (PKCE) present no credential at /token.
        token_methods.push("none");
        Self {
            issuer: issuer.to_owned(),
            token_endpoint: format!("{issuer}/token"),
            jwks_uri: format!("{issuer}/jwks"),
            introspection_endpoint: format!("{issuer}/introspect"),
            revocation_endpoint: format!("{issuer}/revoke"),
            introspection_endpoint_auth_methods_supported: methods.clone(),
            revocation_endpoint_auth_methods_supported: methods.clone(),
            grant_types_supported: crate::oauth::grant::GrantType::supported_names(),
            token_endpoint_auth_methods_supported: token_methods,
            token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS.to_vec(),
            introspection_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS.to_vec(),
            revocation_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS.to_vec(),
            tls_client_certificate_bound_access_tokens: mtls,
            dpop_signing_alg_values_supported: crate::token::dpop::ALLOWED_ALGS.to_vec(),
            authorization_endpoint: format!("{issuer}/authorize"),
            device_authorization_endpoint: format!("{issuer}/device_authorization"),
            userinfo_endpoint: format!("{issuer}/userinfo"),
            end_session_endpoint: format!("{issuer}/logout"),
            response_types_supported: vec!["code"],
            response_modes_supported: vec!["query"],
            subject_types_supported: vec!["public"],
            id_token_signing_alg_values_supported: {
                // The configured algorithm, then every other one a client may register
                // (`id_token_signed_response_alg`; RS256 is OIDC's mandatory one), and
                // HS256 with the client secret (`token_signing`).
                let mut algs = vec![algorithm.as_str()];
                for a in ["RS256", "ES256", "EdDSA", "HS256"] {
                    if a != algorithm.as_str() {
                        algs.push(a);
                    }
                }
                algs
            },
            id_token_encryption_alg_values_supported: crate::token::jwe::KEY_ALGORITHMS,
            id_token_encryption_enc_values_supported: crate::token::jwe::CONTENT_ENCRYPTIONS,
            code_challenge_methods_supported: crate::oauth::pkce::METHODS_SUPPORTED.to_vec(),
            scopes_supported: vec!["openid", "profile", "email", "groups", "offline_access"],
            claims_supported: vec![
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "amr",
                "azp",
                "at_hash",
                "sid",
                "preferred_username",
                "name",
                "given_name",
                "family_name",
                "email",
                "groups",
            ],
            authorization_response_iss_parameter_supported: true,
            prompt_values_supported: crate::oauth::authorize::PROMPT_VALUES.to_vec(),
            access_token_signing_alg_values_supported: vec![algorithm.as_str()],
            registration_endpoint: None,
        }
    }
}
