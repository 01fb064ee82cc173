//! Client and key management, shared by the admin API (`/api/admin`), host
//! self-enrolment (`/api/enroll`) and dynamic registration (`/register`): validate a
//! registration, give secret clients a fresh secret (shown once: only a hash is kept, or
//! for client_secret_jwt the secret sealed under the master key), write the store, make
//! the change visible on this node at once (other nodes poll within 2 s), and write an
//! audit event naming the actor, the client and what changed — never a secret.
//!
//! Clients declared in the config file are read-only here: the file is the admin's.
//! [`client`] is the other side: the `ahdapa` command talking to the admin API.

pub mod client;
pub mod commands;
pub mod local;
pub mod registration;

use aws_lc_rs::rand::SystemRandom;
use serde_json::{Value, json};

use crate::clock;
use crate::oauth::client::{Client, ClientRegistration, ClientSource, TokenEndpointAuthMethod};
use crate::oauth::client_auth::jwt_assertion::HmacSecret;
use crate::oauth::secret::{ClientSecret, SecretHash};
use crate::service::{self, Service};
use crate::store::StoreError;

/// Who asked for a change, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// A Kerberos principal, or the `sub` of an admin token.
    pub name: String,
    /// `negotiate`, `token`, `registration` or `local`.
    pub via: &'static str,
}

/// Why a management request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// No such client (404).
    #[error("no client {0:?}")]
    NotFound(String),
    /// The client_id is taken (409).
    #[error("client {0:?} already exists")]
    Conflict(String),
    /// The registration is invalid; each problem names its field (400
    /// `invalid_client_metadata`).
    #[error("invalid client: {}", .0.iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<(String, String)>),
    /// The client is declared in the config file (409).
    #[error("client {0:?} is declared in the config file; change it there")]
    ReadOnly(String),
    /// The store failed (503).
    #[error("the store failed: {0}")]
    Unavailable(String),
}

impl AdminError {
    /// The error code in JSON answers.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Invalid(_) => "invalid_client_metadata",
            Self::ReadOnly(_) => "read_only",
            Self::Unavailable(_) => "temporarily_unavailable",
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Self::Conflict(what),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

/// A written client, and its new secret when one was generated (shown once).
#[derive(Debug)]
pub struct Written {
    /// The stored registration.
    pub registration: ClientRegistration,
    /// The new secret, if any.
    pub secret: Option<ClientSecret>,
}

/// Every client: the config file's (read-only) and the store's, as JSON without secrets.
pub async fn list_clients(service: &Service) -> Result<Vec<Value>, AdminError> {
    let mut out: Vec<Value> = service
        .config_clients()
        .iter()
        .map(|c| {
            json!({
                "client_id": c.client_id,
                "token_endpoint_auth_method":
                    crate::oauth::client_auth::registered_method(&c.credential),
                "scopes": c.scopes.to_scope_string().split(' ').collect::<Vec<_>>(),
                "source": "config",
            })
        })
        .collect();
    for reg in service.store().clients().await? {
        if !service.is_config_client(&reg.client_id) {
            out.push(view(&reg));
        }
    }
    Ok(out)
}

/// One stored client as JSON without secrets.
pub async fn show_client(service: &Service, client_id: &str) -> Result<Value, AdminError> {
    stored(service, client_id).await.map(|r| view(&r))
}

/// A registration as shown to admins: secrets and their hashes replaced by whether
/// they are set.
pub fn view(reg: &ClientRegistration) -> Value {
    let mut v = serde_json::to_value(reg).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        let had_secret =
            m.remove("client_secret_hash").is_some() | m.remove("client_secret_sealed").is_some();
        m.remove("registration_access_token_hash");
        if had_secret {
            m.insert("client_secret".into(), "(set)".into());
        }
        m.insert("source".into(), "store".into());
        m.insert("disabled".into(), reg.disabled.into());
    }
    v
}

