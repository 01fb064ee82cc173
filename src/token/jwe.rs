//! JWE compact serialisation (RFC 7516 §7.1) of the tokens of a client that registered an
//! encryption key: the signed token is the plaintext (`cty: "JWT"`, sign-then-encrypt as
//! RFC 7519 §11.2 recommends). ahdapa only encrypts; the client decrypts with its private
//! key.
//!
//! Key management (RFC 7518): `RSA-OAEP-256` (RSA of 2048 bits or more; authentik's
//! choice) or `ECDH-ES` on P-256 (direct key agreement, Concat KDF). Content encryption:
//! `A256CBC-HS512` (§5.2.5; the default) or `A256GCM`. Every primitive is aws-lc-rs's (the
//! crypto library the rest of ahdapa uses); only the serialisation is written here. No
//! Rust JWE crate is both maintained and audited: josekit binds OpenSSL and has had no
//! audit, biscuit is unmaintained.

use aws_lc_rs::rand::SecureRandom;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// How the content-encryption key reaches the client (RFC 7518 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// RSAES-OAEP with SHA-256 and MGF1-SHA-256.
    RsaOaep256,
    /// ECDH-ES on P-256, the agreed key used directly.
    EcdhEs,
}

impl KeyAlgorithm {
    /// The `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RsaOaep256 => "RSA-OAEP-256",
            Self::EcdhEs => "ECDH-ES",
        }
    }
}

/// How the content is encrypted (RFC 7518 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncryption {
    /// AES-256-CBC with HMAC-SHA-512 (truncated to 256 bits).
    A256CbcHs512,
    /// AES-256-GCM.
    A256Gcm,
}

impl ContentEncryption {
    /// The `enc` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A256CbcHs512 => "A256CBC-HS512",
            Self::A256Gcm => "A256GCM",
        }
    }

    fn key_len(self) -> usize {
        match self {
            Self::A256CbcHs512 => 64,
            Self::A256Gcm => 32,
        }
    }
}

/// The `alg` values discovery lists (`id_token_encryption_alg_values_supported`).
pub const KEY_ALGORITHMS: &[&str] = &["RSA-OAEP-256", "ECDH-ES"];
/// The `enc` values discovery lists.
pub const CONTENT_ENCRYPTIONS: &[&str] = &["A256CBC-HS512", "A256GCM"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum PublicKey {
    /// An RSA key, parsed once at registration.
    Rsa(RsaKey),
    /// The uncompressed P-256 point (checked at registration).
    P256(Vec<u8>),
}

/// An RSA public key ready for RSA-OAEP, with the SubjectPublicKeyInfo DER it was read
/// from (which is what makes two of them equal).
#[derive(Clone)]
struct RsaKey {
    spki: Vec<u8>,
    key: std::sync::Arc<aws_lc_rs::rsa::OaepPublicEncryptingKey>,
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaKey")
    }
}

impl PartialEq for RsaKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki == other.spki
    }
}

impl Eq for RsaKey {}

/// A client's encryption key with the algorithms its tokens are encrypted with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionKey {
    key: PublicKey,
    kid: Option<String>,
    alg: KeyAlgorithm,
    enc: ContentEncryption,
}

/// Why a registered encryption key or its algorithms are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyProblem(pub String);

