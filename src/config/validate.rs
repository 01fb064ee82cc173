//! Raw sections into typed ones, with defaults, collecting every mistake by key path.

use crate::config::ProxyClientCert;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::raw::{RawConfig, RawKerberos, RawServer, RawTls};
use super::{
    Config, ConfigError, KerberosConfig, KeysConfig, Limits, ServerConfig, StoreConfig, Transport,
};
use crate::oauth::client::{Client, MAX_TOKEN_LIFETIME_SECS};
use crate::oauth::client_auth::jwt_assertion::AssertionRules;
use crate::oauth::token_endpoint::TokenSettings;
use crate::token::keys::SigningAlgorithm;

/// Where `ahdapa` looks for its config when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/ahdapa/ahdapa.toml";
const DEFAULT_LISTEN: &str = "0.0.0.0:443";
const DEFAULT_SQLITE_PATH: &str = "/var/lib/ahdapa/ahdapa.db";
const DEFAULT_MASTER_KEY_FILE: &str = "/var/lib/ahdapa/master.key";
const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 900;
const DEFAULT_KEYTAB: &str = "/etc/ahdapa/http.keytab";
const DEFAULT_REPLAY_CACHE: &str = "/var/lib/ahdapa/krb5.rcache";
const DEFAULT_CLOCK_SKEW_SECS: u64 = 300;
const DEFAULT_ASSERTION_MAX_LIFETIME_SECS: u64 = 300;
const DEFAULT_ASSERTION_LEEWAY_SECS: u64 = 60;

