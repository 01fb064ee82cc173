//! private_key_jwt and client_secret_jwt with assertions built by PyJWT (an independent
//! implementation), posted with curl over real TLS.

use std::process::Command;

use crate::harness::{Server, claims, curl, python};

const TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// PyJWT helpers: `keygen ALG` prints {"private": PEM, "jwk": {...}}; `sign ALG KEY CLAIMS_JSON KID`
/// prints a compact JWS.
const PY: &str = r#"
import json, sys, jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, ec, rsa
cmd = sys.argv[1]
if cmd == "keygen":
    alg = sys.argv[2]
    if alg == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    elif alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    print(json.dumps({"private": pem, "jwk": jwk}))
else:
    alg, key, claims, kid = sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), sys.argv[5]
    headers = {"kid": kid} if kid else {}
    if ":" in alg:  # "EdDSA:Ed25519": an Ed25519 signature named as RFC 9864 does
        import base64
        b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
        header = dict(headers, alg=alg.split(":")[1], typ="JWT")
        signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
        private = serialization.load_pem_private_key(key.encode(), None)
        print(signing_input + "." + b64(private.sign(signing_input.encode())))
    else:
        print(jwt.encode(claims, key, algorithm=alg, headers=headers or None))
"#;

pub(crate) fn py(args: &[&str]) -> String {
    crate::harness::python_script(PY, args).unwrap_or_else(|e| panic!("PyJWT: {e}"))
}

pub(crate) struct Key {
    pub(crate) private: String,
    jwk: serde_json::Value,
}

impl Key {
    /// A key known only by its private PEM (made elsewhere, e.g. by openssl).
    pub(crate) fn from_private(private: String) -> Self {
        Self {
            private,
            jwk: serde_json::Value::Null,
        }
    }

    /// The public JWK (with its kid).
    pub(crate) fn jwk(&self) -> &serde_json::Value {
        &self.jwk
    }
}

pub(crate) fn keygen(alg: &str, kid: &str) -> Key {
    let v: serde_json::Value = serde_json::from_str(&py(&["keygen", alg])).unwrap();
    let mut jwk = v["jwk"].clone();
    jwk["kid"] = kid.into();
    Key {
        private: v["private"].as_str().unwrap().to_owned(),
        jwk,
    }
}

pub(crate) fn assertion(
    alg: &str,
    key: &str,
    kid: &str,
    client_id: &str,
    aud: &str,
    jti: &str,
    exp_in: i64,
) -> String {
    let now = ahdapa::clock::now_unix() as i64;
    let claims = serde_json::json!({"iss": client_id, "sub": client_id, "aud": aud, "jti": jti, "iat": now, "exp": now + exp_in});
    py(&["sign", alg, key, &claims.to_string(), kid])
}

/// A `[[clients]]` table with an inline JWKS (TOML inline tables from the JWK's string members).
pub(crate) fn pkjwt_client(id: &str, keys: &[&Key]) -> String {
    let jwks: Vec<String> = keys
        .iter()
        .map(|k| {
            let members: Vec<String> = k
                .jwk
                .as_object()
                .unwrap()
                .iter()
                .map(|(name, v)| format!("{name} = {}", v))
                .collect();
            format!("{{ {} }}", members.join(", "))
        })
        .collect();
    format!(
        "[[clients]]\nclient_id = \"{id}\"\ntoken_endpoint_auth_method = \"private_key_jwt\"\n\
         jwks = {{ keys = [ {} ] }}\nscopes = [\"s\"]\n",
        jwks.join(", ")
    )
}

pub(crate) fn post(s: &Server, assertion: &str) -> crate::harness::Reply {
    curl(
        &s.base_url,
        &[
            "-d",
            "grant_type=client_credentials",
            "-d",
            &format!("client_assertion_type={TYPE}"),
            "-d",
            &format!("client_assertion={assertion}"),
        ],
        "/token",
    )
}

