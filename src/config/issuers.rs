//! `[[trusted_issuers]]`: external issuers whose JWTs authenticate federated clients.
//! Taken out of the document like `[[clients]]`, so each mistake names its index
//! (`trusted_issuers[1].audiences`). Inline JWKS, JWKS files and verification
//! certificates are read here, at start-up; `jwks_uri` and discovery are fetched later,
//! by `authn::issuer_keys`.

use std::path::PathBuf;

use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::ConfigError;
use super::collect;
use crate::oauth::client_auth::jwt_assertion::{AssertionKey, key_from_pem, keys_from_issuer_jwks};
use crate::oauth::federation::{JtiPolicy, TrustedIssuer};

/// The default `max_lifetime_secs`: Kubernetes' projected tokens live an hour.
pub const DEFAULT_MAX_LIFETIME_SECS: u64 = 3600;

/// The algorithms accepted when `algorithms` is not given.
const DEFAULT_ALGORITHMS: [&str; 5] = ["RS256", "ES256", "ES384", "PS256", "EdDSA"];

/// One `[[trusted_issuers]]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrustedIssuer {
    issuer: String,
    jwks_uri: Option<String>,
    discovery: Option<bool>,
    jwks: Option<serde_json::Value>,
    jwks_file: Option<String>,
    certificate_files: Option<Vec<String>>,
    ca_file: Option<String>,
    bearer_token_file: Option<String>,
    algorithms: Option<Vec<String>>,
    audiences: Option<Vec<String>>,
    max_lifetime_secs: Option<u64>,
    jti: Option<JtiPolicy>,
    min_refetch_secs: Option<u64>,
}

/// Where a trusted issuer's keys are fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerKeyLocation {
    /// This `jwks_uri`.
    JwksUri(String),
    /// The `jwks_uri` of `{issuer}/.well-known/openid-configuration`.
    Discovery,
}

/// How a fetched issuer's keys are fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerFetch {
    /// The issuer (`iss`).
    pub issuer: String,
    /// Where from.
    pub location: IssuerKeyLocation,
    /// CA certificates trusted for it, besides the system's.
    pub ca_file: Option<PathBuf>,
    /// A file holding a bearer token sent with each fetch (re-read each time: in a
    /// pod, the projected token rotates).
    pub bearer_token_file: Option<PathBuf>,
    /// The shortest time between two fetches when tokens name an unknown key.
    pub min_refetch_secs: u64,
}

/// The validated `[[trusted_issuers]]`: the core's view, and the fetches.
#[derive(Debug, Clone, Default)]
pub struct TrustedIssuersConfig {
    /// For the core.
    pub issuers: Vec<TrustedIssuer>,
    /// For the adapter: the issuers whose keys are fetched.
    pub fetches: Vec<IssuerFetch>,
}

