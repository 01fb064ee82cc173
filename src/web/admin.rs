//! `/api/admin/...` (client and key management) and `/api/enroll` (host self-enrolment):
//! authenticate the caller, parse the request, call [`crate::admin`], render JSON.
//!
//! | request | effect |
//! |---|---|
//! | `GET /api/admin/clients` | every client (config file and store), no secrets |
//! | `POST /api/admin/clients` | register (JSON registration); a new secret is in the answer once |
//! | `GET /api/admin/clients/{id}` | one stored client |
//! | `PUT /api/admin/clients/{id}` | replace its registration (the secret is kept) |
//! | `DELETE /api/admin/clients/{id}` | remove it |
//! | `POST /api/admin/clients/{id}/disable` or `/enable` | refuse it everywhere, or not |
//! | `POST /api/admin/clients/{id}/rotate-secret` | a new secret, the old one stops working |
//! | `GET /api/admin/clients/{id}/service-accounts` | its service accounts (no passwords) |
//! | `POST /api/admin/clients/{id}/service-accounts` | `{name, expires_in_days}`: create; the app password is in the answer once |
//! | `POST /api/admin/clients/{id}/service-accounts/{name}/rotate` | `{expires_in_days, keep_old_secs}`: a new app password |
//! | `DELETE /api/admin/clients/{id}/service-accounts/{name}` | remove it |
//! | `GET /api/admin/keys` | signing keys and their schedule |
//! | `POST /api/admin/keys/rotate[?now=true]` | schedule a new signing key |
//! | `POST /api/admin/keys/{kid}/retire[?remove_now=true]` | stop a key from signing |
//! | `POST /api/enroll` | a host (Negotiate) gets or rotates its own SSSD client |
//!
//! Admins authenticate with Negotiate (a principal in `admin.principals`, or in one of
//! `admin.groups` in the directory: 403 otherwise) or with an access token carrying the
//! `ahdapa.admin` scope (through the shared resource-server verifier; DPoP-bound when
//! `admin.require_dpop`).

use http::header::AUTHORIZATION;
use http::{Method, Request, StatusCode};
use hyper::body::Body;
use serde_json::{Value, json};

use super::Response;
use super::error::{Challenge, challenge, json, json_error};
use super::extract::{self, certificate_of, read_body};
use crate::admin::{self, Actor, AdminError};
use crate::oauth::OAuthError;
use crate::oauth::client::ClientRegistration;
use crate::oauth::client_auth::kerberos_client_auth::NegotiateToken;
use crate::service::Service;

/// The scope an admin token needs.
pub const ADMIN_SCOPE: &str = "ahdapa.admin";

