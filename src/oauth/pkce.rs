//! PKCE (RFC 7636): the `code_challenge` an authorization request carries and the
//! `code_verifier` that redeems its code.
//!
//! Only `S256` is offered (§4.2); `plain` is refused, as RFC 9700 §2.1.1 advises. The
//! challenge is checked for its form when the request arrives (43 base64url characters:
//! a SHA-256), the verifier when the code is redeemed (§4.1: 43–128 unreserved
//! characters), and the comparison is in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::OAuthError;

/// The `code_challenge_methods_supported` of discovery.
pub const METHODS_SUPPORTED: [&str; 1] = ["S256"];

/// A validated S256 challenge: the base64url SHA-256 of the verifier.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Challenge(String);

impl Challenge {
    /// Reads `code_challenge` and `code_challenge_method` of an authorization request
    /// (§4.3). A missing method means `plain` (§4.3), which is refused.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, OAuthError> {
        match method {
            Some("S256") => {}
            None | Some("plain") => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method must be S256 (plain is not accepted)",
                ));
            }
            Some(other) => {
                return Err(OAuthError::invalid_request(format!(
                    "code_challenge_method {:?} is not supported (S256 is)",
                    other.chars().take(20).collect::<String>()
                )));
            }
        }
        let decoded = URL_SAFE_NO_PAD.decode(challenge).ok();
        if challenge.len() != 43 || decoded.is_none_or(|d| d.len() != 32) {
            return Err(OAuthError::invalid_request(
                "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
            ));
        }
        Ok(Self(challenge.to_owned()))
    }

    /// The challenge as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// §4.6: `BASE64URL(SHA256(code_verifier)) == code_challenge`, the verifier's form
    /// checked first. A mismatch is `invalid_grant`.
    pub fn verify(&self, verifier: &str) -> Result<(), OAuthError> {
        if !(43..=128).contains(&verifier.len())
            || !verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        {
            return Err(OAuthError::invalid_grant(
                "code_verifier must be 43 to 128 unreserved characters (RFC 7636 §4.1)",
            ));
        }
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
        let computed = URL_SAFE_NO_PAD.encode(digest.as_ref());
        if aws_lc_rs::constant_time::verify_slices_are_equal(computed.as_bytes(), self.0.as_bytes())
            .is_ok()
        {
            Ok(())
        } else {
            Err(OAuthError::invalid_grant(
                "code_verifier does not match the code_challenge",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn verifies_the_rfc_7636_appendix_b_example() {
        let c = Challenge::parse(CHALLENGE, Some("S256")).unwrap();
        c.verify(VERIFIER).unwrap();
    }

    #[test]
    fn refuses_a_wrong_verifier_as_invalid_grant() {
        let c = Challenge::parse(CHALLENGE, Some("S256")).unwrap();
        let wrong = format!("{}A", &VERIFIER[..VERIFIER.len() - 1]);
        assert_eq!(c.verify(&wrong).unwrap_err().code(), "invalid_grant");
    }

    #[test]
    fn refuses_plain_and_a_missing_method() {
        for m in [None, Some("plain"), Some("S512")] {
            assert_eq!(
                Challenge::parse(CHALLENGE, m).unwrap_err().code(),
                "invalid_request"
            );
        }
    }

    #[test]
    fn refuses_a_challenge_that_is_not_a_sha256() {
        for c in ["short", &"A".repeat(44), &"!".repeat(43)] {
            assert!(Challenge::parse(c, Some("S256")).is_err(), "{c}");
        }
    }

    #[test]
    fn refuses_verifiers_of_the_wrong_form() {
        let c = Challenge::parse(CHALLENGE, Some("S256")).unwrap();
        for v in ["short", &"a".repeat(129), &format!("{} ", &VERIFIER[..42])] {
            assert_eq!(c.verify(v).unwrap_err().code(), "invalid_grant", "{v}");
        }
    }
}