#[test]
fn private_key_jwt_with_pyjwt_keys_and_single_use_assertions() {
    let ed = keygen("EdDSA", "ed1");
    let es = keygen("ES256", "es1");
    let rsa = keygen("RS256", "rs1");
    let s = Server::start_tls(&pkjwt_client("pk-svc", &[&ed, &es, &rsa]));
    let token_url = format!("{}/token", s.base_url);

    // Ed25519: a token; the same assertion again is refused.
    let a = assertion(
        "EdDSA",
        &ed.private,
        "ed1",
        "pk-svc",
        &token_url,
        "jti-ed-1",
        60,
    );
    let r = post(&s, &a);
    assert_eq!(r.status, 200, "{}\n{}", r.body, s.log_text());
    let c = claims(r.json()["access_token"].as_str().unwrap());
    assert_eq!(
        (c["sub"].as_str(), c["client_id"].as_str()),
        (Some("pk-svc"), Some("pk-svc"))
    );
    let replay = post(&s, &a);
    assert_eq!(
        (replay.status, replay.json()["error"].as_str()),
        (401, Some("invalid_client"))
    );

    // ES256 and RS256 (aud = issuer), and PS256 with the same RSA key.
    for (alg, key, kid) in [
        ("ES256", &es, "es1"),
        ("RS256", &rsa, "rs1"),
        ("PS256", &rsa, "rs1"),
    ] {
        let a = assertion(
            alg,
            &key.private,
            kid,
            "pk-svc",
            &s.base_url,
            &format!("jti-{alg}"),
            60,
        );
        let r = post(&s, &a);
        assert_eq!(r.status, 200, "{alg}: {}", r.body);
    }

    // Refusals: expired, wrong aud, unknown kid, HS256 keyed with the public key, alg none.
    let expired = assertion(
        "EdDSA",
        &ed.private,
        "ed1",
        "pk-svc",
        &token_url,
        "jti-exp",
        -600,
    );
    let wrong_aud = assertion(
        "EdDSA",
        &ed.private,
        "ed1",
        "pk-svc",
        "https://elsewhere/token",
        "jti-aud",
        60,
    );
    let unknown_kid = assertion(
        "EdDSA",
        &ed.private,
        "ed-rotated",
        "pk-svc",
        &token_url,
        "jti-kid",
        60,
    );
    let hs256 = assertion(
        "HS256",
        ed.jwk["x"].as_str().unwrap(),
        "ed1",
        "pk-svc",
        &token_url,
        "jti-hs",
        60,
    );
    let none = {
        use base64::Engine;
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.",
            b64(r#"{"alg":"none"}"#),
            b64(r#"{"iss":"pk-svc","sub":"pk-svc","aud":"x","jti":"n","exp":9999999999}"#)
        )
    };
    for bad in [&expired, &wrong_aud, &unknown_kid, &hs256, &none] {
        let r = post(&s, bad);
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (401, Some("invalid_client")),
            "{bad}"
        );
    }
    let log = s.log_text();
    for reason in [
        "was already used",
        "expired",
        "aud must be one of",
        "no registered key",
        "HMAC is never accepted",
        "alg none",
    ] {
        assert!(log.contains(reason), "log lacks {reason:?}:\n{log}");
    }
    assert!(!log.contains("panicked"));
}

#[test]
fn client_secret_jwt_from_the_store_with_a_sealed_secret() {
    let s = Server::start_tls("");
    let secret = s.add_client("hs-svc", &["--scope", "s", "--method", "client_secret_jwt"]);
    assert_eq!(secret.len(), 43);
    // Nothing in the database reveals the secret.
    let db = std::fs::read(s.dir.path().join("state/ahdapa.db")).unwrap_or_default();
    assert!(
        !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "secret stored in clear"
    );
    let token_url = format!("{}/token", s.base_url);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut n = 0;
    let r = loop {
        n += 1;
        let a = assertion(
            "HS256",
            &secret,
            "",
            "hs-svc",
            &token_url,
            &format!("hs-{n}"),
            60,
        );
        let r = post(&s, &a);
        if r.status == 200 || std::time::Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(r.status, 200, "{}\n{}", r.body, s.log_text());
    // The secret does not work as a client_secret_basic password: the method is fixed.
    let basic = curl(
        &s.base_url,
        &[
            "-u",
            &format!("hs-svc:{secret}"),
            "-d",
            "grant_type=client_credentials",
        ],
        "/token",
    );
    assert_eq!(basic.status, 401);
}

/// A static HTTPS file server (python's http.server with the test PKI's localhost cert).
struct HttpsFiles {
    child: std::process::Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl HttpsFiles {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = crate::harness::free_port();
        let p = crate::harness::pki();
        let script = format!(
            "import http.server, ssl, os\nos.chdir({d:?})\n\
             h = http.server.HTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler)\n\
             c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\nc.load_cert_chain({cert:?}, {key:?})\n\
             h.socket = c.wrap_socket(h.socket, server_side=True)\nh.serve_forever()\n",
            d = dir.path().display().to_string(),
            cert = p.cert.display().to_string(),
            key = p.key.display().to_string(),
        );
        // http.server writes one access line per request to stderr.
        let access = std::fs::File::create(dir.path().join("access.log")).unwrap();
        let child = Command::new(python())
            .args(["-c", &script])
            .stdout(std::process::Stdio::null())
            .stderr(access)
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "https file server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Self { child, dir, port }
    }

    /// How many GET requests the server has answered.
    fn requests(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("access.log"))
            .unwrap_or_default()
            .matches("\"GET ")
            .count()
    }

    fn put_jwks(&self, keys: &[&Key]) {
        let jwks =
            serde_json::json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
        std::fs::write(self.dir.path().join("jwks.json"), jwks.to_string()).unwrap();
    }
}

