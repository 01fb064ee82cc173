//! Client secrets: generation, the presented-secret newtype, and the stored hash.
//!
//! Secrets are 256 random bits written in the URL-safe base64 alphabet (43 characters,
//! `A-Z a-z 0-9 - _`), so they survive SSSD's unencoded form bodies and HTTP Basic's
//! form-encoding unchanged. Only a SHA-256 hash is stored: for a secret with 256 bits of
//! entropy a slow password hash adds nothing but latency (DESIGN.md). Comparison is
//! constant-time. [`ClientSecret`] has a redacted `Debug` and no `Display`, so it cannot
//! end up in a log line by accident.

use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::rand::SecureRandom;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

/// The prefix of a stored hash, naming its algorithm.
const HASH_PREFIX: &str = "sha256:";
/// Domain separation: a hash of a client secret is never the hash of anything else.
const HASH_CONTEXT: &[u8] = b"ahdapa client secret v1\0";

/// A secret as presented by a client or freshly generated. Never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a presented secret.
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    /// A new 256-bit secret from `rng`.
    pub fn generate(rng: &dyn SecureRandom) -> Result<Self, aws_lc_rs::error::Unspecified> {
        let mut bytes = [0u8; 32];
        rng.fill(&mut bytes)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The secret itself, for the one place that shows it to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// The stored form of a client secret: `sha256:<base64url of the digest>`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// Hashes a secret for storage.
    pub fn of(secret: &ClientSecret) -> Self {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(HASH_CONTEXT);
        ctx.update(secret.0.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        Self(out)
    }

    /// Parses the stored form; `None` when it is not `sha256:` + 43 base64url characters.
    pub fn parse(stored: &str) -> Option<Self> {
        let b64 = stored.strip_prefix(HASH_PREFIX)?;
        let bytes = URL_SAFE_NO_PAD.decode(b64).ok()?;
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(arr))
    }

    /// True when `presented` hashes to this value; constant-time in the digest.
    pub fn verify(&self, presented: &ClientSecret) -> bool {
        bool::from(Self::of(presented).0.ct_eq(&self.0))
    }

    /// The stored form.
    pub fn to_stored(&self) -> String {
        format!("{HASH_PREFIX}{}", URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;

    #[test]
    fn generated_secret_is_256_bits_url_safe() {
        let s = ClientSecret::generate(&SystemRandom::new()).unwrap();
        assert_eq!(s.expose().len(), 43);
        assert!(
            s.expose()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }

    #[test]
    fn hash_round_trips_and_verifies() {
        let s = ClientSecret::new("correct".into());
        let stored = SecretHash::of(&s).to_stored();
        let parsed = SecretHash::parse(&stored).unwrap();
        assert!(parsed.verify(&s));
        assert!(!parsed.verify(&ClientSecret::new("wrong".into())));
    }

    #[test]
    fn rejects_malformed_stored_hash() {
        assert!(SecretHash::parse("md5:abc").is_none());
        assert!(SecretHash::parse("sha256:short").is_none());
    }

    #[test]
    fn debug_never_shows_secret() {
        let s = ClientSecret::new("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
