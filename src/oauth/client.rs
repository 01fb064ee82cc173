//! Registered clients: the registration document (as written in the config file and in
//! the store), its validation into a [`Client`], and the [`ClientRegistry`] that the
//! token endpoint looks clients up in.
//!
//! A registration is validated once, when it is loaded; the hot path only sees
//! [`Client`]s whose every field is already known to be good. Lookups are a hash-map
//! probe: no scan, no database round trip.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::client_auth::jwt_assertion::{AssertionKey, HmacSecret, keys_from_jwks};
use super::client_auth::tls_client_auth::{CertIdentity, DnError, parse_dn, thumbprint};
use super::directory_policy::{DirectoryPolicy, DirectoryRequirements};
use super::principal::{PrincipalPattern, check_principal};
use super::redirect_uri::RedirectUris;
use super::scope::{Scopes, is_scope_token};
use super::secret::SecretHash;
use crate::token::keys::SigningAlgorithm;

/// RFC 7591 §2 `token_endpoint_auth_method` values this server implements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    /// RFC 6749 §2.3.1, HTTP Basic (the default of a registration built in code).
    #[default]
    ClientSecretBasic,
    /// RFC 6749 §2.3.1, secret in the form body.
    ClientSecretPost,
    /// `Authorization: Negotiate` with a Kerberos AP-REQ (RFC 4559), ahdapa's own name.
    KerberosClientAuth,
    /// RFC 7523 assertion signed with the client's private key.
    PrivateKeyJwt,
    /// RFC 7523 assertion with an HMAC of the shared secret.
    ClientSecretJwt,
    /// RFC 8705 §2.1: a CA-issued client certificate with a registered DN or SAN.
    TlsClientAuth,
    /// RFC 8705 §2.2: a registered (self-signed) client certificate.
    SelfSignedTlsClientAuth,
    /// A JWT from a trusted external issuer (GitHub Actions, GitLab CI, Kubernetes,
    /// SPIFFE) as `client_assertion` or `client_secret`, matched by `federation`.
    FederatedJwt,
    /// A public client: no authentication.
    None,
}

impl TokenEndpointAuthMethod {
    /// The RFC name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::KerberosClientAuth => "kerberos_client_auth",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::ClientSecretJwt => "client_secret_jwt",
            Self::TlsClientAuth => "tls_client_auth",
            Self::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
            Self::FederatedJwt => "federated_jwt",
            Self::None => "none",
        }
    }
}

/// Where a client was registered; the config file wins over the store on a clash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientSource {
    /// A `[[clients]]` table of the config file.
    Config,
    /// The store (written by `ahdapa client add --local`, later the admin API).
    Store,
}

