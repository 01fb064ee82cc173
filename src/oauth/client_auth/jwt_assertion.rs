//! `private_key_jwt` and `client_secret_jwt`: RFC 7523 §2.2 client assertions, as
//! profiled by OpenID Connect Core §9.
//!
//! The form carries `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
//! and `client_assertion=<JWS>`. Checks, in order: the JWS header names an algorithm the
//! client's credential allows (never `none`; HMAC only for client_secret_jwt; for
//! private_key_jwt only the algorithm that fits the registered key, so a public key is
//! never used as an HMAC secret); the signature; `iss` = `sub` = client_id; `aud` is the
//! token endpoint URL or the issuer; `exp` present, not past, and at most
//! `max_lifetime_secs` ahead; `iat` and `nbf` not in the future; `jti` present. The
//! `jti` is returned as a replay key: the caller records it in the store until `exp`,
//! so an assertion is single-use across every node. Time is a parameter.

use std::fmt;

use aws_lc_rs::digest;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use crate::oauth::error::OAuthError;

/// RFC 7523 §2.2 `client_assertion_type`.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Largest assertion accepted.
const MAX_ASSERTION_BYTES: usize = 16 * 1024;

/// One public key a private_key_jwt client may sign with.
#[derive(Clone)]
pub struct AssertionKey {
    kid: Option<String>,
    algorithms: Vec<Algorithm>,
    key: DecodingKey,
    /// The registered JWK, for equality and display.
    jwk_json: String,
}

impl PartialEq for AssertionKey {
    fn eq(&self, other: &Self) -> bool {
        self.jwk_json == other.jwk_json
    }
}
impl Eq for AssertionKey {}

impl fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertionKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish()
    }
}

/// Why a registered JWKS is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// Not a JWK Set (RFC 7517 §5).
    #[error("not a JWKS: {0}")]
    NotAJwks(String),
    /// `keys` is empty.
    #[error("the JWKS has no keys")]
    NoKeys,
    /// A key carries private or symmetric material.
    #[error("keys[{0}] contains private or symmetric key material; register public keys only")]
    PrivateMaterial(usize),
    /// A key is not usable for client assertions.
    #[error("keys[{0}]: {1}")]
    Key(usize, KeyError),
}

/// Why one JWK is not usable for client assertions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// An OKP key on another curve than Ed25519.
    #[error("only the Ed25519 curve is supported for OKP")]
    OkpCurve,
    /// An EC key on another curve than P-256 or P-384.
    #[error("only P-256 and P-384 are supported for EC")]
    EcCurve,
    /// `n` does not decode.
    #[error("RSA modulus is not base64url")]
    RsaModulus,
    /// An RSA modulus under 2048 bits (about this many).
    #[error("RSA keys must have at least 2048 bits (this one has about {0})")]
    RsaTooShort(usize),
    /// `kty: oct`.
    #[error("symmetric (oct) keys are not allowed")]
    Symmetric,
    /// An `alg` not accepted for assertions.
    #[error("alg {0} is not accepted for client assertions")]
    AlgNotAccepted(String),
    /// An `alg` that does not fit the key type.
    #[error("alg {0} does not fit the key type")]
    AlgMismatch(String),
    /// The key material does not load.
    #[error("unusable key: {0}")]
    Unusable(String),
}

/// A client_secret_jwt secret under 32 bytes (RFC 7518 §3.2 for HS256).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an HMAC secret must be at least 32 bytes")]
pub struct HmacSecretTooShort;

/// Parses a registered JWKS into verification keys: public asymmetric keys only.
pub fn keys_from_jwks(jwks: &serde_json::Value) -> Result<Vec<AssertionKey>, JwksError> {
    let mut full = jwks.clone();
    if let Some(keys) = full.get_mut("keys").and_then(|k| k.as_array_mut()) {
        for k in keys.iter_mut() {
            *k = crate::token::jwk::with_full_ec_coordinates(k);
        }
    }
    let set: JwkSet =
        serde_json::from_value(full).map_err(|e| JwksError::NotAJwks(e.to_string()))?;
    let raw_keys = jwks
        .get("keys")
        .and_then(|k| k.as_array())
        .cloned()
        .unwrap_or_default();
    if set.keys.is_empty() {
        return Err(JwksError::NoKeys);
    }
    let mut out = Vec::new();
    for (i, (jwk, raw)) in set.keys.iter().zip(raw_keys.iter()).enumerate() {
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|m| raw.get(m).is_some())
        {
            return Err(JwksError::PrivateMaterial(i));
        }
        out.push(assertion_key(jwk, raw).map_err(|e| JwksError::Key(i, e))?);
    }
    Ok(out)
}

