//! The `ahdapa` command line: the clap definitions (also the source of the man page and
//! the shell completions) and the dispatch of each subcommand — to the daemon
//! ([`crate::daemon`]), to the local store ([`crate::admin::local`]) or to a server's
//! admin API ([`crate::admin::commands`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::admin::client::{AdminClient, Auth};
use crate::admin::commands::{self, CommandError};
use crate::admin::local;
use crate::config::DEFAULT_CONFIG_PATH;
use crate::daemon;

#[derive(Parser)]
#[command(
    name = "ahdapa",
    version,
    about = "Kerberos-integrated OAuth 2.0 identity provider for Linux fleets"
)]
pub struct Cli {
    /// The config file.
    #[arg(long, global = true, default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// How `client`, `keys` and `enroll` reach a server's admin API.
#[derive(Args, Clone)]
pub struct RemoteArgs {
    /// The server (its issuer URL, e.g. https://idp.example.com); default $AHDAPA_SERVER.
    #[arg(long, global = true, env = "AHDAPA_SERVER")]
    pub server: Option<String>,
    /// Authenticate with this access token (scope ahdapa.admin) instead of your Kerberos
    /// ticket.
    #[arg(long, global = true, conflicts_with = "token_file")]
    pub token: Option<String>,
    /// Read the access token from this file.
    #[arg(long, global = true)]
    pub token_file: Option<PathBuf>,
    /// Extra CA certificates (PEM) to trust for the server.
    #[arg(long, global = true)]
    pub ca_file: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

// Parsed once per process; `client add`'s many options make one variant large, which
// costs nothing here.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Validate the config file and print every mistake with its key path.
    CheckConfig,
    /// Manage registered clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage service accounts (app passwords for machine-to-machine clients).
    #[command(subcommand, name = "service-account")]
    ServiceAccount(ServiceAccountCommand),
    /// On a host: get (or rotate) this host's SSSD client with its keytab and write the
    /// SSSD drop-in.
    Enroll(EnrollArgs),
    /// Make the running server re-read its config (SIGHUP) and wait for the outcome: the
    /// unit's ExecReload, so that `systemctl reload ahdapa` returns once it is done and
    /// fails when the new config was refused.
    Reload {
        /// The serving process (systemd's $MAINPID).
        #[arg(long)]
        pid: u32,
        /// How long to wait for the outcome.
        #[arg(long, default_value_t = 60)]
        timeout_secs: u64,
    },
    /// Write the man page (ahdapa.1) and shell completions into a directory (packaging).
    #[command(hide = true)]
    GenerateAssets {
        /// The directory to write into.
        dir: PathBuf,
    },
}

#[derive(Args)]
pub struct EnrollArgs {
    /// The host keytab.
    #[arg(long, default_value = "/etc/krb5.keytab")]
    pub keytab: PathBuf,
    /// The principal to enrol as (default: the keytab's first principal).
    #[arg(long)]
    pub principal: Option<String>,
    /// The SSSD drop-in to write (mode 0600).
    #[arg(long, default_value = "/etc/sssd/conf.d/ahdapa.conf")]
    pub sssd_conf: PathBuf,
    /// The SSSD domain name in the drop-in.
    #[arg(long, default_value = "ahdapa")]
    pub domain: String,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// List signing keys with their schedule.
    List {
        /// Work on the configured database directly, without a running server (otherwise
        /// the command goes to the admin API given by --server).
        #[arg(long)]
        local: bool,
    },
    /// Create a new signing key. It is published at once and signs after one token
    /// lifetime plus the /jwks cache time (or at once with --now); the current key keeps
    /// verifying until every token it signed has expired.
    Rotate {
        /// Work on the server's store directly.
        #[arg(long)]
        local: bool,
        /// Sign with the new key at once (after a key compromise).
        #[arg(long)]
        now: bool,
    },
    /// Import a private key (PEM PKCS#8: P-256, Ed25519 or RSA): sealed like a generated
    /// key, published now and signing after one token lifetime plus the /jwks cache time,
    /// like a rotation. Only on the server's store (--local): a private key does not
    /// travel over the admin API.
    Import {
        /// Work on the server's store directly (required).
        #[arg(long)]
        local: bool,
        /// The key file (`-----BEGIN PRIVATE KEY-----`; convert others with
        /// `openssl pkcs8 -topk8 -nocrypt`).
        #[arg(long)]
        pem: PathBuf,
        /// Keep this kid (a migrated IdP's, so its tokens keep verifying); default the
        /// RFC 7638 thumbprint.
        #[arg(long)]
        kid: Option<String>,
        /// Sign with it at once.
        #[arg(long, conflicts_with = "publish_only")]
        now: bool,
        /// Only publish it (never sign), until the tokens it signed elsewhere expire.
        #[arg(long)]
        publish_only: bool,
    },
    /// Stop a key from signing now; it stays published until its tokens have expired
    /// (or leaves /jwks at once with --remove-now, after a compromise).
    Retire {
        /// Work on the server's store directly.
        #[arg(long)]
        local: bool,
        /// The key id.
        kid: String,
        /// Remove it from /jwks at once: tokens it signed stop verifying.
        #[arg(long)]
        remove_now: bool,
    },
}

/// When an app password expires (`service-account create` and `rotate`).
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct Expiry {
    /// Days until the app password expires.
    #[arg(long, default_value_t = 90)]
    pub expires_days: u64,
    /// Seconds until it expires, instead of days (a password for one job).
    #[arg(long)]
    pub expires_secs: Option<u64>,
}

impl Expiry {
    /// The lifetime in seconds.
    pub fn secs(self) -> u64 {
        self.expires_secs
            .unwrap_or(self.expires_days.saturating_mul(86_400))
    }
}

#[derive(Subcommand)]
pub enum ServiceAccountCommand {
    /// Create a service account of a client (registered with service_accounts = true);
    /// its app password is printed once.
    Create {
        /// Work on the configured database directly, without a running server.
        #[arg(long)]
        local: bool,
        /// The service account's name (its `username`, and the `sub` of its tokens).
        name: String,
        /// The client it belongs to.
        #[arg(long)]
        client: String,
        /// When its app password expires.
        #[command(flatten)]
        expiry: Expiry,
    },
    /// Give a service account a new app password (printed once).
    Rotate {
        /// Work on the configured database directly.
        #[arg(long)]
        local: bool,
        /// The service account.
        name: String,
        /// Its client.
        #[arg(long)]
        client: String,
        /// When the new app password expires.
        #[command(flatten)]
        expiry: Expiry,
        /// Seconds the old app password keeps working (0: it stops now).
        #[arg(long, default_value_t = 0)]
        keep_old_secs: u64,
    },
    /// List a client's service accounts.
    List {
        /// Work on the configured database directly.
        #[arg(long)]
        local: bool,
        /// The client.
        #[arg(long)]
        client: String,
    },
    /// Remove a service account: its app password stops working everywhere.
    Delete {
        /// Work on the configured database directly.
        #[arg(long)]
        local: bool,
        /// The service account.
        name: String,
        /// Its client.
        #[arg(long)]
        client: String,
    },
}

#[derive(Args)]
pub struct ServeArgs {
    /// Embedded dev mode: plain HTTP on loopback, state in --state-dir, a demo client.
    #[arg(long)]
    pub dev: bool,
    /// With --dev: the address to listen on.
    #[arg(long, requires = "dev", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// With --dev: where the database, keys and demo secret live.
    #[arg(long, requires = "dev")]
    pub state_dir: Option<PathBuf>,
}

/// The options of a sign-in client (`client add`): people sign in to it with
/// authorization code + PKCE.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SignInArgs {
    /// A grant it may use, client_credentials, authorization_code, device_code,
    /// token_exchange or jwt_bearer (repeat; default client_credentials, or authorization_code when --redirect-uri
    /// is given).
    #[arg(long = "grant-type")]
    pub grant_types: Vec<String>,
    /// Where sign-in responses may go (repeat): https, http://127.0.0.1/... (any port),
    /// or regex:<pattern> (anchored).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// Where /logout may send the browser afterwards (repeat).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Show people a consent page before their first sign-in.
    #[arg(long)]
    pub require_consent: bool,
    /// ES256, EdDSA or RS256 for its ID tokens (default: keys.algorithm).
    #[arg(long)]
    pub id_token_alg: Option<String>,
    /// The name people see on the sign-in page.
    #[arg(long)]
    pub name: Option<String>,
    /// HS256: sign its access and ID tokens with its client secret instead of the
    /// server's keys (the secret is then sealed in the store, not only hashed).
    #[arg(long)]
    pub token_signing: Option<String>,
    /// When its grants come with refresh tokens: never, offline_access or always
    /// (default: always for device_code clients, offline_access for the others).
    #[arg(long)]
    pub refresh_tokens: Option<String>,
}

