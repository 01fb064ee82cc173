//! Server-rendered HTML: the sign-in page and the error page, from askama templates in
//! `templates/` (checked at compile time, values HTML-escaped), with the one stylesheet
//! in `assets/`. No JavaScript; every page works with a keyboard and a screen reader.
//!
//! Every page carries `Cache-Control: no-store` and a Content-Security-Policy that
//! allows only this origin's stylesheet and images and no framing (clickjacking).

use askama::Template;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use http_body_util::Full;

use super::Response;

/// The stylesheet of every page.
pub const STYLESHEET: &str = include_str!("../../../assets/ahdapa.css");

/// What every page shows around its content.
#[derive(Debug, Clone, Copy)]
pub struct Branding<'a> {
    /// The product name in the header.
    pub product: &'a str,
    /// A logo URL.
    pub logo: Option<&'a str>,
    /// A help link.
    pub support: Option<&'a str>,
}

/// The sign-in page.
#[derive(Template)]
#[template(path = "signin.html")]
pub struct SignIn<'a> {
    /// What every page shows around its content.
    pub brand: Branding<'a>,
    /// The client's name.
    pub application: Option<&'a str>,
    /// Why the last attempt failed.
    pub message: Option<&'a str>,
    /// Where the form posts (`/authorize/password` or `/device/password`).
    pub action: &'a str,
    /// The authorization request, carried through the form.
    pub authz: &'a str,
    /// The form's CSRF token.
    pub csrf: &'a str,
    /// Prefilled user name.
    pub username: &'a str,
    /// Show the one-time code field.
    pub otp: bool,
    /// Kerberos SSO is on (a hint under the form).
    pub kerberos: bool,
}

/// The consent page.
#[derive(Template)]
#[template(path = "consent.html")]
pub struct Consent<'a> {
    /// What every page shows around its content.
    pub brand: Branding<'a>,
    /// The client's name.
    pub application: Option<&'a str>,
    /// Who is signed in.
    pub subject: &'a str,
    /// What the client would receive.
    pub scopes: &'a [String],
    /// The authorization request, carried through the form.
    pub authz: &'a str,
    /// The form's CSRF token.
    pub csrf: &'a str,
}

/// The sign-out confirmation page.
#[derive(Template)]
#[template(path = "logout.html")]
pub struct Logout<'a> {
    /// What every page shows around its content.
    pub brand: Branding<'a>,
    /// The client asking, when known.
    pub application: Option<&'a str>,
    /// The logout request, carried through the form.
    pub params: &'a str,
    /// The form's CSRF token.
    pub csrf: &'a str,
}

/// The device grant's code entry page.
#[derive(Template)]
#[template(path = "device_code.html")]
pub struct DeviceCode<'a> {
    /// What every page shows around its content.
    pub brand: Branding<'a>,
    /// Why the last entry failed.
    pub message: Option<&'a str>,
    /// The code to prefill.
    pub user_code: &'a str,
    /// The form's CSRF token.
    pub csrf: &'a str,
}

/// The device grant's question.
#[derive(Template)]
#[template(path = "device_consent.html")]
pub struct DeviceConsent<'a> {
    /// What every page shows around its content.
    pub brand: Branding<'a>,
    /// The client's name.
    pub application: Option<&'a str>,
    /// The host that asked.
    pub host: Option<&'a str>,
    /// Who is signed in.
    pub subject: &'a str,
    /// What the device would receive.
    pub scopes: &'a [String],
    /// The code, to compare with the device's screen.
    pub user_code: &'a str,
    /// The form's CSRF token.
    pub csrf: &'a str,
}

/// The device grant's last page.
#[derive(Template)]
#[template(path = "device_done.html")]
pub struct DeviceDone<'a> {
    /// What every page shows around its content.
    pub brand: Branding<'a>,
    /// Whether the person allowed it.
    pub approved: bool,
}

/// The page after signing out.
#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOut<'a> {
    /// What every page shows around its content.
    pub brand: Branding<'a>,
}

/// The error page.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    /// What every page shows around its content.
    pub brand: Branding<'a>,
    /// What went wrong.
    pub message: &'a str,
}

/// A rendered page as a response with `status`.
pub fn html(status: StatusCode, page: &impl Template) -> Response {
    let body = page.render().unwrap_or_else(|_| {
        "<!doctype html><title>Error</title><p>The page could not be shown.".into()
    });
    let mut resp = http::Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on
    // the page's own form posts, which the origin check must refuse.
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    resp
}

/// A static asset with its media type (cached for an hour).
pub fn asset(body: Bytes, media: &'static str) -> Response {
    let mut resp = http::Response::new(Full::new(body));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(media));
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // An SVG logo runs no script and loads nothing, even opened on its own.
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    resp
}

/// `GET /assets/ahdapa.css`.
pub fn stylesheet() -> Response {
    let mut resp = http::Response::new(Full::new(Bytes::from_static(STYLESHEET.as_bytes())));
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}
