//! The running service: the registry and keys of the moment, the adapters of the core's
//! ports (the replay cache and revocation list on the store, the Kerberos acceptor, the
//! jwks_uri fetcher, the directory), and the calls `web` makes.
//!
//! Each endpoint call loads the registry and keys once, builds the core's
//! [`token_endpoint::Context`] and calls the core's one flow for it. Assembly, reload and
//! the refresher live in `app/` (they are `impl Service` blocks there); introspection,
//! revocation and resource-endpoint token checks in `service/tokens.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub use crate::app::StartError;
pub use crate::app::assembly::open_store;
pub use crate::app::keyring::{
    ImportAs, JWKS_MAX_AGE_SECS, RetireError, import_key, retire_key, rotate_keys,
};
pub use crate::app::master_key::{
    load_or_create_master_key, seal_client_secret, unseal_client_secret,
};

use crate::app::keyring::LoadedKey;
use crate::authn::jwks_fetch::JwksFetcher;
use crate::authn::negotiate::Kerberos;
use crate::clock;
use crate::config::Limits;
use crate::directory::Directory;
use crate::oauth::OAuthError;
use crate::oauth::client::{Client, ClientRegistration, ClientRegistry};
use crate::oauth::client_auth::Authorization;
use crate::oauth::client_auth::tls_client_auth::PresentedCertificate;
use crate::oauth::issue::Issued;
use crate::oauth::ports::{DirectoryLookup, NegotiateAcceptor, ReplayCache};
use crate::oauth::token_endpoint::{self, TokenSettings};
use crate::store::{Durability, Store};
use crate::token::access_token;
use crate::token::dpop;
use crate::token::keys::{KeySet, SigningAlgorithm};
use crate::token::seal::MasterKey;

/// How long a retired key stays in `/jwks`: the longest token lifetime a client may have,
/// plus the `/jwks` cache time.
pub const ROTATION_RETENTION_SECS: u64 =
    crate::oauth::client::MAX_TOKEN_LIFETIME_SECS + JWKS_MAX_AGE_SECS;

/// How often the store's generation counter is polled for changes by other processes
/// (PostgreSQL also pushes changes with NOTIFY; the poll is the fallback).
pub const REFRESH_PERIOD: Duration = Duration::from_secs(2);

mod codes;
pub mod device;
pub mod logout;
mod refresh;
pub mod service_accounts;
pub mod sessions;
pub mod signin;
mod tokens;
mod verify;

/// Client certificates forwarded by a TLS-terminating proxy (`tls.client_cert_header`):
/// the config's settings with the live certificate policy.
#[derive(Debug)]
pub struct ProxyClientCert {
    /// The header carrying the certificate.
    pub header: http::HeaderName,
    /// Only connections from these addresses may send it.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The same CA/pin rules as for direct mTLS; pinned thumbprints follow the registry.
    pub policy: Arc<crate::tls::ClientCertPolicy>,
}

