//! Pre-generates unique DPoP proofs for the benchmark (a proof's jti is accepted once).
//! Usage: dpop_gen HTU COUNT OUT   (ES256; one proof per line)

use std::io::Write;

use aws_lc_rs::rand::SystemRandom;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use ahdapa::token::keys::{SigningAlgorithm, SigningKey};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, htu, count, out] = args.as_slice() else {
        eprintln!("usage: dpop_gen HTU COUNT OUT");
        std::process::exit(2);
    };
    let fail = |m: String| -> ! {
        eprintln!("dpop_gen: {m}");
        std::process::exit(1)
    };
    let count: usize = count
        .parse()
        .unwrap_or_else(|_| fail("COUNT must be a number".into()));
    let rng = SystemRandom::new();
    let pkcs8 =
        SigningKey::generate(SigningAlgorithm::ES256, &rng).unwrap_or_else(|e| fail(e.to_string()));
    let key = SigningKey::from_pkcs8(SigningAlgorithm::ES256, &pkcs8)
        .unwrap_or_else(|e| fail(e.to_string()));
    let jwk = key.jwk();
    let header = serde_json::json!({
        "typ": "dpop+jwt", "alg": "ES256",
        "jwk": {"kty": "EC", "crv": "P-256", "x": jwk.x, "y": jwk.y},
    });
    let header = URL_SAFE_NO_PAD.encode(header.to_string());
    let now = ahdapa::clock::now_unix();
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(out).unwrap_or_else(|e| fail(e.to_string())));
    for i in 0..count {
        let claims = serde_json::json!({"jti": format!("d-{now}-{i}"), "htm": "POST", "htu": htu, "iat": now});
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
        let sig = key
            .sign(input.as_bytes(), &rng)
            .unwrap_or_else(|e| fail(e.to_string()));
        writeln!(file, "{input}.{}", URL_SAFE_NO_PAD.encode(sig))
            .unwrap_or_else(|e| fail(e.to_string()));
    }
    file.flush().unwrap_or_else(|e| fail(e.to_string()));
}
