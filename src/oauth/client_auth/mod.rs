//! Client authentication at the token endpoint (RFC 6749 §2.3).
//!
//! Two steps, kept apart so each can be tested alone:
//! 1. [`presented`] reads what the request carries (the `Authorization` header and the
//!    form) into exactly one [`Presented`] credential. Two methods at once is
//!    `invalid_request` (DESIGN.md).
//! 2. [`authenticate`] checks it against the [`ClientRegistry`]. Every failure is
//!    `invalid_client` with the token endpoint's challenges; the log reason says which
//!    check failed, the client only learns that authentication failed.
//!
//! One file per RFC method name holds its wire format.

pub mod client_secret_basic;
pub mod client_secret_post;
pub mod jwt_assertion;
pub mod kerberos_client_auth;
pub mod tls_client_auth;

use std::sync::Arc;

use super::client::{Client, ClientRegistry, Credential, JwksSource, TokenEndpointAuthMethod};
use super::error::OAuthError;
use super::form::Form;
use super::secret::{ClientSecret, SecretHash};

/// The credential a request presented, before it is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// HTTP Basic with the form-decoded client_id and secret.
    ClientSecretBasic {
        /// The client_id from the header.
        client_id: String,
        /// The secret from the header.
        secret: ClientSecret,
    },
    /// `client_id` and `client_secret` form parameters.
    ClientSecretPost {
        /// The `client_id` parameter.
        client_id: String,
        /// The `client_secret` parameter.
        secret: ClientSecret,
    },
    /// `Authorization: Negotiate` with the client_id from the form. The token is proven
    /// by the GSSAPI adapter before [`authenticate`] is called.
    Negotiate {
        /// The `client_id` parameter.
        client_id: String,
        /// The decoded Negotiate token.
        token: kerberos_client_auth::NegotiateToken,
    },
    /// `client_assertion` (RFC 7523 §2.2): private_key_jwt or client_secret_jwt, decided
    /// by the client's registration.
    ClientAssertion {
        /// The `client_id` parameter, or the assertion's `sub`.
        client_id: String,
        /// The compact JWS.
        assertion: String,
        /// `client_assertion_type` was `…:jwt-spiffe` (a JWT-SVID), not `…:jwt-bearer`.
        spiffe: bool,
    },
    /// `username` and `password`: a service account's app password, for the client the
    /// form names (client_credentials or the password grant).
    ServiceAccount {
        /// The `client_id` parameter.
        client_id: String,
        /// `username`: the service account.
        name: String,
        /// `password`: its app password.
        password: ClientSecret,
    },
    /// Only a `client_id`: a public client, or a confidential one that forgot its secret.
    None {
        /// The `client_id` parameter.
        client_id: String,
    },
}

impl Presented {
    /// The client_id claimed by the request.
    pub fn client_id(&self) -> &str {
        match self {
            Self::ClientSecretBasic { client_id, .. }
            | Self::ClientSecretPost { client_id, .. }
            | Self::Negotiate { client_id, .. }
            | Self::ClientAssertion { client_id, .. }
            | Self::ServiceAccount { client_id, .. }
            | Self::None { client_id } => client_id,
        }
    }

    /// The method the request used.
    pub fn method(&self) -> TokenEndpointAuthMethod {
        match self {
            Self::ClientSecretBasic { .. } => TokenEndpointAuthMethod::ClientSecretBasic,
            Self::ClientSecretPost { .. } => TokenEndpointAuthMethod::ClientSecretPost,
            Self::Negotiate { .. } => TokenEndpointAuthMethod::KerberosClientAuth,
            // Which of the two assertion methods is decided by the registration.
            Self::ClientAssertion { .. } => TokenEndpointAuthMethod::PrivateKeyJwt,
            // A password in the form.
            Self::ServiceAccount { .. } => TokenEndpointAuthMethod::ClientSecretPost,
            Self::None { .. } => TokenEndpointAuthMethod::None,
        }
    }
}

