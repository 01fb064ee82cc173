//! The authorization request (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1): the query
//! of `GET /authorize` or the form of `POST /authorize`, validated against the client
//! registry into an [`AuthorizationRequest`].
//!
//! The order of checks decides where an error goes (RFC 6749 §4.1.2.1): as long as the
//! client or the redirect URI is in doubt, the person gets an error page and the browser
//! is never redirected ([`AuthorizeError::NoRedirect`]); once both are valid, every
//! other error goes back to the client's redirect URI with `error`, `state` and RFC 9207
//! `iss` ([`AuthorizeError::Redirect`]).
//!
//! Only `response_type=code` is served: the implicit and hybrid flows put tokens in
//! URLs and are not offered (RFC 9700 §2.1.2). Request objects (`request`,
//! `request_uri`) are refused with their own error codes (OIDC Core §6). Unknown
//! parameters are ignored (§3.1.2.1).

use super::client::{Client, ClientRegistry, Credential};
use super::form::Form;
use super::grant::GrantType;
use super::pkce::Challenge;
use super::scope::Scopes;

/// The OIDC `prompt` values (Core §3.1.2.1), as a set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    /// `none`: no page may be shown; fail with `login_required` or `consent_required`.
    pub none: bool,
    /// `login`: authenticate again even with a session.
    pub login: bool,
    /// `consent`: show the consent page even when consent was given before.
    pub consent: bool,
    /// `select_account`: accepted; ahdapa has one account per browser session, so it is
    /// the sign-in page when there is no session and no page otherwise.
    pub select_account: bool,
}

/// The `prompt_values_supported` of discovery.
pub const PROMPT_VALUES: [&str; 4] = ["none", "login", "consent", "select_account"];

/// A validated authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// Where the response goes: the request's `redirect_uri`, or the one registered.
    pub redirect_uri: String,
    /// Whether the request named `redirect_uri` (then the token request must repeat it,
    /// RFC 6749 §4.1.3).
    pub redirect_uri_sent: bool,
    /// The scopes granted: the request's, intersected with the registration.
    pub scope: Scopes,
    /// Echoed in the response.
    pub state: Option<String>,
    /// Carried into the ID token.
    pub nonce: Option<String>,
    /// PKCE; required for public clients.
    pub code_challenge: Option<Challenge>,
    /// `prompt`.
    pub prompt: Prompt,
    /// `max_age` in seconds: the session must be younger, else sign in again.
    pub max_age: Option<u64>,
    /// `id_token_hint`, verified later (it names the expected user).
    pub id_token_hint: Option<String>,
    /// `login_hint`: prefills the user name.
    pub login_hint: Option<String>,
    /// RFC 8707 `resource`s: the audiences asked for (each allowed for the client).
    pub resource: Vec<String>,
}

/// Why an authorization request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or redirect URI is unknown or invalid: show this on an error page and
    /// never redirect (RFC 6749 §4.1.2.1).
    NoRedirect(String),
    /// Send the client `error` (and `error_description`, `state`, `iss`) at its
    /// redirect URI.
    Redirect {
        /// The validated redirect URI.
        redirect_uri: String,
        /// `state`, echoed.
        state: Option<String>,
        /// The RFC 6749 §4.1.2.1 / OIDC §3.1.2.6 / RFC 8707 error code.
        error: &'static str,
        /// For the client's developer.
        description: String,
    },
}

