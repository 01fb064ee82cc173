//! Fetching the keys of trusted issuers (`[[trusted_issuers]]` with `jwks_uri` or
//! `discovery = true`): GitHub Actions, GitLab, a Kubernetes API server, a SPIFFE bundle
//! endpoint.
//!
//! - HTTPS (plain HTTP only with `assertions.insecure_http_jwks_uri`), verified against
//!   the system roots plus the issuer's `ca_file`; an admin configured the URL, so any
//!   address may be reached but ahdapa's own.
//! - `Accept: application/jwk-set+json, application/json`: the Kubernetes API server
//!   answers 406 to a request that does not accept `application/jwk-set+json`.
//! - An optional bearer token (`bearer_token_file`, read at each fetch) for the API
//!   server's discovery inside a cluster.
//! - Discovery: `{issuer}/.well-known/openid-configuration`, whose `issuer` must be the
//!   configured one exactly (OpenID Connect Discovery §4.3), then its `jwks_uri`.
//! - The keys are kept for the answer's `Cache-Control: max-age` (clamped to 60 s – 1 day;
//!   300 s without one). A token naming an unknown `kid` refetches, at most once per
//!   `min_refetch_secs`. When a refetch fails, the keys already held are kept (a key
//!   server outage does not stop workloads whose keys are known).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::jwks_fetch::{FetchError, Get, get_json};
use super::outbound::OutboundPolicy;
use crate::config::{IssuerFetch, IssuerKeyLocation};
use crate::oauth::OAuthError;
use crate::oauth::client_auth::jwt_assertion::{AssertionKey, keys_from_issuer_jwks};

/// Keys are kept at least this long, whatever `max-age` says (a refetch on an unknown
/// kid is still possible).
const MIN_CACHE_SECS: u64 = 60;
/// And at most this long.
const MAX_CACHE_SECS: u64 = 86_400;
/// Without `Cache-Control`.
const DEFAULT_CACHE_SECS: u64 = 300;

struct Held {
    keys: Arc<Vec<AssertionKey>>,
    fetched_at: u64,
    fresh_until: u64,
}

struct Issuer {
    fetch: IssuerFetch,
    tls: tokio_rustls::TlsConnector,
    held: Mutex<Option<Held>>,
    /// The last fetch attempt, successful or not (the refetch rate limit).
    last_attempt: Mutex<Option<u64>>,
    fetching: tokio::sync::Mutex<()>,
}

/// The fetched issuers' keys.
pub struct IssuerKeyFetcher {
    issuers: HashMap<String, Issuer>,
    policy: OutboundPolicy,
    timeout: Duration,
}