/// Why encrypting failed: a broken random source, or our own bug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token encryption failed: {0}")]
pub struct EncryptError(&'static str);

impl EncryptionKey {
    /// Reads a registered key: a JWK object (`kty` `RSA` with `n`/`e`, or `EC` on
    /// `P-256` with `x`/`y`) or a PEM string (`PUBLIC KEY` or `CERTIFICATE`). `alg`
    /// defaults to `RSA-OAEP-256` for RSA keys and `ECDH-ES` for EC keys, `enc` to
    /// `A256CBC-HS512`.
    pub fn parse(
        key: &serde_json::Value,
        alg: Option<&str>,
        enc: Option<&str>,
    ) -> Result<Self, KeyProblem> {
        let problem = |m: &str| KeyProblem(m.to_owned());
        // The JWK's own `alg`, when none is registered beside it.
        let named = key.get("alg").and_then(|a| a.as_str()).map(str::to_owned);
        let (key, kid) = match key {
            serde_json::Value::String(pem) => (from_pem(pem)?, None),
            serde_json::Value::Object(jwk) => from_jwk(jwk)?,
            _ => {
                return Err(problem(
                    "expected a JWK (RSA, or EC on P-256) or a PEM public key or certificate",
                ));
            }
        };
        let alg = match (alg.or(named.as_deref()), &key) {
            (None | Some("RSA-OAEP-256"), PublicKey::Rsa(_)) => KeyAlgorithm::RsaOaep256,
            (None | Some("ECDH-ES"), PublicKey::P256(_)) => KeyAlgorithm::EcdhEs,
            (Some("RSA-OAEP-256" | "ECDH-ES"), _) => {
                return Err(problem(
                    "RSA-OAEP-256 needs an RSA key and ECDH-ES an EC (P-256) key",
                ));
            }
            (Some(other), _) => {
                return Err(KeyProblem(format!(
                    "alg {other:?} is not served (RSA-OAEP-256 or ECDH-ES)"
                )));
            }
        };
        let enc = match enc {
            None | Some("A256CBC-HS512") => ContentEncryption::A256CbcHs512,
            Some("A256GCM") => ContentEncryption::A256Gcm,
            Some(other) => {
                return Err(KeyProblem(format!(
                    "enc {other:?} is not served (A256CBC-HS512 or A256GCM)"
                )));
            }
        };
        Ok(Self { key, kid, alg, enc })
    }

    /// The key management algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.alg
    }

    /// The content encryption.
    pub fn content_encryption(&self) -> ContentEncryption {
        self.enc
    }

    /// Encrypts `jws` (a signed token) into a compact JWE for this key.
    pub fn encrypt(&self, jws: &str, rng: &dyn SecureRandom) -> Result<String, EncryptError> {
        let mut header = serde_json::Map::new();
        header.insert("alg".into(), self.alg.as_str().into());
        header.insert("enc".into(), self.enc.as_str().into());
        header.insert("cty".into(), "JWT".into());
        if let Some(kid) = &self.kid {
            header.insert("kid".into(), kid.as_str().into());
        }
        let (cek, encrypted_key) = match &self.key {
            PublicKey::Rsa(rsa) => {
                let mut cek = vec![0u8; self.enc.key_len()];
                rng.fill(&mut cek).map_err(|_| EncryptError("random"))?;
                (cek.clone(), rsa_oaep_256(&rsa.key, &cek)?)
            }
            PublicKey::P256(point) => {
                let (cek, epk) = ecdh_es(point, self.enc, rng)?;
                header.insert("epk".into(), epk);
                (cek, Vec::new())
            }
        };
        let protected = URL_SAFE_NO_PAD.encode(serde_json::Value::Object(header).to_string());
        let aad = protected.as_bytes();
        let (iv, ciphertext, tag) = match self.enc {
            ContentEncryption::A256CbcHs512 => a256cbc_hs512(&cek, aad, jws.as_bytes(), rng)?,
            ContentEncryption::A256Gcm => a256gcm(&cek, aad, jws.as_bytes(), rng)?,
        };
        let mut out = protected;
        for part in [&encrypted_key, &iv, &ciphertext, &tag] {
            out.push('.');
            URL_SAFE_NO_PAD.encode_string(part, &mut out);
        }
        Ok(out)
    }
}

/// True when `token` has the five parts of a compact JWE.
pub fn is_compact_jwe(token: &str) -> bool {
    token.split('.').count() == 5
}

fn from_pem(pem: &str) -> Result<PublicKey, KeyProblem> {
    use rustls_pki_types::pem::PemObject;
    let spki = match rustls_pki_types::SubjectPublicKeyInfoDer::from_pem_slice(pem.as_bytes()) {
        Ok(der) => der.as_ref().to_vec(),
        Err(_) => {
            let cert = rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
                .map_err(|_| KeyProblem("not a PEM PUBLIC KEY or CERTIFICATE".to_owned()))?;
            let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
                .map_err(|_| KeyProblem("the certificate does not parse".to_owned()))?;
            parsed.tbs_certificate.subject_pki.raw.to_vec()
        }
    };
    from_spki(&spki)
}

fn from_spki(spki: &[u8]) -> Result<PublicKey, KeyProblem> {
    use x509_parser::prelude::FromDer;
    let (_, info) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki)
        .map_err(|_| KeyProblem("the public key does not parse".to_owned()))?;
    let oid = &info.algorithm.algorithm;
    if *oid == x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION {
        return rsa_key(spki.to_vec()).map(PublicKey::Rsa);
    }
    let on_p256 = info
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .is_some_and(|curve| curve == x509_parser::oid_registry::OID_EC_P256);
    if *oid == x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY && on_p256 {
        let point = info.subject_public_key.data.to_vec();
        check_p256(&point)?;
        return Ok(PublicKey::P256(point));
    }
    Err(KeyProblem(
        "an RSA key or an EC key on P-256 is needed".to_owned(),
    ))
}

