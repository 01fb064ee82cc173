//! Signing keys: generation, loading from PKCS#8, signing, and the [`KeySet`] that the
//! token endpoint signs with and `/jwks` publishes.
//!
//! ES256 is the default (DESIGN.md); EdDSA (Ed25519) is selectable. RS256 comes with key
//! rotation. A key is identified by the RFC 7638 thumbprint of its public JWK, so a `kid`
//! never changes across restarts and never collides.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SecureRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::jwk::PublicJwk;

/// The JWS algorithms we sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    /// ECDSA P-256 with SHA-256 (RFC 7518 §3.4).
    ES256,
    /// Ed25519 (RFC 8037).
    EdDSA,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys (RFC 7518 §3.3).
    RS256,
}

impl SigningAlgorithm {
    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
            Self::RS256 => "RS256",
        }
    }
}

/// A `keys.algorithm` ahdapa cannot sign with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported signing algorithm {0:?} (expected \"ES256\", \"EdDSA\" or \"RS256\")")]
pub struct UnsupportedAlgorithm(pub String);

impl FromStr for SigningAlgorithm {
    type Err = UnsupportedAlgorithm;
    fn from_str(s: &str) -> Result<Self, UnsupportedAlgorithm> {
        match s {
            "ES256" => Ok(Self::ES256),
            "EdDSA" => Ok(Self::EdDSA),
            "RS256" => Ok(Self::RS256),
            other => Err(UnsupportedAlgorithm(other.to_owned())),
        }
    }
}

/// Why a key could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The random source failed.
    #[error("key generation failed")]
    Generation,
    /// The stored PKCS#8 document is not a key of the recorded algorithm.
    #[error("stored key is not a valid {0} PKCS#8 key")]
    Rejected(&'static str),
}

enum KeyPairKind {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
}

/// A parsed signing key, ready to sign.
pub struct SigningKey {
    algorithm: SigningAlgorithm,
    pair: KeyPairKind,
    jwk: PublicJwk,
    /// base64url of the JWS header `{"alg","typ":"at+jwt","kid"}`, computed once.
    at_jwt_header_b64: String,
    /// base64url of `{"alg","typ":"JWT","kid"}` (ID tokens), computed once.
    jwt_header_b64: String,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.jwk.kid)
            .finish()
    }
}

impl SigningKey {
    /// Generates a new private key, as a PKCS#8 v1 document.
    pub fn generate(
        algorithm: SigningAlgorithm,
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, KeyError> {
        let doc = match algorithm {
            SigningAlgorithm::ES256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng)
                    .map_err(|_| KeyError::Generation)?
                    .as_ref()
                    .to_vec()
            }
            SigningAlgorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(rng)
                .map_err(|_| KeyError::Generation)?
                .as_ref()
                .to_vec(),
            // aws-lc draws RSA key material from its own DRBG, not from `rng`.
            SigningAlgorithm::RS256 => {
                let pair =
                    RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generation)?;
                let der: Pkcs8V1Der<'static> = pair.as_der().map_err(|_| KeyError::Generation)?;
                der.as_ref().to_vec()
            }
        };
        Ok(doc)
    }

    /// Parses a PKCS#8 private key of the given algorithm.
    pub fn from_pkcs8(algorithm: SigningAlgorithm, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let (pair, jwk) = match algorithm {
            SigningAlgorithm::ES256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map_err(|_| KeyError::Rejected("ES256"))?;
                let jwk = PublicJwk::p256(pair.public_key().as_ref())
                    .ok_or(KeyError::Rejected("ES256"))?;
                (KeyPairKind::Es256(pair), jwk)
            }
            SigningAlgorithm::EdDSA => {
                let pair =
                    Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| KeyError::Rejected("EdDSA"))?;
                let jwk = PublicJwk::ed25519(pair.public_key().as_ref())
                    .ok_or(KeyError::Rejected("EdDSA"))?;
                (KeyPairKind::EdDsa(pair), jwk)
            }
            SigningAlgorithm::RS256 => {
                let pair =
                    RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| KeyError::Rejected("RS256"))?;
                if pair.public_modulus_len() < 256 {
                    return Err(KeyError::Rejected("RS256 (at least 2048 bits)"));
                }
                let public = pair.public_key();
                let jwk = PublicJwk::rsa(
                    public.modulus().big_endian_without_leading_zero(),
                    public.exponent().big_endian_without_leading_zero(),
                )
                .ok_or(KeyError::Rejected("RS256"))?;
                (KeyPairKind::Rs256(pair), jwk)
            }
        };
        Ok(Self {
            algorithm,
            pair,
            at_jwt_header_b64: header_b64(algorithm, "at+jwt", &jwk.kid),
            jwt_header_b64: header_b64(algorithm, "JWT", &jwk.kid),
            jwk,
        })
    }

    /// The same key under another `kid` (an imported key keeps the one its tokens
    /// already name).
    pub fn with_kid(mut self, kid: &str) -> Self {
        self.jwk.kid = kid.to_owned();
        self.at_jwt_header_b64 = header_b64(self.algorithm, "at+jwt", kid);
        self.jwt_header_b64 = header_b64(self.algorithm, "JWT", kid);
        self
    }

    /// Reads a PKCS#8 private key (PEM `PRIVATE KEY`) of any supported algorithm: P-256
    /// (ES256), Ed25519 (EdDSA) or RSA of 2048 bits or more (RS256).
    pub fn from_pkcs8_any(pkcs8: &[u8]) -> Result<Self, KeyError> {
        [
            SigningAlgorithm::ES256,
            SigningAlgorithm::EdDSA,
            SigningAlgorithm::RS256,
        ]
        .into_iter()
        .find_map(|a| Self::from_pkcs8(a, pkcs8).ok())
        .ok_or(KeyError::Rejected(
            "a P-256, Ed25519 or RSA (2048 bits or more) PKCS#8 key",
        ))
    }

    /// The `kid`.
    pub fn kid(&self) -> &str {
        &self.jwk.kid
    }

    /// The algorithm.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The public JWK.
    pub fn jwk(&self) -> &PublicJwk {
        &self.jwk
    }

    /// The encoded `at+jwt` header for this key.
    pub(crate) fn at_jwt_header_b64(&self) -> &str {
        &self.at_jwt_header_b64
    }

    /// The encoded `JWT` header for this key (ID tokens).
    pub(crate) fn jwt_header_b64(&self) -> &str {
        &self.jwt_header_b64
    }

    /// Signs `message` (the JWS signing input), returning the raw JWS signature.
    pub fn sign(&self, message: &[u8], rng: &dyn SecureRandom) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            KeyPairKind::Es256(pair) => Ok(pair
                .sign(rng, message)
                .map_err(|_| KeyError::Generation)?
                .as_ref()
                .to_vec()),
            KeyPairKind::EdDsa(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            KeyPairKind::Rs256(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, rng, message, &mut sig)
                    .map_err(|_| KeyError::Generation)?;
                Ok(sig)
            }
        }
    }
}

