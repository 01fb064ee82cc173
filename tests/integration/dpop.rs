//! DPoP at the token endpoint with proofs made by PyJWT (an independent implementation)
//! and thumbprints computed in Python.

use crate::harness::{Options, Server, claims, curl, secret_client};

/// `keygen` prints {"private": PEM, "jwk": {...}, "jkt": RFC 7638 thumbprint};
/// `proof PEM HEADER_JSON CLAIMS_JSON` prints a compact JWS (ES256).
const PY: &str = r#"
import base64, hashlib, json, sys, jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
if sys.argv[1] == "keygen":
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    canon = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, sort_keys=True, separators=(",", ":"))
    jkt = base64.urlsafe_b64encode(hashlib.sha256(canon.encode()).digest()).rstrip(b"=").decode()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    print(json.dumps({"private": pem, "jwk": jwk, "jkt": jkt}))
else:
    pem, header, claims = sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
    if header.pop("raw_ed25519", False):  # an Ed25519 signature under any alg name
        b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
        signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
        private = serialization.load_pem_private_key(pem.encode(), None)
        print(signing_input + "." + b64(private.sign(signing_input.encode())))
    else:
        print(jwt.encode(claims, pem, algorithm=header.pop("alg", "ES256"), headers=header))
"#;

fn py(args: &[&str]) -> String {
    crate::harness::python_script(PY, args).unwrap_or_else(|e| panic!("PyJWT: {e}"))
}

pub(crate) struct Key {
    private: String,
    jwk: serde_json::Value,
    pub(crate) jkt: String,
}

pub(crate) fn keygen() -> Key {
    let v: serde_json::Value = serde_json::from_str(&py(&["keygen"])).unwrap();
    Key {
        private: v["private"].as_str().unwrap().into(),
        jwk: v["jwk"].clone(),
        jkt: v["jkt"].as_str().unwrap().into(),
    }
}

fn now() -> i64 {
    ahdapa::clock::now_unix() as i64
}

pub(crate) fn proof(
    k: &Key,
    htu: &str,
    edit: impl FnOnce(&mut serde_json::Value, &mut serde_json::Value),
) -> String {
    let mut header = serde_json::json!({"typ": "dpop+jwt", "jwk": k.jwk});
    let mut c = serde_json::json!({"jti": format!("p-{}", rand_id()), "htm": "POST", "htu": htu, "iat": now()});
    edit(&mut header, &mut c);
    py(&["proof", &k.private, &header.to_string(), &c.to_string()])
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed) + (std::process::id() as u64) * 1_000_000
}

