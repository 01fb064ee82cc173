//! RFC 8693 token exchange: a service trades a token it received for a narrower one that
//! names it as the actor (`act`), to call another service for the same subject.
//!
//! - `subject_token`: one of ahdapa's access tokens or ID tokens (verified, not revoked),
//!   or a trusted issuer's JWT (`…:token-type:jwt`, from an issuer the client's
//!   `token_exchange.issuers` names).
//! - The client may exchange one of ahdapa's tokens when the token's `aud` names it, or
//!   the token was issued to a client in `token_exchange.from_clients` (`"*"`: any).
//! - `actor_token` (optional, ours or a trusted issuer's) names the actor; without one
//!   the actor is the client itself. `act` is `{sub, [iss], [act]}`, the subject token's
//!   own `act` nested inside (at most [`MAX_ACT_DEPTH`] deep). A `may_act` claim in the
//!   subject token must name the actor.
//! - `audience` / `resource`: each must be in `token_exchange.audiences`, else
//!   `invalid_target`; none asked for gives the client's usual audience.
//! - Scope: the subject token's ∩ the client's ∩ the requested; a requested scope outside
//!   the first two is `invalid_scope` (never wider). A subject token without `scope` (an
//!   ID token, a platform JWT) limits nothing beyond the client's.
//! - The new token lives no longer than the subject token; no refresh token.

use serde::{Deserialize, Serialize};

use crate::oauth::OAuthError;
use crate::oauth::client::{Client, Credential};
use crate::oauth::form::Form;
use crate::oauth::scope::Scopes;

/// The grant type.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 §3: an OAuth 2.0 access token.
pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// RFC 8693 §3: an OpenID Connect ID token.
pub const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
/// RFC 8693 §3: a JWT.
pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// Deepest `act` nesting accepted (the actors before this one plus this one).
pub const MAX_ACT_DEPTH: usize = 5;

/// A token type this grant understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    /// `…:access_token`.
    AccessToken,
    /// `…:id_token`.
    IdToken,
    /// `…:jwt`.
    Jwt,
}

impl TokenType {
    fn parse(name: &str, param: &str) -> Result<Self, OAuthError> {
        match name {
            ACCESS_TOKEN => Ok(Self::AccessToken),
            ID_TOKEN => Ok(Self::IdToken),
            JWT => Ok(Self::Jwt),
            other => Err(OAuthError::invalid_request(format!(
                "{param} {:?} is not supported (use {ACCESS_TOKEN}, {ID_TOKEN} or {JWT})",
                other.chars().take(80).collect::<String>()
            ))),
        }
    }

    /// The URN.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => ACCESS_TOKEN,
            Self::IdToken => ID_TOKEN,
            Self::Jwt => JWT,
        }
    }
}

/// The grant's parameters (RFC 8693 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The token of the party the new token is for.
    pub subject_token: String,
    /// Its type.
    pub subject_token_type: TokenType,
    /// The acting party's token and its type.
    pub actor_token: Option<(String, TokenType)>,
    /// `access_token` (the default) or `jwt`: both are an RFC 9068 access token.
    pub requested_token_type: TokenType,
    /// `audience` and `resource` values, together.
    pub targets: Vec<String>,
    /// `scope`, when given.
    pub scope: Option<Scopes>,
}

/// Reads the parameters (`audience` and `resource` may repeat).
pub fn parse(form: &Form) -> Result<Request, OAuthError> {
    let required = |name: &str| {
        form.get(name)
            .map(str::to_owned)
            .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
    };
    let subject_token = required("subject_token")?;
    let subject_token_type =
        TokenType::parse(&required("subject_token_type")?, "subject_token_type")?;
    let actor_token = match (form.get("actor_token"), form.get("actor_token_type")) {
        (None, None) => None,
        (Some(t), Some(ty)) => Some((t.to_owned(), TokenType::parse(ty, "actor_token_type")?)),
        _ => {
            return Err(OAuthError::invalid_request(
                "actor_token and actor_token_type come together",
            ));
        }
    };
    let requested_token_type = match form.get("requested_token_type") {
        None => TokenType::AccessToken,
        Some(t) => match TokenType::parse(t, "requested_token_type")? {
            TokenType::IdToken => {
                return Err(OAuthError::invalid_request(
                    "requested_token_type id_token is not issued by token exchange; ask for access_token or jwt",
                ));
            }
            other => other,
        },
    };
    let mut targets: Vec<String> = form.get_all("audience").to_vec();
    targets.extend(form.get_all("resource").iter().cloned());
    Ok(Request {
        subject_token,
        subject_token_type,
        actor_token,
        requested_token_type,
        targets,
        scope: form.get("scope").map(Scopes::parse).transpose()?,
    })
}

