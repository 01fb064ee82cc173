//! Assembly and reload: a [`Service`] built from a validated [`Config`] and a store.
//!
//! Start-up opens the store and the master key (creating both on first start), loads
//! the signing keys and the client registry, and builds what the config only
//! describes: the rustls server configuration, the client-certificate policies, the
//! Kerberos acceptor, the directory client and the discovery document. A reload
//! (SIGHUP) builds a new service on the same store and counters.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use arc_swap::ArcSwap;
use aws_lc_rs::rand::SystemRandom;

use super::StartError;
use super::keyring::{key_set_at, load_keys};
use super::master_key::load_or_create_master_key;
use super::registry::build_registry;
use crate::authn::jwks_fetch::JwksFetcher;
use crate::authn::negotiate::Kerberos;
use crate::clock;
use crate::config::Config;
use crate::directory::Directory;
use crate::directory::ldap::LdapBackend;
use crate::oauth::discovery::Metadata;
use crate::service::{ProxyClientCert, Service};
use crate::store::sqlite::SqliteStore;
use crate::store::{Store, StoreError};
use crate::token::seal::MasterKey;

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
        let registry = build_registry(config.clients.clone(), store.as_ref(), &master_key).await?;
        let loaded = load_keys(
            store.as_ref(),
            &master_key,
            &registry.signing_algorithms(config.keys.algorithm),
            &rng,
            now,
        )
        .await?;
        let keys = key_set_at(&loaded, config.keys.algorithm, now)?;
        let registry_pins = registry.pinned_thumbprints();
        let refresh_successor_key = aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            &master_key
                .derive_key(b"refresh token successor")
                .map_err(|e| {
                    StartError::Assertions(format!("deriving the refresh token key: {e}"))
                })?,
        );
        let dpop_nonce_key = master_key
            .derive_key(b"dpop nonce")
            .map_err(|e| StartError::Assertions(format!("deriving the DPoP nonce key: {e}")))?;
        let mut metadata = Metadata::new(
            &config.issuer,
            config.keys.algorithm,
            config.kerberos.is_some(),
            matches!(config.server.transport, crate::config::Transport::Tls(..)),
        );
        if !config.tokens.trusted_issuers.is_empty() {
            metadata
                .token_endpoint_auth_methods_supported
                .push("federated_jwt");
        }
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
            Some(k) => Some(Kerberos::new(k).map_err(StartError::Kerberos)?),
        };
        let passwords = match (&config.dev, &config.kerberos) {
            (Some(person), _) => Some(crate::authn::password::Passwords::dev(
                person.clone(),
                &config.rate_limits,
            )),
            (None, None) => directory.as_ref().map(|d| {
                crate::authn::password::Passwords::ldap(Arc::clone(d), &config.rate_limits)
            }),
            (None, Some(k)) => Some(
                crate::authn::password::Passwords::new(
                    &k.service_principal,
                    &k.keytab,
                    &config.rate_limits,
                )
                .map_err(StartError::Kerberos)?,
            ),
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
            logo: match &config.signin.logo_file {
                None => None,
                Some(path) => {
                    let bytes = std::fs::read(path).map_err(|e| {
                        StartError::Tls(format!("signin.logo_file {}: {e}", path.display()))
                    })?;
                    let media = crate::config::logo_type(path).unwrap_or("image/png");
                    Some((bytes::Bytes::from(bytes), media))
                }
            },
            signin: config.signin.clone(),
            dev: config.dev.is_some(),
            passwords,
            wrong_codes: Default::default(),
            throttles: crate::oauth::throttle::Throttles::new(&config.rate_limits),
            trusted_proxies: config.server.trusted_proxies.clone(),
            keycloak_realm: config.keycloak_realm.clone(),
            refresh_successor_key,
            jwks_fetcher: JwksFetcher::new(
                config.jwks_fetch.clone(),
                config.jwks_ca_file.as_deref(),
            )
            .map_err(|e| StartError::Assertions(format!("assertions.jwks_ca_file: {e}")))?,
            issuer_keys: crate::authn::issuer_keys::IssuerKeyFetcher::new(
                &config.issuer_fetches,
                config.jwks_fetch.policy.clone(),
                config.jwks_fetch.timeout,
            )
            .map_err(StartError::Assertions)?,
            proxy_client_cert,
        }))
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
