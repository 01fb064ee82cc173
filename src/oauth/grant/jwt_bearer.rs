//! RFC 7523 §2.1: the JWT bearer grant. An authenticated client presents a trusted
//! issuer's JWT (`assertion`) about a subject it may act for, and gets an access token
//! for that subject.
//!
//! The client's `jwt_bearer` rules say which issuers and subjects: each is an issuer, a
//! `sub` pattern and claim patterns, like a federated client's `federation`. The first
//! rule the token satisfies decides the token's `sub` (the external `sub`, or the rule's
//! `subject_template`). Refusals are `invalid_grant` (RFC 7523 §3.1) and say why.

use crate::oauth::OAuthError;
use crate::oauth::client::{Client, Credential};
use crate::oauth::federation::ExternalToken;
use crate::oauth::form::Form;
use crate::oauth::scope::Scopes;

/// The grant type.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The grant's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The JWT.
    pub assertion: String,
    /// `scope`, when given.
    pub scope: Option<Scopes>,
}

/// Reads the parameters.
pub fn parse(form: &Form) -> Result<Request, OAuthError> {
    Ok(Request {
        assertion: form
            .get("assertion")
            .ok_or_else(|| OAuthError::invalid_request("assertion is required"))?
            .to_owned(),
        scope: form.get("scope").map(Scopes::parse).transpose()?,
    })
}

/// The scope and `sub` `client` gets for the verified `token`.
pub fn authorize(
    client: &Client,
    request: &Request,
    token: &ExternalToken,
) -> Result<(Scopes, String), OAuthError> {
    if matches!(client.credential, Credential::Public) {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use the jwt-bearer grant",
        ));
    }
    super::check_registered(client, super::GrantType::JwtBearer)?;
    let mut reasons = Vec::new();
    for rule in &client.jwt_bearer {
        match rule.check(token) {
            Ok(()) => {
                let subject = match &rule.subject_template {
                    None => token.subject.clone(),
                    Some(_) => rule.subject_for(token, &client.client_id),
                };
                let scope = Scopes::grant(&client.scopes, request.scope.as_ref())?;
                return Ok((scope, subject));
            }
            Err(m) => reasons.push(m),
        }
    }
    Err(OAuthError::invalid_grant(if reasons.is_empty() {
        "this client has no jwt_bearer rules".to_owned()
    } else {
        format!(
            "the assertion matches none of this client's jwt_bearer rules: {}",
            reasons.join("; ")
        )
    }))
}