fn from_jwk(
    jwk: &serde_json::Map<String, serde_json::Value>,
) -> Result<(PublicKey, Option<String>), KeyProblem> {
    let field = |name: &str| -> Result<Vec<u8>, KeyProblem> {
        let text = jwk
            .get(name)
            .and_then(|v| v.as_str())
            .ok_or_else(|| KeyProblem(format!("the JWK has no {name}")))?;
        URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| KeyProblem(format!("the JWK's {name} is not base64url")))
    };
    if jwk.contains_key("d") {
        return Err(KeyProblem(
            "the JWK holds a private key (d): register the public key only".to_owned(),
        ));
    }
    if jwk
        .get("use")
        .and_then(|u| u.as_str())
        .is_some_and(|u| u != "enc")
    {
        return Err(KeyProblem("the JWK's use is not \"enc\"".to_owned()));
    }
    if let Some(ops) = jwk.get("key_ops").and_then(|o| o.as_array())
        && !ops
            .iter()
            .any(|o| matches!(o.as_str(), Some("encrypt" | "wrapKey" | "deriveKey")))
    {
        return Err(KeyProblem(
            "the JWK's key_ops allow no encryption (encrypt, wrapKey or deriveKey)".to_owned(),
        ));
    }
    if let Some(alg) = jwk.get("alg").and_then(|a| a.as_str())
        && !KEY_ALGORITHMS.contains(&alg)
    {
        return Err(KeyProblem(format!(
            "the JWK's alg {alg:?} is not served (RSA-OAEP-256 or ECDH-ES)"
        )));
    }
    let kid = jwk.get("kid").and_then(|k| k.as_str()).map(str::to_owned);
    let key = match jwk.get("kty").and_then(|k| k.as_str()) {
        Some("RSA") => PublicKey::Rsa(rsa_key(rsa_spki(&field("n")?, &field("e")?))?),
        Some("EC") if jwk.get("crv").and_then(|c| c.as_str()) == Some("P-256") => {
            let (x, y) = (field("x")?, field("y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err(KeyProblem("a P-256 x and y are 32 bytes each".to_owned()));
            }
            let mut point = vec![4u8];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            check_p256(&point)?;
            PublicKey::P256(point)
        }
        _ => {
            return Err(KeyProblem(
                "the JWK must be kty RSA, or kty EC with crv P-256".to_owned(),
            ));
        }
    };
    Ok((key, kid))
}

fn rsa_key(spki: Vec<u8>) -> Result<RsaKey, KeyProblem> {
    let unusable = || KeyProblem("not a usable RSA public key".to_owned());
    let key = aws_lc_rs::rsa::PublicEncryptingKey::from_der(&spki).map_err(|_| unusable())?;
    if key.key_size_bits() < 2048 {
        return Err(KeyProblem("an RSA key needs 2048 bits or more".to_owned()));
    }
    let key = aws_lc_rs::rsa::OaepPublicEncryptingKey::new(key).map_err(|_| unusable())?;
    Ok(RsaKey {
        spki,
        key: std::sync::Arc::new(key),
    })
}

fn check_p256(point: &[u8]) -> Result<(), KeyProblem> {
    let unparsed =
        aws_lc_rs::agreement::UnparsedPublicKey::new(&aws_lc_rs::agreement::ECDH_P256, point);
    aws_lc_rs::agreement::ParsedPublicKey::try_from(&unparsed)
        .map(|_| ())
        .map_err(|_| KeyProblem("the point is not on P-256".to_owned()))
}

/// DER of `SubjectPublicKeyInfo { rsaEncryption, RSAPublicKey { n, e } }`.
fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn len(n: usize) -> Vec<u8> {
        match n {
            0..=127 => vec![n as u8],
            128..=255 => vec![0x81, n as u8],
            _ => vec![0x82, (n >> 8) as u8, n as u8],
        }
    }
    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend(len(body.len()));
        out.extend_from_slice(body);
        out
    }
    fn integer(bytes: &[u8]) -> Vec<u8> {
        let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
        let mut body = Vec::with_capacity(trimmed.len() + 1);
        if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
            body.push(0);
        }
        body.extend(trimmed);
        tlv(0x02, &body)
    }
    const RSA_ALGORITHM: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut key = integer(n);
    key.extend(integer(e));
    let mut bits = vec![0u8];
    bits.extend(tlv(0x30, &key));
    let mut body = RSA_ALGORITHM.to_vec();
    body.extend(tlv(0x03, &bits));
    tlv(0x30, &body)
}

