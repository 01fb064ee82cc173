//! Offline-minted service tokens: a client that registered `offline_tokens = true` signs
//! a short JWT itself, with its private_key_jwt key, and calls a resource server with it
//! without asking ahdapa first. The resource server checks it at `/introspect`, as it
//! checks ahdapa's own tokens.
//!
//! Accepted when: `iss` = `sub` = a registered, enabled private_key_jwt client with
//! `offline_tokens`; the signature verifies with that client's keys (inline or
//! `jwks_uri`); `aud` names the introspecting client; `exp` is present, not past, and at
//! most [`MAX_LIFETIME_SECS`] after `iat` (or now); `iat`/`nbf` not ahead. The answer
//! has `active`, `iss` = `sub` = `client_id` = the signer, `aud`, `exp`, `iat` and
//! `token_use = "offline"`.
//!
//! Limits (README): nothing records such a token, so it cannot be revoked before its
//! `exp` (disabling the client or removing its key ends all of them) and may be replayed
//! until then; keep lifetimes short.

use crate::oauth::client::{Client, Credential, JwksSource};
use crate::oauth::client_auth::jwt_assertion::{AssertionKey, KeyLookupError, verify_with_keys};
use crate::oauth::error::OAuthError;
use crate::oauth::federation::LEEWAY_SECS;
use crate::oauth::token_endpoint::Context;

/// The longest lifetime accepted (`exp − iat`).
pub const MAX_LIFETIME_SECS: u64 = 3600;

/// The introspection answer for `token` if it is an offline-minted token the `caller`
/// may see; `None` when it is not (the caller then answers `active: false`).
pub async fn introspect(
    token: &str,
    caller: &Client,
    ctx: &Context<'_>,
) -> Result<Option<serde_json::Value>, OAuthError> {
    let Some(signer_id) = crate::oauth::federation::claimed_issuer(token) else {
        return Ok(None);
    };
    let Some(signer) = ctx.registry.get(&signer_id) else {
        return Ok(None);
    };
    if !signer.offline_tokens {
        return Ok(None);
    }
    let Ok(jws) = crate::token::jws::split(token) else {
        return Ok(None);
    };
    let claims: serde_json::Map<String, serde_json::Value> = match &signer.credential {
        Credential::PrivateKeyJwt(JwksSource::Inline(keys)) => match verify_with_keys(&jws, keys) {
            Ok(c) => c,
            Err(_) => return Ok(None),
        },
        Credential::PrivateKeyJwt(JwksSource::Uri { uri, trusted }) => {
            let verify = |keys: &[AssertionKey]| verify_with_keys(&jws, keys);
            let keys = ctx.client_keys.keys(uri, *trusted, false, ctx.now).await?;
            match verify(&keys) {
                Ok(c) => c,
                Err(KeyLookupError::NoKey { .. }) => {
                    let keys = ctx.client_keys.keys(uri, *trusted, true, ctx.now).await?;
                    match verify(&keys) {
                        Ok(c) => c,
                        Err(_) => return Ok(None),
                    }
                }
                Err(_) => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    Ok(check(claims, &signer_id, caller, ctx.now))
}

fn check(
    mut claims: serde_json::Map<String, serde_json::Value>,
    signer: &str,
    caller: &Client,
    now: u64,
) -> Option<serde_json::Value> {
    let text = |n: &str| claims.get(n).and_then(|v| v.as_str());
    if text("iss") != Some(signer) || text("sub") != Some(signer) {
        return None;
    }
    let for_caller = match claims.get("aud") {
        Some(serde_json::Value::String(a)) => a == &caller.client_id,
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .any(|a| a.as_str() == Some(caller.client_id.as_str())),
        _ => false,
    };
    let time = |n: &str| claims.get(n).and_then(serde_json::Value::as_u64);
    let exp = time("exp")?;
    let ahead = now.saturating_add(LEEWAY_SECS);
    let fresh = exp > now
        && exp.saturating_sub(time("iat").unwrap_or(now)) <= MAX_LIFETIME_SECS
        && time("iat").is_none_or(|t| t <= ahead)
        && time("nbf").is_none_or(|t| t <= ahead);
    if !for_caller || !fresh {
        return None;
    }
    claims.insert("active".into(), true.into());
    claims.insert("client_id".into(), signer.into());
    claims.insert("token_type".into(), "Bearer".into());
    claims.insert("token_use".into(), "offline".into());
    Some(serde_json::Value::Object(claims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::client::{ClientRegistration, ClientSource, TokenEndpointAuthMethod};
    use serde_json::json;

    fn rs() -> Client {
        Client::from_registration(
            &ClientRegistration {
                client_id: "orders-api".into(),
                client_secret_hash: Some(
                    "sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
                ),
                token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
                scopes: vec!["s".into()],
                ..Default::default()
            },
            ClientSource::Config,
            None,
        )
        .unwrap()
    }

    #[test]
    fn names_the_signer_and_refuses_other_audiences_and_long_lives() {
        let now = 1_000_000;
        let c = |extra: serde_json::Value| {
            let mut c = json!({"iss": "billing", "sub": "billing", "aud": "orders-api",
                "iat": now, "exp": now + 300});
            for (k, v) in extra.as_object().unwrap() {
                c[k] = v.clone();
            }
            c.as_object().unwrap().clone()
        };
        let ok = check(c(json!({})), "billing", &rs(), now).unwrap();
        assert_eq!(
            (
                ok["active"].clone(),
                ok["client_id"].clone(),
                ok["token_use"].clone()
            ),
            (json!(true), json!("billing"), json!("offline"))
        );
        for bad in [
            json!({"aud": "someone-else"}),
            json!({"sub": "other"}),
            json!({"exp": now - 1}),
            json!({"exp": now + 7200}),
            json!({"nbf": now + 600}),
        ] {
            assert!(
                check(c(bad.clone()), "billing", &rs(), now).is_none(),
                "{bad}"
            );
        }
    }
}
