//! The `ahdapa client ...`, `ahdapa keys ...` and `ahdapa enroll` commands when they talk
//! to a server (`--server`): requests to the admin API, tables for people, `--json` for
//! scripts, and exit codes scripts can rely on:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | anything else (bad local input, unexpected answer) |
//! | 2 | wrong command-line usage |
//! | 3 | authentication refused (401) or not an admin (403) |
//! | 4 | no such client (404) |
//! | 5 | conflict: the client exists, or is declared in the config file (409) |
//! | 6 | the server refused the registration as invalid (400) |
//! | 7 | the server or a dependency is unavailable (5xx, cannot connect) |

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde_json::{Value, json};

use super::client::{AdminClient, Answer, CallError};

/// A failed command: the message for stderr and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    /// What went wrong and what to do.
    pub message: String,
    /// The process exit code (see the module table).
    pub code: u8,
}

impl CommandError {
    /// A local problem (exit code 1).
    pub fn local(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }
}

impl From<CallError> for CommandError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Credentials(message) => Self { message, code: 3 },
            CallError::Transport(message) => Self { message, code: 7 },
        }
    }
}

/// What an admin operation's failure was, as the module's exit-code table knows it: the
/// admin API's status codes and `--local`'s `AdminError`s both map here, so the same
/// failure exits with the same code either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Not authenticated or not an admin (exit 3).
    Refused,
    /// No such client (exit 4).
    NotFound,
    /// Exists already, or read-only (exit 5).
    Conflict,
    /// Invalid metadata (exit 6).
    Invalid,
    /// The server or store is down (exit 7).
    Unavailable,
    /// Anything else (exit 1).
    Other,
}

impl Failure {
    /// The admin API answer's status as a failure.
    pub fn of_status(status: u16) -> Self {
        match status {
            401 | 403 => Self::Refused,
            404 => Self::NotFound,
            409 => Self::Conflict,
            400 | 422 => Self::Invalid,
            s if s >= 500 => Self::Unavailable,
            _ => Self::Other,
        }
    }

    /// The process exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Refused => 3,
            Self::NotFound => 4,
            Self::Conflict => 5,
            Self::Invalid => 6,
            Self::Unavailable => 7,
            Self::Other => 1,
        }
    }
}

impl From<&super::AdminError> for Failure {
    fn from(e: &super::AdminError) -> Self {
        use super::AdminError;
        match e {
            AdminError::NotFound(_) => Self::NotFound,
            AdminError::Conflict(_) | AdminError::ReadOnly(_) => Self::Conflict,
            AdminError::Invalid(_) => Self::Invalid,
            AdminError::Unavailable(_) => Self::Unavailable,
        }
    }
}

/// Turns a non-2xx answer into an error with a hint.
fn check(answer: Answer, what: &str) -> Result<Value, CommandError> {
    if (200..300).contains(&answer.status) {
        return Ok(answer.body);
    }
    let description = answer
        .body
        .get("error_description")
        .and_then(Value::as_str)
        .or_else(|| answer.body.get("error").and_then(Value::as_str))
        .unwrap_or("no details")
        .to_owned();
    let hint = match answer.status {
        401 => " (run kinit as an admin principal, or pass --token with an ahdapa.admin token)",
        403 => " (ask for your principal in admin.principals or admin.groups)",
        s if s >= 500 => " (try again later)",
        _ => "",
    };
    let code = Failure::of_status(answer.status).exit_code();
    let mut message = format!(
        "{what}: the server answered {}: {description}{hint}",
        answer.status
    );
    if let Some(fields) = answer.body.get("fields").and_then(Value::as_array) {
        for f in fields {
            message.push_str(&format!(
                "\n  {}: {}",
                f.get("field").and_then(Value::as_str).unwrap_or("?"),
                f.get("message").and_then(Value::as_str).unwrap_or("?")
            ));
        }
    }
    Err(CommandError { message, code })
}

/// [`check`] for commands outside this module.
pub fn checked(answer: Answer, what: &str) -> Result<Value, CommandError> {
    check(answer, what)
}