/// Validates an authorization request's parameters (`form`: the query, or the POST
/// body, parsed with `resource` repeatable).
pub fn parse(
    form: &Form,
    registry: &ClientRegistry,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let no_redirect = |m: &str| AuthorizeError::NoRedirect(m.to_owned());
    let client_id = form
        .get("client_id")
        .ok_or_else(|| no_redirect("the request names no client_id"))?;
    let client = registry.get(client_id).ok_or_else(|| {
        no_redirect("this application is not registered here (unknown client_id)")
    })?;
    if !client.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(no_redirect(
            "this application is not registered for sign-in (grant_types lacks authorization_code)",
        ));
    }
    let (redirect_uri, redirect_uri_sent) = match form.get("redirect_uri") {
        Some(uri) if client.redirect_uris.find(uri).is_some() => (uri.to_owned(), true),
        Some(_) => {
            return Err(no_redirect(
                "the redirect_uri is not registered for this application",
            ));
        }
        None => match client.redirect_uris.sole_exact() {
            Some(uri) => (uri.to_owned(), false),
            None => {
                return Err(no_redirect(
                    "redirect_uri is required (the application registered more than one, or a pattern)",
                ));
            }
        },
    };
    let state = form.get("state").map(str::to_owned);
    let refuse = |error: &'static str, description: String| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error,
        description,
    };
    if form.get("request").is_some() {
        return Err(refuse(
            "request_not_supported",
            "request objects are not supported".into(),
        ));
    }
    if form.get("request_uri").is_some() {
        return Err(refuse(
            "request_uri_not_supported",
            "request_uri is not supported".into(),
        ));
    }
    match form.get("response_type") {
        Some("code") => {}
        None => {
            return Err(refuse(
                "invalid_request",
                "response_type is required".into(),
            ));
        }
        Some(other) => {
            return Err(refuse(
                "unsupported_response_type",
                format!(
                    "response_type {:?} is not supported: only code (implicit and hybrid flows are not offered)",
                    other.chars().take(40).collect::<String>()
                ),
            ));
        }
    }
    match form.get("response_mode") {
        None | Some("query") => {}
        Some(other) => {
            return Err(refuse(
                "invalid_request",
                format!(
                    "response_mode {:?} is not supported: only query",
                    other.chars().take(40).collect::<String>()
                ),
            ));
        }
    }
    let code_challenge = match form.get("code_challenge") {
        Some(c) => Some(
            Challenge::parse(c, form.get("code_challenge_method"))
                .map_err(|e| refuse("invalid_request", e.description().unwrap_or("").into()))?,
        ),
        None if matches!(client.credential, Credential::Public) => {
            return Err(refuse(
                "invalid_request",
                "code_challenge is required for public clients (PKCE, RFC 7636)".into(),
            ));
        }
        None => None,
    };
    let requested = match form.get("scope") {
        Some(s) => Some(
            Scopes::parse(s)
                .map_err(|e| refuse("invalid_scope", e.description().unwrap_or("").into()))?,
        ),
        None => None,
    };
    let scope = Scopes::grant(&client.scopes, requested.as_ref())
        .map_err(|e| refuse("invalid_scope", e.description().unwrap_or("").into()))?;
    let prompt =
        parse_prompt(form.get("prompt")).map_err(|m| refuse("invalid_request", m.into()))?;
    let max_age = match form.get("max_age") {
        Some(v) => Some(v.parse::<u64>().map_err(|_| {
            refuse(
                "invalid_request",
                "max_age must be a number of seconds".into(),
            )
        })?),
        None => None,
    };
    let resource = form.get_all("resource").to_vec();
    for r in &resource {
        check_resource(client, r).map_err(|m| refuse("invalid_target", m))?;
    }
    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri,
        redirect_uri_sent,
        scope,
        state,
        nonce: form.get("nonce").map(str::to_owned),
        code_challenge,
        prompt,
        max_age,
        id_token_hint: form.get("id_token_hint").map(str::to_owned),
        login_hint: form.get("login_hint").map(str::to_owned),
        resource,
    })
}

/// `prompt` (space-separated); `none` with anything else is an error (Core §3.1.2.1).
fn parse_prompt(raw: Option<&str>) -> Result<Prompt, &'static str> {
    let mut p = Prompt::default();
    for v in raw.unwrap_or("").split(' ').filter(|v| !v.is_empty()) {
        match v {
            "none" => p.none = true,
            "login" => p.login = true,
            "consent" => p.consent = true,
            "select_account" => p.select_account = true,
            _ => return Err("prompt has an unknown value (none, login, consent, select_account)"),
        }
    }
    if p.none && (p.login || p.consent || p.select_account) {
        return Err("prompt=none cannot be combined with other values");
    }
    Ok(p)
}

/// RFC 8707 §2: an absolute URI without a fragment, among the client's audiences.
fn check_resource(client: &Client, resource: &str) -> Result<(), String> {
    let absolute = url::Url::parse(resource).is_ok_and(|u| u.fragment().is_none());
    if !absolute {
        return Err(format!(
            "resource {:?} is not an absolute URI without a fragment",
            resource.chars().take(80).collect::<String>()
        ));
    }
    if client.audience.iter().any(|a| a == resource) {
        Ok(())
    } else {
        Err(format!(
            "resource {:?} is not an audience this application may ask for",
            resource.chars().take(80).collect::<String>()
        ))
    }
}
