//! Dynamic client registration: RFC 7591 (`POST /register`) and RFC 7592 (`GET`, `PUT`,
//! `DELETE /register/{client_id}` with the registration access token).
//!
//! Only what ahdapa serves can be registered: the client_credentials grant (no
//! `redirect_uris`, no `response_types`) and the authorization_code grant (with
//! `redirect_uris`: https, or http on loopback, no fragment, no `regex:` patterns;
//! `response_types` `["code"]` if given; public clients with `none`; consent always
//! required), the secret, assertion and mTLS methods, scopes from
//! `registration.allowed_scopes`. Kerberos identities (`kerberos_principal`,
//! `kerberos_principal_pattern`) and other privileges (`directory`,
//! `introspection_all_tokens`) come only from admins and are refused with
//! `invalid_client_metadata`; metadata ahdapa does not know is ignored (RFC 7591 §2).
//! The registration access token is 256 random bits; only its SHA-256 is stored.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::{Actor, AdminError, Written};
use crate::oauth::client::{ClientRegistration, TokenEndpointAuthMethod};
use crate::oauth::grant::GrantType;
use crate::oauth::secret::{ClientSecret, SecretHash};
use crate::service::Service;

/// A refusal, in RFC 7591 §3.2.2 / RFC 7592 words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationError {
    /// 400 `invalid_client_metadata`.
    InvalidMetadata(String),
    /// 401 `invalid_token`: a missing or wrong initial or registration access token.
    InvalidToken(&'static str),
    /// 404: registration is off.
    Disabled,
    /// Store failures and the like.
    Admin(AdminError),
}

impl From<AdminError> for RegistrationError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(problems) => Self::InvalidMetadata(
                problems
                    .iter()
                    .map(|(f, m)| format!("{f}: {m}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            other => Self::Admin(other),
        }
    }
}

/// Fields only admins may set.
const PRIVILEGED: [&str; 7] = [
    "kerberos_principal",
    "jwks_uri_trusted",
    "kerberos_principal_pattern",
    "directory",
    "introspection_all_tokens",
    "client_id",
    "scopes",
];

/// Metadata ahdapa takes from a registration request (others are ignored).
const KNOWN: [&str; 17] = [
    "token_endpoint_auth_method",
    "grant_types",
    "response_types",
    "redirect_uris",
    "scope",
    "client_name",
    "jwks",
    "jwks_uri",
    "tls_client_auth_subject_dn",
    "tls_client_auth_san_dns",
    "tls_client_auth_san_uri",
    "tls_client_auth_san_ip",
    "tls_client_auth_san_email",
    "tls_client_certificate_bound_access_tokens",
    "dpop_bound_access_tokens",
    "post_logout_redirect_uris",
    "id_token_signed_response_alg",
];

/// `POST /register`.
pub async fn register(
    service: &Service,
    initial_token: Option<&str>,
    metadata: &Value,
) -> Result<Value, RegistrationError> {
    let Some(settings) = service.registration() else {
        return Err(RegistrationError::Disabled);
    };
    if let Some(expected) = &settings.initial_access_token_hash {
        let ok = initial_token
            .and_then(|t| {
                SecretHash::parse(expected).map(|h| h.verify(&ClientSecret::new(t.into())))
            })
            .unwrap_or(false);
        if !ok {
            return Err(RegistrationError::InvalidToken(
                "an initial access token is required",
            ));
        }
    }
    let rng = SystemRandom::new();
    let client_id = format!("dcr-{}", random(&rng, 12)?);
    let mut reg = to_registration(metadata, &client_id, &settings.allowed_scopes)?;
    let rat = random(&rng, 32)?;
    reg.registration_access_token_hash =
        Some(SecretHash::of(&ClientSecret::new(rat.clone())).to_stored());
    let actor = Actor {
        name: client_id.clone(),
        via: "registration",
    };
    let written = super::create_client(service, &actor, reg).await?;
    let mut answer = to_metadata(&written, service);
    if let Value::Object(m) = &mut answer {
        m.insert("registration_access_token".into(), rat.into());
        m.insert(
            "client_id_issued_at".into(),
            crate::clock::now_unix().into(),
        );
    }
    Ok(answer)
}

