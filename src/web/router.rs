//! The route table. One function, [`route`], maps (method, path) to a handler; tests
//! call it with in-memory requests.
//!
//! | path | method | handler |
//! |---|---|---|
//! | `/token` | POST | [`handlers::token`] (RFC 6749 §3.2) |
//! | `/introspect` | POST | [`handlers::introspect`] (RFC 7662) |
//! | `/revoke` | POST | [`handlers::revoke`] (RFC 7009) |
//! | `/jwks` | GET | [`handlers::jwks`] (RFC 7517) |
//! | `/.well-known/oauth-authorization-server` | GET | [`handlers::discovery`] (RFC 8414) |
//! | `/.well-known/openid-configuration` | GET | [`handlers::discovery`] (OIDC Discovery) |
//! | `/healthz` | GET | [`handlers::healthz`] (the process answers) |
//! | `/readyz` | GET | [`handlers::readyz`] (the store answers within 2 s) |
//! | `/api/identity/...` | GET | [`handlers::identity`] (users and groups for SSSD) |
//! | `/api/admin/...` | GET, POST, PUT, DELETE | [`admin::route`] (clients and keys) |
//! | `/api/enroll` | POST | [`admin::enroll`] (host self-enrolment) |
//! | `/register`, `/register/{id}` | POST; GET, PUT, DELETE | [`admin::register`] (RFC 7591, RFC 7592) |
//! | `/device_authorization` | POST | [`handlers::device_authorization`] (RFC 8628 §3.1) |
//! | `/device`, `/device/approve`, `/device/password`, `/device/consent` | GET, POST | the verification page (RFC 8628 §3.3) |
//! | `/realms/<realm>/protocol/openid-connect/...` | as aliased | [`keycloak_alias`] (with `compat.keycloak_realm`) |

use http::{Method, Request};
use hyper::body::Body;

use super::{Response, admin, error, handlers};
use crate::service::Service;
use crate::service::signin::Flow;

/// Dispatches one request.
pub async fn route<B>(service: &Service, req: Request<B>) -> Response
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let path = match service.keycloak_realm() {
        Some(realm) => keycloak_alias(realm, &path).map_or(path, str::to_owned),
        None => path,
    };
    let started = crate::clock::monotonic();
    let id = request_id();
    let mut req = req;
    req.extensions_mut().insert(super::RequestId(id.clone()));
    let mut resp = dispatch(service, req, &method, &path).await;
    if let Ok(v) = http::HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let endpoint = match path.as_str() {
        "/token" => "token",
        "/introspect" => "introspect",
        "/revoke" => "revoke",
        "/jwks" => "jwks",
        "/.well-known/oauth-authorization-server" | "/.well-known/openid-configuration" => {
            "discovery"
        }
        "/healthz" => "healthz",
        "/authorize" | "/authorize/password" | "/authorize/consent" => "authorize",
        "/device_authorization" => "device_authorization",
        "/device" | "/device/approve" | "/device/password" | "/device/consent" => "device",
        "/userinfo" => "userinfo",
        "/logout" => "logout",
        "/readyz" => "readyz",
        p if p.starts_with("/api/identity/") => "identity",
        p if p.starts_with("/api/admin/") || p == "/api/enroll" => "admin",
        p if p == "/register" || p.starts_with("/register/") => "register",
        _ => "other",
    };
    service.metrics().request(endpoint, resp.status().as_u16());
    if endpoint == "token" {
        service.metrics().token_latency(started.elapsed());
    }
    resp
}

