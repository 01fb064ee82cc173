//! Handlers: extract from HTTP, call the core, render. No policy lives here.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::header::{AUTHORIZATION, CACHE_CONTROL};
use http::{HeaderValue, Request, StatusCode};
use hyper::body::Body;

use super::error::{Challenge, challenge, dpop_nonce, json};
use super::{Response, error, extract};
use crate::oauth::OAuthError;
use crate::oauth::client_auth::Authorization;
use crate::oauth::throttle::{Key, RetryAfter};
use crate::service::Service;

/// `POST /token`.
pub async fn token<B>(service: &Service, req: Request<B>) -> Response
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body, certificate) = match client_request(service, req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let authorization = match extract::authorization(&parts) {
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
                    request_id = extract::request_id(&parts),
                    sampled = stands_for;
                    "token issued"
                );
            }
            let body = serde_json::to_vec(&issued.response).unwrap_or_default();
            let mut resp = json(StatusCode::OK, body, true);
            if let Some(ap_rep) = &issued.mutual_auth_token {
                // RFC 4559 §5: the mutual-authentication token rides on the success response.
                challenge(&mut resp, Challenge::NegotiateMutual(ap_rep));
            }
            if service.dpop_requires_nonce() {
                dpop_nonce(&mut resp, &service.dpop_nonce(crate::clock::now_unix()));
            }
            resp
        }
        Err(err) => {
            service.metrics().token_refused(err.code());
            reject(service, &err, &parts, &body)
        }
    }
}

/// `GET`/`POST /userinfo` (OIDC Core §5.3): the token in `Authorization` (Bearer or
/// DPoP), or, on POST, as `access_token` in the form body (RFC 6750 §2.2).
pub async fn userinfo<B>(service: &Service, req: Request<B>) -> Response
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (mut parts, body) = req.into_parts();
    if parts.method == http::Method::POST && !parts.headers.contains_key(AUTHORIZATION) {
        let body =
            match extract::read_form_body(&parts.headers, body, service.limits().max_body_bytes)
                .await
            {
                Ok(b) => b,
                Err(resp) => return resp,
            };
        let token = crate::oauth::form::Form::parse(&body)
            .ok()
            .and_then(|f| f.get("access_token").map(str::to_owned));
        if let Some(v) = token.and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok()) {
            parts.headers.insert(AUTHORIZATION, v);
        }
    }
    let certificate = extract::certificate_of(service, &parts);
    let url = format!("{}{}", service.issuer(), parts.uri.path());
    let access =
        match super::resource::authorize(service, &parts, &url, "openid", certificate.as_deref())
            .await
        {
            Ok(a) => a,
            Err(e) => return super::resource::refusal(&e, service.issuer()),
        };
    match service.userinfo(&access.claims).await {
        Ok(claims) => json(
            StatusCode::OK,
            serde_json::to_vec(&claims).unwrap_or_default(),
            true,
        ),
        Err(e) => error::oauth(&e, service.issuer(), false),
    }
}

/// `GET /api/identity/...`: users and groups for SSSD hosts (`crate::identity_api`),
/// for tokens with `directory.read` (Bearer or DPoP, through the shared verifier).
pub async fn identity<B>(service: &Service, req: Request<B>) -> Response {
    let (parts, _body) = req.into_parts();
    let certificate = extract::certificate_of(service, &parts);
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
    let (parts, body, certificate) = match client_request(service, req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let authorization = match extract::authorization(&parts) {
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

/// `POST /device_authorization` (RFC 8628 §3.1): the device's first request.
pub async fn device_authorization<B>(service: &Service, req: Request<B>) -> Response
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body, certificate) = match client_request(service, req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let address = extract::client_address(service, &parts);
    if let Err(RetryAfter(secs)) = service
        .throttles()
        .device_codes_per_address
        .take(&Key::address(address), crate::clock::monotonic_ms())
    {
        service.metrics().rate_limited("device_codes_per_address");
        log::warn!(outcome = "throttled", address = address.to_string().as_str(), retry_after = secs; "too many device codes from one address");
        return error::too_many_requests(
            secs,
            "too many device codes from this address; retry later",
        );
    }
    let authorization = match extract::authorization(&parts) {
        Ok(a) => a,
        Err(e) => return reject(service, &e, &parts, &body),
    };
    match service
        .device_authorization(authorization, &body, certificate.as_deref())
        .await
    {
        Ok(started) => {
            log::info!(
                outcome = "device_code",
                client_id = started.client_id.as_str(),
                principal = started.principal.as_deref().unwrap_or(""),
                request_id = extract::request_id(&parts);
                "device code issued"
            );
            let body = serde_json::to_vec(&started.response).unwrap_or_default();
            let mut resp = json(StatusCode::OK, body, true);
            if let Some(ap_rep) = &started.mutual_auth_token {
                challenge(&mut resp, Challenge::NegotiateMutual(ap_rep));
            }
            resp
        }
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
    let (parts, body, certificate) = match client_request(service, req).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let authorization = match extract::authorization(&parts) {
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

/// What every client-authenticated form endpoint reads ([`extract::client_request`]),
/// after the `[rate_limits]` on client authentication let the request through.
async fn client_request<B>(
    service: &Service,
    req: Request<B>,
) -> Result<
    (
        http::request::Parts,
        bytes::Bytes,
        Option<std::sync::Arc<crate::oauth::client_auth::tls_client_auth::PresentedCertificate>>,
    ),
    Response,
>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body, certificate) = extract::client_request(service, req).await?;
    match throttled(service, &parts, &body) {
        Some(resp) => Err(resp),
        None => Ok((parts, body, certificate)),
    }
}

/// `[rate_limits]` on client authentication: `429` while the client's address or the
/// client_id it claims has failed too often (counted in [`reject`]).
fn throttled(service: &Service, parts: &http::request::Parts, body: &[u8]) -> Option<Response> {
    let address = extract::client_address(service, parts);
    let client_id = claimed_client_id(parts, body);
    let now = crate::clock::monotonic_ms();
    let (limit, RetryAfter(secs)) = service
        .throttles()
        .client_auth_allowed(address, client_id.as_deref(), now)
        .err()?;
    service.metrics().rate_limited(limit);
    log::warn!(
        limit = limit,
        outcome = "throttled", address = address.to_string().as_str(),
        client_id = client_id.as_deref().unwrap_or(""), retry_after = secs,
        request_id = extract::request_id(parts), path = parts.uri.path();
        "too many failed client authentications"
    );
    Some(error::too_many_requests(
        secs,
        "too many failed client authentications from this address or for this client; retry later",
    ))
}

/// A refusal: logged, counted against the rate limits when client authentication
/// failed, and rendered (RFC 6749 §5.2).
fn reject(
    service: &Service,
    err: &OAuthError,
    parts: &http::request::Parts,
    body: &[u8],
) -> Response {
    let request_id = extract::request_id(parts);
    let client_id = claimed_client_id(parts, body).unwrap_or_default();
    if matches!(err, OAuthError::InvalidClient { .. }) {
        let address = extract::client_address(service, parts);
        let claimed = (!client_id.is_empty()).then_some(client_id.as_str());
        service
            .throttles()
            .client_auth_failed(address, claimed, crate::clock::monotonic_ms());
    }
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

/// The client_id a request claims (Basic user name, or the form's `client_id`), for the
/// log and the per-client rate limit only: it may be anything the caller sent.
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