fn assertion_key(jwk: &Jwk, raw: &serde_json::Value) -> Result<AssertionKey, KeyError> {
    let mut algorithms = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            vec![Algorithm::EdDSA]
        }
        AlgorithmParameters::OctetKeyPair(_) => {
            return Err(KeyError::OkpCurve);
        }
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return Err(KeyError::EcCurve),
        },
        AlgorithmParameters::RSA(p) => {
            let n = base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                p.n.trim_end_matches('='),
            )
            .map_err(|_| KeyError::RsaModulus)?;
            let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
            if bits < 2048 {
                return Err(KeyError::RsaTooShort(bits));
            }
            vec![Algorithm::RS256, Algorithm::PS256]
        }
        AlgorithmParameters::OctetKey(_) => {
            return Err(KeyError::Symmetric);
        }
    };
    if let Some(alg) = jwk.common.key_algorithm {
        let wanted = match alg {
            KeyAlgorithm::EdDSA => Algorithm::EdDSA,
            KeyAlgorithm::ES256 => Algorithm::ES256,
            KeyAlgorithm::ES384 => Algorithm::ES384,
            KeyAlgorithm::RS256 => Algorithm::RS256,
            KeyAlgorithm::PS256 => Algorithm::PS256,
            other => {
                return Err(KeyError::AlgNotAccepted(format!("{other:?}")));
            }
        };
        if !algorithms.contains(&wanted) {
            return Err(KeyError::AlgMismatch(format!("{wanted:?}")));
        }
        algorithms = vec![wanted];
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| KeyError::Unusable(e.to_string()))?;
    Ok(AssertionKey {
        kid: jwk.common.key_id.clone(),
        algorithms,
        key,
        jwk_json: raw.to_string(),
    })
}

/// A client_secret_jwt secret, kept for HMAC. Redacted `Debug`, no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct HmacSecret(Vec<u8>);

impl HmacSecret {
    /// Wraps secret bytes (at least 32, RFC 7518 §3.2 for HS256).
    pub fn new(bytes: Vec<u8>) -> Result<Self, HmacSecretTooShort> {
        if bytes.len() < 32 {
            return Err(HmacSecretTooShort);
        }
        Ok(Self(bytes))
    }

    /// The secret bytes, for sealing.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for HmacSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacSecret(<redacted>)")
    }
}