/// The `Authorization` header, as far as client authentication cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorization<'a> {
    /// `Basic <credentials>`.
    Basic(&'a str),
    /// `Negotiate <base64 token>` (RFC 4559).
    Negotiate(&'a str),
    /// Any other scheme, by name.
    Other(&'a str),
}

impl<'a> Authorization<'a> {
    /// Splits a header value into scheme and credentials (RFC 9110 §11.4: the scheme is
    /// case-insensitive).
    pub fn parse(value: &'a str) -> Self {
        let value = value.trim();
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            Self::Basic(rest.trim())
        } else if scheme.eq_ignore_ascii_case("negotiate") {
            Self::Negotiate(rest.trim())
        } else {
            Self::Other(scheme)
        }
    }
}

/// Reads the one credential the request presents, taking the credential parameters out
/// of the form so the grant never sees them.
pub fn presented(
    authorization: Option<Authorization<'_>>,
    form: &mut Form,
) -> Result<Presented, OAuthError> {
    let form_id = form.take("client_id");
    let form_secret = form.take("client_secret");
    let assertion_type = form.take("client_assertion_type");
    let assertion = form.take("client_assertion");
    // A service account's app password (client_credentials and the password grant only:
    // `username`/`password` mean nothing else at /token).
    if matches!(
        form.get("grant_type"),
        Some("client_credentials" | "password")
    ) {
        let (username, password) = (form.take("username"), form.take("password"));
        match (username, password) {
            (None, None) => {}
            (Some(name), Some(password)) => {
                if authorization.is_some()
                    || form_secret.is_some()
                    || assertion.is_some()
                    || assertion_type.is_some()
                {
                    return Err(OAuthError::invalid_request(
                        "more than one client authentication method (username/password and another)",
                    ));
                }
                let client_id = form_id.ok_or_else(|| {
                    OAuthError::invalid_request("client_id is required with username and password")
                })?;
                return Ok(Presented::ServiceAccount {
                    client_id,
                    name,
                    password: ClientSecret::new(password),
                });
            }
            _ => {
                return Err(OAuthError::invalid_request(
                    "username and password come together",
                ));
            }
        }
    }
    if assertion_type.is_some() || assertion.is_some() {
        if authorization.is_some() || form_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "more than one client authentication method (client_assertion and another)",
            ));
        }
        let spiffe = match assertion_type.as_deref() {
            Some(jwt_assertion::JWT_BEARER) => false,
            Some(crate::oauth::federation::JWT_SPIFFE) => true,
            _ => {
                return Err(OAuthError::invalid_request(format!(
                    "client_assertion_type must be {} (or {} for a JWT-SVID)",
                    jwt_assertion::JWT_BEARER,
                    crate::oauth::federation::JWT_SPIFFE
                )));
            }
        };
        let assertion =
            assertion.ok_or_else(|| OAuthError::invalid_request("client_assertion is missing"))?;
        // A federated client's assertion is its platform's token, whose `sub` is not the
        // client_id: the form names the client then. A private_key_jwt assertion must
        // still have `sub` = client_id, which its verification checks.
        let client_id = match form_id {
            Some(id) => id,
            None => jwt_assertion::claimed_client_id(&assertion)?,
        };
        return Ok(Presented::ClientAssertion {
            client_id,
            assertion,
            spiffe,
        });
    }
    match authorization {
        Some(Authorization::Basic(credentials)) => {
            if form_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "more than one client authentication method (Basic and client_secret)",
                ));
            }
            let (client_id, secret) = client_secret_basic::decode(credentials)?;
            if form_id.as_deref().is_some_and(|id| id != client_id) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the Basic credentials",
                ));
            }
            Ok(Presented::ClientSecretBasic { client_id, secret })
        }
        Some(Authorization::Negotiate(b64)) => {
            if form_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "more than one client authentication method (Negotiate and client_secret)",
                ));
            }
            let token = kerberos_client_auth::NegotiateToken::decode(b64)?;
            let client_id = form_id.ok_or_else(|| {
                OAuthError::invalid_request("client_id is required with Negotiate")
            })?;
            Ok(Presented::Negotiate { client_id, token })
        }
        Some(Authorization::Other(scheme)) => Err(OAuthError::invalid_client(format!(
            "unsupported Authorization scheme {:?}",
            scheme.chars().take(20).collect::<String>()
        ))),
        None => client_secret_post::presented(form_id, form_secret),
    }
}

