//! The `ahdapa` command: parse args -> config::load -> logging::init -> bind ->
//! web::server::run(listeners, shutdown).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use clap::{Args, Parser, Subcommand};

use ahdapa::admin::client::{AdminClient, Auth};
use ahdapa::admin::commands::{self, CommandError};
use ahdapa::config::{self, Config, DEFAULT_CONFIG_PATH, Transport};
use ahdapa::oauth::client::{Client, ClientRegistration, ClientSource, TokenEndpointAuthMethod};
use ahdapa::oauth::client_auth::jwt_assertion::HmacSecret;
use ahdapa::oauth::secret::{ClientSecret, SecretHash};
use ahdapa::service::Service;
use ahdapa::store::{Store, StoreError};
use ahdapa::{clock, dev, logging, systemd, web};

#[derive(Parser)]
#[command(
    name = "ahdapa",
    version,
    about = "Kerberos-integrated OAuth 2.0 identity provider for Linux fleets"
)]
struct Cli {
    /// The config file.
    #[arg(long, global = true, default_value = DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    command: Command,
}

/// How `client`, `keys` and `enroll` reach a server's admin API.
#[derive(Args, Clone)]
struct RemoteArgs {
    /// The server (its issuer URL, e.g. https://idp.example.com); default $AHDAPA_SERVER.
    #[arg(long, global = true, env = "AHDAPA_SERVER")]
    server: Option<String>,
    /// Authenticate with this access token (scope ahdapa.admin) instead of your Kerberos
    /// ticket.
    #[arg(long, global = true, conflicts_with = "token_file")]
    token: Option<String>,
    /// Read the access token from this file.
    #[arg(long, global = true)]
    token_file: Option<PathBuf>,
    /// Extra CA certificates (PEM) to trust for the server.
    #[arg(long, global = true)]
    ca_file: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
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
    /// On a host: get (or rotate) this host's SSSD client with its keytab and write the
    /// SSSD drop-in.
    Enroll(EnrollArgs),
    /// Write the man page (ahdapa.1) and shell completions into a directory (packaging).
    #[command(hide = true)]
    GenerateAssets {
        /// The directory to write into.
        dir: PathBuf,
    },
}

#[derive(Args)]
struct EnrollArgs {
    /// The host keytab.
    #[arg(long, default_value = "/etc/krb5.keytab")]
    keytab: PathBuf,
    /// The principal to enrol as (default: the keytab's first principal).
    #[arg(long)]
    principal: Option<String>,
    /// The SSSD drop-in to write (mode 0600).
    #[arg(long, default_value = "/etc/sssd/conf.d/ahdapa.conf")]
    sssd_conf: PathBuf,
    /// The SSSD domain name in the drop-in.
    #[arg(long, default_value = "ahdapa")]
    domain: String,
}