/// A client registration as written by an admin: the `[[clients]]` table of the config
/// file, and the JSON document kept in the store. Unknown fields are refused. `Default`
/// is an empty client_secret_basic registration, for building one in code with
/// `..Default::default()`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRegistration {
    /// Unique, printable ASCII, used in URLs by SSSD: no spaces, `/`, `%`, `?`, `#`.
    pub client_id: String,
    /// How the client authenticates at `/token`.
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// `sha256:...` as printed by `ahdapa client generate-secret`; required for the
    /// secret methods, refused for `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_hash: Option<String>,
    /// For `kerberos_client_auth`: the one principal this client is (exact client; the
    /// token's `sub` is the client_id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kerberos_principal: Option<String>,
    /// For `kerberos_client_auth`: a glob over principals (template client; the token's
    /// `sub` is the authenticated principal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kerberos_principal_pattern: Option<String>,
    /// For `private_key_jwt`: the client's public keys (a JWKS, RFC 7517 §5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// For `private_key_jwt`: where to fetch the client's JWKS (https://), instead of `jwks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// For `private_key_jwt` with `jwks_uri`, set by an admin only (never by dynamic
    /// registration): the URI may reach loopback, private and link-local addresses.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub jwks_uri_trusted: bool,
    /// For `client_secret_jwt` in the config file: a file holding the shared secret
    /// (readable by ahdapa only). The secret is needed as an HMAC key, so it cannot be
    /// hashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<String>,
    /// For `client_secret_jwt` in the store: the secret sealed under the master key
    /// (base64url), written by `ahdapa client add --local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_sealed: Option<String>,
    /// For `tls_client_auth` (RFC 8705 §2.1.2, exactly one of the five): the subject DN
    /// in RFC 4514 form, e.g. `CN=node1.example.com,O=EXAMPLE.COM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_subject_dn: Option<String>,
    /// For `tls_client_auth`: a dNSName SAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_dns: Option<String>,
    /// For `tls_client_auth`: a uniformResourceIdentifier SAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_uri: Option<String>,
    /// For `tls_client_auth`: an iPAddress SAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_ip: Option<String>,
    /// For `tls_client_auth`: an rfc822Name SAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_email: Option<String>,
    /// For `self_signed_tls_client_auth`: the client's certificates (PEM); matched by
    /// SHA-256 thumbprint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls_client_certificates: Vec<String>,
    /// RFC 8705 §3: bind tokens to the client certificate (`cnf.x5t#S256`). Default: on
    /// for the two mTLS methods, off for the others (when on for them, a client
    /// certificate must be presented).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_certificate_bound_access_tokens: Option<bool>,
    /// RFC 9449 §5.2: every token request of this client must carry a DPoP proof.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_bound_access_tokens: Option<bool>,
    /// RFC 7662: this client may introspect every token, not only its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_all_tokens: Option<bool>,
    /// The scopes the client may be granted (DESIGN.md: the request is intersected).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// RFC 7591 §2 `grant_types`: the grants it may use; absent means
    /// `["client_credentials"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<crate::oauth::grant::GrantType>>,
    /// `aud` of its tokens; empty means `tokens.default_audience`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audience: Vec<String>,
    /// Access token lifetime in seconds; absent means `tokens.lifetime_secs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lifetime_secs: Option<u64>,
    /// For `kerberos_client_auth` with a `[directory]`: what the principal's directory
    /// entry must satisfy and which of its values become claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectoryRequirements>,
    /// A disabled client is refused at every endpoint until it is enabled again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    /// For dynamic registration (RFC 7592): SHA-256 hash of the registration access
    /// token, as `sha256:...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_access_token_hash: Option<String>,
    /// A name for people (RFC 7591 `client_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// For self-enrolled host clients: the principal that enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolled_principal: Option<String>,
    /// For `authorization_code`: where sign-in responses may be sent (RFC 6749 §3.1.2):
    /// exact URIs, loopback `http://127.0.0.1/...` (any port, RFC 8252 §7.3), and, from
    /// an administrator only, anchored `regex:` patterns (see `oauth::redirect_uri`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    /// OpenID Connect RP-Initiated Logout: where `/logout` may send the browser after
    /// ending the session (exact URIs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    /// RFC 7591 §2 `response_types`: only `["code"]` is served (no implicit, no hybrid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types: Option<Vec<String>>,
    /// Show people a consent page before the first sign-in to this client (default: on
    /// for dynamically registered clients, off for the administrator's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_consent: Option<bool>,
    /// OpenID Connect Registration: the algorithm of this client's ID tokens
    /// (`ES256`, `EdDSA` or `RS256`; default: the server's `keys.algorithm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    /// `HS256`: its access and ID tokens are signed with its client secret (HMAC-SHA-256,
    /// no `kid`) instead of the server's keys, as authentik does when a provider has no
    /// signing key. The secret is then kept whole, not only hashed: `client_secret_file`
    /// in the config file, sealed under the master key in the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_signing: Option<TokenSigning>,
    /// A public key its access and ID tokens are encrypted to (JWE around the signed
    /// token): a JWK (RSA of 2048 bits or more, or EC on P-256) or a PEM public key or
    /// certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<serde_json::Value>,
    /// The JWE `alg`: `RSA-OAEP-256` (the default for an RSA key) or `ECDH-ES` (the
    /// default for an EC key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_alg: Option<String>,
    /// The JWE `enc`: `A256CBC-HS512` (the default) or `A256GCM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_enc: Option<String>,
    /// When its grants come with a refresh token: `never`, `offline_access` (when the
    /// scope has it; the default for authorization_code clients) or `always` (the
    /// default for device_code clients such as SSSD hosts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_tokens: Option<crate::oauth::grant::refresh_token::RefreshPolicy>,
    /// For `federated_jwt`: the trusted issuer and what its tokens must say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federation: Option<crate::oauth::federation::FederationRegistration>,
    /// For `federated_jwt`: claims of the external token copied into ahdapa's tokens
    /// (e.g. `repository`, `ref`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub federated_claims: Vec<String>,
    /// For the token-exchange grant: the audiences it may ask for, whose tokens and
    /// which issuers' JWTs it may exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_exchange: Option<crate::oauth::grant::token_exchange::ExchangePolicy>,
    /// For the RFC 7523 jwt-bearer grant: the trusted issuers' tokens, and which
    /// subjects in them, this client may get tokens for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jwt_bearer: Vec<crate::oauth::federation::FederationRegistration>,
    /// For `private_key_jwt`: JWTs it signs itself (`iss` = `sub` = client_id, `aud` a
    /// resource server's client_id) are active at `/introspect` (offline-minted service
    /// tokens).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub offline_tokens: bool,
    /// Scopes that need directory group membership of the token's subject (a person, a
    /// host, a service account), for every grant: `{ "admin.write" = { groups =
    /// ["admins"] } }`. An unsatisfied scope is dropped (`invalid_scope` when none is left).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub scope_policies: std::collections::BTreeMap<String, ScopePolicy>,
    /// It accepts its service accounts' app passwords (`username`/`password` with
    /// client_credentials or the password grant, or `client_secret = base64(SA:TOKEN)`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub service_accounts: bool,
}

/// What signs a client's tokens instead of the server's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenSigning {
    /// HMAC-SHA-256 with the client secret (RFC 7518 §3.2).
    #[serde(rename = "HS256")]
    Hs256,
}

/// What one scope demands of the subject.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopePolicy {
    /// The subject must be in one of these directory groups (user groups of a person,
    /// host groups of a host).
    pub groups: Vec<String>,
}

/// The longest access token lifetime a registration may ask for (one day).
pub const MAX_TOKEN_LIFETIME_SECS: u64 = 86_400;

/// One problem with a registration: the field it concerns and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationError {
    /// The field name (`scopes`, `client_secret_hash`, ...).
    pub field: &'static str,
    /// What is wrong, for an admin.
    pub message: String,
}

