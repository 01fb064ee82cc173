//! DPoP proofs (RFC 9449): verifying a proof JWT, the RFC 7638 thumbprint of its key
//! (`cnf.jkt`), the `htu` normalisation, and stateless server nonces.
//!
//! Checks (RFC 9449 §4.3): `typ` is `dpop+jwt`; `alg` is asymmetric and allowed; the
//! header carries a public `jwk` (private members refused); the signature verifies with
//! it; `htm` equals the request method and `htu` the request URL (scheme and host
//! case-insensitive, default port dropped, no query or fragment); `iat` is not older than
//! the allowed age nor in the future beyond the leeway; `jti` is present (the caller
//! records it: single use); `ath`, when expected, is base64url(SHA-256(access token)).
//! Time and keys are parameters.

use aws_lc_rs::{digest, hmac};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::Jwk;
use serde::Deserialize;

/// Algorithms a proof may use (asymmetric only).
pub const ALLOWED_ALGS: [&str; 6] = ["ES256", "ES384", "EdDSA", "Ed25519", "RS256", "PS256"];

/// Largest proof accepted.
const MAX_PROOF_BYTES: usize = 8 * 1024;

/// Time rules for proofs, from `[dpop]`.
#[derive(Debug, Clone, Copy)]
pub struct ProofRules {
    /// How old `iat` may be.
    pub max_age_secs: u64,
    /// How far in the future `iat` may be.
    pub leeway_secs: u64,
}

/// What the proof must match.
#[derive(Debug, Clone, Copy)]
pub struct ProofTarget<'a> {
    /// The HTTP method.
    pub htm: &'a str,
    /// The request URL (will be normalised).
    pub htu: &'a str,
    /// For resource requests: the access token the proof must hash (`ath`).
    pub access_token: Option<&'a str>,
}

/// A valid proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// RFC 7638 thumbprint of the proof key: `cnf.jkt`.
    pub jkt: String,
    /// SHA-256 of jkt and jti: the single-use record.
    pub replay_key: [u8; 32],
    /// Remember the jti until then.
    pub replay_until: u64,
    /// The `nonce` claim, if any (checked by the caller).
    pub nonce: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<u64>,
    nonce: Option<String>,
    ath: Option<String>,
}

/// Why a proof was refused; its text is the `error_description` of `invalid_dpop_proof`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// Over the size limit.
    #[error("DPoP proof too large")]
    TooLarge,
    /// Not three base64url parts with a JSON header.
    #[error("DPoP proof is not a compact JWS with a base64url JSON header ({0})")]
    Malformed(&'static str),
    /// A header or payload the JWS layer refused otherwise (`crit`, payload).
    #[error("DPoP proof: {0}")]
    Jws(super::jws::JwsError),
    /// `typ` is not `dpop+jwt`.
    #[error("DPoP proof typ must be dpop+jwt")]
    Typ,
    /// `alg` is not one of [`ALLOWED_ALGS`].
    #[error("DPoP proof alg {0:?} is not allowed (use one of {ALLOWED_ALGS:?})")]
    Algorithm(String),
    /// No `jwk` object in the header.
    #[error("DPoP proof header has no jwk")]
    NoJwk,
    /// The `jwk` carries private key material.
    #[error("DPoP proof jwk contains private key material")]
    PrivateJwk,
    /// The `jwk` is not a public key we can use.
    #[error("DPoP proof jwk is not an EC, OKP or RSA public key")]
    UnusableJwk,
    /// The `jwk` does not parse as a key.
    #[error("DPoP proof jwk: {0}")]
    Jwk(String),
    /// The signature does not verify with the `jwk`.
    #[error("DPoP proof signature: {0}")]
    Signature(super::jws::JwsError),
    /// No usable `jti`.
    #[error("DPoP proof has no jti")]
    NoJti,
    /// `htm` is not the request's method.
    #[error("DPoP proof htm must be {0}")]
    Htm(String),
    /// The request URL itself does not normalise (a caller bug).
    #[error("request URL does not normalise")]
    RequestUrl,
    /// `htu` is not the request's URL.
    #[error("DPoP proof htu must be {0}")]
    Htu(String),
    /// No `iat`.
    #[error("DPoP proof has no iat")]
    NoIat,
    /// `iat` is ahead of the clock.
    #[error("DPoP proof iat is in the future")]
    Future,
    /// `iat` is older than the allowed age.
    #[error("DPoP proof is older than {0} s")]
    TooOld(u64),
    /// `ath` is not the hash of the access token presented with it.
    #[error("DPoP proof ath does not match the access token")]
    Ath,
}