/// Everything a request handler needs.
pub struct Service {
    pub(crate) settings: TokenSettings,
    pub(crate) limits: Limits,
    /// `log.issuance`, and the tokens issued so far (for sampling).
    pub(crate) issuance_log: crate::config::IssuanceLog,
    pub(crate) issued_unlogged: AtomicU64,
    pub(crate) algorithm: SigningAlgorithm,
    pub(crate) config_clients: Vec<Client>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) master_key: MasterKey,
    pub(crate) registry: ArcSwap<ClientRegistry>,
    pub(crate) keys: ArcSwap<KeySet>,
    /// Every stored key, opened once; the key set is recomputed from it as time passes.
    pub(crate) loaded_keys: ArcSwap<Vec<LoadedKey>>,
    /// `keys.rotate_after_days` in seconds; 0 turns scheduled rotation off.
    pub(crate) rotate_after_secs: u64,
    pub(crate) generation: AtomicU64,
    pub(crate) rng: SystemRandom,
    pub(crate) discovery_json: Vec<u8>,
    pub(crate) kerberos: Option<Kerberos>,
    /// The listener's rustls configuration and client-certificate policy (whose pinned
    /// set follows the registry), built from `[tls]`; `None` for plain HTTP.
    pub(crate) tls: Option<(Arc<rustls::ServerConfig>, Arc<crate::tls::ClientCertPolicy>)>,
    /// Client certificates forwarded by a trusted proxy.
    pub(crate) proxy_client_cert: Option<ProxyClientCert>,
    /// Keys of private_key_jwt clients registered with `jwks_uri`.
    pub(crate) jwks_fetcher: JwksFetcher,
    /// Keys of trusted issuers fetched from `jwks_uri` or discovery.
    pub(crate) issuer_keys: crate::authn::issuer_keys::IssuerKeyFetcher,
    /// `[dpop]`.
    pub(crate) dpop: crate::config::DpopConfig,
    /// Signs DPoP nonces; derived from the master key, so every node agrees.
    pub(crate) dpop_nonce_key: [u8; 32],
    /// `{issuer}/token`, the `htu` of token-endpoint proofs.
    pub(crate) token_url: String,
    /// Prometheus counters (kept across reloads).
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    /// `[directory]`, cached.
    pub(crate) directory: Option<Arc<Directory>>,
    /// `[admin]`.
    pub(crate) admin: crate::config::AdminConfig,
    /// `[enrollment]`.
    pub(crate) enrollment: Option<crate::config::EnrollmentConfig>,
    /// `[registration]`.
    pub(crate) registration: Option<crate::config::RegistrationConfig>,
    /// `[signin]`, with the logo read at start.
    pub(crate) signin: crate::config::SigninConfig,
    /// `serve --dev`.
    pub(crate) dev: bool,
    /// The logo's bytes and media type.
    pub(crate) logo: Option<(bytes::Bytes, &'static str)>,
    /// Checks people's passwords with the KDC (with `[kerberos]`).
    pub(crate) passwords: Option<crate::authn::password::Passwords>,
    /// Wrong device user codes (the verification page's throttle).
    pub(crate) wrong_codes: device::WrongCodes,
    /// `[rate_limits]`: failed client authentications, registrations, device codes.
    pub(crate) throttles: crate::oauth::throttle::Throttles,
    /// `tls.trusted_proxies`.
    pub(crate) trusted_proxies: Vec<std::net::IpAddr>,
    /// `compat.keycloak_realm`.
    pub(crate) keycloak_realm: Option<String>,
    /// Derives a refresh token's successor from it (HMAC-SHA256; from the master key,
    /// so every node derives the same one).
    pub(crate) refresh_successor_key: aws_lc_rs::hmac::Key,
    /// Access tokens verified recently by the resource endpoints, by SHA-256 of the
    /// token: their claims and when their revocation was last checked.
    pub(crate) verified: std::sync::Mutex<HashMap<[u8; 32], VerifiedToken>>,
}

/// A token the resource endpoints verified.
pub(crate) struct VerifiedToken {
    claims: Arc<serde_json::Map<String, serde_json::Value>>,
    revocation_checked: std::time::Instant,
}

/// How often a cached token's revocation is checked again in the store: a revocation on
/// another node reaches this node's resource endpoints within this bound (at once on the
/// node that revoked). Introspection always asks the store.
pub const REVOCATION_RECHECK: Duration = Duration::from_secs(1);

/// Verified tokens remembered; past this the cache starts over.
const VERIFIED_CAPACITY: usize = 16_384;

/// Why a token is refused at a resource endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Not ours, expired, malformed or revoked.
    Invalid(String),
    /// The store is down.
    Unavailable(String),
}

/// The replay cache port on the store (with the store latency and replay metrics).
#[async_trait::async_trait]
impl ReplayCache for Service {
    async fn first_use(
        &self,
        namespace: &'static str,
        key: &[u8],
        until: u64,
        now: u64,
    ) -> Result<bool, OAuthError> {
        Service::first_use(self, namespace, key, until, now).await
    }
}

/// The record namespace of revoked access-token `jti`s (kept until the token's `exp`).
const REVOKED_NAMESPACE: &str = "revoked-jti";

/// The store key of a secret (a code, a device or user code, a refresh token): its
/// SHA-256, so a database reader holds nothing usable.
pub(crate) fn store_key(secret: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret)
        .as_ref()
        .to_vec()
}

/// A store failure while serving a request: 503, never the client's fault.
fn store_unavailable(what: &str, e: impl std::fmt::Display) -> OAuthError {
    OAuthError::TemporarilyUnavailable {
        reason: format!("{what}: {e}").into(),
    }
}

fn revocation_key(jti: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, jti.as_bytes())
        .as_ref()
        .to_vec()
}