/// `GET /register/{client_id}` (RFC 7592 §2.1).
pub async fn read(
    service: &Service,
    client_id: &str,
    token: Option<&str>,
) -> Result<Value, RegistrationError> {
    let reg = authorized(service, client_id, token).await?;
    Ok(to_metadata(
        &Written {
            registration: reg,
            secret: None,
        },
        service,
    ))
}

/// `PUT /register/{client_id}` (RFC 7592 §2.2): the metadata replaces the registration.
pub async fn update(
    service: &Service,
    client_id: &str,
    token: Option<&str>,
    metadata: &Value,
) -> Result<Value, RegistrationError> {
    let old = authorized(service, client_id, token).await?;
    let Some(settings) = service.registration() else {
        return Err(RegistrationError::Disabled);
    };
    if let Some(id) = metadata.get("client_id").and_then(Value::as_str)
        && id != client_id
    {
        return Err(RegistrationError::InvalidMetadata(
            "client_id does not match the registration".into(),
        ));
    }
    let mut body = metadata.clone();
    if let Value::Object(m) = &mut body {
        // RFC 7592 §2.2: the client sends its client_id (and may send its secret).
        m.remove("client_id");
        m.remove("client_secret");
        m.remove("registration_access_token");
        m.remove("registration_client_uri");
        m.remove("client_id_issued_at");
        m.remove("client_secret_expires_at");
    }
    let mut reg = to_registration(&body, client_id, &settings.allowed_scopes)?;
    reg.registration_access_token_hash = old.registration_access_token_hash.clone();
    // What only an administrator sets stays as the administrator set it.
    reg.token_signing = old.token_signing;
    reg.encryption_key.clone_from(&old.encryption_key);
    reg.encryption_alg.clone_from(&old.encryption_alg);
    reg.encryption_enc.clone_from(&old.encryption_enc);
    let actor = Actor {
        name: client_id.to_owned(),
        via: "registration",
    };
    let written = super::replace_client(service, &actor, reg).await?;
    Ok(to_metadata(&written, service))
}

/// `DELETE /register/{client_id}` (RFC 7592 §2.3).
pub async fn delete(
    service: &Service,
    client_id: &str,
    token: Option<&str>,
) -> Result<(), RegistrationError> {
    authorized(service, client_id, token).await?;
    let actor = Actor {
        name: client_id.to_owned(),
        via: "registration",
    };
    super::delete_client(service, &actor, client_id).await?;
    Ok(())
}

/// The stored registration, when `token` is its registration access token. Unknown
/// clients, clients without one (registered by admins) and wrong tokens all answer the
/// same 401, so the endpoint does not tell which client_ids exist.
async fn authorized(
    service: &Service,
    client_id: &str,
    token: Option<&str>,
) -> Result<ClientRegistration, RegistrationError> {
    if service.registration().is_none() {
        return Err(RegistrationError::Disabled);
    }
    let refused = RegistrationError::InvalidToken("invalid registration access token");
    let Some(token) = token else {
        return Err(refused);
    };
    let reg = service
        .store()
        .clients()
        .await
        .map_err(|e| RegistrationError::Admin(e.into()))?
        .into_iter()
        .find(|r| r.client_id == client_id)
        .ok_or(refused.clone())?;
    let ok = reg
        .registration_access_token_hash
        .as_deref()
        .and_then(SecretHash::parse)
        .is_some_and(|h| h.verify(&ClientSecret::new(token.into())));
    if ok { Ok(reg) } else { Err(refused) }
}

