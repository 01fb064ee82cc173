//! Everything read from a request, in one place: the connection facts, the body within
//! its limit and media type, the one `Authorization` header, the client certificate
//! (from the TLS handshake, or forwarded by a trusted proxy) and the request id. Handlers
//! and the admin API read requests only through here.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::{Buf, Bytes, BytesMut};
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Body;
use rustls_pki_types::{CertificateDer, UnixTime};

use super::{Response, error};
use crate::oauth::OAuthError;
use crate::oauth::client_auth::Authorization;
use crate::oauth::client_auth::kerberos_client_auth::NegotiateToken;
use crate::oauth::client_auth::tls_client_auth::PresentedCertificate;
use crate::service::Service;

/// Facts about the connection a request arrived on, put into each request's
/// extensions by the accept loop.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The TCP peer (a proxy, when there is one in front).
    pub peer: std::net::SocketAddr,
}

/// A client request of `/token`, `/introspect` or `/revoke`: the head, the form body
/// (within the limit, of the form media type) and the client certificate.
pub(super) async fn client_request<B>(
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
pub(super) fn authorization(
    parts: &http::request::Parts,
) -> Result<Option<Authorization<'_>>, OAuthError> {
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

/// The address of the client: the TCP peer, or, when the peer is one of
/// `tls.trusted_proxies`, the nearest address in `X-Forwarded-For` that is not a trusted
/// proxy (read from the right, so a client cannot put its own choice of address in
/// front). An entry that does not parse stops the walk at the hop before it.
pub fn client_address(service: &Service, parts: &http::request::Parts) -> std::net::IpAddr {
    let peer = parts
        .extensions
        .get::<ConnInfo>()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.peer.ip());
    let trusted = service.trusted_proxies();
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<&str> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let hop = hop.trim();
        let parsed = hop
            .parse::<std::net::IpAddr>()
            .ok()
            .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()));
        let Some(ip) = parsed else { break };
        client = ip;
        if !trusted.contains(&ip) {
            break;
        }
    }
    client
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
pub fn parse_forwarded_certificate(value: &str) -> Option<Vec<u8>> {
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

/// The request id the router gave this request.
pub(super) fn request_id(parts: &http::request::Parts) -> &str {
    parts
        .extensions
        .get::<super::RequestId>()
        .map_or("", |r| r.0.as_str())
}

/// Reads the body within the limit, then checks the media type.
///
/// The body is read before any refusal so the client always gets the answer cleanly;
/// when it is over the limit, the rest is discarded in the background (bounded in bytes
/// and time), since HTTP/2 clients such as curl report a reset stream as a failure
/// instead of showing the 413.
pub(super) async fn read_form_body<B>(
    headers: &HeaderMap,
    body: B,
    limit: usize,
) -> Result<Bytes, Response>
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
/// The value of cookie `name` (RFC 6265 §5.4: `Cookie: a=1; b=2`), the first if sent
/// twice.
pub fn cookie<'a>(parts: &'a http::request::Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// The token of `Authorization: Negotiate <base64>` (RFC 4559), decoded by the parser
/// `/token` uses, with its size cap; `None` when there is no such header. The admin API
/// and enrolment read Negotiate through this and nothing else.
pub fn negotiate(parts: &http::request::Parts) -> Option<Result<NegotiateToken, OAuthError>> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    match Authorization::parse(value) {
        Authorization::Negotiate(b64) => Some(NegotiateToken::decode(b64)),
        _ => None,
    }
}
