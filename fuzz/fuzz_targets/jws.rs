//! JWS compact parsing as client assertions, federated tokens and jwt-bearer assertions
//! see it: the split, the header, and verification against registered keys (a fixed
//! ES256 key, so a valid signature is out of reach and every claim check is exercised
//! only up to the signature).
#![no_main]
use std::sync::OnceLock;

use ahdapa::oauth::client_auth::jwt_assertion::{self, AssertionKey, AssertionRules, Verifier};
use libfuzzer_sys::fuzz_target;

fn keys() -> &'static [AssertionKey] {
    static KEYS: OnceLock<Vec<AssertionKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let jwks = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]});
        jwt_assertion::keys_from_jwks(&jwks).unwrap_or_default()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(jws) = ahdapa::token::jws::split(text) {
        let _ = jws.alg_name();
        let _ = jws.header_str("kid");
        let _ = jwt_assertion::verify_with_keys::<serde_json::Value>(&jws, keys());
    }
    let rules = AssertionRules {
        audiences: vec!["https://idp.test/token".into()],
        max_lifetime_secs: 300,
        leeway_secs: 60,
    };
    let _ = jwt_assertion::verify(
        text,
        "client",
        Verifier::Keys(keys()),
        &rules,
        1_800_000_000,
    );
    let _ = jsonwebtoken::decode_header(text);
});