/// RFC 7591 metadata into a registration (public for the fuzz target `dcr_json`).
pub fn to_registration(
    metadata: &Value,
    client_id: &str,
    allowed_scopes: &[String],
) -> Result<ClientRegistration, RegistrationError> {
    let Value::Object(m) = metadata else {
        return Err(RegistrationError::InvalidMetadata(
            "the body must be a JSON object".into(),
        ));
    };
    for field in PRIVILEGED {
        if m.contains_key(field) {
            return Err(RegistrationError::InvalidMetadata(format!(
                "{field} cannot be registered dynamically; ask an admin"
            )));
        }
    }
    if m.get("jwks").is_some() && m.get("jwks_uri").is_some() {
        return Err(RegistrationError::InvalidMetadata(
            "jwks and jwks_uri must not both be given (RFC 7591 §2)".into(),
        ));
    }
    let grant_types = grant_types(m.get("grant_types"))?;
    let code_grant = grant_types
        .as_ref()
        .is_some_and(|g| g.contains(&GrantType::AuthorizationCode));
    let only_code_grant = grant_types
        .as_ref()
        .is_some_and(|g| g.as_slice() == [GrantType::AuthorizationCode]);
    let response_types = m.get("response_types");
    if !code_grant && response_types.is_some_and(|r| r.as_array().is_none_or(|a| !a.is_empty())) {
        return Err(RegistrationError::InvalidMetadata(
            "response_types: client_credentials clients have none".into(),
        ));
    }
    if code_grant && response_types.is_some_and(|r| *r != json!(["code"])) {
        return Err(RegistrationError::InvalidMetadata(
            "response_types: only [\"code\"] is served (no implicit or hybrid flow)".into(),
        ));
    }
    let redirect_uris = m.get("redirect_uris");
    if !code_grant && redirect_uris.is_some_and(|r| r.as_array().is_none_or(|a| !a.is_empty())) {
        return Err(RegistrationError::InvalidMetadata(
            "redirect_uris: only with grant_types authorization_code".into(),
        ));
    }
    if code_grant {
        let uris = redirect_uris
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                RegistrationError::InvalidMetadata(
                    "redirect_uris: required with grant_types authorization_code".into(),
                )
            })?;
        for u in uris {
            let u = u.as_str().ok_or_else(|| {
                RegistrationError::InvalidMetadata("redirect_uris: must be strings".into())
            })?;
            crate::oauth::redirect_uri::RedirectUri::parse(u, false)
                .map_err(|e| RegistrationError::InvalidMetadata(format!("redirect_uris: {e}")))?;
        }
    }
    let method = m
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        .unwrap_or("client_secret_basic");
    let method: TokenEndpointAuthMethod = serde_json::from_value(json!(method)).map_err(|_| {
        RegistrationError::InvalidMetadata(format!(
            "token_endpoint_auth_method {method:?} is not supported"
        ))
    })?;
    let public_code_client = method == TokenEndpointAuthMethod::None && only_code_grant;
    if method == TokenEndpointAuthMethod::KerberosClientAuth
        || method == TokenEndpointAuthMethod::FederatedJwt
        || (method == TokenEndpointAuthMethod::None && !public_code_client)
    {
        return Err(RegistrationError::InvalidMetadata(format!(
            "token_endpoint_auth_method {} does not fit this registration (none is for public sign-in clients: grant_types [\"authorization_code\"])",
            method.as_str()
        )));
    }
    let scopes: Vec<String> = match m.get("scope") {
        None => allowed_scopes.to_vec(),
        Some(Value::String(s)) => s
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(_) => {
            return Err(RegistrationError::InvalidMetadata(
                "scope must be a space-separated string".into(),
            ));
        }
    };
    if let Some(s) = scopes.iter().find(|s| !allowed_scopes.contains(s)) {
        return Err(RegistrationError::InvalidMetadata(format!(
            "scope {s:?} is not open to dynamic registration"
        )));
    }
    let mut known = Map::new();
    for k in KNOWN.iter().skip(5) {
        if let Some(v) = m.get(*k) {
            known.insert((*k).to_owned(), v.clone());
        }
    }
    if code_grant && let Some(uris) = redirect_uris {
        known.insert("redirect_uris".into(), uris.clone());
    }
    if code_grant && response_types.is_some() {
        known.insert("response_types".into(), json!(["code"]));
    }
    known.insert("client_id".into(), client_id.into());
    known.insert("token_endpoint_auth_method".into(), json!(method.as_str()));
    known.insert("scopes".into(), json!(scopes));
    let mut reg: ClientRegistration = serde_json::from_value(Value::Object(known))
        .map_err(|e| RegistrationError::InvalidMetadata(e.to_string()))?;
    reg.grant_types = grant_types;
    if code_grant {
        // Clients nobody vetted ask people before their first sign-in.
        reg.require_consent = Some(true);
    }
    Ok(reg)
}