impl Service {
    /// `POST /token`: the core's one token flow ([`token_endpoint::token`]) with this
    /// service's adapters.
    pub async fn token(
        &self,
        authorization: Option<Authorization<'_>>,
        body: &[u8],
        certificate: Option<&PresentedCertificate>,
        dpop: Option<&str>,
    ) -> Result<Issued, OAuthError> {
        let jti = self
            .new_jti()
            .map_err(|_| OAuthError::server_error("random source failed"))?;
        let (registry, keys) = (self.registry.load(), self.keys.load());
        let ctx = self.context(&registry, &keys, clock::now_unix());
        let request = token_endpoint::TokenRequest {
            authorization,
            body,
            certificate,
            dpop,
            jti: &jti,
        };
        token_endpoint::token(request, &ctx).await
    }

    /// `compat.keycloak_realm`.
    pub fn keycloak_realm(&self) -> Option<&str> {
        self.keycloak_realm.as_deref()
    }

    /// `POST /device_authorization` (RFC 8628 §3.1).
    pub async fn device_authorization(
        &self,
        authorization: Option<Authorization<'_>>,
        body: &[u8],
        certificate: Option<&PresentedCertificate>,
    ) -> Result<crate::oauth::device_authorization::Started, OAuthError> {
        let (registry, keys) = (self.registry.load(), self.keys.load());
        let ctx = self.context(&registry, &keys, clock::now_unix());
        let request = crate::oauth::introspection::TokenCallerRequest {
            authorization,
            body,
            certificate,
        };
        crate::oauth::device_authorization::start(request, &ctx).await
    }

