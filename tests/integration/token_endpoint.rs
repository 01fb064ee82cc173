//! `/token` over real TLS with curl: success, the refusals a user meets, restart.

use crate::harness::{Server, claims, curl, header};

const CC: &str = "grant_type=client_credentials";

fn basic(id: &str, secret: &str) -> String {
    format!("{id}:{secret}")
}

#[test]
fn secret_clients_get_rfc9068_tokens_over_tls() {
    let s = Server::start_tls("");
    // poster first: once the server sees svc it has loaded both.
    let post_secret = s.add_client(
        "poster",
        &[
            "--scope",
            "directory.read",
            "--method",
            "client_secret_post",
            "--lifetime",
            "120",
        ],
    );
    let secret = s.add_client("svc", &["--scope", "directory.read", "--scope", "metrics"]);
    s.wait_for_client("svc", &secret);

    let r = curl(
        &s.base_url,
        &[
            "-u",
            &basic("svc", &secret),
            "-d",
            CC,
            "-d",
            "scope=metrics",
        ],
        "/token",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.headers
            .to_ascii_lowercase()
            .contains("cache-control: no-store"),
        "{}",
        r.headers
    );
    let j = r.json();
    assert_eq!(j["token_type"], "Bearer");
    assert_eq!(j["scope"], "metrics");
    let jwt = j["access_token"].as_str().unwrap();
    assert_eq!(header(jwt)["typ"], "at+jwt");
    assert_eq!(header(jwt)["alg"], "ES256");
    let c = claims(jwt);
    assert_eq!(c["iss"], s.base_url);
    assert_eq!(c["sub"], "svc");
    assert_eq!(c["client_id"], "svc");
    assert_eq!(c["aud"], s.base_url);
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 900);
    assert!(c["jti"].as_str().is_some_and(|j| j.len() >= 22));

    // client_secret_post, and SSSD's body with an empty pair, over HTTP/2.
    let body = format!("{CC}&&client_id=poster&client_secret={post_secret}");
    let r = curl(&s.base_url, &["--http2", "-d", &body], "/token");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.headers.starts_with("HTTP/2"), "{}", r.headers);
    assert_eq!(r.json()["expires_in"], 120);

    // Two tokens never share a jti.
    let again = curl(
        &s.base_url,
        &["-u", &basic("svc", &secret), "-d", CC],
        "/token",
    )
    .json();
    assert_ne!(
        claims(again["access_token"].as_str().unwrap())["jti"],
        c["jti"]
    );
}

