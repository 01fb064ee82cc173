//! Configuration: `/etc/ahdapa/ahdapa.toml` into a validated [`Config`].
//!
//! Two steps (parse, don't validate): the TOML is deserialised into the raw sections of
//! `raw` — collecting every unknown key and wrong type with its key path
//! (`collect`) — then `validate` turns raw values into typed ones, again collecting
//! every mistake. Nothing past this module sees a raw string it has to re-check.
//! `ahdapa check-config` prints the collected errors, one per line, `key.path: message`.

mod backends;
mod collect;
mod directory;
mod issuers;
mod rate_limits;
mod raw;
mod server;
mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use directory::{DirectoryBind, DirectoryConfig, DirectorySchema, LdapUri};
pub use issuers::{IssuerFetch, IssuerKeyLocation, TrustedIssuersConfig};
pub use validate::{DEFAULT_CONFIG_PATH, logo_type};

use crate::oauth::client::{Client, ClientRegistration, ClientSource};
use crate::oauth::client_auth::jwt_assertion::HmacSecret;
use crate::oauth::token_endpoint::TokenSettings;
use crate::token::keys::SigningAlgorithm;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The issuer URL, no trailing slash.
    pub issuer: String,
    /// Listener settings.
    pub server: ServerConfig,
    /// Where state lives.
    pub store: StoreConfig,
    /// Signing keys.
    pub keys: KeysConfig,
    /// Token defaults.
    pub tokens: TokenSettings,
    /// The minimum level that is logged.
    pub log_level: log::LevelFilter,
    /// Which issued tokens get an `info` line (`log.issuance`).
    pub log_issuance: IssuanceLog,
    /// `[[clients]]`, validated.
    pub clients: Vec<Client>,
    /// `[kerberos]` when Negotiate is on (`kerberos.enabled` or `ipa.gssapi`).
    pub kerberos: Option<KerberosConfig>,
    /// How private_key_jwt `jwks_uri` documents are fetched (`[assertions]`).
    pub jwks_fetch: crate::authn::jwks_fetch::FetchRules,
    /// Extra CA certificates trusted for `jwks_uri` (`assertions.jwks_ca_file`).
    pub jwks_ca_file: Option<PathBuf>,
    /// `[dpop]`.
    pub dpop: DpopConfig,
    /// `metrics.listen`: where `/metrics` is served; `None` turns it off.
    pub metrics_listen: Option<SocketAddr>,
    /// `[directory]`, when configured.
    pub directory: Option<DirectoryConfig>,
    /// `[admin]`.
    pub admin: AdminConfig,
    /// `[enrollment]`, when hosts may enrol themselves.
    pub enrollment: Option<EnrollmentConfig>,
    /// `[registration]`, when dynamic registration is on.
    pub registration: Option<RegistrationConfig>,
    /// `[signin]`.
    pub signin: SigninConfig,
    /// `compat.keycloak_realm`: serve the Keycloak URL layout
    /// (`/realms/<realm>/protocol/openid-connect/...`) for FreeIPA's `ipa idp-add
    /// --provider keycloak` and tools that know only Keycloak.
    pub keycloak_realm: Option<String>,
    /// `serve --dev` only (never from a file): the demo person.
    pub dev: Option<DevPerson>,
    /// `[[trusted_issuers]]` whose keys are fetched (the core's view of every trusted
    /// issuer is `tokens.trusted_issuers`).
    pub issuer_fetches: Vec<IssuerFetch>,
    /// `[rate_limits]`.
    pub rate_limits: crate::oauth::throttle::RateLimits,
}

/// The demo person of `serve --dev`: signs in with this password, checked in memory
/// (dev mode has no KDC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevPerson {
    /// The user name (`demo`).
    pub user: String,
    /// The password (random, kept in the state directory).
    pub password: String,
    /// The principal the person is (`demo@AHDAPA.DEV`).
    pub principal: String,
}