/// Dispatches `/api/admin/...`.
pub async fn route<B>(service: &Service, req: Request<B>) -> Response
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let actor = match admin_actor(service, &parts).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let path = parts
        .uri
        .path()
        .strip_prefix("/api/admin/")
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned();
    let segments: Vec<String> = path
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = parts.method.clone();
    let result: Result<(StatusCode, Value), AdminError> = match (&method, segs.as_slice()) {
        (&Method::GET, ["clients"]) => admin::list_clients(service)
            .await
            .map(|l| (StatusCode::OK, Value::Array(l))),
        (&Method::POST, ["clients"]) => {
            let reg = match registration(service, &parts.headers, body, None).await {
                Ok(r) => r,
                Err(resp) => return resp,
            };
            admin::create_client(service, &actor, reg)
                .await
                .map(|w| (StatusCode::CREATED, written(&w)))
        }
        (&Method::GET, ["clients", id]) => admin::show_client(service, id)
            .await
            .map(|v| (StatusCode::OK, v)),
        (&Method::PUT, ["clients", id]) => {
            let reg = match registration(service, &parts.headers, body, Some(id)).await {
                Ok(r) => r,
                Err(resp) => return resp,
            };
            admin::replace_client(service, &actor, reg)
                .await
                .map(|w| (StatusCode::OK, written(&w)))
        }
        (&Method::DELETE, ["clients", id]) => admin::delete_client(service, &actor, id)
            .await
            .map(|()| (StatusCode::OK, json!({"deleted": id}))),
        (&Method::POST, ["clients", id, action @ ("disable" | "enable")]) => {
            admin::set_disabled(service, &actor, id, *action == "disable")
                .await
                .map(|()| {
                    (
                        StatusCode::OK,
                        json!({"client_id": id, "disabled": *action == "disable"}),
                    )
                })
        }
        (&Method::POST, ["clients", id, "rotate-secret"]) => {
            admin::rotate_secret(service, &actor, id).await.map(|s| {
                (
                    StatusCode::OK,
                    json!({"client_id": id, "client_secret": s.expose()}),
                )
            })
        }
        (&Method::GET, ["clients", id, "service-accounts"]) => {
            service.list_service_accounts(id).await.map(|l| {
                (
                    StatusCode::OK,
                    Value::Array(
                        l.iter()
                            .map(crate::service::service_accounts::view)
                            .collect(),
                    ),
                )
            })
        }
        (&Method::POST, ["clients", id, "service-accounts"]) => {
            let v = match json_body(service, &parts.headers, body).await {
                Ok(v) => v,
                Err(resp) => return resp,
            };
            let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
            let lifetime = lifetime_of(&v);
            service
                .create_service_account(&actor, id, name, lifetime)
                .await
                .map(|(a, p)| (StatusCode::CREATED, with_password(&a, &p)))
        }
        (&Method::POST, ["clients", id, "service-accounts", name, "rotate"]) => {
            let v = match json_body(service, &parts.headers, body).await {
                Ok(v) => v,
                Err(resp) => return resp,
            };
            let lifetime = lifetime_of(&v);
            let keep = v.get("keep_old_secs").and_then(Value::as_u64).unwrap_or(0);
            service
                .rotate_service_account(&actor, id, name, lifetime, keep)
                .await
                .map(|(a, p)| (StatusCode::OK, with_password(&a, &p)))
        }
        (&Method::DELETE, ["clients", id, "service-accounts", name]) => service
            .delete_service_account(&actor, id, name)
            .await
            .map(|()| (StatusCode::OK, json!({"deleted": name}))),
        (&Method::GET, ["keys"]) => admin::list_keys(service)
            .await
            .map(|l| (StatusCode::OK, Value::Array(l))),
        (&Method::POST, ["keys", "rotate"]) => {
            let now = parts
                .uri
                .query()
                .is_some_and(|q| q.split('&').any(|p| p == "now=true"));
            admin::rotate_keys(service, &actor, now)
                .await
                .map(|kid| (StatusCode::OK, json!({"kid": kid, "immediate": now})))
        }
        (&Method::POST, ["keys", kid, "retire"]) => {
            let now = parts
                .uri
                .query()
                .is_some_and(|q| q.split('&').any(|p| p == "remove_now=true"));
            admin::retire_key(service, &actor, kid, now)
                .await
                .map(|removed| {
                    (
                        StatusCode::OK,
                        json!({"kid": kid, "published_until": removed}),
                    )
                })
        }
        (_, ["clients"] | ["clients", _] | ["keys"]) => {
            return json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                Some("see the admin API table in the README"),
            );
        }
        _ => return super::error::not_found(),
    };
    match result {
        Ok((status, body)) => json(status, serde_json::to_vec(&body).unwrap_or_default(), true),
        Err(e) => super::error::admin(&e),
    }
}

/// `POST /api/enroll`: a host authenticated by Negotiate gets (or rotates) its own
/// client_secret_post client for SSSD.
pub async fn enroll<B>(service: &Service, req: Request<B>) -> Response {
    let (parts, _body) = req.into_parts();
    let Some(token) = extract::negotiate(&parts) else {
        return negotiate_challenge(
            "missing_token",
            "authenticate with Negotiate (the host keytab)",
        );
    };
    let principal = match accept_negotiate(service, token).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    match admin::enroll(service, &principal).await {
        Ok(e) => json(
            StatusCode::OK,
            serde_json::to_vec(&json!({
                "client_id": e.client_id,
                "client_secret": e.secret.expose(),
                "token_endpoint": format!("{}/token", service.issuer()),
                "identity_endpoint": format!("{}/api/identity", service.issuer()),
                "scope": e.scopes.join(" "),
                "token_endpoint_auth_method": "client_secret_post",
            }))
            .unwrap_or_default(),
            true,
        ),
        Err(admin::EnrollError::Forbidden(why)) => {
            log::warn!(principal = principal.as_str(), reason = why.as_str(); "enrolment refused");
            json_error(
                StatusCode::FORBIDDEN,
                "forbidden",
                Some("this host may not enrol"),
            )
        }
        Err(admin::EnrollError::Disabled) => json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            Some("enrolment is not enabled ([enrollment])"),
        ),
        Err(admin::EnrollError::Admin(e)) => super::error::admin(&e),
    }
}

