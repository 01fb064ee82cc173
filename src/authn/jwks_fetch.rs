//! Fetching `jwks_uri` documents for private_key_jwt clients, with bounds.
//!
//! - HTTPS only (plain HTTP only with `assertions.insecure_http_jwks_uri`, for tests),
//!   verified against the system trust store plus `assertions.jwks_ca_file`;
//! - connect and total timeouts, a size limit, no redirects (a 3xx is an error);
//! - a cache per URI for `assertions.jwks_cache_secs`; a refetch before that only when
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
    /// Allow `http://` URIs (tests only).
    pub insecure_http: bool,
}

struct Entry {
    keys: Arc<Vec<AssertionKey>>,
    fetched_at: u64,
}

/// The JWKS cache and fetcher.
pub struct JwksFetcher {
    rules: FetchRules,
    tls: tokio_rustls::TlsConnector,
    cache: Mutex<HashMap<String, Entry>>,
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
            cache: Mutex::new(HashMap::new()),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The keys of `uri`: cached while fresh; `refresh` asks for a refetch (an unknown
    /// kid), honoured when the last fetch is older than the minimum interval.
    pub async fn keys(
        &self,
        uri: &str,
        now: u64,
        refresh: bool,
    ) -> Result<Arc<Vec<AssertionKey>>, String> {
        if let Some(keys) = self.cached(uri, now, refresh) {
            return Ok(keys);
        }
        let _one_at_a_time = self.fetching.lock().await;
        if let Some(keys) = self.cached(uri, now, refresh) {
            return Ok(keys);
        }
        let fetched = tokio::time::timeout(self.rules.timeout, self.fetch(uri))
            .await
            .map_err(|_| format!("fetching {uri} took longer than {:?}", self.rules.timeout))??;
        let keys = Arc::new(fetched);
        if let Ok(mut cache) = self.cache.lock() {
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

    fn cached(&self, uri: &str, now: u64, refresh: bool) -> Option<Arc<Vec<AssertionKey>>> {
        let cache = self.cache.lock().ok()?;
        let e = cache.get(uri)?;
        let age = now.saturating_sub(e.fetched_at);
        let fresh = age < self.rules.cache_secs;
        let may_refetch = age >= self.rules.min_refetch_secs;
        (fresh && !(refresh && may_refetch)).then(|| Arc::clone(&e.keys))
    }

    async fn fetch(&self, uri: &str) -> Result<Vec<AssertionKey>, String> {
        let parsed: http::Uri = uri.parse().map_err(|_| format!("{uri} is not a URL"))?;
        let host = parsed
            .host()
            .ok_or_else(|| format!("{uri} has no host"))?
            .to_owned();
        let https = match parsed.scheme_str() {
            Some("https") => true,
            Some("http") if self.rules.insecure_http => false,
            _ => return Err(format!("{uri}: jwks_uri must be https://")),
        };
        let port = parsed.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("{uri}: {e}"))?;
        let path = parsed
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let body = if https {
            let name = ServerName::try_from(host.clone()).map_err(|e| format!("{uri}: {e}"))?;
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| format!("{uri}: TLS: {e}"))?;
            get(TokioIo::new(tls), &host, &path).await
        } else {
            get(TokioIo::new(tcp), &host, &path).await
        }
        .map_err(|e| format!("{uri}: {e}"))?;
        let json: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("{uri}: not JSON: {e}"))?;
        keys_from_jwks(&json).map_err(|e| format!("{uri}: {e}"))
    }
}

async fn get<T>(io: T, host: &str, path: &str) -> Result<Bytes, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let req = http::Request::get(path)
        .header(http::header::HOST, host)
        .header(
            http::header::ACCEPT,
            "application/jwk-set+json, application/json",
        )
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let (status, body) = crate::web::client::exchange(io, req, MAX_JWKS_BYTES).await?;
    if status.is_redirection() {
        Err(format!("answered {status}; redirects are not followed"))
    } else if !status.is_success() {
        Err(format!("answered {status}"))
    } else {
        Ok(body)
    }
}