/// Parses a form body and reads the one credential it (with the `Authorization` header)
/// presents, for endpoints other than `/token` (introspection, revocation).
pub fn parse_client_request(
    authorization: Option<Authorization<'_>>,
    body: &[u8],
) -> Result<(Presented, Form), OAuthError> {
    let mut form = Form::parse(body)?;
    let p = presented(authorization, &mut form)?;
    Ok((p, form))
}

/// A client that proved its identity.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The registered client.
    pub client: Arc<Client>,
    /// The method it used.
    pub method: TokenEndpointAuthMethod,
    /// The token's `sub`: the client_id, or the principal for a template client.
    pub subject: String,
    /// The Kerberos principal, when the client authenticated with Negotiate.
    pub principal: Option<String>,
    /// For assertions: the `jti` the caller must record as used until it expires.
    pub assertion: Option<jwt_assertion::VerifiedAssertion>,
    /// For federated_jwt: the external token it presented.
    pub external: Option<crate::oauth::federation::ExternalToken>,
    /// Claims the credential adds to the token (federated_claims).
    pub claims: Option<serde_json::Map<String, serde_json::Value>>,
    /// The service account whose app password authenticated (its name is `subject`).
    pub service_account: Option<String>,
}

impl Authenticated {
    fn as_client(client: &Arc<Client>, method: TokenEndpointAuthMethod) -> Self {
        Self {
            client: Arc::clone(client),
            method,
            subject: client.client_id.clone(),
            principal: None,
            assertion: None,
            external: None,
            claims: None,
            service_account: None,
        }
    }
}

/// A hash to compare against when the client is unknown, so that an unknown client_id
/// costs the same as a wrong secret.
fn decoy_hash() -> SecretHash {
    SecretHash::of(&ClientSecret::new(String::new()))
}

/// What authentication needs besides the registry and the request.
#[derive(Debug, Clone, Copy)]
pub struct AuthContext<'a> {
    /// The principal the GSSAPI adapter proved for a [`Presented::Negotiate`].
    pub verified_principal: Option<&'a str>,
    /// Now, seconds since the epoch (assertion expiry).
    pub now: u64,
    /// Audience and lifetime rules for client assertions.
    pub assertion_rules: &'a jwt_assertion::AssertionRules,
    /// The client certificate the transport verified, if any.
    pub certificate: Option<&'a tls_client_auth::PresentedCertificate>,
    /// For a private_key_jwt client with `jwks_uri`, or a federated_jwt client whose
    /// issuer's keys are fetched: the keys the adapter fetched.
    pub fetched_keys: Option<&'a [jwt_assertion::AssertionKey]>,
    /// The trusted external issuers (federated_jwt).
    pub issuers: &'a crate::oauth::federation::TrustedIssuers,
    /// The service account the request names, as the adapter found it.
    pub service_account: Option<&'a crate::oauth::service_account::ServiceAccount>,
}