/// What an assertion may be checked against.
#[derive(Debug, Clone, Copy)]
pub enum Verifier<'a> {
    /// private_key_jwt: the registered public keys.
    Keys(&'a [AssertionKey]),
    /// client_secret_jwt: the shared secret.
    Secret(&'a HmacSecret),
}

/// Assertion time and audience rules, from the config.
#[derive(Debug, Clone)]
pub struct AssertionRules {
    /// Accepted `aud` values: the token endpoint URL and the issuer.
    pub audiences: Vec<String>,
    /// How far in the future `exp` may be.
    pub max_lifetime_secs: u64,
    /// Tolerance for clocks that disagree.
    pub leeway_secs: u64,
}

/// A verified assertion: the replay key and how long it must be remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// SHA-256 of client_id and `jti`.
    pub replay_key: [u8; 32],
    /// Remember until then (`exp` plus leeway).
    pub replay_until: u64,
    /// The assertion's `jti`, for the log.
    pub jti: String,
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<u64>,
    iat: Option<u64>,
    nbf: Option<u64>,
    jti: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The client_id an assertion claims (its `sub`, else `iss`), read without verifying,
/// to find the client whose keys will verify it.
pub fn claimed_client_id(assertion: &str) -> Result<String, OAuthError> {
    if assertion.len() > MAX_ASSERTION_BYTES {
        return Err(OAuthError::invalid_client("client_assertion too large"));
    }
    let payload = assertion
        .split('.')
        .nth(1)
        .ok_or_else(|| OAuthError::invalid_client("client_assertion is not a JWS"))?;
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
        .map_err(|_| OAuthError::invalid_client("client_assertion payload is not base64url"))?;
    let claims: Claims = serde_json::from_slice(&bytes)
        .map_err(|_| OAuthError::invalid_client("client_assertion payload is not JSON claims"))?;
    claims
        .sub
        .or(claims.iss)
        .ok_or_else(|| OAuthError::invalid_client("client_assertion has no sub or iss"))
}

/// Verifies an assertion for `client_id` (a registered client: every refusal here says
/// why in `error_description`, since the claims are the client's own).
pub fn verify(
    assertion: &str,
    client_id: &str,
    verifier: Verifier<'_>,
    rules: &AssertionRules,
    now: u64,
) -> Result<VerifiedAssertion, OAuthError> {
    let refused = |m: String| OAuthError::invalid_client_explained(m);
    let jws = crate::token::jws::split(assertion).map_err(|e| {
        refused(format!(
            "client_assertion: {e} (alg none is never accepted)"
        ))
    })?;
    let alg = jws.alg;
    let claims: Claims = match verifier {
        Verifier::Secret(secret) => {
            if !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
                return Err(refused(format!(
                    "client_secret_jwt requires HS256/384/512, got {}",
                    jws.alg_name()
                )));
            }
            jws.verify(&DecodingKey::from_secret(secret.expose()))
                .map_err(|e| refused(format!("client_assertion: {e}")))?
        }
        Verifier::Keys(keys) => verify_with_keys(&jws, keys).map_err(|e| match e {
            KeyLookupError::NoKey { kid } => OAuthError::invalid_client_unknown_key(format!(
                "no registered key for alg {} and kid {kid:?} (HMAC is never accepted for private_key_jwt)",
                jws.alg_name()
            )),
            KeyLookupError::Signature => refused("client_assertion: the signature does not verify".into()),
            KeyLookupError::Payload(m) => refused(format!("client_assertion: {m}")),
        })?,
    };
    check_claims(&claims, client_id, rules, now)
}

/// Why no key verified a JWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLookupError {
    /// No key has the header's `kid` (when it names one) and fits its `alg`.
    NoKey {
        /// The header's `kid`.
        kid: Option<String>,
    },
    /// Keys fit, and none verified the signature.
    Signature,
    /// The signature verified; the payload is not what it must be.
    Payload(String),
}

/// Verifies `jws` with the first of `keys` that fits its `alg` and `kid` and verifies
/// (a key's algorithms come from its type, so HMAC never fits a public key).
pub fn verify_with_keys<T: serde::de::DeserializeOwned>(
    jws: &crate::token::jws::Compact<'_>,
    keys: &[AssertionKey],
) -> Result<T, KeyLookupError> {
    let kid = jws.header_str("kid");
    let mut tried = false;
    for k in keys
        .iter()
        .filter(|k| k.algorithms.contains(&jws.alg))
        // A `kid` selects among keys that have one; a key without (a verification
        // certificate) is tried for any.
        .filter(|k| kid.is_none() || k.kid.is_none() || k.kid.as_deref() == kid)
    {
        tried = true;
        match jws.verify(&k.key) {
            Ok(c) => return Ok(c),
            Err(crate::token::jws::JwsError::Signature) => {}
            Err(e) => return Err(KeyLookupError::Payload(e.to_string())),
        }
    }
    if tried {
        Err(KeyLookupError::Signature)
    } else {
        Err(KeyLookupError::NoKey {
            kid: kid.map(str::to_owned),
        })
    }
}

/// Reads an issuer's published JWKS (or SPIFFE trust bundle, RFC 7517 plus `use:
/// jwt-svid`): the keys usable for signatures, skipping the rest (encryption keys,
/// X.509-SVID keys, unsupported curves) rather than refusing the set. Returns the keys
/// and how many were skipped; an empty result is an error.
pub fn keys_from_issuer_jwks(
    jwks: &serde_json::Value,
) -> Result<(Vec<AssertionKey>, usize), JwksError> {
    let raw_keys = jwks
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or_else(|| JwksError::NotAJwks("no \"keys\" array".into()))?;
    let mut out = Vec::new();
    let mut skipped = 0;
    for raw in raw_keys {
        let usable_use = match raw.get("use").and_then(|u| u.as_str()) {
            None | Some("sig" | "jwt-svid") => true,
            Some(_) => false,
        };
        let private = ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|m| raw.get(m).is_some());
        let full = crate::token::jwk::with_full_ec_coordinates(raw);
        let key = serde_json::from_value::<Jwk>(full)
            .ok()
            .filter(|_| usable_use && !private)
            .and_then(|jwk| assertion_key(&jwk, raw).ok());
        match key {
            Some(k) => out.push(k),
            None => skipped += 1,
        }
    }
    if out.is_empty() {
        return Err(JwksError::NoKeys);
    }
    Ok((out, skipped))
}