/// Verifies a proof (RFC 9449 §4.3).
pub fn verify(
    proof: &str,
    target: ProofTarget<'_>,
    rules: ProofRules,
    now: u64,
) -> Result<VerifiedProof, ProofError> {
    use super::jws::JwsError;
    if proof.len() > MAX_PROOF_BYTES {
        return Err(ProofError::TooLarge);
    }
    let jws = super::jws::split(proof).map_err(|e| match e {
        JwsError::Algorithm(name) => ProofError::Algorithm(name),
        JwsError::Malformed(why) => ProofError::Malformed(why),
        other => ProofError::Jws(other),
    })?;
    let header = &jws.header;
    if jws.header_str("typ") != Some("dpop+jwt") {
        return Err(ProofError::Typ);
    }
    let alg_name = jws.alg_name();
    if !ALLOWED_ALGS.contains(&alg_name) {
        return Err(ProofError::Algorithm(alg_name.to_owned()));
    }
    let jwk_value = header
        .get("jwk")
        .filter(|j| j.is_object())
        .ok_or(ProofError::NoJwk)?;
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|m| jwk_value.get(m).is_some())
    {
        return Err(ProofError::PrivateJwk);
    }
    let jkt = thumbprint(jwk_value).ok_or(ProofError::UnusableJwk)?;
    // The thumbprint is of the key as sent; the key itself with full-length coordinates.
    let jwk: Jwk = serde_json::from_value(super::jwk::with_full_ec_coordinates(jwk_value))
        .map_err(|e| ProofError::Jwk(e.to_string()))?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| ProofError::Jwk(e.to_string()))?;
    let claims: Claims = jws.verify(&key).map_err(ProofError::Signature)?;

    let jti = claims
        .jti
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or(ProofError::NoJti)?;
    if claims.htm.as_deref() != Some(target.htm) {
        return Err(ProofError::Htm(target.htm.to_owned()));
    }
    let want = normalize_htu(target.htu).ok_or(ProofError::RequestUrl)?;
    if claims.htu.as_deref().and_then(normalize_htu).as_deref() != Some(want.as_str()) {
        return Err(ProofError::Htu(want));
    }
    let iat = claims.iat.ok_or(ProofError::NoIat)?;
    if iat > now.saturating_add(rules.leeway_secs) {
        return Err(ProofError::Future);
    }
    if iat.saturating_add(rules.max_age_secs) < now {
        return Err(ProofError::TooOld(rules.max_age_secs));
    }
    if let Some(token) = target.access_token {
        let expected = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()));
        if claims.ath.as_deref() != Some(expected.as_str()) {
            return Err(ProofError::Ath);
        }
    }
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(jkt.as_bytes());
    ctx.update(b"\0");
    ctx.update(jti.as_bytes());
    let mut replay_key = [0u8; 32];
    replay_key.copy_from_slice(ctx.finish().as_ref());
    let replay_until = iat
        .saturating_add(rules.max_age_secs)
        .saturating_add(rules.leeway_secs);
    Ok(VerifiedProof {
        jkt,
        replay_key,
        replay_until,
        nonce: claims.nonce,
    })
}

/// RFC 7638 thumbprint of a public JWK (EC, OKP or RSA).
pub fn thumbprint(jwk: &serde_json::Value) -> Option<String> {
    let m = |name: &str| jwk.get(name).and_then(|v| v.as_str());
    let canonical = match m("kty")? {
        "EC" => serde_json::json!({"crv": m("crv")?, "kty": "EC", "x": m("x")?, "y": m("y")?}),
        "OKP" => serde_json::json!({"crv": m("crv")?, "kty": "OKP", "x": m("x")?}),
        "RSA" => serde_json::json!({"e": m("e")?, "kty": "RSA", "n": m("n")?}),
        _ => return None,
    };
    // serde_json orders object keys (BTreeMap), as RFC 7638 §3 requires.
    let text = serde_json::to_string(&canonical).ok()?;
    Some(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, text.as_bytes())))
}