/// Checks a presented credential against the registry.
pub fn authenticate(
    registry: &ClientRegistry,
    presented: Presented,
    ctx: AuthContext<'_>,
) -> Result<Authenticated, OAuthError> {
    let verified_principal = ctx.verified_principal;
    let method = presented.method();
    let Some(client) = registry.get(presented.client_id()) else {
        if let Presented::ClientSecretBasic { secret, .. }
        | Presented::ClientSecretPost { secret, .. } = &presented
        {
            let _ = decoy_hash().verify(secret);
        }
        return Err(OAuthError::invalid_client("unknown client_id"));
    };
    if let Some(account) = service_account_presented(client, &presented) {
        return service_account(client, account, ctx);
    }
    match (&client.credential, presented) {
        (_, Presented::ServiceAccount { .. }) => Err(OAuthError::invalid_client(
            "username/password were sent, and this client does not accept service accounts (service_accounts = true)",
        )),
        (Credential::TlsClientAuth(identity), Presented::None { .. }) => {
            let cert = ctx.certificate.ok_or_else(|| {
                OAuthError::invalid_client("tls_client_auth client presented no client certificate")
            })?;
            if cert.trust != tls_client_auth::CertTrust::CaVerified {
                return Err(OAuthError::invalid_client(
                    "client certificate is not issued by a configured client CA",
                ));
            }
            if !tls_client_auth::matches(identity, &cert.der)? {
                return Err(OAuthError::invalid_client(
                    "client certificate does not carry the registered subject DN or SAN",
                ));
            }
            Ok(Authenticated::as_client(
                client,
                TokenEndpointAuthMethod::TlsClientAuth,
            ))
        }
        (Credential::SelfSignedTlsClientAuth(prints), Presented::None { .. }) => {
            let cert = ctx.certificate.ok_or_else(|| {
                OAuthError::invalid_client(
                    "self_signed_tls_client_auth client presented no client certificate",
                )
            })?;
            if !prints.contains(&cert.thumbprint) {
                return Err(OAuthError::invalid_client(format!(
                    "client certificate {} is not registered for this client",
                    cert.x5t_s256()
                )));
            }
            Ok(Authenticated::as_client(
                client,
                TokenEndpointAuthMethod::SelfSignedTlsClientAuth,
            ))
        }
        (Credential::TlsClientAuth(_) | Credential::SelfSignedTlsClientAuth(_), other) => {
            Err(OAuthError::invalid_client(format!(
                "client is registered for {}, request used {}",
                registered_method(&client.credential),
                other.method().as_str()
            )))
        }
        (_, Presented::ClientAssertion { spiffe: true, .. })
            if !matches!(client.credential, Credential::FederatedJwt(_)) =>
        {
            Err(OAuthError::invalid_client_explained(format!(
                "client_assertion_type {} is only for federated_jwt clients; this one is registered for {}",
                crate::oauth::federation::JWT_SPIFFE,
                registered_method(&client.credential)
            )))
        }
        (Credential::FederatedJwt(rule), Presented::ClientAssertion { assertion, .. }) => {
            federated(client, rule, &assertion, ctx)
        }
        // Tools that can only set a password (read from a file) send the JWT as the
        // client secret.
        (Credential::FederatedJwt(rule), Presented::ClientSecretBasic { secret, .. })
        | (Credential::FederatedJwt(rule), Presented::ClientSecretPost { secret, .. }) => {
            federated(client, rule, secret.expose(), ctx)
        }
        (Credential::FederatedJwt(_), other) => Err(OAuthError::invalid_client(format!(
            "client is registered for federated_jwt, request used {} (send the platform's JWT as client_assertion or client_secret)",
            other.method().as_str()
        ))),
        (Credential::PrivateKeyJwt(source), Presented::ClientAssertion { assertion, .. }) => {
            let keys: &[jwt_assertion::AssertionKey] = match source {
                JwksSource::Inline(keys) => keys,
                JwksSource::Uri { .. } => ctx.fetched_keys.ok_or_else(|| {
                    OAuthError::server_error("jwks_uri keys were not fetched before authentication")
                })?,
            };
            let verifier = jwt_assertion::Verifier::Keys(keys);
            assertion_authenticated(
                client,
                &assertion,
                verifier,
                TokenEndpointAuthMethod::PrivateKeyJwt,
                ctx,
            )
        }
        (Credential::ClientSecretJwt(secret), Presented::ClientAssertion { assertion, .. }) => {
            let verifier = jwt_assertion::Verifier::Secret(secret);
            assertion_authenticated(
                client,
                &assertion,
                verifier,
                TokenEndpointAuthMethod::ClientSecretJwt,
                ctx,
            )
        }
        (Credential::PrivateKeyJwt(_) | Credential::ClientSecretJwt(_), other) => {
            let registered = if matches!(client.credential, Credential::PrivateKeyJwt(_)) {
                "private_key_jwt"
            } else {
                "client_secret_jwt"
            };
            Err(OAuthError::invalid_client(format!(
                "client is registered for {registered}, request used {}",
                other.method().as_str()
            )))
        }
        (_, Presented::ClientAssertion { .. }) => Err(OAuthError::invalid_client(format!(
            "client is registered for {}, request used a client_assertion",
            registered_method(&client.credential)
        ))),
        (
            Credential::Secret {
                method: registered,
                hash,
            },
            Presented::ClientSecretBasic { secret, .. },
        )
        | (
            Credential::Secret {
                method: registered,
                hash,
            },
            Presented::ClientSecretPost { secret, .. },
        ) => {
            // Verify first, so a wrong method does not answer faster than a wrong secret.
            let secret_ok = hash.verify(&secret);
            if *registered != method {
                return Err(OAuthError::invalid_client(format!(
                    "client is registered for {}, request used {}",
                    registered.as_str(),
                    method.as_str()
                )));
            }
            if !secret_ok {
                return Err(OAuthError::invalid_client("wrong client secret"));
            }
            Ok(Authenticated::as_client(client, method))
        }
        (Credential::Kerberos(identity), Presented::Negotiate { .. }) => {
            let principal = verified_principal.ok_or_else(|| {
                OAuthError::server_error("Negotiate token was not verified before authentication")
            })?;
            let subject = kerberos_client_auth::subject(identity, &client.client_id, principal)?;
            Ok(Authenticated {
                client: Arc::clone(client),
                method,
                subject,
                principal: Some(principal.to_owned()),
                assertion: None,
                external: None,
                claims: None,
                service_account: None,
            })
        }
        (Credential::Kerberos(_), Presented::None { .. }) => Err(OAuthError::invalid_client(
            "kerberos client presented no Negotiate token",
        )),
        (Credential::Kerberos(_), _) => Err(OAuthError::invalid_client(format!(
            "client is registered for kerberos_client_auth, request used {}",
            method.as_str()
        ))),
        (
            Credential::Secret {
                method: registered, ..
            },
            Presented::Negotiate { .. },
        ) => Err(OAuthError::invalid_client(format!(
            "client is registered for {}, request used kerberos_client_auth",
            registered.as_str()
        ))),
        (Credential::Public, Presented::Negotiate { .. }) => Err(OAuthError::invalid_client(
            "client is registered for none, request used kerberos_client_auth",
        )),
        (Credential::Secret { .. }, Presented::None { .. }) => Err(OAuthError::invalid_client(
            "confidential client presented no credentials",
        )),
        (Credential::Public, Presented::None { .. }) => {
            Ok(Authenticated::as_client(client, method))
        }
        (Credential::Public, _) => Err(OAuthError::invalid_client(
            "public client presented a secret",
        )),
    }
}

