//! Handlers: extract from HTTP, call the core, render. No policy lives here.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::{Buf, Bytes, BytesMut};
use http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE,
};
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Body;

use super::{Response, error};
use std::sync::Arc;

use crate::oauth::OAuthError;
use crate::oauth::client_auth::Authorization;
use rustls_pki_types::{CertificateDer, UnixTime};

use super::server::ConnInfo;
use crate::oauth::client_auth::tls_client_auth::PresentedCertificate;
use crate::service::Service;

/// `POST /token`.
pub async fn token<B>(service: &Service, req: Request<B>) -> Response
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body, certificate) = match read_client_request(service, req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let authorization = match authorization_of(&parts) {
        Ok(a) => a,
        Err(e) => return reject(service, &e, &parts, &body),
    };
    let dpop = match parts
        .headers
        .get_all("dpop")
        .iter()
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => None,
        [one] => match one.to_str() {
            Ok(v) => Some(v.to_owned()),
            Err(_) => {
                let e = OAuthError::InvalidDpopProof {
                    description: "DPoP header is not ASCII".into(),
                };
                return reject(service, &e, &parts, &body);
            }
        },
        _ => {
            let e = OAuthError::InvalidDpopProof {
                description: "more than one DPoP header".into(),
            };
            return reject(service, &e, &parts, &body);
        }
    };
    match service
        .token(
            authorization,
            &body,
            certificate.as_deref(),
            dpop.as_deref(),
        )
        .await
    {
        Ok(issued) => {
            service.metrics().token_issued(issued.method);
            if let Some(stands_for) = service.issuance_to_log() {
                log::info!(
                        outcome = "issued",
                    client_id = issued.client_id.as_str(),
                    subject = issued.subject.as_str(),
                    method = issued.method.as_str(),
                    scope = issued.response.scope.as_str(),
                    jti = issued.jti.as_str(),
                    principal = issued.principal.as_deref().unwrap_or(""),
                    request_id = request_id_of(&parts),
                    sampled = stands_for;
                    "token issued"
                );
            }
            let body = serde_json::to_vec(&issued.response).unwrap_or_default();
            let mut resp = json(StatusCode::OK, body, true);
            if let Some(ap_rep) = &issued.mutual_auth_token {
                // RFC 4559 §5: the mutual-authentication token rides on the success response.
                if let Ok(v) =
                    HeaderValue::from_str(&format!("Negotiate {}", STANDARD.encode(ap_rep)))
                {
                    resp.headers_mut().insert(WWW_AUTHENTICATE, v);
                }
            }
            if service.dpop_requires_nonce() {
                let nonce = service.dpop_nonce(crate::clock::now_unix());
                if let Ok(v) = HeaderValue::from_str(&nonce) {
                    resp.headers_mut().insert("dpop-nonce", v);
                }
            }
            resp
        }
        Err(err) => {
            service.metrics().token_refused(err.code());
            reject(service, &err, &parts, &body)
        }
    }
}

/// `GET /api/identity/...`: users and groups for SSSD hosts (`crate::identity_api`),
/// for tokens with `directory.read` (Bearer or DPoP, through the shared verifier).
pub async fn identity<B>(service: &Service, req: Request<B>) -> Response {
    let (parts, _body) = req.into_parts();
    let certificate = certificate_of(service, &parts);
    let url = format!("{}{}", service.issuer(), parts.uri.path());
    if let Err(e) = super::resource::authorize(
        service,
        &parts,
        &url,
        crate::identity_api::SCOPE,
        certificate.as_deref(),
    )
    .await
    {
        return super::resource::refusal(&e, service.issuer());
    }
    let Some(directory) = service.directory() else {
        return error::json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            Some("no [directory] is configured"),
        );
    };
    let path = parts
        .uri
        .path()
        .strip_prefix("/api/identity/")
        .unwrap_or_default();
    let request = match crate::identity_api::parse(path, parts.uri.query()) {
        Ok(r) => r,
        Err(m) => return error::json_error(StatusCode::BAD_REQUEST, "invalid_request", Some(&m)),
    };
    match crate::identity_api::answer(directory, request).await {
        Ok(answer) => {
            let status = if answer.found {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            let mut resp = json(
                status,
                serde_json::to_vec(&answer.body).unwrap_or_default(),
                true,
            );
            if let Some(next) = answer.next {
                let mut link = url.clone();
                let kept: Vec<(String, String)> =
                    form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                        .filter(|(k, _)| k != "after")
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect();
                let query = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(kept)
                    .append_pair("after", &next)
                    .finish();
                link.push('?');
                link.push_str(&query);
                if let Ok(v) = HeaderValue::from_str(&format!("<{link}>; rel=\"next\"")) {
                    resp.headers_mut().insert(http::header::LINK, v);
                }
            }
            resp
        }
        Err(e) => {
            log::warn!(path = parts.uri.path(); "identity lookup failed: {e}");
            error::json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                Some("the directory is unavailable; try again later"),
            )
        }
    }
}

