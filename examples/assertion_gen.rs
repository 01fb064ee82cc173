//! Pre-generates unique client assertions for the private_key_jwt and client_secret_jwt
//! benchmarks (ahdapa refuses a replayed `jti`, so each request needs its own).
//! Usage: assertion_gen ES256|EdDSA|RS256 CLIENT_ID AUDIENCE COUNT JWKS_OUT ASSERTIONS_OUT [ISSUER SUBJECT]
//!        assertion_gen HS256 CLIENT_ID AUDIENCE COUNT SECRET_FILE ASSERTIONS_OUT
//! Writes the client's public JWKS (or, for HS256, reads the client secret) and one
//! assertion per line. With ISSUER and SUBJECT the assertions are a trusted issuer's
//! platform JWTs (a CI job's, for the federated rows): `iss` and `sub` as given, with a
//! `repository` claim, instead of `iss` = `sub` = CLIENT_ID.

use std::io::Write;

use aws_lc_rs::rand::SystemRandom;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use ahdapa::token::keys::{SigningAlgorithm, SigningKey};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (alg, client_id, aud, count, jwks_out, out, federated) = match args.as_slice() {
        [_, alg, client_id, aud, count, jwks_out, out] => {
            (alg, client_id, aud, count, jwks_out, out, None)
        }
        [_, alg, client_id, aud, count, jwks_out, out, iss, sub] => (
            alg,
            client_id,
            aud,
            count,
            jwks_out,
            out,
            Some((iss.as_str(), sub.as_str())),
        ),
        _ => {
            eprintln!(
                "usage: assertion_gen ES256|EdDSA|RS256 CLIENT_ID AUDIENCE COUNT JWKS_OUT ASSERTIONS_OUT [ISSUER SUBJECT]"
            );
            std::process::exit(2);
        }
    };
    let count: usize = count
        .parse()
        .unwrap_or_else(|_| fail("COUNT must be a number".into()));
    if alg == "HS256" {
        let secret = std::fs::read_to_string(jwks_out).unwrap_or_else(|e| fail(e.to_string()));
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.trim().as_bytes());
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        write_assertions(
            out,
            count,
            (client_id, client_id),
            aud,
            None,
            &header,
            |input| aws_lc_rs::hmac::sign(&key, input).as_ref().to_vec(),
        );
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
    let (iss, sub, extra) = match federated {
        Some((iss, sub)) => (iss, sub, Some(("repository", "acme/site"))),
        None => (client_id.as_str(), client_id.as_str(), None),
    };
    write_assertions(out, count, (iss, sub), aud, extra, &header, |input| {
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
    (iss, sub): (&str, &str),
    aud: &str,
    extra: Option<(&str, &str)>,
    header: &str,
    sign: impl Fn(&[u8]) -> Vec<u8>,
) {
    let now = ahdapa::clock::now_unix();
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(out).unwrap_or_else(|e| fail(e.to_string())));
    for i in 0..count {
        let mut claims = serde_json::json!({
            "iss": iss, "sub": sub, "aud": aud, "iat": now, "exp": now + 290, "jti": format!("bench-{now}-{i}"),
        });
        if let (Some((name, value)), Some(map)) = (extra, claims.as_object_mut()) {
            map.insert(name.to_owned(), value.into());
        }
        let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
        let sig = sign(signing_input.as_bytes());
        writeln!(file, "{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
            .unwrap_or_else(|e| fail(e.to_string()));
    }
    file.flush().unwrap_or_else(|e| fail(e.to_string()));
}
