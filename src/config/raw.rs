//! The config file as written: one struct per section, every field optional so that a
//! missing value becomes a validation message (with its key path) rather than a parse
//! failure. Defaults live in `super::validate`, next to the checks.

use serde::Deserialize;

/// `/etc/ahdapa/ahdapa.toml`, top level. `clients` is taken apart separately so each
/// client's mistakes carry its index.
#[derive(Debug, Default, Deserialize)]
pub struct RawConfig {
    pub issuer: Option<String>,
    #[serde(default)]
    pub server: RawServer,
    pub tls: Option<RawTls>,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub keys: RawKeys,
    #[serde(default)]
    pub tokens: RawTokens,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub kerberos: RawKerberos,
    #[serde(default)]
    pub ipa: RawIpa,
    #[serde(default)]
    pub assertions: RawAssertions,
    #[serde(default)]
    pub dpop: RawDpop,
    #[serde(default)]
    pub metrics: RawMetrics,
    pub directory: Option<RawDirectory>,
    #[serde(default)]
    pub admin: RawAdmin,
    pub enrollment: Option<RawEnrollment>,
    pub registration: Option<RawRegistration>,
    #[serde(default)]
    pub signin: RawSignin,
    #[serde(default)]
    pub device: RawDevice,
    #[serde(default)]
    pub refresh_tokens: RawRefreshTokens,
    #[serde(default)]
    pub compat: RawCompat,
    #[serde(default)]
    pub rate_limits: RawRateLimits,
}

/// `[rate_limits]`: each entry `{ max, window_secs }`.
#[derive(Debug, Default, Deserialize)]
pub struct RawRateLimits {
    pub client_auth_failures_per_address: Option<RawRate>,
    pub client_auth_failures_per_client: Option<RawRate>,
    pub signin_failures_per_address: Option<RawRate>,
    pub signin_failures_per_user: Option<RawRate>,
    pub registrations_per_address: Option<RawRate>,
    pub device_codes_per_address: Option<RawRate>,
}

/// One rate limit.
#[derive(Debug, Default, Deserialize)]
pub struct RawRate {
    pub max: Option<u64>,
    pub window_secs: Option<u64>,
}

/// `[device]`: the device authorization grant (RFC 8628).
#[derive(Debug, Default, Deserialize)]
pub struct RawDevice {
    pub code_lifetime_secs: Option<u64>,
    pub interval_secs: Option<u64>,
}

/// `[refresh_tokens]`: rotation and lifetimes.
#[derive(Debug, Default, Deserialize)]
pub struct RawRefreshTokens {
    pub lifetime_secs: Option<u64>,
    pub idle_secs: Option<u64>,
    pub grace_secs: Option<u64>,
}

/// `[compat]`: URL layouts of other products.
#[derive(Debug, Default, Deserialize)]
pub struct RawCompat {
    pub keycloak_realm: Option<String>,
}

/// `[signin]`: people signing in (the pages' branding, sessions).
#[derive(Debug, Default, Deserialize)]
pub struct RawSignin {
    pub product_name: Option<String>,
    pub logo_file: Option<String>,
    pub support_url: Option<String>,
    pub session_lifetime_secs: Option<u64>,
    pub session_idle_secs: Option<u64>,
}

/// `[registration]`: RFC 7591 dynamic client registration.
#[derive(Debug, Default, Deserialize)]
pub struct RawRegistration {
    pub enabled: Option<bool>,
    pub allowed_scopes: Option<Vec<String>>,
    pub initial_access_token_file: Option<String>,
}

/// `[admin]`: who may use the admin API.
#[derive(Debug, Default, Deserialize)]
pub struct RawAdmin {
    pub principals: Option<Vec<String>>,
    pub groups: Option<Vec<String>>,
    pub require_dpop: Option<bool>,
}

