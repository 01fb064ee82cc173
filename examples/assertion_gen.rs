//! Pre-generates unique client assertions for the private_key_jwt and client_secret_jwt
//! benchmarks (ahdapa refuses a replayed `jti`, so each request needs its own).
//! Usage: assertion_gen ES256|EdDSA CLIENT_ID AUDIENCE COUNT JWKS_OUT ASSERTIONS_OUT
//!        assertion_gen HS256 CLIENT_ID AUDIENCE COUNT SECRET_FILE ASSERTIONS_OUT
//! Writes the client's public JWKS (or, for HS256, reads the client secret) and one
//! assertion per line.

use std::io::Write;

use aws_lc_rs::rand::SystemRandom;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use ahdapa::token::keys::{SigningAlgorithm, SigningKey};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, alg, client_id, aud, count, jwks_out, out] = args.as_slice() else {
        eprintln!(
            "usage: assertion_gen ES256|EdDSA CLIENT_ID AUDIENCE COUNT JWKS_OUT ASSERTIONS_OUT"
        );
        std::process::exit(2);
    };
    let count: usize = count
        .parse()
        .unwrap_or_else(|_| fail("COUNT must be a number".into()));
    if alg == "HS256" {
        let secret = std::fs::read_to_string(jwks_out).unwrap_or_else(|e| fail(e.to_string()));
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.trim().as_bytes());
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        write_assertions(out, count, client_id, aud, &header, |input| {
            aws_lc_rs::hmac::sign(&key, input).as_ref().to_vec()
        });
        return;
    }
    let algorithm: SigningAlgorithm = alg
        .parse::<SigningAlgorithm>()
        .unwrap_or_else(|e| fail(e.to_string()));
    let rng = SystemRandom::new();
    let pkcs8 = SigningKey::generate(algorithm, &rng).unwrap_or_else(|e| fail(e.to_string()));
    let key = SigningKey::from_pkcs8(algorithm, &pkcs8).unwrap_or_else(|e| fail(e.to_string()));
    let jwks = serde_json::json!({ "keys": [key.jwk()] });
    std::fs::write(jwks_out, jwks.to_string()).unwrap_or_else(|e| fail(e.to_string()));

    let header = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"alg":"{}","typ":"JWT","kid":"{}"}}"#,
        algorithm.as_str(),
        key.kid()
    ));
    write_assertions(out, count, client_id, aud, &header, |input| {
        key.sign(input, &rng)
            .unwrap_or_else(|e| fail(e.to_string()))
    });
}

fn fail(m: String) -> ! {
    eprintln!("assertion_gen: {m}");
    std::process::exit(1)
}

/// Writes COUNT assertions with unique `jti`s, signed by `sign`, one per line.
fn write_assertions(
    out: &str,
    count: usize,
    client_id: &str,
    aud: &str,
    header: &str,
    sign: impl Fn(&[u8]) -> Vec<u8>,
) {
    let now = ahdapa::clock::now_unix();
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(out).unwrap_or_else(|e| fail(e.to_string())));
    for i in 0..count {
        let claims = serde_json::json!({
            "iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 290, "jti": format!("bench-{now}-{i}"),
        });
        let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
        let sig = sign(signing_input.as_bytes());
        writeln!(file, "{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
            .unwrap_or_else(|e| fail(e.to_string()));
    }
    file.flush().unwrap_or_else(|e| fail(e.to_string()));
}