fn rsa_oaep_256(
    key: &aws_lc_rs::rsa::OaepPublicEncryptingKey,
    cek: &[u8],
) -> Result<Vec<u8>, EncryptError> {
    use aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256;
    let mut out = vec![0u8; key.ciphertext_size()];
    let written = key
        .encrypt(&OAEP_SHA256_MGF1SHA256, cek, &mut out, None)
        .map_err(|_| EncryptError("RSA-OAEP"))?
        .len();
    out.truncate(written);
    Ok(out)
}

/// ECDH-ES (RFC 7518 §4.6): an ephemeral P-256 key, the Concat KDF of the shared secret
/// to the content key, and the `epk` header naming the ephemeral public key.
fn ecdh_es(
    point: &[u8],
    enc: ContentEncryption,
    rng: &dyn SecureRandom,
) -> Result<(Vec<u8>, serde_json::Value), EncryptError> {
    use aws_lc_rs::agreement::{
        ECDH_P256, EphemeralPrivateKey, UnparsedPublicKey, agree_ephemeral,
    };
    let mine =
        EphemeralPrivateKey::generate(&ECDH_P256, rng).map_err(|_| EncryptError("random"))?;
    let public = mine
        .compute_public_key()
        .map_err(|_| EncryptError("the ephemeral key"))?;
    let public = public.as_ref();
    let (Some(x), Some(y)) = (public.get(1..33), public.get(33..65)) else {
        return Err(EncryptError("the ephemeral key"));
    };
    let epk = serde_json::json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(x),
        "y": URL_SAFE_NO_PAD.encode(y),
    });
    let cek = agree_ephemeral(
        mine,
        UnparsedPublicKey::new(&ECDH_P256, point),
        EncryptError("ECDH"),
        |z| Ok(concat_kdf(z, enc.as_str(), b"", b"", enc.key_len())),
    )?;
    Ok((cek, epk))
}

/// NIST SP 800-56A Concat KDF with SHA-256 as RFC 7518 §4.6.2 fixes it: AlgorithmID is the
/// `enc` value (direct agreement), then PartyUInfo and PartyVInfo (ours are empty: no
/// `apu`/`apv` headers), SuppPubInfo the key length in bits.
fn concat_kdf(z: &[u8], algorithm_id: &str, apu: &[u8], apv: &[u8], key_len: usize) -> Vec<u8> {
    let mut other = Vec::new();
    for part in [algorithm_id.as_bytes(), apu, apv] {
        other.extend_from_slice(&(part.len() as u32).to_be_bytes());
        other.extend_from_slice(part);
    }
    other.extend_from_slice(&((key_len * 8) as u32).to_be_bytes());
    let mut out = Vec::with_capacity(key_len + 32);
    let mut counter = 1u32;
    while out.len() < key_len {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(&counter.to_be_bytes());
        ctx.update(z);
        ctx.update(&other);
        out.extend_from_slice(ctx.finish().as_ref());
        counter += 1;
    }
    out.truncate(key_len);
    out
}

type Sealed = (Vec<u8>, Vec<u8>, Vec<u8>);

/// RFC 7518 §5.2.2.1: MAC_KEY is the first half of the key, ENC_KEY the second; the tag
/// is the first half of HMAC-SHA-512 over AAD, IV, ciphertext and AAD's length in bits.
fn a256cbc_hs512(
    cek: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    rng: &dyn SecureRandom,
) -> Result<Sealed, EncryptError> {
    use aws_lc_rs::cipher::{
        AES_256, EncryptionContext, PaddedBlockEncryptingKey, UnboundCipherKey,
    };
    let (Some(mac_key), Some(enc_key)) = (cek.get(..32), cek.get(32..64)) else {
        return Err(EncryptError("the content key"));
    };
    let mut iv = [0u8; 16];
    rng.fill(&mut iv).map_err(|_| EncryptError("random"))?;
    let key = UnboundCipherKey::new(&AES_256, enc_key)
        .and_then(PaddedBlockEncryptingKey::cbc_pkcs7)
        .map_err(|_| EncryptError("AES-CBC"))?;
    let mut ciphertext = plaintext.to_vec();
    key.less_safe_encrypt(&mut ciphertext, EncryptionContext::Iv128(iv.into()))
        .map_err(|_| EncryptError("AES-CBC"))?;
    let mut mac = aws_lc_rs::hmac::Context::with_key(&aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA512,
        mac_key,
    ));
    mac.update(aad);
    mac.update(&iv);
    mac.update(&ciphertext);
    mac.update(&((aad.len() as u64) * 8).to_be_bytes());
    let full = mac.sign();
    let tag = full
        .as_ref()
        .get(..32)
        .ok_or(EncryptError("HMAC"))?
        .to_vec();
    Ok((iv.to_vec(), ciphertext, tag))
}