#[derive(Subcommand)]
enum KeysCommand {
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

#[derive(Args)]
struct ServeArgs {
    /// Embedded dev mode: plain HTTP on loopback, state in --state-dir, a demo client.
    #[arg(long)]
    dev: bool,
    /// With --dev: the address to listen on.
    #[arg(long, requires = "dev", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// With --dev: where the database, keys and demo secret live.
    #[arg(long, requires = "dev")]
    state_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ClientCommand {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ahdapa: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let remote = cli.remote.clone();
    let result: Result<(), CommandError> = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) if args.dev => serve_dev(args).await.map_err(CommandError::local),
            Command::Serve(_) => serve(&cli.config).await.map_err(CommandError::local),
            Command::CheckConfig => check_config(&cli.config).map_err(CommandError::local),
            Command::Client(cmd) => match local_flag(&cmd) {
                Some(true) => client(&cli.config, cmd, remote.json).await,
                _ => remote_client(&remote, cmd).await,
            },
            Command::Keys(cmd) => match &cmd {
                KeysCommand::List { local: false }
                | KeysCommand::Rotate { local: false, .. }
                | KeysCommand::Retire { local: false, .. } => remote_keys(&remote, cmd).await,
                _ => keys(&cli.config, cmd).await.map_err(CommandError::local),
            },
            Command::Enroll(args) => enroll(&remote, args).await,
            Command::GenerateAssets { dir } => generate_assets(&dir).map_err(CommandError::local),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ahdapa: {}", e.message);
            ExitCode::from(e.code)
        }
    }
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
            ..
        } => {
            let mut reg = serde_json::json!({
                "client_id": client_id,
                "token_endpoint_auth_method": method,
                "scopes": scopes,
            });
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
        } => {
            commands::client_update(&api, &client_id, |m| {
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

fn load_config(path: &Path) -> Result<Config, String> {
    config::load(path).map_err(|e| e.to_string())
}

fn check_config(path: &Path) -> Result<(), String> {
    let cfg = load_config(path)?;
    preflight(path, &cfg)?;
    println!(
        "{}: OK (issuer {}, {} listener(s), {} client(s) in the file)",
        path.display(),
        cfg.issuer,
        cfg.server.listen.len(),
        cfg.clients.len()
    );
    Ok(())
}

/// The checks of the files the config names, all problems in one message.
fn preflight(path: &Path, cfg: &Config) -> Result<(), String> {
    let problems = ahdapa::preflight::check(cfg);
    if problems.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
    Err(format!(
        "{}: {} error(s)\n{}",
        path.display(),
        problems.len(),
        lines.join("\n")
    ))
}

/// Checks, binds, and only then opens the store (which may create the database, the
/// master key and a signing key): a start that fails leaves no state behind.
async fn serve(path: &Path) -> Result<(), String> {
    let cfg = load_config(path)?;
    logging::init(cfg.log_level);
    preflight(path, &cfg)?;
    let mut listeners = Vec::new();
    for addr in &cfg.server.listen {
        listeners.push(bind(*addr).await?);
    }
    let metrics_listener = match cfg.metrics_listen {
        Some(addr) => Some((addr, bind(addr).await?)),
        None => None,
    };
    let service = Service::open(&cfg).await.map_err(|e| e.to_string())?;
    let live = web::server::Live::new(service, &cfg.server.transport);
    let metrics = metrics_listener.map(|(addr, l)| {
        log::info!("metrics on http://{addr}/metrics");
        tokio::spawn(web::server::serve_metrics(l, Arc::clone(&live)))
    });
    let scheme = scheme_of(&cfg.server.transport);
    let result = run(live, listeners, scheme, Some((path.to_owned(), cfg))).await;
    if let Some(m) = metrics {
        m.abort();
    }
    result
}

/// On SIGHUP: reads the config again and, when it is valid and the service starts from
/// it, swaps it in (new requests and new TLS connections use it). A bad config is
/// refused with every mistake logged, and the old one keeps serving.
async fn reload_on_sighup(
    path: PathBuf,
    mut current: Config,
    live: Arc<web::server::Live>,
    refresher: Arc<std::sync::Mutex<tokio::task::JoinHandle<()>>>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        log::warn!("cannot listen for SIGHUP; reload needs a restart");
        return;
    };
    while hup.recv().await.is_some() {
        systemd::reloading();
        log::info!(config = path.display().to_string().as_str(); "SIGHUP: reloading");
        let outcome = match config::load(&path) {
            Err(errors) => Err(errors.to_string()),
            Ok(cfg) => match live.service().reload(&cfg, &current).await {
                Err(e) => Err(e.to_string()),
                Ok(service) => {
                    live.replace(Arc::clone(&service), &cfg.server.transport);
                    log::set_max_level(cfg.log_level);
                    if let Ok(mut r) = refresher.lock() {
                        r.abort();
                        *r = service.spawn_refresher();
                    }
                    current = cfg;
                    Ok(service)
                }
            },
        };
        match outcome {
            Ok(service) => {
                log::info!(kid = service.active_kid().as_str(), clients = service.client_count(); "configuration reloaded");
                systemd::ready(&format!(
                    "serving {} client(s), signing with {} (reloaded)",
                    service.client_count(),
                    service.active_kid()
                ));
            }
            Err(reason) => {
                log::error!(reason = reason.as_str(); "reload refused; the previous configuration keeps serving");
                systemd::ready(
                    "reload refused: the previous configuration keeps serving; see the log",
                );
            }
        }
    }
}

fn scheme_of(transport: &Transport) -> &'static str {
    if matches!(transport, Transport::Tls(..)) {
        "https"
    } else {
        "http"
    }
}

async fn serve_dev(args: ServeArgs) -> Result<(), String> {
    logging::init(log::LevelFilter::Info);
    let state_dir = args.state_dir.unwrap_or_else(dev::default_state_dir);
    std::fs::create_dir_all(&state_dir).map_err(|e| format!("{}: {e}", state_dir.display()))?;
    let listener = bind(args.listen).await?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let issuer = format!("http://{local}");
    let cfg = dev::config(&state_dir, &issuer).map_err(|errs| {
        let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
        format!("config/dev.toml is invalid: {}", lines.join("; "))
    })?;
    let service = Service::open(&cfg).await.map_err(|e| e.to_string())?;
    let secret = dev::ensure_demo_client(service.store().as_ref(), &state_dir).await?;
    service.refresh().await.map_err(|e| e.to_string())?;
    print!("{}", dev::banner(&issuer, &state_dir, &secret));
    let live = web::server::Live::new(service, &Transport::InsecureHttp);
    run(live, vec![listener], "http", None).await
}

/// A listener with a backlog of 4096 (the kernel caps it at `net.core.somaxconn`): std's
/// 128 drops handshakes in a burst of new connections, which then wait a whole second
/// for the SYN to be sent again.
async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    let fail = |e: std::io::Error| format!("cannot listen on {addr}: {e}");
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(fail)?;
    socket.set_reuseaddr(true).map_err(fail)?;
    socket.bind(addr).map_err(fail)?;
    socket.listen(4096).map_err(fail)
}

