//! Fetching `jwks_uri` documents for private_key_jwt clients, with bounds.
//!
//! - HTTPS only (plain HTTP only with `assertions.insecure_http_jwks_uri`, for tests),
//!   verified against the system trust store plus `assertions.jwks_ca_file`;
//! - only to addresses [`super::outbound`] allows (no loopback, private or link-local
//!   address unless allowed): the name is resolved once and the connection goes to the
//!   checked address;
//! - connect and total timeouts, a size limit, no redirects (a 3xx is an error);
//! - a cache per URI (and trust: a trusted client's fetch never serves an untrusted one)
//!   for `assertions.jwks_cache_secs`; a refetch before that only when
//!   an assertion names an unknown `kid`, and at most once per `jwks_min_refetch_secs`
//!   per URI, so a stream of bad assertions cannot turn into a stream of fetches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;

use super::outbound::{OutboundPolicy, Refused};
use crate::oauth::client_auth::jwt_assertion::{AssertionKey, keys_from_jwks};

/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 64 * 1024;

/// Fetch rules, from `[assertions]`.
#[derive(Debug, Clone)]
pub struct FetchRules {
    /// How long a fetched JWKS is used without asking again.
    pub cache_secs: u64,
    /// The minimum time between two fetches of one URI.
    pub min_refetch_secs: u64,
    /// Connect + request + body time limit.
    pub timeout: Duration,
    /// Which URIs and addresses may be fetched.
    pub policy: OutboundPolicy,
}

/// Why a client's keys could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URI may not be fetched at all: the registration is wrong.
    #[error("{0}")]
    Refused(#[from] Refused),
    /// The key server could not be reached or answered badly (perhaps for now).
    #[error("{0}")]
    Unavailable(String),
}

struct Entry {
    keys: Arc<Vec<AssertionKey>>,
    fetched_at: u64,
}

/// The JWKS cache and fetcher.
pub struct JwksFetcher {
    rules: FetchRules,
    tls: tokio_rustls::TlsConnector,
    /// Per URI, apart for untrusted (`[0]`) and trusted (`[1]`) clients.
    cache: [Mutex<HashMap<String, Entry>>; 2],
    /// Serialises fetches so concurrent requests for one URI fetch it once.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for JwksFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksFetcher")
            .field("rules", &self.rules)
            .finish()
    }
}