/// `POST /introspect` (RFC 7662).
pub async fn introspect<B>(service: &Service, req: Request<B>) -> Response
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body, certificate) = match read_client_request(service, req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let authorization = match authorization_of(&parts) {
        Ok(a) => a,
        Err(e) => return reject(service, &e, &parts, &body),
    };
    match service
        .introspect(authorization, &body, certificate.as_deref())
        .await
    {
        Ok(answer) => json(
            StatusCode::OK,
            serde_json::to_vec(&answer).unwrap_or_default(),
            true,
        ),
        Err(err) => reject(service, &err, &parts, &body),
    }
}

/// `POST /revoke` (RFC 7009).
pub async fn revoke<B>(service: &Service, req: Request<B>) -> Response
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body, certificate) = match read_client_request(service, req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let authorization = match authorization_of(&parts) {
        Ok(a) => a,
        Err(e) => return reject(service, &e, &parts, &body),
    };
    match service
        .revoke(authorization, &body, certificate.as_deref())
        .await
    {
        Ok(()) => json(StatusCode::OK, Vec::new(), true),
        Err(err) => reject(service, &err, &parts, &body),
    }
}

/// What every client-authenticated form endpoint reads: the request head, the form body
/// (within the limit and with the right media type) and the client certificate.
async fn read_client_request<B>(
    service: &Service,
    req: Request<B>,
) -> Result<
    (
        http::request::Parts,
        Bytes,
        Option<Arc<PresentedCertificate>>,
    ),
    Response,
>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let body = read_form_body(&parts.headers, body, service.limits().max_body_bytes).await?;
    let certificate = certificate_of(service, &parts);
    Ok((parts, body, certificate))
}

/// The one `Authorization` header, if any (two are `invalid_request`).
fn authorization_of(parts: &http::request::Parts) -> Result<Option<Authorization<'_>>, OAuthError> {
    match parts
        .headers
        .get_all(AUTHORIZATION)
        .iter()
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => Ok(None),
        [one] => one
            .to_str()
            .map(|s| Some(Authorization::parse(s)))
            .map_err(|_| OAuthError::invalid_client("Authorization header is not ASCII")),
        _ => Err(OAuthError::invalid_request(
            "more than one Authorization header",
        )),
    }
}

/// The client certificate of the connection, or one forwarded by a trusted proxy.
pub(super) fn certificate_of(
    service: &Service,
    parts: &http::request::Parts,
) -> Option<Arc<PresentedCertificate>> {
    match parts.extensions.get::<Arc<PresentedCertificate>>() {
        Some(c) => Some(Arc::clone(c)),
        None => forwarded_certificate(service, parts),
    }
}

/// A client certificate forwarded by a trusted TLS-terminating proxy (`tls.client_cert_header`),
/// checked with the same CA and pin rules as a direct one. From any other peer the header
/// is ignored and logged.
fn forwarded_certificate(
    service: &Service,
    parts: &http::request::Parts,
) -> Option<Arc<PresentedCertificate>> {
    let proxy = service.proxy_client_cert()?;
    let value = parts.headers.get(&proxy.header)?;
    let peer = parts.extensions.get::<ConnInfo>().map(|c| c.peer);
    if !peer.is_some_and(|p| proxy.trusted_proxies.contains(&p.ip())) {
        log::warn!(peer = peer.map(|p| p.to_string()).unwrap_or_default().as_str(), header = proxy.header.as_str(); "client certificate header from an untrusted peer ignored");
        return None;
    }
    let Some(der) = value.to_str().ok().and_then(parse_forwarded_certificate) else {
        log::info!(header = proxy.header.as_str(); "forwarded client certificate does not parse; ignored");
        return None;
    };
    let now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(crate::clock::now_unix()));
    let cert = CertificateDer::from(der.clone());
    match proxy.policy.classify(&cert, &[], now) {
        Some(trust) => Some(Arc::new(PresentedCertificate::new(der, trust))),
        None => {
            log::info!(header = proxy.header.as_str(); "forwarded client certificate is neither from a client CA nor registered; ignored");
            None
        }
    }
}

/// RFC 9440 `Client-Cert: :<base64 DER>:`, or nginx's `$ssl_client_escaped_cert`
/// (URL-encoded PEM).
fn parse_forwarded_certificate(value: &str) -> Option<Vec<u8>> {
    let value = value.trim();
    if let Some(inner) = value.strip_prefix(':').and_then(|v| v.strip_suffix(':')) {
        return STANDARD.decode(inner).ok();
    }
    let pem = percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .ok()?;
    use rustls_pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .ok()
        .map(|c| c.to_vec())
}

fn reject(
    service: &Service,
    err: &OAuthError,
    parts: &http::request::Parts,
    body: &[u8],
) -> Response {
    let request_id = request_id_of(parts);
    let client_id = claimed_client_id(parts, body).unwrap_or_default();
    let endpoint = parts.uri.path();
    match err {
        OAuthError::ServerError { .. } => log::error!(
            outcome = "failed", error = err.code(), reason = err.log_reason(),
            client_id = client_id.as_str(), request_id = request_id, path = endpoint;
            "request failed"
        ),
        _ => log::info!(
            outcome = "refused", error = err.code(), reason = err.log_reason(),
            client_id = client_id.as_str(), request_id = request_id, path = endpoint;
            "request refused"
        ),
    }
    error::oauth(err, service.issuer(), service.negotiate_enabled())
}

