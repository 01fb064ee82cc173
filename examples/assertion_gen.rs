//! Pre-generates unique client assertions for the private_key_jwt benchmark (ahdapa
//! refuses a replayed `jti`, so each request needs its own).
//! Usage: assertion_gen ES256|EdDSA CLIENT_ID AUDIENCE COUNT JWKS_OUT ASSERTIONS_OUT
//! Writes the client's public JWKS and one assertion per line.

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
    let fail = |m: String| -> ! {
        eprintln!("assertion_gen: {m}");
        std::process::exit(1)
    };
    let algorithm: SigningAlgorithm = alg.parse().unwrap_or_else(|e: String| fail(e));
    let count: usize = count
        .parse()
        .unwrap_or_else(|_| fail("COUNT must be a number".into()));
    let rng = SystemRandom::new();
    let pkcs8 = SigningKey::generate(algorithm, &rng).unwrap_or_else(|e| fail(e.to_string()));
    let key = SigningKey::from_pkcs8(algorithm, &pkcs8).unwrap_or_else(|e| fail(e.to_string()));
    let jwks = serde_json::json!({ "keys": [key.jwk()] });
    std::fs::write(jwks_out, jwks.to_string()).unwrap_or_else(|e| fail(e.to_string()));

    let now = ahdapa::clock::now_unix();
    let header = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"alg":"{}","typ":"JWT","kid":"{}"}}"#,
        algorithm.as_str(),
        key.kid()
    ));
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(out).unwrap_or_else(|e| fail(e.to_string())));
    for i in 0..count {
        let claims = serde_json::json!({
            "iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 290, "jti": format!("bench-{now}-{i}"),
        });
        let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
        let sig = key
            .sign(signing_input.as_bytes(), &rng)
            .unwrap_or_else(|e| fail(e.to_string()));
        writeln!(file, "{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
            .unwrap_or_else(|e| fail(e.to_string()));
    }
    file.flush().unwrap_or_else(|e| fail(e.to_string()));
}