#[test]
fn refusals_are_rfc6749_json_and_never_panic() {
    let s = Server::start_tls("");
    // public-app first: once the server sees svc2 it has loaded both (a refresh between
    // the two additions made public-app unknown here once: 401 instead of 400).
    s.add_client(
        "public-app",
        &["--scope", "directory.read", "--method", "none"],
    );
    let secret = s.add_client("svc2", &["--scope", "directory.read"]);
    s.wait_for_client("svc2", &secret);

    let r = curl(&s.base_url, &["-u", "svc2:wrong", "-d", CC], "/token");
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(
        r.headers
            .to_ascii_lowercase()
            .contains("www-authenticate: basic realm="),
        "{}",
        r.headers
    );

    let r = curl(
        &s.base_url,
        &["-d", &format!("{CC}&client_id=public-app")],
        "/token",
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("unauthorized_client"))
    );

    let r = curl(
        &s.base_url,
        &["-u", &basic("svc2", &secret), "-d", CC, "-d", "scope=admin"],
        "/token",
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_scope"))
    );

    let r = curl(
        &s.base_url,
        &["-u", &basic("svc2", &secret), "-d", CC, "-d", CC],
        "/token",
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_request"))
    );

    let r = curl(
        &s.base_url,
        &["-u", &basic("svc2", &secret), "-d", "scope=x"],
        "/token",
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_request"))
    );

    let r = curl(
        &s.base_url,
        &["-u", &basic("svc2", &secret), "-d", "grant_type=implicit"],
        "/token",
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    // The password grant takes only a service account's app password, never a
    // client's own secret (nor a person's password).
    let r = curl(
        &s.base_url,
        &["-u", &basic("svc2", &secret), "-d", "grant_type=password"],
        "/token",
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("unauthorized_client"))
    );

    let r = curl(
        &s.base_url,
        &[
            "-u",
            &basic("svc2", &secret),
            "-H",
            "Content-Type: application/json",
            "-d",
            "{}",
        ],
        "/token",
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_request"))
    );

    // A 1 MiB body: 413, announced by Content-Length or streamed in chunks.
    let big = s.dir.path().join("big");
    std::fs::write(&big, format!("{CC}&pad={}", "a".repeat(1 << 20))).unwrap();
    let at_big = format!("@{}", big.display());
    let r = curl(
        &s.base_url,
        &["-u", &basic("svc2", &secret), "--data-binary", &at_big],
        "/token",
    );
    assert_eq!(r.status, 413, "{}", r.stderr);
    let r = curl(
        &s.base_url,
        &[
            "-u",
            &basic("svc2", &secret),
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            &at_big,
        ],
        "/token",
    );
    assert_eq!(r.status, 413, "{}", r.stderr);

    // The server is still healthy, and nothing panicked or leaked a secret.
    assert_eq!(curl(&s.base_url, &[], "/healthz").status, 200);
    let log = s.log_text();
    assert!(!log.contains("panicked"), "{log}");
    assert!(!log.contains(&secret), "a secret reached the log");
    assert!(log.contains("reason=\"wrong client secret\""), "{log}");
}

#[test]
fn restart_keeps_clients_and_keys_and_old_tokens_verify() {
    let mut s = Server::start_tls("");
    let secret = s.add_client("keeper", &["--scope", "s"]);
    s.wait_for_client("keeper", &secret);
    let before = curl(
        &s.base_url,
        &["-u", &basic("keeper", &secret), "-d", CC],
        "/token",
    )
    .json();
    let jwt = before["access_token"].as_str().unwrap().to_owned();
    let jwks_before = curl(&s.base_url, &[], "/jwks").json();

    let status = s.stop();
    assert!(
        status.success(),
        "SIGTERM must end ahdapa cleanly: {status}\n{}",
        s.log_text()
    );
    s.spawn();

    let jwks_after = curl(&s.base_url, &[], "/jwks").json();
    assert_eq!(jwks_before, jwks_after, "the same keys after a restart");
    assert_eq!(header(&jwt)["kid"], jwks_after["keys"][0]["kid"]);
    verify_with_jsonwebtoken(&jwt, &jwks_after, &s.base_url);

    let after = curl(
        &s.base_url,
        &["-u", &basic("keeper", &secret), "-d", CC],
        "/token",
    );
    assert_eq!(
        after.status, 200,
        "the client survives a restart: {}",
        after.body
    );
    assert_eq!(
        header(after.json()["access_token"].as_str().unwrap())["kid"],
        header(&jwt)["kid"]
    );
}

#[test]
fn eddsa_and_rs256_are_selectable() {
    for (alg, kty) in [("EdDSA", "OKP"), ("RS256", "RSA")] {
        let s = Server::start_tls_with_keys(alg);
        let secret = s.add_client("alg", &["--scope", "s"]);
        s.wait_for_client("alg", &secret);
        let jwt = curl(
            &s.base_url,
            &["-u", &basic("alg", &secret), "-d", CC],
            "/token",
        )
        .json()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(header(&jwt)["alg"], alg);
        let jwks = curl(&s.base_url, &[], "/jwks").json();
        assert_eq!(jwks["keys"][0]["kty"], kty);
        verify_with_jsonwebtoken(&jwt, &jwks, &s.base_url);
        crate::interop::pyjwt_verify(&jwt, &s.base_url);
    }
}