/// Registers a new client; secret methods get a fresh secret unless the registration
/// carries a hash.
pub async fn create_client(
    service: &Service,
    actor: &Actor,
    reg: ClientRegistration,
) -> Result<Written, AdminError> {
    if service.is_config_client(&reg.client_id) {
        return Err(AdminError::ReadOnly(reg.client_id));
    }
    let (reg, secret) = with_secret(service, reg, None)?;
    service
        .check_jwks_uri(&reg)
        .await
        .map_err(|problem| AdminError::Invalid(vec![problem]))?;
    service
        .store()
        .insert_client(&reg, clock::now_unix())
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => AdminError::Conflict(reg.client_id.clone()),
            other => other.into(),
        })?;
    refresh(service).await;
    audit(actor, "client.create", &reg.client_id, &summary(&reg));
    Ok(Written {
        registration: reg,
        secret,
    })
}

/// Replaces a stored client's registration. A secret client keeps its secret unless the
/// new registration carries another hash or changes the method.
pub async fn replace_client(
    service: &Service,
    actor: &Actor,
    reg: ClientRegistration,
) -> Result<Written, AdminError> {
    let old = stored(service, &reg.client_id).await?;
    let mut reg = reg;
    if reg.registration_access_token_hash.is_none() {
        reg.registration_access_token_hash = old.registration_access_token_hash.clone();
    }
    if reg.enrolled_principal.is_none() {
        reg.enrolled_principal = old.enrolled_principal.clone();
    }
    let (reg, secret) = with_secret(service, reg, Some(&old))?;
    service
        .check_jwks_uri(&reg)
        .await
        .map_err(|problem| AdminError::Invalid(vec![problem]))?;
    write(service, &reg).await?;
    audit(actor, "client.update", &reg.client_id, &changes(&old, &reg));
    Ok(Written {
        registration: reg,
        secret,
    })
}

/// Disables (refused everywhere) or enables a stored client.
pub async fn set_disabled(
    service: &Service,
    actor: &Actor,
    client_id: &str,
    disabled: bool,
) -> Result<(), AdminError> {
    let mut reg = stored(service, client_id).await?;
    reg.disabled = disabled;
    write(service, &reg).await?;
    let action = if disabled {
        "client.disable"
    } else {
        "client.enable"
    };
    audit(actor, action, client_id, "");
    Ok(())
}

/// Gives a secret client a new secret; the old one stops working at once on this node
/// (within 2 s on others).
pub async fn rotate_secret(
    service: &Service,
    actor: &Actor,
    client_id: &str,
) -> Result<ClientSecret, AdminError> {
    let mut reg = stored(service, client_id).await?;
    use TokenEndpointAuthMethod as M;
    if !matches!(
        reg.token_endpoint_auth_method,
        M::ClientSecretBasic | M::ClientSecretPost | M::ClientSecretJwt
    ) {
        return Err(AdminError::Invalid(vec![(
            "token_endpoint_auth_method".into(),
            format!(
                "{} has no secret to rotate",
                reg.token_endpoint_auth_method.as_str()
            ),
        )]));
    }
    reg.client_secret_hash = None;
    reg.client_secret_sealed = None;
    let (reg, secret) = with_secret(service, reg, None)?;
    write(service, &reg).await?;
    audit(actor, "client.rotate_secret", client_id, "client_secret");
    secret.ok_or_else(|| AdminError::Unavailable("no secret was generated".into()))
}

/// Removes a stored client.
pub async fn delete_client(
    service: &Service,
    actor: &Actor,
    client_id: &str,
) -> Result<(), AdminError> {
    if service.is_config_client(client_id) {
        return Err(AdminError::ReadOnly(client_id.into()));
    }
    if !service.store().delete_client(client_id).await? {
        return Err(AdminError::NotFound(client_id.into()));
    }
    refresh(service).await;
    audit(actor, "client.delete", client_id, "");
    Ok(())
}

/// Why a host may not enrol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollError {
    /// `[enrollment]` is not configured (404).
    Disabled,
    /// The principal does not match the policy, or the host is not in a required host
    /// group, or the client_id belongs to a client the host did not enrol (403; the
    /// reason is logged).
    Forbidden(String),
    /// The store or the directory failed.
    Admin(AdminError),
}

/// A host's SSSD client after enrolment.
#[derive(Debug)]
pub struct Enrolled {
    /// `client_id_prefix` + the host's fqdn.
    pub client_id: String,
    /// The new secret (the previous one stops working).
    pub secret: ClientSecret,
    /// The client's scopes.
    pub scopes: Vec<String>,
}

