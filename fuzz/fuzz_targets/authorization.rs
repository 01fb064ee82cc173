//! The Authorization header family: the scheme split, Basic credentials (RFC 7617 with
//! RFC 6749 §2.3.1's form-encoding) and Negotiate tokens (base64 of an RFC 4178 token).
#![no_main]
use ahdapa::oauth::client_auth::{Authorization, client_secret_basic, kerberos_client_auth};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Authorization::parse(text) {
        Authorization::Basic(credentials) => {
            let _ = client_secret_basic::decode(credentials);
        }
        Authorization::Negotiate(token) => {
            let _ = kerberos_client_auth::NegotiateToken::decode(token);
        }
        _ => {}
    }
    let _ = client_secret_basic::decode(text);
});
