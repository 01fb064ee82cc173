//! `/authorize` (GET and POST) and `/authorize/password`: the browser side of people
//! signing in. Extract, one call to `service::signin`, render.
//!
//! SPNEGO first (RFC 4559 §4): a browser without a session gets `401` with
//! `WWW-Authenticate: Negotiate` whose body *is* the password form, and a short probe
//! cookie counting the challenges it left unanswered; a browser that can negotiate
//! retries at once with its ticket, one that cannot shows the form. After
//! [`UNANSWERED_CHALLENGES`] unanswered challenges the form comes as a plain 200, so no
//! browser is caught in 401s; a Negotiate token that fails is answered with the form as a
//! 200 too. Two, not one: a new Chromium process leaves its very first challenge
//! unanswered while it loads its GSSAPI library.
//!
//! Cookies (all `HttpOnly`, `SameSite=Lax`, `Path=/`; with an https issuer also `Secure`
//! and `__Host-` prefixed): the session, the CSRF token the password form must echo
//! (double submit), and the Negotiate probe.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::Full;
use hyper::body::Body;

use super::Response;
use super::error::{Challenge, challenge};
use super::extract;
use super::pages::{self, Consent, DeviceCode, DeviceConsent, DeviceDone, ErrorPage, SignIn};
use crate::oauth::form::Form;
use crate::service::Service;
use crate::service::logout::LogoutNext;
use crate::service::signin::{Flow, Next, SignedIn};

/// Challenges a browser may leave unanswered before the form comes without one.
const UNANSWERED_CHALLENGES: u8 = 2;

/// How long the Negotiate probe cookie lives.
const PROBE_SECS: u64 = 300;

/// `GET`/`POST /authorize`.
pub async fn authorize<B>(service: &Service, req: Request<B>) -> Response
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    entry(service, req, Flow::Authorize).await
}

/// `GET /device/approve?user_code=…`: the device grant's sign-in and question.
pub async fn device_approve<B>(service: &Service, req: Request<B>) -> Response
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    entry(service, req, Flow::Device).await
}

/// The first page of a sign-in: SPNEGO when the browser sent a ticket, the session
/// when it has one, else the sign-in page (with a Negotiate challenge while the probe
/// allows).
async fn entry<B>(service: &Service, req: Request<B>, flow: Flow) -> Response
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let params = if parts.method == Method::POST {
        match extract::read_form_body(&parts.headers, body, service.limits().max_body_bytes).await {
            Ok(b) => b,
            Err(resp) => return resp,
        }
    } else {
        Bytes::copy_from_slice(parts.uri.query().unwrap_or("").as_bytes())
    };
    let now = crate::clock::now_unix();
    let cookies = Cookies::of(service);
    let address = extract::client_address(service, &parts);
    if let Some(Ok(token)) = extract::negotiate(&parts) {
        return match service
            .sign_in_with_kerberos(flow, &params, token.bytes(), address, now)
            .await
        {
            Ok(signed) => signed_in(service, &parts, &cookies, flow, &params, signed),
            Err(next) => render(service, &parts, &cookies, flow, &params, next, None),
        };
    }
    let session = extract::cookie(&parts, cookies.session);
    let next = match flow {
        Flow::Authorize => service.authorize(&params, session, now).await,
        Flow::Device => service.device_approve(&params, session, address, now).await,
    };
    let unanswered = extract::cookie(&parts, cookies.probe)
        .and_then(|v| v.parse::<u8>().ok())
        .unwrap_or(0);
    let negotiate = service.negotiate_enabled() && unanswered < UNANSWERED_CHALLENGES;
    let probe = negotiate.then(|| unanswered + 1);
    render(service, &parts, &cookies, flow, &params, next, probe)
}

/// `POST /authorize/password` and `POST /device/password`: the sign-in form.
pub async fn password<B>(service: &Service, req: Request<B>, flow: Flow) -> Response
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let cookies = Cookies::of(service);
    let form = match posted_form(service, &parts, &cookies, body).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let (Some(authz), Some(user), Some(password)) = (
        form.get("authz"),
        form.get("username"),
        form.get("password"),
    ) else {
        return error_page(
            service,
            StatusCode::BAD_REQUEST,
            "The form is incomplete: user name and password are required.",
        );
    };
    let address = extract::client_address(service, &parts);
    let now = crate::clock::now_unix();
    match service
        .sign_in_with_password(
            flow,
            authz.as_bytes(),
            user,
            password,
            form.get("otp"),
            address,
            now,
        )
        .await
    {
        Ok(signed) => signed_in(service, &parts, &cookies, flow, authz.as_bytes(), signed),
        Err(next) => render(
            service,
            &parts,
            &cookies,
            flow,
            authz.as_bytes(),
            next,
            None,
        ),
    }
}