/// Creates or rotates the client_secret_post client of the host `principal`
/// (authenticated by Negotiate), as `[enrollment]` allows.
pub async fn enroll(service: &Service, principal: &str) -> Result<Enrolled, EnrollError> {
    let Some(policy) = service.enrollment() else {
        return Err(EnrollError::Disabled);
    };
    if !policy.pattern.matches(principal) {
        return Err(EnrollError::Forbidden(format!(
            "{principal} does not match enrollment.principal_pattern"
        )));
    }
    let Some(fqdn) = crate::oauth::principal::host_of(principal) else {
        return Err(EnrollError::Forbidden(format!(
            "{principal} is not a host principal"
        )));
    };
    if !policy.require_hostgroups.is_empty() {
        let Some(directory) = service.directory() else {
            return Err(EnrollError::Admin(AdminError::Unavailable(
                "no directory".into(),
            )));
        };
        let entry = directory
            .principal(principal)
            .await
            .map_err(|e| EnrollError::Admin(AdminError::Unavailable(e.to_string())))?;
        let allowed = entry.is_some_and(|e| {
            !e.locked
                && e.groups
                    .iter()
                    .any(|g| policy.require_hostgroups.contains(g))
        });
        if !allowed {
            return Err(EnrollError::Forbidden(format!(
                "{principal} is absent, locked, or in none of enrollment.require_hostgroups"
            )));
        }
    }
    let client_id = format!("{}{fqdn}", policy.client_id_prefix);
    let actor = Actor {
        name: principal.to_owned(),
        via: "negotiate",
    };
    let reg = ClientRegistration {
        client_id: client_id.clone(),
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretPost,
        scopes: policy.scopes.clone(),
        enrolled_principal: Some(principal.to_owned()),
        ..Default::default()
    };
    if service.is_config_client(&client_id) {
        return Err(EnrollError::Forbidden(format!(
            "{client_id} is declared in the config file"
        )));
    }
    let existing = service
        .store()
        .clients()
        .await
        .map_err(|e| EnrollError::Admin(e.into()))?
        .into_iter()
        .find(|r| r.client_id == client_id);
    let (reg, secret) = with_secret(service, reg, None).map_err(EnrollError::Admin)?;
    let secret =
        secret.ok_or_else(|| EnrollError::Admin(AdminError::Unavailable("no secret".into())))?;
    match existing {
        Some(old) if old.enrolled_principal.as_deref() != Some(principal) => {
            return Err(EnrollError::Forbidden(format!(
                "{client_id} exists and was not enrolled by {principal}"
            )));
        }
        Some(old) => {
            let reg = ClientRegistration {
                disabled: old.disabled,
                ..reg
            };
            write(service, &reg).await.map_err(EnrollError::Admin)?;
            audit(&actor, "client.reenroll", &client_id, "client_secret");
        }
        None => {
            service
                .store()
                .insert_client(&reg, clock::now_unix())
                .await
                .map_err(|e| EnrollError::Admin(e.into()))?;
            refresh(service).await;
            audit(&actor, "client.enroll", &client_id, &summary(&reg));
        }
    }
    Ok(Enrolled {
        client_id,
        secret,
        scopes: policy.scopes.clone(),
    })
}

/// Signing keys with their schedule, as JSON.
pub async fn list_keys(service: &Service) -> Result<Vec<Value>, AdminError> {
    let now = clock::now_unix();
    Ok(service
        .store()
        .signing_keys()
        .await?
        .into_iter()
        .map(|r| {
            let times = crate::token::rotation::KeyTimes {
                algorithm: r.algorithm,
                activates_at: r.activates_at,
                retires_at: r.retires_at,
                removed_at: r.removed_at,
            };
            json!({
                "kid": r.kid,
                "alg": r.algorithm.as_str(),
                "state": times.state_at(now),
                "signs_from": r.activates_at,
                "signs_until": r.retires_at,
                "published_until": r.removed_at,
            })
        })
        .collect())
}