#[test]
fn check_config_names_every_mistake_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "issuer = \"https://idp.example.com/\"\n[server]\ninsecure_http = true\nmax_connections = \"many\"\n[tokens]\nlifetimesecs = 5\n",
    )
    .unwrap();
    let out = std::process::Command::new(crate::harness::BIN)
        .arg("--config")
        .arg(&path)
        .arg("check-config")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for key in [
        "issuer:",
        "server.max_connections:",
        "tokens.lifetimesecs: unknown key",
    ] {
        assert!(err.contains(key), "missing {key:?} in:\n{err}");
    }

    // And the same file refuses to serve.
    let out = std::process::Command::new(crate::harness::BIN)
        .arg("--config")
        .arg(&path)
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.max_connections"));
}

/// Verifies a token with the jsonwebtoken crate against a fetched JWKS.
fn verify_with_jsonwebtoken(jwt: &str, jwks: &serde_json::Value, issuer: &str) {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let kid = header(jwt)["kid"].as_str().unwrap().to_owned();
    let jwk = set.find(&kid).expect("kid published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let alg = match header(jwt)["alg"].as_str().unwrap() {
        "ES256" => jsonwebtoken::Algorithm::ES256,
        "RS256" => jsonwebtoken::Algorithm::RS256,
        _ => jsonwebtoken::Algorithm::EdDSA,
    };
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_issuer(&[issuer]);
    v.set_audience(&[issuer]);
    jsonwebtoken::decode::<serde_json::Value>(jwt, &key, &v).expect("token verifies");
}

#[test]
fn an_existing_secret_from_another_idp_is_hashed_from_stdin() {
    let secret = "migrated-from-keycloak-0123456789abcdef";
    let from_stdin = ["client", "generate-secret", "--from-stdin"];
    let out = crate::harness::ahdapa(&from_stdin, Some(&format!("{secret}\n")));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains(secret), "the secret is not echoed: {text}");
    let hash_line = text
        .lines()
        .find(|l| l.starts_with("client_secret_hash = "))
        .unwrap();
    let s = crate::harness::Server::start_tls(&format!(
        "[[clients]]\nclient_id = \"migrated\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\n{hash_line}\nscopes = [\"s\"]\n"
    ));
    let r = curl(
        &s.base_url,
        &[
            "-u",
            &format!("migrated:{secret}"),
            "-d",
            "grant_type=client_credentials",
        ],
        "/token",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // A short secret is refused (the stored hash is a fast one).
    let out = crate::harness::ahdapa(&from_stdin, Some("hunter2\n"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("shorter than 22"));
}

#[test]
fn grant_types_are_part_of_a_registration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grants.toml");
    std::fs::write(
        &path,
        "issuer = \"https://idp.example.com\"\n\
         [[clients]]\nclient_id = \"a\"\ntoken_endpoint_auth_method = \"none\"\ngrant_types = [\"implicit\"]\nscopes = [\"s\"]\n\
         [[clients]]\nclient_id = \"b\"\ntoken_endpoint_auth_method = \"none\"\ngrant_types = []\nscopes = [\"s\"]\n",
    )
    .unwrap();
    let (ok, err) = crate::harness::check_config(&path);
    assert!(!ok);
    assert!(err.contains("clients[0].grant_types"), "{err}");
    assert!(
        err.contains("clients[1].grant_types: must name at least one grant"),
        "{err}"
    );
    // Explicitly registered for client_credentials: served; discovery lists the grants.
    let (secret, table) =
        crate::harness::secret_client("granted", "grant_types = [\"client_credentials\"]\n");
    let s = Server::start_tls(&table);
    let r = curl(
        &s.base_url,
        &["-u", &basic("granted", &secret), "-d", CC],
        "/token",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let d = curl(&s.base_url, &[], "/.well-known/openid-configuration").json();
    assert_eq!(
        d["grant_types_supported"],
        serde_json::json!([
            "client_credentials",
            "authorization_code",
            "urn:ietf:params:oauth:grant-type:device_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "urn:ietf:params:oauth:grant-type:jwt-bearer"
        ])
    );
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
}
