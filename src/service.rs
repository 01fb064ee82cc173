//! The running service: validated config, the store, and the in-memory caches of
//! clients and keys the hot path reads without touching the database.
//!
//! [`Service::open`] loads (or creates, on first start) the master key and the signing
//! key, and builds the client registry from the config file and the store. A refresher
//! task polls the store's generation counter and swaps in new clients and keys when
//! another process (`ahdapa client add --local`) changed them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub use crate::app::keyring::{JWKS_MAX_AGE_SECS, RetireError, retire_key, rotate_keys};
pub use crate::app::master_key::{
    load_or_create_master_key, seal_client_secret, unseal_client_secret,
};

use crate::app::keyring::{LoadedKey, key_set_at, load_keys, times_of};
use crate::authn::ap_req;
use crate::authn::gssapi::Acceptor;
use crate::authn::jwks_fetch::JwksFetcher;
use crate::clock;
use crate::config::{Config, Limits};
use crate::directory::Directory;
use crate::directory::ldap::LdapBackend;
use crate::oauth::OAuthError;
use crate::oauth::client::{Client, ClientRegistration, ClientRegistry, ClientSource};
use crate::oauth::client_auth::tls_client_auth::PresentedCertificate;
use crate::oauth::client_auth::{self, Authenticated, Authorization, Presented};
use crate::oauth::discovery::Metadata;
use crate::oauth::issue::Issued;
use crate::oauth::ports::{AcceptedTicket, DirectoryLookup, NegotiateAcceptor, ReplayCache};
use crate::oauth::token_endpoint::{self, TokenSettings};
use crate::store::sqlite::SqliteStore;
use crate::store::{Durability, Store, StoreError};
use crate::token::access_token;
use crate::token::dpop;
use crate::token::keys::{KeySet, SigningAlgorithm};
use crate::token::rotation::{self, KeyTimes};
use crate::token::seal::MasterKey;

/// How long a retired key stays in `/jwks`: the longest token lifetime a client may have,
/// plus the `/jwks` cache time.
pub const ROTATION_RETENTION_SECS: u64 =
    crate::oauth::client::MAX_TOKEN_LIFETIME_SECS + JWKS_MAX_AGE_SECS;

/// How often the store's generation counter is polled for changes by other processes
/// (PostgreSQL also pushes changes with NOTIFY; the poll is the fallback).
pub const REFRESH_PERIOD: Duration = Duration::from_secs(2);

/// Why the service could not start. Each names the file or setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened.
    #[error("store {path}: {source}")]
    Store {
        /// The database path.
        path: String,
        /// What failed.
        source: StoreError,
    },
    /// The store failed while loading.
    #[error(transparent)]
    Load(#[from] StoreError),
    /// The master key file could not be read or created.
    #[error("keys.master_key_file {path}: {message}")]
    MasterKey {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
    /// The jwks_uri fetcher could not be set up (its CA file).
    #[error("{0}")]
    Assertions(String),
    /// The TLS configuration could not be built from its files.
    #[error("{0}")]
    Tls(String),
    /// The Kerberos acceptor could not be set up (keytab, principal).
    #[error("kerberos: {0}")]
    Kerberos(String),
    /// The directory client could not be set up (its CA file).
    #[error("{0}")]
    Directory(String),
    /// A stored signing key did not open or parse.
    #[error("signing key {kid}: {message}")]
    SigningKey {
        /// The key id.
        kid: String,
        /// What failed.
        message: String,
    },
}

mod tokens;

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
    settings: TokenSettings,
    limits: Limits,
    /// `log.issuance`, and the tokens issued so far (for sampling).
    issuance_log: crate::config::IssuanceLog,
    issued_unlogged: AtomicU64,
    algorithm: SigningAlgorithm,
    config_clients: Vec<Client>,
    store: Arc<dyn Store>,
    master_key: MasterKey,
    registry: ArcSwap<ClientRegistry>,
    keys: ArcSwap<KeySet>,
    /// Every stored key, opened once; the key set is recomputed from it as time passes.
    loaded_keys: ArcSwap<Vec<LoadedKey>>,
    /// `keys.rotate_after_days` in seconds; 0 turns scheduled rotation off.
    rotate_after_secs: u64,
    generation: AtomicU64,
    rng: SystemRandom,
    discovery_json: Vec<u8>,
    kerberos: Option<Kerberos>,
    /// The listener's rustls configuration and client-certificate policy (whose pinned
    /// set follows the registry), built from `[tls]`; `None` for plain HTTP.
    tls: Option<(Arc<rustls::ServerConfig>, Arc<crate::tls::ClientCertPolicy>)>,
    /// Client certificates forwarded by a trusted proxy.
    proxy_client_cert: Option<ProxyClientCert>,
    /// Keys of private_key_jwt clients registered with `jwks_uri`.
    jwks_fetcher: JwksFetcher,
    /// `[dpop]`.
    dpop: crate::config::DpopConfig,
    /// Signs DPoP nonces; derived from the master key, so every node agrees.
    dpop_nonce_key: [u8; 32],
    /// `{issuer}/token`, the `htu` of token-endpoint proofs.
    token_url: String,
    /// Prometheus counters (kept across reloads).
    metrics: Arc<crate::metrics::Metrics>,
    /// `[directory]`, cached.
    directory: Option<Arc<Directory>>,
    /// `[admin]`.
    admin: crate::config::AdminConfig,
    /// `[enrollment]`.
    enrollment: Option<crate::config::EnrollmentConfig>,
    /// `[registration]`.
    registration: Option<crate::config::RegistrationConfig>,
    /// Access tokens verified recently by the resource endpoints, by SHA-256 of the
    /// token: their claims and when their revocation was last checked.
    verified: std::sync::Mutex<HashMap<[u8; 32], VerifiedToken>>,
}