/// RFC 9449 §4.3: scheme and host lower-cased, default port dropped, no query or fragment.
pub fn normalize_htu(url: &str) -> Option<String> {
    let uri: http::Uri = url.split(['?', '#']).next()?.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.to_ascii_lowercase();
    let port = match (scheme.as_str(), uri.port_u16()) {
        ("https", Some(443)) | ("http", Some(80)) | (_, None) => String::new(),
        (_, Some(p)) => format!(":{p}"),
    };
    let path = match uri.path() {
        "" => "/",
        p => p,
    };
    Some(format!("{scheme}://{host}{port}{path}"))
}

/// Stateless server nonces (RFC 9449 §8): `base64url(issued_at || HMAC(key, issued_at))`,
/// valid for `lifetime` seconds on every node that shares the key.
pub fn issue_nonce(key: &[u8; 32], now: u64) -> String {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let ts = now.to_be_bytes();
    let tag = hmac::sign(&k, &ts);
    let mut out = ts.to_vec();
    out.extend_from_slice(tag.as_ref().get(..16).unwrap_or_default());
    URL_SAFE_NO_PAD.encode(out)
}

/// True when `nonce` was issued with `key` no more than `lifetime` seconds ago.
pub fn check_nonce(key: &[u8; 32], nonce: &str, now: u64, lifetime: u64) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else {
        return false;
    };
    let (Some(ts), Some(tag)) = (bytes.get(..8), bytes.get(8..)) else {
        return false;
    };
    let Ok(ts_arr) = <[u8; 8]>::try_from(ts) else {
        return false;
    };
    let issued = u64::from_be_bytes(ts_arr);
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let expected = hmac::sign(&k, ts);
    let valid_tag = tag.len() == 16
        && expected
            .as_ref()
            .get(..16)
            .is_some_and(|e| subtle::ConstantTimeEq::ct_eq(e, tag).into());
    valid_tag && issued <= now.saturating_add(5) && now.saturating_sub(issued) <= lifetime
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    use jsonwebtoken::Algorithm;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;
    const RULES: ProofRules = ProofRules {
        max_age_secs: 300,
        leeway_secs: 5,
    };
    const URL: &str = "https://idp.test/token";

    struct Key {
        pkcs8: Vec<u8>,
        jwk: serde_json::Value,
    }

    fn key() -> Key {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
        let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        Key {
            pkcs8: doc.as_ref().to_vec(),
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
        }
    }

    fn proof_with(k: &Key, typ: &str, jwk: serde_json::Value, claims: serde_json::Value) -> String {
        let mut h = Header::new(Algorithm::EdDSA);
        h.typ = Some(typ.into());
        h.jwk = Some(serde_json::from_value(jwk).unwrap());
        encode(&h, &claims, &EncodingKey::from_ed_der(&k.pkcs8)).unwrap()
    }

    fn claims() -> serde_json::Value {
        json!({"jti": "p1", "htm": "POST", "htu": URL, "iat": NOW})
    }

    /// The refusal as the client sees it (its `error_description`).
    fn check(proof: &str) -> Result<VerifiedProof, String> {
        verify(
            proof,
            ProofTarget {
                htm: "POST",
                htu: URL,
                access_token: None,
            },
            RULES,
            NOW,
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn accepts_a_good_proof_and_binds_to_the_rfc7638_thumbprint() {
        let k = key();
        let v = check(&proof_with(&k, "dpop+jwt", k.jwk.clone(), claims())).unwrap();
        assert_eq!(Some(v.jkt), thumbprint(&k.jwk));
    }

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1's RSA example key.
        let jwk = json!({"kty": "RSA", "e": "AQAB", "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn rejects_wrong_htu_htm_and_typ() {
        let k = key();
        let mut c = claims();
        c["htu"] = json!("https://idp.test/other");
        assert!(
            check(&proof_with(&k, "dpop+jwt", k.jwk.clone(), c))
                .unwrap_err()
                .contains("htu")
        );
        let mut c = claims();
        c["htm"] = json!("GET");
        assert!(
            check(&proof_with(&k, "dpop+jwt", k.jwk.clone(), c))
                .unwrap_err()
                .contains("htm")
        );
        assert!(
            check(&proof_with(&k, "JWT", k.jwk.clone(), claims()))
                .unwrap_err()
                .contains("typ")
        );
    }

    #[test]
    fn htu_is_normalised() {
        let k = key();
        let mut c = claims();
        c["htu"] = json!("HTTPS://IDP.test:443/token?x=1#f");
        assert!(check(&proof_with(&k, "dpop+jwt", k.jwk.clone(), c)).is_ok());
        assert_eq!(normalize_htu("http://a:80/b").unwrap(), "http://a/b");
        assert_eq!(
            normalize_htu("https://a:8443/b?q").unwrap(),
            "https://a:8443/b"
        );
    }

    #[test]
    fn rejects_stale_and_future_iat_and_missing_jti() {
        let k = key();
        for (iat, word) in [(NOW - 301, "older"), (NOW + 60, "future")] {
            let mut c = claims();
            c["iat"] = json!(iat);
            assert!(
                check(&proof_with(&k, "dpop+jwt", k.jwk.clone(), c))
                    .unwrap_err()
                    .contains(word)
            );
        }
        let mut c = claims();
        c.as_object_mut().unwrap().remove("jti");
        assert!(
            check(&proof_with(&k, "dpop+jwt", k.jwk.clone(), c))
                .unwrap_err()
                .contains("jti")
        );
    }

    #[test]
    fn rejects_private_keys_none_and_hmac() {
        let k = key();
        let mut private = k.jwk.clone();
        private["d"] = json!("AAAA");
        let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
        let header = URL_SAFE_NO_PAD
            .encode(json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": private}).to_string());
        let input = format!("{header}.{payload}");
        let sig = Ed25519KeyPair::from_pkcs8(&k.pkcs8)
            .unwrap()
            .sign(input.as_bytes());
        let with_d = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()));
        assert!(check(&with_d).unwrap_err().contains("private"));
        let header = URL_SAFE_NO_PAD
            .encode(json!({"typ": "dpop+jwt", "alg": "none", "jwk": k.jwk}).to_string());
        assert!(
            check(&format!("{header}.{payload}."))
                .unwrap_err()
                .contains("not allowed")
        );
        let header = URL_SAFE_NO_PAD
            .encode(json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": k.jwk}).to_string());
        assert!(
            check(&format!("{header}.{payload}.AAAA"))
                .unwrap_err()
                .contains("not allowed")
        );
    }

    #[test]
    fn signature_must_match_the_embedded_key() {
        let (k, other) = (key(), key());
        assert!(
            check(&proof_with(&k, "dpop+jwt", other.jwk.clone(), claims()))
                .unwrap_err()
                .contains("signature")
        );
    }

    #[test]
    fn ath_binds_the_proof_to_an_access_token() {
        let k = key();
        let ath = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, b"tok"));
        let mut c = claims();
        c["ath"] = json!(ath);
        let p = proof_with(&k, "dpop+jwt", k.jwk.clone(), c);
        let target = |t| ProofTarget {
            htm: "POST",
            htu: URL,
            access_token: Some(t),
        };
        assert!(verify(&p, target("tok"), RULES, NOW).is_ok());
        assert!(
            verify(&p, target("other"), RULES, NOW)
                .unwrap_err()
                .to_string()
                .contains("ath")
        );
    }

    #[test]
    fn nonces_verify_only_with_the_key_and_within_their_lifetime() {
        let key = [7u8; 32];
        let n = issue_nonce(&key, NOW);
        assert!(check_nonce(&key, &n, NOW + 10, 300));
        assert!(!check_nonce(&key, &n, NOW + 301, 300));
        assert!(!check_nonce(&[8u8; 32], &n, NOW, 300));
        assert!(!check_nonce(&key, "garbage", NOW, 300));
    }
}
