//! RFC 9068 JWT access tokens: the claims, and compact JWS serialisation.
//!
//! Header: `{"alg", "typ": "at+jwt", "kid"}` (RFC 9068 §2.1). Claims: `iss`, `exp`,
//! `aud`, `sub`, `client_id`, `iat`, `jti` (§2.2), `scope` (§2.2.3), and `cnf` when the
//! token is sender-constrained (RFC 9449 / RFC 8705).

use aws_lc_rs::rand::SecureRandom;
use serde::Serialize;

use super::keys::{KeySet, SigningAlgorithm};
use super::signer::{SignError, Signer, Typ};

/// The claims of an access token.
#[derive(Debug, Clone, Serialize)]
pub struct AccessTokenClaims<'a> {
    /// The issuer URL.
    pub iss: &'a str,
    /// The subject: the client_id, or the machine principal for Kerberos templates.
    pub sub: &'a str,
    /// The audiences: one string when there is one, else an array (RFC 7519 §4.1.3).
    pub aud: Audience<'a>,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued-at, seconds since the epoch.
    pub iat: u64,
    /// Unique token id.
    pub jti: &'a str,
    /// The client the token was issued to.
    pub client_id: &'a str,
    /// Space-delimited granted scopes.
    pub scope: &'a str,
    /// The Kerberos principal that authenticated (kerberos_client_auth only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub krb5_principal: Option<&'a str>,
    /// The host of a `host/FQDN@REALM` principal (kerberos_client_auth only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<&'a str>,
    /// Proof-of-possession confirmation (RFC 7800), when the token is bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation<'a>>,
    /// Further claims (from a directory entry: `fqdn`, `hostgroups`, `groups`); they
    /// never replace the registered claims above.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

/// The `cnf` claim (RFC 7800): RFC 8705 §3.1 certificate thumbprint and/or RFC 9449 §6.1
/// DPoP key thumbprint.
#[derive(Debug, Clone, Serialize)]
pub struct Confirmation<'a> {
    /// base64url(SHA-256(client certificate DER)).
    #[serde(rename = "x5t#S256", skip_serializing_if = "Option::is_none")]
    pub x5t_s256: Option<&'a str>,
    /// RFC 7638 thumbprint of the DPoP proof key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jkt: Option<&'a str>,
}

/// `aud` as RFC 7519 allows: a single string or an array.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Audience<'a> {
    /// Exactly one audience.
    One(&'a str),
    /// Several audiences.
    Many(&'a [String]),
}

impl<'a> Audience<'a> {
    /// The most compact form of a list of audiences.
    pub fn of(list: &'a [String]) -> Self {
        match list {
            [one] => Self::One(one),
            many => Self::Many(many),
        }
    }
}

/// Signs the claims into a compact JWS with `signer` (a server key, or an HS256 client's
/// secret).
pub fn mint(
    signer: Signer<'_>,
    claims: &AccessTokenClaims<'_>,
    rng: &dyn SecureRandom,
) -> Result<String, SignError> {
    signer.compact(Typ::AccessToken, claims, rng)
}

/// Why one of our own access tokens was refused (logged, and the resource server's
/// `error_description`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a compact JWS.
    #[error("not a JWS: {0}")]
    NotJws(String),
    /// `typ` is not `at+jwt` (RFC 9068 §2.1).
    #[error("typ is not at+jwt (JWT for an ID token)")]
    Typ,
    /// No `kid`.
    #[error("no kid")]
    NoKid,
    /// The `kid` is none of the published keys.
    #[error("kid is not one of our keys")]
    UnknownKid,
    /// `alg` is not the key's algorithm.
    #[error("alg does not match the key")]
    Algorithm,
    /// The published key could not be used (a bug on our side).
    #[error("{0}")]
    Key(String),
    /// The signature does not verify.
    #[error("signature: {0}")]
    Signature(String),
    /// `iss` is not this issuer.
    #[error("iss is not this issuer")]
    Issuer,
    /// HS256 where no client's secret may check it, or of another client.
    #[error("an HS256 token is accepted only from the client it was issued to")]
    ClientSigned,
    /// No `exp`.
    #[error("no exp")]
    NoExp,
    /// `exp` has passed.
    #[error("expired")]
    Expired,
}