/// The request id the router gave this request.
pub(super) fn request_id_of(parts: &http::request::Parts) -> &str {
    parts
        .extensions
        .get::<super::RequestId>()
        .map_or("", |r| r.0.as_str())
}

/// The client_id a refused request claimed (Basic user name, or the form's `client_id`),
/// for the log only: it may be anything the caller sent.
fn claimed_client_id(parts: &http::request::Parts, body: &[u8]) -> Option<String> {
    if let Some(Authorization::Basic(credentials)) = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(Authorization::parse)
    {
        let decoded = STANDARD.decode(credentials.trim()).ok()?;
        // Without a ':' the whole value may be a secret: name no client at all (the
        // refusal's reason says the credentials were malformed).
        let colon = decoded.iter().position(|b| *b == b':')?;
        let user = decoded.get(..colon)?;
        let user: String = form_urlencoded::parse(&[b"u=", user].concat())
            .next()
            .map(|(_, v)| v.into_owned())?;
        return Some(user.chars().take(128).collect());
    }
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.chars().take(128).collect())
}

/// Reads the body within the limit, then checks the media type.
///
/// The body is read before any refusal so the client always gets the answer cleanly;
/// when it is over the limit, the rest is discarded in the background (bounded in bytes
/// and time), since HTTP/2 clients such as curl report a reset stream as a failure
/// instead of showing the 413.
async fn read_form_body<B>(headers: &HeaderMap, body: B, limit: usize) -> Result<Bytes, Response>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    read_body(headers, body, limit, "application/x-www-form-urlencoded").await
}

/// Reads a body of at most `limit` bytes whose media type must be `media`.
pub(super) async fn read_body<B>(
    headers: &HeaderMap,
    body: B,
    limit: usize,
    media: &str,
) -> Result<Bytes, Response>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut body = Box::pin(body);
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        discard_in_background(body);
        return Err(error::payload_too_large());
    }
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(error::oauth(
                &OAuthError::invalid_request("the request body could not be read"),
                "",
                false,
            ));
        };
        if let Ok(mut data) = frame.into_data() {
            if buf.len() + data.remaining() > limit {
                discard_in_background(body);
                return Err(error::payload_too_large());
            }
            while data.has_remaining() {
                let chunk = data.chunk();
                let n = chunk.len();
                buf.extend_from_slice(chunk);
                data.advance(n);
            }
        }
    }
    let media_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if media_type.as_deref() != Some(media) {
        return Err(error::json_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some(&format!("Content-Type must be {media}")),
        ));
    }
    Ok(buf.freeze())
}

/// How much of a refused body is read and thrown away so the client sees the response.
const DISCARD_MAX_BYTES: usize = 8 << 20;
const DISCARD_MAX_TIME: std::time::Duration = std::time::Duration::from_secs(5);

fn discard_in_background<B>(mut body: std::pin::Pin<Box<B>>)
where
    B: Body + Send + 'static,
    B::Data: Send,
{
    tokio::spawn(async move {
        let drain = async {
            let mut seen = 0usize;
            while let Some(Ok(frame)) = body.frame().await {
                seen += frame.data_ref().map_or(0, |d| d.remaining());
                if seen > DISCARD_MAX_BYTES {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(DISCARD_MAX_TIME, drain).await;
    });
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

/// `GET /readyz`: the store answers within 2 s (signing keys are loaded before the server
/// listens at all); 503 otherwise, so a load balancer takes this node out.
pub async fn readyz(service: &Service) -> Response {
    match tokio::time::timeout(
        std::time::Duration::from_secs(2),
        service.store().generation(),
    )
    .await
    {
        Ok(Ok(_)) => match service.directory() {
            None => json(StatusCode::OK, br#"{"status":"ready"}"#.to_vec(), true),
            // The directory's own timeout bounds the ping.
            Some(d) => match d.ping().await {
                Ok(()) => json(StatusCode::OK, br#"{"status":"ready"}"#.to_vec(), true),
                Err(e) => {
                    log::warn!(reason = e.to_string().as_str(); "not ready: the directory failed");
                    json(
                        StatusCode::SERVICE_UNAVAILABLE,
                        br#"{"status":"directory unavailable"}"#.to_vec(),
                        true,
                    )
                }
            },
        },
        Ok(Err(e)) => {
            log::warn!(reason = e.to_string().as_str(); "not ready: the store failed");
            json(
                StatusCode::SERVICE_UNAVAILABLE,
                br#"{"status":"store unavailable"}"#.to_vec(),
                true,
            )
        }
        Err(_) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            br#"{"status":"store timed out"}"#.to_vec(),
            true,
        ),
    }
}

/// `GET /healthz`: the process answers.
pub fn healthz() -> Response {
    json(StatusCode::OK, br#"{"status":"ok"}"#.to_vec(), true)
}

pub(super) fn json(status: StatusCode, body: Vec<u8>, no_store: bool) -> Response {
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