/// `/register` and `/register/{client_id}` (RFC 7591, RFC 7592).
pub async fn register<B>(service: &Service, req: Request<B>) -> Response
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use crate::admin::registration::{self as dcr, RegistrationError};
    let (parts, body) = req.into_parts();
    let bearer = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned());
    let id = parts.uri.path().strip_prefix("/register/").map(|s| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    });
    let method = parts.method.clone();
    let json_body = |bytes: bytes::Bytes| -> Result<Value, String> {
        serde_json::from_slice(&bytes).map_err(|e| format!("the body is not JSON: {e}"))
    };
    let not_json =
        |m: String| json_error(StatusCode::BAD_REQUEST, "invalid_client_metadata", Some(&m));
    let limit = service.limits().max_body_bytes * 4;
    let result = match (&method, id.as_deref()) {
        (&Method::POST, None) => {
            let value = match read_body(&parts.headers, body, limit, "application/json").await {
                Ok(b) => match json_body(b) {
                    Ok(v) => v,
                    Err(m) => return not_json(m),
                },
                Err(r) => return r,
            };
            // Counted once the body is read: answering before it would reset the
            // connection under a client still sending.
            let address = super::extract::client_address(service, &parts);
            if let Err(crate::oauth::throttle::RetryAfter(secs)) =
                service.throttles().registrations_per_address.take(
                    &crate::oauth::throttle::Key::address(address),
                    crate::clock::monotonic_ms(),
                )
            {
                service.metrics().rate_limited("registrations_per_address");
                log::warn!(outcome = "throttled", address = address.to_string().as_str(), retry_after = secs; "too many registrations from one address");
                return super::error::too_many_requests(
                    secs,
                    "too many registrations from this address; retry later",
                );
            }
            dcr::register(service, bearer.as_deref(), &value)
                .await
                .map(|v| (StatusCode::CREATED, Some(v)))
        }
        (&Method::GET, Some(id)) => dcr::read(service, id, bearer.as_deref())
            .await
            .map(|v| (StatusCode::OK, Some(v))),
        (&Method::PUT, Some(id)) => {
            let value = match read_body(&parts.headers, body, limit, "application/json").await {
                Ok(b) => match json_body(b) {
                    Ok(v) => v,
                    Err(m) => return not_json(m),
                },
                Err(r) => return r,
            };
            dcr::update(service, id, bearer.as_deref(), &value)
                .await
                .map(|v| (StatusCode::OK, Some(v)))
        }
        (&Method::DELETE, Some(id)) => dcr::delete(service, id, bearer.as_deref())
            .await
            .map(|()| (StatusCode::NO_CONTENT, None)),
        (_, None) => return super::error::method_not_allowed("POST"),
        (_, Some(_)) => return super::error::method_not_allowed("GET, PUT, DELETE"),
    };
    match result {
        Ok((status, Some(body))) => {
            json(status, serde_json::to_vec(&body).unwrap_or_default(), true)
        }
        Ok((status, None)) => {
            let mut resp = json(status, Vec::new(), true);
            resp.headers_mut().remove(http::header::CONTENT_TYPE);
            resp
        }
        Err(RegistrationError::InvalidMetadata(m)) => {
            json_error(StatusCode::BAD_REQUEST, "invalid_client_metadata", Some(&m))
        }
        Err(RegistrationError::InvalidToken(m)) => {
            let mut resp = json_error(StatusCode::UNAUTHORIZED, "invalid_token", Some(m));
            let error = Some("invalid_token");
            challenge(&mut resp, Challenge::Bearer { realm: None, error });
            resp
        }
        Err(RegistrationError::Disabled) => json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            Some("dynamic registration is off ([registration])"),
        ),
        Err(RegistrationError::Admin(e)) => super::error::admin(&e),
    }
}

/// Authenticates an admin: Negotiate or an `ahdapa.admin` token.
async fn admin_actor(service: &Service, parts: &http::request::Parts) -> Result<Actor, Response> {
    if let Some(token) = extract::negotiate(parts) {
        let principal = accept_negotiate(service, token).await?;
        return match service.is_admin_principal(&principal).await {
            Ok(true) => Ok(Actor {
                name: principal,
                via: "negotiate",
            }),
            Ok(false) => {
                log::warn!(principal = principal.as_str(); "admin API refused: not an admin");
                Err(json_error(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    Some(&format!("{principal} is not an admin")),
                ))
            }
            Err(e) => Err(json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                Some(e.description().unwrap_or("try again later")),
            )),
        };
    }
    let certificate = certificate_of(service, parts);
    let url = format!("{}{}", service.issuer(), parts.uri.path());
    match super::resource::authorize(service, parts, &url, ADMIN_SCOPE, certificate.as_deref())
        .await
    {
        Ok(ctx) => {
            if service.admin_config().require_dpop
                && ctx.claims.get("cnf").and_then(|c| c.get("jkt")).is_none()
            {
                return Err(super::resource::refusal(
                    &super::resource::ResourceError::InvalidToken(
                        "admin tokens must be DPoP-bound (admin.require_dpop)".into(),
                    ),
                    service.issuer(),
                ));
            }
            Ok(Actor {
                name: ctx.subject().to_owned(),
                via: "token",
            })
        }
        Err(e) => {
            let mut resp = super::resource::refusal(&e, service.issuer());
            if resp.status() == StatusCode::UNAUTHORIZED && service.negotiate_enabled() {
                challenge(&mut resp, Challenge::Negotiate);
            }
            Err(resp)
        }
    }
}