pub(crate) fn token(
    s: &Server,
    id: &str,
    secret: &str,
    dpop: Option<&str>,
) -> crate::harness::Reply {
    let mut args = vec![
        "-u".to_string(),
        format!("{id}:{secret}"),
        "-d".into(),
        "grant_type=client_credentials".into(),
    ];
    if let Some(p) = dpop {
        args.extend(["-H".to_string(), format!("DPoP: {p}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    curl(&s.base_url, &args, "/token")
}

#[test]
fn dpop_proofs_bind_tokens_and_bad_proofs_are_refused() {
    let (secret, table) = secret_client("dpop-svc", "");
    let (secret2, table2) = secret_client("dpop-only", "dpop_bound_access_tokens = true\n");
    let s = Server::start_tls(&format!("{table}{table2}"));
    let htu = format!("{}/token", s.base_url);
    let k = keygen();

    let good = proof(&k, &htu, |_, _| {});
    let r = token(&s, "dpop-svc", &secret, Some(&good));
    assert_eq!(r.status, 200, "{}\n{}", r.body, s.log_text());
    assert_eq!(r.json()["token_type"], "DPoP");
    let c = claims(r.json()["access_token"].as_str().unwrap());
    assert_eq!(
        c["cnf"]["jkt"], k.jkt,
        "cnf.jkt is the RFC 7638 thumbprint computed independently"
    );

    let refused =
        |p: &str| token(&s, "dpop-svc", &secret, Some(p)).refusal(400, "invalid_dpop_proof");
    assert!(refused(&good).contains("already used"), "replayed proof");
    assert!(refused(&proof(&k, "https://elsewhere.test/token", |_, _| {})).contains("htu"));
    assert!(refused(&proof(&k, &htu, |_, c| c["htm"] = "GET".into())).contains("htm"));
    assert!(refused(&proof(&k, &htu, |_, c| c["iat"] = (now() - 3600).into())).contains("older"));
    assert!(refused(&proof(&k, &htu, |_, c| c["iat"] = (now() + 3600).into())).contains("future"));
    assert!(refused(&proof(&k, &htu, |h, _| h["typ"] = "JWT".into())).contains("typ"));
    let with_d = proof(&k, &htu, |h, _| h["jwk"]["d"] = "AAAA".into());
    assert!(refused(&with_d).contains("private"));
    for alg in ["HS256", "none"] {
        use base64::Engine;
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let forged = format!(
            "{}.{}.AAAA",
            b64(serde_json::json!({"typ": "dpop+jwt", "alg": alg, "jwk": k.jwk})),
            b64(serde_json::json!({"jti": "forged", "htm": "POST", "htu": htu, "iat": now()}))
        );
        assert!(refused(&forged).contains("not allowed"), "{alg}");
    }
    assert!(refused("not-a-jwt").contains("header"));

    // A client registered for DPoP cannot get a token without a proof.
    let r = token(&s, "dpop-only", &secret2, None);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_dpop_proof"))
    );
    let r = token(&s, "dpop-only", &secret2, Some(&proof(&k, &htu, |_, _| {})));
    assert_eq!(r.status, 200);
    assert!(!s.log_text().contains("panicked"));
}

#[test]
fn server_nonces_are_demanded_and_honoured() {
    let (secret, table) = secret_client("nonce-svc", "");
    let s = Server::start(Options {
        extra: format!("[dpop]\nrequire_nonce = true\n{table}"),
        ..Default::default()
    });
    let htu = format!("{}/token", s.base_url);
    let k = keygen();
    let r = token(&s, "nonce-svc", &secret, Some(&proof(&k, &htu, |_, _| {})));
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("use_dpop_nonce"))
    );
    let nonce = r
        .headers
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("dpop-nonce:")
                .then(|| l.split_once(':').unwrap().1.trim().to_owned())
        })
        .expect("DPoP-Nonce header");
    let r = token(
        &s,
        "nonce-svc",
        &secret,
        Some(&proof(&k, &htu, |_, c| c["nonce"] = nonce.clone().into())),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.headers.to_ascii_lowercase().contains("dpop-nonce:"),
        "a fresh nonce rides on the success"
    );
    let r = token(
        &s,
        "nonce-svc",
        &secret,
        Some(&proof(&k, &htu, |_, c| c["nonce"] = "forged".into())),
    );
    assert_eq!(r.json()["error"], "use_dpop_nonce");
}

#[test]
fn rfc_9864_ed25519_proofs_are_accepted() {
    let (secret, table) = secret_client("dpop-ed", "");
    let s = Server::start_tls(&table);
    let htu = format!("{}/token", s.base_url);
    let ed = crate::assertions::keygen("EdDSA", "unused");
    let mut jwk = ed.jwk().clone();
    jwk.as_object_mut().unwrap().remove("kid");
    let k = Key {
        private: ed.private.clone(),
        jwk,
        jkt: String::new(),
    };
    for alg in ["Ed25519", "EdDSA"] {
        let p = proof(&k, &htu, |h, _| {
            h["alg"] = alg.into();
            h["raw_ed25519"] = true.into();
        });
        let r = token(&s, "dpop-ed", &secret, Some(&p));
        assert_eq!(r.status, 200, "{alg}: {}\n{}", r.body, s.log_text());
        assert_eq!(r.json()["token_type"], "DPoP");
    }
    let discovery = curl(&s.base_url, &[], "/.well-known/oauth-authorization-server").json();
    assert!(
        discovery["dpop_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&"Ed25519".into())
    );
}
