//! Workloads without stored secrets: trusted external issuers nobody here wrote.
//! - node's oidc-provider (panva) over HTTPS, found by OIDC discovery, issuing
//!   client_credentials JWTs with `aud` = ahdapa: accepted as `client_assertion` and as
//!   `client_secret`; every bad token refused with its reason; its key rotation followed.
//! - A Kubernetes-shaped issuer (python): discovery and JWKS behind a bearer token, the
//!   JWKS only for `Accept: application/jwk-set+json` (406 otherwise), `max-age` honoured.
//! - A SPIFFE trust bundle (`use: jwt-svid`) as a file, with `…:jwt-spiffe` assertions,
//!   and PEM verification certificates.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::assertions::{Key, keygen, py};
use crate::harness::{Reply, Server, claims, curl, free_port, pki, python};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const JWT_SPIFFE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe";

/// Where `scripts/test` installed oidc-provider (`npm install oidc-provider@9.13.3`).
fn node_modules() -> PathBuf {
    let dir = std::env::var("AHDAPA_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/var/cache/ahdapa/node/node_modules"));
    assert!(
        dir.join("oidc-provider/package.json").exists(),
        "oidc-provider is not installed in {} (scripts/test installs it; or set AHDAPA_NODE_MODULES)",
        dir.display()
    );
    dir
}

