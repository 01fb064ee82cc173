//! `POST /token` (RFC 6749 §3.2): the one token flow, for production and tests alike.
//!
//! ```text
//!   request::parse ──► TokenRequest { client: Presented, grant: Grant }
//!        │
//!   authenticate: Negotiate ──► ports::NegotiateAcceptor, then the AP-REQ replay record
//!                 jwks_uri  ──► ports::ClientKeySource (refetched once on an unknown kid)
//!                 client_auth::authenticate (registry), then the assertion jti record
//!        │
//!   DPoP proof (token::dpop), server nonce, proof jti record ──► ports::ReplayCache
//!        │
//!   directory requirements ──► ports::DirectoryLookup, directory_policy
//!        │
//!   grant/<grant>.rs: the grant's rules and scope ──► issue::issue ──► Issued
//! ```
//!
//! The caller (`service`) hands in the settings, the registry and keys of the moment,
//! the clock reading, a fresh `jti`, the random source and the adapters; tier-(a) tests
//! hand in `oauth::testing` fakes. Nothing here does I/O of its own.

use aws_lc_rs::rand::SecureRandom;

use super::client::{ClientRegistry, Credential, JwksSource};
use super::client_auth::jwt_assertion::{AssertionRules, VerifiedAssertion};
use super::client_auth::tls_client_auth::PresentedCertificate;
use super::client_auth::{self, AuthContext, Authenticated, Authorization, Presented};
use super::error::OAuthError;
use super::grant::authorization_code::{self, CodeGrant};
use super::grant::{Grant, client_credentials};
use super::issue::{Binding, Issued};
use super::person::{self, DeviceRules, PersonGrant, RefreshRules};
use super::ports::{
    AuthorizationCodes, ClientKeySource, DeviceCodes, DirectoryLookup, IssuerKeySource,
    NegotiateAcceptor, RefreshTokens, ReplayCache, RevocationList,
};
use super::scope::Scopes;
use crate::token::dpop::{self, ProofTarget, VerifiedProof};
use crate::token::keys::KeySet;

/// Replay namespace of client assertion `jti`s (RFC 7523 §3 item 7).
pub const ASSERTION_NAMESPACE: &str = "assertion-jti";
/// Replay namespace of trusted issuers' token `jti`s (by the issuer's `jti` policy).
pub const FEDERATED_NAMESPACE: &str = "federated-jti";
/// Replay namespace of DPoP proof `jti`s (RFC 9449 §11.1).
pub const DPOP_NAMESPACE: &str = "dpop-jti";
/// Replay namespace of accepted AP-REQs.
pub const AP_REQ_NAMESPACE: &str = "krb5-ap-req";

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
    /// Refresh tokens.
    pub refresh: RefreshRules,
    /// The device grant.
    pub device: DeviceRules,
    /// `[[trusted_issuers]]`: external issuers whose JWTs authenticate federated clients.
    pub trusted_issuers: super::federation::TrustedIssuers,
}

/// DPoP rules (RFC 9449), from `[dpop]` and the master key.
#[derive(Debug, Clone, Copy)]
pub struct DpopRules<'a> {
    /// `{issuer}/token`: the `htu` of token-endpoint proofs.
    pub token_url: &'a str,
    /// How old a proof's `iat` may be; its `jti` is remembered that long.
    pub max_age_secs: u64,
    /// Token-endpoint proofs must carry a server nonce.
    pub require_nonce: bool,
    /// Signs and checks nonces (derived from the master key: every node agrees).
    pub nonce_key: &'a [u8; 32],
    /// How long an issued nonce is accepted.
    pub nonce_lifetime_secs: u64,
}

/// Everything one request may need besides what it carries.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// Token settings.
    pub settings: &'a TokenSettings,
    /// The clients of the moment.
    pub registry: &'a ClientRegistry,
    /// The signing keys of the moment.
    pub keys: &'a KeySet,
    /// DPoP rules.
    pub dpop: DpopRules<'a>,
    /// Single-use records.
    pub replay: &'a dyn ReplayCache,
    /// The Kerberos acceptor, when Negotiate is on.
    pub negotiate: Option<&'a dyn NegotiateAcceptor>,
    /// `jwks_uri` keys.
    pub client_keys: &'a dyn ClientKeySource,
    /// Fetched keys of trusted issuers.
    pub issuer_keys: &'a dyn IssuerKeySource,
    /// The directory, when configured.
    pub directory: Option<&'a dyn DirectoryLookup>,
    /// Authorization codes (sign-in).
    pub codes: Option<&'a dyn AuthorizationCodes>,
    /// Device codes.
    pub devices: Option<&'a dyn DeviceCodes>,
    /// Refresh tokens.
    pub refresh: Option<&'a dyn RefreshTokens>,
    /// Revoked tokens.
    pub revocations: &'a dyn RevocationList,
    /// What the encrypted tokens issued carry (none: encrypted tokens are not remembered).
    pub encrypted: Option<&'a dyn super::ports::EncryptedTokens>,
    /// Service accounts.
    pub service_accounts: Option<&'a dyn super::ports::ServiceAccounts>,
    /// Now, seconds since the epoch.
    pub now: u64,
    /// The random source (signatures).
    pub rng: &'a (dyn SecureRandom + Sync),
}

/// One token request, as the transport received it.
#[derive(Debug, Clone, Copy)]
pub struct TokenRequest<'a> {
    /// The parsed `Authorization` header, if any.
    pub authorization: Option<Authorization<'a>>,
    /// The form body (the caller checked the media type and the size).
    pub body: &'a [u8],
    /// The client certificate the connection presented and the transport trusted.
    pub certificate: Option<&'a PresentedCertificate>,
    /// The one `DPoP` header, if any.
    pub dpop: Option<&'a str>,
    /// A fresh unique id for the token (the caller's random source).
    pub jti: &'a str,
}