/// Validates the raw config; `None` when a mistake left nothing usable for a field (the
/// mistake is then in `errors`).
pub fn validate(
    raw: RawConfig,
    clients: Vec<Client>,
    errors: &mut Vec<ConfigError>,
) -> Option<Config> {
    let mut err = |path: &str, message: String| errors.push(ConfigError::new(path, message));
    let insecure_http = raw.server.insecure_http.unwrap_or(false);

    let issuer = match raw.issuer.as_deref() {
        None => {
            err("issuer", "required: the https:// URL clients reach ahdapa at, e.g. \"https://idp.example.com\"".into());
            None
        }
        Some(s) => match check_issuer(s, insecure_http) {
            Ok(v) => Some(v),
            Err(m) => {
                err("issuer", m);
                None
            }
        },
    };
    let listen = listen_addresses(&raw.server, &mut err);
    let limits = limits(&raw.server, &mut err);
    let transport = transport(raw.tls.as_ref(), insecure_http, &mut err);
    let proxy_client_cert = proxy_client_cert(raw.tls.as_ref(), &mut err);

    let algorithm = match raw
        .keys
        .algorithm
        .as_deref()
        .unwrap_or("ES256")
        .parse::<SigningAlgorithm>()
    {
        Ok(a) => Some(a),
        Err(m) => {
            err("keys.algorithm", m);
            None
        }
    };
    let master_key_file = absolute(
        raw.keys
            .master_key_file
            .as_deref()
            .unwrap_or(DEFAULT_MASTER_KEY_FILE),
        "keys.master_key_file",
        &mut err,
    );
    let sqlite_path = absolute(
        raw.store
            .sqlite_path
            .as_deref()
            .unwrap_or(DEFAULT_SQLITE_PATH),
        "store.sqlite_path",
        &mut err,
    );

    let postgres = postgres_config(&raw.store, &mut err);

    let lifetime = raw
        .tokens
        .lifetime_secs
        .unwrap_or(DEFAULT_TOKEN_LIFETIME_SECS);
    if lifetime == 0 || lifetime > MAX_TOKEN_LIFETIME_SECS {
        err(
            "tokens.lifetime_secs",
            format!("must be between 1 and {MAX_TOKEN_LIFETIME_SECS}"),
        );
    }
    let default_audience = raw.tokens.default_audience.unwrap_or_default();
    if default_audience.iter().any(String::is_empty) {
        err(
            "tokens.default_audience",
            "an audience must not be empty".into(),
        );
    }
    let log_level = match raw
        .log
        .level
        .as_deref()
        .unwrap_or("info")
        .parse::<log::LevelFilter>()
    {
        Ok(l) => Some(l),
        Err(_) => {
            err(
                "log.level",
                "expected one of \"off\", \"error\", \"warn\", \"info\", \"debug\", \"trace\""
                    .into(),
            );
            None
        }
    };

    let sample_every = bounded_secs(
        raw.log.issuance_sample_every,
        100,
        1,
        1_000_000,
        "log.issuance_sample_every",
        &mut err,
    );
    let log_issuance = match (raw.log.issuance.as_deref().unwrap_or("all"), sample_every) {
        ("all", _) => Some(super::IssuanceLog::All),
        ("none", _) => Some(super::IssuanceLog::None),
        ("sampled", Some(n)) => Some(super::IssuanceLog::Sampled(n)),
        ("sampled", None) => None,
        _ => {
            err(
                "log.issuance",
                "expected \"all\", \"sampled\" or \"none\"".into(),
            );
            None
        }
    };

    let kerberos = kerberos(&raw.kerberos, raw.ipa.gssapi, issuer.as_deref(), &mut err);

    let assertion_max_lifetime = bounded_secs(
        raw.assertions.max_lifetime_secs,
        DEFAULT_ASSERTION_MAX_LIFETIME_SECS,
        1,
        3600,
        "assertions.max_lifetime_secs",
        &mut err,
    );
    let assertion_leeway = bounded_secs(
        raw.assertions.leeway_secs,
        DEFAULT_ASSERTION_LEEWAY_SECS,
        0,
        600,
        "assertions.leeway_secs",
        &mut err,
    );

    let jwks_cache = bounded_secs(
        raw.assertions.jwks_cache_secs,
        300,
        0,
        86_400,
        "assertions.jwks_cache_secs",
        &mut err,
    );
    let jwks_refetch = bounded_secs(
        raw.assertions.jwks_min_refetch_secs,
        30,
        0,
        3600,
        "assertions.jwks_min_refetch_secs",
        &mut err,
    );
    let jwks_timeout = bounded_secs(
        raw.assertions.jwks_timeout_secs,
        5,
        1,
        60,
        "assertions.jwks_timeout_secs",
        &mut err,
    );
    let mut allowed_networks = Vec::new();
    for (i, n) in raw
        .assertions
        .jwks_uri_allowed_networks
        .iter()
        .flatten()
        .enumerate()
    {
        match n
            .parse::<ipnet::IpNet>()
            .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        {
            Ok(net) => allowed_networks.push(net.trunc()),
            Err(_) => err(
                &format!("assertions.jwks_uri_allowed_networks[{i}]"),
                format!(
                    "{n:?} is not an address or a network (e.g. \"10.20.0.0/16\", \"fd00::/8\")"
                ),
            ),
        }
    }
    let own_addresses: Vec<SocketAddr> = listen.iter().flatten().copied().collect();
    let jwks_ca_file = match raw.assertions.jwks_ca_file.as_deref() {
        None => Some(None),
        Some(f) => absolute(f, "assertions.jwks_ca_file", &mut err).map(Some),
    };

    let dpop_age = bounded_secs(
        raw.dpop.proof_max_age_secs,
        300,
        5,
        3600,
        "dpop.proof_max_age_secs",
        &mut err,
    );
    let dpop_nonce_life = bounded_secs(
        raw.dpop.nonce_lifetime_secs,
        300,
        5,
        86_400,
        "dpop.nonce_lifetime_secs",
        &mut err,
    );

    let rotate_after_days = bounded_secs(
        raw.keys.rotate_after_days,
        90,
        0,
        3650,
        "keys.rotate_after_days",
        &mut err,
    );

    let metrics_listen = match raw.metrics.listen.as_deref() {
        None => Some(None),
        Some(a) => match a.parse::<SocketAddr>() {
            Ok(addr) => {
                let clash = listen.iter().flatten().position(|l| {
                    l.port() == addr.port()
                        && (l.ip() == addr.ip()
                            || l.ip().is_unspecified()
                            || addr.ip().is_unspecified())
                });
                match clash {
                    Some(i) => {
                        err(
                            "metrics.listen",
                            format!("{a:?} is also server.listen[{i}]: give /metrics its own port"),
                        );
                        None
                    }
                    None => Some(Some(addr)),
                }
            }
            Err(_) => {
                err(
                    "metrics.listen",
                    format!("{a:?} is not an IP:port address (e.g. \"127.0.0.1:9464\")"),
                );
                None
            }
        },
    };

    let directory = super::directory::directory(
        raw.directory.as_ref(),
        kerberos
            .as_ref()
            .and_then(|k| k.as_ref())
            .map(|k| k.keytab.as_path()),
        &mut err,
    );

    let no_directory = matches!(&directory, Some(None));
    let admin_groups = raw.admin.groups.unwrap_or_default();
    if no_directory && !admin_groups.is_empty() {
        err(
            "admin.groups",
            "needs a [directory] to look the groups up".into(),
        );
    }
    let admin_principals = raw.admin.principals.unwrap_or_default();
    for (i, p) in admin_principals.iter().enumerate() {
        if p.is_empty() || p.contains('*') || !p.contains('@') {
            err(
                &format!("admin.principals[{i}]"),
                format!("{p:?} is not a principal such as \"admin@EXAMPLE.COM\""),
            );
        }
    }
    let enrollment = match &raw.enrollment {
        None => Some(None),
        Some(e) => {
            let pattern = match e.principal_pattern.as_deref() {
                None => {
                    err(
                        "enrollment.principal_pattern",
                        "required: which hosts may enrol, e.g. \"host/*.example.com@EXAMPLE.COM\""
                            .into(),
                    );
                    None
                }
                Some(p) => match crate::oauth::principal::PrincipalPattern::parse(p) {
                    Ok(pat) if p.starts_with("host/") => Some(pat),
                    Ok(_) => {
                        err(
                            "enrollment.principal_pattern",
                            "must match host principals (host/...)".into(),
                        );
                        None
                    }
                    Err(m) => {
                        err("enrollment.principal_pattern", m);
                        None
                    }
                },
            };
            let require_hostgroups = e.require_hostgroups.clone().unwrap_or_default();
            if no_directory && !require_hostgroups.is_empty() {
                err(
                    "enrollment.require_hostgroups",
                    "needs a [directory] to look the host groups up".into(),
                );
            }
            let scopes = e
                .scopes
                .clone()
                .unwrap_or_else(|| vec!["directory.read".to_owned()]);
            let prefix = e.client_id_prefix.clone().unwrap_or_else(|| "host-".into());
            if prefix
                .chars()
                .any(|c| !c.is_ascii_graphic() || "/%?#:".contains(c))
            {
                err(
                    "enrollment.client_id_prefix",
                    "printable ASCII without / % ? # :".into(),
                );
            }
            pattern.map(|pattern| {
                Some(super::EnrollmentConfig {
                    pattern,
                    require_hostgroups,
                    scopes,
                    client_id_prefix: prefix,
                })
            })
        }
    };

    let registration = match &raw.registration {
        Some(r) if r.enabled.unwrap_or(true) => {
            let allowed_scopes = r.allowed_scopes.clone().unwrap_or_default();
            if allowed_scopes.is_empty() {
                err(
                    "registration.allowed_scopes",
                    "required: the scopes dynamically registered clients may have".into(),
                );
            }
            let hash = match r.initial_access_token_file.as_deref() {
                None => Some(None),
                Some(f) => match std::fs::read_to_string(f) {
                    Ok(t) if t.trim().len() >= 16 => Some(Some(
                        crate::oauth::secret::SecretHash::of(
                            &crate::oauth::secret::ClientSecret::new(t.trim().to_owned()),
                        )
                        .to_stored(),
                    )),
                    Ok(_) => {
                        err(
                            "registration.initial_access_token_file",
                            format!("{f}: the token must be at least 16 characters"),
                        );
                        None
                    }
                    Err(e) => {
                        err(
                            "registration.initial_access_token_file",
                            format!("cannot read {f}: {e}"),
                        );
                        None
                    }
                },
            };
            hash.map(|h| {
                Some(super::RegistrationConfig {
                    allowed_scopes,
                    initial_access_token_hash: h,
                })
            })
        }
        _ => Some(None),
    };

    if let Some(None) = &directory {
        for c in clients.iter().filter(|c| c.directory.is_some()) {
            err(
                "directory",
                format!(
                    "client {:?} has directory requirements: configure [directory]",
                    c.client_id
                ),
            );
        }
    }

    let issuer = issuer?;
    let default_audience = if default_audience.is_empty() {
        vec![issuer.clone()]
    } else {
        default_audience
    };
    Some(Config {
        server: ServerConfig {
            proxy_client_cert: proxy_client_cert?,
            listen: listen?,
            transport: transport?,
            limits: limits?,
        },
        store: StoreConfig {
            sqlite_path: sqlite_path?,
            postgres: postgres?,
        },
        keys: KeysConfig {
            algorithm: algorithm?,
            master_key_file: master_key_file?,
            rotate_after_days: rotate_after_days?,
        },
        tokens: TokenSettings {
            assertions: AssertionRules {
                audiences: vec![format!("{issuer}/token"), issuer.clone()],
                max_lifetime_secs: assertion_max_lifetime?,
                leeway_secs: assertion_leeway?,
            },
            issuer: issuer.clone(),
            default_audience,
            default_lifetime_secs: lifetime,
        },
        log_level: log_level?,
        log_issuance: log_issuance?,
        clients,
        kerberos: kerberos?,
        jwks_fetch: crate::authn::jwks_fetch::FetchRules {
            cache_secs: jwks_cache?,
            min_refetch_secs: jwks_refetch?,
            timeout: Duration::from_secs(jwks_timeout?),
            policy: crate::authn::outbound::OutboundPolicy {
                insecure_http: raw.assertions.insecure_http_jwks_uri.unwrap_or(false),
                allowed_networks,
                own_addresses,
            },
        },
        jwks_ca_file: jwks_ca_file?,
        metrics_listen: metrics_listen?,
        directory: directory?,
        admin: super::AdminConfig {
            principals: admin_principals,
            groups: admin_groups,
            require_dpop: raw.admin.require_dpop.unwrap_or(false),
        },
        enrollment: enrollment?,
        registration: registration?,
        dpop: super::DpopConfig {
            proof_max_age_secs: dpop_age?,
            require_nonce: raw.dpop.require_nonce.unwrap_or(false),
            nonce_lifetime_secs: dpop_nonce_life?,
        },
        issuer,
    })
}