impl Drop for HttpsFiles {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn jwks_uri_is_fetched_over_https_and_refetched_on_an_unknown_kid() {
    let files = HttpsFiles::start();
    let k1 = keygen("EdDSA", "k1");
    files.put_jwks(&[&k1]);
    let dead_port = crate::harness::free_port();
    let s = Server::start_tls(&format!(
        "[assertions]\njwks_ca_file = \"{ca}\"\njwks_min_refetch_secs = 0\njwks_timeout_secs = 2\n\
         [[clients]]\nclient_id = \"uri-svc\"\ntoken_endpoint_auth_method = \"private_key_jwt\"\n\
         jwks_uri = \"https://localhost:{port}/jwks.json\"\njwks_uri_trusted = true\nscopes = [\"s\"]\n\
         [[clients]]\nclient_id = \"dead-svc\"\ntoken_endpoint_auth_method = \"private_key_jwt\"\n\
         jwks_uri = \"https://localhost:{dead_port}/jwks.json\"\njwks_uri_trusted = true\nscopes = [\"s\"]\n\
         [[clients]]\nclient_id = \"ssrf-svc\"\ntoken_endpoint_auth_method = \"private_key_jwt\"\n\
         jwks_uri = \"https://localhost:{port}/jwks.json\"\nscopes = [\"s\"]\n",
        ca = crate::harness::pki().ca.display(),
        port = files.port,
    ));
    let token_url = format!("{}/token", s.base_url);
    let r = post(
        &s,
        &assertion("EdDSA", &k1.private, "k1", "uri-svc", &token_url, "u1", 60),
    );
    assert_eq!(r.status, 200, "{}\n{}", r.body, s.log_text());

    // The client rotates to k2: the cached JWKS lacks the kid, so it is fetched again.
    let k2 = keygen("EdDSA", "k2");
    files.put_jwks(&[&k2]);
    let r = post(
        &s,
        &assertion("EdDSA", &k2.private, "k2", "uri-svc", &token_url, "u2", 60),
    );
    assert_eq!(r.status, 200, "{}\n{}", r.body, s.log_text());
    // ... and k1, gone from the JWKS, no longer works.
    let r = post(
        &s,
        &assertion("EdDSA", &k1.private, "k1", "uri-svc", &token_url, "u3", 60),
    );
    assert_eq!(r.status, 401);