/// How a registered client proves its identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A shared secret, presented with the one registered method.
    Secret {
        /// `client_secret_basic` or `client_secret_post`.
        method: TokenEndpointAuthMethod,
        /// The stored hash of the secret.
        hash: SecretHash,
    },
    /// A Kerberos principal proven with Negotiate.
    Kerberos(KerberosIdentity),
    /// private_key_jwt: assertions verified with the client's public keys.
    PrivateKeyJwt(JwksSource),
    /// client_secret_jwt: assertions MACed with this secret.
    ClientSecretJwt(HmacSecret),
    /// tls_client_auth: a CA-verified certificate carrying this identity.
    TlsClientAuth(CertIdentity),
    /// self_signed_tls_client_auth: one of these certificate thumbprints.
    SelfSignedTlsClientAuth(Vec<[u8; 32]>),
    /// federated_jwt: a trusted issuer's token matching this rule.
    FederatedJwt(crate::oauth::federation::FederationRule),
    /// A public client (`none`): it cannot use client_credentials.
    Public,
}

/// Where a private_key_jwt client's keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// Registered inline (`jwks`).
    Inline(Vec<AssertionKey>),
    /// Fetched from `jwks_uri` by the adapter, cached and refetched on an unknown kid.
    Uri {
        /// The registered `jwks_uri`.
        uri: String,
        /// `jwks_uri_trusted`: an admin allowed it any address.
        trusted: bool,
    },
}

/// Which principals a Kerberos client accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KerberosIdentity {
    /// Exactly this principal; tokens have `sub` = client_id.
    Exact(String),
    /// Any principal matching; tokens have `sub` = the principal.
    Template(PrincipalPattern),
}

/// A validated client, as the token endpoint sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// The client_id; the `sub` of its tokens.
    pub client_id: String,
    /// How it authenticates.
    pub credential: Credential,
    /// What it may be granted.
    pub scopes: Scopes,
    /// The grants it may use (never empty).
    pub grant_types: Vec<crate::oauth::grant::GrantType>,
    /// `aud` of its tokens; empty means the server default.
    pub audience: Vec<String>,
    /// Lifetime override in seconds.
    pub token_lifetime_secs: Option<u64>,
    /// Tokens carry `cnf.x5t#S256` of the client certificate (RFC 8705 §3).
    pub certificate_bound: bool,
    /// Token requests must carry a DPoP proof (RFC 9449 §5.2).
    pub dpop_bound: bool,
    /// May introspect any token (resource servers), not only its own.
    pub introspect_all_tokens: bool,
    /// Directory requirements on the authenticated principal (Kerberos clients).
    pub directory: Option<DirectoryPolicy>,
    /// Where sign-in responses may go (`authorization_code` clients).
    pub redirect_uris: RedirectUris,
    /// The name people see on the sign-in page.
    pub client_name: Option<String>,
    /// Where `/logout` may send the browser afterwards.
    pub post_logout_redirect_uris: Vec<String>,
    /// People see a consent page before their first sign-in to this client.
    pub require_consent: bool,
    /// The algorithm of its ID tokens; `None` means the server's.
    pub id_token_alg: Option<SigningAlgorithm>,
    /// `token_signing = "HS256"`: the secret its access and ID tokens are signed with.
    pub token_secret: Option<HmacSecret>,
    /// `encryption_key`: its access and ID tokens are encrypted to this key.
    pub encryption: Option<crate::token::jwe::EncryptionKey>,
    /// When its grants come with a refresh token.
    pub refresh_tokens: crate::oauth::grant::refresh_token::RefreshPolicy,
    /// Its token-exchange policy.
    pub token_exchange: Option<crate::oauth::grant::token_exchange::ExchangePolicy>,
    /// Its jwt-bearer rules.
    pub jwt_bearer: Vec<crate::oauth::federation::FederationRule>,
    /// JWTs it signs itself are introspectable (offline-minted service tokens).
    pub offline_tokens: bool,
    /// Scopes that need group membership of the subject.
    pub scope_policies: std::collections::BTreeMap<String, ScopePolicy>,
    /// It accepts its service accounts' app passwords.
    pub service_accounts: bool,
    /// Where the registration came from.
    pub source: ClientSource,
}

impl Client {
    /// Validates a registration; every problem is reported, each naming its field.
    /// `hmac_secret` is the client_secret_jwt secret, which the caller read from
    /// `client_secret_file` or unsealed from `client_secret_sealed` (I/O stays outside).
    pub fn from_registration(
        reg: &ClientRegistration,
        source: ClientSource,
        hmac_secret: Option<HmacSecret>,
    ) -> Result<Self, Vec<RegistrationError>> {
        let mut errors = Vec::new();
        let mut err = |field: &'static str, message: String| {
            errors.push(RegistrationError { field, message })
        };