/// `[signin]`: what the sign-in pages show, and how long sessions last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigninConfig {
    /// The name in the pages' header (default `ahdapa`).
    pub product_name: String,
    /// A PNG, SVG, JPEG or WebP shown beside it, served at `/assets/logo`.
    pub logo_file: Option<PathBuf>,
    /// A help link (http or https) at the foot of every page.
    pub support_url: Option<String>,
    /// How long an SSO session lasts from sign-in.
    pub session_lifetime_secs: u64,
    /// An SSO session unused this long ends (0: only the lifetime counts).
    pub session_idle_secs: u64,
}

/// `log.issuance`: which issued tokens get a `token issued` line. Refusals, failures and
/// audit events are always logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuanceLog {
    /// Every issued token (the default).
    All,
    /// One token in this many (`log.issuance_sample_every`), with the count since the
    /// previous line.
    Sampled(u64),
    /// None.
    None,
}

/// `[registration]`: RFC 7591 dynamic client registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationConfig {
    /// The scopes registered clients may have (and get when they ask for none).
    pub allowed_scopes: Vec<String>,
    /// `sha256:...` of the initial access token; `None` is open registration.
    pub initial_access_token_hash: Option<String>,
}

/// `[admin]`: who may use the admin API with Negotiate (tokens need `ahdapa.admin`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminConfig {
    /// Principals that are admins, exactly.
    pub principals: Vec<String>,
    /// Directory user groups whose members are admins.
    pub groups: Vec<String>,
    /// Admin tokens must be DPoP-bound.
    pub require_dpop: bool,
}

/// `[enrollment]`: which hosts may enrol themselves and what they get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentConfig {
    /// Principals that may enrol (e.g. `host/*.example.com@EXAMPLE.COM`).
    pub pattern: crate::oauth::principal::PrincipalPattern,
    /// With a directory: the host must be in one of these host groups.
    pub require_hostgroups: Vec<String>,
    /// Scopes of the enrolled client.
    pub scopes: Vec<String>,
    /// client_id = prefix + the host's fqdn.
    pub client_id_prefix: String,
}

/// `[dpop]`: DPoP proofs at `/token` (RFC 9449).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpopConfig {
    /// How old a proof's `iat` may be; its `jti` is remembered that long.
    pub proof_max_age_secs: u64,
    /// Demand server nonces (`use_dpop_nonce` + `DPoP-Nonce`).
    pub require_nonce: bool,
    /// How long an issued nonce stays acceptable.
    pub nonce_lifetime_secs: u64,
}

/// `[kerberos]`: the acceptor for `kerberos_client_auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KerberosConfig {
    /// The keytab holding the service principal's keys.
    pub keytab: PathBuf,
    /// The principal tickets must be for (pinned acceptor name).
    pub service_principal: String,
    /// MIT's replay cache file (file2 format).
    pub replay_cache: PathBuf,
    /// The allowed clock skew; AP-REQ replay records are kept for twice this.
    pub clock_skew_secs: u64,
}

/// `[server]` and `[tls]`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Addresses to listen on.
    pub listen: Vec<SocketAddr>,
    /// TLS, or plain HTTP when `insecure_http = true`.
    pub transport: Transport,
    /// Resource limits per connection and request.
    pub limits: Limits,
    /// Client certificates forwarded by a TLS-terminating proxy, if configured.
    pub proxy_client_cert: Option<ProxyClientCert>,
    /// `tls.trusted_proxies`: peers whose `X-Forwarded-For` names the client address
    /// (for the rate limits and the sign-in throttle), exempt from the per-address
    /// connection cap.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// `tls.client_cert_header` and `tls.trusted_proxies`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyClientCert {
    /// The header carrying the certificate: RFC 9440 `Client-Cert` (`:base64 DER:`) or
    /// nginx's `$ssl_client_escaped_cert` (URL-encoded PEM).
    pub header: http::HeaderName,
    /// Only connections from these addresses may send it.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The CAs its certificates are checked against (`tls.client_ca_files`), with the
    /// same CA/pin rules as direct mTLS.
    pub client_ca_files: Vec<PathBuf>,
}