impl JwksFetcher {
    /// A fetcher trusting the system roots plus the PEM certificates of `extra_ca_file`.
    pub fn new(rules: FetchRules, extra_ca_file: Option<&std::path::Path>) -> Result<Self, String> {
        let config = crate::tls::client_config(extra_ca_file)?;
        Ok(Self {
            rules,
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            cache: [Mutex::new(HashMap::new()), Mutex::new(HashMap::new())],
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The rules this fetcher follows.
    pub fn policy(&self) -> &OutboundPolicy {
        &self.rules.policy
    }

    /// The keys of `uri`: cached while fresh; `refresh` asks for a refetch (an unknown
    /// kid), honoured when the last fetch is older than the minimum interval. `trusted`
    /// (an admin's `jwks_uri_trusted` client) may reach any address but ahdapa's own.
    pub async fn keys(
        &self,
        uri: &str,
        trusted: bool,
        now: u64,
        refresh: bool,
    ) -> Result<Arc<Vec<AssertionKey>>, FetchError> {
        if let Some(keys) = self.cached(uri, trusted, now, refresh) {
            return Ok(keys);
        }
        let _one_at_a_time = self.fetching.lock().await;
        if let Some(keys) = self.cached(uri, trusted, now, refresh) {
            return Ok(keys);
        }
        let fetched = tokio::time::timeout(self.rules.timeout, self.fetch(uri, trusted))
            .await
            .map_err(|_| {
                FetchError::Unavailable(format!(
                    "fetching {uri} took longer than {:?}",
                    self.rules.timeout
                ))
            })??;
        let keys = Arc::new(fetched);
        if let Ok(mut cache) = self.cache_of(trusted).lock() {
            cache.insert(
                uri.to_owned(),
                Entry {
                    keys: Arc::clone(&keys),
                    fetched_at: now,
                },
            );
        }
        Ok(keys)
    }

    fn cache_of(&self, trusted: bool) -> &Mutex<HashMap<String, Entry>> {
        let [untrusted, trusted_cache] = &self.cache;
        if trusted { trusted_cache } else { untrusted }
    }

    fn cached(
        &self,
        uri: &str,
        trusted: bool,
        now: u64,
        refresh: bool,
    ) -> Option<Arc<Vec<AssertionKey>>> {
        let cache = self.cache_of(trusted).lock().ok()?;
        let e = cache.get(uri)?;
        let age = now.saturating_sub(e.fetched_at);
        let fresh = age < self.rules.cache_secs;
        let may_refetch = age >= self.rules.min_refetch_secs;
        (fresh && !(refresh && may_refetch)).then(|| Arc::clone(&e.keys))
    }

    async fn fetch(&self, uri: &str, trusted: bool) -> Result<Vec<AssertionKey>, FetchError> {
        let request = Get {
            accept: "application/jwk-set+json, application/json",
            bearer: None,
        };
        let (json, _) = get_json(&self.rules.policy, &self.tls, uri, trusted, request).await?;
        keys_from_jwks(&json).map_err(|e| FetchError::Unavailable(format!("{uri}: {e}")))
    }
}

/// What a GET sends besides the path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Get<'a> {
    /// The `Accept` header.
    pub accept: &'a str,
    /// A bearer token for `Authorization` (Kubernetes' service-account discovery).
    pub bearer: Option<&'a str>,
}

/// GETs a JSON document from `uri` under `policy` (addresses checked, no redirects, at
/// most [`MAX_JWKS_BYTES`]) and returns it with the `max-age` of its `Cache-Control`.
pub(crate) async fn get_json(
    policy: &OutboundPolicy,
    tls: &tokio_rustls::TlsConnector,
    uri: &str,
    trusted: bool,
    request: Get<'_>,
) -> Result<(serde_json::Value, Option<u64>), FetchError> {
    let unavailable = |e: String| FetchError::Unavailable(format!("{uri}: {e}"));
    let target = policy.target(uri)?;
    let addresses = policy
        .resolve(&target, trusted)
        .await?
        .map_err(unavailable)?;
    let tcp = TcpStream::connect(addresses.as_slice())
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let host = target.host.as_str();
    let host_header = target.host_header();
    let (headers, body) = if target.https {
        let name = ServerName::try_from(host.to_owned()).map_err(|e| unavailable(e.to_string()))?;
        let tls = tls
            .connect(name, tcp)
            .await
            .map_err(|e| unavailable(format!("TLS: {e}")))?;
        get(TokioIo::new(tls), &host_header, &target.path, request).await
    } else {
        get(TokioIo::new(tcp), &host_header, &target.path, request).await
    }
    .map_err(unavailable)?;
    let json: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| unavailable(format!("not JSON: {e}")))?;
    Ok((json, max_age(&headers)))
}

/// `Cache-Control: max-age=N` (RFC 9111 §5.2.2.1); `no-store`/`no-cache` count as 0.
fn max_age(headers: &http::HeaderMap) -> Option<u64> {
    let value = headers.get(http::header::CACHE_CONTROL)?.to_str().ok()?;
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(0);
        }
        if let Some(n) = lower.strip_prefix("max-age=") {
            age = n.trim_matches('"').parse().ok();
        }
    }
    age
}

async fn get<T>(
    io: T,
    host: &str,
    path: &str,
    request: Get<'_>,
) -> Result<(http::HeaderMap, Bytes), String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let mut req = http::Request::get(path)
        .header(http::header::HOST, host)
        .header(http::header::ACCEPT, request.accept);
    if let Some(token) = request.bearer {
        req = req.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let req = req.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
    let (status, headers, body) =
        crate::http_client::exchange_with_headers(io, req, MAX_JWKS_BYTES).await?;
    if status.is_redirection() {
        Err(format!("answered {status}; redirects are not followed"))
    } else if !status.is_success() {
        Err(format!("answered {status}"))
    } else {
        Ok((headers, body))
    }
}

/// The client-keys port: a fetch that cannot happen now is 503 `temporarily_unavailable`
/// (an outage of the client's key server is not the client's authentication failing),
/// one that may never happen is `invalid_client` (a wrong registration).
#[async_trait::async_trait]
impl crate::oauth::ports::ClientKeySource for JwksFetcher {
    async fn keys(
        &self,
        uri: &str,
        trusted: bool,
        refresh: bool,
        now: u64,
    ) -> Result<Arc<Vec<AssertionKey>>, crate::oauth::OAuthError> {
        use crate::oauth::OAuthError;
        JwksFetcher::keys(self, uri, trusted, now, refresh)
            .await
            .map_err(|e| match e {
                FetchError::Unavailable(reason) => {
                    log::warn!(jwks_uri = uri, reason = reason.as_str(); "cannot fetch a client's jwks_uri");
                    OAuthError::TemporarilyUnavailable {
                        reason: format!("jwks_uri: {reason}").into(),
                    }
                }
                FetchError::Refused(refused) => {
                    OAuthError::invalid_client(format!("jwks_uri may not be fetched: {refused}"))
                }
            })
    }
}