/// Schedules a new signing key (at once with `immediate`); returns its kid.
pub async fn rotate_keys(
    service: &Service,
    actor: &Actor,
    immediate: bool,
) -> Result<String, AdminError> {
    let kid = service::rotate_keys(
        service.store().as_ref(),
        service.master_key(),
        service.algorithm(),
        clock::now_unix(),
        immediate,
        service.rotation_lead_secs(),
        service::ROTATION_RETENTION_SECS,
    )
    .await
    .map_err(|e| AdminError::Unavailable(e.to_string()))?;
    refresh(service).await;
    audit(
        actor,
        "keys.rotate",
        "",
        if immediate { "kid, now" } else { "kid" },
    );
    log::info!(target: "ahdapa::audit", kid = kid.as_str(); "new signing key");
    Ok(kid)
}

/// Stops a key from signing now (see [`service::retire_key`]); returns when it leaves
/// `/jwks`.
pub async fn retire_key(
    service: &Service,
    actor: &Actor,
    kid: &str,
    remove_now: bool,
) -> Result<u64, AdminError> {
    use service::RetireError;
    let removed = service::retire_key(
        service.store().as_ref(),
        service.algorithm(),
        kid,
        clock::now_unix(),
        remove_now,
    )
    .await
    .map_err(|e| match e {
        RetireError::NotFound => AdminError::NotFound(kid.to_owned()),
        RetireError::LastSigner => AdminError::Invalid(vec![(
            "kid".into(),
            "no other key can sign now: rotate with ?now=true first".into(),
        )]),
        RetireError::Store(m) => AdminError::Unavailable(m),
    })?;
    refresh(service).await;
    audit(
        actor,
        "keys.retire",
        "",
        if remove_now {
            "kid, removed now"
        } else {
            "kid"
        },
    );
    Ok(removed)
}

/// Writes one audit event: the actor, the action, the client and which fields changed.
pub fn audit(actor: &Actor, action: &str, client_id: &str, changed: &str) {
    log::info!(
        target: "ahdapa::audit",
        audit = action,
        admin = actor.name.as_str(),
        via = actor.via,
        client_id = client_id,
        changed = changed;
        "{} {action} {client_id}{}{changed}",
        actor.name,
        if changed.is_empty() { "" } else { ": " }
    );
}

async fn stored(service: &Service, client_id: &str) -> Result<ClientRegistration, AdminError> {
    if service.is_config_client(client_id) {
        return Err(AdminError::ReadOnly(client_id.into()));
    }
    service
        .store()
        .clients()
        .await?
        .into_iter()
        .find(|r| r.client_id == client_id)
        .ok_or_else(|| AdminError::NotFound(client_id.into()))
}

async fn write(service: &Service, reg: &ClientRegistration) -> Result<(), AdminError> {
    if !service
        .store()
        .update_client(reg, clock::now_unix())
        .await?
    {
        return Err(AdminError::NotFound(reg.client_id.clone()));
    }
    refresh(service).await;
    Ok(())
}

/// Reloads the registry now, so the next request on this node sees the change.
async fn refresh(service: &Service) {
    if let Err(e) = service.refresh().await {
        log::warn!("reload after an admin change failed (the refresher retries): {e}");
    }
}

