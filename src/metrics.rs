//! Prometheus metrics: fixed-size atomic counters, so recording costs a few relaxed
//! atomic adds on the hot path and never allocates or locks. Rendered in the Prometheus
//! text format (version 0.0.4) on the metrics listener (`[metrics] listen`).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::oauth::client::TokenEndpointAuthMethod;

/// The endpoints requests are counted by.
pub const ENDPOINTS: [&str; 12] = [
    "token",
    "identity",
    "admin",
    "register",
    "introspect",
    "revoke",
    "jwks",
    "discovery",
    "healthz",
    "readyz",
    "metrics",
    "other",
];
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
const METHODS: [TokenEndpointAuthMethod; 8] = [
    TokenEndpointAuthMethod::ClientSecretBasic,
    TokenEndpointAuthMethod::ClientSecretPost,
    TokenEndpointAuthMethod::KerberosClientAuth,
    TokenEndpointAuthMethod::PrivateKeyJwt,
    TokenEndpointAuthMethod::ClientSecretJwt,
    TokenEndpointAuthMethod::TlsClientAuth,
    TokenEndpointAuthMethod::SelfSignedTlsClientAuth,
    TokenEndpointAuthMethod::None,
];
const ERRORS: [&str; 10] = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_dpop_proof",
    "use_dpop_nonce",
    "temporarily_unavailable",
    "server_error",
];
/// Upper bounds of the `/token` latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The counters of one process.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: [[AtomicU64; 5]; 12],
    tokens: [AtomicU64; 8],
    refusals: [AtomicU64; 10],
    latency_buckets: [AtomicU64; 12],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    store_buckets: [AtomicU64; 12],
    store_count: AtomicU64,
    store_sum_micros: AtomicU64,
    /// Replays refused: AP-REQ, assertion jti, DPoP jti.
    replays: [AtomicU64; 3],
    rate_limited: [AtomicU64; 6],
}

/// The `[rate_limits]` entries counted by `ahdapa_rate_limited_total`.
pub const RATE_LIMITS: [&str; 6] = [
    "client_auth_failures_per_address",
    "client_auth_failures_per_client",
    "signin_failures_per_address",
    "signin_failures_per_user",
    "registrations_per_address",
    "device_codes_per_address",
];
/// The replay-record namespaces counted by `ahdapa_replays_refused_total`.
const REPLAY_KINDS: [(&str, &str); 3] = [
    ("krb5-ap-req", "negotiate"),
    ("assertion-jti", "assertion"),
    ("dpop-jti", "dpop"),
];

/// Gauges read at render time.
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    /// Registered clients (config and store).
    pub clients: usize,
    /// Seconds since the signing key started signing.
    pub signing_key_age_secs: u64,
    /// Keys published in `/jwks`.
    pub published_keys: usize,
    /// Directory cache and backend counters, when a directory is configured.
    pub directory: Option<DirectoryCounters>,
}

/// Directory counters read at render time.
#[derive(Debug, Clone, Copy, Default)]
pub struct DirectoryCounters {
    /// Lookups answered from the cache.
    pub cache_hits: u64,
    /// Lookups sent to the directory.
    pub cache_misses: u64,
    /// Directory lookups that failed.
    pub errors: u64,
    /// Total time spent waiting for the directory, microseconds.
    pub backend_micros: u64,
}

