//! ID tokens (OpenID Connect Core §2, §3.1.3.6): who signed in, when and how, for the
//! client that asked.
//!
//! Claims: `iss`, `sub` (the person's Kerberos principal: stable, and what FreeIPA, SSSD
//! and every service in the realm already call the person), `aud` (the client), `exp`,
//! `iat`, `auth_time`, `nonce` (when the request had one), `amr` (RFC 8176: `kerberos`,
//! `pwd`, `otp`), `azp` (the client, so a multi-audience token names its holder),
//! `at_hash` (§3.1.3.6: the left half of the hash of the access token), `sid` (the
//! session, for logout) and the profile claims the scopes granted.

use aws_lc_rs::rand::SecureRandom;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use super::OAuthError;
use crate::token::signer::{Signer, Typ};

/// The claims of one ID token.
#[derive(Debug, Serialize)]
pub struct IdTokenClaims<'a> {
    /// The issuer.
    pub iss: &'a str,
    /// The person.
    pub sub: &'a str,
    /// The client.
    pub aud: &'a str,
    /// Expiry.
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
    /// When the person authenticated.
    pub auth_time: u64,
    /// The request's `nonce`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<&'a str>,
    /// RFC 8176 methods.
    pub amr: &'a [String],
    /// The client the token was issued to.
    pub azp: &'a str,
    /// Half the hash of the access token issued with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// The session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<&'a str>,
    /// Claims by scope (profile, email, groups).
    #[serde(flatten)]
    pub profile: &'a serde_json::Map<String, serde_json::Value>,
}

/// §3.1.3.6 `at_hash`: base64url of the left half of the hash of the access token's
/// ASCII, the hash being the one of the ID token's `alg` (SHA-256 for ES256, RS256 and
/// HS256; SHA-512 for EdDSA with Ed25519, as the OpenID Foundation's registry says).
pub fn at_hash(access_token: &str, signer: &Signer<'_>) -> String {
    let digest = aws_lc_rs::digest::digest(signer.half_hash_algorithm(), access_token.as_bytes());
    let bytes = digest.as_ref();
    URL_SAFE_NO_PAD.encode(bytes.get(..bytes.len() / 2).unwrap_or(bytes))
}

/// Signs an ID token with `signer` (a server key, or an HS256 client's secret).
pub fn mint(
    signer: Signer<'_>,
    claims: &IdTokenClaims<'_>,
    rng: &dyn SecureRandom,
) -> Result<String, OAuthError> {
    signer
        .compact(Typ::IdToken, claims, rng)
        .map_err(|e| OAuthError::server_error(format!("signing the ID token: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_sha256_for_es256_rs256_and_hs256() {
        use crate::token::keys::{SigningAlgorithm, SigningKey};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let key =
            |alg| SigningKey::from_pkcs8(alg, &SigningKey::generate(alg, &rng).unwrap()).unwrap();
        // OIDC Core A.3's access token and at_hash (RS256, SHA-256).
        let token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        let (es, ed) = (key(SigningAlgorithm::ES256), key(SigningAlgorithm::EdDSA));
        assert_eq!(at_hash(token, &Signer::Key(&es)), "77QmUPtjPfzWtF2AnpK9RQ");
        assert_eq!(
            at_hash(token, &Signer::Secret(&[7; 32])),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(at_hash(token, &Signer::Key(&ed)).len(), 43);
    }
}