/// A token the resource endpoints verified.
struct VerifiedToken {
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

/// The Negotiate side of `/token`.
struct Kerberos {
    acceptor: Acceptor,
    /// Bounds concurrent GSSAPI accepts on the blocking pool. An accept waits on file
    /// I/O (MIT re-reads the keytab and locks the replay cache file each time), so some
    /// more threads than cores raise throughput; the bound keeps a flood of Negotiate
    /// requests from growing the blocking pool without limit.
    accepting: tokio::sync::Semaphore,
    /// AP-REQ replay records live for twice the clock skew (an authenticator is valid
    /// for `skew` on either side of now).
    replay_window_secs: u64,
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

/// The Negotiate port: AP-REQ inspection (Kerberos only: no NTLM, no garbage, no second
/// round), then GSSAPI off the async executor, bounded in concurrency.
#[async_trait::async_trait]
impl NegotiateAcceptor for Kerberos {
    async fn accept(&self, token: &[u8]) -> Result<AcceptedTicket, OAuthError> {
        let replay_key =
            ap_req::replay_digest(token).map_err(|e| OAuthError::invalid_client(e.reason()))?;
        let acceptor = self.acceptor.clone();
        let token = token.to_vec();
        let _permit = self
            .accepting
            .acquire()
            .await
            .map_err(|_| OAuthError::server_error("acceptor closed"))?;
        let accepted = tokio::task::spawn_blocking(move || acceptor.accept(&token))
            .await
            .map_err(|e| OAuthError::server_error(format!("GSSAPI task failed: {e}")))?
            .map_err(|reason| {
                OAuthError::invalid_client(format!("GSSAPI refused the token: {reason}"))
            })?;
        Ok(AcceptedTicket {
            principal: accepted.principal,
            mutual_token: accepted.mutual_token,
            replay_key,
            replay_window_secs: self.replay_window_secs,
        })
    }
}

/// Concurrent GSSAPI accepts allowed per CPU core (measured: 1 per core reaches about
/// half the throughput of 8 per core on the benchmark machine).
const ACCEPTS_PER_CORE: usize = 8;

/// The record namespace of revoked access-token `jti`s (kept until the token's `exp`).
const REVOKED_NAMESPACE: &str = "revoked-jti";

fn revocation_key(jti: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, jti.as_bytes())
        .as_ref()
        .to_vec()
}

impl Service {
    /// Opens the configured SQLite store and master key, then loads everything.
    pub async fn open(config: &Config) -> Result<Arc<Self>, StartError> {
        let store = open_store(&config.store).await?;
        let master_key = load_or_create_master_key(&config.keys.master_key_file)?;
        Self::with_store(config, store, master_key).await
    }

    /// Builds the service on a given store and master key (tests use an in-memory store).
    pub async fn with_store(
        config: &Config,
        store: Arc<dyn Store>,
        master_key: MasterKey,
    ) -> Result<Arc<Self>, StartError> {
        Self::build(config, store, master_key, Arc::default()).await
    }

