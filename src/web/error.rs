//! Rendering answers: RFC 6749 §5.2 JSON for OAuth refusals, the same shape for admin
//! API and transport-level refusals (413, 404, 405, 408), and every authentication
//! header ahdapa sends: `WWW-Authenticate` challenges (Basic RFC 7617, Negotiate RFC
//! 4559, Bearer RFC 6750 §3, DPoP RFC 9449 §7.1) and `DPoP-Nonce` (RFC 9449 §8) are
//! built here and nowhere else. Every error response carries `Cache-Control: no-store`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use http_body_util::Full;
use serde::Serialize;

use super::Response;
use crate::admin::AdminError;
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
        dpop_nonce(&mut resp, nonce);
    }
    if let OAuthError::InvalidClient { challenges, .. } = err {
        if negotiate {
            challenge(&mut resp, Challenge::Negotiate);
        }
        if challenges.basic {
            challenge(&mut resp, Challenge::Basic { realm });
        }
    }
    resp
}

/// A `WWW-Authenticate` value.
#[derive(Debug, Clone, Copy)]
pub enum Challenge<'a> {
    /// A bare `Negotiate` (RFC 4559 §4): "authenticate with Kerberos".
    Negotiate,
    /// `Negotiate <AP-REP>` on a success (RFC 4559 §5, mutual authentication).
    NegotiateMutual(&'a [u8]),
    /// `Basic realm=..., charset="UTF-8"` (RFC 7617).
    Basic {
        /// The issuer.
        realm: &'a str,
    },
    /// `Bearer` (RFC 6750 §3), with the realm and the error code when given.
    Bearer {
        /// The issuer, if the challenge names one.
        realm: Option<&'a str>,
        /// The `error` attribute.
        error: Option<&'a str>,
    },
    /// `DPoP` (RFC 9449 §7.1) with the proof algorithms accepted.
    Dpop {
        /// The issuer.
        realm: &'a str,
        /// The `error` attribute.
        error: Option<&'a str>,
        /// Space-separated JWS algorithms.
        algs: &'a str,
    },
}

/// Appends a `WWW-Authenticate` challenge (quotes and backslashes dropped from the realm).
pub fn challenge(resp: &mut Response, challenge: Challenge<'_>) {
    let quoted = |s: &str| -> String { s.chars().filter(|c| *c != '"' && *c != '\\').collect() };
    let error_attr = |e: Option<&str>| e.map(|e| format!("error=\"{}\"", quoted(e)));
    let value = match challenge {
        Challenge::Negotiate => "Negotiate".to_owned(),
        Challenge::NegotiateMutual(ap_rep) => format!("Negotiate {}", STANDARD.encode(ap_rep)),
        Challenge::Basic { realm } => {
            format!("Basic realm=\"{}\", charset=\"UTF-8\"", quoted(realm))
        }
        Challenge::Bearer { realm, error } => {
            let attrs: Vec<String> = realm
                .map(|r| format!("realm=\"{}\"", quoted(r)))
                .into_iter()
                .chain(error_attr(error))
                .collect();
            if attrs.is_empty() {
                "Bearer".to_owned()
            } else {
                format!("Bearer {}", attrs.join(", "))
            }
        }
        Challenge::Dpop { realm, error, algs } => {
            let mut v = format!("DPoP realm=\"{}\"", quoted(realm));
            if let Some(e) = error_attr(error) {
                v.push_str(", ");
                v.push_str(&e);
            }
            v.push_str(&format!(", algs=\"{}\"", quoted(algs)));
            v
        }
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().append(WWW_AUTHENTICATE, v);
    }
}

/// Sets `DPoP-Nonce` (RFC 9449 §8): the nonce the next proof must carry.
pub fn dpop_nonce(resp: &mut Response, nonce: &str) {
    if let Ok(v) = HeaderValue::from_str(nonce) {
        resp.headers_mut().insert("dpop-nonce", v);
    }
}

/// The status of an admin API refusal.
pub fn admin_status(e: &AdminError) -> StatusCode {
    match e {
        AdminError::NotFound(_) => StatusCode::NOT_FOUND,
        AdminError::Conflict(_) | AdminError::ReadOnly(_) => StatusCode::CONFLICT,
        AdminError::Invalid(_) => StatusCode::BAD_REQUEST,
        AdminError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// An admin API refusal: `error`, `error_description` and, for invalid metadata, the
/// problems by field.
pub fn admin(e: &AdminError) -> Response {
    let mut body = serde_json::json!({"error": e.code(), "error_description": e.to_string()});
    if let (AdminError::Invalid(problems), serde_json::Value::Object(m)) = (e, &mut body) {
        m.insert(
            "fields".into(),
            problems
                .iter()
                .map(|(f, msg)| serde_json::json!({"field": f, "message": msg}))
                .collect(),
        );
    }
    json(
        admin_status(e),
        serde_json::to_vec(&body).unwrap_or_default(),
        true,
    )
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

/// 429 (RFC 6585 §4) with `Retry-After`: a rate limit of `[rate_limits]` is reached.
/// The body has the RFC 6749 §5.2 shape, `temporarily_unavailable`.
pub fn too_many_requests(retry_after_secs: u64, description: &str) -> Response {
    let mut resp = json_error(
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
        Some(description),
    );
    resp.headers_mut().insert(
        http::header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs),
    );
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
