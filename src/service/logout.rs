//! OpenID Connect RP-Initiated Logout 1.0: `/logout` ends the person's SSO session on
//! every node (the store record is deleted) and sends the browser back to the client.
//!
//! An `id_token_hint` must be one of our ID tokens (signature and `iss`; it may have
//! expired, §2); it names the client (`aud`) and the session (`sid`) to end. A
//! `post_logout_redirect_uri` must be registered for that client (exactly), else an error
//! page and no redirect. Without a hint the person confirms on a page first (§2: the OP
//! should ask, so a stray link cannot sign anyone out).

use super::*;
use crate::oauth::form::Form;
use crate::token::access_token;

/// What `/logout` shows or does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutNext {
    /// Ended: back to the client (its `post_logout_redirect_uri` with `state`).
    Redirect(String),
    /// Ended: no place to go back to; a "signed out" page.
    SignedOut,
    /// Ask the person first (no `id_token_hint`).
    Confirm {
        /// The client's name, when known.
        application: Option<String>,
    },
    /// Refused; nothing ended, the browser is not sent anywhere.
    ErrorPage(String),
}

impl Service {
    /// `/logout` with `params` (query or form), the browser's session cookie, and whether
    /// the person confirmed on our page.
    pub async fn logout(&self, params: &[u8], cookie: Option<&str>, confirmed: bool) -> LogoutNext {
        let Ok(form) = Form::parse(params) else {
            return LogoutNext::ErrorPage("The sign-out request is malformed.".into());
        };
        let registry = self.registry.load();
        let hint = match form.get("id_token_hint") {
            None => None,
            Some(t) => {
                // An HS256 ID token is checked with the secret of the client it names
                // (and must name that client: `aud`).
                let named = form
                    .get("client_id")
                    .map(str::to_owned)
                    .or_else(|| access_token::unverified_claim(t, "aud"));
                let key = named
                    .as_deref()
                    .and_then(|id| registry.get(id))
                    .and_then(|c| c.client_key());
                match access_token::verify_ours(t, &self.keys.load(), self.issuer(), "JWT", key) {
                    Ok(claims) => Some(claims),
                    Err(e) => {
                        log::warn!(reason = e.to_string().as_str(); "logout: id_token_hint refused");
                        return LogoutNext::ErrorPage(
                            "The sign-out request carries an ID token this server did not issue."
                                .into(),
                        );
                    }
                }
            }
        };
        let hint_client = hint
            .as_ref()
            .and_then(|c| c.get("aud"))
            .and_then(|a| a.as_str().map(str::to_owned));
        let client_id = match (form.get("client_id"), &hint_client) {
            (Some(a), Some(b)) if a != b => {
                return LogoutNext::ErrorPage(
                    "client_id and the ID token's audience differ.".into(),
                );
            }
            (Some(a), _) => Some(a.to_owned()),
            (None, b) => b.clone(),
        };
        let client = client_id.as_deref().and_then(|id| registry.get(id));
        let redirect = match form.get("post_logout_redirect_uri") {
            None => None,
            Some(uri) => match client {
                Some(c) if c.post_logout_redirect_uris.iter().any(|u| u == uri) => {
                    Some(uri.to_owned())
                }
                _ => {
                    return LogoutNext::ErrorPage(
                        "The post_logout_redirect_uri is not registered for this application."
                            .into(),
                    );
                }
            },
        };
        // A hint proves which session the client means; only when it is this browser's
        // session (or the browser has none) may sign-out skip the person's confirmation,
        // so a link with someone else's ID token cannot sign anyone out.
        let hint_sid = hint
            .as_ref()
            .and_then(|c| c.get("sid"))
            .and_then(|s| s.as_str());
        let hint_is_this_browser = match (hint_sid, cookie) {
            (_, None) => hint.is_some(),
            (Some(sid), Some(c)) => super::sessions::sid_of(c) == sid,
            (None, Some(_)) => false,
        };
        if !hint_is_this_browser && !confirmed {
            return LogoutNext::Confirm {
                application: client.and_then(|c| c.client_name.clone()),
            };
        }
        let mut ended = false;
        if let Some(c) = cookie {
            match self.end_session(c).await {
                Ok(e) => ended |= e,
                Err(e) => {
                    return LogoutNext::ErrorPage(format!(
                        "Signing out failed: {}",
                        e.log_reason()
                    ));
                }
            }
        }
        if let Some(sid) = hint
            .as_ref()
            .and_then(|c| c.get("sid"))
            .and_then(|s| s.as_str())
        {
            match self.end_session_by_sid(sid).await {
                Ok(e) => ended |= e,
                Err(e) => {
                    return LogoutNext::ErrorPage(format!(
                        "Signing out failed: {}",
                        e.log_reason()
                    ));
                }
            }
        }
        let subject = hint
            .as_ref()
            .and_then(|c| c.get("sub"))
            .and_then(|s| s.as_str())
            .unwrap_or("");
        log::info!(principal = subject, client_id = client_id.as_deref().unwrap_or(""), ended = ended; "signed out");
        match redirect {
            Some(uri) => {
                let mut q = form_urlencoded::Serializer::new(String::new());
                if let Some(state) = form.get("state") {
                    q.append_pair("state", state);
                }
                let query = q.finish();
                LogoutNext::Redirect(if query.is_empty() {
                    uri
                } else {
                    let sep = if uri.contains('?') { '&' } else { '?' };
                    format!("{uri}{sep}{query}")
                })
            }
            None => LogoutNext::SignedOut,
        }
    }
}
