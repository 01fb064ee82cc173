//! JWKS documents: a client's registered or fetched `jwks`, a trusted issuer's JWKS or
//! SPIFFE bundle, and PEM verification keys.
#![no_main]
use ahdapa::oauth::client_auth::jwt_assertion;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = jwt_assertion::keys_from_jwks(&value);
        let _ = jwt_assertion::keys_from_issuer_jwks(&value);
    }
    let _ = jwt_assertion::key_from_pem(data, Some("k"));
});
