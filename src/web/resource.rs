//! The resource-server side of our own tokens, for every protected endpoint ahdapa
//! serves (identity API, admin API): RFC 6750 Bearer and RFC 9449 DPoP.
//!
//! A request is authorized when its access token verifies (our key, our issuer, not
//! expired, not revoked), carries the required scope, and its binding holds:
//! - `cnf.jkt` (DPoP-bound): presented as `Authorization: DPoP <token>` with a `DPoP`
//!   proof for this method and URL whose key thumbprint is `cnf.jkt` and whose `ath` is
//!   the token's hash; a bound token presented as Bearer is refused;
//! - `cnf.x5t#S256` (certificate-bound): only over a connection (or trusted proxy header)
//!   with that client certificate.
//!
//! Refusals carry RFC 6750 §3 / RFC 9449 §7.1 challenges: 401 `invalid_token` (or no
//! error code when no token was sent), 403 `insufficient_scope`, 400 `invalid_request`.

use http::header::AUTHORIZATION;
use http::{HeaderValue, StatusCode};

use super::Response;
use super::error::{Challenge, challenge, json_error};
use crate::oauth::client_auth::tls_client_auth::PresentedCertificate;
use crate::service::Service;
use crate::token::dpop;

/// The authorized caller of a protected endpoint.
#[derive(Debug, Clone)]
pub struct AccessContext {
    /// The verified token's claims.
    pub claims: std::sync::Arc<serde_json::Map<String, serde_json::Value>>,
}

impl AccessContext {
    /// The token's `sub`.
    pub fn subject(&self) -> &str {
        self.claims
            .get("sub")
            .and_then(|s| s.as_str())
            .unwrap_or_default()
    }

    /// The token's `client_id`.
    pub fn client_id(&self) -> &str {
        self.claims
            .get("client_id")
            .and_then(|s| s.as_str())
            .unwrap_or_default()
    }
}

/// Why a protected request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceError {
    /// No token at all: 401 with bare challenges.
    MissingToken,
    /// The token or its binding is not acceptable: 401 `invalid_token`.
    InvalidToken(String),
    /// A DPoP proof is wrong: 401 `invalid_dpop_proof`.
    InvalidDpopProof(String),
    /// The token lacks the scope: 403 `insufficient_scope`.
    InsufficientScope(&'static str),
    /// The request is malformed (two Authorization headers, ...): 400.
    InvalidRequest(String),
    /// The store is down: 503.
    Unavailable(String),
}

/// Checks the request's token for `scope`. `url` is the full request URL (for `htu`).
pub async fn authorize(
    service: &Service,
    parts: &http::request::Parts,
    url: &str,
    scope: &'static str,
    certificate: Option<&PresentedCertificate>,
) -> Result<AccessContext, ResourceError> {
    let values: Vec<&HeaderValue> = parts.headers.get_all(AUTHORIZATION).iter().collect();
    let header = match values.as_slice() {
        [] => return Err(ResourceError::MissingToken),
        [one] => one
            .to_str()
            .map_err(|_| ResourceError::InvalidRequest("Authorization is not ASCII".into()))?,
        _ => {
            return Err(ResourceError::InvalidRequest(
                "more than one Authorization header".into(),
            ));
        }
    };
    let (scheme, token) = header.split_once(' ').ok_or(ResourceError::MissingToken)?;
    let token = token.trim();
    let dpop_scheme = if scheme.eq_ignore_ascii_case("dpop") {
        true
    } else if scheme.eq_ignore_ascii_case("bearer") {
        false
    } else {
        return Err(ResourceError::MissingToken);
    };
    let now = crate::clock::now_unix();
    let claims = service
        .verify_access_token(token, now)
        .await
        .map_err(|e| match e {
            crate::service::TokenRefusal::Invalid(m) => ResourceError::InvalidToken(m),
            crate::service::TokenRefusal::Unavailable(m) => ResourceError::Unavailable(m),
        })?;
    let cnf = claims.get("cnf");
    match (
        cnf.and_then(|c| c.get("jkt")).and_then(|j| j.as_str()),
        dpop_scheme,
    ) {
        (Some(_), false) => {
            return Err(ResourceError::InvalidToken(
                "a DPoP-bound token must be presented with the DPoP scheme".into(),
            ));
        }
        (None, true) => return Err(ResourceError::InvalidToken("not a DPoP-bound token".into())),
        (Some(jkt), true) => {
            let proofs: Vec<&HeaderValue> = parts.headers.get_all("dpop").iter().collect();
            let proof = match proofs.as_slice() {
                [one] => one.to_str().map_err(|_| {
                    ResourceError::InvalidDpopProof("DPoP header is not ASCII".into())
                })?,
                [] => return Err(ResourceError::InvalidDpopProof("DPoP proof missing".into())),
                _ => {
                    return Err(ResourceError::InvalidDpopProof(
                        "more than one DPoP header".into(),
                    ));
                }
            };
            let target = dpop::ProofTarget {
                htm: parts.method.as_str(),
                htu: url,
                access_token: Some(token),
            };
            let verified = service
                .verify_resource_proof(proof, target, now)
                .await
                .map_err(|e| match e {
                    crate::oauth::OAuthError::TemporarilyUnavailable { reason } => {
                        ResourceError::Unavailable(reason.into())
                    }
                    other => ResourceError::InvalidDpopProof(other.log_reason().to_owned()),
                })?;
            if verified != jkt {
                return Err(ResourceError::InvalidDpopProof(
                    "the proof key is not the token's cnf.jkt".into(),
                ));
            }
        }
        (None, false) => {}
    }
    if let Some(x5t) = cnf.and_then(|c| c.get("x5t#S256")).and_then(|x| x.as_str())
        && certificate.map(|c| c.x5t_s256()).as_deref() != Some(x5t)
    {
        return Err(ResourceError::InvalidToken(
            "certificate-bound token without its certificate".into(),
        ));
    }
    let granted = claims
        .get("scope")
        .and_then(|s| s.as_str())
        .unwrap_or_default();
    if !granted.split(' ').any(|s| s == scope) {
        return Err(ResourceError::InsufficientScope(scope));
    }
    Ok(AccessContext { claims })
}

