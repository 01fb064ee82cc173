//! Tokens presented to /introspect, /userinfo and the identity API: checked as one of
//! ahdapa's own access tokens against a key set (a freshly generated ES256 key).
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
    let _ = ahdapa::token::access_token::verify(text, keys(), "https://idp.test", 1_800_000_000);
    let _ = ahdapa::token::access_token::verify_ours(text, keys(), "https://idp.test", "JWT");
});