/// The one client whose HS256 tokens a check accepts (`token_signing = "HS256"`): the
/// caller at `/introspect` and `/revoke`, the client of a sign-in or sign-out. Its
/// tokens must name it (`client_id` of an access token, `aud` of an ID token): the
/// client holds the key, so it could sign anything, and nothing it signed may pass for
/// another client's token. Nowhere else is an HS256 token accepted.
#[derive(Debug, Clone, Copy)]
pub struct ClientKey<'a> {
    /// The client_id the token must name.
    pub client_id: &'a str,
    /// Its secret.
    pub secret: &'a [u8],
}

/// Verifies one of our own access tokens: `typ` at+jwt, a published `kid` (or HS256 with
/// `client`'s secret), the signature, `iss`, and `exp` after `now`. Returns the claims.
/// Revocation is the caller's check (it needs the store).
pub fn verify(
    jwt: &str,
    keys: &KeySet,
    issuer: &str,
    now: u64,
    client: Option<ClientKey<'_>>,
) -> Result<serde_json::Map<String, serde_json::Value>, TokenError> {
    let claims = verify_ours(jwt, keys, issuer, "at+jwt", client)?;
    let exp = claims
        .get("exp")
        .and_then(|e| e.as_u64())
        .ok_or(TokenError::NoExp)?;
    if exp <= now {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// Verifies a JWT ahdapa signed (header `typ`, a published key's signature, our `iss`)
/// without looking at its expiry: the ID token of an `id_token_hint` may have expired
/// (OIDC RP-Initiated Logout §2).
pub fn verify_ours(
    jwt: &str,
    keys: &KeySet,
    issuer: &str,
    typ: &str,
    client: Option<ClientKey<'_>>,
) -> Result<serde_json::Map<String, serde_json::Value>, TokenError> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|e| TokenError::NotJws(e.to_string()))?;
    if header.typ.as_deref() != Some(typ) {
        return Err(TokenError::Typ);
    }
    if header.alg == jsonwebtoken::Algorithm::HS256 {
        let client = client.ok_or(TokenError::ClientSigned)?;
        let claims = decode_unchecked_time(
            jwt,
            &jsonwebtoken::DecodingKey::from_secret(client.secret),
            jsonwebtoken::Algorithm::HS256,
        )?;
        let named = if typ == "at+jwt" { "client_id" } else { "aud" };
        if claims.get(named).and_then(|c| c.as_str()) != Some(client.client_id) {
            return Err(TokenError::ClientSigned);
        }
        if claims.get("iss").and_then(|i| i.as_str()) != Some(issuer) {
            return Err(TokenError::Issuer);
        }
        return Ok(claims);
    }
    let kid = header.kid.as_deref().ok_or(TokenError::NoKid)?;
    let key = keys
        .published()
        .iter()
        .find(|k| k.kid() == kid)
        .ok_or(TokenError::UnknownKid)?;
    let jwk = key.jwk();
    let (alg, decoding) = match key.algorithm() {
        SigningAlgorithm::ES256 => (
            jsonwebtoken::Algorithm::ES256,
            jsonwebtoken::DecodingKey::from_ec_components(
                &jwk.x,
                jwk.y.as_deref().unwrap_or_default(),
            ),
        ),
        SigningAlgorithm::EdDSA => (
            jsonwebtoken::Algorithm::EdDSA,
            jsonwebtoken::DecodingKey::from_ed_components(&jwk.x),
        ),
        SigningAlgorithm::RS256 => (
            jsonwebtoken::Algorithm::RS256,
            jsonwebtoken::DecodingKey::from_rsa_components(
                jwk.n.as_deref().unwrap_or_default(),
                jwk.e.as_deref().unwrap_or_default(),
            ),
        ),
    };
    if header.alg != alg {
        return Err(TokenError::Algorithm);
    }
    let decoding = decoding.map_err(|e| TokenError::Key(e.to_string()))?;
    let claims = decode_unchecked_time(jwt, &decoding, alg)?;
    if claims.get("iss").and_then(|i| i.as_str()) != Some(issuer) {
        return Err(TokenError::Issuer);
    }
    Ok(claims)
}

/// True when `jwt` names HS256: signed with a client's secret (`token_signing`), not with
/// one of the server's keys.
pub fn is_client_signed(jwt: &str) -> bool {
    jsonwebtoken::decode_header(jwt).is_ok_and(|h| h.alg == jsonwebtoken::Algorithm::HS256)
}