/// node's oidc-provider on `127.0.0.1:port` (tests/integration/issuers/oidc-provider.mjs).
struct OidcProvider {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl OidcProvider {
    fn start(port: u16, signing: &Key, kid: &str, ahdapa_issuer: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // ESM resolves `oidc-provider` from the script's directory upwards.
        std::os::unix::fs::symlink(node_modules(), dir.path().join("node_modules")).unwrap();
        let script = dir.path().join("oidc-provider.mjs");
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/integration/issuers/oidc-provider.mjs"),
            &script,
        )
        .unwrap();
        let pem = dir.path().join("signing.pem");
        std::fs::write(&pem, &signing.private).unwrap();
        let log = dir.path().join("op.log");
        let p = pki();
        let child = Command::new("node")
            .arg(&script)
            .arg(port.to_string())
            .arg(&p.cert)
            .arg(&p.key)
            .arg(&pem)
            .arg(kid)
            .arg(ahdapa_issuer)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("node must be installed");
        let op = Self { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("listening on")
        {
            assert!(Instant::now() < deadline, "oidc-provider did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        op
    }

    fn issuer(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// A client_credentials access token of `client` (a JWT), for `resource`.
    fn token(&self, client: &str, resource: Option<&str>) -> String {
        let mut args = vec![
            "-d".to_owned(),
            "grant_type=client_credentials".into(),
            "-d".into(),
            format!("client_id={client}"),
            "-d".into(),
            "client_secret=s3cret-0123456789".into(),
            "-d".into(),
            "scope=deploy".into(),
        ];
        if let Some(r) = resource {
            args.extend(["-d".into(), format!("resource={r}")]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = curl(&self.issuer(), &args, "/token");
        assert_eq!(r.status, 200, "oidc-provider: {}", r.body);
        r.json()["access_token"].as_str().unwrap().to_owned()
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.dir.path();
    }
}

/// `POST /token` with `assertion` as `client_assertion` of `client_id`.
fn assert_as(s: &Server, client_id: &str, kind: &str, assertion: &str) -> Reply {
    curl(
        &s.base_url,
        &[
            "-d",
            "grant_type=client_credentials",
            "-d",
            &format!("client_id={client_id}"),
            "-d",
            &format!("client_assertion_type={kind}"),
            "-d",
            &format!("client_assertion={assertion}"),
        ],
        "/token",
    )
}

/// The refusal's `error_description`, after checking it is a 401 `invalid_client`.
fn refused(r: &Reply) -> String {
    r.refusal(401, "invalid_client")
}

fn now() -> i64 {
    ahdapa::clock::now_unix() as i64
}

fn sign(alg: &str, key: &Key, kid: &str, claims: &serde_json::Value) -> String {
    py(&["sign", alg, &key.private, &claims.to_string(), kid])
}

#[test]
fn an_external_oidc_provider_authenticates_ci_jobs_and_every_bad_token_says_why() {
    let op_port = free_port();
    let op_issuer = format!("https://127.0.0.1:{op_port}");
    let exchanger = crate::harness::secret_client(
        "exchanger",
        &format!(
            "grant_types = [\"urn:ietf:params:oauth:grant-type:token-exchange\"]\n\
             token_exchange = {{ issuers = [\"{op_issuer}\"] }}\n"
        ),
    );
    let exchanger = (
        exchanger.0,
        exchanger
            .1
            .replacen("scopes = [\"s\"]", "scopes = [\"s\", \"deploy\"]", 1),
    );
    let s = Server::start_tls(&format!(
        "[[trusted_issuers]]\nissuer = \"{op_issuer}\"\ndiscovery = true\nca_file = \"{ca}\"\n\
         min_refetch_secs = 0\njti = \"require_unique\"\n\
         [[clients]]\nclient_id = \"deploy\"\ntoken_endpoint_auth_method = \"federated_jwt\"\n\
         federation = {{ issuer = \"{op_issuer}\", sub = \"ci-job\", claims = {{ environment = \"prod\", repository = \"acme/*\" }}, subject_template = \"{{issuer}}:{{sub}}\" }}\n\
         federated_claims = [\"repository\", \"environment\"]\nscopes = [\"deploy\"]\n\
         [[clients]]\nclient_id = \"deploy-any\"\ntoken_endpoint_auth_method = \"federated_jwt\"\n\
         federation = {{ issuer = \"{op_issuer}\", sub = \"*-job\", claims = {{ environment = \"prod\" }} }}\n\
         scopes = [\"deploy\"]\n{exchanger}",
        ca = pki().ca.display(),
        exchanger = exchanger.1,
    ));
    let key1 = keygen("ES256", "op-1");
    let mut op = OidcProvider::start(op_port, &key1, "op-1", &s.base_url);

    // A CI job's token from its platform, and no secret stored anywhere.
    let job = op.token("ci-job", None);
    let r = assert_as(&s, "deploy", JWT_BEARER, &job);
    assert_eq!(r.status, 200, "{}\n{}", r.body, s.log_text());
    let c = claims(r.json()["access_token"].as_str().unwrap());
    assert_eq!(c["sub"], format!("{op_issuer}:ci-job"));
    assert_eq!(c["client_id"], "deploy");
    assert_eq!(c["scope"], "deploy");
    assert_eq!(c["repository"], "acme/site");
    assert_eq!(c["environment"], "prod");
    assert_eq!(c["iss"], s.base_url);

    // jti = "require_unique": the same token twice is a replay.
    let d = refused(&assert_as(&s, "deploy", JWT_BEARER, &job));
    assert!(d.contains("already used"), "{d}");

    // A tool that can only set a password sends the JWT as the client secret.
    let job = op.token("ci-job", None);
    let r = curl(
        &s.base_url,
        &[
            "-d",
            "grant_type=client_credentials",
            "-d",
            "client_id=deploy",
            "-d",
            &format!("client_secret={job}"),
        ],
        "/token",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let job = op.token("ci-job", None);
    let r = curl(
        &s.base_url,
        &[
            "-u",
            &format!("deploy:{job}"),
            "-d",
            "grant_type=client_credentials",
        ],
        "/token",
    );
    assert_eq!(r.status, 200, "{}", r.body);

    // Refusals, each with its reason.
    let bearer = |client: &str, token: &str| refused(&assert_as(&s, client, JWT_BEARER, token));
    let d = bearer(
        "deploy",
        &op.token("ci-job", Some("https://elsewhere.test")),
    );
    assert!(
        d.contains("aud must name one of") && d.contains(&s.base_url),
        "the expected audience is named: {d}"
    );
    let d = bearer("deploy", &op.token("ci-job", Some("urn:ahdapa:long")));
    assert!(d.contains("max_lifetime_secs 3600"), "{d}");
    let d = bearer("deploy", &op.token("other-job", None));
    assert!(d.contains("sub \"other-job\" does not match"), "{d}");
    let d = bearer("deploy-any", &op.token("other-job", None));
    assert!(d.contains("claim environment does not match"), "{d}");
    let base = serde_json::json!({"iss": op_issuer, "sub": "ci-job", "aud": s.base_url,
        "environment": "prod", "repository": "acme/site"});
    let with = |extra: serde_json::Value| {
        let mut c = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let expired = sign(
        "ES256",
        &key1,
        "op-1",
        &with(serde_json::json!({"iat": now() - 900, "exp": now() - 600, "jti": "e1"})),
    );
    let d = bearer("deploy", &expired);
    assert!(d.contains("expired"), "{d}");
    let elsewhere = sign(
        "ES256",
        &key1,
        "op-1",
        &with(
            serde_json::json!({"iss": "https://gitlab.example", "iat": now(), "exp": now() + 60, "jti": "e2"}),
        ),
    );
    let d = bearer("deploy", &elsewhere);
    assert!(d.contains("is not the trusted issuer"), "{d}");
    use base64::Engine;
    let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let live = with(serde_json::json!({"iat": now(), "exp": now() + 60, "jti": "e3"}));
    let none = format!(
        "{}.{}.",
        b64(r#"{"alg":"none","typ":"JWT"}"#),
        b64(&live.to_string())
    );
    let d = bearer("deploy", &none);
    assert!(d.contains("not a usable JWS"), "{d}");
    // HMAC keyed with the issuer's public key (the classic confusion attack).
    let public = key1.jwk().to_string();
    let hs = py(&["sign", "HS256", &public, &live.to_string(), "op-1"]);
    let d = bearer("deploy", &hs);
    assert!(d.contains("alg HS256 is not allowed"), "{d}");

    // The issuer rotates its key: a token with the new kid makes ahdapa fetch the keys
    // again; a token of the old key, still unexpired, no longer verifies.
    let old = op.token("ci-job", None);
    drop(op);
    let key2 = keygen("ES256", "op-2");
    op = OidcProvider::start(op_port, &key2, "op-2", &s.base_url);
    let fetched = s
        .log_text()
        .matches("fetched a trusted issuer's keys")
        .count();
    let r = assert_as(&s, "deploy", JWT_BEARER, &op.token("ci-job", None));
    assert_eq!(r.status, 200, "{}\n{}", r.body, s.log_text());
    assert_eq!(
        s.log_text()
            .matches("fetched a trusted issuer's keys")
            .count(),
        fetched + 1,
        "the unknown kid refetched the keys once"
    );
    let d = bearer("deploy", &old);
    assert!(d.contains("no key of the issuer for kid \"op-1\""), "{d}");

    // A service exchanges a platform token it was given (RFC 8693, subject_token_type
    // jwt) for one of ahdapa's naming itself.
    let r = curl(
        &s.base_url,
        &[
            "-u",
            &format!("exchanger:{}", exchanger.0),
            "-d",
            "grant_type=urn:ietf:params:oauth:grant-type:token-exchange",
            "-d",
            &format!("subject_token={}", op.token("ci-job", None)),
            "-d",
            "subject_token_type=urn:ietf:params:oauth:token-type:jwt",
            "-d",
            "requested_token_type=urn:ietf:params:oauth:token-type:jwt",
        ],
        "/token",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["issued_token_type"],
        "urn:ietf:params:oauth:token-type:jwt"
    );
    let c = claims(r.json()["access_token"].as_str().unwrap());
    assert_eq!(
        (c["sub"].as_str(), c["client_id"].as_str()),
        (Some("ci-job"), Some("exchanger"))
    );
    assert_eq!(c["act"], serde_json::json!({"sub": "exchanger"}));
    assert_eq!(
        c["scope"], "deploy",
        "the platform token's scope, never wider"
    );

    // Every refusal is in the log with its reason.
    let log = s.log_text();
    for reason in [
        "aud must name one of",
        "is not the trusted issuer",
        "already used",
        "claim environment does not match",
    ] {
        assert!(log.contains(reason), "{reason} is logged:\n{log}");
    }
    // Discovery lists the method.
    let meta = curl(&s.base_url, &[], "/.well-known/openid-configuration").json();
    assert!(
        meta["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&"federated_jwt".into())
    );
}

/// A Kubernetes API server's issuer, as far as ahdapa sees it: discovery and JWKS behind
/// a bearer token, the JWKS only for `Accept: application/jwk-set+json`.
struct KubernetesIssuer {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl KubernetesIssuer {
    fn start(jwks: &serde_json::Value) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        std::fs::write(dir.path().join("jwks.json"), jwks.to_string()).unwrap();
        let p = pki();
        let script = format!(
            r#"
import http.server, ssl, json, sys
ISSUER = "https://localhost:{port}"
DIR = {d:?}
class H(http.server.BaseHTTPRequestHandler):
    def answer(self, code, body, ctype="application/json", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        with open(DIR + "/requests.log", "a") as f:
            f.write(self.path + " " + self.headers.get("Accept", "") + "\n")
        if self.headers.get("Authorization") != "Bearer sa-token-for-discovery":
            return self.answer(401, b'{{"kind":"Status","code":401}}')
        if self.path == "/.well-known/openid-configuration":
            doc = {{"issuer": ISSUER, "jwks_uri": ISSUER + "/openid/v1/jwks",
                   "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
                   "id_token_signing_alg_values_supported": ["RS256"]}}
            return self.answer(200, json.dumps(doc).encode())
        if self.path == "/openid/v1/jwks":
            if "application/jwk-set+json" not in self.headers.get("Accept", ""):
                return self.answer(406, b'{{"kind":"Status","code":406}}')
            body = open(DIR + "/jwks.json", "rb").read()
            return self.answer(200, body, "application/jwk-set+json", [("Cache-Control", "public, max-age=3600")])
        self.answer(404, b"{{}}")
    def log_message(self, *a):
        pass
h = http.server.HTTPServer(("127.0.0.1", {port}), H)
c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
c.load_cert_chain({cert:?}, {key:?})
h.socket = c.wrap_socket(h.socket, server_side=True)
h.serve_forever()
"#,
            d = dir.path().display().to_string(),
            cert = p.cert.display().to_string(),
            key = p.key.display().to_string(),
        );
        let child = Command::new(python())
            .args(["-c", &script])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the Kubernetes-shaped issuer did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, dir, port }
    }

    fn issuer(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    fn requests(&self, path: &str) -> usize {
        std::fs::read_to_string(self.dir.path().join("requests.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(&format!("{path} ")))
            .count()
    }
}

impl Drop for KubernetesIssuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_kubernetes_shaped_issuer_behind_discovery_with_a_bearer_token() {
    let sa = keygen("RS256", "k8s-1");
    let k8s = KubernetesIssuer::start(&serde_json::json!({"keys": [
        serde_json::json!({"use": "sig", "alg": "RS256"}).as_object().unwrap().iter()
            .chain(sa.jwk().as_object().unwrap().iter())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<serde_json::Map<_, _>>()
    ]}));
    // The server is shaped like the API server: 406 without the JWK Set media type,
    // 401 without the token.
    let bearer = ["-H", "Authorization: Bearer sa-token-for-discovery"];
    assert_eq!(curl(&k8s.issuer(), &bearer, "/openid/v1/jwks").status, 406);
    assert_eq!(
        curl(
            &k8s.issuer(),
            &["-H", "Accept: application/jwk-set+json"],
            "/openid/v1/jwks"
        )
        .status,
        401
    );
    let token_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token_file.path(), "sa-token-for-discovery\n").unwrap();
    let s = Server::start_tls(&format!(
        "[[trusted_issuers]]\nissuer = \"{iss}\"\ndiscovery = true\nca_file = \"{ca}\"\n\
         bearer_token_file = \"{token}\"\njti = \"ignore\"\nalgorithms = [\"RS256\"]\n\
         [[clients]]\nclient_id = \"ci-runner\"\ntoken_endpoint_auth_method = \"federated_jwt\"\n\
         federation = {{ issuer = \"{iss}\", sub = \"system:serviceaccount:ci:runner\", claims = {{ \"kubernetes.io.namespace\" = \"ci\" }}, subject_template = \"{{sub}}\" }}\n\
         scopes = [\"deploy\"]\n",
        iss = k8s.issuer(),
        ca = pki().ca.display(),
        token = token_file.path().display(),
    ));
    let projected = |namespace: &str| {
        sign(
            "RS256",
            &sa,
            "k8s-1",
            &serde_json::json!({"iss": k8s.issuer(), "sub": format!("system:serviceaccount:{namespace}:runner"),
                "aud": [s.base_url], "iat": now(), "nbf": now(), "exp": now() + 3600,
                "jti": "same-token-all-hour",
                "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": "runner", "uid": "0e3c"},
                                  "pod": {"name": "runner-7d9", "uid": "77a1"}}}),
        )
    };
    let token = projected("ci");
    // A projected token lives an hour and is reused (jti = "ignore").
    for _ in 0..2 {
        let r = assert_as(&s, "ci-runner", JWT_BEARER, &token);
        assert_eq!(r.status, 200, "{}\n{}", r.body, s.log_text());
        assert_eq!(
            claims(r.json()["access_token"].as_str().unwrap())["sub"],
            "system:serviceaccount:ci:runner"
        );
    }
    let r = curl(
        &s.base_url,
        &[
            "-u",
            &format!("ci-runner:{token}"),
            "-d",
            "grant_type=client_credentials",
        ],
        "/token",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Another namespace's service account of the same name does not match.
    let other = projected("prod");
    let d = refused(&assert_as(&s, "ci-runner", JWT_BEARER, &other));
    assert!(d.contains("does not match"), "{d}");
    // One discovery and one JWKS fetch served all of it (max-age=3600), and the JWKS
    // fetch accepted the JWK Set media type.
    assert_eq!(k8s.requests("/.well-known/openid-configuration"), 1);
    assert_eq!(
        k8s.requests("/openid/v1/jwks"),
        2 + 1,
        "the two checks above, and one fetch"
    );
}

#[test]
fn spiffe_bundles_and_verification_certificates_as_static_keys() {
    let svid = keygen("ES256", "svid-1");
    let x509_only = keygen("ES256", "x509-1");
    let dir = tempfile::tempdir().unwrap();
    let mut jwt_key = svid.jwk().clone();
    jwt_key["use"] = "jwt-svid".into();
    let mut x509_key = x509_only.jwk().clone();
    x509_key["use"] = "x509-svid".into();
    let bundle = dir.path().join("bundle.json");
    std::fs::write(
        &bundle,
        serde_json::json!({"keys": [jwt_key, x509_key], "spiffe_sequence": 12, "spiffe_refresh_hint": 300})
            .to_string(),
    )
    .unwrap();
    // Verification certificates: an RSA certificate made by openssl, its key signs.
    let run = |args: &[&str]| crate::harness::openssl(dir.path(), args);
    run(&[
        "req",
        "-x509",
        "-new",
        "-nodes",
        "-newkey",
        "rsa:2048",
        "-days",
        "2",
        "-subj",
        "/CN=legacy issuer",
        "-keyout",
        "legacy.key",
        "-out",
        "legacy.pem",
    ]);
    // A broker that gets tokens for the workloads whose JWT-SVIDs it is handed
    // (RFC 7523 §2.1).
    let broker = crate::harness::secret_client(
        "broker",
        "grant_types = [\"urn:ietf:params:oauth:grant-type:jwt-bearer\"]\n\
         jwt_bearer = [{ issuer = \"https://oidc-discovery.example.org\", sub = \"spiffe://example.org/ns/ci/*\" }]\n",
    );
    let legacy_key =
        Key::from_private(std::fs::read_to_string(dir.path().join("legacy.key")).unwrap());
    let s = Server::start_tls(&format!(
        "[[trusted_issuers]]\nissuer = \"https://oidc-discovery.example.org\"\njwks_file = \"{bundle}\"\njti = \"ignore\"\n\
         [[trusted_issuers]]\nissuer = \"https://legacy.example\"\ncertificate_files = [\"{cert}\"]\n\
         [[clients]]\nclient_id = \"builder\"\ntoken_endpoint_auth_method = \"federated_jwt\"\n\
         federation = {{ issuer = \"https://oidc-discovery.example.org\", sub = \"spiffe://example.org/ns/ci/sa/*\", subject_template = \"{{sub}}\" }}\n\
         scopes = [\"deploy\"]\n\
         [[clients]]\nclient_id = \"legacy\"\ntoken_endpoint_auth_method = \"federated_jwt\"\n\
         federation = {{ issuer = \"https://legacy.example\", sub = \"svc-account\" }}\nscopes = [\"deploy\"]\n{pk}",
        bundle = bundle.display(),
        cert = dir.path().join("legacy.pem").display(),
        pk = crate::assertions::pkjwt_client("signer", &[&svid]) + &broker.1,
    ));
    let svid_claims = |sub: &str| {
        serde_json::json!({"iss": "https://oidc-discovery.example.org", "sub": sub,
            "aud": s.base_url, "iat": now(), "exp": now() + 300})
    };
    let good = sign(
        "ES256",
        &svid,
        "svid-1",
        &svid_claims("spiffe://example.org/ns/ci/sa/builder"),
    );
    let r = assert_as(&s, "builder", JWT_SPIFFE, &good);
    assert_eq!(r.status, 200, "{}\n{}", r.body, s.log_text());
    assert_eq!(
        claims(r.json()["access_token"].as_str().unwrap())["sub"],
        "spiffe://example.org/ns/ci/sa/builder"
    );
    // The bundle's X.509-SVID key is not a JWT-SVID key.
    let d = refused(&assert_as(
        &s,
        "builder",
        JWT_SPIFFE,
        &sign(
            "ES256",
            &x509_only,
            "x509-1",
            &svid_claims("spiffe://example.org/ns/ci/sa/builder"),
        ),
    ));
    assert!(d.contains("no key of the issuer"), "{d}");
    let d = refused(&assert_as(
        &s,
        "builder",
        JWT_SPIFFE,
        &sign(
            "ES256",
            &svid,
            "svid-1",
            &svid_claims("spiffe://example.org/ns/prod/sa/builder"),
        ),
    ));
    assert!(d.contains("does not match"), "{d}");
    // jwt-spiffe is for federated clients only.
    let d = refused(&assert_as(&s, "signer", JWT_SPIFFE, &good));
    assert!(d.contains("only for federated_jwt clients"), "{d}");

    let bearer_grant = |assertion: &str| {
        curl(
            &s.base_url,
            &[
                "-u",
                &format!("broker:{}", broker.0),
                "-d",
                "grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer",
                "-d",
                &format!("assertion={assertion}"),
            ],
            "/token",
        )
    };
    let r = bearer_grant(&good);
    assert_eq!(r.status, 200, "{}", r.body);
    let c = claims(r.json()["access_token"].as_str().unwrap());
    assert_eq!(
        (c["sub"].as_str(), c["client_id"].as_str()),
        (
            Some("spiffe://example.org/ns/ci/sa/builder"),
            Some("broker")
        )
    );
    let prod = sign(
        "ES256",
        &svid,
        "svid-1",
        &svid_claims("spiffe://example.org/ns/prod/sa/x"),
    );
    let d = bearer_grant(&prod).refusal(400, "invalid_grant");
    assert!(
        d.contains("matches none of this client's jwt_bearer rules"),
        "{d}"
    );
    let d = bearer_grant("not-a-jwt").refusal(400, "invalid_grant");
    assert!(d.contains("assertion"), "{d}");

    let legacy = sign(
        "RS256",
        &legacy_key,
        "",
        &serde_json::json!({"iss": "https://legacy.example", "sub": "svc-account", "aud": format!("{}/token", s.base_url),
            "iat": now(), "exp": now() + 300, "jti": "l1"}),
    );
    let r = assert_as(&s, "legacy", JWT_BEARER, &legacy);
    assert_eq!(r.status, 200, "{}\n{}", r.body, s.log_text());
    assert_eq!(
        claims(r.json()["access_token"].as_str().unwrap())["sub"],
        "legacy"
    );
}

#[test]
fn trusted_issuer_mistakes_are_named_by_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ahdapa.toml");
    std::fs::write(
        &config,
        "issuer = \"https://idp.example\"\n[server]\nlisten = [\"127.0.0.1:1\"]\ninsecure_http = true\n\
         [store]\nsqlite_path = \"/tmp/x.db\"\n[keys]\nmaster_key_file = \"/tmp/x.key\"\n\
         [[trusted_issuers]]\nissuer = \"https://a.example\"\njwks_uri = \"https://a.example/jwks\"\nalgorithms = [\"HS256\"]\n\
         [[trusted_issuers]]\nissuer = \"https://b.example\"\n\
         [[clients]]\nclient_id = \"x\"\ntoken_endpoint_auth_method = \"federated_jwt\"\n\
         federation = { issuer = \"https://nobody.example\", sub = \"x\" }\nscopes = [\"s\"]\n",
    )
    .unwrap();
    let (ok, text) = crate::harness::check_config(&config);
    assert!(!ok);
    for path in [
        "trusted_issuers[0].algorithms",
        "trusted_issuers[1].jwks_uri",
        "clients[0].federation.issuer",
    ] {
        assert!(text.contains(path), "{path} in:\n{text}");
    }
}