/// Renders a refusal with its challenges.
pub fn refusal(err: &ResourceError, realm: &str) -> Response {
    let algs = dpop::ALLOWED_ALGS.join(" ");
    let (status, code, description, error_param) = match err {
        ResourceError::MissingToken => (
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "an access token is required".to_owned(),
            None,
        ),
        ResourceError::InvalidToken(d) => (
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            d.clone(),
            Some("invalid_token"),
        ),
        ResourceError::InvalidDpopProof(d) => (
            StatusCode::UNAUTHORIZED,
            "invalid_dpop_proof",
            d.clone(),
            Some("invalid_dpop_proof"),
        ),
        ResourceError::InsufficientScope(s) => (
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("the {s} scope is required"),
            Some("insufficient_scope"),
        ),
        ResourceError::InvalidRequest(d) => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            d.clone(),
            Some("invalid_request"),
        ),
        ResourceError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "try again later".to_owned(),
            None,
        ),
    };
    let mut resp = json_error(status, code, Some(&description));
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        let error = error_param;
        let realm_opt = Some(realm);
        challenge(
            &mut resp,
            Challenge::Bearer {
                realm: realm_opt,
                error,
            },
        );
        let algs = algs.as_str();
        challenge(&mut resp, Challenge::Dpop { realm, error, algs });
    }
    resp
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use aws_lc_rs::digest;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    use serde_json::json;

    use super::*;
    use crate::config;
    use crate::oauth::client_auth::Authorization;
    use crate::oauth::secret::{ClientSecret, SecretHash};
    use crate::store::sqlite::SqliteStore;
    use crate::token::seal::MasterKey;

    const URL: &str = "https://idp.test/api/identity/users";

    async fn service() -> Arc<Service> {
        let hash = SecretHash::of(&ClientSecret::new("pw".into())).to_stored();
        let text = format!(
            "issuer = \"https://idp.test\"\n[server]\ninsecure_http = true\n[[clients]]\nclient_id = \"rs\"\n\
             token_endpoint_auth_method = \"client_secret_basic\"\nclient_secret_hash = \"{hash}\"\n\
             scopes = [\"directory.read\", \"other\"]\n"
        );
        let cfg = config::parse(&text).unwrap();
        let store = Arc::new(SqliteStore::open_in_memory().unwrap());
        let master =
            MasterKey::from_bytes(&MasterKey::generate_bytes(&SystemRandom::new()).unwrap())
                .unwrap();
        Service::with_store(&cfg, store, master).await.unwrap()
    }

    struct Key {
        pkcs8: Vec<u8>,
        jwk: serde_json::Value,
    }

    fn key() -> Key {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
        Key {
            pkcs8: doc.as_ref().to_vec(),
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())}),
        }
    }

    fn proof(k: &Key, htm: &str, htu: &str, token: Option<&str>, jti: &str) -> String {
        let mut h = Header::new(Algorithm::EdDSA);
        h.typ = Some("dpop+jwt".into());
        h.jwk = Some(serde_json::from_value(k.jwk.clone()).unwrap());
        let mut c = json!({"jti": jti, "htm": htm, "htu": htu, "iat": crate::clock::now_unix()});
        if let Some(t) = token {
            c["ath"] = json!(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, t.as_bytes())));
        }
        encode(&h, &c, &EncodingKey::from_ed_der(&k.pkcs8)).unwrap()
    }

    async fn token(s: &Service, scope: &str, dpop: Option<&str>) -> String {
        let auth = format!("Basic {}", STANDARD.encode("rs:pw"));
        let body = format!("grant_type=client_credentials&scope={scope}");
        s.token(
            Some(Authorization::parse(&auth)),
            body.as_bytes(),
            None,
            dpop,
        )
        .await
        .unwrap()
        .response
        .access_token
    }

    fn parts(headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder()
            .method("GET")
            .uri("/api/identity/users");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    async fn check(s: &Service, headers: &[(&str, &str)]) -> Result<AccessContext, ResourceError> {
        authorize(s, &parts(headers), URL, "directory.read", None).await
    }

    #[tokio::test]
    async fn bearer_token_with_scope_is_authorized() {
        let s = service().await;
        let t = token(&s, "directory.read", None).await;
        let ctx = check(&s, &[("authorization", &format!("Bearer {t}"))])
            .await
            .unwrap();
        assert_eq!((ctx.subject(), ctx.client_id()), ("rs", "rs"));
    }

    #[tokio::test]
    async fn missing_garbage_and_wrong_scope_are_refused() {
        let s = service().await;
        assert_eq!(
            check(&s, &[]).await.unwrap_err(),
            ResourceError::MissingToken
        );
        assert!(matches!(
            check(&s, &[("authorization", "Bearer garbage")]).await,
            Err(ResourceError::InvalidToken(_))
        ));
        let t = token(&s, "other", None).await;
        assert_eq!(
            check(&s, &[("authorization", &format!("Bearer {t}"))])
                .await
                .unwrap_err(),
            ResourceError::InsufficientScope("directory.read")
        );
    }

    #[tokio::test]
    async fn dpop_bound_token_needs_its_proof_and_never_works_as_bearer() {
        let s = service().await;
        let k = key();
        let t = token(
            &s,
            "directory.read",
            Some(&proof(&k, "POST", "https://idp.test/token", None, "t1")),
        )
        .await;
        let auth = format!("DPoP {t}");
        assert!(matches!(
            check(&s, &[("authorization", &format!("Bearer {t}"))]).await,
            Err(ResourceError::InvalidToken(_))
        ));
        assert!(matches!(
            check(&s, &[("authorization", &auth)]).await,
            Err(ResourceError::InvalidDpopProof(_))
        ));
        let good = proof(&k, "GET", URL, Some(&t), "r1");
        assert!(
            check(&s, &[("authorization", &auth), ("dpop", &good)])
                .await
                .is_ok()
        );
        // Replayed proof, another key, wrong ath, wrong method.
        assert!(matches!(
            check(&s, &[("authorization", &auth), ("dpop", &good)]).await,
            Err(ResourceError::InvalidDpopProof(_))
        ));
        let other = proof(&key(), "GET", URL, Some(&t), "r2");
        assert!(matches!(
            check(&s, &[("authorization", &auth), ("dpop", &other)]).await,
            Err(ResourceError::InvalidDpopProof(_))
        ));
        let no_ath = proof(&k, "GET", URL, Some("another token"), "r3");
        assert!(matches!(
            check(&s, &[("authorization", &auth), ("dpop", &no_ath)]).await,
            Err(ResourceError::InvalidDpopProof(_))
        ));
        let post = proof(&k, "POST", URL, Some(&t), "r4");
        assert!(matches!(
            check(&s, &[("authorization", &auth), ("dpop", &post)]).await,
            Err(ResourceError::InvalidDpopProof(_))
        ));
    }

    #[tokio::test]
    async fn revoked_token_is_refused() {
        let s = service().await;
        let t = token(&s, "directory.read", None).await;
        let auth = format!("Basic {}", STANDARD.encode("rs:pw"));
        s.revoke(
            Some(Authorization::parse(&auth)),
            format!("token={t}").as_bytes(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(
            check(&s, &[("authorization", &format!("Bearer {t}"))])
                .await
                .unwrap_err(),
            ResourceError::InvalidToken("revoked".into())
        );
    }

    #[test]
    fn refusals_carry_bearer_and_dpop_challenges() {
        let r = refusal(&ResourceError::InvalidToken("x".into()), "https://idp.test");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenges: Vec<_> = r
            .headers()
            .get_all(http::header::WWW_AUTHENTICATE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert!(
            challenges[0].starts_with("Bearer realm=\"https://idp.test\", error=\"invalid_token\"")
        );
        assert!(challenges[1].starts_with("DPoP ") && challenges[1].contains("algs=\"ES256"));
        assert_eq!(
            refusal(&ResourceError::InsufficientScope("s"), "r").status(),
            StatusCode::FORBIDDEN
        );
        let missing = refusal(&ResourceError::MissingToken, "r");
        assert!(
            !missing.headers()[http::header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .contains("error=")
        );
    }
}