    // A jwks_uri that cannot be reached is the client's key server being down: 503.
    let r = post(
        &s,
        &assertion("EdDSA", &k1.private, "k1", "dead-svc", &token_url, "d1", 60),
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
    assert!(s.log_text().contains("cannot fetch a client's jwks_uri"));

    // The same loopback URI without jwks_uri_trusted is never fetched: a registration
    // mistake (401), not an outage, and the key server sees no request.
    let fetched = files.requests();
    let r = post(
        &s,
        &assertion("EdDSA", &k2.private, "k2", "ssrf-svc", &token_url, "s1", 60),
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (401, Some("invalid_client")),
        "{}",
        r.body
    );
    assert!(
        s.log_text().contains(
            "jwks_uri may not be fetched: localhost resolves to 127.0.0.1 is a loopback address"
        ),
        "{}",
        s.log_text()
    );
    assert_eq!(
        files.requests(),
        fetched,
        "no request reached the loopback key server"
    );
}

#[test]
fn rfc_9864_ed25519_assertions_and_refusals_that_say_why() {
    let ed = keygen("EdDSA", "ed-9864");
    let s = Server::start_tls(&pkjwt_client("ed9864-svc", &[&ed]));
    let token_url = format!("{}/token", s.base_url);
    // oauth4webapi and openid-client name Ed25519 signatures "Ed25519".
    let r = post(
        &s,
        &assertion(
            "EdDSA:Ed25519",
            &ed.private,
            "ed-9864",
            "ed9864-svc",
            &token_url,
            "n1",
            60,
        ),
    );
    assert_eq!(r.status, 200, "{}\n{}", r.body, s.log_text());
    let r = post(
        &s,
        &assertion(
            "EdDSA",
            &ed.private,
            "ed-9864",
            "ed9864-svc",
            &token_url,
            "n2",
            60,
        ),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let discovery = curl(&s.base_url, &[], "/.well-known/oauth-authorization-server").json();
    for field in [
        "token_endpoint_auth_signing_alg_values_supported",
        "introspection_endpoint_auth_signing_alg_values_supported",
        "revocation_endpoint_auth_signing_alg_values_supported",
    ] {
        let algs = discovery[field]
            .as_array()
            .unwrap_or_else(|| panic!("{field} missing"));
        assert!(
            algs.contains(&"Ed25519".into()) && algs.contains(&"EdDSA".into()),
            "{field}: {algs:?}"
        );
    }
    // A registered client's assertion that is merely wrong says why (authlib signs
    // exp = iat + 3600 by default).
    for (jws, why) in [
        (
            assertion(
                "EdDSA",
                &ed.private,
                "ed-9864",
                "ed9864-svc",
                &token_url,
                "n3",
                3600,
            ),
            "exp is more than 300 s ahead",
        ),
        (
            assertion(
                "EdDSA",
                &ed.private,
                "ed-9864",
                "ed9864-svc",
                "https://elsewhere/token",
                "n4",
                60,
            ),
            "aud must be one of",
        ),
        (
            assertion(
                "EdDSA",
                &ed.private,
                "ed-9864",
                "ed9864-svc",
                &token_url,
                "n5",
                -600,
            ),
            "expired",
        ),
        (
            assertion(
                "EdDSA",
                &ed.private,
                "other-kid",
                "ed9864-svc",
                &token_url,
                "n6",
                60,
            ),
            "no registered key",
        ),
    ] {
        let r = post(&s, &jws);
        assert_eq!(r.status, 401, "{}", r.body);
        let d = r.json()["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(d.contains(why), "want {why:?}, got {d:?}");
    }
    // An unknown client learns nothing.
    let r = post(
        &s,
        &assertion(
            "EdDSA",
            &ed.private,
            "ed-9864",
            "nobody",
            &token_url,
            "n7",
            3600,
        ),
    );
    assert_eq!(
        (r.status, r.json()["error_description"].as_str()),
        (401, Some("client authentication failed"))
    );
}

#[test]
fn offline_minted_service_tokens_are_checked_at_introspection() {
    let k = keygen("ES256", "svc-1");
    let (rs_secret, rs) = crate::harness::secret_client("orders-api", "");
    let s = Server::start_tls(&format!(
        "{}offline_tokens = true\n{}{rs}",
        pkjwt_client("billing", &[&k]),
        pkjwt_client("quiet", &[&k]),
    ));
    let now = ahdapa::clock::now_unix() as i64;
    let mint = |iss: &str, aud: &str, life: i64| {
        let claims =
            serde_json::json!({"iss": iss, "sub": iss, "aud": aud, "iat": now, "exp": now + life});
        py(&["sign", "ES256", &k.private, &claims.to_string(), "svc-1"])
    };
    let introspect = |token: &str| {
        curl(
            &s.base_url,
            &[
                "-u",
                &format!("orders-api:{rs_secret}"),
                "-d",
                &format!("token={token}"),
            ],
            "/introspect",
        )
        .json()
    };
    let i = introspect(&mint("billing", "orders-api", 300));
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(
        (
            i["sub"].as_str(),
            i["client_id"].as_str(),
            i["token_use"].as_str()
        ),
        (Some("billing"), Some("billing"), Some("offline"))
    );
    // Another audience, a client that did not opt in, a lifetime over an hour: inactive.
    for token in [
        mint("billing", "someone-else", 300),
        mint("quiet", "orders-api", 300),
        mint("billing", "orders-api", 7200),
    ] {
        assert_eq!(introspect(&token), serde_json::json!({"active": false}));
    }
}
