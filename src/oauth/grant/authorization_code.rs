//! `authorization_code` (RFC 6749 §4.1.3, OpenID Connect Core §3.1.3): a client redeems
//! the code its user's browser brought back from `/authorize`.
//!
//! A code is random, lives [`CODE_LIFETIME_SECS`], is single-use on every node, and is
//! bound to the client, the redirect URI, the PKCE challenge, the nonce, the session and
//! the scopes ([`CodeGrant`], stored behind the `AuthorizationCodes` port). The checks
//! here: the code belongs to this client; the `redirect_uri` is repeated when the
//! authorization request named one (§4.1.3); the PKCE verifier matches (RFC 7636 §4.6),
//! and a verifier without a challenge is refused (RFC 9700 §2.1.1: no downgrade). A code
//! used twice is `invalid_grant` and the tokens of its first use are revoked (§4.1.2,
//! done by the token flow).

use serde::{Deserialize, Serialize};

use crate::oauth::OAuthError;
use crate::oauth::client::Client;
use crate::oauth::form::Form;
use crate::oauth::pkce::Challenge;
use crate::oauth::scope::Scopes;

/// How long a code may be redeemed (OIDC conformance allows up to 10 minutes; a browser
/// redirect takes well under a second).
pub const CODE_LIFETIME_SECS: u64 = 60;

/// What a code stands for, as stored when `/authorize` issued it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeGrant {
    /// The client the code was issued to.
    pub client_id: String,
    /// The redirect URI the code was sent to.
    pub redirect_uri: String,
    /// Whether the authorization request named it (then the token request must too).
    pub redirect_uri_sent: bool,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// The request's `nonce`, for the ID token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The PKCE challenge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<Challenge>,
    /// The person (their Kerberos principal).
    pub subject: String,
    /// When they authenticated.
    pub auth_time: u64,
    /// How (RFC 8176).
    pub amr: Vec<String>,
    /// Their session.
    pub sid: String,
    /// RFC 8707 resources asked for (the access token's `aud` when given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource: Vec<String>,
    /// Claims by scope (name, email, groups), read from the directory at sign-in.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// The grant's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `code`.
    pub code: String,
    /// `redirect_uri`, when sent.
    pub redirect_uri: Option<String>,
    /// `code_verifier`, when sent.
    pub code_verifier: Option<String>,
}

/// Reads the parameters (the caller has read `grant_type` and the credential).
pub fn parse(form: &Form) -> Result<Request, OAuthError> {
    let code = form
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    Ok(Request {
        code: code.to_owned(),
        redirect_uri: form.get("redirect_uri").map(str::to_owned),
        code_verifier: form.get("code_verifier").map(str::to_owned),
    })
}

/// The scope `client` is granted for a first use of `grant`, or why not.
pub fn authorize(
    client: &Client,
    request: &Request,
    grant: &CodeGrant,
) -> Result<Scopes, OAuthError> {
    super::check_registered(client, super::GrantType::AuthorizationCode)?;
    if grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    match (&request.redirect_uri, grant.redirect_uri_sent) {
        (Some(sent), _) if *sent != grant.redirect_uri => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request's",
            ));
        }
        (None, true) => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri is required: the authorization request named one",
            ));
        }
        _ => {}
    }
    match (&grant.code_challenge, &request.code_verifier) {
        (Some(challenge), Some(verifier)) => challenge.verify(verifier)?,
        (Some(_), None) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier is required (the authorization request used PKCE)",
            ));
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier sent, but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    Scopes::parse(&grant.scope)
}