/// RFC 8414 §2: an https URL with no query or fragment. http is allowed only with
/// `server.insecure_http`. A trailing slash is refused, since `iss` must match exactly.
fn check_issuer(s: &str, insecure_http: bool) -> Result<String, String> {
    let uri: http::Uri = s.parse().map_err(|_| format!("{s:?} is not a URL"))?;
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if insecure_http => {}
        Some("http") => {
            return Err("must be https:// (http:// only with server.insecure_http = true)".into());
        }
        _ => return Err(format!("{s:?} must start with https://")),
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err("must name a host".into());
    }
    if uri.query().is_some() || s.contains('#') {
        return Err("must not have a query or fragment (RFC 8414 §2)".into());
    }
    if s.ends_with('/') {
        return Err(format!(
            "remove the trailing slash: {:?}",
            s.trim_end_matches('/')
        ));
    }
    Ok(s.to_owned())
}

fn listen_addresses(
    server: &RawServer,
    err: &mut impl FnMut(&str, String),
) -> Option<Vec<SocketAddr>> {
    let raw = server
        .listen
        .clone()
        .unwrap_or_else(|| vec![DEFAULT_LISTEN.to_owned()]);
    if raw.is_empty() {
        err("server.listen", "at least one address is required".into());
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (i, a) in raw.iter().enumerate() {
        match a.parse::<SocketAddr>() {
            Ok(addr) => out.push(addr),
            Err(_) => {
                err(
                    &format!("server.listen[{i}]"),
                    format!(
                        "{a:?} is not an IP:port address (e.g. \"0.0.0.0:443\", \"[::1]:8443\")"
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn limits(server: &RawServer, err: &mut impl FnMut(&str, String)) -> Option<Limits> {
    let d = Limits::default();
    let mut ok = true;
    let mut bounded = |key: &str, value: Option<u64>, default: u64, min: u64, max: u64| -> u64 {
        let v = value.unwrap_or(default);
        if v < min || v > max {
            err(
                &format!("server.{key}"),
                format!("must be between {min} and {max}"),
            );
            ok = false;
        }
        v
    };
    let max_body = bounded(
        "max_body_bytes",
        server.max_body_bytes,
        d.max_body_bytes as u64,
        1024,
        1 << 20,
    );
    let max_header = bounded(
        "max_header_bytes",
        server.max_header_bytes,
        d.max_header_bytes as u64,
        4096,
        1 << 20,
    );
    let timeout = bounded(
        "request_timeout_secs",
        server.request_timeout_secs,
        d.request_timeout.as_secs(),
        1,
        300,
    );
    let handshake = bounded(
        "handshake_timeout_secs",
        server.handshake_timeout_secs,
        d.handshake_timeout.as_secs(),
        1,
        300,
    );
    let idle = bounded(
        "idle_timeout_secs",
        server.idle_timeout_secs,
        d.idle_timeout.as_secs(),
        1,
        3600,
    );
    let conns = bounded(
        "max_connections",
        server.max_connections,
        d.max_connections as u64,
        1,
        1 << 20,
    );
    let per_address = bounded(
        "max_connections_per_address",
        server.max_connections_per_address,
        d.max_connections_per_address as u64,
        1,
        1 << 20,
    );
    let grace = bounded(
        "shutdown_grace_secs",
        server.shutdown_grace_secs,
        d.shutdown_grace.as_secs(),
        0,
        300,
    );
    ok.then(|| Limits {
        max_body_bytes: usize::try_from(max_body).unwrap_or(d.max_body_bytes),
        max_header_bytes: usize::try_from(max_header).unwrap_or(d.max_header_bytes),
        request_timeout: Duration::from_secs(timeout),
        handshake_timeout: Duration::from_secs(handshake),
        idle_timeout: Duration::from_secs(idle),
        max_connections: usize::try_from(conns).unwrap_or(d.max_connections),
        max_connections_per_address: usize::try_from(per_address)
            .unwrap_or(d.max_connections_per_address),
        shutdown_grace: Duration::from_secs(grace),
    })
}

fn transport(
    tls: Option<&RawTls>,
    insecure_http: bool,
    err: &mut impl FnMut(&str, String),
) -> Option<Transport> {
    match (tls, insecure_http) {
        (Some(t), true) if t.certificate_file.is_some() || t.private_key_file.is_some() => {
            err(
                "server.insecure_http",
                "cannot be true while tls.certificate_file / tls.private_key_file are set: choose one".into(),
            );
            None
        }
        (Some(_), true) => Some(Transport::InsecureHttp),
        (None, true) => Some(Transport::InsecureHttp),
        (None, false) => {
            err("tls", "required: set tls.certificate_file and tls.private_key_file (or server.insecure_http = true behind a TLS proxy)".into());
            None
        }
        (Some(t), false) => {
            let cert = t.certificate_file.as_deref();
            let key = t.private_key_file.as_deref();
            if cert.is_none() {
                err(
                    "tls.certificate_file",
                    "required: a PEM file with the certificate chain".into(),
                );
            }
            if key.is_none() {
                err(
                    "tls.private_key_file",
                    "required: a PEM file with the private key".into(),
                );
            }
            let ca_files: Vec<PathBuf> = t
                .client_ca_files
                .iter()
                .flatten()
                .map(PathBuf::from)
                .collect();
            let policy = match crate::tls::ClientCertPolicy::new(&ca_files) {
                Ok(p) => Arc::new(p),
                Err(e) => {
                    err("tls.client_ca_files", e.to_string());
                    return None;
                }
            };
            let (cert, key) = (cert?, key?);
            // Built once here to name every mistake by key path; the service builds the
            // configuration it serves with from the same files.
            match crate::tls::server_config(cert.as_ref(), key.as_ref(), Arc::clone(&policy)) {
                Ok(_) => Some(Transport::Tls(super::TlsFiles {
                    certificate_file: PathBuf::from(cert),
                    private_key_file: PathBuf::from(key),
                    client_ca_files: ca_files,
                })),
                Err(crate::tls::TlsError::Certificate(m)) => {
                    err("tls.certificate_file", m);
                    None
                }
                Err(crate::tls::TlsError::PrivateKey(m)) => {
                    err("tls.private_key_file", m);
                    None
                }
                Err(crate::tls::TlsError::ClientCa(m)) => {
                    err("tls.client_ca_files", m);
                    None
                }
            }
        }
    }
}

/// `store.postgres_*`; `Some(None)` is "SQLite".
fn postgres_config(
    raw: &super::raw::RawStore,
    err: &mut impl FnMut(&str, String),
) -> Option<Option<crate::store::postgres::PostgresConfig>> {
    let Some(url) = raw.postgres_url.as_deref() else {
        for (set, key) in [
            (
                raw.postgres_password_file.is_some(),
                "store.postgres_password_file",
            ),
            (raw.postgres_ca_file.is_some(), "store.postgres_ca_file"),
        ] {
            if set {
                err(key, "only with store.postgres_url".into());
            }
        }
        return Some(None);
    };
    let mut ok = true;
    if let Err(e) = url.parse::<tokio_postgres::Config>() {
        err(
            "store.postgres_url",
            format!("{}: {e}", crate::store::postgres::redact_url(url)),
        );
        ok = false;
    }
    let password = match raw.postgres_password_file.as_deref() {
        None => None,
        Some(f) => match std::fs::read_to_string(f) {
            Ok(p) => Some(p.trim_end_matches(['\n', '\r']).to_owned()),
            Err(e) => {
                err(
                    "store.postgres_password_file",
                    format!("cannot read {f}: {e}"),
                );
                ok = false;
                None
            }
        },
    };
    let ca_file = match raw.postgres_ca_file.as_deref() {
        None => None,
        Some(f) => absolute(f, "store.postgres_ca_file", err),
    };
    let pool = bounded_secs(
        raw.postgres_pool_size,
        16,
        1,
        256,
        "store.postgres_pool_size",
        err,
    );
    let timeout = bounded_secs(
        raw.postgres_timeout_ms,
        3000,
        100,
        60_000,
        "store.postgres_timeout_ms",
        err,
    );
    if !ok {
        return None;
    }
    Some(Some(crate::store::postgres::PostgresConfig {
        url: url.to_owned(),
        password,
        tls: raw.postgres_tls.unwrap_or(false) || ca_file.is_some(),
        ca_file,
        pool_size: usize::try_from(pool?).ok()?,
        timeout: Duration::from_millis(timeout?),
    }))
}

fn absolute(path: &str, key: &str, err: &mut impl FnMut(&str, String)) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    if p.is_absolute() {
        Some(p)
    } else {
        err(key, format!("{path:?} must be an absolute path"));
        None
    }
}

/// `[kerberos]`, switched on by `kerberos.enabled = true` or `[ipa] gssapi = true`.
/// `Some(None)` is "valid and off".
fn kerberos(
    raw: &RawKerberos,
    ipa_gssapi: Option<bool>,
    issuer: Option<&str>,
    err: &mut impl FnMut(&str, String),
) -> Option<Option<KerberosConfig>> {
    let enabled = match (raw.enabled, ipa_gssapi) {
        (Some(a), Some(b)) if a != b => {
            err(
                "ipa.gssapi",
                "contradicts kerberos.enabled; set one of them".into(),
            );
            return None;
        }
        (a, b) => a.or(b).unwrap_or(false),
    };
    if !enabled {
        return Some(None);
    }
    let mut ok = true;
    let keytab = absolute(
        raw.keytab.as_deref().unwrap_or(DEFAULT_KEYTAB),
        "kerberos.keytab",
        err,
    );
    if let Some(path) = &keytab {
        if let Err(e) = std::fs::File::open(path) {
            err(
                "kerberos.keytab",
                format!("cannot read {}: {e}", path.display()),
            );
            ok = false;
        }
    }
    let replay_cache = absolute(
        raw.replay_cache.as_deref().unwrap_or(DEFAULT_REPLAY_CACHE),
        "kerberos.replay_cache",
        err,
    );
    let service_principal = match (&raw.service_principal, issuer) {
        (Some(p), _) => match check_service_principal(p) {
            Ok(()) => Some(p.clone()),
            Err(m) => {
                err("kerberos.service_principal", m);
                None
            }
        },
        (None, Some(iss)) => iss
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.host().map(|h| format!("HTTP/{h}"))),
        (None, None) => None,
    };
    let clock_skew_secs = raw.clock_skew_secs.unwrap_or(DEFAULT_CLOCK_SKEW_SECS);
    if clock_skew_secs == 0 || clock_skew_secs > 3600 {
        err(
            "kerberos.clock_skew_secs",
            "must be between 1 and 3600".into(),
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    Some(Some(KerberosConfig {
        keytab: keytab?,
        service_principal: service_principal?,
        replay_cache: replay_cache?,
        clock_skew_secs,
    }))
}

fn check_service_principal(p: &str) -> Result<(), String> {
    if p.is_empty() || p.chars().any(|c| !c.is_ascii_graphic()) || p.contains('*') {
        return Err("must be a principal such as \"HTTP/idp.example.com\" or \"HTTP/idp.example.com@EXAMPLE.COM\"".into());
    }
    if !p.contains('/') {
        return Err(format!("{p:?} has no host part; expected \"HTTP/<host>\""));
    }
    Ok(())
}

fn bounded_secs(
    value: Option<u64>,
    default: u64,
    min: u64,
    max: u64,
    key: &str,
    err: &mut impl FnMut(&str, String),
) -> Option<u64> {
    let v = value.unwrap_or(default);
    if v < min || v > max {
        err(key, format!("must be between {min} and {max}"));
        return None;
    }
    Some(v)
}

/// `tls.client_cert_header` + `tls.trusted_proxies`: client certificates forwarded by a
/// TLS-terminating proxy. `Some(None)` is "valid and off".
fn proxy_client_cert(
    tls: Option<&RawTls>,
    err: &mut impl FnMut(&str, String),
) -> Option<Option<ProxyClientCert>> {
    let Some(t) = tls else { return Some(None) };
    let Some(header) = &t.client_cert_header else {
        if t.trusted_proxies.as_ref().is_some_and(|p| !p.is_empty()) {
            err(
                "tls.client_cert_header",
                "required when tls.trusted_proxies is set".into(),
            );
            return None;
        }
        return Some(None);
    };
    let header = match http::HeaderName::from_bytes(header.as_bytes()) {
        Ok(h) => h,
        Err(_) => {
            err(
                "tls.client_cert_header",
                format!("{header:?} is not a header name"),
            );
            return None;
        }
    };
    let mut trusted = Vec::new();
    for (i, p) in t.trusted_proxies.iter().flatten().enumerate() {
        match p.parse::<std::net::IpAddr>() {
            Ok(ip) => trusted.push(ip),
            Err(_) => {
                err(
                    &format!("tls.trusted_proxies[{i}]"),
                    format!("{p:?} is not an IP address"),
                );
                return None;
            }
        }
    }
    if trusted.is_empty() {
        err(
            "tls.trusted_proxies",
            "required with tls.client_cert_header: the proxies allowed to send it".into(),
        );
        return None;
    }
    let ca_files: Vec<PathBuf> = t
        .client_ca_files
        .iter()
        .flatten()
        .map(PathBuf::from)
        .collect();
    match crate::tls::ClientCertPolicy::new(&ca_files) {
        Ok(_) => Some(Some(ProxyClientCert {
            header,
            trusted_proxies: trusted,
            client_ca_files: ca_files,
        })),
        Err(e) => {
            err("tls.client_ca_files", e.to_string());
            None
        }
    }
}