        if let Err(msg) = check_client_id(&reg.client_id) {
            err("client_id", msg.to_string());
        }
        if reg.grant_types.as_ref().is_some_and(Vec::is_empty) {
            err(
                "grant_types",
                "must name at least one grant (leave it out for [\"client_credentials\"])".into(),
            );
        }
        let kerberos_fields =
            reg.kerberos_principal.is_some() || reg.kerberos_principal_pattern.is_some();
        let method = reg.token_endpoint_auth_method;
        let foreign = |field: &'static str, present: bool, allowed: &[TokenEndpointAuthMethod]| {
            (present && !allowed.contains(&method)).then(|| {
                let names: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
                (
                    field,
                    format!("only for {}, not {}", names.join(" or "), method.as_str()),
                )
            })
        };
        use TokenEndpointAuthMethod as M;
        let misplaced = [
            foreign("jwks", reg.jwks.is_some(), &[M::PrivateKeyJwt]),
            foreign("jwks_uri", reg.jwks_uri.is_some(), &[M::PrivateKeyJwt]),
            foreign(
                "jwks_uri_trusted",
                reg.jwks_uri_trusted,
                &[M::PrivateKeyJwt],
            ),
            foreign(
                "client_secret_file",
                reg.client_secret_file.is_some(),
                &[
                    M::ClientSecretJwt,
                    M::ClientSecretBasic,
                    M::ClientSecretPost,
                ],
            ),
            foreign(
                "client_secret_sealed",
                reg.client_secret_sealed.is_some(),
                &[
                    M::ClientSecretJwt,
                    M::ClientSecretBasic,
                    M::ClientSecretPost,
                ],
            ),
            foreign(
                "tls_client_certificates",
                !reg.tls_client_certificates.is_empty(),
                &[M::SelfSignedTlsClientAuth],
            ),
            foreign(
                "tls_client_auth_subject_dn",
                [
                    &reg.tls_client_auth_subject_dn,
                    &reg.tls_client_auth_san_dns,
                    &reg.tls_client_auth_san_uri,
                    &reg.tls_client_auth_san_ip,
                    &reg.tls_client_auth_san_email,
                ]
                .iter()
                .any(|v| v.is_some()),
                &[M::TlsClientAuth],
            ),
            foreign("federation", reg.federation.is_some(), &[M::FederatedJwt]),
            foreign("offline_tokens", reg.offline_tokens, &[M::PrivateKeyJwt]),
            foreign(
                "federated_claims",
                !reg.federated_claims.is_empty(),
                &[M::FederatedJwt],
            ),
            foreign(
                "client_secret_hash",
                reg.client_secret_hash.is_some()
                    && matches!(
                        method,
                        M::PrivateKeyJwt | M::ClientSecretJwt | M::FederatedJwt
                    ),
                &[M::ClientSecretBasic, M::ClientSecretPost],
            ),
        ];
        for (field, message) in misplaced.into_iter().flatten() {
            err(field, message);
        }
        // The secret itself (client_secret_file, or sealed in the store), when kept whole.
        let whole_secret = hmac_secret.clone();
        let credential = match method {
            M::PrivateKeyJwt if !kerberos_fields => match (&reg.jwks, &reg.jwks_uri) {
                (None, None) => {
                    err(
                        "jwks",
                        "private_key_jwt needs the client's public keys: jwks or jwks_uri".into(),
                    );
                    None
                }
                (Some(_), Some(_)) => {
                    err("jwks_uri", "give jwks or jwks_uri, not both".into());
                    None
                }
                (Some(jwks), None) => match keys_from_jwks(jwks) {
                    Ok(keys) => Some(Credential::PrivateKeyJwt(JwksSource::Inline(keys))),
                    Err(m) => {
                        err("jwks", m.to_string());
                        None
                    }
                },
                (None, Some(uri)) => match uri.parse::<http::Uri>() {
                    Ok(u)
                        if matches!(u.scheme_str(), Some("https" | "http"))
                            && u.host().is_some() =>
                    {
                        Some(Credential::PrivateKeyJwt(JwksSource::Uri {
                            uri: uri.clone(),
                            trusted: reg.jwks_uri_trusted,
                        }))
                    }
                    _ => {
                        err("jwks_uri", format!("{uri:?} is not an https:// URL"));
                        None
                    }
                },
            },
            M::ClientSecretJwt if !kerberos_fields => match hmac_secret {
                Some(secret) => Some(Credential::ClientSecretJwt(secret)),
                None => {
                    err(
                        "client_secret_file",
                        "client_secret_jwt needs its secret: client_secret_file in the config file, or `ahdapa client add --local --method client_secret_jwt`".into(),
                    );
                    None
                }
            },
            M::TlsClientAuth if !kerberos_fields => {
                let given: Vec<(&'static str, &String)> = [
                    (
                        "tls_client_auth_subject_dn",
                        &reg.tls_client_auth_subject_dn,
                    ),
                    ("tls_client_auth_san_dns", &reg.tls_client_auth_san_dns),
                    ("tls_client_auth_san_uri", &reg.tls_client_auth_san_uri),
                    ("tls_client_auth_san_ip", &reg.tls_client_auth_san_ip),
                    ("tls_client_auth_san_email", &reg.tls_client_auth_san_email),
                ]
                .into_iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
                .collect();
                match given.as_slice() {
                    [(field, value)] => match cert_identity(field, value) {
                        Ok(id) => Some(Credential::TlsClientAuth(id)),
                        Err(m) => {
                            err(field, m.to_string());
                            None
                        }
                    },
                    _ => {
                        err(
                            "tls_client_auth_subject_dn",
                            "tls_client_auth needs exactly one of tls_client_auth_subject_dn, _san_dns, _san_uri, _san_ip, _san_email".into(),
                        );
                        None
                    }
                }
            }
            M::FederatedJwt if !kerberos_fields => match &reg.federation {
                None => {
                    err(
                        "federation",
                        "federated_jwt needs federation = { issuer, sub } (the trusted issuer and the sub its tokens carry)".into(),
                    );
                    None
                }
                Some(f) => match f.validate(&reg.federated_claims) {
                    Ok(rule) => Some(Credential::FederatedJwt(rule)),
                    Err((field, m)) => {
                        let key = if field == "federated_claims" {
                            "federated_claims"
                        } else {
                            "federation"
                        };
                        err(key, format!("{field}: {m}"));
                        None
                    }
                },
            },
            M::SelfSignedTlsClientAuth if !kerberos_fields => {
                let mut prints = Vec::new();
                for pem in &reg.tls_client_certificates {
                    use rustls_pki_types::pem::PemObject;
                    match rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes()) {
                        Ok(der) => prints.push(thumbprint(&der)),
                        Err(_) => err("tls_client_certificates", "not a PEM certificate".into()),
                    }
                }
                if reg.tls_client_certificates.is_empty() {
                    err(
                        "tls_client_certificates",
                        "self_signed_tls_client_auth needs at least one certificate (PEM)".into(),
                    );
                }
                Some(Credential::SelfSignedTlsClientAuth(prints))
            }
            _ => match (reg.token_endpoint_auth_method, &reg.client_secret_hash) {
                (TokenEndpointAuthMethod::KerberosClientAuth, secret) => {
                    if secret.is_some() {
                        err(
                            "client_secret_hash",
                            "a kerberos_client_auth client has no secret".into(),
                        );
                    }
                    match (&reg.kerberos_principal, &reg.kerberos_principal_pattern) {
                        (Some(p), None) => match check_principal(p) {
                            Ok(()) => {
                                Some(Credential::Kerberos(KerberosIdentity::Exact(p.clone())))
                            }
                            Err(m) => {
                                err("kerberos_principal", m.to_string());
                                None
                            }
                        },
                        (None, Some(p)) => match PrincipalPattern::parse(p) {
                            Ok(pattern) => {
                                Some(Credential::Kerberos(KerberosIdentity::Template(pattern)))
                            }
                            Err(m) => {
                                err("kerberos_principal_pattern", m.to_string());
                                None
                            }
                        },
                        (Some(_), Some(_)) => {
                            err(
                                "kerberos_principal_pattern",
                                "give kerberos_principal or kerberos_principal_pattern, not both"
                                    .into(),
                            );
                            None
                        }
                        (None, None) => {
                            err("kerberos_principal", "kerberos_client_auth needs kerberos_principal or kerberos_principal_pattern".into());
                            None
                        }
                    }
                }
                (method, _) if kerberos_fields => {
                    let field = if reg.kerberos_principal.is_some() {
                        "kerberos_principal"
                    } else {
                        "kerberos_principal_pattern"
                    };
                    err(
                        field,
                        format!("only for kerberos_client_auth, not {}", method.as_str()),
                    );
                    None
                }
                (TokenEndpointAuthMethod::None, None) => Some(Credential::Public),
                (TokenEndpointAuthMethod::None, Some(_)) => {
                    err(
                        "client_secret_hash",
                        "a public client (token_endpoint_auth_method = \"none\") has no secret"
                            .into(),
                    );
                    None
                }
                (_, Some(_)) if hmac_secret.is_some() => {
                    err(
                        "client_secret_hash",
                        "give client_secret_hash or the secret itself (client_secret_file), not both"
                            .into(),
                    );
                    None
                }
                (method, Some(stored)) => match SecretHash::parse(stored) {
                    Some(hash) => Some(Credential::Secret { method, hash }),
                    None => {
                        err("client_secret_hash", "expected \"sha256:\" and 43 base64url characters, as printed by `ahdapa client generate-secret`".into());
                        None
                    }
                },
                (method, None) if hmac_secret.is_some() => {
                    match hmac_secret.map(|h| String::from_utf8(h.expose().to_vec())) {
                        Some(Ok(text)) => Some(Credential::Secret {
                            method,
                            hash: SecretHash::of(&super::secret::ClientSecret::new(text)),
                        }),
                        _ => {
                            err(
                                "client_secret_file",
                                "the secret of client_secret_basic or client_secret_post must be UTF-8 text".into(),
                            );
                            None
                        }
                    }
                }
                (method, None) => {
                    err(
                        "client_secret_hash",
                        format!("required for {}", method.as_str()),
                    );
                    None
                }
            },
        };
        if reg.scopes.is_empty() {
            err("scopes", "at least one scope is required".into());
        }
        for s in &reg.scopes {
            if !is_scope_token(s) {
                err(
                    "scopes",
                    format!(
                        "{s:?} is not an RFC 6749 scope token (printable ASCII, no space, quote or backslash)"
                    ),
                );
            }
        }
        for a in &reg.audience {
            if a.is_empty() {
                err("audience", "an audience must not be empty".into());
            }
        }
        if let Some(secs) = reg.token_lifetime_secs
            && (secs == 0 || secs > MAX_TOKEN_LIFETIME_SECS)
        {
            err(
                "token_lifetime_secs",
                format!("must be between 1 and {MAX_TOKEN_LIFETIME_SECS}"),
            );
        }
        let directory = match &reg.directory {
            None => None,
            Some(_) if method != M::KerberosClientAuth => {
                err(
                    "directory",
                    "only for kerberos_client_auth (the directory is asked about the authenticated principal)".into(),
                );
                None
            }
            Some(d) => match d.validate() {
                Ok(p) => Some(p),
                Err((field, m)) => {
                    err(field, m);
                    None
                }
            },
        };
        let grants = reg
            .grant_types
            .clone()
            .unwrap_or_else(|| crate::oauth::grant::GrantType::DEFAULT.to_vec());
        let code_grant = grants.contains(&crate::oauth::grant::GrantType::AuthorizationCode);
        let redirect_uris = match RedirectUris::parse(&reg.redirect_uris, true) {
            Ok(r) => r,
            Err(problems) => {
                for p in problems {
                    err("redirect_uris", p.to_string());
                }
                RedirectUris::default()
            }
        };
        if code_grant && reg.redirect_uris.is_empty() {
            err(
                "redirect_uris",
                "required with grant_types authorization_code".into(),
            );
        }
        if !code_grant && !reg.redirect_uris.is_empty() {
            err(
                "redirect_uris",
                "only with grant_types authorization_code".into(),
            );
        }
        for uri in &reg.post_logout_redirect_uris {
            if let Err(e) = crate::oauth::redirect_uri::RedirectUri::parse(uri, false) {
                err("post_logout_redirect_uris", e.to_string());
            }
        }
        if let Some(types) = &reg.response_types
            && (types.as_slice() != ["code"] || !code_grant)
        {
            err(
                "response_types",
                "only [\"code\"] is served, with grant_types authorization_code (no implicit or hybrid flow)".into(),
            );
        }
        let id_token_alg = match reg.id_token_signed_response_alg.as_deref() {
            None => None,
            Some(a) => match a.parse::<SigningAlgorithm>() {
                Ok(alg) => Some(alg),
                Err(e) => {
                    err("id_token_signed_response_alg", e.to_string());
                    None
                }
            },
        };
        let token_secret = match reg.token_signing {
            None => None,
            Some(TokenSigning::Hs256) => match (method, whole_secret) {
                (M::ClientSecretBasic | M::ClientSecretPost | M::ClientSecretJwt, Some(s)) => {
                    if grants.contains(&crate::oauth::grant::GrantType::TokenExchange) {
                        err(
                            "token_signing",
                            "HS256 tokens can be checked by their client only, and a token exchange makes tokens for others: sign this client's tokens with the server's keys".into(),
                        );
                    }
                    if reg.id_token_signed_response_alg.is_some() {
                        err(
                            "id_token_signed_response_alg",
                            "token_signing = \"HS256\" signs the ID tokens too; leave this out"
                                .into(),
                        );
                    }
                    Some(s)
                }
                (M::ClientSecretBasic | M::ClientSecretPost, None) => {
                    err(
                        "token_signing",
                        "HS256 signs with the client secret itself, which client_secret_hash cannot give back: keep the secret in client_secret_file instead (for a client in the store, `ahdapa client update CLIENT --token-signing HS256` issues a new secret and seals it)".into(),
                    );
                    None
                }
                (method, _) => {
                    err(
                        "token_signing",
                        format!(
                            "HS256 signs with the client secret; a {} client has none",
                            method.as_str()
                        ),
                    );
                    None
                }
            },
        };
        let encryption = match &reg.encryption_key {
            Some(key) => match crate::token::jwe::EncryptionKey::parse(
                key,
                reg.encryption_alg.as_deref(),
                reg.encryption_enc.as_deref(),
            ) {
                Ok(k) => Some(k),
                Err(e) => {
                    err("encryption_key", e.to_string());
                    None
                }
            },
            None => {
                if reg.encryption_alg.is_some() || reg.encryption_enc.is_some() {
                    err(
                        "encryption_key",
                        "encryption_alg and encryption_enc need encryption_key (the client's public key)".into(),
                    );
                }
                None
            }
        };
        let refresh_tokens = reg.refresh_tokens.unwrap_or(
            if grants.contains(&crate::oauth::grant::GrantType::DeviceCode) {
                crate::oauth::grant::refresh_token::RefreshPolicy::Always
            } else {
                crate::oauth::grant::refresh_token::RefreshPolicy::OfflineAccess
            },
        );
        if reg.token_exchange.is_some()
            && !grants.contains(&crate::oauth::grant::GrantType::TokenExchange)
        {
            err(
                "token_exchange",
                "only with grant_types [\"urn:ietf:params:oauth:grant-type:token-exchange\"]"
                    .into(),
            );
        }
        for (scope, policy) in &reg.scope_policies {
            if !reg.scopes.contains(scope) {
                err(
                    "scope_policies",
                    format!("{scope:?} is not one of this client's scopes"),
                );
            }
            if policy.groups.is_empty() || policy.groups.iter().any(String::is_empty) {
                err(
                    "scope_policies",
                    format!("{scope:?}: groups must name at least one group"),
                );
            }
        }
        let mut jwt_bearer = Vec::new();
        for r in &reg.jwt_bearer {
            match r.validate(&[]) {
                Ok(rule) => jwt_bearer.push(rule),
                Err((field, m)) => err(
                    "jwt_bearer",
                    format!("{}: {m}", field.trim_start_matches("federation.")),
                ),
            }
        }
        if !reg.jwt_bearer.is_empty()
            && !grants.contains(&crate::oauth::grant::GrantType::JwtBearer)
        {
            err(
                "jwt_bearer",
                "only with grant_types [\"urn:ietf:params:oauth:grant-type:jwt-bearer\"]".into(),
            );
        }
        let mtls = matches!(method, M::TlsClientAuth | M::SelfSignedTlsClientAuth);
        let certificate_bound = reg
            .tls_client_certificate_bound_access_tokens
            .unwrap_or(mtls);
        match credential {
            Some(credential) if errors.is_empty() => Ok(Self {
                client_id: reg.client_id.clone(),
                credential,
                scopes: Scopes::from_registered(dedup(&reg.scopes)),
                grant_types: grants,
                audience: reg.audience.clone(),
                token_lifetime_secs: reg.token_lifetime_secs,
                certificate_bound,
                dpop_bound: reg.dpop_bound_access_tokens.unwrap_or(false),
                introspect_all_tokens: reg.introspection_all_tokens.unwrap_or(false),
                directory,
                redirect_uris,
                client_name: reg.client_name.clone(),
                post_logout_redirect_uris: reg.post_logout_redirect_uris.clone(),
                require_consent: reg.require_consent.unwrap_or(false),
                id_token_alg,
                token_secret,
                encryption,
                refresh_tokens,
                token_exchange: reg.token_exchange.clone(),
                jwt_bearer,
                offline_tokens: reg.offline_tokens,
                scope_policies: reg.scope_policies.clone(),
                service_accounts: reg.service_accounts,
                source,
            }),
            _ => Err(errors),
        }
    }
}