/// RFC 7591 §2 `grant_types`: each one a grant ahdapa serves; absent is the default.
fn grant_types(value: Option<&Value>) -> Result<Option<Vec<GrantType>>, RegistrationError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let refused = |m: String| RegistrationError::InvalidMetadata(format!("grant_types: {m}"));
    let names = value
        .as_array()
        .ok_or_else(|| refused("must be an array of strings".into()))?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let name = name
            .as_str()
            .ok_or_else(|| refused("must be an array of strings".into()))?;
        let grant = GrantType::from_name(name).ok_or_else(|| {
            refused(format!(
                "{name:?} is not supported (supported: {})",
                GrantType::supported_names().join(", ")
            ))
        })?;
        if !out.contains(&grant) {
            out.push(grant);
        }
    }
    if out.is_empty() {
        return Err(refused("must name at least one grant".into()));
    }
    Ok(Some(out))
}

/// A registration as RFC 7591 §3.2.1 metadata.
fn to_metadata(w: &Written, service: &Service) -> Value {
    let r = &w.registration;
    let mut m = Map::new();
    m.insert("client_id".into(), r.client_id.clone().into());
    if let Some(s) = &w.secret {
        m.insert("client_secret".into(), s.expose().into());
        m.insert("client_secret_expires_at".into(), 0.into());
    }
    m.insert(
        "registration_client_uri".into(),
        format!("{}/register/{}", service.issuer(), r.client_id).into(),
    );
    m.insert(
        "token_endpoint_auth_method".into(),
        r.token_endpoint_auth_method.as_str().into(),
    );
    let grants: Vec<&str> = r
        .grant_types
        .as_deref()
        .unwrap_or(&GrantType::DEFAULT)
        .iter()
        .map(|g| g.as_str())
        .collect();
    m.insert("grant_types".into(), json!(grants));
    if !r.redirect_uris.is_empty() {
        m.insert("redirect_uris".into(), json!(r.redirect_uris));
        m.insert("response_types".into(), json!(["code"]));
    }
    m.insert("scope".into(), r.scopes.join(" ").into());
    if let Value::Object(view) = serde_json::to_value(r).unwrap_or(Value::Null) {
        for k in KNOWN.iter().skip(5) {
            if let Some(v) = view.get(*k) {
                m.insert((*k).to_owned(), v.clone());
            }
        }
    }
    Value::Object(m)
}

fn random(rng: &SystemRandom, bytes: usize) -> Result<String, RegistrationError> {
    let mut buf = vec![0u8; bytes];
    rng.fill(&mut buf).map_err(|_| {
        RegistrationError::Admin(AdminError::Unavailable("random source failed".into()))
    })?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec!["read".into(), "write".into()]
    }

    #[test]
    fn kerberos_fields_and_both_key_sources_are_refused() {
        for body in [
            json!({"kerberos_principal": "host/a@R"}),
            json!({"kerberos_principal_pattern": "host/*@R"}),
            json!({"directory": {}}),
            json!({"jwks": {"keys": []}, "jwks_uri": "https://x/jwks"}),
            json!({"grant_types": ["authorization_code"]}),
            json!({"grant_types": ["authorization_code"], "redirect_uris": ["http://x/cb"]}),
            json!({"grant_types": ["authorization_code"], "redirect_uris": ["regex:.*"]}),
            json!({"grant_types": ["authorization_code"], "redirect_uris": ["https://x/cb#f"]}),
            json!({"grant_types": ["authorization_code"], "redirect_uris": ["javascript:x"]}),
            json!({"grant_types": ["authorization_code"], "redirect_uris": ["https://x/cb"],
                   "response_types": ["code", "token"]}),
            json!({"redirect_uris": ["https://x/cb"]}),
            json!({"token_endpoint_auth_method": "none"}),
            json!({"token_endpoint_auth_method": "kerberos_client_auth"}),
            json!({"scope": "admin"}),
        ] {
            assert!(
                matches!(
                    to_registration(&body, "dcr-x", &allowed()),
                    Err(RegistrationError::InvalidMetadata(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn unknown_metadata_is_ignored_and_defaults_apply() {
        let reg = to_registration(
            &json!({"client_name": "ci", "logo_uri": "https://x/logo.png", "scope": "read"}),
            "dcr-x",
            &allowed(),
        )
        .unwrap();
        assert_eq!(
            reg.token_endpoint_auth_method,
            TokenEndpointAuthMethod::ClientSecretBasic
        );
        assert_eq!(reg.scopes, ["read"]);
        assert_eq!(reg.client_name.as_deref(), Some("ci"));
    }
}