/// `POST /authorize/consent` and `POST /device/consent`: the person's answer to the
/// consent page or the device's question.
pub async fn consent<B>(service: &Service, req: Request<B>, flow: Flow) -> Response
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let cookies = Cookies::of(service);
    let form = match posted_form(service, &parts, &cookies, body).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    // What the page carried: the authorization request, or the device's code.
    let params = match (flow, form.get("authz"), form.get("user_code")) {
        (Flow::Authorize, Some(authz), _) => authz.to_owned(),
        (Flow::Device, _, Some(code)) => form_urlencoded::Serializer::new(String::new())
            .append_pair("user_code", code)
            .finish(),
        _ => return error_page(service, StatusCode::BAD_REQUEST, "The form is incomplete."),
    };
    let allow = form.get("decision") == Some("allow");
    let session = extract::cookie(&parts, cookies.session);
    let now = crate::clock::now_unix();
    let next = match flow {
        Flow::Authorize => {
            service
                .consent(params.as_bytes(), session, allow, now)
                .await
        }
        Flow::Device => {
            service
                .device_decision(
                    params.as_bytes(),
                    session,
                    allow,
                    extract::client_address(service, &parts),
                    now,
                )
                .await
        }
    };
    render(
        service,
        &parts,
        &cookies,
        flow,
        params.as_bytes(),
        next,
        None,
    )
}

/// `GET`/`POST /device`: the code entry page, and the code typed into it.
pub async fn device<B>(service: &Service, req: Request<B>) -> Response
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let cookies = Cookies::of(service);
    let next = if parts.method == Method::POST {
        let form = match posted_form(service, &parts, &cookies, body).await {
            Ok(f) => f,
            Err(resp) => return resp,
        };
        let typed = form.get("user_code").unwrap_or_default();
        service
            .device_code_entered(
                typed,
                extract::client_address(service, &parts),
                crate::clock::now_unix(),
            )
            .await
    } else {
        service.device_code_page(parts.uri.query().unwrap_or("").as_bytes())
    };
    render(service, &parts, &cookies, Flow::Device, b"", next, None)
}

/// `GET`/`POST /logout` (OpenID Connect RP-Initiated Logout). The client sends the
/// browser here with `id_token_hint`, `post_logout_redirect_uri` and `state` (query or
/// form); our confirmation page posts back `params` (the original request), `csrf` and
/// `confirm=yes`.
pub async fn logout<B>(service: &Service, req: Request<B>) -> Response
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let cookies = Cookies::of(service);
    let (params, confirmed) = if parts.method == Method::POST {
        let body =
            match extract::read_form_body(&parts.headers, body, service.limits().max_body_bytes)
                .await
            {
                Ok(b) => b,
                Err(resp) => return resp,
            };
        let form = Form::parse(&body).unwrap_or_default();
        if form.get("confirm") == Some("yes") {
            if !form_is_ours(service, &parts, &cookies, &form) {
                return error_page(
                    service,
                    StatusCode::BAD_REQUEST,
                    "This form has expired. Start signing out again.",
                );
            }
            let params = form.get("params").unwrap_or_default().as_bytes().to_vec();
            (Bytes::from(params), true)
        } else {
            (body, false)
        }
    } else {
        (
            Bytes::copy_from_slice(parts.uri.query().unwrap_or("").as_bytes()),
            false,
        )
    };
    let session = extract::cookie(&parts, cookies.session);
    let mut resp = match service.logout(&params, session, confirmed).await {
        LogoutNext::Redirect(to) => redirect(&to),
        LogoutNext::SignedOut => pages::html(
            StatusCode::OK,
            &pages::SignedOut {
                brand: service.branding(),
            },
        ),
        LogoutNext::ErrorPage(m) => return error_page(service, StatusCode::BAD_REQUEST, &m),
        LogoutNext::Confirm { application } => {
            let params = String::from_utf8_lossy(&params);
            return cookies.with_csrf(service, &parts, |csrf| {
                pages::html(
                    StatusCode::OK,
                    &pages::Logout {
                        brand: service.branding(),
                        application: application.as_deref(),
                        params: &params,
                        csrf,
                    },
                )
            });
        }
    };
    // The cookie goes too.
    cookies.set(&mut resp, cookies.session, "", 0);
    resp
}