impl Client {
    /// What signs its tokens: its secret (`token_signing = "HS256"`) or `key`.
    pub fn signer<'a>(&'a self, key: &'a crate::token::SigningKey) -> crate::token::Signer<'a> {
        match &self.token_secret {
            Some(secret) => crate::token::Signer::Secret(secret.expose()),
            None => crate::token::Signer::Key(key),
        }
    }

    /// The key its HS256 tokens are checked with, when it has one.
    pub fn client_key(&self) -> Option<crate::token::access_token::ClientKey<'_>> {
        self.token_secret
            .as_ref()
            .map(|s| crate::token::access_token::ClientKey {
                client_id: &self.client_id,
                secret: s.expose(),
            })
    }
}

/// The identity a tls_client_auth registration field names.
fn cert_identity(field: &str, value: &str) -> Result<CertIdentity, CertIdentityError> {
    match field {
        "tls_client_auth_subject_dn" => parse_dn(value)
            .map(CertIdentity::SubjectDn)
            .map_err(CertIdentityError::Dn),
        "tls_client_auth_san_dns" => Ok(CertIdentity::SanDns(value.to_owned())),
        "tls_client_auth_san_uri" => Ok(CertIdentity::SanUri(value.to_owned())),
        "tls_client_auth_san_ip" => value
            .parse()
            .map(CertIdentity::SanIp)
            .map_err(|_| CertIdentityError::NotAnIp(value.to_owned())),
        _ => Ok(CertIdentity::SanEmail(value.to_owned())),
    }
}

