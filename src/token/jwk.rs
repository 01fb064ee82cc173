//! Public JSON Web Keys (RFC 7517) and their RFC 7638 thumbprints, which we use as `kid`.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

/// The public half of a signing key, as published in `/jwks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicJwk {
    /// `EC`, `OKP` or `RSA`.
    pub kty: &'static str,
    /// `P-256` or `Ed25519` (not for RSA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<&'static str>,
    /// base64url x coordinate (EC) or public key (OKP); empty for RSA.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub x: String,
    /// base64url y coordinate (EC only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// base64url modulus (RSA only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// base64url public exponent (RSA only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// The RFC 7638 thumbprint of this key.
    pub kid: String,
    /// `ES256` or `EdDSA`.
    pub alg: &'static str,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: &'static str,
}

impl PublicJwk {
    /// An EC P-256 key from its uncompressed point (`04 || X || Y`).
    pub fn p256(uncompressed: &[u8]) -> Option<Self> {
        let (tag, xy) = uncompressed.split_first()?;
        if *tag != 4 || xy.len() != 64 {
            return None;
        }
        let (x, y) = xy.split_at(32);
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        // RFC 7638 §3.2: required members, lexicographic order, no whitespace.
        let kid = thumbprint(&format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#
        ));
        Some(Self {
            kty: "EC",
            crv: Some("P-256"),
            n: None,
            e: None,
            x,
            y: Some(y),
            kid,
            alg: "ES256",
            use_: "sig",
        })
    }

    /// An Ed25519 key from its 32 public bytes (RFC 8037).
    pub fn ed25519(public: &[u8]) -> Option<Self> {
        if public.len() != 32 {
            return None;
        }
        let x = URL_SAFE_NO_PAD.encode(public);
        let kid = thumbprint(&format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#));
        Some(Self {
            kty: "OKP",
            crv: Some("Ed25519"),
            n: None,
            e: None,
            x,
            y: None,
            kid,
            alg: "EdDSA",
            use_: "sig",
        })
    }
}

impl PublicJwk {
    /// An RSA key from its big-endian modulus and exponent (RFC 7518 §6.3.1).
    pub fn rsa(modulus: &[u8], exponent: &[u8]) -> Option<Self> {
        if modulus.is_empty() || exponent.is_empty() {
            return None;
        }
        let (n, e) = (
            URL_SAFE_NO_PAD.encode(modulus),
            URL_SAFE_NO_PAD.encode(exponent),
        );
        let kid = thumbprint(&format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#));
        Some(Self {
            kty: "RSA",
            crv: None,
            x: String::new(),
            y: None,
            n: Some(n),
            e: Some(e),
            kid,
            alg: "RS256",
            use_: "sig",
        })
    }
}

/// base64url(SHA-256(canonical JSON)) — RFC 7638 §3.
fn thumbprint(canonical: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
}

/// An EC public JWK with its coordinates left-padded to the curve's size (RFC 7518
/// §6.2.1.2 requires the full length; some libraries, e.g. PyJWT before 2.8, drop
/// leading zero bytes, which would make one key in 128 unusable). Other keys, and
/// coordinates that are not base64url, come back unchanged.
pub fn with_full_ec_coordinates(jwk: &serde_json::Value) -> serde_json::Value {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let size = match jwk.get("crv").and_then(|c| c.as_str()) {
        Some("P-256") if jwk.get("kty").and_then(|k| k.as_str()) == Some("EC") => 32,
        Some("P-384") if jwk.get("kty").and_then(|k| k.as_str()) == Some("EC") => 48,
        _ => return jwk.clone(),
    };
    let mut out = jwk.clone();
    for coordinate in ["x", "y"] {
        let Some(bytes) = jwk
            .get(coordinate)
            .and_then(|v| v.as_str())
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
        else {
            continue;
        };
        if bytes.len() < size {
            let mut padded = vec![0u8; size - bytes.len()];
            padded.extend_from_slice(&bytes);
            if let Some(slot) = out.get_mut(coordinate) {
                *slot = URL_SAFE_NO_PAD.encode(padded).into();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8037_appendix_a3_ed25519_thumbprint() {
        // RFC 8037 A.3: the thumbprint of the example key.
        let x = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        let jwk = PublicJwk::ed25519(&x).unwrap();
        assert_eq!(jwk.kid, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn rejects_malformed_points() {
        assert!(PublicJwk::p256(&[4u8; 10]).is_none());
        assert!(PublicJwk::p256(&[]).is_none());
        assert!(PublicJwk::ed25519(&[0u8; 31]).is_none());
    }
}