/// The principal a Negotiate token proves (single-use, as at `/token`), or the refusal.
async fn accept_negotiate(
    service: &Service,
    token: Result<NegotiateToken, OAuthError>,
) -> Result<String, Response> {
    let token = token.map_err(|e| negotiate_refusal(&e))?;
    match service.accept_negotiate(token.bytes()).await {
        Ok((principal, _)) => Ok(principal),
        Err(e) => Err(negotiate_refusal(&e)),
    }
}

fn negotiate_refusal(e: &OAuthError) -> Response {
    match e {
        OAuthError::TemporarilyUnavailable { .. } => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            Some("try again later"),
        ),
        other => {
            log::warn!(reason = other.log_reason(); "Negotiate refused");
            negotiate_challenge("invalid_token", "the Negotiate token was refused")
        }
    }
}

/// A 401 asking for Negotiate.
fn negotiate_challenge(code: &str, description: &str) -> Response {
    let mut resp = json_error(StatusCode::UNAUTHORIZED, code, Some(description));
    challenge(&mut resp, Challenge::Negotiate);
    resp
}

/// App passwords live this long unless the request says otherwise.
pub const DEFAULT_SERVICE_ACCOUNT_DAYS: u64 = 90;

/// `expires_in_secs`, else `expires_in_days` (default 90), in seconds.
fn lifetime_of(v: &Value) -> u64 {
    v.get("expires_in_secs")
        .and_then(Value::as_u64)
        .unwrap_or_else(|| {
            v.get("expires_in_days")
                .and_then(Value::as_u64)
                .unwrap_or(DEFAULT_SERVICE_ACCOUNT_DAYS)
                .saturating_mul(86_400)
        })
}

fn with_password(
    a: &crate::oauth::service_account::ServiceAccount,
    password: &crate::oauth::secret::ClientSecret,
) -> Value {
    let mut v = crate::service::service_accounts::view(a);
    if let Value::Object(m) = &mut v {
        m.insert("password".into(), password.expose().into());
    }
    v
}

/// A JSON object body (an empty one is `{}`).
async fn json_body<B>(
    service: &Service,
    headers: &http::HeaderMap,
    body: B,
) -> Result<Value, Response>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let bytes = read_body(
        headers,
        body,
        service.limits().max_body_bytes,
        "application/json",
    )
    .await?;
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(json_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("the body must be a JSON object"),
        )),
    }
}

/// Reads a JSON registration; for PUT the path's id wins over the body's.
async fn registration<B>(
    service: &Service,
    headers: &http::HeaderMap,
    body: B,
    path_id: Option<&str>,
) -> Result<ClientRegistration, Response>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let bytes = read_body(
        headers,
        body,
        service.limits().max_body_bytes * 4,
        "application/json",
    )
    .await?;
    let mut value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        json_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(&format!("the body is not JSON: {e}")),
        )
    })?;
    if let (Some(id), Value::Object(m)) = (path_id, &mut value) {
        match m.get("client_id").and_then(Value::as_str) {
            Some(body_id) if body_id != id => {
                return Err(json_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_client_metadata",
                    Some("client_id in the body differs from the path"),
                ));
            }
            _ => {
                m.insert("client_id".into(), id.into());
            }
        }
    }
    // Secrets and hashes are the server's to make; only admins' own fields are taken.
    if let Value::Object(m) = &mut value {
        for k in [
            "client_secret",
            "source",
            "registration_access_token_hash",
            "enrolled_principal",
        ] {
            m.remove(k);
        }
        if m.get("disabled") == Some(&Value::Null) {
            m.remove("disabled");
        }
    }
    let text = value.to_string();
    let mut de = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize::<_, ClientRegistration>(&mut de).map_err(|e| {
        let field = e.path().to_string();
        json_error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            Some(&format!("{field}: {}", e.inner())),
        )
    })
}

fn written(w: &admin::Written) -> Value {
    let mut v = admin::view(&w.registration);
    if let (Value::Object(m), Some(s)) = (&mut v, &w.secret) {
        m.insert("client_secret".into(), s.expose().into());
    }
    v
}