fn assertion_authenticated(
    client: &Arc<Client>,
    assertion: &str,
    verifier: jwt_assertion::Verifier<'_>,
    method: TokenEndpointAuthMethod,
    ctx: AuthContext<'_>,
) -> Result<Authenticated, OAuthError> {
    let verified = jwt_assertion::verify(
        assertion,
        &client.client_id,
        verifier,
        ctx.assertion_rules,
        ctx.now,
    )?;
    let mut a = Authenticated::as_client(client, method);
    a.assertion = Some(verified);
    Ok(a)
}

/// The service account name and app password `presented` carries for `client` (one that
/// accepts them): `username`/`password`, or a `client_secret` of `base64(SA:TOKEN)`.
pub fn service_account_presented(
    client: &Client,
    presented: &Presented,
) -> Option<(String, ClientSecret)> {
    if !client.service_accounts {
        return None;
    }
    match presented {
        Presented::ServiceAccount { name, password, .. } => Some((name.clone(), password.clone())),
        Presented::ClientSecretBasic { secret, .. }
        | Presented::ClientSecretPost { secret, .. } => {
            crate::oauth::service_account::from_secret(secret)
        }
        _ => None,
    }
}

fn service_account(
    client: &Arc<Client>,
    (name, password): (String, ClientSecret),
    ctx: AuthContext<'_>,
) -> Result<Authenticated, OAuthError> {
    let Some(account) = ctx
        .service_account
        .filter(|a| a.name == name && a.client_id == client.client_id)
    else {
        let _ = decoy_hash().verify(&password);
        return Err(OAuthError::invalid_client(format!(
            "no service account {name:?} of {}",
            client.client_id
        )));
    };
    account.verify(&password, ctx.now).map_err(|e| {
        OAuthError::invalid_client(format!(
            "service account {name} of {}: {e}",
            client.client_id
        ))
    })?;
    let mut a = Authenticated::as_client(client, TokenEndpointAuthMethod::ClientSecretPost);
    a.subject = name.clone();
    a.service_account = Some(name);
    Ok(a)
}

