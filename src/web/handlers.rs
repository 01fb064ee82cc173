//! Handlers: extract from HTTP, call the core, render. No policy lives here.

use bytes::Bytes;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, PRAGMA};
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;

use super::{Response, error};
use crate::oauth::OAuthError;
use crate::oauth::client_auth::Authorization;
use crate::service::Service;

/// `POST /token`.
pub async fn token<B>(service: &Service, req: Request<B>) -> Response
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let body = match read_form_body(&parts.headers, body, service.limits().max_body_bytes).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let authorization = match parts
        .headers
        .get_all(AUTHORIZATION)
        .iter()
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => None,
        [one] => match one.to_str() {
            Ok(s) => Some(Authorization::parse(s)),
            Err(_) => {
                return reject(
                    service,
                    &OAuthError::invalid_client("Authorization header is not ASCII"),
                );
            }
        },
        _ => {
            return reject(
                service,
                &OAuthError::invalid_request("more than one Authorization header"),
            );
        }
    };
    match service.token(authorization, &body) {
        Ok(issued) => {
            log::info!(
                client_id = issued.client_id.as_str(),
                subject = issued.subject.as_str(),
                method = issued.method.as_str(),
                scope = issued.response.scope.as_str(),
                jti = issued.jti.as_str();
                "token issued"
            );
            json(
                StatusCode::OK,
                serde_json::to_vec(&issued.response).unwrap_or_default(),
                true,
            )
        }
        Err(err) => reject(service, &err),
    }
}

fn reject(service: &Service, err: &OAuthError) -> Response {
    match err {
        OAuthError::ServerError { .. } => {
            log::error!(error = err.code(), reason = err.log_reason(); "token request failed")
        }
        _ => log::info!(error = err.code(), reason = err.log_reason(); "token request refused"),
    }
    error::oauth(err, service.issuer())
}

/// Checks the media type and reads the body within the limit.
async fn read_form_body<B>(headers: &HeaderMap, body: B, limit: usize) -> Result<Bytes, Response>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(error::payload_too_large());
    }
    let media_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if media_type.as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(error::oauth(
            &OAuthError::invalid_request("Content-Type must be application/x-www-form-urlencoded"),
            "",
        ));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(error::payload_too_large())
        }
        Err(_) => Err(error::oauth(
            &OAuthError::invalid_request("the request body could not be read"),
            "",
        )),
    }
}

/// `GET /jwks`.
pub fn jwks(service: &Service) -> Response {
    let mut resp = json(StatusCode::OK, service.jwks_json(), false);
    resp.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    resp
}

/// `GET /.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`.
pub fn discovery(service: &Service) -> Response {
    let mut resp = json(StatusCode::OK, service.discovery_json().to_vec(), false);
    resp.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    resp
}

/// `GET /healthz`: the process answers.
pub fn healthz() -> Response {
    json(StatusCode::OK, br#"{"status":"ok"}"#.to_vec(), true)
}

fn json(status: StatusCode, body: Vec<u8>, no_store: bool) -> Response {
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
