//! Raw sections into typed ones, with defaults, collecting every mistake by key path.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::backends::{kerberos, postgres_config};
use super::raw::RawConfig;
use super::server::{check_issuer, limits, listen_addresses, proxy_client_cert, transport};
use super::{Config, ConfigError, KeysConfig, ServerConfig, StoreConfig};
use crate::oauth::client::{Client, MAX_TOKEN_LIFETIME_SECS};
use crate::oauth::client_auth::jwt_assertion::AssertionRules;
use crate::oauth::token_endpoint::TokenSettings;
use crate::token::keys::SigningAlgorithm;

/// Where `ahdapa` looks for its config when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/ahdapa/ahdapa.toml";
const DEFAULT_SQLITE_PATH: &str = "/var/lib/ahdapa/ahdapa.db";
const DEFAULT_MASTER_KEY_FILE: &str = "/var/lib/ahdapa/master.key";
const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 900;
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
    let trusted_proxies = super::server::trusted_proxies(raw.tls.as_ref(), &mut err);
    // A mistake in tls.trusted_proxies is reported once, by `trusted_proxies`.
    let proxy_client_cert = proxy_client_cert(
        raw.tls.as_ref(),
        trusted_proxies.as_deref().unwrap_or_default(),
        &mut err,
    );

    let algorithm = match raw
        .keys
        .algorithm
        .as_deref()
        .unwrap_or("ES256")
        .parse::<SigningAlgorithm>()
    {
        Ok(a) => Some(a),
        Err(m) => {
            err("keys.algorithm", m.to_string());
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
                        err("enrollment.principal_pattern", m.to_string());
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

    let signin = signin(&raw.signin, &mut err);
    let rate_limits = super::rate_limits::rate_limits(&raw.rate_limits, &mut err);
    let device_lifetime = bounded_secs(
        raw.device.code_lifetime_secs,
        600,
        60,
        3600,
        "device.code_lifetime_secs",
        &mut err,
    );
    let device_interval = bounded_secs(
        raw.device.interval_secs,
        5,
        1,
        60,
        "device.interval_secs",
        &mut err,
    );
    let refresh_lifetime = bounded_secs(
        raw.refresh_tokens.lifetime_secs,
        30 * 86_400,
        300,
        400 * 86_400,
        "refresh_tokens.lifetime_secs",
        &mut err,
    );
    let refresh_idle = bounded_secs(
        raw.refresh_tokens.idle_secs,
        14 * 86_400,
        60,
        400 * 86_400,
        "refresh_tokens.idle_secs",
        &mut err,
    );
    let refresh_grace = bounded_secs(
        raw.refresh_tokens.grace_secs,
        30,
        0,
        300,
        "refresh_tokens.grace_secs",
        &mut err,
    );
    let keycloak_realm = match &raw.compat.keycloak_realm {
        Some(r)
            if r.is_empty()
                || r.len() > 64
                || !r
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) =>
        {
            err(
                "compat.keycloak_realm",
                "must be 1 to 64 letters, digits, '-', '_' or '.' (it is a URL path segment)"
                    .into(),
            );
            None
        }
        other => Some(other.clone()),
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
        for c in clients.iter().filter(|c| !c.scope_policies.is_empty()) {
            err(
                "directory",
                format!(
                    "client {:?} has scope_policies (directory groups): configure [directory]",
                    c.client_id
                ),
            );
        }
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
            trusted_proxies: trusted_proxies?,
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
            refresh: crate::oauth::person::RefreshRules {
                lifetime_secs: refresh_lifetime?,
                idle_secs: refresh_idle?,
                grace_secs: refresh_grace?,
            },
            device: crate::oauth::person::DeviceRules {
                lifetime_secs: device_lifetime?,
                interval_secs: device_interval?,
            },
            trusted_issuers: Default::default(),
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
        signin: signin?,
        keycloak_realm: keycloak_realm?,
        dev: None,
        issuer_fetches: Vec::new(),
        rate_limits: rate_limits?,
        dpop: super::DpopConfig {
            proof_max_age_secs: dpop_age?,
            require_nonce: raw.dpop.require_nonce.unwrap_or(false),
            nonce_lifetime_secs: dpop_nonce_life?,
        },
        issuer,
    })
}

/// `[signin]`.
fn signin(
    raw: &super::raw::RawSignin,
    err: &mut impl FnMut(&str, String),
) -> Option<super::SigninConfig> {
    let product_name = raw.product_name.clone().unwrap_or_else(|| "ahdapa".into());
    let mut ok = true;
    if product_name.trim().is_empty()
        || product_name.chars().count() > 80
        || product_name.chars().any(char::is_control)
    {
        err(
            "signin.product_name",
            "must be 1 to 80 characters, no control characters".into(),
        );
        ok = false;
    }
    let logo_file = match &raw.logo_file {
        None => None,
        Some(p) => {
            let path = absolute(p, "signin.logo_file", err);
            let known = path.as_ref().is_some_and(|p| logo_type(p).is_some());
            if path.is_some() && !known {
                err(
                    "signin.logo_file",
                    "must be a .png, .svg, .jpg, .jpeg or .webp file".into(),
                );
            }
            if !known {
                ok = false;
            }
            path
        }
    };
    if let Some(u) = &raw.support_url
        && !url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "https" | "http"))
    {
        err("signin.support_url", format!("{u:?} is not an http(s) URL"));
        ok = false;
    }
    let lifetime = bounded_secs(
        raw.session_lifetime_secs,
        8 * 3600,
        300,
        30 * 86_400,
        "signin.session_lifetime_secs",
        err,
    );
    let idle = match raw.session_idle_secs {
        Some(0) => Some(0),
        other => bounded_secs(
            other,
            2 * 3600,
            1,
            30 * 86_400,
            "signin.session_idle_secs",
            err,
        ),
    };
    Some(super::SigninConfig {
        product_name,
        logo_file,
        support_url: raw.support_url.clone(),
        session_lifetime_secs: lifetime?,
        session_idle_secs: idle?,
    })
    .filter(|_| ok)
}

/// The media type of a logo file, by its extension.
pub fn logo_type(path: &std::path::Path) -> Option<&'static str> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "png" => Some("image/png"),
        "svg" => Some("image/svg+xml"),
        "jpg" | "jpeg" => Some("image/jpeg"),
        "webp" => Some("image/webp"),
        _ => None,
    }
}

pub(super) fn absolute(
    path: &str,
    key: &str,
    err: &mut impl FnMut(&str, String),
) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    if p.is_absolute() {
        Some(p)
    } else {
        err(key, format!("{path:?} must be an absolute path"));
        None
    }
}

pub(super) fn bounded_secs(
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
