//! `ahdapa client ... --local` and `ahdapa keys ... --local`: the commands that work on
//! the configured database directly, on the server itself (bootstrap, or without a
//! running server). The exit codes are those of [`super::commands`].

use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;

use super::commands::CommandError;
use crate::cli::{ClientCommand, KeysCommand};
use crate::clock;
use crate::config::Config;
use crate::daemon::load_config;
use crate::oauth::client::{ClientRegistration, TokenEndpointAuthMethod};
use crate::oauth::secret::{ClientSecret, SecretHash};
use crate::store::Store;

async fn open_local_store(cfg: &Config) -> Result<Arc<dyn Store>, String> {
    crate::service::open_store(&cfg.store)
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

/// The service the admin functions work on: opened on the configured store, as the
/// daemon opens it (it may create the database, the master key and a first signing key,
/// as the first start would). Audit events go to the journal when there is one.
async fn local_service(cfg: &Config) -> Result<Arc<crate::service::Service>, CommandError> {
    crate::logging::init_cli();
    crate::service::Service::open(cfg)
        .await
        .map_err(|e| CommandError::local(e.to_string()))
}

/// Who a local change is audited as: the user running the command.
fn actor() -> super::Actor {
    let name = crate::clock::env_var("SUDO_USER")
        .or_else(|| crate::clock::env_var("USER"))
        .unwrap_or_else(|| format!("uid {}", process_uid()));
    super::Actor { name, via: "local" }
}

/// The real user id, from /proc (no libc call needed).
fn process_uid() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        })
        .unwrap_or_else(|| "?".into())
}

/// `service-account ... --local`.
pub async fn service_account(
    path: &Path,
    cmd: crate::cli::ServiceAccountCommand,
    json: bool,
) -> Result<(), CommandError> {
    use crate::cli::ServiceAccountCommand as C;
    use crate::service::service_accounts::view;
    let cfg = load_config(path).map_err(CommandError::local)?;
    let service = local_service(&cfg).await?;
    let actor = actor();
    let with_password = |a: &crate::oauth::service_account::ServiceAccount, p: &ClientSecret| {
        let mut v = view(a);
        if let serde_json::Value::Object(m) = &mut v {
            m.insert("password".into(), p.expose().into());
        }
        v
    };
    let answer = match cmd {
        C::Create {
            name,
            client,
            expiry,
            ..
        } => service
            .create_service_account(&actor, &client, &name, expiry.secs())
            .await
            .map(|(a, p)| with_password(&a, &p)),
        C::Rotate {
            name,
            client,
            expiry,
            keep_old_secs,
            ..
        } => service
            .rotate_service_account(&actor, &client, &name, expiry.secs(), keep_old_secs)
            .await
            .map(|(a, p)| with_password(&a, &p)),
        C::List { client, .. } => service
            .list_service_accounts(&client)
            .await
            .map(|l| serde_json::Value::Array(l.iter().map(view).collect())),
        C::Delete { name, client, .. } => service
            .delete_service_account(&actor, &client, &name)
            .await
            .map(|()| serde_json::json!({"deleted": name})),
    }
    .map_err(admin_error)?;
    super::commands::print_service_accounts(&answer, json);
    Ok(())
}

/// The exit code table of `admin::commands` holds for `--local` too.
fn admin_error(e: super::AdminError) -> CommandError {
    let code = super::commands::Failure::from(&e).exit_code();
    let message = match e {
        super::AdminError::Invalid(problems) => format!(
            "invalid client:\n  {}",
            problems
                .iter()
                .map(|(f, m)| format!("{f}: {m}"))
                .collect::<Vec<_>>()
                .join("\n  ")
        ),
        other => other.to_string(),
    };
    CommandError { message, code }
}