/// A string claim of `jwt` read without any check, to find the key that checks it.
pub fn unverified_claim(jwt: &str, name: &str) -> Option<String> {
    unverified_claims(jwt)?
        .get(name)?
        .as_str()
        .map(str::to_owned)
}

/// The claims of `jwt` read without any check (of a token just signed, or to find the
/// key that checks it).
pub fn unverified_claims(jwt: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The claims of `jwt` once its signature verifies with `key`; times and audience are
/// the callers' checks.
fn decode_unchecked_time(
    jwt: &str,
    key: &jsonwebtoken::DecodingKey,
    alg: jsonwebtoken::Algorithm,
) -> Result<serde_json::Map<String, serde_json::Value>, TokenError> {
    let mut v = jsonwebtoken::Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    Ok(
        jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(jwt, key, &v)
            .map_err(|e| TokenError::Signature(e.to_string()))?
            .claims,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::keys::{SigningAlgorithm, SigningKey};
    use aws_lc_rs::rand::SystemRandom;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};

    fn claims<'a>(aud: &'a [String]) -> AccessTokenClaims<'a> {
        AccessTokenClaims {
            iss: "https://idp.test",
            sub: "svc",
            aud: Audience::of(aud),
            exp: 4_000_000_000,
            iat: 3_999_999_100,
            jti: "j1",
            client_id: "svc",
            scope: "a b",
            krb5_principal: None,
            host: None,
            cnf: None,
            extra: None,
        }
    }

    #[test]
    fn es256_token_verifies_with_jsonwebtoken() {
        let rng = SystemRandom::new();
        let key = SigningKey::from_pkcs8(
            SigningAlgorithm::ES256,
            &SigningKey::generate(SigningAlgorithm::ES256, &rng).unwrap(),
        )
        .unwrap();
        let aud = vec!["https://rs.test".to_string()];
        let jwt = mint(Signer::Key(&key), &claims(&aud), &rng).unwrap();

        let header = decode_header(&jwt).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
        let jwk = key.jwk();
        let dk = DecodingKey::from_ec_components(&jwk.x, jwk.y.as_deref().unwrap()).unwrap();
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&["https://rs.test"]);
        v.set_issuer(&["https://idp.test"]);
        let data = decode::<serde_json::Value>(&jwt, &dk, &v).unwrap();
        assert_eq!(data.claims["aud"], "https://rs.test");
        assert_eq!(data.claims["scope"], "a b");
    }

    #[test]
    fn an_hs256_token_verifies_only_for_its_own_client() {
        let rng = SystemRandom::new();
        let secret = b"a-client-secret-of-at-least-32-bytes";
        let aud = vec!["rs".to_string()];
        let jwt = mint(Signer::Secret(secret), &claims(&aud), &rng).unwrap();
        let keys = KeySet::new(
            std::sync::Arc::new(
                SigningKey::from_pkcs8(
                    SigningAlgorithm::ES256,
                    &SigningKey::generate(SigningAlgorithm::ES256, &rng).unwrap(),
                )
                .unwrap(),
            ),
            vec![],
        );
        let key = |client_id, secret| Some(ClientKey { client_id, secret });
        let verify = |k| verify(&jwt, &keys, "https://idp.test", 3_999_999_200, k);
        assert_eq!(verify(key("svc", secret)).unwrap()["sub"], "svc");
        // Nowhere without the client's key; never for another client with the same key.
        assert_eq!(verify(None), Err(TokenError::ClientSigned));
        assert_eq!(verify(key("other", secret)), Err(TokenError::ClientSigned));
        assert!(matches!(
            verify(key("svc", b"another-secret-of-at-least-32-bytes!")),
            Err(TokenError::Signature(_))
        ));
    }

    #[test]
    fn eddsa_token_verifies_with_jsonwebtoken() {
        let rng = SystemRandom::new();
        let key = SigningKey::from_pkcs8(
            SigningAlgorithm::EdDSA,
            &SigningKey::generate(SigningAlgorithm::EdDSA, &rng).unwrap(),
        )
        .unwrap();
        let aud = vec!["a".to_string(), "b".to_string()];
        let jwt = mint(Signer::Key(&key), &claims(&aud), &rng).unwrap();
        let dk = DecodingKey::from_ed_components(&key.jwk().x).unwrap();
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&["b"]);
        let data = decode::<serde_json::Value>(&jwt, &dk, &v).unwrap();
        assert_eq!(data.claims["aud"], serde_json::json!(["a", "b"]));
    }
}