fn a256gcm(
    cek: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    rng: &dyn SecureRandom,
) -> Result<Sealed, EncryptError> {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let mut iv = [0u8; 12];
    rng.fill(&mut iv).map_err(|_| EncryptError("random"))?;
    let key = UnboundKey::new(&AES_256_GCM, cek).map_err(|_| EncryptError("AES-GCM"))?;
    let mut ciphertext = plaintext.to_vec();
    let tag = LessSafeKey::new(key)
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(aad),
            &mut ciphertext,
        )
        .map_err(|_| EncryptError("AES-GCM"))?;
    Ok((iv.to_vec(), ciphertext, tag.as_ref().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;

    #[test]
    fn the_concat_kdf_matches_rfc_7518_appendix_c() {
        // RFC 7518 Appendix C: ECDH-ES with A128GCM, PartyUInfo "Alice", PartyVInfo "Bob".
        let z: [u8; 32] = [
            158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49,
            110, 163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
        ];
        let key = concat_kdf(&z, "A128GCM", b"Alice", b"Bob", 16);
        assert_eq!(URL_SAFE_NO_PAD.encode(key), "VqqN6vgjbSBcIijNcacQGg");
        // Two rounds of SHA-256 for a 512-bit key.
        let long = concat_kdf(&z, "A128GCM", b"Alice", b"Bob", 64);
        assert_eq!(long.len(), 64);
    }

    #[test]
    fn keys_are_read_from_jwks_and_pem_and_bad_ones_refused() {
        let rng = SystemRandom::new();
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        use aws_lc_rs::signature::KeyPair as _;
        let public = pair.public_key();
        let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
        let jwk = serde_json::json!({"kty": "RSA", "n": n, "e": e, "kid": "enc-1"});
        let key = EncryptionKey::parse(&jwk, None, None).unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::RsaOaep256);
        assert_eq!(key.content_encryption(), ContentEncryption::A256CbcHs512);
        let jwe = key.encrypt("a.b.c", &rng).unwrap();
        assert!(is_compact_jwe(&jwe));
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(jwe.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": "RSA-OAEP-256", "enc": "A256CBC-HS512", "cty": "JWT", "kid": "enc-1"})
        );
        // ECDH-ES from a P-256 JWK, with A256GCM.
        let ec = aws_lc_rs::agreement::PrivateKey::generate(&aws_lc_rs::agreement::ECDH_P256)
            .unwrap()
            .compute_public_key()
            .unwrap();
        let p = ec.as_ref();
        let ec_jwk = serde_json::json!({"kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..65])});
        let key = EncryptionKey::parse(&ec_jwk, None, Some("A256GCM")).unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::EcdhEs);
        let jwe = key.encrypt("a.b.c", &rng).unwrap();
        assert_eq!(jwe.split('.').nth(1), Some(""), "ECDH-ES sends no key");
        // Refused: a private key, the wrong algorithm for the key, unknown names, a point
        // off the curve.
        let mut private = ec_jwk.clone();
        private["d"] = "AAAA".into();
        assert!(EncryptionKey::parse(&private, None, None).is_err());
        assert!(EncryptionKey::parse(&ec_jwk, Some("RSA-OAEP-256"), None).is_err());
        assert!(EncryptionKey::parse(&jwk, Some("RSA1_5"), None).is_err());
        assert!(EncryptionKey::parse(&jwk, None, Some("A128CBC-HS256")).is_err());
        let mut off = ec_jwk.clone();
        off["y"] = URL_SAFE_NO_PAD.encode([1u8; 32]).into();
        assert!(EncryptionKey::parse(&off, None, None).is_err());
        assert!(EncryptionKey::parse(&serde_json::json!("not pem"), None, None).is_err());
        // The JWK's own alg and key_ops count.
        let mut signing = jwk.clone();
        signing["key_ops"] = serde_json::json!(["verify"]);
        assert!(EncryptionKey::parse(&signing, None, None).is_err());
        let mut old_rsa = jwk.clone();
        old_rsa["alg"] = "RSA1_5".into();
        assert!(EncryptionKey::parse(&old_rsa, None, None).is_err());
        let mut named = ec_jwk.clone();
        named["alg"] = "RSA-OAEP-256".into();
        assert!(
            EncryptionKey::parse(&named, None, None).is_err(),
            "an EC key named RSA-OAEP-256"
        );
    }
}