/// A posted page form: read, parsed, its CSRF token matched with the cookie and its
/// origin checked.
async fn posted_form<B>(
    service: &Service,
    parts: &http::request::Parts,
    cookies: &Cookies,
    body: B,
) -> Result<Form, Response>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let body =
        extract::read_form_body(&parts.headers, body, service.limits().max_body_bytes).await?;
    let Ok(form) = Form::parse(&body) else {
        return Err(error_page(
            service,
            StatusCode::BAD_REQUEST,
            "The form is malformed.",
        ));
    };
    if !form_is_ours(service, parts, cookies, &form) {
        return Err(error_page(
            service,
            StatusCode::BAD_REQUEST,
            "This form has expired. Go back to the application and start again.",
        ));
    }
    Ok(form)
}

/// `GET /assets/ahdapa.css`.
pub fn stylesheet() -> Response {
    pages::stylesheet()
}

/// `GET /assets/logo`: `signin.logo_file`.
pub fn logo(service: &Service) -> Response {
    match service.logo() {
        Some((bytes, media)) => pages::asset(bytes.clone(), media),
        None => super::error::not_found(),
    }
}

/// The cookie names of this issuer (`__Host-` needs https).
struct Cookies {
    session: &'static str,
    csrf: &'static str,
    probe: &'static str,
    secure: bool,
}

impl Cookies {
    fn of(service: &Service) -> Self {
        if service.issuer().starts_with("https://") {
            Self {
                session: "__Host-ahdapa-session",
                csrf: "__Host-ahdapa-csrf",
                probe: "__Host-ahdapa-negotiate",
                secure: true,
            }
        } else {
            Self {
                session: "ahdapa-session",
                csrf: "ahdapa-csrf",
                probe: "ahdapa-negotiate",
                secure: false,
            }
        }
    }

    /// A page with a form: `build` gets the browser's CSRF token (double submit), or a
    /// new one, which is then set as the cookie.
    fn with_csrf(
        &self,
        service: &Service,
        parts: &http::request::Parts,
        build: impl FnOnce(&str) -> Response,
    ) -> Response {
        match extract::cookie(parts, self.csrf) {
            Some(existing) => build(existing),
            None => {
                let csrf = random_token();
                let mut resp = build(&csrf);
                self.set(&mut resp, self.csrf, &csrf, service.session_lifetime_secs());
                resp
            }
        }
    }

    fn set(&self, resp: &mut Response, name: &str, value: &str, max_age: u64) {
        let secure = if self.secure { "; Secure" } else { "" };
        let v =
            format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}");
        if let Ok(v) = HeaderValue::from_str(&v) {
            resp.headers_mut().append(SET_COOKIE, v);
        }
    }
}

/// What follows a sign-in (the redirect or the consent page), with the new session
/// cookie.
fn signed_in(
    service: &Service,
    parts: &http::request::Parts,
    cookies: &Cookies,
    flow: Flow,
    params: &[u8],
    signed: SignedIn,
) -> Response {
    let mut resp = render(service, parts, cookies, flow, params, signed.next, None);
    cookies.set(
        &mut resp,
        cookies.session,
        &signed.cookie,
        service.session_lifetime_secs(),
    );
    resp
}

