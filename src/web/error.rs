//! Rendering errors: RFC 6749 §5.2 JSON for OAuth refusals, and the same shape for
//! transport-level refusals (413, 404, 405, 408). Every error response carries
//! `Cache-Control: no-store`.

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use http_body_util::Full;
use serde::Serialize;

use super::Response;
use crate::oauth::OAuthError;

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<&'a str>,
}

/// The response for an OAuth refusal at the token endpoint. A 401 carries a Basic
/// challenge and, when `negotiate` is on, a bare `Negotiate` one (RFC 4559 §4), so
/// `curl -u` and `curl --negotiate -u :` both retry by themselves.
pub fn oauth(err: &OAuthError, realm: &str, negotiate: bool) -> Response {
    let status = match err {
        OAuthError::InvalidClient { .. } => StatusCode::UNAUTHORIZED,
        OAuthError::TemporarilyUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        OAuthError::ServerError { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut resp = json_error(status, err.code(), err.description());
    if let OAuthError::UseDpopNonce { nonce } = err {
        if let Ok(v) = HeaderValue::from_str(nonce) {
            resp.headers_mut().insert("dpop-nonce", v);
        }
    }
    if let OAuthError::InvalidClient { challenges, .. } = err {
        if negotiate {
            resp.headers_mut()
                .append(WWW_AUTHENTICATE, HeaderValue::from_static("Negotiate"));
        }
        if challenges.basic {
            let realm: String = realm.chars().filter(|c| *c != '"' && *c != '\\').collect();
            if let Ok(v) =
                HeaderValue::from_str(&format!("Basic realm=\"{realm}\", charset=\"UTF-8\""))
            {
                resp.headers_mut().append(WWW_AUTHENTICATE, v);
            }
        }
    }
    resp
}

/// A JSON error body with the given status.
pub fn json_error(status: StatusCode, code: &str, description: Option<&str>) -> Response {
    let body = serde_json::to_vec(&ErrorBody {
        error: code,
        error_description: description,
    })
    .unwrap_or_else(|_| br#"{"error":"server_error"}"#.to_vec());
    let mut resp = http::Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// 404 for an unknown path.
pub fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "not_found", Some("no such endpoint"))
}

/// 405 with the allowed methods.
pub fn method_not_allowed(allow: &'static str) -> Response {
    let mut resp = json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        Some("method not allowed"),
    );
    resp.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    resp
}

/// 413 for a body over the limit.
pub fn payload_too_large() -> Response {
    json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request",
        Some("request body too large"),
    )
}

/// 408 when the request took longer than the configured time.
pub fn request_timeout() -> Response {
    let mut resp = json_error(
        StatusCode::REQUEST_TIMEOUT,
        "invalid_request",
        Some("request took too long"),
    );
    resp.headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// A JSON answer (`no_store`: with `Cache-Control: no-store` and `Pragma: no-cache`,
/// as RFC 6749 §5.1 asks of token responses).
pub fn json(status: StatusCode, body: Vec<u8>, no_store: bool) -> Response {
    let mut resp = http::Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if no_store {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    }
    resp
}
