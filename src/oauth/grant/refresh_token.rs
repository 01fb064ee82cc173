//! `refresh_token` (RFC 6749 §6, RFC 9700 §4.14): a client trades a refresh token for a
//! new access token — and always for a new refresh token (rotation on every use; SSSD
//! 2.13 deletes its stored refresh token when an answer lacks one).
//!
//! A refresh token is 256 random bits, opaque; the store keeps only its SHA-256. Every
//! token of one sign-in (a code or a device approval, then each rotation) belongs to one
//! *family*. The rules:
//! - the token must be this client's, and its family not revoked nor its session ended;
//! - a token already used may be presented once more within the grace window (a retry
//!   after a lost answer) and gets the same successor the first use got (it is derived
//!   from the token under a server key, so no second live branch appears); any other
//!   reuse is
//!   theft or a bug, and revokes the whole family — the newest token dies too — with
//!   an audit event, and the answer is `invalid_grant`;
//! - the family ends at an absolute lifetime, each token at an idle lifetime;
//! - the scope may be narrowed, never widened, and scopes the token does not have are
//!   dropped rather than refused (SSSD repeats whatever `scope` it sent first); the new
//!   refresh token keeps the family's scope (§6);
//! - a DPoP-bound token needs a proof with the same key (RFC 9449 §5), a
//!   certificate-bound one the same certificate (RFC 8705 §4);
//! - a person disabled or locked in the directory gets no new tokens.

use serde::{Deserialize, Serialize};

use crate::oauth::OAuthError;
use crate::oauth::client::Client;
use crate::oauth::form::Form;
use crate::oauth::scope::Scopes;

/// When a client's grants come with a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshPolicy {
    /// Never.
    Never,
    /// When the granted scope includes `offline_access` (OIDC Core §11): the default
    /// for browser clients.
    OfflineAccess,
    /// With every code and device grant: the default for device-grant clients (SSSD
    /// hosts refresh without asking for `offline_access`).
    Always,
}

impl RefreshPolicy {
    /// Whether a grant of `scope` comes with a refresh token.
    pub fn applies(self, scope: &Scopes) -> bool {
        match self {
            Self::Never => false,
            Self::OfflineAccess => scope.tokens().iter().any(|s| s == "offline_access"),
            Self::Always => true,
        }
    }
}

/// One refresh token's record (the family's facts, copied forward on rotation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshGrant {
    /// The family: every token of one sign-in.
    pub family: String,
    /// The client it was issued to.
    pub client_id: String,
    /// For a Kerberos template client: the host it was issued to (another host of the
    /// same client may not use it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The person.
    pub subject: String,
    /// The family's scope.
    pub scope: String,
    /// The browser session the family came from: its logout ends the family.
    pub sid: String,
    /// When the person authenticated.
    pub auth_time: u64,
    /// How.
    pub amr: Vec<String>,
    /// Claims by scope for ID tokens.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// RFC 8707 resources (the access tokens' `aud`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource: Vec<String>,
    /// The DPoP key the family is bound to (RFC 7638 thumbprint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    /// The client certificate the family is bound to (`x5t#S256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5t_s256: Option<String>,
    /// When the family ends, whatever its use.
    pub family_expires_at: u64,
}

/// The grant's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `refresh_token`.
    pub refresh_token: String,
    /// `scope`, when given.
    pub scope: Option<Scopes>,
}

/// Reads the parameters (the caller has read `grant_type` and the credential).
pub fn parse(form: &Form) -> Result<Request, OAuthError> {
    let token = form
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    Ok(Request {
        refresh_token: token.to_owned(),
        scope: form.get("scope").map(Scopes::parse).transpose()?,
    })
}

/// What a use of a stored token amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// The first use.
    First,
    /// A second use within the grace window of the first: a retry.
    Retry,
    /// Anything else: the family is revoked.
    Reuse,
}

/// Classifies a use: `uses` earlier uses, the first at `first_used_at` (a grace window
/// of 0 allows no retry).
pub fn classify(uses: u64, first_used_at: Option<u64>, grace_secs: u64, now: u64) -> Use {
    match (uses, first_used_at) {
        (0, _) => Use::First,
        (1, Some(at)) if grace_secs > 0 && now <= at.saturating_add(grace_secs) => Use::Retry,
        _ => Use::Reuse,
    }
}

/// The access token's scope for `request` on `grant`, by `client`: the token's scope
/// narrowed to what was asked, never wider (asked-for scopes it lacks are dropped).
pub fn authorize(
    client: &Client,
    request: &Request,
    grant: &RefreshGrant,
) -> Result<Scopes, OAuthError> {
    if client.refresh_tokens == RefreshPolicy::Never {
        return Err(OAuthError::unauthorized_client(
            "this client is not allowed refresh tokens (refresh_tokens = \"never\")",
        ));
    }
    if grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    let family = Scopes::parse(&grant.scope)?;
    Ok(Scopes::narrow(&family, request.scope.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_use_is_first_a_retry_within_the_grace_window_or_reuse() {
        assert_eq!(classify(0, None, 30, 100), Use::First);
        assert_eq!(classify(1, Some(100), 30, 130), Use::Retry);
        assert_eq!(
            classify(1, Some(100), 30, 131),
            Use::Reuse,
            "after the window"
        );
        assert_eq!(
            classify(2, Some(100), 30, 101),
            Use::Reuse,
            "only once more"
        );
        assert_eq!(
            classify(1, None, 30, 100),
            Use::Reuse,
            "no record of the first use"
        );
    }

    #[test]
    fn offline_access_policy_needs_the_scope() {
        let with = Scopes::parse("openid offline_access").unwrap();
        let without = Scopes::parse("openid").unwrap();
        assert!(RefreshPolicy::OfflineAccess.applies(&with));
        assert!(!RefreshPolicy::OfflineAccess.applies(&without));
        assert!(RefreshPolicy::Always.applies(&without));
        assert!(!RefreshPolicy::Never.applies(&with));
    }
}