/// Prints what a `service-account` command got back: one account (with its app password
/// the one time it is shown), a list, or a deletion.
pub fn print_service_accounts(answer: &Value, as_json: bool) {
    if as_json {
        println!("{answer:#}");
        return;
    }
    let text = |v: &Value, k: &str| {
        v.get(k).map_or("-".to_owned(), |x| {
            x.as_str().map_or(x.to_string(), str::to_owned)
        })
    };
    match answer {
        Value::Array(list) => {
            println!("{:<32} {:<12} {:<12}", "NAME", "EXPIRES AT", "ROTATED AT");
            for a in list {
                println!(
                    "{:<32} {:<12} {:<12}",
                    text(a, "name"),
                    text(a, "expires_at"),
                    text(a, "rotated_at")
                );
            }
        }
        v if v.get("password").is_some() => {
            println!("name = {}", text(v, "name"));
            println!("client_id = {}", text(v, "client_id"));
            println!("password = {}", text(v, "password"));
            println!("expires_at = {}", text(v, "expires_at"));
            eprintln!("The app password is shown once; ahdapa keeps only its hash.");
        }
        v => println!("deleted {}", text(v, "deleted")),
    }
}

/// Percent-encodes a client_id for a URL path.
fn seg(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// `client add`: registers `registration` and prints the id and the secret (once).
pub async fn client_add(
    api: &AdminClient,
    registration: Value,
    as_json: bool,
) -> Result<(), CommandError> {
    let body = check(
        api.call(
            http::Method::POST,
            "/api/admin/clients",
            Some(&registration),
        )
        .await?,
        "client add",
    )?;
    if as_json {
        println!("{body:#}");
        return Ok(());
    }
    println!(
        "client_id = {}",
        body.get("client_id").and_then(Value::as_str).unwrap_or("?")
    );
    if let Some(s) = body.get("client_secret").and_then(Value::as_str)
        && s != "(set)"
    {
        println!("client_secret = {s}");
        eprintln!("The secret is shown once; the server keeps only its hash.");
    }
    Ok(())
}

/// `client list`.
pub async fn client_list(api: &AdminClient, as_json: bool) -> Result<(), CommandError> {
    let body = check(
        api.call(http::Method::GET, "/api/admin/clients", None)
            .await?,
        "client list",
    )?;
    if as_json {
        println!("{body:#}");
        return Ok(());
    }
    println!(
        "{:<32} {:<7} {:<28} {:<9} SCOPES",
        "CLIENT_ID", "SOURCE", "METHOD", "DISABLED"
    );
    for c in body.as_array().map(Vec::as_slice).unwrap_or_default() {
        let scopes: Vec<&str> = c
            .get("scopes")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        println!(
            "{:<32} {:<7} {:<28} {:<9} {}",
            c.get("client_id").and_then(Value::as_str).unwrap_or("?"),
            c.get("source").and_then(Value::as_str).unwrap_or("?"),
            c.get("token_endpoint_auth_method")
                .and_then(Value::as_str)
                .unwrap_or("?"),
            if c.get("disabled").and_then(Value::as_bool).unwrap_or(false) {
                "yes"
            } else {
                "no"
            },
            scopes.join(" ")
        );
    }
    Ok(())
}

/// `client show`: the registration as JSON.
pub async fn client_show(api: &AdminClient, id: &str) -> Result<(), CommandError> {
    let body = check(
        api.call(
            http::Method::GET,
            &format!("/api/admin/clients/{}", seg(id)),
            None,
        )
        .await?,
        "client show",
    )?;
    println!("{body:#}");
    Ok(())
}

/// `client update`: reads the registration, applies `edit`, writes it back.
pub async fn client_update(
    api: &AdminClient,
    id: &str,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> Result<(), CommandError> {
    let path = format!("/api/admin/clients/{}", seg(id));
    let mut body = check(
        api.call(http::Method::GET, &path, None).await?,
        "client update",
    )?;
    let Value::Object(m) = &mut body else {
        return Err(CommandError::local("client update: unexpected answer"));
    };
    edit(m);
    let answer = check(
        api.call(http::Method::PUT, &path, Some(&body)).await?,
        "client update",
    )?;
    println!("updated {id}");
    // A new secret when the change needed one (HS256 token signing seals the secret, so
    // a hashed one is replaced): shown once.
    if let Some(secret) = answer.get("client_secret").and_then(Value::as_str)
        && secret != "(set)"
    {
        println!("client_secret = {secret}");
    }
    Ok(())
}

/// `client disable|enable|rotate-secret|remove`.
pub async fn client_action(
    api: &AdminClient,
    id: &str,
    action: &str,
    as_json: bool,
) -> Result<(), CommandError> {
    let path = format!("/api/admin/clients/{}", seg(id));
    let answer = match action {
        "remove" => api.call(http::Method::DELETE, &path, None).await?,
        _ => {
            api.call(http::Method::POST, &format!("{path}/{action}"), None)
                .await?
        }
    };
    let body = check(answer, &format!("client {action}"))?;
    if as_json {
        println!("{body:#}");
        return Ok(());
    }
    match action {
        "rotate-secret" => {
            println!("client_id = {id}");
            println!(
                "client_secret = {}",
                body.get("client_secret")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
            );
            eprintln!("The old secret no longer works; the new one is shown once.");
        }
        "remove" => println!("removed {id}"),
        other => println!("{other}d {id}"),
    }
    Ok(())
}

/// `keys list`.
pub async fn keys_list(api: &AdminClient, as_json: bool) -> Result<(), CommandError> {
    let body = check(
        api.call(http::Method::GET, "/api/admin/keys", None).await?,
        "keys list",
    )?;
    if as_json {
        println!("{body:#}");
        return Ok(());
    }
    println!(
        "{:<44} {:<6} {:<9} {:<12} {:<12} {:<12}",
        "KID", "ALG", "STATE", "SIGNS FROM", "SIGNS UNTIL", "PUBLISHED UNTIL"
    );
    let t = |v: Option<&Value>| {
        v.and_then(Value::as_u64)
            .map_or("-".to_owned(), |n| n.to_string())
    };
    for k in body.as_array().map(Vec::as_slice).unwrap_or_default() {
        println!(
            "{:<44} {:<6} {:<9} {:<12} {:<12} {:<12}",
            k.get("kid").and_then(Value::as_str).unwrap_or("?"),
            k.get("alg").and_then(Value::as_str).unwrap_or("?"),
            k.get("state").and_then(Value::as_str).unwrap_or("?"),
            t(k.get("signs_from")),
            t(k.get("signs_until")),
            t(k.get("published_until"))
        );
    }
    Ok(())
}

/// `keys rotate`.
pub async fn keys_rotate(api: &AdminClient, now: bool, as_json: bool) -> Result<(), CommandError> {
    let path = if now {
        "/api/admin/keys/rotate?now=true"
    } else {
        "/api/admin/keys/rotate"
    };
    let body = check(
        api.call(http::Method::POST, path, None).await?,
        "keys rotate",
    )?;
    if as_json {
        println!("{body:#}");
    } else {
        println!(
            "new key {}",
            body.get("kid").and_then(Value::as_str).unwrap_or("?")
        );
    }
    Ok(())
}

/// `keys retire`.
pub async fn keys_retire(
    api: &AdminClient,
    kid: &str,
    remove_now: bool,
    as_json: bool,
) -> Result<(), CommandError> {
    let mut path = format!("/api/admin/keys/{}/retire", seg(kid));
    if remove_now {
        path.push_str("?remove_now=true");
    }
    let body = check(
        api.call(http::Method::POST, &path, None).await?,
        "keys retire",
    )?;
    if as_json {
        println!("{body:#}");
    } else {
        println!(
            "key {kid} no longer signs; it leaves /jwks at {} (unix time)",
            body.get("published_until")
                .and_then(Value::as_u64)
                .unwrap_or(0)
        );
    }
    Ok(())
}

/// `ahdapa enroll`: gets this host's SSSD client with its keytab and writes the SSSD
/// drop-in (mode 0600) with the settings the identity API needs.
pub async fn enroll(
    api: &AdminClient,
    server: &str,
    sssd_conf: &Path,
    domain: &str,
    as_json: bool,
) -> Result<(), CommandError> {
    let body = check(
        api.call(http::Method::POST, "/api/enroll", None).await?,
        "enroll",
    )?;
    let get = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default();
    let server = server.trim_end_matches('/');
    let text = format!(
        "# Written by `ahdapa enroll`; re-running it rotates the secret.\n\
         # Add \"{domain}\" to `domains` in the [sssd] section of sssd.conf.\n\
         [domain/{domain}]\n\
         id_provider = idp\n\
         idp_type = keycloak:{server}/api/identity\n\
         idp_token_endpoint = {}\n\
         idp_client_id = {}\n\
         idp_client_secret = {}\n\
         idp_id_scope = {}\n",
        get("token_endpoint"),
        get("client_id"),
        get("client_secret"),
        get("scope"),
    );
    write_private(sssd_conf, &text)
        .map_err(|e| CommandError::local(format!("{}: {e}", sssd_conf.display())))?;
    if as_json {
        let mut shown = body.clone();
        if let Value::Object(m) = &mut shown {
            m.remove("client_secret");
            m.insert("sssd_conf".into(), json!(sssd_conf.display().to_string()));
        }
        println!("{shown:#}");
    } else {
        println!(
            "enrolled as {}; wrote {} (mode 0600)",
            get("client_id"),
            sssd_conf.display()
        );
    }
    Ok(())
}

/// Writes `text` to `path` with mode 0600 (replacing it atomically).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