/// A verification key from a PEM certificate or public key (authentik's "verification
/// certificates"): RSA (2048 bits or more), P-256/P-384 or Ed25519.
pub fn key_from_pem(pem: &[u8], kid: Option<&str>) -> Result<AssertionKey, KeyError> {
    use x509_parser::prelude::FromDer;
    let unusable = |m: &str| KeyError::Unusable(m.to_owned());
    let (_, parsed) =
        x509_parser::pem::parse_x509_pem(pem).map_err(|_| unusable("not a PEM document"))?;
    let spki_der = match parsed.label.as_str() {
        "CERTIFICATE" => {
            let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&parsed.contents)
                .map_err(|_| unusable("the certificate does not parse"))?;
            cert.tbs_certificate.subject_pki.raw.to_vec()
        }
        "PUBLIC KEY" => parsed.contents.clone(),
        other => {
            return Err(KeyError::Unusable(format!(
                "a PEM {other:?}: give a CERTIFICATE or a PUBLIC KEY"
            )));
        }
    };
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&spki_der)
        .map_err(|_| unusable("the public key does not parse"))?;
    let b64 =
        |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, b);
    let strip = |b: &[u8]| -> Vec<u8> { b.iter().copied().skip_while(|x| *x == 0).collect() };
    use x509_parser::public_key::PublicKey;
    let mut jwk = match spki
        .parsed()
        .map_err(|_| unusable("unsupported public key"))?
    {
        PublicKey::RSA(rsa) => serde_json::json!({
            "kty": "RSA", "n": b64(&strip(rsa.modulus)), "e": b64(&strip(rsa.exponent)),
        }),
        PublicKey::EC(point) => {
            let data = point.data();
            let oid = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            let (crv, size) = match oid.as_deref() {
                Some("1.2.840.10045.3.1.7") => ("P-256", 32),
                Some("1.3.132.0.34") => ("P-384", 48),
                _ => return Err(KeyError::EcCurve),
            };
            let (Some(x), Some(y)) = (data.get(1..1 + size), data.get(1 + size..1 + 2 * size))
            else {
                return Err(unusable("the EC point is not uncompressed"));
            };
            serde_json::json!({"kty": "EC", "crv": crv, "x": b64(x), "y": b64(y)})
        }
        _ if spki.algorithm.algorithm.to_id_string() == "1.3.101.112" => serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "x": b64(&spki.subject_public_key.data),
        }),
        _ => return Err(unusable("only RSA, EC and Ed25519 keys are supported")),
    };
    if let (Some(kid), Some(map)) = (kid, jwk.as_object_mut()) {
        map.insert("kid".into(), kid.into());
    }
    let parsed: Jwk = serde_json::from_value(jwk.clone()).map_err(|e| unusable(&e.to_string()))?;
    assertion_key(&parsed, &jwk)
}

