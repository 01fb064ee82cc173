//! Private keys at rest: AES-256-GCM under a 256-bit master key.
//!
//! The store never holds a private key in the clear. Each sealed blob is
//! `version (1 byte) || nonce (12) || ciphertext+tag`, with the key's `kid` as associated
//! data, so a blob cannot be swapped onto another key record. The master key itself lives
//! outside the database (a 0600 file, or a systemd credential); reading it is the
//! caller's job.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::SecureRandom;

const VERSION: u8 = 1;

/// The key-encryption key. Redacted `Debug`, no `Display`.
pub struct MasterKey(LessSafeKey);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// Why a blob could not be opened or sealed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The master key file does not hold 32 bytes.
    #[error("the master key must be exactly 32 bytes")]
    BadMasterKey,
    /// Wrong master key, tampered blob, or a blob of another key record.
    #[error("sealed key does not open with this master key (wrong master key or tampered record)")]
    Open,
    /// The random source failed.
    #[error("random source failed")]
    Random,
}

impl MasterKey {
    /// Wraps 32 raw key bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| SealError::BadMasterKey)?;
        Ok(Self(LessSafeKey::new(unbound)))
    }

    /// 32 fresh random bytes for a new master key.
    pub fn generate_bytes(rng: &dyn SecureRandom) -> Result<[u8; 32], SealError> {
        let mut out = [0u8; 32];
        rng.fill(&mut out).map_err(|_| SealError::Random)?;
        Ok(out)
    }

    /// Encrypts `plaintext`, bound to `context` (the key's kid).
    pub fn seal(
        &self,
        plaintext: &[u8],
        context: &[u8],
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce).map_err(|_| SealError::Random)?;
        let mut buf = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut buf,
            )
            .map_err(|_| SealError::Random)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// A 256-bit key derived from the master key for `label` (e.g. the DPoP nonce key),
    /// the same on every node that shares the master key. AES-GCM over a fixed block with
    /// a reserved all-zero nonce (never produced by [`MasterKey::seal`] but with
    /// negligible probability) acts as the PRF; SHA-256 condenses its output.
    pub fn derive_key(&self, label: &[u8]) -> Result<[u8; 32], SealError> {
        let mut block = b"ahdapa derived key v1".to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key([0u8; NONCE_LEN]),
                Aad::from(label),
                &mut block,
            )
            .map_err(|_| SealError::Random)?;
        let mut out = [0u8; 32];
        out.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &block).as_ref());
        Ok(out)
    }

    /// Decrypts a blob made by [`MasterKey::seal`] with the same `context`.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, SealError> {
        let (&version, rest) = sealed.split_first().ok_or(SealError::Open)?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
        let mut buf = ciphertext.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(context), &mut buf)
            .map_err(|_| SealError::Open)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;

    fn key() -> MasterKey {
        MasterKey::from_bytes(&MasterKey::generate_bytes(&SystemRandom::new()).unwrap()).unwrap()
    }

    #[test]
    fn round_trips() {
        let k = key();
        let sealed = k.seal(b"private", b"kid1", &SystemRandom::new()).unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"private"));
        assert_eq!(k.open(&sealed, b"kid1").unwrap(), b"private");
    }

    #[test]
    fn refuses_other_context_other_key_and_tampering() {
        let k = key();
        let mut sealed = k.seal(b"private", b"kid1", &SystemRandom::new()).unwrap();
        assert!(k.open(&sealed, b"kid2").is_err());
        assert!(key().open(&sealed, b"kid1").is_err());
        if let Some(last) = sealed.last_mut() {
            *last ^= 1;
        }
        assert!(k.open(&sealed, b"kid1").is_err());
        assert!(k.open(&[], b"kid1").is_err());
    }

    #[test]
    fn refuses_short_master_key() {
        assert!(MasterKey::from_bytes(&[0u8; 16]).is_err());
    }
}