impl std::fmt::Debug for IssuerKeyFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKeyFetcher")
            .field("issuers", &self.issuers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl IssuerKeyFetcher {
    /// A fetcher for `fetches`, under the outbound `policy` (the `[assertions]` one).
    pub fn new(
        fetches: &[IssuerFetch],
        policy: OutboundPolicy,
        timeout: Duration,
    ) -> Result<Self, String> {
        let mut issuers = HashMap::new();
        for f in fetches {
            let config = crate::tls::client_config(f.ca_file.as_deref())
                .map_err(|e| format!("trusted issuer {}: ca_file: {e}", f.issuer))?;
            issuers.insert(
                f.issuer.clone(),
                Issuer {
                    fetch: f.clone(),
                    tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
                    held: Mutex::new(None),
                    last_attempt: Mutex::new(None),
                    fetching: tokio::sync::Mutex::new(()),
                },
            );
        }
        Ok(Self {
            issuers,
            policy,
            timeout,
        })
    }

    /// The keys of `issuer`: held ones while fresh (and, for `refresh`, while the last
    /// attempt is recent); else fetched.
    pub async fn keys(
        &self,
        issuer: &str,
        refresh: bool,
        now: u64,
    ) -> Result<Arc<Vec<AssertionKey>>, FetchError> {
        let Some(entry) = self.issuers.get(issuer) else {
            return Err(FetchError::Unavailable(format!(
                "{issuer} has no jwks_uri or discovery configured"
            )));
        };
        if let Some(keys) = entry.usable(refresh, now) {
            return Ok(keys);
        }
        let _one_at_a_time = entry.fetching.lock().await;
        if let Some(keys) = entry.usable(refresh, now) {
            return Ok(keys);
        }
        if let Ok(mut last) = entry.last_attempt.lock() {
            *last = Some(now);
        }
        let fetched = tokio::time::timeout(self.timeout, self.fetch(entry))
            .await
            .unwrap_or_else(|_| {
                Err(FetchError::Unavailable(format!(
                    "fetching the keys of {issuer} took longer than {:?}",
                    self.timeout
                )))
            });
        match fetched {
            Ok((keys, max_age)) => {
                let keys = Arc::new(keys);
                let keep = max_age
                    .unwrap_or(DEFAULT_CACHE_SECS)
                    .clamp(MIN_CACHE_SECS, MAX_CACHE_SECS);
                if let Ok(mut held) = entry.held.lock() {
                    *held = Some(Held {
                        keys: Arc::clone(&keys),
                        fetched_at: now,
                        fresh_until: now.saturating_add(keep),
                    });
                }
                Ok(keys)
            }
            Err(e) => {
                // Keep serving what we hold: the issuer's key server being down is no
                // reason to refuse tokens signed by keys we know.
                let held = entry
                    .held
                    .lock()
                    .ok()
                    .and_then(|h| h.as_ref().map(|h| Arc::clone(&h.keys)));
                match held {
                    Some(keys) => {
                        log::warn!(issuer = issuer, reason = e.to_string().as_str(); "cannot refetch a trusted issuer's keys; keeping the ones held");
                        Ok(keys)
                    }
                    None => Err(e),
                }
            }
        }
    }

    async fn fetch(&self, entry: &Issuer) -> Result<(Vec<AssertionKey>, Option<u64>), FetchError> {
        let f = &entry.fetch;
        let bearer = match &f.bearer_token_file {
            None => None,
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| {
                        FetchError::Unavailable(format!(
                            "bearer_token_file {}: {e}",
                            path.display()
                        ))
                    })?
                    .trim()
                    .to_owned(),
            ),
        };
        let jwks_uri = match &f.location {
            IssuerKeyLocation::JwksUri(uri) => uri.clone(),
            IssuerKeyLocation::Discovery => {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    f.issuer.trim_end_matches('/')
                );
                let get = Get {
                    accept: "application/json",
                    bearer: bearer.as_deref(),
                };
                let (doc, _) = get_json(&self.policy, &entry.tls, &url, true, get).await?;
                let found = doc.get("issuer").and_then(|i| i.as_str()).unwrap_or("");
                if found != f.issuer {
                    return Err(FetchError::Unavailable(format!(
                        "{url} names issuer {found:?}, not {}",
                        f.issuer
                    )));
                }
                doc.get("jwks_uri")
                    .and_then(|u| u.as_str())
                    .ok_or_else(|| FetchError::Unavailable(format!("{url} has no jwks_uri")))?
                    .to_owned()
            }
        };
        let get = Get {
            accept: "application/jwk-set+json, application/json",
            bearer: bearer.as_deref(),
        };
        let (json, max_age) = get_json(&self.policy, &entry.tls, &jwks_uri, true, get).await?;
        let (keys, skipped) = keys_from_issuer_jwks(&json)
            .map_err(|e| FetchError::Unavailable(format!("{jwks_uri}: {e}")))?;
        log::info!(issuer = f.issuer.as_str(), jwks_uri = jwks_uri.as_str(), keys = keys.len(), skipped = skipped; "fetched a trusted issuer's keys");
        Ok((keys, max_age))
    }
}

impl Issuer {
    fn usable(&self, refresh: bool, now: u64) -> Option<Arc<Vec<AssertionKey>>> {
        let held = self.held.lock().ok()?;
        let h = held.as_ref()?;
        if now >= h.fresh_until {
            return None;
        }
        if refresh {
            let last = self
                .last_attempt
                .lock()
                .ok()
                .and_then(|l| *l)
                .unwrap_or(h.fetched_at);
            if now.saturating_sub(last) >= self.fetch.min_refetch_secs {
                return None;
            }
        }
        Some(Arc::clone(&h.keys))
    }
}

/// The issuer-keys port: an issuer whose keys cannot be had now is 503
/// `temporarily_unavailable`, never the workload's fault.
#[async_trait::async_trait]
impl crate::oauth::ports::IssuerKeySource for IssuerKeyFetcher {
    async fn issuer_keys(
        &self,
        issuer: &str,
        refresh: bool,
        now: u64,
    ) -> Result<Arc<Vec<AssertionKey>>, OAuthError> {
        IssuerKeyFetcher::keys(self, issuer, refresh, now)
            .await
            .map_err(|e| {
                log::warn!(issuer = issuer, reason = e.to_string().as_str(); "cannot fetch a trusted issuer's keys");
                OAuthError::TemporarilyUnavailable {
                    reason: format!("trusted issuer {issuer}: {e}").into(),
                }
            })
    }
}