/// `POST /token`, end to end.
pub async fn token(request: TokenRequest<'_>, ctx: &Context<'_>) -> Result<Issued, OAuthError> {
    let parsed = super::request::parse(request.authorization, request.body)?;
    let (authenticated, mutual) = authenticate(parsed.client, request.certificate, ctx).await?;
    let proof = match request.dpop {
        Some(p) => {
            let target = ProofTarget {
                htm: "POST",
                htu: ctx.dpop.token_url,
                access_token: None,
            };
            Some(check_proof(p, target, true, ctx).await?)
        }
        None => None,
    };
    let binding = Binding {
        certificate: request.certificate,
        dpop_jkt: proof.as_ref().map(|p| p.jkt.as_str()),
    };
    let mut extra = match directory_claims(&authenticated, ctx).await? {
        Some(claims) => Some(claims),
        None => authenticated.claims.clone(),
    };
    let mut authenticated = authenticated;
    let client_principal = authenticated.principal.clone();
    let mut exchanged = None;
    let mut bearer_subject = None;
    let (scope, person) = match &parsed.grant {
        Grant::ClientCredentials(g) => (
            client_credentials::authorize(
                &authenticated.client,
                g,
                authenticated.service_account.is_some(),
            )?,
            None,
        ),
        Grant::Password(g) => {
            if authenticated.service_account.is_none() {
                return Err(OAuthError::unauthorized_client(
                    "grant_type=password takes only a service account's app password (people sign in at /authorize)",
                ));
            }
            (
                client_credentials::authorize(&authenticated.client, g, true)?,
                None,
            )
        }
        Grant::JwtBearer(g) => {
            let refused = |m: String| OAuthError::invalid_grant(format!("assertion: {m}"));
            let claimed = super::federation::claimed_issuer(&g.assertion)
                .ok_or_else(|| refused("not a JWT this server can read".into()))?;
            let external = external_token(&g.assertion, &claimed, ctx)
                .await?
                .map_err(refused)?;
            let (scope, subject) =
                super::grant::jwt_bearer::authorize(&authenticated.client, g, &external)?;
            bearer_subject = Some(subject);
            (scope, None)
        }
        Grant::TokenExchange(g) => {
            let x = exchange(&authenticated, g, ctx).await?;
            let scope = x.scope.clone();
            exchanged = Some((x, g.requested_token_type));
            (scope, None)
        }
        Grant::AuthorizationCode(g) => {
            let (scope, grant) = redeem_code(&authenticated, g, request.jti, ctx).await?;
            (
                scope,
                Some(PersonGrant {
                    subject: grant.subject,
                    auth_time: grant.auth_time,
                    amr: grant.amr,
                    sid: grant.sid,
                    claims: grant.claims,
                    nonce: grant.nonce,
                    resource: grant.resource,
                    family: None,
                }),
            )
        }
        Grant::DeviceCode(g) => {
            let (scope, person) =
                person::poll_device(&authenticated.client, client_principal.as_deref(), g, ctx)
                    .await?;
            (scope, Some(person))
        }
        Grant::RefreshToken(g) => {
            let (scope, person) = person::refresh(
                &authenticated.client,
                client_principal.as_deref(),
                g,
                binding.dpop_jkt,
                request.certificate,
                ctx,
            )
            .await?;
            (scope, Some(person))
        }
    };
    if let Some(person) = &person {
        // The token is the person's: `sub` is theirs, and nothing of a Kerberos
        // client's own principal or directory entry is mixed in.
        authenticated.subject = person.subject.clone();
        authenticated.principal = None;
        extra = None;
    }
    if let Some(subject) = bearer_subject {
        // The token is the assertion's subject's.
        authenticated.subject = subject;
        authenticated.principal = None;
        extra = None;
    }
    if let Some((x, _)) = &exchanged {
        // The token is the subject's, with the actor chain; nothing of the client's own
        // principal or directory entry.
        authenticated.subject = x.subject.clone();
        authenticated.principal = None;
        let mut claims = serde_json::Map::new();
        claims.insert("act".into(), x.act.clone());
        extra = Some(claims);
    }
    let scope = apply_scope_policies(&authenticated, scope, ctx).await?;
    let client = std::sync::Arc::clone(&authenticated.client);
    let resource = match (&person, &exchanged) {
        (Some(g), _) => g.resource.as_slice(),
        (None, Some((x, _))) => x.audiences.as_slice(),
        (None, None) => &[],
    };
    let audit_client = exchanged
        .as_ref()
        .map(|_| (client.client_id.clone(), authenticated.subject.clone()));
    let mut issued = super::issue::issue(
        ctx.settings,
        ctx.keys,
        authenticated,
        &scope,
        binding,
        extra.as_ref(),
        resource,
        exchanged.as_ref().map(|(x, _)| x.not_after),
        ctx.now,
        request.jti,
        ctx.rng,
    )?;
    if let (Some((x, requested)), Some((client_id, subject))) = (&exchanged, audit_client) {
        issued.response.issued_token_type = Some(requested.as_str());
        let act = x.act.to_string();
        let audience = x.audiences.join(" ");
        log::info!(target: "ahdapa::audit", event = "token.exchanged", client_id = client_id.as_str(),
            subject = subject.as_str(), act = act.as_str(), audience = audience.as_str(),
            scope = issued.response.scope.as_str(), jti = request.jti; "token exchanged");
    }
    // A client with an encryption key gets JWE around the signed tokens (sign, then
    // encrypt); the access token first, so that the ID token's at_hash is of the value
    // the client receives.
    if let Some(key) = &client.encryption {
        encrypt_access_token(&mut issued, key, ctx).await?;
    }
    if let Some(person) = person {
        person::finish(
            &mut issued,
            &client,
            client_principal.as_deref(),
            &scope,
            person,
            binding.dpop_jkt,
            request.certificate,
            ctx,
        )
        .await?;
    }
    if let (Some(key), Some(id_token)) = (&client.encryption, issued.response.id_token.as_mut()) {
        *id_token = key
            .encrypt(id_token, ctx.rng)
            .map_err(|e| OAuthError::server_error(e.to_string()))?;
    }
    issued.mutual_auth_token = mutual;
    Ok(issued)
}

/// Replaces the signed access token by a JWE for `key`, remembering its claims for
/// `/introspect`, `/revoke` and `/userinfo` (ahdapa cannot decrypt it).
async fn encrypt_access_token(
    issued: &mut Issued,
    key: &crate::token::jwe::EncryptionKey,
    ctx: &Context<'_>,
) -> Result<(), OAuthError> {
    let signed = &issued.response.access_token;
    let claims = crate::token::access_token::unverified_claims(signed)
        .ok_or_else(|| OAuthError::server_error("the access token just signed does not parse"))?;
    let jwe = key
        .encrypt(signed, ctx.rng)
        .map_err(|e| OAuthError::server_error(e.to_string()))?;
    if let Some(encrypted) = ctx.encrypted {
        let exp = claims
            .get("exp")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(ctx.now);
        encrypted.remember(&jwe, &claims, exp).await?;
    }
    issued.response.access_token = jwe;
    Ok(())
}