/// `[enrollment]`: host self-enrolment for SSSD.
#[derive(Debug, Default, Deserialize)]
pub struct RawEnrollment {
    pub principal_pattern: Option<String>,
    pub require_hostgroups: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub client_id_prefix: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawServer {
    pub listen: Option<Vec<String>>,
    pub insecure_http: Option<bool>,
    pub max_body_bytes: Option<u64>,
    pub max_header_bytes: Option<u64>,
    pub request_timeout_secs: Option<u64>,
    pub handshake_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub max_connections: Option<u64>,
    pub max_connections_per_address: Option<u64>,
    pub shutdown_grace_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawTls {
    pub certificate_file: Option<String>,
    pub private_key_file: Option<String>,
    pub client_ca_files: Option<Vec<String>>,
    pub client_cert_header: Option<String>,
    pub trusted_proxies: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawStore {
    pub sqlite_path: Option<String>,
    pub postgres_url: Option<String>,
    pub postgres_password_file: Option<String>,
    pub postgres_tls: Option<bool>,
    pub postgres_ca_file: Option<String>,
    pub postgres_pool_size: Option<u64>,
    pub postgres_timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawKeys {
    pub algorithm: Option<String>,
    pub master_key_file: Option<String>,
    pub rotate_after_days: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawTokens {
    pub lifetime_secs: Option<u64>,
    pub default_audience: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawLog {
    pub level: Option<String>,
    pub issuance: Option<String>,
    pub issuance_sample_every: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawKerberos {
    pub enabled: Option<bool>,
    pub keytab: Option<String>,
    pub service_principal: Option<String>,
    pub replay_cache: Option<String>,
    pub clock_skew_secs: Option<u64>,
}

/// The seed documentation's spelling: `[ipa] gssapi = true` turns Negotiate on.
#[derive(Debug, Default, Deserialize)]
pub struct RawIpa {
    pub gssapi: Option<bool>,
}

/// `[assertions]`: rules for private_key_jwt and client_secret_jwt.
#[derive(Debug, Default, Deserialize)]
pub struct RawAssertions {
    pub max_lifetime_secs: Option<u64>,
    pub leeway_secs: Option<u64>,
    pub jwks_cache_secs: Option<u64>,
    pub jwks_min_refetch_secs: Option<u64>,
    pub jwks_timeout_secs: Option<u64>,
    pub jwks_ca_file: Option<String>,
    pub insecure_http_jwks_uri: Option<bool>,
    pub jwks_uri_allowed_networks: Option<Vec<String>>,
}

/// `[dpop]`: RFC 9449 proofs at the token endpoint.
#[derive(Debug, Default, Deserialize)]
pub struct RawDpop {
    pub proof_max_age_secs: Option<u64>,
    pub require_nonce: Option<bool>,
    pub nonce_lifetime_secs: Option<u64>,
}

/// `[metrics]`: the Prometheus listener.
#[derive(Debug, Default, Deserialize)]
pub struct RawMetrics {
    pub listen: Option<String>,
}

/// `[directory]`: the LDAP/FreeIPA directory.
#[derive(Debug, Default, Deserialize)]
pub struct RawDirectory {
    pub uris: Option<Vec<String>>,
    pub base_dn: Option<String>,
    pub profile: Option<String>,
    pub bind: Option<String>,
    pub bind_dn: Option<String>,
    pub bind_password_file: Option<String>,
    pub keytab: Option<String>,
    pub principal: Option<String>,
    pub ca_file: Option<String>,
    pub insecure_plaintext: Option<bool>,
    pub timeout_ms: Option<u64>,
    pub pool_size: Option<u64>,
    pub cache_ttl_secs: Option<u64>,
    pub negative_cache_ttl_secs: Option<u64>,
    #[serde(default)]
    pub schema: RawDirectorySchema,
}

/// `[directory.schema]`: overrides of the profile's containers and attribute names.
#[derive(Debug, Default, Deserialize)]
pub struct RawDirectorySchema {
    pub users: Option<String>,
    pub groups: Option<String>,
    pub hosts: Option<String>,
    pub hostgroups: Option<String>,
    pub services: Option<String>,
    pub user_object_class: Option<String>,
    pub group_object_class: Option<String>,
    pub host_object_class: Option<String>,
    pub user_name: Option<String>,
    pub principal: Option<String>,
    pub uid_number: Option<String>,
    pub gid_number: Option<String>,
    pub home_directory: Option<String>,
    pub login_shell: Option<String>,
    pub gecos: Option<String>,
    pub group_name: Option<String>,
    pub member: Option<String>,
    pub member_of: Option<String>,
    pub fqdn: Option<String>,
    pub locked: Option<String>,
}