/// The base64url JWS header of a token of type `typ` signed by `kid`.
fn header_b64(algorithm: SigningAlgorithm, typ: &str, kid: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        r#"{{"alg":"{}","typ":"{typ}","kid":"{kid}"}}"#,
        algorithm.as_str()
    ))
}

/// The keys in force: the one that signs, and every key published in `/jwks`.
#[derive(Debug)]
pub struct KeySet {
    active: Arc<SigningKey>,
    /// The active key of each other algorithm in use (ID tokens a client asked to be
    /// signed otherwise, e.g. RS256).
    others: Vec<Arc<SigningKey>>,
    published: Vec<Arc<SigningKey>>,
    jwks_json: Vec<u8>,
}

impl KeySet {
    /// A key set whose `active` key signs; `published` must include it (it is added if not).
    pub fn new(active: Arc<SigningKey>, mut published: Vec<Arc<SigningKey>>) -> Self {
        if !published.iter().any(|k| k.kid() == active.kid()) {
            published.insert(0, Arc::clone(&active));
        }
        #[derive(Serialize)]
        struct Jwks<'a> {
            keys: Vec<&'a PublicJwk>,
        }
        let jwks = Jwks {
            keys: published.iter().map(|k| k.jwk()).collect(),
        };
        // Serialising plain strings into a Vec cannot fail.
        let jwks_json = serde_json::to_vec(&jwks).unwrap_or_else(|_| b"{\"keys\":[]}".to_vec());
        Self {
            active,
            others: Vec::new(),
            published,
            jwks_json,
        }
    }

    /// The same set with active keys of other algorithms (each must be published).
    pub fn with_others(mut self, others: Vec<Arc<SigningKey>>) -> Self {
        self.others = others;
        self
    }

    /// The key that signs new tokens.
    pub fn active(&self) -> &SigningKey {
        &self.active
    }

    /// The active key of `algorithm`, if the ring keeps one.
    pub fn active_for(&self, algorithm: SigningAlgorithm) -> Option<&SigningKey> {
        if self.active.algorithm() == algorithm {
            return Some(&self.active);
        }
        self.others
            .iter()
            .find(|k| k.algorithm() == algorithm)
            .map(|k| k.as_ref())
    }

    /// Every published key.
    pub fn published(&self) -> &[Arc<SigningKey>] {
        &self.published
    }

    /// The `/jwks` document (RFC 7517 §5).
    pub fn jwks_json(&self) -> &[u8] {
        &self.jwks_json
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;

    #[test]
    fn generated_keys_load_and_have_stable_kid() {
        let rng = SystemRandom::new();
        for alg in [
            SigningAlgorithm::ES256,
            SigningAlgorithm::EdDSA,
            SigningAlgorithm::RS256,
        ] {
            let pkcs8 = SigningKey::generate(alg, &rng).unwrap();
            let a = SigningKey::from_pkcs8(alg, &pkcs8).unwrap();
            let b = SigningKey::from_pkcs8(alg, &pkcs8).unwrap();
            assert_eq!(a.kid(), b.kid());
            assert_eq!(a.jwk().alg, alg.as_str());
        }
    }

    #[test]
    fn refuses_key_of_other_algorithm() {
        let rng = SystemRandom::new();
        let ed = SigningKey::generate(SigningAlgorithm::EdDSA, &rng).unwrap();
        assert!(SigningKey::from_pkcs8(SigningAlgorithm::ES256, &ed).is_err());
    }

    #[test]
    fn jwks_lists_active_key() {
        let rng = SystemRandom::new();
        let k = Arc::new(
            SigningKey::from_pkcs8(
                SigningAlgorithm::ES256,
                &SigningKey::generate(SigningAlgorithm::ES256, &rng).unwrap(),
            )
            .unwrap(),
        );
        let set = KeySet::new(Arc::clone(&k), vec![]);
        let v: serde_json::Value = serde_json::from_slice(set.jwks_json()).unwrap();
        assert_eq!(v["keys"][0]["kid"], k.kid());
        assert!(
            v["keys"][0].get("d").is_none(),
            "private part must never be published"
        );
    }
}