/// Takes `[[trusted_issuers]]` out of `doc`. `own_issuer` (ahdapa's issuer, when the
/// document has a good one) gives the default audiences: it and its token endpoint.
pub(super) fn take(
    doc: &mut toml::Table,
    own_issuer: Option<&str>,
    errors: &mut Vec<ConfigError>,
) -> TrustedIssuersConfig {
    let mut out = TrustedIssuersConfig::default();
    let Some(value) = doc.remove("trusted_issuers") else {
        return out;
    };
    let toml::Value::Array(items) = value else {
        errors.push(ConfigError::new(
            "trusted_issuers",
            "must be an array of tables ([[trusted_issuers]])",
        ));
        return out;
    };
    for (i, item) in items.into_iter().enumerate() {
        let prefix = format!("trusted_issuers[{i}]");
        let toml::Value::Table(table) = item else {
            errors.push(ConfigError::new(prefix, "must be a table"));
            continue;
        };
        let Some(raw) = collect::deserialize_all::<RawTrustedIssuer>(table, &prefix, errors) else {
            continue;
        };
        let before = errors.len();
        let mut err =
            |key: &str, m: String| errors.push(ConfigError::new(format!("{prefix}.{key}"), m));
        if !url::Url::parse(&raw.issuer).is_ok_and(|u| matches!(u.scheme(), "https" | "http")) {
            err("issuer", format!("{:?} is not an https:// URL", raw.issuer));
        }
        // The exact `iss`: GitHub's has no trailing slash, Kubernetes' may have one.
        let issuer_exact = raw.issuer.clone();
        if out.issuers.iter().any(|t| t.issuer == issuer_exact) {
            err("issuer", format!("{issuer_exact:?} is declared twice"));
        }
        let mut algorithms = Vec::new();
        let names: Vec<String> = raw
            .algorithms
            .clone()
            .unwrap_or_else(|| DEFAULT_ALGORITHMS.iter().map(|a| (*a).to_owned()).collect());
        for name in &names {
            match crate::token::jws::algorithm(name) {
                Some(Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) | None => err(
                    "algorithms",
                    format!(
                        "{name:?} is not accepted (asymmetric algorithms only: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA)"
                    ),
                ),
                Some(a) => algorithms.push(a),
            }
        }
        if names.is_empty() {
            err("algorithms", "must name at least one algorithm".into());
        }
        let audiences = match raw.audiences.clone() {
            Some(a) if a.is_empty() || a.iter().any(String::is_empty) => {
                err("audiences", "must be non-empty strings".into());
                Vec::new()
            }
            Some(a) => a,
            None => own_issuer
                .map(|o| vec![o.to_owned(), format!("{o}/token")])
                .unwrap_or_default(),
        };
        let max_lifetime_secs = raw.max_lifetime_secs.unwrap_or(DEFAULT_MAX_LIFETIME_SECS);
        if !(1..=86_400).contains(&max_lifetime_secs) {
            err("max_lifetime_secs", "must be between 1 and 86400".into());
        }
        let min_refetch_secs = raw.min_refetch_secs.unwrap_or(30);
        if min_refetch_secs > 3600 {
            err("min_refetch_secs", "must be between 0 and 3600".into());
        }
        let absolute = |key: &str, p: &Option<String>, err: &mut dyn FnMut(&str, String)| {
            p.as_ref().and_then(|p| {
                let path = PathBuf::from(p);
                if path.is_absolute() {
                    Some(path)
                } else {
                    err(key, format!("{p:?} must be an absolute path"));
                    None
                }
            })
        };
        let ca_file = absolute("ca_file", &raw.ca_file, &mut err);
        let bearer_token_file = absolute("bearer_token_file", &raw.bearer_token_file, &mut err);
        let sources = [
            raw.jwks_uri.is_some(),
            raw.discovery == Some(true),
            raw.jwks.is_some(),
            raw.jwks_file.is_some(),
            raw.certificate_files.is_some(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        if sources != 1 {
            err(
                "jwks_uri",
                "give exactly one of jwks_uri, discovery = true, jwks, jwks_file, certificate_files".into(),
            );
        }
        let mut static_keys: Option<Vec<AssertionKey>> = None;
        let mut location = None;
        if let Some(uri) = &raw.jwks_uri {
            if url::Url::parse(uri).is_ok_and(|u| matches!(u.scheme(), "https" | "http")) {
                location = Some(IssuerKeyLocation::JwksUri(uri.clone()));
            } else {
                err("jwks_uri", format!("{uri:?} is not an https:// URL"));
            }
        } else if raw.discovery == Some(true) {
            location = Some(IssuerKeyLocation::Discovery);
        } else if let Some(jwks) = &raw.jwks {
            match keys_from_issuer_jwks(jwks) {
                Ok((keys, _)) => static_keys = Some(keys),
                Err(e) => err("jwks", e.to_string()),
            }
        } else if let Some(file) = &raw.jwks_file {
            let read = std::fs::read(file)
                .map_err(|e| format!("cannot read {file}: {e}"))
                .and_then(|b| {
                    serde_json::from_slice::<serde_json::Value>(&b)
                        .map_err(|e| format!("{file} is not JSON: {e}"))
                })
                .and_then(|j| keys_from_issuer_jwks(&j).map_err(|e| format!("{file}: {e}")));
            match read {
                Ok((keys, _)) => static_keys = Some(keys),
                Err(m) => err("jwks_file", m),
            }
        } else if let Some(files) = &raw.certificate_files {
            let mut keys = Vec::new();
            for (j, file) in files.iter().enumerate() {
                match std::fs::read(file) {
                    Err(e) => err(
                        &format!("certificate_files[{j}]"),
                        format!("cannot read {file}: {e}"),
                    ),
                    Ok(pem) => match key_from_pem(&pem, None) {
                        Ok(k) => keys.push(k),
                        Err(e) => err(&format!("certificate_files[{j}]"), format!("{file}: {e}")),
                    },
                }
            }
            if files.is_empty() {
                err("certificate_files", "must name at least one file".into());
            }
            static_keys = Some(keys);
        }
        if static_keys.is_some() && (ca_file.is_some() || bearer_token_file.is_some()) {
            err(
                "ca_file",
                "ca_file and bearer_token_file are only for jwks_uri and discovery".into(),
            );
        }
        if errors.len() > before {
            continue;
        }
        if let Some(location) = location {
            out.fetches.push(IssuerFetch {
                issuer: issuer_exact.clone(),
                location,
                ca_file,
                bearer_token_file,
                min_refetch_secs,
            });
        }
        out.issuers.push(TrustedIssuer {
            issuer: issuer_exact,
            static_keys,
            algorithms,
            audiences,
            max_lifetime_secs,
            jti: raw.jti.unwrap_or_default(),
        });
    }
    out
}