    /// A service for a reloaded config: the same store and counters, everything else
    /// (clients, keys, TLS policy, Kerberos acceptor, directory) from `config`. Changes
    /// that need a restart (`store.sqlite_path`, listeners, limits) are logged.
    pub async fn reload(&self, config: &Config, old: &Config) -> Result<Arc<Self>, StartError> {
        if config.store != old.store {
            log::warn!("store.sqlite_path changed: takes effect after a restart");
        }
        if config.server.listen != old.server.listen || config.metrics_listen != old.metrics_listen
        {
            log::warn!("server.listen or metrics.listen changed: takes effect after a restart");
        }
        if config.server.limits != old.server.limits {
            log::warn!("[server] limits changed: take effect after a restart");
        }
        let master_key = load_or_create_master_key(&config.keys.master_key_file)?;
        Self::build(
            config,
            Arc::clone(&self.store),
            master_key,
            Arc::clone(&self.metrics),
        )
        .await
    }

    async fn build(
        config: &Config,
        store: Arc<dyn Store>,
        master_key: MasterKey,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<Arc<Self>, StartError> {
        let rng = SystemRandom::new();
        let generation = store.generation().await?;
        let now = clock::now_unix();
        let loaded = load_keys(
            store.as_ref(),
            &master_key,
            config.keys.algorithm,
            &rng,
            now,
        )
        .await?;
        let keys = key_set_at(&loaded, config.keys.algorithm, now)?;
        let registry = build_registry(config.clients.clone(), store.as_ref(), &master_key).await?;
        let registry_pins = registry.pinned_thumbprints();
        let dpop_nonce_key = master_key
            .derive_key(b"dpop nonce")
            .map_err(|e| StartError::Assertions(format!("deriving the DPoP nonce key: {e}")))?;
        let mut metadata = Metadata::new(
            &config.issuer,
            config.keys.algorithm,
            config.kerberos.is_some(),
            matches!(config.server.transport, crate::config::Transport::Tls(..)),
        );
        if config.registration.is_some() {
            metadata.registration_endpoint = Some(format!("{}/register", config.issuer));
        }
        let discovery_json =
            serde_json::to_vec(&metadata).map_err(|e| StoreError::Backend(e.to_string()))?;
        let directory = match &config.directory {
            None => None,
            Some(d) => {
                let backend = LdapBackend::new(d.clone()).map_err(StartError::Directory)?;
                Some(Arc::new(Directory::new(
                    Arc::new(backend),
                    d.cache_ttl,
                    d.negative_cache_ttl,
                )))
            }
        };
        let kerberos = match &config.kerberos {
            None => None,
            Some(k) => {
                crate::fs::create_private_parent(&k.replay_cache).map_err(|e| {
                    StartError::Kerberos(format!(
                        "kerberos.replay_cache {}: {e}",
                        k.replay_cache.display()
                    ))
                })?;
                let acceptor = Acceptor::new(&k.service_principal, &k.keytab, &k.replay_cache)
                    .map_err(|e| {
                        StartError::Kerberos(format!(
                            "kerberos.keytab / kerberos.service_principal: {e}"
                        ))
                    })?;
                Some(Kerberos {
                    acceptor,
                    accepting: tokio::sync::Semaphore::new(
                        ACCEPTS_PER_CORE
                            * std::thread::available_parallelism().map_or(2, |n| n.get()),
                    ),
                    replay_window_secs: k.clock_skew_secs.saturating_mul(2),
                })
            }
        };
        let tls = match &config.server.transport {
            crate::config::Transport::Tls(files) => {
                let policy = Arc::new(
                    crate::tls::ClientCertPolicy::new(&files.client_ca_files)
                        .map_err(|e| StartError::Tls(format!("tls.client_ca_files: {e}")))?,
                );
                policy.set_pinned(registry_pins.clone());
                let server = crate::tls::server_config(
                    &files.certificate_file,
                    &files.private_key_file,
                    Arc::clone(&policy),
                )
                .map_err(|e| StartError::Tls(e.to_string()))?;
                Some((server, policy))
            }
            crate::config::Transport::InsecureHttp => None,
        };
        let proxy_client_cert = match &config.server.proxy_client_cert {
            None => None,
            Some(p) => {
                let policy = Arc::new(
                    crate::tls::ClientCertPolicy::new(&p.client_ca_files)
                        .map_err(|e| StartError::Tls(format!("tls.client_ca_files: {e}")))?,
                );
                policy.set_pinned(registry_pins.clone());
                Some(ProxyClientCert {
                    header: p.header.clone(),
                    trusted_proxies: p.trusted_proxies.clone(),
                    policy,
                })
            }
        };
        Ok(Arc::new(Self {
            settings: config.tokens.clone(),
            limits: config.server.limits,
            issuance_log: config.log_issuance,
            issued_unlogged: AtomicU64::new(0),
            algorithm: config.keys.algorithm,
            config_clients: config.clients.clone(),
            store,
            master_key,
            registry: ArcSwap::from_pointee(registry),
            keys: ArcSwap::from_pointee(keys),
            loaded_keys: ArcSwap::from_pointee(loaded),
            rotate_after_secs: config.keys.rotate_after_days.saturating_mul(86_400),
            generation: AtomicU64::new(generation),
            rng,
            discovery_json,
            kerberos,
            tls,
            dpop: config.dpop,
            dpop_nonce_key,
            token_url: format!("{}/token", config.issuer),
            metrics,
            directory,
            admin: config.admin.clone(),
            enrollment: config.enrollment.clone(),
            registration: config.registration.clone(),
            verified: std::sync::Mutex::new(HashMap::new()),
            jwks_fetcher: JwksFetcher::new(
                config.jwks_fetch.clone(),
                config.jwks_ca_file.as_deref(),
            )
            .map_err(|e| StartError::Assertions(format!("assertions.jwks_ca_file: {e}")))?,
            proxy_client_cert,
        }))
    }

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
            directory: self.directory.as_deref().map(|d| d as &dyn DirectoryLookup),
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

    /// Authenticates the caller of `/introspect` or `/revoke` the way `/token` does
    /// ([`token_endpoint::authenticate`]). Returns the AP-REP for Negotiate.
    pub async fn authenticate(
        &self,
        presented: Presented,
        certificate: Option<&PresentedCertificate>,
        now: u64,
    ) -> Result<(Authenticated, Option<Vec<u8>>), OAuthError> {
        let (registry, keys) = (self.registry.load(), self.keys.load());
        let ctx = self.context(&registry, &keys, now);
        token_endpoint::authenticate(presented, certificate, &ctx).await
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

    /// The proxy client-certificate settings, if configured.
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
                (n % every == 0).then_some(every)
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

    /// Reloads clients and keys if the store changed since the last load.
    pub async fn refresh(&self) -> Result<bool, StartError> {
        let now = clock::now_unix();
        self.maybe_rotate(now).await?;
        let generation = self.store.generation().await?;
        let mut changed = false;
        if generation != self.generation.load(Ordering::Acquire) {
            let loaded = load_keys(
                self.store.as_ref(),
                &self.master_key,
                self.algorithm,
                &self.rng,
                now,
            )
            .await?;
            let registry = build_registry(
                self.config_clients.clone(),
                self.store.as_ref(),
                &self.master_key,
            )
            .await?;
            log::info!(clients = registry.len(), keys = loaded.len(); "reloaded clients and keys from the store");
            if let Some((_, policy)) = &self.tls {
                policy.set_pinned(registry.pinned_thumbprints());
            }
            if let Some(proxy) = &self.proxy_client_cert {
                proxy.policy.set_pinned(registry.pinned_thumbprints());
            }
            self.loaded_keys.store(Arc::new(loaded));
            self.registry.store(Arc::new(registry));
            self.generation.store(generation, Ordering::Release);
            changed = true;
        }
        // Keys activate and retire with time, not only with store changes.
        let set = key_set_at(&self.loaded_keys.load(), self.algorithm, now)?;
        let current = self.keys.load();
        let kids = |s: &KeySet| {
            s.published()
                .iter()
                .map(|k| k.kid().to_owned())
                .collect::<Vec<_>>()
        };
        if set.active().kid() != current.active().kid() || kids(&set) != kids(&current) {
            log::info!(kid = set.active().kid(), published = kids(&set).join(",").as_str(); "signing keys changed");
            self.keys.store(Arc::new(set));
            self.forget_verified_tokens();
            changed = true;
        }
        Ok(changed)
    }

    /// Rotates on schedule (`keys.rotate_after_days`): when the signing key is older than
    /// the period and no successor is pending.
    async fn maybe_rotate(&self, now: u64) -> Result<(), StartError> {
        if self.rotate_after_secs == 0 {
            return Ok(());
        }
        let loaded = self.loaded_keys.load();
        let times: Vec<KeyTimes> = loaded.iter().map(|k| k.times).collect();
        let Some(active) =
            rotation::active_at(&times, self.algorithm, now).and_then(|i| times.get(i))
        else {
            return Ok(());
        };
        let due = |times: &[KeyTimes], active: &KeyTimes| {
            active.activates_at.saturating_add(self.rotate_after_secs) <= now
                && !times
                    .iter()
                    .any(|t| t.algorithm == self.algorithm && t.pending_at(now))
        };
        if due(&times, active) {
            // Nodes sharing the store must not both rotate: take the store's rotation
            // lock and decide again on what the store holds now.
            let Some(_guard) = self.store.rotation_guard().await? else {
                return Ok(());
            };
            let fresh: Vec<KeyTimes> = self
                .store
                .signing_keys()
                .await?
                .iter()
                .map(times_of)
                .collect();
            let still_due = rotation::active_at(&fresh, self.algorithm, now)
                .and_then(|i| fresh.get(i))
                .is_some_and(|a| due(&fresh, a));
            if !still_due {
                return Ok(());
            }
            rotate_keys(
                self.store.as_ref(),
                &self.master_key,
                self.algorithm,
                now,
                false,
                self.rotation_lead_secs(),
                ROTATION_RETENTION_SECS,
            )
            .await?;
        }
        Ok(())
    }

    /// How long a new key is published before it signs: one default token lifetime plus
    /// the `/jwks` cache time.
    pub fn rotation_lead_secs(&self) -> u64 {
        self.settings.default_lifetime_secs + JWKS_MAX_AGE_SECS
    }

    /// Polls the store every [`REFRESH_PERIOD`], and reloads at once when the store
    /// signals a change ([`Store::changes`]), until the returned handle is aborted.
    pub fn spawn_refresher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESH_PERIOD);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let changes = this.store.changes();
            loop {
                let signalled = async {
                    match &changes {
                        Some(changes) => changes.notified().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(e) = this.store.maintain(clock::now_unix()).await {
                            log::warn!(reason = e.to_string().as_str(); "store housekeeping failed");
                        }
                    }
                    () = signalled => {}
                }
                if let Err(e) = this.refresh().await {
                    log::warn!(reason = e.to_string().as_str(); "could not reload clients and keys; serving the previous ones");
                }
            }
        })
    }

    fn new_jti(&self) -> Result<String, aws_lc_rs::error::Unspecified> {
        let mut bytes = [0u8; 16];
        self.rng.fill(&mut bytes)?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }
}

