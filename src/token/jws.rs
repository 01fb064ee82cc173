//! Compact JWS (RFC 7515 §7.1) as ahdapa receives it in client assertions and DPoP
//! proofs: the header is parsed here, not by jsonwebtoken, so that the algorithm names
//! of RFC 9864 (`Ed25519`, which oauth4webapi and openid-client send) are understood
//! beside the older `EdDSA`, and the signature is checked over the exact bytes received.
//!
//! Never accepted: `none`, a JWS that is not three base64url parts, a header that is not
//! a JSON object, a `crit` header (RFC 7515 §4.1.11: we understand no extension).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};

/// Why a JWS was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Not three base64url parts, or a header that is not a JSON object.
    #[error("not a compact JWS ({0})")]
    Malformed(&'static str),
    /// The header names no algorithm we accept (or `none`).
    #[error("alg {0:?} is not accepted")]
    Algorithm(String),
    /// The header carries `crit`.
    #[error("crit header parameters are not understood")]
    Critical,
    /// The key does not verify the signature.
    #[error("the signature does not verify")]
    Signature,
    /// The payload is not the JSON it must be.
    #[error("the payload is not JSON claims: {0}")]
    Payload(String),
}

/// A compact JWS split into its parts, the header parsed.
#[derive(Debug, Clone)]
pub struct Compact<'a> {
    /// The protected header.
    pub header: serde_json::Map<String, serde_json::Value>,
    /// The algorithm the header names (`EdDSA` and `Ed25519` are both [`Algorithm::EdDSA`]).
    pub alg: Algorithm,
    signing_input: &'a str,
    payload_b64: &'a str,
    signature_b64: &'a str,
}

/// The algorithm an `alg` name means, for the names we accept from clients.
pub fn algorithm(name: &str) -> Option<Algorithm> {
    Some(match name {
        "EdDSA" | "Ed25519" => Algorithm::EdDSA,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        _ => return None,
    })
}

/// Splits `jws` and parses its header.
pub fn split(jws: &str) -> Result<Compact<'_>, JwsError> {
    let mut parts = jws.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed("it must have three parts"));
    };
    let header_bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| JwsError::Malformed("the header is not base64url"))?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header_bytes)
        .map_err(|_| JwsError::Malformed("the header is not a JSON object"))?;
    if header.contains_key("crit") {
        return Err(JwsError::Critical);
    }
    let name = header.get("alg").and_then(|a| a.as_str()).unwrap_or("none");
    let alg = algorithm(name).ok_or_else(|| JwsError::Algorithm(name.to_owned()))?;
    let signing_input = jws
        .get(..header_b64.len() + 1 + payload_b64.len())
        .ok_or(JwsError::Malformed("it must have three parts"))?;
    Ok(Compact {
        header,
        alg,
        signing_input,
        payload_b64,
        signature_b64,
    })
}

impl Compact<'_> {
    /// The header's `alg` as it was written.
    pub fn alg_name(&self) -> &str {
        self.header
            .get("alg")
            .and_then(|a| a.as_str())
            .unwrap_or("none")
    }

    /// A string header parameter (`kid`, `typ`).
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(|v| v.as_str())
    }

    /// Checks the signature with `key` and returns the payload parsed as `T`.
    pub fn verify<T: serde::de::DeserializeOwned>(&self, key: &DecodingKey) -> Result<T, JwsError> {
        let ok = jsonwebtoken::crypto::verify(
            self.signature_b64,
            self.signing_input.as_bytes(),
            key,
            self.alg,
        )
        .unwrap_or(false);
        if !ok {
            return Err(JwsError::Signature);
        }
        let payload = URL_SAFE_NO_PAD
            .decode(self.payload_b64)
            .map_err(|_| JwsError::Payload("not base64url".into()))?;
        serde_json::from_slice(&payload).map_err(|e| JwsError::Payload(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};

    fn ed25519() -> (EncodingKey, DecodingKey) {
        use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let public = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        (
            EncodingKey::from_ed_der(pkcs8.as_ref()),
            DecodingKey::from_ed_components(&public).unwrap(),
        )
    }

    /// A JWS with a hand-written header (jsonwebtoken would write `EdDSA`).
    fn signed(header: &str, claims: &str, key: &EncodingKey) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), key, Algorithm::EdDSA).unwrap();
        format!("{input}.{sig}")
    }

    #[test]
    fn accepts_rfc_9864_ed25519_beside_eddsa() {
        let (enc, dec) = ed25519();
        for alg in ["EdDSA", "Ed25519"] {
            let jws = signed(
                &format!(r#"{{"alg":"{alg}","kid":"k"}}"#),
                r#"{"sub":"x"}"#,
                &enc,
            );
            let c = split(&jws).unwrap();
            assert_eq!(
                (c.alg, c.alg_name(), c.header_str("kid")),
                (Algorithm::EdDSA, alg, Some("k"))
            );
            let claims: serde_json::Value = c.verify(&dec).unwrap();
            assert_eq!(claims["sub"], "x");
        }
        let normal = jsonwebtoken::encode(
            &Header::new(Algorithm::EdDSA),
            &serde_json::json!({"a": 1}),
            &enc,
        )
        .unwrap();
        assert!(
            split(&normal)
                .unwrap()
                .verify::<serde_json::Value>(&dec)
                .is_ok()
        );
    }

    #[test]
    fn refuses_none_crit_tampering_and_junk() {
        let (enc, dec) = ed25519();
        let jws = signed(r#"{"alg":"none"}"#, "{}", &enc);
        assert_eq!(split(&jws).unwrap_err(), JwsError::Algorithm("none".into()));
        let jws = signed(r#"{"alg":"EdDSA","crit":["x"]}"#, "{}", &enc);
        assert_eq!(split(&jws).unwrap_err(), JwsError::Critical);
        let jws = signed(r#"{"alg":"Ed25519"}"#, r#"{"sub":"x"}"#, &enc);
        let (h, rest) = jws.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let tampered = format!("{h}.{}.{sig}", URL_SAFE_NO_PAD.encode(r#"{"sub":"y"}"#));
        assert_eq!(
            split(&tampered)
                .unwrap()
                .verify::<serde_json::Value>(&dec)
                .unwrap_err(),
            JwsError::Signature
        );
        for junk in ["", "a.b", "a.b.c.d", "!!.e30.x", "W10.e30.x"] {
            assert!(matches!(split(junk), Err(JwsError::Malformed(_))), "{junk}");
        }
    }
}
