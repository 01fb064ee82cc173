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

use http::{Method, Request};
use hyper::body::Body;

use super::{Response, error, handlers};
use crate::service::Service;

/// Dispatches one request.
pub async fn route<B>(service: &Service, req: Request<B>) -> Response
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let get_or_head = method == Method::GET || method == Method::HEAD;
    match path.as_str() {
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
        "/readyz" if get_or_head => handlers::readyz(service).await,
        "/jwks"
        | "/.well-known/oauth-authorization-server"
        | "/.well-known/openid-configuration"
        | "/healthz" => error::method_not_allowed("GET, HEAD"),
        _ => error::not_found(),
    }
}

#[cfg(test)]
mod tests;