/// Opens the configured store: PostgreSQL when `store.postgres_url` is set, else SQLite.
pub async fn open_store(config: &crate::config::StoreConfig) -> Result<Arc<dyn Store>, StartError> {
    match &config.postgres {
        Some(pg) => {
            let store = crate::store::postgres::PostgresStore::open(pg)
                .await
                .map_err(|source| StartError::Store {
                    path: crate::store::postgres::redact_url(&pg.url),
                    source,
                })?;
            Ok(Arc::new(store))
        }
        None => {
            let db = &config.sqlite_path;
            let store = SqliteStore::open(db).map_err(|source| StartError::Store {
                path: db.display().to_string(),
                source,
            })?;
            Ok(Arc::new(store))
        }
    }
}

/// Config clients plus valid store clients; invalid stored ones are logged and skipped.
async fn build_registry(
    config_clients: Vec<Client>,
    store: &dyn Store,
    master: &MasterKey,
) -> Result<ClientRegistry, StoreError> {
    let mut stored = Vec::new();
    for reg in store.clients().await? {
        if reg.disabled {
            continue;
        }
        let hmac = match reg
            .client_secret_sealed
            .as_deref()
            .map(|s| unseal_client_secret(master, &reg.client_id, s))
        {
            None => None,
            Some(Ok(secret)) => Some(secret),
            Some(Err(e)) => {
                log::error!(client_id = reg.client_id.as_str(), reason = e.as_str(); "stored client secret does not open; client ignored");
                continue;
            }
        };
        match Client::from_registration(&reg, ClientSource::Store, hmac) {
            Ok(c) => stored.push(c),
            Err(problems) => {
                let why: Vec<String> = problems
                    .iter()
                    .map(|p| format!("{}: {}", p.field, p.message))
                    .collect();
                log::error!(client_id = reg.client_id.as_str(), reason = why.join("; ").as_str(); "stored client is invalid; ignored");
            }
        }
    }
    let (registry, shadowed) = ClientRegistry::new(config_clients, stored);
    for id in shadowed {
        log::warn!(client_id = id.as_str(); "client is declared in the config file and in the store; the config file wins");
    }
    Ok(registry)
}