/// The client's scope policies, for every grant: a scope that needs directory groups
/// stays only when the token's subject (its principal for a Kerberos client, else its
/// `sub`: a person's principal, a service account) is in one of them. Nothing left is
/// `invalid_scope`.
async fn apply_scope_policies(
    authenticated: &Authenticated,
    scope: Scopes,
    ctx: &Context<'_>,
) -> Result<Scopes, OAuthError> {
    let policies = &authenticated.client.scope_policies;
    if !scope.tokens().iter().any(|s| policies.contains_key(s)) {
        return Ok(scope);
    }
    let Some(directory) = ctx.directory else {
        return Err(OAuthError::server_error(format!(
            "client {} has scope_policies but no [directory] is configured",
            authenticated.client.client_id
        )));
    };
    let subject = authenticated
        .principal
        .as_deref()
        .unwrap_or(&authenticated.subject);
    let entry = directory.principal(subject).await?;
    let groups: &[String] = match entry.as_deref() {
        Some(e) if !e.locked => &e.groups,
        _ => &[],
    };
    let mut refused = Vec::new();
    let kept: Vec<String> = scope
        .tokens()
        .iter()
        .filter(|s| match policies.get(*s) {
            None => true,
            Some(p) if p.groups.iter().any(|g| groups.contains(g)) => true,
            Some(p) => {
                refused.push(format!("{s} (needs one of {:?})", p.groups));
                false
            }
        })
        .cloned()
        .collect();
    if !refused.is_empty() {
        log::info!(client_id = authenticated.client.client_id.as_str(), subject = subject,
            dropped = refused.join(", ").as_str(); "scopes dropped by scope_policies");
    }
    if kept.is_empty() {
        return Err(OAuthError::invalid_scope(format!(
            "{subject} is not in the groups these scopes need: {}",
            refused.join(", ")
        )));
    }
    Ok(Scopes::from_registered(kept))
}

/// RFC 8693: verifies the subject and actor tokens and applies the client's rules.
async fn exchange(
    authenticated: &Authenticated,
    request: &super::grant::token_exchange::Request,
    ctx: &Context<'_>,
) -> Result<super::grant::token_exchange::Exchanged, OAuthError> {
    use super::grant::token_exchange;
    let subject = verify_party(
        &request.subject_token,
        request.subject_token_type,
        "subject_token",
        ctx,
    )
    .await?;
    let actor = match &request.actor_token {
        None => None,
        Some((token, ty)) => Some(verify_party(token, *ty, "actor_token", ctx).await?),
    };
    token_exchange::authorize(
        &authenticated.client,
        (&authenticated.subject, &ctx.settings.issuer),
        request,
        &subject,
        actor.as_ref(),
    )
}

/// Verifies a token given to the token exchange: one of ahdapa's (an access token, not
/// revoked; an ID token), or a trusted issuer's JWT.
async fn verify_party(
    token: &str,
    ty: super::grant::token_exchange::TokenType,
    param: &str,
    ctx: &Context<'_>,
) -> Result<super::grant::token_exchange::Party, OAuthError> {
    use super::grant::token_exchange::{Party, TokenType};
    use crate::token::access_token;
    let bad = |m: String| OAuthError::invalid_request(format!("{param}: {m}"));
    let claimed = super::federation::claimed_issuer(token)
        .ok_or_else(|| bad("not a JWT this server can read".into()))?;
    if claimed == ctx.settings.issuer {
        let claims = match ty {
            TokenType::AccessToken | TokenType::Jwt => {
                // HS256 tokens are not exchanged: their client could have signed any.
                let claims =
                    access_token::verify(token, ctx.keys, &ctx.settings.issuer, ctx.now, None)
                        .map_err(|e| bad(e.to_string()))?;
                if super::introspection::is_revoked(&claims, ctx.revocations, ctx.now).await? {
                    return Err(bad("the token is revoked".into()));
                }
                claims
            }
            TokenType::IdToken => {
                let claims =
                    access_token::verify_ours(token, ctx.keys, &ctx.settings.issuer, "JWT", None)
                        .map_err(|e| bad(e.to_string()))?;
                if claims
                    .get("exp")
                    .and_then(|e| e.as_u64())
                    .is_none_or(|exp| exp <= ctx.now)
                {
                    return Err(bad("the ID token has expired".into()));
                }
                claims
            }
        };
        return Party::from_claims(&claims, true);
    }
    if ty == TokenType::IdToken {
        return Err(bad(format!(
            "an id_token must be one of this server's, not {claimed:?}'s"
        )));
    }
    let external = external_token(token, &claimed, ctx).await?.map_err(bad)?;
    Party::from_claims(&external.claims, false)
}

/// Verifies a trusted issuer's JWT (token exchange, the jwt-bearer grant) and records its
/// `jti` by the issuer's policy. The inner error is the token's fault, said in words;
/// the outer one an outage.
async fn external_token(
    token: &str,
    claimed_issuer: &str,
    ctx: &Context<'_>,
) -> Result<Result<super::federation::ExternalToken, String>, OAuthError> {
    let Some(issuer) = ctx.settings.trusted_issuers.get(claimed_issuer) else {
        return Ok(Err(format!(
            "{claimed_issuer:?} is neither this server nor a trusted issuer"
        )));
    };
    let verify = |keys: &[super::client_auth::jwt_assertion::AssertionKey]| {
        super::federation::verify(token, issuer, keys, ctx.now)
    };
    let verified = match &issuer.static_keys {
        Some(keys) => verify(keys),
        None => {
            let fetch = KeyFetch::Issuer(&issuer.issuer);
            match verify(&fetch.keys(false, ctx).await?) {
                Err(e) if e.unknown_key() => verify(&fetch.keys(true, ctx).await?),
                other => other,
            }
        }
    };
    let external = match verified {
        Ok(t) => t,
        Err(e) => return Ok(Err(e.to_string())),
    };
    match record_external(&external, ctx).await {
        Ok(()) => Ok(Ok(external)),
        Err(OAuthError::InvalidClient { reason, .. }) => Ok(Err(reason.into_owned())),
        Err(other) => Err(other),
    }
}

/// Redeems a code: checks it (client, redirect URI, PKCE) before it is used up, so a
/// stolen code sent with a wrong verifier or by another client does not spend it for
/// its owner; then the grant on its first use; on any later use, the tokens of the
/// first are revoked (RFC 6749 §4.1.2) and the answer is `invalid_grant`.
async fn redeem_code(
    authenticated: &Authenticated,
    request: &authorization_code::Request,
    jti: &str,
    ctx: &Context<'_>,
) -> Result<(Scopes, CodeGrant), OAuthError> {
    let codes = ctx
        .codes
        .ok_or_else(|| OAuthError::server_error("authorization codes need a code store"))?;
    // The token this redemption will produce, named before the code is used up.
    let lifetime = authenticated
        .client
        .token_lifetime_secs
        .unwrap_or(ctx.settings.default_lifetime_secs);
    let token = (jti.to_owned(), ctx.now.saturating_add(lifetime));
    let Some(peeked) = codes.peek(&request.code, ctx.now).await? else {
        return Err(OAuthError::invalid_grant("the code is unknown or expired"));
    };
    let scope = authorization_code::authorize(&authenticated.client, request, &peeked)?;
    let Some(redeemed) = codes.redeem(&request.code, &token, ctx.now).await? else {
        return Err(OAuthError::invalid_grant("the code is unknown or expired"));
    };
    if !redeemed.first_use {
        revoke_all(&redeemed.issued, ctx).await?;
        return Err(OAuthError::invalid_grant(
            "the code was already used; the tokens issued for it are revoked",
        ));
    }
    Ok((scope, redeemed.grant))
}