/// A client's token-exchange policy, as registered (`token_exchange = { … }`).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangePolicy {
    /// Audiences (and RFC 8707 resources) the client may ask tokens for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// Clients whose tokens it may exchange even when their `aud` does not name it
    /// (`"*"`: any client's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_clients: Vec<String>,
    /// Trusted issuers whose JWTs it may exchange (or act with).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issuers: Vec<String>,
}

/// A verified subject or actor token.
#[derive(Debug, Clone, PartialEq)]
pub struct Party {
    /// `sub`.
    pub subject: String,
    /// `iss`.
    pub issuer: String,
    /// Whether ahdapa issued it (else a trusted issuer did).
    pub ours: bool,
    /// Its scope, when it carries one.
    pub scope: Option<Scopes>,
    /// Its `act` (earlier actors).
    pub act: Option<serde_json::Value>,
    /// Its `may_act`.
    pub may_act: Option<serde_json::Value>,
    /// `aud`.
    pub audiences: Vec<String>,
    /// `client_id` (ahdapa's tokens) or `azp` (ID tokens).
    pub client_id: Option<String>,
    /// `exp`.
    pub expires_at: u64,
}

impl Party {
    /// Reads the claims of a verified token.
    pub fn from_claims(
        claims: &serde_json::Map<String, serde_json::Value>,
        ours: bool,
    ) -> Result<Self, OAuthError> {
        let text = |n: &str| claims.get(n).and_then(|v| v.as_str()).map(str::to_owned);
        let audiences = match claims.get("aud") {
            Some(serde_json::Value::String(a)) => vec![a.clone()],
            Some(serde_json::Value::Array(list)) => list
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Self {
            subject: text("sub")
                .filter(|s| !s.is_empty())
                .ok_or_else(|| OAuthError::invalid_request("the token has no sub"))?,
            issuer: text("iss").unwrap_or_default(),
            ours,
            scope: text("scope").map(|s| Scopes::parse(&s)).transpose()?,
            act: claims.get("act").cloned(),
            may_act: claims.get("may_act").cloned(),
            audiences,
            client_id: text("client_id").or_else(|| text("azp")),
            expires_at: claims.get("exp").and_then(|e| e.as_u64()).unwrap_or(0),
        })
    }
}

/// What the exchange grants.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchanged {
    /// The new token's `sub`.
    pub subject: String,
    /// The scope.
    pub scope: Scopes,
    /// `act`.
    pub act: serde_json::Value,
    /// The audiences asked for (empty: the client's usual ones).
    pub audiences: Vec<String>,
    /// The new token expires no later than this.
    pub not_after: u64,
}