/// Why a tls_client_auth identity field is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum CertIdentityError {
    /// `tls_client_auth_subject_dn` does not parse.
    #[error(transparent)]
    Dn(#[from] DnError),
    /// `tls_client_auth_san_ip` is not an address.
    #[error("{0:?} is not an IP address")]
    NotAnIp(String),
}

/// Why a client_id is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum ClientIdError {
    /// Empty or over 255 characters.
    #[error("must be 1 to 255 characters")]
    Length,
    /// A character that breaks URL paths or Basic credentials.
    #[error("{0:?} is not allowed (printable ASCII without / % ? # :)")]
    Character(char),
}

/// client_ids travel in URL paths (SSSD does not encode them) and in Basic credentials.
fn check_client_id(id: &str) -> Result<(), ClientIdError> {
    if id.is_empty() || id.len() > 255 {
        return Err(ClientIdError::Length);
    }
    if let Some(c) = id
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '/' | '%' | '?' | '#' | ':'))
    {
        return Err(ClientIdError::Character(c));
    }
    Ok(())
}

fn dedup(tokens: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(tokens.len());
    for t in tokens {
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    out
}

/// All clients the server knows, by client_id. Immutable: a change builds a new one.
#[derive(Debug, Default)]
pub struct ClientRegistry {
    by_id: HashMap<String, Arc<Client>>,
}

impl ClientRegistry {
    /// Builds the registry; config clients shadow store clients of the same id, and the
    /// shadowed ids are returned so the caller can warn about them.
    pub fn new(config: Vec<Client>, store: Vec<Client>) -> (Self, Vec<String>) {
        let mut by_id: HashMap<String, Arc<Client>> =
            HashMap::with_capacity(config.len() + store.len());
        let mut shadowed = Vec::new();
        for c in store {
            by_id.insert(c.client_id.clone(), Arc::new(c));
        }
        for c in config {
            if by_id
                .insert(c.client_id.clone(), Arc::new(c.clone()))
                .is_some()
            {
                shadowed.push(c.client_id);
            }
        }
        (Self { by_id }, shadowed)
    }

    /// The client with this id.
    pub fn get(&self, client_id: &str) -> Option<&Arc<Client>> {
        self.by_id.get(client_id)
    }

    /// Every certificate thumbprint a self_signed_tls_client_auth client registered (the
    /// TLS handshake accepts these certificates without a CA).
    pub fn pinned_thumbprints(&self) -> std::collections::HashSet<[u8; 32]> {
        self.by_id
            .values()
            .filter_map(|c| match &c.credential {
                Credential::SelfSignedTlsClientAuth(prints) => Some(prints.iter().copied()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// The signing algorithms of `primary` plus every one a client asked for its ID
    /// tokens (`id_token_signed_response_alg`): the key ring keeps an active key of each.
    pub fn signing_algorithms(&self, primary: SigningAlgorithm) -> Vec<SigningAlgorithm> {
        let mut out = vec![primary];
        for c in self.by_id.values() {
            if let Some(a) = c.id_token_alg
                && !out.contains(&a)
            {
                out.push(a);
            }
        }
        out
    }

    /// How many clients are registered.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when no client is registered.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::secret::ClientSecret;

    fn reg() -> ClientRegistration {
        ClientRegistration {
            client_id: "ci-runner".into(),
            token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            client_secret_hash: Some(SecretHash::of(&ClientSecret::new("s".into())).to_stored()),
            scopes: vec!["a".into(), "b".into(), "a".into()],
            audience: vec![],
            token_lifetime_secs: None,
            ..Default::default()
        }
    }

    #[test]
    fn hs256_token_signing_needs_the_secret_itself() {
        let text = "sealed-or-in-a-file-secret-of-43-characters";
        let whole = || Some(HmacSecret::new(text.as_bytes().to_vec()).unwrap());
        let fields = |r: &ClientRegistration, secret| -> Vec<&'static str> {
            Client::from_registration(r, ClientSource::Config, secret)
                .err()
                .unwrap_or_default()
                .iter()
                .map(|e| e.field)
                .collect()
        };
        let mut r = reg();
        r.token_signing = Some(TokenSigning::Hs256);
        // A hash cannot sign.
        assert_eq!(fields(&r, None), ["token_signing"]);
        // The hash and the secret: one or the other.
        assert_eq!(fields(&r, whole()), ["client_secret_hash"]);
        // The secret alone: it authenticates the client and signs its tokens.
        r.client_secret_hash = None;
        r.client_secret_file = Some("/etc/ahdapa/app.secret".into());
        let client = Client::from_registration(&r, ClientSource::Config, whole()).unwrap();
        let Credential::Secret { hash, .. } = &client.credential else {
            panic!("{:?}", client.credential)
        };
        assert!(hash.verify(&ClientSecret::new(text.into())));
        assert_eq!(client.client_key().unwrap().secret, text.as_bytes());
        assert!(matches!(
            client.signer(&test_key()),
            crate::token::Signer::Secret(_)
        ));
        // Exchanged tokens are for others, who cannot check HS256.
        let mut x = r.clone();
        x.grant_types = Some(vec![crate::oauth::grant::GrantType::TokenExchange]);
        assert!(fields(&x, whole()).contains(&"token_signing"));
        // The ID tokens are HS256 too: no second algorithm.
        r.id_token_signed_response_alg = Some("ES256".into());
        assert_eq!(fields(&r, whole()), ["id_token_signed_response_alg"]);
        // Clients without a secret cannot.
        let mut k = reg();
        k.client_secret_hash = None;
        k.token_endpoint_auth_method = TokenEndpointAuthMethod::KerberosClientAuth;
        k.kerberos_principal = Some("host/a.x@X".into());
        k.token_signing = Some(TokenSigning::Hs256);
        assert_eq!(fields(&k, None), ["token_signing"]);
        // Without token_signing, the server's key signs.
        let plain = Client::from_registration(&reg(), ClientSource::Config, None).unwrap();
        assert!(plain.client_key().is_none());
        assert!(matches!(
            plain.signer(&test_key()),
            crate::token::Signer::Key(_)
        ));
    }

    fn test_key() -> crate::token::SigningKey {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let alg = crate::token::SigningAlgorithm::ES256;
        crate::token::SigningKey::from_pkcs8(
            alg,
            &crate::token::SigningKey::generate(alg, &rng).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn kerberos_clients_need_exactly_one_principal_field() {
        let mut r = reg();
        r.token_endpoint_auth_method = TokenEndpointAuthMethod::KerberosClientAuth;
        r.client_secret_hash = None;
        assert_eq!(
            Client::from_registration(&r, ClientSource::Config, None).unwrap_err()[0].field,
            "kerberos_principal"
        );
        r.kerberos_principal_pattern = Some("host/*.x@X".into());
        assert!(matches!(
            Client::from_registration(&r, ClientSource::Config, None)
                .unwrap()
                .credential,
            Credential::Kerberos(KerberosIdentity::Template(_))
        ));
        r.kerberos_principal = Some("host/a.x@X".into());
        assert_eq!(
            Client::from_registration(&r, ClientSource::Config, None).unwrap_err()[0].field,
            "kerberos_principal_pattern"
        );
    }

    #[test]
    fn principal_fields_are_refused_for_secret_clients() {
        let mut r = reg();
        r.kerberos_principal = Some("host/a.x@X".into());
        assert_eq!(
            Client::from_registration(&r, ClientSource::Config, None).unwrap_err()[0].field,
            "kerberos_principal"
        );
    }

    #[test]
    fn valid_registration_becomes_client() {
        let c = Client::from_registration(&reg(), ClientSource::Config, None).unwrap();
        assert_eq!(c.scopes.tokens(), ["a", "b"]);
    }

    #[test]
    fn reports_every_problem_with_its_field() {
        let mut r = reg();
        r.client_id = "a/b".into();
        r.scopes = vec![];
        r.token_lifetime_secs = Some(0);
        let fields: Vec<_> = Client::from_registration(&r, ClientSource::Config, None)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["client_id", "scopes", "token_lifetime_secs"]);
    }

    #[test]
    fn secret_method_requires_hash_and_public_refuses_one() {
        let mut r = reg();
        r.client_secret_hash = None;
        assert_eq!(
            Client::from_registration(&r, ClientSource::Config, None).unwrap_err()[0].field,
            "client_secret_hash"
        );
        let mut r = reg();
        r.token_endpoint_auth_method = TokenEndpointAuthMethod::None;
        assert_eq!(
            Client::from_registration(&r, ClientSource::Config, None).unwrap_err()[0].field,
            "client_secret_hash"
        );
    }

    #[test]
    fn config_shadows_store() {
        let a = Client::from_registration(&reg(), ClientSource::Config, None).unwrap();
        let mut b = a.clone();
        b.source = ClientSource::Store;
        let (registry, shadowed) = ClientRegistry::new(vec![a], vec![b]);
        assert_eq!(shadowed, ["ci-runner"]);
        assert_eq!(
            registry.get("ci-runner").unwrap().source,
            ClientSource::Config
        );
    }
}