/// Revokes tokens by (`jti`, `exp`).
async fn revoke_all(tokens: &[(String, u64)], ctx: &Context<'_>) -> Result<(), OAuthError> {
    for (jti, exp) in tokens {
        ctx.revocations.revoke(jti, *exp, ctx.now).await?;
    }
    Ok(())
}

/// Authenticates the caller of `/token`, `/introspect` or `/revoke` with whatever it
/// presented: Negotiate is proved by the acceptor and recorded single-use, a
/// private_key_jwt client's `jwks_uri` is fetched (and refetched once on an unknown
/// kid), and a verified assertion's `jti` is recorded as used. Returns the AP-REP for
/// Negotiate.
pub async fn authenticate(
    presented: Presented,
    certificate: Option<&PresentedCertificate>,
    ctx: &Context<'_>,
) -> Result<(Authenticated, Option<Vec<u8>>), OAuthError> {
    let accepted = match &presented {
        Presented::Negotiate { token, .. } => Some(accept_negotiate(token.bytes(), ctx).await?),
        _ => None,
    };
    let fetch = match &presented {
        Presented::ClientAssertion { client_id, .. }
        | Presented::ClientSecretBasic { client_id, .. }
        | Presented::ClientSecretPost { client_id, .. } => {
            match ctx.registry.get(client_id).map(|c| &c.credential) {
                Some(Credential::PrivateKeyJwt(JwksSource::Uri { uri, trusted }))
                    if matches!(presented, Presented::ClientAssertion { .. }) =>
                {
                    Some(KeyFetch::ClientUri(uri, *trusted))
                }
                Some(Credential::FederatedJwt(rule)) => ctx
                    .settings
                    .trusted_issuers
                    .get(&rule.issuer)
                    .filter(|i| i.static_keys.is_none())
                    .map(|i| KeyFetch::Issuer(&i.issuer)),
                _ => None,
            }
        }
        _ => None,
    };
    // A service account's record, when the request names one of a client that takes them.
    let account = match ctx.registry.get(presented.client_id()).and_then(|c| {
        client_auth::service_account_presented(c, &presented).map(|(name, _)| (c, name))
    }) {
        None => None,
        Some((client, name)) => match ctx.service_accounts {
            None => None,
            Some(port) => {
                port.service_account(&client.client_id, &name, ctx.now)
                    .await?
            }
        },
    };
    let auth_ctx = |fetched_keys| AuthContext {
        verified_principal: accepted.as_ref().map(|a| a.principal.as_str()),
        now: ctx.now,
        assertion_rules: &ctx.settings.assertions,
        certificate,
        fetched_keys,
        issuers: &ctx.settings.trusted_issuers,
        service_account: account.as_ref(),
    };
    let authenticated = match fetch {
        None => client_auth::authenticate(ctx.registry, presented, auth_ctx(None))?,
        Some(fetch) => {
            let keys = fetch.keys(false, ctx).await?;
            match client_auth::authenticate(ctx.registry, presented.clone(), auth_ctx(Some(&keys)))
            {
                // A key the cache does not have: the signer may have rotated. The
                // adapter refetches at most once per its minimum interval.
                Err(e) if e.is_unknown_key() => {
                    let keys = fetch.keys(true, ctx).await?;
                    client_auth::authenticate(ctx.registry, presented, auth_ctx(Some(&keys)))?
                }
                other => other?,
            }
        }
    };
    if let Some(assertion) = &authenticated.assertion {
        record_assertion(&authenticated.client.client_id, assertion, ctx).await?;
    }
    if let Some(external) = &authenticated.external {
        record_external(external, ctx).await?;
    }
    Ok((authenticated, accepted.and_then(|a| a.mutual_token)))
}

/// Where the keys that check a presented JWT come from, when they are fetched.
#[derive(Clone, Copy)]
enum KeyFetch<'a> {
    /// A private_key_jwt client's `jwks_uri` (and whether an admin trusted it).
    ClientUri(&'a str, bool),
    /// A trusted issuer's `jwks_uri` or discovery document.
    Issuer(&'a str),
}

impl KeyFetch<'_> {
    async fn keys(
        self,
        refresh: bool,
        ctx: &Context<'_>,
    ) -> Result<std::sync::Arc<Vec<super::client_auth::jwt_assertion::AssertionKey>>, OAuthError>
    {
        match self {
            Self::ClientUri(uri, trusted) => {
                ctx.client_keys.keys(uri, trusted, refresh, ctx.now).await
            }
            Self::Issuer(issuer) => ctx.issuer_keys.issuer_keys(issuer, refresh, ctx.now).await,
        }
    }
}

/// Records an external token's `jti` (when its issuer's policy asks) as used until it
/// expires: a CI job's token is accepted once on any node.
async fn record_external(
    external: &super::federation::ExternalToken,
    ctx: &Context<'_>,
) -> Result<(), OAuthError> {
    let Some((key, until)) = external.replay else {
        return Ok(());
    };
    if ctx
        .replay
        .first_use(FEDERATED_NAMESPACE, &key, until, ctx.now)
        .await?
    {
        return Ok(());
    }
    Err(OAuthError::invalid_client_explained(format!(
        "the token of {} with jti {:?} was already used (this issuer's jti policy is single use)",
        external.issuer,
        external
            .jti()
            .unwrap_or_default()
            .chars()
            .take(64)
            .collect::<String>()
    )))
}

/// Proves a Negotiate token and records it single-use: an AP-REQ accepted by any node
/// sharing the store is a replay everywhere else.
pub async fn accept_negotiate(
    token: &[u8],
    ctx: &Context<'_>,
) -> Result<super::ports::AcceptedTicket, OAuthError> {
    let Some(acceptor) = ctx.negotiate else {
        return Err(OAuthError::invalid_client(
            "Negotiate is not enabled (kerberos.enabled = false)",
        ));
    };
    let accepted = acceptor.accept(token).await?;
    let until = ctx.now.saturating_add(accepted.replay_window_secs);
    if ctx
        .replay
        .first_use(AP_REQ_NAMESPACE, &accepted.replay_key, until, ctx.now)
        .await?
    {
        return Ok(accepted);
    }
    Err(OAuthError::invalid_client(format!(
        "replayed AP-REQ of {} (already accepted by this or another node)",
        accepted.principal
    )))
}

/// Records a client assertion's `jti` as used until the assertion expires.
async fn record_assertion(
    client_id: &str,
    a: &VerifiedAssertion,
    ctx: &Context<'_>,
) -> Result<(), OAuthError> {
    if ctx
        .replay
        .first_use(ASSERTION_NAMESPACE, &a.replay_key, a.replay_until, ctx.now)
        .await?
    {
        return Ok(());
    }
    Err(OAuthError::invalid_client(format!(
        "client_assertion jti {:?} of {client_id} was already used",
        a.jti.chars().take(64).collect::<String>()
    )))
}