/// Completes the secret fields of `reg` (keeping `old`'s when the method is the same and
/// none was given) and validates the result.
fn with_secret(
    service: &Service,
    mut reg: ClientRegistration,
    old: Option<&ClientRegistration>,
) -> Result<(ClientRegistration, Option<ClientSecret>), AdminError> {
    use TokenEndpointAuthMethod as M;
    let method = reg.token_endpoint_auth_method;
    let same_method = old.is_some_and(|o| o.token_endpoint_auth_method == method);
    let mut secret = None;
    // HS256 token signing needs the secret itself: sealed, never only hashed. A client
    // whose secret is a hash gets a new one (the old cannot be given back); one whose
    // sealed secret is no longer needed whole keeps it, hashed.
    let whole = reg.token_signing.is_some() || method == M::ClientSecretJwt;
    if whole && reg.client_secret_hash.is_some() {
        return Err(AdminError::Invalid(vec![(
            "client_secret_hash".into(),
            "token_signing = \"HS256\" signs with the secret itself, which a hash cannot give back: leave client_secret_hash out (a new secret is issued and sealed)".into(),
        )]));
    }
    match method {
        M::ClientSecretBasic | M::ClientSecretPost
            if !whole && reg.client_secret_hash.is_none() =>
        {
            let kept_sealed = old
                .filter(|_| same_method)
                .and_then(|o| o.client_secret_sealed.as_deref())
                .and_then(|sealed| {
                    service::unseal_client_secret(service.master_key(), &reg.client_id, sealed).ok()
                })
                .and_then(|h| String::from_utf8(h.expose().to_vec()).ok());
            match (old.and_then(|o| o.client_secret_hash.clone()), kept_sealed) {
                (Some(h), _) if same_method => reg.client_secret_hash = Some(h),
                (_, Some(text)) => {
                    reg.client_secret_hash =
                        Some(SecretHash::of(&ClientSecret::new(text)).to_stored());
                    reg.client_secret_sealed = None;
                }
                _ => {
                    let s = new_secret()?;
                    reg.client_secret_hash = Some(SecretHash::of(&s).to_stored());
                    secret = Some(s);
                }
            }
        }
        M::ClientSecretBasic | M::ClientSecretPost | M::ClientSecretJwt
            if whole && reg.client_secret_sealed.is_none() =>
        {
            match old.and_then(|o| o.client_secret_sealed.clone()) {
                Some(sealed) if same_method => reg.client_secret_sealed = Some(sealed),
                _ => {
                    let s = new_secret()?;
                    reg.client_secret_sealed = Some(
                        service::seal_client_secret(service.master_key(), &reg.client_id, &s)
                            .map_err(|e| AdminError::Unavailable(e.to_string()))?,
                    );
                    secret = Some(s);
                }
            }
        }
        _ => {}
    }
    let hmac = match reg.client_secret_sealed.as_deref() {
        None => None,
        Some(sealed) => {
            let opened =
                service::unseal_client_secret(service.master_key(), &reg.client_id, sealed)
                    .map_err(|e| {
                        AdminError::Invalid(vec![("client_secret_sealed".into(), e.to_string())])
                    })?;
            Some(opened)
        }
    };
    validate(&reg, hmac)?;
    Ok((reg, secret))
}

fn validate(reg: &ClientRegistration, hmac: Option<HmacSecret>) -> Result<(), AdminError> {
    Client::from_registration(reg, ClientSource::Store, hmac)
        .map(|_| ())
        .map_err(|problems| {
            AdminError::Invalid(
                problems
                    .into_iter()
                    .map(|p| (p.field.to_owned(), p.message))
                    .collect(),
            )
        })
}

fn new_secret() -> Result<ClientSecret, AdminError> {
    ClientSecret::generate(&SystemRandom::new())
        .map_err(|_| AdminError::Unavailable("random source failed".into()))
}

/// The fields a new registration sets, for the audit log.
fn summary(reg: &ClientRegistration) -> String {
    changes(&ClientRegistration::default(), reg)
}

/// The names of the fields that differ (values are not logged: some are secrets).
fn changes(old: &ClientRegistration, new: &ClientRegistration) -> String {
    let (Value::Object(a), Value::Object(b)) = (
        serde_json::to_value(old).unwrap_or(Value::Null),
        serde_json::to_value(new).unwrap_or(Value::Null),
    ) else {
        return String::new();
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_fields_not_values() {
        let old = ClientRegistration {
            client_id: "a".into(),
            client_secret_hash: Some("sha256:old".into()),
            scopes: vec!["s".into()],
            ..Default::default()
        };
        let new = ClientRegistration {
            client_secret_hash: Some("sha256:new".into()),
            scopes: vec!["s".into(), "t".into()],
            ..old.clone()
        };
        assert_eq!(changes(&old, &new), "client_secret_hash,scopes");
    }

    #[test]
    fn views_hide_secrets() {
        let reg = ClientRegistration {
            client_id: "a".into(),
            client_secret_hash: Some("sha256:x".into()),
            registration_access_token_hash: Some("sha256:y".into()),
            ..Default::default()
        };
        let v = view(&reg);
        assert!(v.get("client_secret_hash").is_none());
        assert!(v.get("registration_access_token_hash").is_none());
        assert_eq!(v["client_secret"], "(set)");
    }
}