async fn dispatch<B>(service: &Service, req: Request<B>, method: &Method, path: &str) -> Response
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let method = method.clone();
    let get_or_head = method == Method::GET || method == Method::HEAD;
    match path {
        "/token" if method == Method::POST => handlers::token(service, req).await,
        "/introspect" if method == Method::POST => handlers::introspect(service, req).await,
        "/revoke" if method == Method::POST => handlers::revoke(service, req).await,
        "/token" | "/introspect" | "/revoke" => error::method_not_allowed("POST"),
        "/jwks" if get_or_head => handlers::jwks(service),
        "/.well-known/oauth-authorization-server" | "/.well-known/openid-configuration"
            if get_or_head =>
        {
            handlers::discovery(service)
        }
        "/healthz" if get_or_head => handlers::healthz(),
        "/authorize" if get_or_head || method == Method::POST => {
            super::signin::authorize(service, req).await
        }
        "/authorize" => error::method_not_allowed("GET, HEAD, POST"),
        "/authorize/password" if method == Method::POST => {
            super::signin::password(service, req, Flow::Authorize).await
        }
        "/device_authorization" if method == Method::POST => {
            handlers::device_authorization(service, req).await
        }
        "/device_authorization" => error::method_not_allowed("POST"),
        "/device" if get_or_head || method == Method::POST => {
            super::signin::device(service, req).await
        }
        "/device" => error::method_not_allowed("GET, HEAD, POST"),
        "/device/approve" if get_or_head => super::signin::device_approve(service, req).await,
        "/device/approve" => error::method_not_allowed("GET, HEAD"),
        "/device/password" if method == Method::POST => {
            super::signin::password(service, req, Flow::Device).await
        }
        "/device/password" => error::method_not_allowed("POST"),
        "/device/consent" if method == Method::POST => {
            super::signin::consent(service, req, Flow::Device).await
        }
        "/device/consent" => error::method_not_allowed("POST"),
        "/authorize/password" => error::method_not_allowed("POST"),
        "/authorize/consent" if method == Method::POST => {
            super::signin::consent(service, req, Flow::Authorize).await
        }
        "/authorize/consent" => error::method_not_allowed("POST"),
        "/assets/ahdapa.css" if get_or_head => super::signin::stylesheet(),
        "/assets/logo" if get_or_head => super::signin::logo(service),
        "/dev/rp" if get_or_head && service.is_dev() => super::dev_rp::start(service),
        "/dev/rp/callback" if get_or_head && service.is_dev() => {
            super::dev_rp::callback(service, req).await
        }
        "/userinfo" if get_or_head || method == Method::POST => {
            handlers::userinfo(service, req).await
        }
        "/userinfo" => error::method_not_allowed("GET, HEAD, POST"),
        "/logout" if get_or_head || method == Method::POST => {
            super::signin::logout(service, req).await
        }
        "/logout" => error::method_not_allowed("GET, HEAD, POST"),
        "/readyz" if get_or_head => handlers::readyz(service).await,
        "/api/enroll" if method == Method::POST => admin::enroll(service, req).await,
        p if p == "/register" || p.starts_with("/register/") => admin::register(service, req).await,
        "/api/enroll" => error::method_not_allowed("POST"),
        p if p.starts_with("/api/admin/") => admin::route(service, req).await,
        p if p.starts_with("/api/identity/") => {
            if get_or_head {
                handlers::identity(service, req).await
            } else {
                error::method_not_allowed("GET, HEAD")
            }
        }
        "/jwks"
        | "/.well-known/oauth-authorization-server"
        | "/.well-known/openid-configuration"
        | "/healthz" => error::method_not_allowed("GET, HEAD"),
        _ => error::not_found(),
    }
}

/// The Keycloak URL layout (`compat.keycloak_realm`), for FreeIPA's `ipa idp-add
/// --provider keycloak` and tools that know only Keycloak: the own path a Keycloak
/// path stands for.
pub fn keycloak_alias(realm: &str, path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/realms/")?.strip_prefix(realm)?;
    Some(match rest {
        "/protocol/openid-connect/auth" => "/authorize",
        "/protocol/openid-connect/auth/device" => "/device_authorization",
        "/protocol/openid-connect/token" => "/token",
        "/protocol/openid-connect/token/introspect" => "/introspect",
        "/protocol/openid-connect/userinfo" => "/userinfo",
        "/protocol/openid-connect/certs" => "/jwks",
        "/protocol/openid-connect/logout" => "/logout",
        "/protocol/openid-connect/revoke" => "/revoke",
        "/device" => "/device",
        "/.well-known/openid-configuration" => "/.well-known/openid-configuration",
        _ => return None,
    })
}

/// 64 random bits in hex; a fixed value if the random source fails (never a reason to
/// refuse a request).
fn request_id() -> String {
    use aws_lc_rs::rand::SecureRandom;
    let mut b = [0u8; 8];
    if aws_lc_rs::rand::SystemRandom::new().fill(&mut b).is_err() {
        return "0000000000000000".into();
    }
    format!("{:016x}", u64::from_be_bytes(b))
}

/// The metrics listener's only route: `GET /metrics`.
pub fn route_metrics<B>(service: &Service, req: &Request<B>) -> Response {
    if req.uri().path() != "/metrics"
        || (req.method() != Method::GET && req.method() != Method::HEAD)
    {
        return error::not_found();
    }
    service.metrics().request("metrics", 200);
    let mut resp = http::Response::new(http_body_util::Full::new(bytes::Bytes::from(
        service.metrics_text(),
    )));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests;