/// Verifies a DPoP proof for `target` and records its `jti` as used; at the token
/// endpoint, also demands the server nonce when configured.
pub async fn check_proof(
    proof: &str,
    target: ProofTarget<'_>,
    token_endpoint: bool,
    ctx: &Context<'_>,
) -> Result<VerifiedProof, OAuthError> {
    let invalid = |d: String| OAuthError::InvalidDpopProof {
        description: d.into(),
    };
    let rules = dpop::ProofRules {
        max_age_secs: ctx.dpop.max_age_secs,
        leeway_secs: 5,
    };
    let verified =
        dpop::verify(proof, target, rules, ctx.now).map_err(|e| invalid(e.to_string()))?;
    if token_endpoint && ctx.dpop.require_nonce {
        let ok = verified.nonce.as_deref().is_some_and(|n| {
            dpop::check_nonce(ctx.dpop.nonce_key, n, ctx.now, ctx.dpop.nonce_lifetime_secs)
        });
        if !ok {
            return Err(OAuthError::UseDpopNonce {
                nonce: dpop::issue_nonce(ctx.dpop.nonce_key, ctx.now),
            });
        }
    }
    if !ctx
        .replay
        .first_use(
            DPOP_NAMESPACE,
            &verified.replay_key,
            verified.replay_until,
            ctx.now,
        )
        .await?
    {
        return Err(invalid("DPoP proof jti was already used".into()));
    }
    Ok(verified)
}

