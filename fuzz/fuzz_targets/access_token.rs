//! Tokens presented to /introspect, /userinfo and the identity API: checked as one of
//! ahdapa's own access tokens against a key set (a freshly generated ES256 key), and as
//! an HS256 client's (`token_signing`).
#![no_main]
use std::sync::{Arc, OnceLock};

use ahdapa::token::keys::{KeySet, SigningAlgorithm, SigningKey};
use libfuzzer_sys::fuzz_target;

fn keys() -> &'static KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(|| {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = SigningKey::generate(SigningAlgorithm::ES256, &rng).expect("a key");
        let key = Arc::new(SigningKey::from_pkcs8(SigningAlgorithm::ES256, &pkcs8).expect("a key"));
        KeySet::new(Arc::clone(&key), vec![key])
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    use ahdapa::token::access_token::{ClientKey, unverified_claim, verify, verify_ours};
    // Also as an HS256 client's token (token_signing), and the claim read to find its key.
    let client = ClientKey {
        client_id: "svc",
        secret: b"a-client-secret-of-at-least-32-bytes",
    };
    let _ = verify(text, keys(), "https://idp.test", 1_800_000_000, None);
    let _ = verify(text, keys(), "https://idp.test", 1_800_000_000, Some(client));
    let _ = verify_ours(text, keys(), "https://idp.test", "JWT", Some(client));
    let _ = unverified_claim(text, "aud");
});