async fn run(
    live: Arc<web::server::Live>,
    listeners: Vec<tokio::net::TcpListener>,
    scheme: &str,
    reload: Option<(PathBuf, Config)>,
) -> Result<(), String> {
    let service = live.service();
    for l in &listeners {
        if let Ok(addr) = l.local_addr() {
            log::info!(kid = service.active_kid().as_str(), clients = service.client_count(); "listening on {scheme}://{addr}");
        }
    }
    let refresher = Arc::new(std::sync::Mutex::new(service.spawn_refresher()));
    let reloader = reload.map(|(path, cfg)| {
        tokio::spawn(reload_on_sighup(
            path,
            cfg,
            Arc::clone(&live),
            Arc::clone(&refresher),
        ))
    });
    let watchdog = systemd::spawn_watchdog();
    systemd::ready(&format!(
        "serving {} client(s), signing with {}",
        service.client_count(),
        service.active_kid()
    ));
    drop(service);
    let shutdown = async {
        shutdown_signal().await;
        systemd::stopping();
    };
    web::server::run(listeners, live, shutdown).await;
    if let Ok(r) = refresher.lock() {
        r.abort();
    }
    if let Some(r) = reloader {
        r.abort();
    }
    if let Some(w) = watchdog {
        w.abort();
    }
    log::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let term = async {
        match term.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

async fn open_local_store(cfg: &Config) -> Result<Arc<dyn Store>, String> {
    ahdapa::service::open_store(&cfg.store)
        .await
        .map_err(|e| e.to_string())
}

fn require_local(local: bool) -> Result<(), String> {
    if local {
        Ok(())
    } else {
        Err("without --local, pass --server to use the admin API".into())
    }
}

/// The exit code table of `admin::commands` holds for `--local` too.
fn conflict(message: String) -> CommandError {
    CommandError { message, code: 5 }
}

/// `ahdapa client ... --local` (and `generate-secret`): on the configured store directly.
/// `--json` prints the same JSON shapes the admin API answers with.
async fn client(path: &Path, cmd: ClientCommand, json: bool) -> Result<(), CommandError> {
    match cmd {
        ClientCommand::GenerateSecret { from_stdin: true } => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| CommandError::local(format!("cannot read standard input: {e}")))?;
            let given = line.trim_end_matches(['\r', '\n']);
            // The stored hash is a fast one (right for high-entropy secrets only).
            if given.chars().count() < 22 {
                return Err(CommandError::local(
                    "the secret on standard input is shorter than 22 characters: too weak for a fast hash; generate a new one",
                ));
            }
            let secret = ClientSecret::new(given.to_owned());
            println!(
                "client_secret_hash = \"{}\"",
                SecretHash::of(&secret).to_stored()
            );
            Ok(())
        }
        ClientCommand::GenerateSecret { from_stdin: false } => {
            let secret = ClientSecret::generate(&SystemRandom::new())
                .map_err(|_| CommandError::local("random source failed"))?;
            println!("client_secret = {}", secret.expose());
            println!(
                "client_secret_hash = \"{}\"",
                SecretHash::of(&secret).to_stored()
            );
            Ok(())
        }
        ClientCommand::Add {
            local,
            client_id,
            scopes,
            method,
            kerberos_principal,
            kerberos_principal_pattern,
            jwks_file,
            audiences,
            lifetime,
        } => {
            require_local(local).map_err(CommandError::local)?;
            let cfg = load_config(path).map_err(CommandError::local)?;
            let method: TokenEndpointAuthMethod = serde_json::from_value(
                serde_json::Value::String(method.clone()),
            )
            .map_err(|_| {
                CommandError::local(format!(
                    "--method {method:?}: expected one of client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt, tls_client_auth, self_signed_tls_client_auth, kerberos_client_auth or none"
                ))
            })?;
            if cfg.clients.iter().any(|c| c.client_id == client_id) {
                return Err(conflict(format!(
                    "client {client_id:?} is declared in {}; remove it there first",
                    path.display()
                )));
            }
            use TokenEndpointAuthMethod as M;
            let secret = match method {
                M::ClientSecretBasic | M::ClientSecretPost | M::ClientSecretJwt => Some(
                    ClientSecret::generate(&SystemRandom::new())
                        .map_err(|_| CommandError::local("random source failed"))?,
                ),
                M::None
                | M::KerberosClientAuth
                | M::PrivateKeyJwt
                | M::TlsClientAuth
                | M::SelfSignedTlsClientAuth => None,
            };
            let jwks = match &jwks_file {
                None => None,
                Some(f) => {
                    let text = std::fs::read_to_string(f).map_err(|e| {
                        CommandError::local(format!("--jwks-file {}: {e}", f.display()))
                    })?;
                    Some(
                        serde_json::from_str::<serde_json::Value>(&text).map_err(|e| {
                            CommandError::local(format!(
                                "--jwks-file {}: not JSON: {e}",
                                f.display()
                            ))
                        })?,
                    )
                }
            };
            // client_secret_jwt needs the secret itself (an HMAC key): sealed, not hashed.
            let (hash, sealed, hmac) = match (&secret, method) {
                (Some(s), M::ClientSecretJwt) => {
                    let master =
                        ahdapa::service::load_or_create_master_key(&cfg.keys.master_key_file)
                            .map_err(|e| CommandError::local(e.to_string()))?;
                    let sealed = ahdapa::service::seal_client_secret(&master, &client_id, s)
                        .map_err(|e| CommandError::local(e.to_string()))?;
                    let hmac = HmacSecret::new(s.expose().as_bytes().to_vec())
                        .map_err(CommandError::local)?;
                    (None, Some(sealed), Some(hmac))
                }
                (Some(s), _) => (Some(SecretHash::of(s).to_stored()), None, None),
                (None, _) => (None, None, None),
            };
            let reg = ClientRegistration {
                client_id: client_id.clone(),
                token_endpoint_auth_method: method,
                client_secret_hash: hash,
                kerberos_principal,
                kerberos_principal_pattern,
                jwks,
                client_secret_sealed: sealed,
                scopes,
                audience: audiences,
                token_lifetime_secs: lifetime,
                ..Default::default()
            };
            if let Err(problems) = Client::from_registration(&reg, ClientSource::Store, hmac) {
                let lines: Vec<String> = problems
                    .iter()
                    .map(|p| format!("{}: {}", p.field, p.message))
                    .collect();
                return Err(CommandError {
                    message: format!("invalid client:\n  {}", lines.join("\n  ")),
                    code: 6,
                });
            }
            let store = open_local_store(&cfg).await.map_err(CommandError::local)?;
            store
                .insert_client(&reg, clock::now_unix())
                .await
                .map_err(|e| match e {
                    StoreError::Conflict(_) => {
                        conflict(format!("client {client_id:?} already exists"))
                    }
                    other => CommandError::local(other.to_string()),
                })?;
            if json {
                let mut view = ahdapa::admin::view(&reg);
                if let (serde_json::Value::Object(m), Some(s)) = (&mut view, &secret) {
                    m.insert("client_secret".into(), s.expose().into());
                }
                println!("{view:#}");
                return Ok(());
            }
            println!("client_id = {client_id}");
            if let Some(s) = secret {
                println!("client_secret = {}", s.expose());
                if method == M::ClientSecretJwt {
                    eprintln!(
                        "The secret is shown once; it is stored encrypted under the master key."
                    );
                } else {
                    eprintln!("The secret is shown once; only its hash is stored.");
                }
            }
            Ok(())
        }
        ClientCommand::List { local } => {
            require_local(local).map_err(CommandError::local)?;
            let cfg = load_config(path).map_err(CommandError::local)?;
            let store = open_local_store(&cfg).await.map_err(CommandError::local)?;
            let stored = store
                .clients()
                .await
                .map_err(|e| CommandError::local(e.to_string()))?;
            if json {
                let mut all: Vec<serde_json::Value> = cfg
                    .clients
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "client_id": c.client_id,
                            "source": "config",
                            "token_endpoint_auth_method":
                                ahdapa::oauth::client_auth::registered_method(&c.credential),
                            "scope": c.scopes.to_scope_string(),
                        })
                    })
                    .collect();
                all.extend(stored.iter().map(ahdapa::admin::view));
                println!("{:#}", serde_json::Value::Array(all));
                return Ok(());
            }
            println!(
                "{:<32} {:<8} {:<20} SCOPES",
                "CLIENT_ID", "SOURCE", "METHOD"
            );
            for c in &cfg.clients {
                let reg_method = ahdapa::oauth::client_auth::registered_method(&c.credential);
                println!(
                    "{:<32} {:<8} {:<20} {}",
                    c.client_id,
                    "config",
                    reg_method,
                    c.scopes.to_scope_string()
                );
            }
            for r in &stored {
                println!(
                    "{:<32} {:<8} {:<20} {}",
                    r.client_id,
                    "store",
                    r.token_endpoint_auth_method.as_str(),
                    r.scopes.join(" ")
                );
            }
            Ok(())
        }
        ClientCommand::Remove { local, client_id } => {
            require_local(local).map_err(CommandError::local)?;
            let cfg = load_config(path).map_err(CommandError::local)?;
            if cfg.clients.iter().any(|c| c.client_id == client_id) {
                return Err(conflict(format!(
                    "client {client_id:?} is declared in {}; remove it there",
                    path.display()
                )));
            }
            let store = open_local_store(&cfg).await.map_err(CommandError::local)?;
            if store
                .delete_client(&client_id)
                .await
                .map_err(|e| CommandError::local(e.to_string()))?
            {
                if json {
                    println!(
                        "{:#}",
                        serde_json::json!({"client_id": client_id, "removed": true})
                    );
                } else {
                    println!("removed {client_id}");
                }
                Ok(())
            } else {
                Err(CommandError {
                    message: format!("no client {client_id:?} in the store"),
                    code: 4,
                })
            }
        }
        ClientCommand::Show { .. }
        | ClientCommand::Update { .. }
        | ClientCommand::RotateSecret { .. }
        | ClientCommand::Disable { .. }
        | ClientCommand::Enable { .. } => Err(CommandError::local(
            "this command works through the admin API: pass --server",
        )),
    }
}