/// `--token-signing`: the one algorithm a client's secret signs with.
fn parse_token_signing(s: &str) -> Result<crate::oauth::client::TokenSigning, String> {
    match s {
        "HS256" => Ok(crate::oauth::client::TokenSigning::Hs256),
        other => Err(format!("--token-signing {other:?}: expected HS256")),
    }
}

impl SignInArgs {
    /// Sets the registration fields these options name.
    pub fn apply(&self, reg: &mut crate::oauth::client::ClientRegistration) -> Result<(), String> {
        let mut grants = Vec::new();
        for g in &self.grant_types {
            let name = match g.as_str() {
                "device_code" => crate::oauth::grant::device_code::GRANT_TYPE,
                "token_exchange" => crate::oauth::grant::token_exchange::GRANT_TYPE,
                "jwt_bearer" => crate::oauth::grant::jwt_bearer::GRANT_TYPE,
                other => other,
            };
            let grant = crate::oauth::grant::GrantType::from_name(name).ok_or_else(|| {
                format!(
                    "--grant-type {g:?}: expected client_credentials, authorization_code, device_code, token_exchange or jwt_bearer"
                )
            })?;
            grants.push(grant);
        }
        if grants.is_empty() && !self.redirect_uris.is_empty() {
            grants.push(crate::oauth::grant::GrantType::AuthorizationCode);
        }
        if !grants.is_empty() {
            reg.grant_types = Some(grants);
        }
        reg.redirect_uris.clone_from(&self.redirect_uris);
        reg.post_logout_redirect_uris
            .clone_from(&self.post_logout_redirect_uris);
        if self.require_consent {
            reg.require_consent = Some(true);
        }
        reg.id_token_signed_response_alg
            .clone_from(&self.id_token_alg);
        if self.name.is_some() {
            reg.client_name.clone_from(&self.name);
        }
        if let Some(signing) = &self.token_signing {
            reg.token_signing = Some(parse_token_signing(signing)?);
        }
        if let Some(policy) = &self.refresh_tokens {
            use crate::oauth::grant::refresh_token::RefreshPolicy as P;
            reg.refresh_tokens = Some(match policy.as_str() {
                "never" => P::Never,
                "offline_access" => P::OfflineAccess,
                "always" => P::Always,
                other => {
                    return Err(format!(
                        "--refresh-tokens {other:?}: expected never, offline_access or always"
                    ));
                }
            });
        }
        Ok(())
    }
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per command
pub enum ClientCommand {
    /// Register a client in the local store and print its secret once.
    Add {
        /// Work on the configured database directly, without a running server (otherwise
        /// the command goes to the admin API given by --server).
        #[arg(long)]
        local: bool,
        /// The client_id.
        client_id: String,
        /// A scope the client may be granted (repeat for more).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt
        /// (with --jwks-file), kerberos_client_auth (with --kerberos-principal or
        /// --kerberos-principal-pattern) or none. The mTLS methods are registered in the
        /// config file or with the admin API's JSON.
        #[arg(long, default_value = "client_secret_basic")]
        method: String,
        /// For kerberos_client_auth: the one principal of an exact client.
        #[arg(long)]
        kerberos_principal: Option<String>,
        /// For private_key_jwt: a file with the client's public keys (a JWKS).
        #[arg(long)]
        jwks_file: Option<PathBuf>,
        /// For kerberos_client_auth: the glob of a template client, e.g.
        /// 'host/*.example.com@EXAMPLE.COM'.
        #[arg(long)]
        kerberos_principal_pattern: Option<String>,
        /// An audience for its tokens (repeat for more); default: tokens.default_audience.
        #[arg(long = "audience")]
        audiences: Vec<String>,
        /// Token lifetime in seconds; default: tokens.lifetime_secs.
        #[arg(long)]
        lifetime: Option<u64>,
        /// Sign-in (authorization_code) settings.
        #[command(flatten)]
        sign_in: SignInArgs,
    },
    /// List clients from the config file and the local store.
    List {
        /// Work on the server's store directly.
        #[arg(long)]
        local: bool,
    },
    /// Remove a client from the local store.
    Remove {
        /// Work on the server's store directly.
        #[arg(long)]
        local: bool,
        /// The client_id.
        client_id: String,
    },
    /// Show one stored client (JSON, no secrets).
    Show {
        /// The client_id.
        client_id: String,
    },
    /// Change a stored client: the given options replace the stored values.
    Update {
        /// The client_id.
        client_id: String,
        /// The scopes (repeat; replaces the list).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// The audiences (repeat; replaces the list).
        #[arg(long = "audience")]
        audiences: Vec<String>,
        /// Token lifetime in seconds.
        #[arg(long)]
        lifetime: Option<u64>,
        /// For kerberos_client_auth templates: the principal glob.
        #[arg(long)]
        kerberos_principal_pattern: Option<String>,
        /// For kerberos_client_auth with a directory: require one of these host or user
        /// groups (repeat; replaces the list).
        #[arg(long = "require-group")]
        require_groups: Vec<String>,
        /// HS256: sign its tokens with its client secret (a hashed secret is replaced by
        /// a new, sealed one, printed once); `server`: with the server's keys again.
        #[arg(long)]
        token_signing: Option<String>,
    },
    /// Give a secret client a new secret (the old one stops working).
    RotateSecret {
        /// The client_id.
        client_id: String,
    },
    /// Refuse a client everywhere until it is enabled again.
    Disable {
        /// The client_id.
        client_id: String,
    },
    /// Enable a disabled client.
    Enable {
        /// The client_id.
        client_id: String,
    },
    /// Print a new secret and the `client_secret_hash` line for a [[clients]] table.
    GenerateSecret {
        /// Hash the secret given on the first line of standard input instead of making a
        /// new one (moving a client from another IdP). It must have at least 128 bits of
        /// entropy's worth of length: 22 or more characters.
        #[arg(long)]
        from_stdin: bool,
    },
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), CommandError> {
    let remote = cli.remote.clone();
    match cli.command {
        Command::Serve(args) if args.dev => daemon::serve_dev(args.listen, args.state_dir)
            .await
            .map_err(CommandError::local),
        Command::Serve(_) => daemon::serve(&cli.config)
            .await
            .map_err(CommandError::local),
        Command::CheckConfig => daemon::check_config(&cli.config).map_err(CommandError::local),
        Command::Client(cmd) => match local_flag(&cmd) {
            Some(true) => local::client(&cli.config, cmd, remote.json).await,
            _ => remote_client(&remote, cmd).await,
        },
        Command::Keys(cmd) => match &cmd {
            KeysCommand::List { local: false }
            | KeysCommand::Rotate { local: false, .. }
            | KeysCommand::Retire { local: false, .. } => remote_keys(&remote, cmd).await,
            KeysCommand::Import { local: false, .. } => Err(CommandError {
                message: "keys import works on the server's store only (--local): a private key does not travel over the admin API".into(),
                code: 2,
            }),
            _ => local::keys(&cli.config, cmd)
                .await
                .map_err(CommandError::local),
        },
        Command::ServiceAccount(cmd) => service_account(&cli.config, &remote, cmd).await,
        Command::Enroll(args) => enroll(&remote, args).await,
        Command::GenerateAssets { dir } => generate_assets(&dir).map_err(CommandError::local),
        Command::Reload { pid, timeout_secs } => {
            use crate::systemd::ReloadOutcome;
            let timeout = std::time::Duration::from_secs(timeout_secs);
            match crate::systemd::reload(pid, timeout).map_err(CommandError::local)? {
                ReloadOutcome::Reloaded => {
                    println!("reloaded");
                    Ok(())
                }
                ReloadOutcome::Sent => {
                    println!("sent SIGHUP to {pid}; its log tells whether the reload took");
                    Ok(())
                }
                ReloadOutcome::Refused => Err(CommandError::local(
                    "reload refused: the previous configuration keeps serving (its log names every mistake: journalctl -u ahdapa)",
                )),
            }
        }
    }
}

/// `service-account ...`: on the local store (`--local`) or through the admin API.
async fn service_account(
    config: &Path,
    remote: &RemoteArgs,
    cmd: ServiceAccountCommand,
) -> Result<(), CommandError> {
    use serde_json::json;
    let local = match &cmd {
        ServiceAccountCommand::Create { local, .. }
        | ServiceAccountCommand::Rotate { local, .. }
        | ServiceAccountCommand::List { local, .. }
        | ServiceAccountCommand::Delete { local, .. } => *local,
    };
    let seg = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let answer: serde_json::Value = if local {
        return local::service_account(config, cmd, remote.json).await;
    } else {
        let api = api(remote, None)?;
        let (method, path, body) = match &cmd {
            ServiceAccountCommand::Create {
                name,
                client,
                expiry,
                ..
            } => (
                http::Method::POST,
                format!("/api/admin/clients/{}/service-accounts", seg(client)),
                Some(json!({"name": name, "expires_in_secs": expiry.secs()})),
            ),
            ServiceAccountCommand::Rotate {
                name,
                client,
                expiry,
                keep_old_secs,
                ..
            } => (
                http::Method::POST,
                format!(
                    "/api/admin/clients/{}/service-accounts/{}/rotate",
                    seg(client),
                    seg(name)
                ),
                Some(json!({"expires_in_secs": expiry.secs(), "keep_old_secs": keep_old_secs})),
            ),
            ServiceAccountCommand::List { client, .. } => (
                http::Method::GET,
                format!("/api/admin/clients/{}/service-accounts", seg(client)),
                None,
            ),
            ServiceAccountCommand::Delete { name, client, .. } => (
                http::Method::DELETE,
                format!(
                    "/api/admin/clients/{}/service-accounts/{}",
                    seg(client),
                    seg(name)
                ),
                None,
            ),
        };
        let answer = api.call(method, &path, body.as_ref()).await?;
        crate::admin::commands::checked(answer, "service-account")?
    };
    crate::admin::commands::print_service_accounts(&answer, remote.json);
    Ok(())
}

/// The man page and bash, zsh and fish completions, generated from the CLI definition.
fn generate_assets(dir: &Path) -> Result<(), String> {
    use clap::CommandFactory;
    use clap_complete::Shell;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|e| e.to_string())?;
    std::fs::write(dir.join("ahdapa.1"), page).map_err(|e| e.to_string())?;
    for (shell, name) in [
        (Shell::Bash, "ahdapa.bash"),
        (Shell::Zsh, "_ahdapa"),
        (Shell::Fish, "ahdapa.fish"),
    ] {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "ahdapa", &mut out);
        std::fs::write(dir.join(name), out).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `Some(local)` for subcommands that can work on the local store.
fn local_flag(cmd: &ClientCommand) -> Option<bool> {
    match cmd {
        ClientCommand::Add { local, .. }
        | ClientCommand::List { local }
        | ClientCommand::Remove { local, .. } => Some(*local),
        ClientCommand::GenerateSecret { .. } => Some(true),
        _ => None,
    }
}

fn api(remote: &RemoteArgs, auth: Option<Auth>) -> Result<AdminClient, CommandError> {
    let server = remote.server.as_deref().ok_or_else(|| {
        CommandError {
            message: "no server: pass --server https://idp.example.com (or set AHDAPA_SERVER), or --local on the server itself".into(),
            code: 2,
        }
    })?;
    let auth = match auth {
        Some(a) => a,
        None => match (&remote.token, &remote.token_file) {
            (Some(t), _) => Auth::Token(t.clone()),
            (None, Some(f)) => Auth::Token(
                std::fs::read_to_string(f)
                    .map_err(|e| CommandError::local(format!("--token-file {}: {e}", f.display())))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => Auth::Negotiate,
        },
    };
    AdminClient::new(server, auth, remote.ca_file.as_deref()).map_err(|m| CommandError {
        message: m,
        code: 2,
    })
}

async fn remote_client(remote: &RemoteArgs, cmd: ClientCommand) -> Result<(), CommandError> {
    let api = api(remote, None)?;
    let json = remote.json;
    match cmd {
        ClientCommand::Add {
            client_id,
            scopes,
            method,
            kerberos_principal,
            jwks_file,
            kerberos_principal_pattern,
            audiences,
            lifetime,
            sign_in,
            ..
        } => {
            let mut people = crate::oauth::client::ClientRegistration::default();
            sign_in.apply(&mut people).map_err(CommandError::local)?;
            let mut reg = serde_json::json!({
                "client_id": client_id,
                "token_endpoint_auth_method": method,
                "scopes": scopes,
            });
            if let (serde_json::Value::Object(m), Ok(serde_json::Value::Object(extra))) =
                (&mut reg, serde_json::to_value(&people))
            {
                for key in [
                    "grant_types",
                    "redirect_uris",
                    "post_logout_redirect_uris",
                    "require_consent",
                    "id_token_signed_response_alg",
                    "client_name",
                ] {
                    if let Some(v) = extra.get(key) {
                        m.insert(key.into(), v.clone());
                    }
                }
            }
            if let serde_json::Value::Object(m) = &mut reg {
                if let Some(p) = kerberos_principal {
                    m.insert("kerberos_principal".into(), p.into());
                }
                if let Some(p) = kerberos_principal_pattern {
                    m.insert("kerberos_principal_pattern".into(), p.into());
                }
                if let Some(f) = jwks_file {
                    let text = std::fs::read_to_string(&f).map_err(|e| {
                        CommandError::local(format!("--jwks-file {}: {e}", f.display()))
                    })?;
                    let jwks: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                        CommandError::local(format!("--jwks-file {}: not JSON: {e}", f.display()))
                    })?;
                    m.insert("jwks".into(), jwks);
                }
                if !audiences.is_empty() {
                    m.insert("audience".into(), audiences.into());
                }
                if let Some(l) = lifetime {
                    m.insert("token_lifetime_secs".into(), l.into());
                }
            }
            commands::client_add(&api, reg, json).await
        }
        ClientCommand::List { .. } => commands::client_list(&api, json).await,
        ClientCommand::Show { client_id } => commands::client_show(&api, &client_id).await,
        ClientCommand::Update {
            client_id,
            scopes,
            audiences,
            lifetime,
            kerberos_principal_pattern,
            require_groups,
            token_signing,
        } => {
            let token_signing = match token_signing.as_deref() {
                None => None,
                Some("server") => Some(None),
                Some(s) => Some(Some(
                    parse_token_signing(s).map_err(|m| CommandError::local(&m))?,
                )),
            };
            commands::client_update(&api, &client_id, |m| {
                match token_signing {
                    None => {}
                    Some(None) => {
                        m.remove("token_signing");
                    }
                    Some(Some(s)) => {
                        m.insert("token_signing".into(), serde_json::json!(s));
                    }
                }
                if !scopes.is_empty() {
                    m.insert("scopes".into(), scopes.into());
                }
                if !audiences.is_empty() {
                    m.insert("audience".into(), audiences.into());
                }
                if let Some(l) = lifetime {
                    m.insert("token_lifetime_secs".into(), l.into());
                }
                if let Some(p) = kerberos_principal_pattern {
                    m.insert("kerberos_principal_pattern".into(), p.into());
                }
                if !require_groups.is_empty() {
                    let mut d = m
                        .get("directory")
                        .cloned()
                        .unwrap_or_else(|| serde_json::json!({}));
                    if let serde_json::Value::Object(dm) = &mut d {
                        dm.insert("require_groups".into(), require_groups.into());
                    }
                    m.insert("directory".into(), d);
                }
            })
            .await
        }
        ClientCommand::RotateSecret { client_id } => {
            commands::client_action(&api, &client_id, "rotate-secret", json).await
        }
        ClientCommand::Disable { client_id } => {
            commands::client_action(&api, &client_id, "disable", json).await
        }
        ClientCommand::Enable { client_id } => {
            commands::client_action(&api, &client_id, "enable", json).await
        }
        ClientCommand::Remove { client_id, .. } => {
            commands::client_action(&api, &client_id, "remove", json).await
        }
        ClientCommand::GenerateSecret { .. } => Ok(()),
    }
}

async fn remote_keys(remote: &RemoteArgs, cmd: KeysCommand) -> Result<(), CommandError> {
    let api = api(remote, None)?;
    match cmd {
        KeysCommand::List { .. } => commands::keys_list(&api, remote.json).await,
        KeysCommand::Rotate { now, .. } => commands::keys_rotate(&api, now, remote.json).await,
        KeysCommand::Retire {
            kid, remove_now, ..
        } => commands::keys_retire(&api, &kid, remove_now, remote.json).await,
        KeysCommand::Import { .. } => Err(CommandError::local("keys import needs --local")),
    }
}

async fn enroll(remote: &RemoteArgs, args: EnrollArgs) -> Result<(), CommandError> {
    let api = api(
        remote,
        Some(Auth::Keytab {
            keytab: args.keytab.clone(),
            principal: args.principal.clone(),
        }),
    )?;
    let server = remote.server.clone().unwrap_or_default();
    commands::enroll(&api, &server, &args.sssd_conf, &args.domain, remote.json).await
}