/// The files of `[tls]`, checked at load (each mistake named by key path); the service
/// builds the rustls configuration from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub certificate_file: PathBuf,
    /// PEM private key.
    pub private_key_file: PathBuf,
    /// PEM bundles of the CAs that issue client certificates.
    pub client_ca_files: Vec<PathBuf>,
}

/// How connections are secured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// TLS with these files.
    Tls(TlsFiles),
    /// Plain HTTP (a TLS-terminating proxy in front, or dev mode).
    InsecureHttp,
}

/// Bounds that keep one client from exhausting the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body accepted; larger is 413.
    pub max_body_bytes: usize,
    /// Largest request head (HTTP/1) or header list (HTTP/2).
    pub max_header_bytes: usize,
    /// Time for a request head, and for a whole request.
    pub request_timeout: Duration,
    /// From accept until the TLS handshake is done and the first request has arrived.
    pub handshake_timeout: Duration,
    /// How long a kept-alive connection may stay without a request in progress.
    pub idle_timeout: Duration,
    /// Connections served at once; more are closed on accept.
    pub max_connections: usize,
    /// Connections served at once from one client address (an IPv6 /64); the proxies of
    /// `tls.trusted_proxies` are exempt.
    pub max_connections_per_address: usize,
    /// How long SIGTERM waits for in-flight requests.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024,
            max_header_bytes: 16 * 1024,
            request_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            max_connections_per_address: 256,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The SQLite database file.
    pub sqlite_path: PathBuf,
    /// PostgreSQL instead of SQLite, when `store.postgres_url` is set.
    pub postgres: Option<crate::store::postgres::PostgresConfig>,
}

/// `[keys]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysConfig {
    /// Algorithm of newly generated keys.
    pub algorithm: SigningAlgorithm,
    /// The 32-byte key that seals private keys in the store; created if missing.
    pub master_key_file: PathBuf,
    /// Rotate the signing key when it has signed this many days; 0 = only by command.
    pub rotate_after_days: u64,
}

/// One configuration mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key path, e.g. `server.listen[1]` or `clients[0].scopes`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every mistake found in one file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    /// The file, for the headline.
    pub file: String,
    /// The mistakes, in document order as far as possible.
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} error(s)", self.file, self.errors.len())?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// Reads and validates a config file.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
        file: file.clone(),
        errors: vec![ConfigError::new("", format!("cannot read: {e}"))],
    })?;
    parse(&text).map_err(|errors| ConfigErrors { file, errors })
}

/// Parses and validates config text.
pub fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
    let mut doc: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| vec![ConfigError::new("", clean_syntax(&e))])?;
    let mut errors = Vec::new();
    let own_issuer = doc
        .get("issuer")
        .and_then(toml::Value::as_str)
        .map(|i| i.trim_end_matches('/').to_owned());
    let trusted = issuers::take(&mut doc, own_issuer.as_deref(), &mut errors);
    let known: Vec<&str> = trusted.issuers.iter().map(|i| i.issuer.as_str()).collect();
    let clients = take_clients(&mut doc, &known, &mut errors);
    let raw = collect::deserialize_all::<raw::RawConfig>(doc, "", &mut errors).unwrap_or_default();
    let config = validate::validate(raw, clients, &mut errors).map(|mut c| {
        c.tokens.trusted_issuers = crate::oauth::federation::TrustedIssuers::new(trusted.issuers);
        c.issuer_fetches = trusted.fetches;
        c
    });
    if errors.is_empty() {
        config.ok_or_else(Vec::new)
    } else {
        Err(errors)
    }
}