/// Applies the client's directory requirements to the authenticated principal and
/// returns the claims the entry adds.
pub(super) async fn directory_claims(
    authenticated: &Authenticated,
    ctx: &Context<'_>,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, OAuthError> {
    let (Some(policy), Some(principal)) = (
        authenticated.client.directory.as_ref(),
        authenticated.principal.as_deref(),
    ) else {
        return Ok(None);
    };
    let Some(directory) = ctx.directory else {
        return Err(OAuthError::server_error(format!(
            "client {} has directory requirements but no [directory] is configured",
            authenticated.client.client_id
        )));
    };
    let entry = directory.principal(principal).await?;
    let claims = policy.evaluate(principal, entry.as_deref())?;
    match serde_json::to_value(claims) {
        Ok(serde_json::Value::Object(map)) if !map.is_empty() => Ok(Some(map)),
        _ => Ok(None),
    }
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
    use crate::oauth::directory_policy::{DirectoryRequirements, PrincipalEntry};
    use crate::oauth::grant::GrantType;
    use crate::oauth::grant::device_code::{Approval, DeviceStatus};
    use crate::oauth::introspection::{self, TokenCallerRequest};
    use crate::oauth::revocation::{self, Revocation};
    use crate::oauth::secret::{ClientSecret, SecretHash};
    use crate::oauth::testing::{
        FakeAcceptor, FakeDirectory, MemoryDevices, MemoryRefresh, MemoryReplay, MemoryRevocations,
        StaticKeys, block_on,
    };
    use crate::token::keys::{SigningAlgorithm, SigningKey};

    const NOW: u64 = 1_800_000_000;

    /// An Ed25519 key pair for assertions: the private key and the public JWK.
    fn ed25519(kid: &str) -> (jsonwebtoken::EncodingKey, serde_json::Value) {
        use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        (
            jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref()),
            serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid}),
        )
    }

    struct Fixture {
        settings: TokenSettings,
        registry: ClientRegistry,
        keys: KeySet,
        assertion_key: jsonwebtoken::EncodingKey,
        replay: MemoryReplay,
        acceptor: FakeAcceptor,
        client_keys: StaticKeys,
        directory: FakeDirectory,
        with_directory: bool,
        revocations: MemoryRevocations,
        devices: MemoryDevices,
        refresh: MemoryRefresh,
    }

    fn fixture() -> Fixture {
        let rng = SystemRandom::new();
        let key = SigningKey::from_pkcs8(
            SigningAlgorithm::ES256,
            &SigningKey::generate(SigningAlgorithm::ES256, &rng).unwrap(),
        )
        .unwrap();
        let mk = |id: &str, method, lifetime| ClientRegistration {
            client_id: id.into(),
            token_endpoint_auth_method: method,
            client_secret_hash: matches!(
                method,
                TokenEndpointAuthMethod::ClientSecretBasic
                    | TokenEndpointAuthMethod::ClientSecretPost
            )
            .then(|| SecretHash::of(&ClientSecret::new("pw".into())).to_stored()),
            scopes: vec!["directory.read".into(), "metrics".into()],
            audience: vec![],
            token_lifetime_secs: lifetime,
            ..Default::default()
        };
        let (assertion_key, jwk) = ed25519("k1");
        let registrations = [
            mk("svc", TokenEndpointAuthMethod::ClientSecretBasic, None),
            mk("short", TokenEndpointAuthMethod::ClientSecretPost, Some(60)),
            mk("pub", TokenEndpointAuthMethod::None, None),
            ClientRegistration {
                grant_types: Some(vec![GrantType::DeviceCode]),
                scopes: vec!["openid".into(), "profile".into()],
                ..mk("host", TokenEndpointAuthMethod::None, None)
            },
            ClientRegistration {
                jwks: Some(serde_json::json!({"keys": [jwk]})),
                ..mk("signer", TokenEndpointAuthMethod::PrivateKeyJwt, None)
            },
            ClientRegistration {
                kerberos_principal_pattern: Some("host/*.test.realm@TEST.REALM".into()),
                ..mk("fleet", TokenEndpointAuthMethod::KerberosClientAuth, None)
            },
            ClientRegistration {
                kerberos_principal_pattern: Some("host/*.test.realm@TEST.REALM".into()),
                directory: Some(DirectoryRequirements {
                    require_groups: vec!["ipaservers".into()],
                    claims: vec!["hostgroups".into()],
                    ..Default::default()
                }),
                ..mk("servers", TokenEndpointAuthMethod::KerberosClientAuth, None)
            },
        ];
        let clients = registrations
            .iter()
            .map(|r| Client::from_registration(r, ClientSource::Config, None).unwrap())
            .collect();
        let registry = ClientRegistry::new(clients, vec![]).0;
        let settings = TokenSettings {
            issuer: "https://idp.test".into(),
            default_audience: vec!["https://idp.test".into()],
            default_lifetime_secs: 900,
            assertions: AssertionRules {
                audiences: vec!["https://idp.test/token".into(), "https://idp.test".into()],
                max_lifetime_secs: 300,
                leeway_secs: 60,
            },
            refresh: RefreshRules {
                lifetime_secs: 86_400,
                idle_secs: 3_600,
                grace_secs: 30,
            },
            device: DeviceRules {
                lifetime_secs: 600,
                interval_secs: 5,
            },
            trusted_issuers: Default::default(),
        };
        let mut acceptor = FakeAcceptor::default();
        for host in ["node1", "node2", "web1"] {
            acceptor.tickets.insert(
                format!("ticket-{host}").into_bytes(),
                format!("host/{host}.test.realm@TEST.REALM"),
            );
        }
        let mut directory = FakeDirectory::default();
        let entry = |groups: &[&str]| PrincipalEntry {
            locked: false,
            fqdn: None,
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        };
        directory.entries.insert(
            "host/node1.test.realm@TEST.REALM".into(),
            entry(&["ipaservers"]),
        );
        directory
            .entries
            .insert("host/web1.test.realm@TEST.REALM".into(), entry(&["web"]));
        directory
            .entries
            .insert("ann@TEST.REALM".into(), entry(&["staff"]));
        Fixture {
            settings,
            registry,
            keys: KeySet::new(Arc::new(key), vec![]),
            assertion_key,
            replay: MemoryReplay::default(),
            acceptor,
            client_keys: StaticKeys::default(),
            directory,
            with_directory: true,
            revocations: MemoryRevocations::default(),
            devices: MemoryDevices::default(),
            refresh: MemoryRefresh::default(),
        }
    }

    const NONCE_KEY: [u8; 32] = [7; 32];

    impl Fixture {
        /// The core's context over this fixture's fakes.
        fn ctx<'a>(&'a self, rng: &'a SystemRandom) -> Context<'a> {
            Context {
                settings: &self.settings,
                registry: &self.registry,
                keys: &self.keys,
                dpop: DpopRules {
                    token_url: "https://idp.test/token",
                    max_age_secs: 300,
                    require_nonce: false,
                    nonce_key: &NONCE_KEY,
                    nonce_lifetime_secs: 300,
                },
                replay: &self.replay,
                negotiate: Some(&self.acceptor),
                client_keys: &self.client_keys,
                issuer_keys: &self.client_keys,
                directory: self
                    .with_directory
                    .then_some(&self.directory as &dyn DirectoryLookup),
                codes: None,
                devices: Some(&self.devices),
                refresh: Some(&self.refresh),
                revocations: &self.revocations,
                encrypted: None,
                service_accounts: None,
                now: NOW,
                rng,
            }
        }

        fn call(&self, auth: Option<&str>, body: &str) -> Result<Issued, OAuthError> {
            let rng = SystemRandom::new();
            let ctx = self.ctx(&rng);
            let request = TokenRequest {
                authorization: auth.map(Authorization::parse),
                body: body.as_bytes(),
                certificate: None,
                dpop: None,
                jti: "jti-1",
            };
            block_on(token(request, &ctx))
        }

        fn assertion(&self, jti: &str, exp_in: u64) -> String {
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
            header.kid = Some("k1".into());
            let claims = serde_json::json!({"iss": "signer", "sub": "signer",
                "aud": "https://idp.test/token", "iat": NOW, "exp": NOW + exp_in, "jti": jti});
            jsonwebtoken::encode(&header, &claims, &self.assertion_key).unwrap()
        }
    }

    fn call(auth: Option<&str>, body: &str) -> Result<Issued, OAuthError> {
        fixture().call(auth, body)
    }

    fn negotiate(host: &str) -> String {
        format!(
            "Negotiate {}",
            base64::engine::general_purpose::STANDARD.encode(format!("ticket-{host}"))
        )
    }

    const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

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
            call(Some(&basic_svc()), "grant_type=implicit")
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

    #[test]
    fn negotiate_template_clients_get_the_principal_as_subject_once_per_ticket() {
        let f = fixture();
        let body = "grant_type=client_credentials&client_id=fleet";
        let issued = f.call(Some(&negotiate("node2")), body).unwrap();
        assert_eq!(issued.subject, "host/node2.test.realm@TEST.REALM");
        assert_eq!(issued.mutual_auth_token.as_deref(), Some(&b"ap-rep"[..]));
        let c = claims_of(&issued.response.access_token);
        assert_eq!(
            (c["sub"].as_str(), c["client_id"].as_str()),
            (Some("host/node2.test.realm@TEST.REALM"), Some("fleet"))
        );
        // The same AP-REQ again: a replay, on this node or any other sharing the store.
        let e = f.call(Some(&negotiate("node2")), body).unwrap_err();
        assert_eq!(e.code(), "invalid_client");
        assert!(
            e.log_reason().contains("replayed AP-REQ"),
            "{}",
            e.log_reason()
        );
        // A ticket the KDC never issued.
        assert_eq!(
            f.call(Some(&negotiate("nobody")), body).unwrap_err().code(),
            "invalid_client"
        );
    }

    #[test]
    fn a_replay_store_outage_is_temporarily_unavailable() {
        let f = Fixture {
            replay: MemoryReplay::down(),
            ..fixture()
        };
        let e = f
            .call(
                Some(&negotiate("node1")),
                "grant_type=client_credentials&client_id=fleet",
            )
            .unwrap_err();
        assert_eq!(
            e.code(),
            "temporarily_unavailable",
            "a store outage is never invalid_client"
        );
    }

    #[test]
    fn assertions_are_single_use() {
        let f = fixture();
        let a = f.assertion("a-1", 60);
        let body = format!(
            "grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE}&client_assertion={a}"
        );
        assert_eq!(f.call(None, &body).unwrap().subject, "signer");
        let e = f.call(None, &body).unwrap_err();
        assert_eq!(e.code(), "invalid_client");
        assert!(
            e.log_reason().contains("was already used"),
            "{}",
            e.log_reason()
        );
        let long = f.assertion("a-2", 3600);
        let body = format!(
            "grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE}&client_assertion={long}"
        );
        let e = f.call(None, &body).unwrap_err();
        assert!(
            e.description().unwrap().contains("more than 300 s ahead"),
            "{e:?}"
        );
    }

    #[test]
    fn directory_requirements_gate_template_clients() {
        let f = fixture();
        let body = "grant_type=client_credentials&client_id=servers";
        let issued = f.call(Some(&negotiate("node1")), body).unwrap();
        assert_eq!(
            claims_of(&issued.response.access_token)["hostgroups"],
            serde_json::json!(["ipaservers"])
        );
        // In the directory but not in the host group; not in the directory at all.
        assert_eq!(
            f.call(Some(&negotiate("web1")), body).unwrap_err().code(),
            "invalid_client"
        );
        assert_eq!(
            f.call(Some(&negotiate("node2")), body).unwrap_err().code(),
            "invalid_client"
        );
        // A directory outage is 503, never a refusal of the host.
        let down = Fixture {
            directory: FakeDirectory {
                down: true,
                ..Default::default()
            },
            ..fixture()
        };
        assert_eq!(
            down.call(Some(&negotiate("node1")), body)
                .unwrap_err()
                .code(),
            "temporarily_unavailable"
        );
        // Requirements without a directory are our configuration's fault.
        let none = Fixture {
            with_directory: false,
            ..fixture()
        };
        assert_eq!(
            none.call(Some(&negotiate("node1")), body)
                .unwrap_err()
                .code(),
            "server_error"
        );
    }

    impl Fixture {
        fn introspect(
            &self,
            auth: Option<&str>,
            body: &str,
            revocations: &MemoryRevocations,
        ) -> Result<serde_json::Value, OAuthError> {
            let rng = SystemRandom::new();
            let request = TokenCallerRequest {
                authorization: auth.map(Authorization::parse),
                body: body.as_bytes(),
                certificate: None,
            };
            let mut ctx = self.ctx(&rng);
            ctx.revocations = revocations;
            block_on(introspection::introspect(request, &ctx))
        }

        fn revoke(
            &self,
            auth: Option<&str>,
            body: &str,
            revocations: &MemoryRevocations,
        ) -> Result<Revocation, OAuthError> {
            let rng = SystemRandom::new();
            let request = TokenCallerRequest {
                authorization: auth.map(Authorization::parse),
                body: body.as_bytes(),
                certificate: None,
            };
            let mut ctx = self.ctx(&rng);
            ctx.revocations = revocations;
            block_on(revocation::revoke(request, &ctx))
        }
    }

    fn svc_token(f: &Fixture) -> String {
        f.call(Some(&basic_svc()), "grant_type=client_credentials")
            .unwrap()
            .response
            .access_token
    }

    #[test]
    fn introspection_shows_the_callers_own_token_as_active() {
        let f = fixture();
        let token = svc_token(&f);
        let r = f
            .introspect(
                Some(&basic_svc()),
                &format!("token={token}"),
                &MemoryRevocations::default(),
            )
            .unwrap();
        assert_eq!(r["active"], true);
        assert_eq!(r["token_type"], "Bearer");
        assert_eq!(r["client_id"], "svc");
        assert_eq!(r["jti"], "jti-1");
    }

    #[test]
    fn introspection_hides_another_clients_token() {
        let f = fixture();
        let token = svc_token(&f);
        let body = format!("client_id=short&client_secret=pw&token={token}");
        let r = f
            .introspect(None, &body, &MemoryRevocations::default())
            .unwrap();
        assert_eq!(r, serde_json::json!({"active": false}));
    }

    #[test]
    fn introspection_of_garbage_is_inactive_not_an_error() {
        let f = fixture();
        let r = f
            .introspect(
                Some(&basic_svc()),
                "token=not.a.jwt",
                &MemoryRevocations::default(),
            )
            .unwrap();
        assert_eq!(r, serde_json::json!({"active": false}));
    }

    #[test]
    fn introspection_requires_the_token_parameter() {
        let f = fixture();
        let e = f
            .introspect(
                Some(&basic_svc()),
                "token_type_hint=access_token",
                &MemoryRevocations::default(),
            )
            .unwrap_err();
        assert_eq!(e.code(), "invalid_request");
    }

    #[test]
    fn introspection_authenticates_the_caller() {
        let f = fixture();
        let token = svc_token(&f);
        let wrong = format!("Basic {}", client_secret_basic::encode("svc", "wrong"));
        let e = f
            .introspect(
                Some(&wrong),
                &format!("token={token}"),
                &MemoryRevocations::default(),
            )
            .unwrap_err();
        assert_eq!(e.code(), "invalid_client");
    }

    #[test]
    fn revoked_token_is_inactive_and_revoking_twice_is_fine() {
        let f = fixture();
        let token = svc_token(&f);
        let revocations = MemoryRevocations::default();
        let body = format!("token={token}");
        assert_eq!(
            f.revoke(Some(&basic_svc()), &body, &revocations).unwrap(),
            Revocation::Revoked {
                client_id: "svc".into(),
                jti: "jti-1".into()
            }
        );
        assert!(f.revoke(Some(&basic_svc()), &body, &revocations).is_ok());
        let r = f
            .introspect(Some(&basic_svc()), &body, &revocations)
            .unwrap();
        assert_eq!(r, serde_json::json!({"active": false}));
    }

    #[test]
    fn revoking_another_clients_token_is_unauthorized_client() {
        let f = fixture();
        let token = svc_token(&f);
        let revocations = MemoryRevocations::default();
        let body = format!("client_id=short&client_secret=pw&token={token}");
        let e = f.revoke(None, &body, &revocations).unwrap_err();
        assert_eq!(e.code(), "unauthorized_client");
        assert!(revocations.revoked.lock().unwrap().is_empty());
    }

    #[test]
    fn revoking_an_unknown_token_has_no_effect() {
        let f = fixture();
        let r = f
            .revoke(
                Some(&basic_svc()),
                "token=garbage",
                &MemoryRevocations::default(),
            )
            .unwrap();
        assert_eq!(r, Revocation::NoEffect);
    }

    #[test]
    fn a_revocation_store_outage_is_temporarily_unavailable() {
        let f = fixture();
        let token = svc_token(&f);
        let down = MemoryRevocations {
            down: true,
            ..Default::default()
        };
        let body = format!("token={token}");
        assert_eq!(
            f.introspect(Some(&basic_svc()), &body, &down)
                .unwrap_err()
                .code(),
            "temporarily_unavailable"
        );
        assert_eq!(
            f.revoke(Some(&basic_svc()), &body, &down)
                .unwrap_err()
                .code(),
            "temporarily_unavailable"
        );
    }

    impl Fixture {
        /// `/device_authorization` for the public `host` client.
        fn start_device(&self, scope: &str) -> crate::oauth::device_authorization::Started {
            let rng = SystemRandom::new();
            let body = format!("client_id=host&scope={scope}");
            let request = TokenCallerRequest {
                authorization: None,
                body: body.as_bytes(),
                certificate: None,
            };
            block_on(crate::oauth::device_authorization::start(
                request,
                &self.ctx(&rng),
            ))
            .unwrap()
        }

        /// A `/token` call at `now`.
        fn call_at(&self, body: &str, now: u64) -> Result<Issued, OAuthError> {
            let rng = SystemRandom::new();
            let mut ctx = self.ctx(&rng);
            ctx.now = now;
            let request = TokenRequest {
                authorization: None,
                body: body.as_bytes(),
                certificate: None,
                dpop: None,
                jti: "jti-1",
            };
            block_on(token(request, &ctx))
        }

        fn approve(&self, device_code: &str) {
            self.devices.decide(
                device_code,
                DeviceStatus::Approved(Approval {
                    subject: "ann@TEST.REALM".into(),
                    auth_time: NOW,
                    amr: vec!["pwd".into()],
                    sid: "sid-1".into(),
                    claims: serde_json::Map::new(),
                }),
            );
        }
    }

    fn poll_body(code: &str) -> String {
        format!(
            "grant_type=urn:ietf:params:oauth:grant-type:device_code&client_id=host&device_code={code}"
        )
    }

    #[test]
    fn device_polls_pend_slow_down_and_redeem_the_approval_once() {
        let f = fixture();
        // SSSD's literal `user` is narrowed to the client's scopes.
        let started = f.start_device("user");
        assert_eq!(started.response.interval, 5);
        assert!(
            started
                .response
                .verification_uri_complete
                .ends_with(&started.response.user_code)
        );
        let code = started.response.device_code.clone();
        let e = f.call_at(&poll_body(&code), NOW).unwrap_err();
        assert_eq!(e.code(), "authorization_pending");
        assert_eq!(
            f.call_at(&poll_body(&code), NOW + 2).unwrap_err().code(),
            "slow_down"
        );
        // The interval is now 10 s: 6 s later is still too soon.
        assert_eq!(
            f.call_at(&poll_body(&code), NOW + 8).unwrap_err().code(),
            "slow_down"
        );
        assert_eq!(
            f.call_at(&poll_body(&code), NOW + 30).unwrap_err().code(),
            "authorization_pending"
        );
        f.approve(&code);
        let issued = f.call_at(&poll_body(&code), NOW + 31).unwrap();
        assert_eq!(issued.subject, "ann@TEST.REALM");
        assert_eq!(issued.response.scope, "openid profile");
        assert!(issued.response.id_token.is_some());
        assert!(
            issued.response.refresh_token.is_some(),
            "device clients: always"
        );
        assert_eq!(
            f.call_at(&poll_body(&code), NOW + 40).unwrap_err().code(),
            "invalid_grant"
        );
    }

    #[test]
    fn device_codes_deny_expire_and_belong_to_their_client() {
        let f = fixture();
        let code = f.start_device("openid").response.device_code;
        f.devices.decide(&code, DeviceStatus::Denied);
        assert_eq!(
            f.call_at(&poll_body(&code), NOW).unwrap_err().code(),
            "access_denied"
        );
        let code = f.start_device("openid").response.device_code;
        assert_eq!(
            f.call_at(&poll_body(&code), NOW + 600).unwrap_err().code(),
            "expired_token"
        );
        let other = format!(
            "grant_type=urn:ietf:params:oauth:grant-type:device_code&client_id=pub&device_code={code}"
        );
        assert_eq!(
            f.call_at(&other, NOW).unwrap_err().code(),
            "unauthorized_client"
        );
        assert_eq!(
            f.call_at(&poll_body("nope"), NOW).unwrap_err().code(),
            "invalid_grant"
        );
    }

    fn refresh_body(token: &str, scope: &str) -> String {
        format!("grant_type=refresh_token&client_id=host&refresh_token={token}&scope={scope}")
    }

    fn refresh_token_of(f: &Fixture) -> String {
        let code = f.start_device("openid+profile").response.device_code;
        f.approve(&code);
        f.call_at(&poll_body(&code), NOW)
            .unwrap()
            .response
            .refresh_token
            .unwrap()
    }

    #[test]
    fn refresh_rotates_narrows_and_a_reuse_revokes_the_family() {
        let f = fixture();
        let first = refresh_token_of(&f);
        let r1 = f
            .call_at(&refresh_body(&first, "openid"), NOW + 10)
            .unwrap();
        assert_eq!(r1.response.scope, "openid", "narrowed");
        let second = r1.response.refresh_token.unwrap();
        assert_ne!(second, first);
        let r2 = f
            .call_at(&refresh_body(&second, "openid+profile+admin"), NOW + 20)
            .unwrap();
        assert_eq!(
            r2.response.scope, "openid profile",
            "never wider than the family"
        );
        let third = r2.response.refresh_token.unwrap();
        // Within 30 s of its first use, `second` may come once more (a retry), and gets
        // the same successor: no second live branch.
        let retry = f
            .call_at(&refresh_body(&second, "openid"), NOW + 45)
            .unwrap();
        assert_eq!(
            retry.response.refresh_token.as_deref(),
            Some(third.as_str())
        );
        // Again: a reuse. The whole family dies, the newest token too.
        let e = f
            .call_at(&refresh_body(&second, "openid"), NOW + 46)
            .unwrap_err();
        assert_eq!(e.code(), "invalid_grant");
        assert!(e.description().unwrap().contains("revoked"), "{e:?}");
        assert_eq!(
            f.call_at(&refresh_body(&third, "openid"), NOW + 47)
                .unwrap_err()
                .code(),
            "invalid_grant"
        );
    }

    #[test]
    fn a_used_refresh_token_after_the_grace_window_is_reuse() {
        let f = fixture();
        let first = refresh_token_of(&f);
        let next = f
            .call_at(&refresh_body(&first, "openid"), NOW + 10)
            .unwrap()
            .response
            .refresh_token
            .unwrap();
        assert_eq!(
            f.call_at(&refresh_body(&first, "openid"), NOW + 41)
                .unwrap_err()
                .code(),
            "invalid_grant"
        );
        assert_eq!(
            f.call_at(&refresh_body(&next, "openid"), NOW + 42)
                .unwrap_err()
                .code(),
            "invalid_grant"
        );
    }

    #[test]
    fn a_refresh_token_of_another_client_or_an_ended_session_is_refused() {
        let f = fixture();
        let token = refresh_token_of(&f);
        let other = format!("grant_type=refresh_token&client_id=pub&refresh_token={token}");
        assert_eq!(
            f.call_at(&other, NOW + 1).unwrap_err().code(),
            "invalid_grant"
        );
        // The theft revoked the family: the owner is refused too.
        assert_eq!(
            f.call_at(&refresh_body(&token, "openid"), NOW + 2)
                .unwrap_err()
                .code(),
            "invalid_grant"
        );
        let token = refresh_token_of(&f);
        f.refresh.ended.lock().unwrap().insert("s:sid-1".into());
        assert_eq!(
            f.call_at(&refresh_body(&token, "openid"), NOW + 3)
                .unwrap_err()
                .code(),
            "invalid_grant"
        );
    }

    #[test]
    fn a_person_locked_since_the_login_gets_no_refresh() {
        let mut f = fixture();
        let token = refresh_token_of(&f);
        if let Some(e) = f.directory.entries.get_mut("ann@TEST.REALM") {
            e.locked = true;
        }
        let e = f
            .call_at(&refresh_body(&token, "openid"), NOW + 1)
            .unwrap_err();
        assert_eq!(e.code(), "invalid_grant");
        assert!(e.description().unwrap().contains("locked"), "{e:?}");
    }
}