/// Checks a federated client's external token: the issuer's rules, then the client's.
fn federated(
    client: &Arc<Client>,
    rule: &crate::oauth::federation::FederationRule,
    token: &str,
    ctx: AuthContext<'_>,
) -> Result<Authenticated, OAuthError> {
    use crate::oauth::federation;
    let issuer = ctx.issuers.get(&rule.issuer).ok_or_else(|| {
        OAuthError::server_error(format!(
            "client {} trusts {}, which is not a [[trusted_issuers]] entry",
            client.client_id, rule.issuer
        ))
    })?;
    let keys: &[jwt_assertion::AssertionKey] = match (&issuer.static_keys, ctx.fetched_keys) {
        (Some(keys), _) => keys,
        (None, Some(keys)) => keys,
        (None, None) => {
            return Err(OAuthError::server_error(
                "the issuer's keys were not fetched before authentication",
            ));
        }
    };
    let external = federation::verify(token, issuer, keys, ctx.now).map_err(|e| {
        let reason = format!("federated token: {e}");
        if e.unknown_key() {
            OAuthError::invalid_client_unknown_key(reason)
        } else {
            OAuthError::invalid_client_explained(reason)
        }
    })?;
    rule.check(&external).map_err(|m| {
        OAuthError::invalid_client_explained(format!("federated token of {}: {m}", external.issuer))
    })?;
    let mut a = Authenticated::as_client(client, TokenEndpointAuthMethod::FederatedJwt);
    a.subject = rule.subject_for(&external, &client.client_id);
    a.claims = rule.copied(&external);
    a.external = Some(external);
    Ok(a)
}

