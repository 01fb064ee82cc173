//! What signs a token: one of the server's key pairs (the published `kid`), or, for a
//! client registered with `token_signing = "HS256"`, an HMAC of that client's secret
//! (RFC 7518 §3.2; OpenID Connect Core §10.1: the octets of the UTF-8 `client_secret`).
//!
//! An HS256 token names no `kid`: only its client (and ahdapa) can check it, with the
//! secret they share.

use std::sync::LazyLock;

use aws_lc_rs::rand::SecureRandom;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::keys::{KeyError, SigningAlgorithm, SigningKey};

/// The JWS type of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typ {
    /// `at+jwt`: an access token (RFC 9068 §2.1).
    AccessToken,
    /// `JWT`: an ID token.
    IdToken,
}

static HS256_AT_HEADER: LazyLock<String> =
    LazyLock::new(|| URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"at+jwt"}"#));
static HS256_ID_HEADER: LazyLock<String> =
    LazyLock::new(|| URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#));

/// The key a token is signed with.
#[derive(Debug, Clone, Copy)]
pub enum Signer<'a> {
    /// One of the server's keys.
    Key(&'a SigningKey),
    /// HS256 with a client's secret (at least 32 bytes, checked at registration).
    Secret(&'a [u8]),
}

impl Signer<'_> {
    /// The base64url JWS header of a token of type `typ`.
    pub fn header_b64(&self, typ: Typ) -> &str {
        match (self, typ) {
            (Self::Key(k), Typ::AccessToken) => k.at_jwt_header_b64(),
            (Self::Key(k), Typ::IdToken) => k.jwt_header_b64(),
            (Self::Secret(_), Typ::AccessToken) => &HS256_AT_HEADER,
            (Self::Secret(_), Typ::IdToken) => &HS256_ID_HEADER,
        }
    }

    /// The JWS signature over `message` (the signing input).
    pub fn sign(&self, message: &[u8], rng: &dyn SecureRandom) -> Result<Vec<u8>, KeyError> {
        match self {
            Self::Key(k) => k.sign(message, rng),
            Self::Secret(secret) => {
                let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
                Ok(aws_lc_rs::hmac::sign(&key, message).as_ref().to_vec())
            }
        }
    }

    /// The hash of OpenID Connect's `at_hash` and `c_hash` for this `alg`: SHA-256 for
    /// ES256, RS256 and HS256; SHA-512 for EdDSA with Ed25519.
    pub fn half_hash_algorithm(&self) -> &'static aws_lc_rs::digest::Algorithm {
        match self {
            Self::Key(k) if k.algorithm() == SigningAlgorithm::EdDSA => &aws_lc_rs::digest::SHA512,
            _ => &aws_lc_rs::digest::SHA256,
        }
    }

    /// Signs `claims` into a compact JWS of type `typ`.
    pub fn compact<T: serde::Serialize>(
        &self,
        typ: Typ,
        claims: &T,
        rng: &dyn SecureRandom,
    ) -> Result<String, SignError> {
        let payload = serde_json::to_vec(claims)?;
        let header = self.header_b64(typ);
        let mut out = String::with_capacity(header.len() + payload.len() * 4 / 3 + 100);
        out.push_str(header);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut out);
        let signature = self.sign(out.as_bytes(), rng)?;
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut out);
        Ok(out)
    }
}

/// Why signing failed: only our own bugs or a broken random source.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The claims did not serialise.
    #[error("claims did not serialise: {0}")]
    Claims(#[from] serde_json::Error),
    /// Signing failed.
    #[error(transparent)]
    Key(#[from] KeyError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};

    #[test]
    fn an_hs256_token_verifies_with_the_secret_and_names_no_kid() {
        let secret = b"0123456789abcdef0123456789abcdef-client-secret";
        let jwt = Signer::Secret(secret)
            .compact(
                Typ::AccessToken,
                &serde_json::json!({"sub": "s", "exp": 4_000_000_000u64}),
                &SystemRandom::new(),
            )
            .unwrap();
        let header = decode_header(&jwt).unwrap();
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid, None);
        let v = Validation::new(Algorithm::HS256);
        let claims = decode::<serde_json::Value>(&jwt, &DecodingKey::from_secret(secret), &v)
            .unwrap()
            .claims;
        assert_eq!(claims["sub"], "s");
        let wrong = DecodingKey::from_secret(b"another secret of thirty-two bytes!!");
        assert!(decode::<serde_json::Value>(&jwt, &wrong, &v).is_err());
    }
}