async fn keys(path: &Path, cmd: KeysCommand) -> Result<(), String> {
    use ahdapa::service::{JWKS_MAX_AGE_SECS, ROTATION_RETENTION_SECS};
    let local = match &cmd {
        KeysCommand::List { local }
        | KeysCommand::Rotate { local, .. }
        | KeysCommand::Retire { local, .. } => *local,
    };
    require_local(local)?;
    let cfg = load_config(path)?;
    let store = open_local_store(&cfg).await?;
    let now = clock::now_unix();
    match cmd {
        KeysCommand::List { .. } => {
            println!(
                "{:<44} {:<6} {:<9} {:<20} {:<20} {:<20}",
                "KID", "ALG", "STATE", "SIGNS FROM", "SIGNS UNTIL", "PUBLISHED UNTIL"
            );
            let fmt = |t: Option<u64>| t.map_or("-".to_owned(), |v| v.to_string());
            for r in store.signing_keys().await.map_err(|e| e.to_string())? {
                let times = ahdapa::token::rotation::KeyTimes {
                    algorithm: r.algorithm,
                    activates_at: r.activates_at,
                    retires_at: r.retires_at,
                    removed_at: r.removed_at,
                };
                let state = times.state_at(now);
                println!(
                    "{:<44} {:<6} {:<9} {:<20} {:<20} {:<20}",
                    r.kid,
                    r.algorithm.as_str(),
                    state,
                    r.activates_at,
                    fmt(r.retires_at),
                    fmt(r.removed_at)
                );
            }
            Ok(())
        }
        KeysCommand::Rotate { now: immediate, .. } => {
            let master = ahdapa::service::load_or_create_master_key(&cfg.keys.master_key_file)
                .map_err(|e| e.to_string())?;
            let lead = cfg.tokens.default_lifetime_secs + JWKS_MAX_AGE_SECS;
            let kid = ahdapa::service::rotate_keys(
                store.as_ref(),
                &master,
                cfg.keys.algorithm,
                now,
                immediate,
                lead,
                ROTATION_RETENTION_SECS,
            )
            .await
            .map_err(|e| e.to_string())?;
            let when = if immediate { now } else { now + lead };
            println!("new key {kid} is published now and signs from {when} (unix time)");
            eprintln!("Running servers pick the change up within 2 seconds.");
            Ok(())
        }
        KeysCommand::Retire {
            kid, remove_now, ..
        } => {
            use ahdapa::service::RetireError;
            let removed = ahdapa::service::retire_key(
                store.as_ref(),
                cfg.keys.algorithm,
                &kid,
                now,
                remove_now,
            )
            .await
            .map_err(|e| match e {
                RetireError::NotFound => format!("no key {kid:?}; see `ahdapa keys list --local`"),
                RetireError::LastSigner => {
                    "no other key can sign now: run `ahdapa keys rotate --local --now` first".into()
                }
                RetireError::Store(m) => m,
            })?;
            println!("key {kid} no longer signs; it leaves /jwks at {removed} (unix time)");
            Ok(())
        }
    }
}
