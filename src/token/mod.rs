//! JOSE, and nothing else: signing keys and their JWKs, access-token minting (RFC 9068),
//! the JWKS document, and sealing private keys for storage.
//!
//! No I/O, no clock, no environment: the time and the random source are parameters.
//! Minting signs with key pairs parsed once at load, not per token (jsonwebtoken
//! re-parses the PKCS#8 key on every `encode`, which would cost more than the signature).

pub mod access_token;
pub mod dpop;
pub mod jwe;
pub mod jwk;
pub mod jws;
pub mod keys;
pub mod rotation;
pub mod seal;
pub mod signer;

pub use access_token::{AccessTokenClaims, mint};
pub use jwk::PublicJwk;
pub use keys::{KeySet, SigningAlgorithm, SigningKey};
pub use signer::{Signer, Typ};
