//! `[store]` (PostgreSQL settings) and `[kerberos]` into typed values; mistakes are
//! reported by key path.

use std::time::Duration;

use super::KerberosConfig;
use super::raw::RawKerberos;
use super::validate::{absolute, bounded_secs};

const DEFAULT_KEYTAB: &str = "/etc/ahdapa/http.keytab";
const DEFAULT_REPLAY_CACHE: &str = "/var/lib/ahdapa/krb5.rcache";
const DEFAULT_CLOCK_SKEW_SECS: u64 = 300;

/// `store.postgres_*`; `Some(None)` is "SQLite".
pub(super) fn postgres_config(
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

/// `[kerberos]`, switched on by `kerberos.enabled = true` or `[ipa] gssapi = true`.
/// `Some(None)` is "valid and off".
pub(super) fn kerberos(
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
    if let Some(path) = &keytab
        && let Err(e) = std::fs::File::open(path)
    {
        err(
            "kerberos.keytab",
            format!("cannot read {}: {e}", path.display()),
        );
        ok = false;
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

pub(super) fn check_service_principal(p: &str) -> Result<(), String> {
    if p.is_empty() || p.chars().any(|c| !c.is_ascii_graphic()) || p.contains('*') {
        return Err("must be a principal such as \"HTTP/idp.example.com\" or \"HTTP/idp.example.com@EXAMPLE.COM\"".into());
    }
    if !p.contains('/') {
        return Err(format!("{p:?} has no host part; expected \"HTTP/<host>\""));
    }
    Ok(())
}