/// The registered method of a credential, for log reasons.
pub fn registered_method(credential: &Credential) -> &'static str {
    match credential {
        Credential::Secret { method, .. } => method.as_str(),
        Credential::Kerberos(_) => "kerberos_client_auth",
        Credential::PrivateKeyJwt(_) => "private_key_jwt",
        Credential::ClientSecretJwt(_) => "client_secret_jwt",
        Credential::TlsClientAuth(_) => "tls_client_auth",
        Credential::SelfSignedTlsClientAuth(_) => "self_signed_tls_client_auth",
        Credential::FederatedJwt(_) => "federated_jwt",
        Credential::Public => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::client::{ClientRegistration, ClientSource};

    pub(crate) fn registry() -> ClientRegistry {
        let mk = |id: &str, method, secret: Option<&str>| {
            Client::from_registration(
                &ClientRegistration {
                    client_id: id.into(),
                    token_endpoint_auth_method: method,
                    client_secret_hash: secret
                        .map(|s| SecretHash::of(&ClientSecret::new(s.into())).to_stored()),
                    scopes: vec!["read".into()],
                    audience: vec![],
                    token_lifetime_secs: None,
                    ..Default::default()
                },
                ClientSource::Config,
                None,
            )
            .unwrap()
        };
        ClientRegistry::new(
            vec![
                mk(
                    "basic",
                    TokenEndpointAuthMethod::ClientSecretBasic,
                    Some("s3cret"),
                ),
                mk(
                    "post",
                    TokenEndpointAuthMethod::ClientSecretPost,
                    Some("s3cret"),
                ),
                mk("public", TokenEndpointAuthMethod::None, None),
            ],
            vec![],
        )
        .0
    }

    fn basic(id: &str, secret: &str) -> String {
        client_secret_basic::encode(id, secret)
    }

    fn run(auth: Option<&str>, body: &[u8]) -> Result<Authenticated, OAuthError> {
        let mut form = Form::parse(body)?;
        let p = presented(auth.map(Authorization::parse), &mut form)?;
        let rules = jwt_assertion::AssertionRules {
            audiences: vec!["https://idp.test/token".into()],
            max_lifetime_secs: 300,
            leeway_secs: 60,
        };
        authenticate(
            &registry(),
            p,
            AuthContext {
                verified_principal: None,
                now: 1_800_000_000,
                assertion_rules: &rules,
                certificate: None,
                fetched_keys: None,
                issuers: &Default::default(),
                service_account: None,
            },
        )
    }

    #[test]
    fn accepts_client_secret_basic() {
        let h = format!("Basic {}", basic("basic", "s3cret"));
        assert_eq!(
            run(Some(&h), b"").unwrap().method,
            TokenEndpointAuthMethod::ClientSecretBasic
        );
    }

    #[test]
    fn accepts_client_secret_post() {
        let a = run(None, b"client_id=post&client_secret=s3cret").unwrap();
        assert_eq!(a.client.client_id, "post");
    }

    #[test]
    fn rejects_wrong_secret_as_invalid_client() {
        let h = format!("Basic {}", basic("basic", "nope"));
        assert_eq!(run(Some(&h), b"").unwrap_err().code(), "invalid_client");
    }

    #[test]
    fn rejects_unknown_client_as_invalid_client() {
        assert_eq!(
            run(None, b"client_id=ghost&client_secret=x")
                .unwrap_err()
                .code(),
            "invalid_client"
        );
    }

    #[test]
    fn rejects_two_methods_at_once() {
        let h = format!("Basic {}", basic("basic", "s3cret"));
        assert_eq!(
            run(Some(&h), b"client_secret=s3cret").unwrap_err().code(),
            "invalid_request"
        );
    }

    #[test]
    fn rejects_body_client_id_that_differs_from_basic() {
        let h = format!("Basic {}", basic("basic", "s3cret"));
        assert_eq!(
            run(Some(&h), b"client_id=post").unwrap_err().code(),
            "invalid_request"
        );
    }

    #[test]
    fn rejects_method_other_than_registered() {
        let h = format!("Basic {}", basic("post", "s3cret"));
        assert_eq!(run(Some(&h), b"").unwrap_err().code(), "invalid_client");
    }

    #[test]
    fn rejects_confidential_client_without_secret() {
        assert_eq!(
            run(None, b"client_id=basic").unwrap_err().code(),
            "invalid_client"
        );
    }

    #[test]
    fn rejects_request_without_any_client() {
        assert_eq!(
            run(None, b"grant_type=client_credentials")
                .unwrap_err()
                .code(),
            "invalid_client"
        );
    }

    #[test]
    fn public_client_authenticates_with_none() {
        assert_eq!(
            run(None, b"client_id=public").unwrap().method,
            TokenEndpointAuthMethod::None
        );
    }

    #[test]
    fn rejects_unknown_authorization_scheme() {
        assert_eq!(
            run(Some("Bearer abc"), b"").unwrap_err().code(),
            "invalid_client"
        );
    }
}