fn check_claims(
    c: &Claims,
    client_id: &str,
    rules: &AssertionRules,
    now: u64,
) -> Result<VerifiedAssertion, OAuthError> {
    let bad = |m: String| Err(OAuthError::invalid_client_explained(m));
    if c.iss.as_deref() != Some(client_id) || c.sub.as_deref() != Some(client_id) {
        return bad(format!(
            "client_assertion iss and sub must both be the client_id {client_id}"
        ));
    }
    let aud_ok = match &c.aud {
        Some(Audience::One(a)) => rules.audiences.contains(a),
        Some(Audience::Many(list)) => list.iter().any(|a| rules.audiences.contains(a)),
        None => false,
    };
    if !aud_ok {
        return bad(format!(
            "client_assertion aud must be one of {:?}",
            rules.audiences
        ));
    }
    let Some(exp) = c.exp else {
        return bad("client_assertion has no exp".into());
    };
    if exp.saturating_add(rules.leeway_secs) < now {
        return bad(format!("client_assertion expired {} s ago", now - exp));
    }
    if exp
        > now
            .saturating_add(rules.max_lifetime_secs)
            .saturating_add(rules.leeway_secs)
    {
        return bad(format!(
            "client_assertion exp is more than {} s ahead",
            rules.max_lifetime_secs
        ));
    }
    if c.iat
        .is_some_and(|iat| iat > now.saturating_add(rules.leeway_secs))
    {
        return bad("client_assertion iat is in the future".into());
    }
    if c.nbf
        .is_some_and(|nbf| nbf > now.saturating_add(rules.leeway_secs))
    {
        return bad("client_assertion is not valid yet (nbf)".into());
    }
    let Some(jti) = c.jti.as_deref().filter(|j| !j.is_empty()) else {
        return bad("client_assertion has no jti".into());
    };
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(client_id.as_bytes());
    ctx.update(b"\0");
    ctx.update(jti.as_bytes());
    let mut replay_key = [0u8; 32];
    replay_key.copy_from_slice(ctx.finish().as_ref());
    Ok(VerifiedAssertion {
        replay_key,
        replay_until: exp.saturating_add(rules.leeway_secs),
        jti: jti.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    fn rules() -> AssertionRules {
        AssertionRules {
            audiences: vec!["https://idp.test/token".into(), "https://idp.test".into()],
            max_lifetime_secs: 300,
            leeway_secs: 60,
        }
    }

    struct Ed {
        pkcs8: Vec<u8>,
        jwks: serde_json::Value,
    }

    fn ed25519(kid: &str) -> Ed {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
        let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        Ed {
            pkcs8: doc.as_ref().to_vec(),
            jwks: json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid}]}),
        }
    }

    fn claims() -> serde_json::Value {
        json!({"iss": "svc", "sub": "svc", "aud": "https://idp.test/token", "exp": NOW + 60, "iat": NOW, "jti": "j1"})
    }

    fn sign_ed(key: &Ed, kid: Option<&str>, claims: &serde_json::Value) -> String {
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = kid.map(str::to_owned);
        encode(&h, claims, &EncodingKey::from_ed_der(&key.pkcs8)).unwrap()
    }

    fn check(assertion: &str, key: &Ed) -> Result<VerifiedAssertion, OAuthError> {
        let keys = keys_from_jwks(&key.jwks).unwrap();
        verify(assertion, "svc", Verifier::Keys(&keys), &rules(), NOW)
    }

    fn reason(r: Result<VerifiedAssertion, OAuthError>) -> String {
        r.unwrap_err().log_reason().to_owned()
    }

    #[test]
    fn accepts_good_eddsa_assertion_and_returns_replay_key() {
        let k = ed25519("k1");
        let v = check(&sign_ed(&k, Some("k1"), &claims()), &k).unwrap();
        assert_eq!(v.jti, "j1");
        assert_eq!(v.replay_until, NOW + 60 + 60);
        assert_eq!(
            claimed_client_id(&sign_ed(&k, None, &claims())).unwrap(),
            "svc"
        );
    }

    #[test]
    fn audience_may_be_issuer_or_an_array() {
        let k = ed25519("k1");
        let mut c = claims();
        c["aud"] = json!(["https://other", "https://idp.test"]);
        assert!(check(&sign_ed(&k, None, &c), &k).is_ok());
    }

    #[test]
    fn rejects_alg_none() {
        let k = ed25519("k1");
        let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
        let none = format!(
            "{}.{payload}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#)
        );
        assert!(check(&none, &k).is_err());
    }

    #[test]
    fn rejects_hmac_for_private_key_jwt_even_keyed_with_the_public_key() {
        let k = ed25519("k1");
        let public_x = k.jwks["keys"][0]["x"].as_str().unwrap().to_owned();
        let forged = encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(public_x.as_bytes()),
        )
        .unwrap();
        assert!(reason(check(&forged, &k)).contains("HMAC is never accepted"));
    }

    #[test]
    fn rejects_wrong_signature_unknown_kid_wrong_aud_expired_and_far_exp() {
        let k = ed25519("k1");
        let other = ed25519("k1");
        assert!(reason(check(&sign_ed(&other, Some("k1"), &claims()), &k)).contains("signature"));
        assert!(
            reason(check(&sign_ed(&k, Some("k2"), &claims()), &k)).contains("no registered key")
        );
        // Only an unknown kid asks for the keys to be fetched again.
        assert!(
            check(&sign_ed(&k, Some("k2"), &claims()), &k)
                .unwrap_err()
                .is_unknown_key()
        );
        assert!(
            !check(&sign_ed(&other, Some("k1"), &claims()), &k)
                .unwrap_err()
                .is_unknown_key()
        );
        let mut c = claims();
        c["aud"] = json!("https://elsewhere/token");
        assert!(reason(check(&sign_ed(&k, None, &c), &k)).contains("aud"));
        let mut c = claims();
        c["exp"] = json!(NOW - 61);
        assert!(reason(check(&sign_ed(&k, None, &c), &k)).contains("expired"));
        let mut c = claims();
        c["exp"] = json!(NOW + 3600);
        assert!(reason(check(&sign_ed(&k, None, &c), &k)).contains("ahead"));
    }

    #[test]
    fn requires_jti_exp_and_iss_equal_sub_equal_client_id() {
        let k = ed25519("k1");
        for field in ["jti", "exp"] {
            let mut c = claims();
            c.as_object_mut().unwrap().remove(field);
            assert!(
                reason(check(&sign_ed(&k, None, &c), &k)).contains(field),
                "{field}"
            );
        }
        let mut c = claims();
        c["iss"] = json!("someone-else");
        assert!(reason(check(&sign_ed(&k, None, &c), &k)).contains("iss and sub"));
        let mut c = claims();
        c["nbf"] = json!(NOW + 3600);
        assert!(reason(check(&sign_ed(&k, None, &c), &k)).contains("nbf"));
    }

    #[test]
    fn client_secret_jwt_uses_hmac_only() {
        let secret =
            HmacSecret::new(b"0123456789abcdef0123456789abcdef0123456789a".to_vec()).unwrap();
        let good = encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(secret.expose()),
        )
        .unwrap();
        assert!(verify(&good, "svc", Verifier::Secret(&secret), &rules(), NOW).is_ok());
        let wrong = encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(b"another secret of thirty-two+ bytes!"),
        )
        .unwrap();
        assert!(verify(&wrong, "svc", Verifier::Secret(&secret), &rules(), NOW).is_err());
        let k = ed25519("k1");
        let asym = sign_ed(&k, None, &claims());
        assert!(
            reason(verify(
                &asym,
                "svc",
                Verifier::Secret(&secret),
                &rules(),
                NOW
            ))
            .contains("HS256")
        );
        assert!(HmacSecret::new(b"short".to_vec()).is_err());
    }

    #[test]
    fn registration_refuses_private_and_symmetric_keys() {
        let k = ed25519("k1");
        let mut with_d = k.jwks.clone();
        with_d["keys"][0]["d"] = json!("AAAA");
        assert!(matches!(
            keys_from_jwks(&with_d).unwrap_err(),
            JwksError::PrivateMaterial(0)
        ));
        assert!(keys_from_jwks(&json!({"keys": [{"kty": "oct", "k": "AAAA"}]})).is_err());
        assert!(keys_from_jwks(&json!({"keys": []})).is_err());
        assert!(keys_from_jwks(&json!({"nope": 1})).is_err());
    }

    /// PyJWT before 2.8 writes EC coordinates without their leading zero bytes (one key
    /// in 128): such a key still verifies.
    #[test]
    fn ec_keys_with_short_coordinates_still_verify() {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let rng = SystemRandom::new();
        let (pkcs8, public) = (0..5000)
            .find_map(|_| {
                let doc =
                    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
                    .unwrap();
                let public = pair.public_key().as_ref().to_vec();
                (public[1] == 0).then(|| (doc.as_ref().to_vec(), public))
            })
            .expect("one key in 256 has a leading zero in x");
        let short_x = URL_SAFE_NO_PAD.encode(&public[2..33]);
        let y = URL_SAFE_NO_PAD.encode(&public[33..65]);
        let jwks =
            json!({"keys": [{"kty": "EC", "crv": "P-256", "x": short_x, "y": y, "kid": "ec"}]});
        let keys = keys_from_jwks(&jwks).unwrap();
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some("ec".into());
        let jws = encode(&h, &claims(), &EncodingKey::from_ec_der(&pkcs8)).unwrap();
        verify(&jws, "svc", Verifier::Keys(&keys), &rules(), NOW)
            .expect("a short x still verifies");
    }
}