/// The client's rules for an exchange of `subject` by `actor` (`None`: the client acts
/// itself, as `client_subject`, under ahdapa's `own_issuer`).
pub fn authorize(
    client: &Client,
    (client_subject, own_issuer): (&str, &str),
    request: &Request,
    subject: &Party,
    actor: Option<&Party>,
) -> Result<Exchanged, OAuthError> {
    if matches!(client.credential, Credential::Public) {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot exchange tokens",
        ));
    }
    super::check_registered(client, super::GrantType::TokenExchange)?;
    let empty = ExchangePolicy::default();
    let policy = client.token_exchange.as_ref().unwrap_or(&empty);
    match subject.ours {
        true => {
            let named = subject.audiences.iter().any(|a| a == &client.client_id);
            let allowed = subject
                .client_id
                .as_ref()
                .is_some_and(|c| policy.from_clients.iter().any(|f| f == c || f == "*"));
            if !named && !allowed {
                return Err(OAuthError::invalid_request(format!(
                    "the subject_token's aud does not name {} and its client {:?} is not in token_exchange.from_clients",
                    client.client_id,
                    subject.client_id.as_deref().unwrap_or("?")
                )));
            }
        }
        false if !policy.issuers.contains(&subject.issuer) => {
            return Err(OAuthError::invalid_request(format!(
                "tokens of {} are not in this client's token_exchange.issuers",
                subject.issuer
            )));
        }
        false => {}
    }
    if let Some(a) = actor
        && !a.ours
        && !policy.issuers.contains(&a.issuer)
    {
        return Err(OAuthError::invalid_request(format!(
            "actor tokens of {} are not in this client's token_exchange.issuers",
            a.issuer
        )));
    }
    for t in &request.targets {
        if !policy.audiences.contains(t) {
            return Err(OAuthError::invalid_target(format!(
                "{:?} is not an audience this client may exchange tokens for (token_exchange.audiences)",
                t.chars().take(80).collect::<String>()
            )));
        }
    }
    // Never wider: what the subject holds and the client may have, narrowed again.
    let allowed = match &subject.scope {
        Some(held) => Scopes::grant(&client.scopes, Some(held)).map_err(|_| {
            OAuthError::invalid_scope(format!(
                "the subject token's scope {:?} shares nothing with this client's",
                held.to_scope_string()
            ))
        })?,
        None => client.scopes.clone(),
    };
    let scope = match &request.scope {
        None => allowed,
        Some(asked) => {
            if let Some(wider) = asked
                .tokens()
                .iter()
                .find(|s| !allowed.tokens().contains(s))
            {
                return Err(OAuthError::invalid_scope(format!(
                    "scope {wider:?} is wider than the subject token's and this client's"
                )));
            }
            asked.clone()
        }
    };
    if scope.is_empty() {
        return Err(OAuthError::invalid_scope(
            "the subject token and this client share no scope",
        ));
    }
    let (actor_sub, actor_iss) = match actor {
        Some(a) => (a.subject.as_str(), a.issuer.as_str()),
        None => (client_subject, own_issuer),
    };
    if let Some(may) = &subject.may_act {
        let sub_ok = may.get("sub").and_then(|s| s.as_str()) == Some(actor_sub);
        let iss_ok = may
            .get("iss")
            .and_then(|s| s.as_str())
            .is_none_or(|i| i == actor_iss);
        if !sub_ok || !iss_ok {
            return Err(OAuthError::invalid_request(format!(
                "the subject_token's may_act does not name the actor {actor_sub:?}"
            )));
        }
    }
    let mut act = serde_json::Map::new();
    act.insert("sub".into(), actor_sub.into());
    if actor_iss != own_issuer {
        act.insert("iss".into(), actor_iss.into());
    }
    if let Some(prior) = &subject.act {
        if depth(prior) >= MAX_ACT_DEPTH {
            return Err(OAuthError::invalid_request(format!(
                "the subject_token has been exchanged {MAX_ACT_DEPTH} times already"
            )));
        }
        act.insert("act".into(), prior.clone());
    }
    Ok(Exchanged {
        subject: subject.subject.clone(),
        scope,
        act: serde_json::Value::Object(act),
        audiences: request.targets.clone(),
        not_after: subject.expires_at,
    })
}