fn redirect(location: &str) -> Response {
    let mut resp = http::Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(LOCATION, v);
    }
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[allow(clippy::too_many_arguments)]
fn render(
    service: &Service,
    parts: &http::request::Parts,
    cookies: &Cookies,
    flow: Flow,
    params: &[u8],
    next: Next,
    // `Some(n)`: challenge with Negotiate, the probe cookie counting `n` challenges.
    challenge_count: Option<u8>,
) -> Response {
    match next {
        Next::Throttled { page, retry_after } => {
            let mut resp = render(service, parts, cookies, flow, params, *page, None);
            *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(retry_after));
            resp
        }
        Next::Redirect(location) => redirect(&location),
        Next::ErrorPage(message) => error_page(service, StatusCode::BAD_REQUEST, &message),
        Next::Consent {
            application,
            subject,
            scopes,
        } => {
            let authz = String::from_utf8_lossy(params);
            cookies.with_csrf(service, parts, |csrf| {
                let page = Consent {
                    brand: service.branding(),
                    application: application.as_deref(),
                    subject: &subject,
                    scopes: &scopes,
                    authz: &authz,
                    csrf,
                };
                pages::html(StatusCode::OK, &page)
            })
        }
        Next::DeviceCode { user_code, message } => cookies.with_csrf(service, parts, |csrf| {
            let page = DeviceCode {
                brand: service.branding(),
                message: message.as_deref(),
                user_code: &user_code,
                csrf,
            };
            let status = if message.is_some() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            pages::html(status, &page)
        }),
        Next::DeviceConsent {
            application,
            host,
            subject,
            scopes,
            user_code,
        } => cookies.with_csrf(service, parts, |csrf| {
            let page = DeviceConsent {
                brand: service.branding(),
                application: application.as_deref(),
                host: host.as_deref(),
                subject: &subject,
                scopes: &scopes,
                user_code: &user_code,
                csrf,
            };
            pages::html(StatusCode::OK, &page)
        }),
        Next::DeviceDone { approved } => pages::html(
            StatusCode::OK,
            &DeviceDone {
                brand: service.branding(),
                approved,
            },
        ),
        Next::SignIn {
            application,
            message,
            username,
        } => {
            let authz = String::from_utf8_lossy(params);
            cookies.with_csrf(service, parts, |csrf| {
                let page = SignIn {
                    brand: service.branding(),
                    application: application.as_deref(),
                    message: message.as_deref(),
                    action: match flow {
                        Flow::Authorize => "/authorize/password",
                        Flow::Device => "/device/password",
                    },
                    authz: &authz,
                    csrf,
                    username: &username,
                    otp: true,
                    kerberos: service.negotiate_enabled(),
                };
                let status = if challenge_count.is_some() {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::OK
                };
                let mut resp = pages::html(status, &page);
                if let Some(count) = challenge_count {
                    challenge(&mut resp, Challenge::Negotiate);
                    cookies.set(&mut resp, cookies.probe, &count.to_string(), PROBE_SECS);
                }
                resp
            })
        }
    }
}

/// An error page (also the demo app's).
pub(super) fn error_page(service: &Service, status: StatusCode, message: &str) -> Response {
    pages::html(
        status,
        &ErrorPage {
            brand: service.branding(),
            message,
        },
    )
}

/// A page form we served: its `csrf` matches the cookie (double submit) and it comes
/// from this origin.
fn form_is_ours(
    service: &Service,
    parts: &http::request::Parts,
    cookies: &Cookies,
    form: &Form,
) -> bool {
    let csrf_ok = match (form.get("csrf"), extract::cookie(parts, cookies.csrf)) {
        (Some(sent), Some(cookie)) => {
            aws_lc_rs::constant_time::verify_slices_are_equal(sent.as_bytes(), cookie.as_bytes())
                .is_ok()
        }
        _ => false,
    };
    csrf_ok && same_origin(service, parts)
}

/// A form posted from another site is refused: when the browser says where the form
/// came from (`Origin`), it must be this issuer.
fn same_origin(service: &Service, parts: &http::request::Parts) -> bool {
    match parts.headers.get(http::header::ORIGIN).map(|o| o.to_str()) {
        None => true,
        Some(Ok(origin)) => service
            .issuer()
            .strip_prefix(origin)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
        Some(Err(_)) => false,
    }
}

/// 128 random bits, base64url. A failing random source gives no token (and then no
/// form: the CSRF check can never pass with an empty cookie).
fn random_token() -> String {
    use aws_lc_rs::rand::SecureRandom;
    use base64::Engine;
    let mut b = [0u8; 16];
    match aws_lc_rs::rand::SystemRandom::new().fill(&mut b) {
        Ok(()) => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b),
        Err(_) => String::new(),
    }
}
