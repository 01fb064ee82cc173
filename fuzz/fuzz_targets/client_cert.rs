//! A client certificate forwarded by a TLS proxy (RFC 9440 `Client-Cert` or nginx's
//! URL-encoded PEM), then parsed as X.509 the way the mTLS checks read it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(der) = ahdapa::web::extract::parse_forwarded_certificate(text) {
        let _ = x509_parser::parse_x509_certificate(&der);
    }
    let _ = x509_parser::parse_x509_certificate(data);
    let _ = ahdapa::oauth::client_auth::tls_client_auth::parse_dn(text);
});