/// `ahdapa client ... --local` (and `generate-secret`): on the configured store directly.
/// `--json` prints the same JSON shapes the admin API answers with.
pub async fn client(path: &Path, cmd: ClientCommand, json: bool) -> Result<(), CommandError> {
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
            sign_in,
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
            let mut reg = ClientRegistration {
                client_id,
                token_endpoint_auth_method: method,
                kerberos_principal,
                kerberos_principal_pattern,
                jwks,
                scopes,
                audience: audiences,
                token_lifetime_secs: lifetime,
                ..Default::default()
            };
            sign_in.apply(&mut reg).map_err(CommandError::local)?;
            // The admin API's own function: the same validation, secret handling
            // (hashed, or sealed for client_secret_jwt) and audit event (via=local).
            let service = local_service(&cfg).await?;
            let written = super::create_client(&service, &actor(), reg)
                .await
                .map_err(admin_error)?;
            let secret = written.secret.as_ref().map(|s| s.expose().to_owned());
            if json {
                let mut view = super::view(&written.registration);
                if let (serde_json::Value::Object(m), Some(s)) = (&mut view, &secret) {
                    m.insert("client_secret".into(), s.clone().into());
                }
                println!("{view:#}");
                return Ok(());
            }
            println!("client_id = {}", written.registration.client_id);
            if let Some(s) = secret {
                println!("client_secret = {s}");
                if method == TokenEndpointAuthMethod::ClientSecretJwt {
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
                                crate::oauth::client_auth::registered_method(&c.credential),
                            "scope": c.scopes.to_scope_string(),
                        })
                    })
                    .collect();
                all.extend(stored.iter().map(crate::admin::view));
                println!("{:#}", serde_json::Value::Array(all));
                return Ok(());
            }
            println!(
                "{:<32} {:<8} {:<20} SCOPES",
                "CLIENT_ID", "SOURCE", "METHOD"
            );
            for c in &cfg.clients {
                let reg_method = crate::oauth::client_auth::registered_method(&c.credential);
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
            let service = local_service(&cfg).await?;
            super::delete_client(&service, &actor(), &client_id)
                .await
                .map_err(admin_error)?;
            if json {
                println!(
                    "{:#}",
                    serde_json::json!({"client_id": client_id, "removed": true})
                );
            } else {
                println!("removed {client_id}");
            }
            Ok(())
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

pub async fn keys(path: &Path, cmd: KeysCommand) -> Result<(), String> {
    use crate::service::{JWKS_MAX_AGE_SECS, ROTATION_RETENTION_SECS};
    let local = match &cmd {
        KeysCommand::List { local }
        | KeysCommand::Rotate { local, .. }
        | KeysCommand::Retire { local, .. }
        | KeysCommand::Import { local, .. } => *local,
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
                let times = crate::token::rotation::KeyTimes {
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
        KeysCommand::Import {
            pem,
            kid,
            now: immediate,
            publish_only,
            ..
        } => {
            use rustls_pki_types::pem::PemObject;
            let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_file(&pem).map_err(|e| {
                format!(
                    "{}: no PEM PRIVATE KEY ({e}); convert with `openssl pkcs8 -topk8 -nocrypt -in KEY`",
                    pem.display()
                )
            })?;
            let master = crate::service::load_or_create_master_key(&cfg.keys.master_key_file)
                .map_err(|e| e.to_string())?;
            let lead = cfg.tokens.default_lifetime_secs + JWKS_MAX_AGE_SECS;
            let how = match (immediate, publish_only) {
                (_, true) => crate::service::ImportAs::PublishOnly,
                (true, _) => crate::service::ImportAs::Immediate,
                _ => crate::service::ImportAs::Successor,
            };
            let kid = crate::service::import_key(
                store.as_ref(),
                &master,
                der.secret_pkcs8_der(),
                kid.as_deref(),
                now,
                how,
                lead,
                ROTATION_RETENTION_SECS,
            )
            .await
            .map_err(|e| e.to_string())?;
            match how {
                crate::service::ImportAs::PublishOnly => println!(
                    "imported key {kid} is published until {} (unix time) and never signs",
                    now + ROTATION_RETENTION_SECS
                ),
                _ => println!(
                    "imported key {kid} is published now and signs from {} (unix time)",
                    if immediate { now } else { now + lead }
                ),
            }
            eprintln!("Running servers pick the change up within 2 seconds.");
            Ok(())
        }
        KeysCommand::Rotate { now: immediate, .. } => {
            let master = crate::service::load_or_create_master_key(&cfg.keys.master_key_file)
                .map_err(|e| e.to_string())?;
            let lead = cfg.tokens.default_lifetime_secs + JWKS_MAX_AGE_SECS;
            let kid = crate::service::rotate_keys(
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
            use crate::service::RetireError;
            let removed = crate::service::retire_key(
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