/// How many actors an `act` chain names.
fn depth(act: &serde_json::Value) -> usize {
    let mut n = 0;
    let mut at = Some(act);
    while let Some(a) = at {
        n += 1;
        at = a.get("act");
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::client::{ClientRegistration, ClientSource, TokenEndpointAuthMethod};
    use crate::oauth::grant::GrantType;
    use serde_json::json;

    fn client(policy: Option<ExchangePolicy>) -> Client {
        Client::from_registration(
            &ClientRegistration {
                client_id: "orders".into(),
                token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
                client_secret_hash: Some(
                    "sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
                ),
                scopes: vec![
                    "orders.read".into(),
                    "orders.write".into(),
                    "billing".into(),
                ],
                grant_types: Some(vec![GrantType::TokenExchange]),
                token_exchange: policy,
                ..Default::default()
            },
            ClientSource::Config,
            None,
        )
        .unwrap()
    }

    fn person(extra: serde_json::Value) -> Party {
        let mut c = json!({"iss": "https://idp.test", "sub": "alice@TEST.REALM", "aud": "orders", "client_id": "web",
            "scope": "openid orders.read orders.write", "exp": 2_000});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        Party::from_claims(c.as_object().unwrap(), true).unwrap()
    }

    fn request(body: &str) -> Request {
        let form = Form::parse_with_repeatable(
            format!("subject_token=t&subject_token_type={ACCESS_TOKEN}&{body}").as_bytes(),
            &["audience", "resource"],
        )
        .unwrap();
        parse(&form).unwrap()
    }

    #[test]
    fn narrows_and_names_the_client_as_actor() {
        let c = client(Some(ExchangePolicy {
            audiences: vec!["https://billing.internal".into()],
            ..Default::default()
        }));
        let x = authorize(
            &c,
            ("orders", "https://idp.test"),
            &request("scope=orders.read&audience=https://billing.internal"),
            &person(json!({})),
            None,
        )
        .unwrap();
        assert_eq!(x.subject, "alice@TEST.REALM");
        assert_eq!(x.scope.to_scope_string(), "orders.read");
        assert_eq!(x.act, json!({"sub": "orders"}));
        assert_eq!(x.not_after, 2_000);
        // No scope asked: what both hold.
        let x = authorize(
            &c,
            ("orders", "https://idp.test"),
            &request(""),
            &person(json!({})),
            None,
        )
        .unwrap();
        assert_eq!(x.scope.to_scope_string(), "orders.read orders.write");
    }

    #[test]
    fn refuses_widening_foreign_audiences_and_tokens_not_meant_for_it() {
        let c = client(None);
        let code = |body: &str, subject: Party| {
            authorize(
                &c,
                ("orders", "https://idp.test"),
                &request(body),
                &subject,
                None,
            )
            .unwrap_err()
            .code()
        };
        assert_eq!(code("scope=billing", person(json!({}))), "invalid_scope");
        assert_eq!(
            code("", person(json!({"scope": "unrelated"}))),
            "invalid_scope",
            "a subject scope the client lacks is not replaced by the client's"
        );
        assert_eq!(
            code("resource=https://elsewhere.test", person(json!({}))),
            "invalid_target"
        );
        assert_eq!(code("", person(json!({"aud": "web"}))), "invalid_request");
        let allowed = client(Some(ExchangePolicy {
            from_clients: vec!["web".into()],
            ..Default::default()
        }));
        assert!(
            authorize(
                &allowed,
                ("orders", "https://idp.test"),
                &request(""),
                &person(json!({"aud": "web"})),
                None
            )
            .is_ok()
        );
    }

    #[test]
    fn nests_act_honours_may_act_and_caps_the_depth() {
        let c = client(None);
        let hop = person(json!({"act": {"sub": "web"}}));
        let x = authorize(&c, ("orders", "https://idp.test"), &request(""), &hop, None).unwrap();
        assert_eq!(x.act, json!({"sub": "orders", "act": {"sub": "web"}}));
        let may = person(json!({"may_act": {"sub": "someone-else"}}));
        assert_eq!(
            authorize(&c, ("orders", "https://idp.test"), &request(""), &may, None)
                .unwrap_err()
                .code(),
            "invalid_request"
        );
        let may = person(json!({"may_act": {"sub": "orders"}}));
        assert!(authorize(&c, ("orders", "https://idp.test"), &request(""), &may, None).is_ok());
        let mut deep = json!({"sub": "a"});
        for _ in 0..MAX_ACT_DEPTH {
            deep = json!({"sub": "a", "act": deep});
        }
        let x = authorize(
            &c,
            ("orders", "https://idp.test"),
            &request(""),
            &person(json!({"act": deep})),
            None,
        );
        assert!(x.unwrap_err().log_reason().contains("exchanged"));
    }

    #[test]
    fn parses_repeated_targets_and_refuses_unknown_types() {
        let r = request("audience=a&audience=b&resource=https://c");
        assert_eq!(r.targets, ["a", "b", "https://c"]);
        let bad = |body: &str| {
            parse(&Form::parse(body.as_bytes()).unwrap())
                .unwrap_err()
                .code()
        };
        assert_eq!(
            bad(&format!("subject_token_type={ACCESS_TOKEN}")),
            "invalid_request"
        );
        assert_eq!(
            bad("subject_token=t&subject_token_type=urn:x"),
            "invalid_request"
        );
        assert_eq!(
            bad(&format!(
                "subject_token=t&subject_token_type={ACCESS_TOKEN}&actor_token=a"
            )),
            "invalid_request"
        );
    }
}