impl Metrics {
    /// Counts one answered request.
    pub fn request(&self, endpoint: &str, status: u16) {
        let e = ENDPOINTS
            .iter()
            .position(|x| *x == endpoint)
            .unwrap_or(ENDPOINTS.len() - 1);
        let c = usize::from(status / 100).saturating_sub(1).min(4);
        if let Some(counter) = self.requests.get(e).and_then(|row| row.get(c)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts an issued token by authentication method.
    pub fn token_issued(&self, method: TokenEndpointAuthMethod) {
        if let Some(i) = METHODS.iter().position(|m| *m == method)
            && let Some(c) = self.tokens.get(i)
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a refused token request by its error code.
    pub fn token_refused(&self, code: &str) {
        if let Some(c) = ERRORS
            .iter()
            .position(|e| *e == code)
            .and_then(|i| self.refusals.get(i))
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records how long a `/token` request took.
    pub fn token_latency(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (b, c) in BUCKETS.iter().zip(&self.latency_buckets) {
            if secs <= *b {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Records how long one store round trip (replay record, revocation check) took.
    pub fn store_latency(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (b, c) in BUCKETS.iter().zip(&self.store_buckets) {
            if secs <= *b {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.store_count.fetch_add(1, Ordering::Relaxed);
        self.store_sum_micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Counts a refused replay by its record namespace.
    pub fn replay_refused(&self, namespace: &str) {
        if let Some(c) = REPLAY_KINDS
            .iter()
            .position(|(n, _)| *n == namespace)
            .and_then(|i| self.replays.get(i))
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a request refused by the rate limit named `limit` (a `[rate_limits]` key).
    pub fn rate_limited(&self, limit: &str) {
        if let Some(c) = RATE_LIMITS
            .iter()
            .position(|n| *n == limit)
            .and_then(|i| self.rate_limited.get(i))
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self, g: Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP ahdapa_http_requests_total Requests answered, by endpoint and status class."
        );
        let _ = writeln!(out, "# TYPE ahdapa_http_requests_total counter");
        for (e, row) in ENDPOINTS.iter().zip(&self.requests) {
            for (s, c) in STATUS_CLASSES.iter().zip(row) {
                let v = load(c);
                if v > 0 {
                    let _ = writeln!(
                        out,
                        "ahdapa_http_requests_total{{endpoint=\"{e}\",status=\"{s}\"}} {v}"
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP ahdapa_tokens_issued_total Access tokens issued, by client authentication method."
        );
        let _ = writeln!(out, "# TYPE ahdapa_tokens_issued_total counter");
        for (m, c) in METHODS.iter().zip(&self.tokens) {
            let _ = writeln!(
                out,
                "ahdapa_tokens_issued_total{{method=\"{}\"}} {}",
                m.as_str(),
                load(c)
            );
        }
        let _ = writeln!(
            out,
            "# HELP ahdapa_token_refusals_total Token requests refused, by OAuth error code."
        );
        let _ = writeln!(out, "# TYPE ahdapa_token_refusals_total counter");
        for (e, c) in ERRORS.iter().zip(&self.refusals) {
            let _ = writeln!(
                out,
                "ahdapa_token_refusals_total{{error=\"{e}\"}} {}",
                load(c)
            );
        }
        let _ = writeln!(
            out,
            "# HELP ahdapa_token_request_duration_seconds Time to answer POST /token."
        );
        let _ = writeln!(
            out,
            "# TYPE ahdapa_token_request_duration_seconds histogram"
        );
        for (b, c) in BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(
                out,
                "ahdapa_token_request_duration_seconds_bucket{{le=\"{b}\"}} {}",
                load(c)
            );
        }
        let count = load(&self.latency_count);
        let _ = writeln!(
            out,
            "ahdapa_token_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "ahdapa_token_request_duration_seconds_sum {}",
            load(&self.latency_sum_micros) as f64 / 1e6
        );
        let _ = writeln!(out, "ahdapa_token_request_duration_seconds_count {count}");
        let _ = writeln!(
            out,
            "# HELP ahdapa_store_request_duration_seconds Store round trips on the request path (replay records, revocation checks)."
        );
        let _ = writeln!(
            out,
            "# TYPE ahdapa_store_request_duration_seconds histogram"
        );
        for (b, c) in BUCKETS.iter().zip(&self.store_buckets) {
            let _ = writeln!(
                out,
                "ahdapa_store_request_duration_seconds_bucket{{le=\"{b}\"}} {}",
                load(c)
            );
        }
        let store_count = load(&self.store_count);
        let _ = writeln!(
            out,
            "ahdapa_store_request_duration_seconds_bucket{{le=\"+Inf\"}} {store_count}"
        );
        let _ = writeln!(
            out,
            "ahdapa_store_request_duration_seconds_sum {}",
            load(&self.store_sum_micros) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "ahdapa_store_request_duration_seconds_count {store_count}"
        );
        let _ = writeln!(
            out,
            "# HELP ahdapa_replays_refused_total Replayed Negotiate tokens, assertions and DPoP proofs refused."
        );
        let _ = writeln!(out, "# TYPE ahdapa_replays_refused_total counter");
        for ((_, kind), c) in REPLAY_KINDS.iter().zip(&self.replays) {
            let _ = writeln!(
                out,
                "ahdapa_replays_refused_total{{kind=\"{kind}\"}} {}",
                load(c)
            );
        }
        let _ = writeln!(
            out,
            "# HELP ahdapa_rate_limited_total Requests refused with 429 (or the sign-in page's wait) by each [rate_limits] entry."
        );
        let _ = writeln!(out, "# TYPE ahdapa_rate_limited_total counter");
        for (limit, c) in RATE_LIMITS.iter().zip(&self.rate_limited) {
            let _ = writeln!(
                out,
                "ahdapa_rate_limited_total{{limit=\"{limit}\"}} {}",
                load(c)
            );
        }
        let _ = writeln!(
            out,
            "# HELP ahdapa_clients Registered clients (config file and database)."
        );
        let _ = writeln!(out, "# TYPE ahdapa_clients gauge");
        let _ = writeln!(out, "ahdapa_clients {}", g.clients);
        let _ = writeln!(
            out,
            "# HELP ahdapa_signing_key_age_seconds Time since the signing key started signing."
        );
        let _ = writeln!(out, "# TYPE ahdapa_signing_key_age_seconds gauge");
        let _ = writeln!(
            out,
            "ahdapa_signing_key_age_seconds {}",
            g.signing_key_age_secs
        );
        let _ = writeln!(out, "# HELP ahdapa_published_keys Keys published in /jwks.");
        let _ = writeln!(out, "# TYPE ahdapa_published_keys gauge");
        let _ = writeln!(out, "ahdapa_published_keys {}", g.published_keys);
        if let Some(d) = g.directory {
            for (name, help, kind, value) in [
                (
                    "ahdapa_directory_cache_hits_total",
                    "Directory lookups answered from the cache.",
                    "counter",
                    d.cache_hits.to_string(),
                ),
                (
                    "ahdapa_directory_lookups_total",
                    "Directory lookups sent to the directory (cache misses).",
                    "counter",
                    d.cache_misses.to_string(),
                ),
                (
                    "ahdapa_directory_errors_total",
                    "Directory lookups that failed (timeout, unreachable, refused).",
                    "counter",
                    d.errors.to_string(),
                ),
                (
                    "ahdapa_directory_lookup_seconds_total",
                    "Time spent waiting for the directory.",
                    "counter",
                    (d.backend_micros as f64 / 1e6).to_string(),
                ),
            ] {
                let _ = writeln!(out, "# HELP {name} {help}");
                let _ = writeln!(out, "# TYPE {name} {kind}");
                let _ = writeln!(out, "{name} {value}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_renders() {
        let m = Metrics::default();
        m.request("token", 200);
        m.request("token", 401);
        m.request("nowhere", 404);
        m.token_issued(TokenEndpointAuthMethod::PrivateKeyJwt);
        m.token_refused("invalid_client");
        m.token_refused("not-a-code");
        m.token_latency(Duration::from_micros(700));
        m.store_latency(Duration::from_micros(300));
        m.replay_refused("dpop-jti");
        let text = m.render(Gauges {
            clients: 3,
            signing_key_age_secs: 10,
            published_keys: 2,
            directory: Some(DirectoryCounters {
                cache_hits: 4,
                ..Default::default()
            }),
        });
        for line in [
            "ahdapa_http_requests_total{endpoint=\"token\",status=\"2xx\"} 1",
            "ahdapa_http_requests_total{endpoint=\"token\",status=\"4xx\"} 1",
            "ahdapa_http_requests_total{endpoint=\"other\",status=\"4xx\"} 1",
            "ahdapa_tokens_issued_total{method=\"private_key_jwt\"} 1",
            "ahdapa_token_refusals_total{error=\"invalid_client\"} 1",
            "ahdapa_token_request_duration_seconds_bucket{le=\"0.0005\"} 0",
            "ahdapa_token_request_duration_seconds_bucket{le=\"0.001\"} 1",
            "ahdapa_token_request_duration_seconds_count 1",
            "ahdapa_clients 3",
            "ahdapa_published_keys 2",
            "ahdapa_directory_cache_hits_total 4",
            "ahdapa_store_request_duration_seconds_bucket{le=\"0.0005\"} 1",
            "ahdapa_replays_refused_total{kind=\"dpop\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