/// Takes `[[clients]]` out of the document and validates each table on its own, so a
/// mistake names its index (`clients[3].scopes`).
fn take_clients(
    doc: &mut toml::Table,
    trusted_issuers: &[&str],
    errors: &mut Vec<ConfigError>,
) -> Vec<Client> {
    let Some(value) = doc.remove("clients") else {
        return Vec::new();
    };
    let toml::Value::Array(items) = value else {
        errors.push(ConfigError::new(
            "clients",
            "must be an array of tables ([[clients]])",
        ));
        return Vec::new();
    };
    // jwks_uri forms are checked here, where the index is known; their addresses are
    // checked at each fetch (a name may resolve differently later).
    let uri_form = crate::authn::outbound::OutboundPolicy {
        insecure_http: doc
            .get("assertions")
            .and_then(|a| a.get("insecure_http_jwks_uri"))
            .and_then(toml::Value::as_bool)
            .unwrap_or(false),
        ..Default::default()
    };
    let mut out: Vec<Client> = Vec::with_capacity(items.len());
    let mut seen: std::collections::HashSet<String> =
        std::collections::HashSet::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let prefix = format!("clients[{i}]");
        let toml::Value::Table(table) = item else {
            errors.push(ConfigError::new(prefix, "must be a table"));
            continue;
        };
        let Some(reg) = collect::deserialize_all::<ClientRegistration>(table, &prefix, errors)
        else {
            continue;
        };
        if let Some(Err(e)) = reg.jwks_uri.as_deref().map(|u| uri_form.target(u)) {
            errors.push(ConfigError::new(
                format!("{prefix}.jwks_uri"),
                e.to_string(),
            ));
            continue;
        }
        if let Some(f) = &reg.federation
            && !trusted_issuers.contains(&f.issuer.as_str())
        {
            errors.push(ConfigError::new(
                format!("{prefix}.federation.issuer"),
                format!(
                    "{:?} is not a [[trusted_issuers]] issuer (trusted: {trusted_issuers:?})",
                    f.issuer
                ),
            ));
            continue;
        }
        let unknown: Vec<(String, &str)> = reg
            .jwt_bearer
            .iter()
            .enumerate()
            .map(|(j, r)| {
                (
                    format!("{prefix}.jwt_bearer[{j}].issuer"),
                    r.issuer.as_str(),
                )
            })
            .chain(
                reg.token_exchange
                    .iter()
                    .flat_map(|t| t.issuers.iter())
                    .map(|i| (format!("{prefix}.token_exchange.issuers"), i.as_str())),
            )
            .filter(|(_, i)| !trusted_issuers.contains(i))
            .collect();
        if !unknown.is_empty() {
            for (path, i) in unknown {
                errors.push(ConfigError::new(
                    path,
                    format!(
                        "{i:?} is not a [[trusted_issuers]] issuer (trusted: {trusted_issuers:?})"
                    ),
                ));
            }
            continue;
        }
        let hmac = match reg.client_secret_file.as_deref() {
            None => None,
            Some(file) => match read_hmac_secret(file) {
                Ok(secret) => Some(secret),
                Err(m) => {
                    errors.push(ConfigError::new(format!("{prefix}.client_secret_file"), m));
                    continue;
                }
            },
        };
        match Client::from_registration(&reg, ClientSource::Config, hmac) {
            Ok(client) if !seen.insert(client.client_id.clone()) => {
                errors.push(ConfigError::new(
                    format!("{prefix}.client_id"),
                    format!("{:?} is declared twice", client.client_id),
                ));
            }
            Ok(client) => out.push(client),
            Err(problems) => errors.extend(
                problems
                    .into_iter()
                    .map(|p| ConfigError::new(format!("{prefix}.{}", p.field), p.message)),
            ),
        }
    }
    out
}

/// Reads a client_secret_jwt secret file (surrounding whitespace trimmed).
fn read_hmac_secret(file: &str) -> Result<HmacSecret, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?;
    HmacSecret::new(text.trim().as_bytes().to_vec()).map_err(|m| format!("{file}: {m}"))
}

fn clean_syntax(e: &toml::de::Error) -> String {
    format!(
        "TOML syntax error: {}",
        e.to_string().trim().replace('\n', " | ")
    )
}

#[cfg(test)]
mod tests;
