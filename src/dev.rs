//! `ahdapa serve --dev`: ahdapa on 127.0.0.1 over plain HTTP, with its SQLite file,
//! master key and signing key in a state directory, and a demo client whose secret is
//! kept (0600) in that directory so the same curl command works after a restart.
//! Never for production: the banner says so.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;

use crate::clock;
use crate::config::{self, Config, ConfigError};
use crate::oauth::client::{ClientRegistration, TokenEndpointAuthMethod};
use crate::oauth::secret::{ClientSecret, SecretHash};
use crate::store::Store;

/// The dev config, shipped as `config/dev.toml`.
pub const DEV_TOML: &str = include_str!("../config/dev.toml");
/// The demo client's id.
pub const DEMO_CLIENT_ID: &str = "demo";
const DEMO_SECRET_FILE: &str = "demo-client.secret";

/// The dev config with the state directory and the issuer filled in.
pub fn config(state_dir: &Path, issuer: &str) -> Result<Config, Vec<ConfigError>> {
    let mut cfg = config::parse(DEV_TOML)?;
    cfg.store.sqlite_path = state_dir.join("ahdapa.db");
    cfg.keys.master_key_file = state_dir.join("master.key");
    cfg.issuer = issuer.to_owned();
    cfg.tokens.issuer = issuer.to_owned();
    cfg.tokens.default_audience = vec![issuer.to_owned()];
    Ok(cfg)
}

/// The default state directory: `$XDG_STATE_HOME/ahdapa-dev` or `~/.local/state/ahdapa-dev`.
pub fn default_state_dir() -> PathBuf {
    if let Some(x) = crate::clock::env_var("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("ahdapa-dev");
    }
    let home = crate::clock::env_var("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/state/ahdapa-dev")
}

/// Makes sure the demo client exists and returns its secret: reused when both the stored
/// client and the secret file exist, otherwise (re)created.
pub async fn ensure_demo_client(
    store: &dyn Store,
    state_dir: &Path,
) -> Result<ClientSecret, String> {
    let secret_path = state_dir.join(DEMO_SECRET_FILE);
    let stored = store.clients().await.map_err(|e| e.to_string())?;
    let existing = stored.iter().find(|c| c.client_id == DEMO_CLIENT_ID);
    if let (Some(reg), Ok(text)) = (existing, std::fs::read_to_string(&secret_path)) {
        let secret = ClientSecret::new(text.trim().to_owned());
        let matches = reg
            .client_secret_hash
            .as_deref()
            .and_then(SecretHash::parse)
            .is_some_and(|h| h.verify(&secret));
        if matches {
            return Ok(secret);
        }
    }
    if existing.is_some() {
        store
            .delete_client(DEMO_CLIENT_ID)
            .await
            .map_err(|e| e.to_string())?;
    }
    let secret = ClientSecret::generate(&SystemRandom::new())
        .map_err(|_| "random source failed".to_string())?;
    let reg = ClientRegistration {
        client_id: DEMO_CLIENT_ID.into(),
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        client_secret_hash: Some(SecretHash::of(&secret).to_stored()),
        scopes: vec!["directory.read".into(), "demo".into()],
        audience: vec![],
        token_lifetime_secs: None,
        ..Default::default()
    };
    store
        .insert_client(&reg, clock::now_unix())
        .await
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&secret_path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&secret_path)
        .map_err(|e| format!("{}: {e}", secret_path.display()))?;
    f.write_all(secret.expose().as_bytes())
        .map_err(|e| format!("{}: {e}", secret_path.display()))?;
    Ok(secret)
}

/// The demo person's user name.
pub const DEMO_USER: &str = "demo";
/// The demo person's principal.
pub const DEMO_PRINCIPAL: &str = "demo@AHDAPA.DEV";
/// The demo web application's client_id (a public client with PKCE; its pages are
/// ahdapa's own `/dev/rp`).
pub const DEMO_APP_ID: &str = "demo-app";
const DEMO_PASSWORD_FILE: &str = "demo-person.password";

/// The demo person: the password in the state directory is reused, or made (0600).
pub fn ensure_demo_person(state_dir: &Path) -> Result<config::DevPerson, String> {
    let path = state_dir.join(DEMO_PASSWORD_FILE);
    let password = match std::fs::read_to_string(&path) {
        Ok(p) if p.trim().len() >= 12 => p.trim().to_owned(),
        _ => {
            let secret = ClientSecret::generate(&SystemRandom::new())
                .map_err(|_| "random source failed".to_string())?;
            let password: String = secret.expose().chars().take(16).collect();
            let _ = std::fs::remove_file(&path);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            f.write_all(password.as_bytes())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            password
        }
    };
    Ok(config::DevPerson {
        user: DEMO_USER.into(),
        password,
        principal: DEMO_PRINCIPAL.into(),
    })
}

/// The demo web application: a public sign-in client whose redirect URI is ahdapa's own
/// demo page; it may use the device grant too (a host logging the demo person in).
pub fn demo_app(issuer: &str) -> Result<crate::oauth::client::Client, String> {
    let reg = ClientRegistration {
        client_id: DEMO_APP_ID.into(),
        client_name: Some("Demo app".into()),
        token_endpoint_auth_method: TokenEndpointAuthMethod::None,
        grant_types: Some(vec![
            crate::oauth::grant::GrantType::AuthorizationCode,
            crate::oauth::grant::GrantType::DeviceCode,
        ]),
        redirect_uris: vec![format!("{issuer}/dev/rp/callback")],
        scopes: vec!["openid".into(), "profile".into()],
        ..Default::default()
    };
    crate::oauth::client::Client::from_registration(
        &reg,
        crate::oauth::client::ClientSource::Config,
        None,
    )
    .map_err(|problems| {
        let why: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect();
        format!("the demo app does not validate: {}", why.join("; "))
    })
}

/// The banner printed on stdout when dev mode is ready.
pub fn banner(
    issuer: &str,
    state_dir: &Path,
    secret: &ClientSecret,
    person: &config::DevPerson,
) -> String {
    format!(
        "ahdapa dev mode: plain HTTP on loopback, NOT for production\n\
         issuer:      {issuer}\n\
         state:       {state}\n\
         demo client: client_id={id} client_secret={secret}\n\
         get a token:\n  curl -s -u '{id}:{secret}' -d grant_type=client_credentials {issuer}/token\n\
         public keys: curl -s {issuer}/jwks\n\
         sign in as a person: open {issuer}/dev/rp in a browser\n  \
         user {user}, password {password} (a demo person of dev mode; the demo app shows the ID token)\n\
         log the person in on a device (the device grant, as SSSD does):\n  \
         curl -s -d client_id={app} -d scope=openid {issuer}/device_authorization\n  \
         open its verification_uri_complete, sign in, allow; then the device's poll:\n  \
         curl -s -d client_id={app} -d grant_type=urn:ietf:params:oauth:grant-type:device_code -d device_code=<device_code> {issuer}/token\n",
        state = state_dir.display(),
        id = DEMO_CLIENT_ID,
        app = DEMO_APP_ID,
        secret = secret.expose(),
        user = person.user,
        password = person.password,
    )
}