    /// The core's view of this service for one request: settings, the registry and keys
    /// the caller loaded, and the adapters (this service for replay records, the Kerberos
    /// acceptor, the jwks_uri fetcher, the directory).
    fn context<'a>(
        &'a self,
        registry: &'a ClientRegistry,
        keys: &'a KeySet,
        now: u64,
    ) -> token_endpoint::Context<'a> {
        token_endpoint::Context {
            settings: &self.settings,
            registry,
            keys,
            dpop: token_endpoint::DpopRules {
                token_url: &self.token_url,
                max_age_secs: self.dpop.proof_max_age_secs,
                require_nonce: self.dpop.require_nonce,
                nonce_key: &self.dpop_nonce_key,
                nonce_lifetime_secs: self.dpop.nonce_lifetime_secs,
            },
            replay: self,
            negotiate: self.kerberos.as_ref().map(|k| k as &dyn NegotiateAcceptor),
            client_keys: &self.jwks_fetcher,
            issuer_keys: &self.issuer_keys,
            directory: self.directory.as_deref().map(|d| d as &dyn DirectoryLookup),
            codes: Some(self),
            devices: Some(self),
            refresh: Some(self),
            revocations: self,
            encrypted: Some(self),
            service_accounts: Some(self),
            now,
            rng: &self.rng,
        }
    }

    /// Accepts a Negotiate token (one AP-REQ, recorded single-use) outside `/token` (the
    /// admin and enrolment endpoints). Returns the principal and the AP-REP.
    pub async fn accept_negotiate(
        &self,
        token: &[u8],
    ) -> Result<(String, Option<Vec<u8>>), OAuthError> {
        let (registry, keys) = (self.registry.load(), self.keys.load());
        let ctx = self.context(&registry, &keys, clock::now_unix());
        let accepted = token_endpoint::accept_negotiate(token, &ctx).await?;
        Ok((accepted.principal, accepted.mutual_token))
    }

    /// Whether a Negotiate-authenticated principal is an admin: listed in
    /// `admin.principals`, or (with a directory) a member of one of `admin.groups`.
    pub async fn is_admin_principal(&self, principal: &str) -> Result<bool, OAuthError> {
        if self.admin.principals.iter().any(|p| p == principal) {
            return Ok(true);
        }
        let (Some(directory), false) = (&self.directory, self.admin.groups.is_empty()) else {
            return Ok(false);
        };
        let entry = directory.principal(principal).await.map_err(|e| {
            OAuthError::TemporarilyUnavailable {
                reason: e.to_string().into(),
            }
        })?;
        Ok(entry
            .is_some_and(|e| !e.locked && e.groups.iter().any(|g| self.admin.groups.contains(g))))
    }

    /// `[admin]`.
    pub fn admin_config(&self) -> &crate::config::AdminConfig {
        &self.admin
    }

    /// `[registration]`, when dynamic registration is on.
    pub fn registration(&self) -> Option<&crate::config::RegistrationConfig> {
        self.registration.as_ref()
    }

    /// `[enrollment]`.
    pub fn enrollment(&self) -> Option<&crate::config::EnrollmentConfig> {
        self.enrollment.as_ref()
    }

    /// The master key (sealing client_secret_jwt secrets written by the admin API).
    pub fn master_key(&self) -> &MasterKey {
        &self.master_key
    }

    /// Whether `client_id` is declared in the config file (read-only for the admin API).
    pub fn is_config_client(&self, client_id: &str) -> bool {
        self.config_clients.iter().any(|c| c.client_id == client_id)
    }

    /// The config file's clients.
    pub fn config_clients(&self) -> &[Client] {
        &self.config_clients
    }

    /// The algorithm new signing keys get.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The directory, when `[directory]` is configured.
    pub fn directory(&self) -> Option<&Arc<Directory>> {
        self.directory.as_ref()
    }

    /// Records `key` in `namespace` until `until`: true the first time, false if it is
    /// recorded already (on this node or any other sharing the store). A store failure is
    /// 503, never a refusal of the client.
    async fn record(
        &self,
        namespace: &str,
        key: &[u8],
        until: u64,
        now: u64,
        durability: Durability,
    ) -> Result<bool, OAuthError> {
        let started = crate::clock::monotonic();
        let result = self
            .store
            .record_once(namespace, key, until, now, durability)
            .await;
        self.metrics.store_latency(started.elapsed());
        result.map_err(|e| OAuthError::TemporarilyUnavailable {
            reason: format!("{namespace} record: {e}").into(),
        })
    }

    /// A replay check: records a single-use `key` (assertion or proof `jti`, AP-REQ
    /// digest); false, and counted, for a replay. Relaxed durability: a crash of the
    /// database host may forget the last moment of them (see `Durability`).
    async fn first_use(
        &self,
        namespace: &str,
        key: &[u8],
        until: u64,
        now: u64,
    ) -> Result<bool, OAuthError> {
        let first = self
            .record(namespace, key, until, now, Durability::Relaxed)
            .await?;
        if !first {
            self.metrics.replay_refused(namespace);
        }
        Ok(first)
    }

    /// Verifies a DPoP proof at a protected endpoint and records its jti; returns the
    /// proof key's thumbprint.
    pub async fn verify_resource_proof(
        &self,
        proof: &str,
        target: dpop::ProofTarget<'_>,
        now: u64,
    ) -> Result<String, OAuthError> {
        let (registry, keys) = (self.registry.load(), self.keys.load());
        let ctx = self.context(&registry, &keys, now);
        token_endpoint::check_proof(proof, target, false, &ctx)
            .await
            .map(|v| v.jkt)
    }

    /// What the pages show around their content.
    pub fn branding(&self) -> crate::web::pages::Branding<'_> {
        crate::web::pages::Branding {
            product: &self.signin.product_name,
            logo: self.logo.as_ref().map(|_| "/assets/logo"),
            support: self.signin.support_url.as_deref(),
        }
    }

    /// The logo (`signin.logo_file`): its bytes and media type.
    pub fn logo(&self) -> Option<&(bytes::Bytes, &'static str)> {
        self.logo.as_ref()
    }

    /// True in `serve --dev` (the demo person and the demo app's pages exist).
    pub fn is_dev(&self) -> bool {
        self.dev
    }

    /// How long an SSO session lasts (`signin.session_lifetime_secs`).
    pub fn session_lifetime_secs(&self) -> u64 {
        self.signin.session_lifetime_secs
    }

    /// The process's counters.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// The Prometheus text exposition, with the gauges read now.
    pub fn metrics_text(&self) -> String {
        let now = clock::now_unix();
        let keys = self.keys.load();
        let active = keys.active().kid();
        let activated = self
            .loaded_keys
            .load()
            .iter()
            .find(|k| k.key.kid() == active)
            .map_or(now, |k| k.times.activates_at);
        self.metrics.render(crate::metrics::Gauges {
            clients: self.client_count(),
            signing_key_age_secs: now.saturating_sub(activated),
            published_keys: keys.published().len(),
            directory: self.directory.as_ref().map(|d| {
                let s = d.stats();
                let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
                crate::metrics::DirectoryCounters {
                    cache_hits: load(&s.hits),
                    cache_misses: load(&s.misses),
                    errors: load(&s.errors),
                    backend_micros: load(&s.backend_micros),
                }
            }),
        })
    }

    /// The keys in force (for verifying our own tokens).
    pub fn key_set(&self) -> Arc<KeySet> {
        self.keys.load_full()
    }

    /// A fresh DPoP nonce, for `DPoP-Nonce` headers.
    pub fn dpop_nonce(&self, now: u64) -> String {
        dpop::issue_nonce(&self.dpop_nonce_key, now)
    }

    /// True when every proof must carry a server nonce.
    pub fn dpop_requires_nonce(&self) -> bool {
        self.dpop.require_nonce
    }

    /// Checks a registration's `jwks_uri` the way a fetch will (form, and the addresses
    /// its host resolves to now), so a registration that can never work is refused when
    /// it is made. `Err` carries the field and the message.
    pub async fn check_jwks_uri(&self, reg: &ClientRegistration) -> Result<(), (String, String)> {
        let Some(uri) = &reg.jwks_uri else {
            return Ok(());
        };
        let refused = |e: crate::authn::outbound::Refused| ("jwks_uri".to_owned(), e.to_string());
        let policy = self.jwks_fetcher.policy();
        let target = policy.target(uri).map_err(refused)?;
        // A name that does not resolve in time is not refused here: every fetch checks
        // the addresses again.
        let bound = std::time::Duration::from_secs(5);
        match tokio::time::timeout(bound, policy.resolve(&target, reg.jwks_uri_trusted)).await {
            Ok(Err(e)) => Err(refused(e)),
            Ok(Ok(_)) | Err(_) => Ok(()),
        }
    }

    /// The listener's rustls configuration and client-certificate policy (`None` for
    /// plain HTTP): what the accept loop hands new connections.
    pub fn tls(&self) -> Option<(Arc<rustls::ServerConfig>, Arc<crate::tls::ClientCertPolicy>)> {
        self.tls.clone()
    }

    /// The rate limiters of this process (`[rate_limits]`).
    pub fn throttles(&self) -> &crate::oauth::throttle::Throttles {
        &self.throttles
    }

    /// `tls.trusted_proxies`: the peers whose `X-Forwarded-For` is believed.
    pub fn trusted_proxies(&self) -> &[std::net::IpAddr] {
        &self.trusted_proxies
    }

    /// Client certificates forwarded by a trusted proxy, when configured.
    pub fn proxy_client_cert(&self) -> Option<&ProxyClientCert> {
        self.proxy_client_cert.as_ref()
    }

    /// True when `/token` accepts Negotiate (401s then advertise it).
    pub fn negotiate_enabled(&self) -> bool {
        self.kerberos.is_some()
    }

    /// The `/jwks` document.
    pub fn jwks_json(&self) -> Vec<u8> {
        self.keys.load().jwks_json().to_vec()
    }

    /// The RFC 8414 / OIDC discovery document.
    pub fn discovery_json(&self) -> &[u8] {
        &self.discovery_json
    }

    /// Request limits.
    /// Whether this issued token gets its `token issued` line (`log.issuance`): `Some`
    /// with the number of tokens it stands for (1 unless sampled).
    pub fn issuance_to_log(&self) -> Option<u64> {
        use crate::config::IssuanceLog;
        match self.issuance_log {
            IssuanceLog::All => Some(1),
            IssuanceLog::None => None,
            IssuanceLog::Sampled(every) => {
                let n = self.issued_unlogged.fetch_add(1, Ordering::Relaxed) + 1;
                n.is_multiple_of(every).then_some(every)
            }
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The issuer URL.
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// How many clients are registered (config and store).
    pub fn client_count(&self) -> usize {
        self.registry.load().len()
    }

    /// The kid that signs new tokens.
    pub fn active_kid(&self) -> String {
        self.keys.load().active().kid().to_owned()
    }

    /// A new 256-bit secret, base64url (cookies, codes, device codes, refresh tokens).
    pub(crate) fn random_token(&self) -> Result<String, OAuthError> {
        crate::oauth::secret::ClientSecret::generate(&self.rng)
            .map(|s| s.expose().to_owned())
            .map_err(|_| OAuthError::server_error("random source failed"))
    }

    fn new_jti(&self) -> Result<String, aws_lc_rs::error::Unspecified> {
        let mut bytes = [0u8; 16];
        self.rng.fill(&mut bytes)?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }
}
