//! RFC 7591 dynamic registration and RFC 7592 management over real HTTPS with curl.

use crate::harness::{Server, curl};

fn post_json(s: &Server, path: &str, token: Option<&str>, body: &str) -> crate::harness::Reply {
    let mut args = vec![
        "-H".to_owned(),
        "Content-Type: application/json".to_owned(),
        "--data-binary".to_owned(),
        body.to_owned(),
    ];
    if let Some(t) = token {
        args.extend(["-H".to_owned(), format!("Authorization: Bearer {t}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    curl(&s.base_url, &args, path)
}

fn with_token(
    s: &Server,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&str>,
) -> crate::harness::Reply {
    let mut args = vec![
        "-X".to_owned(),
        method.to_owned(),
        "-H".to_owned(),
        format!("Authorization: Bearer {token}"),
    ];
    if let Some(b) = body {
        args.extend([
            "-H".to_owned(),
            "Content-Type: application/json".to_owned(),
            "--data-binary".to_owned(),
            b.to_owned(),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    curl(&s.base_url, &args, path)
}

fn token(s: &Server, id: &str, secret: &str) -> crate::harness::Reply {
    curl(
        &s.base_url,
        &[
            "-u",
            &format!("{id}:{secret}"),
            "-d",
            "grant_type=client_credentials",
        ],
        "/token",
    )
}

#[test]
fn dynamic_registration_with_an_initial_token_and_rfc7592_management() {
    let dir = tempfile::tempdir().unwrap();
    let iat_file = dir.path().join("iat");
    let iat = "initial-token-0123456789abcdef";
    std::fs::write(&iat_file, format!("{iat}\n")).unwrap();
    let s = Server::start_tls(&format!(
        "[registration]\nallowed_scopes = [\"read\", \"write\"]\ninitial_access_token_file = \"{}\"\n",
        iat_file.display()
    ));
    let discovery = curl(&s.base_url, &[], "/.well-known/oauth-authorization-server").json();
    assert_eq!(
        discovery["registration_endpoint"],
        format!("{}/register", s.base_url)
    );

    let body = r#"{"client_name": "ci", "grant_types": ["client_credentials"], "scope": "read write", "logo_uri": "https://ci.example/logo.png"}"#;
    let reply = post_json(&s, "/register", None, body);
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.json()["error"], "invalid_token");
    let reply = post_json(&s, "/register", Some("wrong-token-0123456789"), body);
    assert_eq!(reply.status, 401);

    let reply = post_json(&s, "/register", Some(iat), body);
    assert_eq!(reply.status, 201, "{}", reply.body);
    let reg = reply.json();
    let id = reg["client_id"].as_str().unwrap().to_owned();
    let secret = reg["client_secret"].as_str().unwrap().to_owned();
    let rat = reg["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        reg["registration_client_uri"],
        format!("{}/register/{id}", s.base_url)
    );
    assert_eq!(reg["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(reg["client_secret_expires_at"], 0);
    assert_eq!(reg["client_name"], "ci");
    assert!(reg.get("logo_uri").is_none(), "unknown metadata is ignored");
    let reply = token(&s, &id, &secret);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["scope"], "read write");

    // Refusals (RFC 7591 §3.2.2).
    for bad in [
        r#"{"kerberos_principal": "host/x.test.realm@TEST.REALM"}"#,
        r#"{"kerberos_principal_pattern": "host/*@TEST.REALM", "token_endpoint_auth_method": "kerberos_client_auth"}"#,
        r#"{"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": []}, "jwks_uri": "https://x.example/jwks"}"#,
        r#"{"grant_types": ["authorization_code"]}"#,
        r#"{"scope": "admin"}"#,
        r#"{"token_endpoint_auth_method": "private_key_jwt"}"#,
        r#"not json"#,
    ] {
        let reply = post_json(&s, "/register", Some(iat), bad);
        assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
        assert_eq!(reply.json()["error"], "invalid_client_metadata", "{bad}");
    }

    // RFC 7592: read, update, delete with the registration access token.
    let uri = format!("/register/{id}");
    let reply = with_token(&s, "GET", &uri, &rat, None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["scope"], "read write");
    assert!(reply.json().get("client_secret").is_none());
    assert_eq!(
        with_token(&s, "GET", &uri, "not-the-token", None).status,
        401
    );
    assert_eq!(curl(&s.base_url, &[], &uri).status, 401);
    // Another client's token does not open this one.
    let other = post_json(&s, "/register", Some(iat), r#"{"scope": "read"}"#).json();
    let other_rat = other["registration_access_token"].as_str().unwrap();
    assert_eq!(with_token(&s, "GET", &uri, other_rat, None).status, 401);

    let reply = with_token(
        &s,
        "PUT",
        &uri,
        &rat,
        Some(&format!(
            r#"{{"client_id": "{id}", "scope": "read", "client_name": "ci-2"}}"#
        )),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["scope"], "read");
    let reply = token(&s, &id, &secret);
    assert_eq!(reply.status, 200, "the secret is kept: {}", reply.body);
    assert_eq!(reply.json()["scope"], "read");
    let reply = with_token(
        &s,
        "PUT",
        &uri,
        &rat,
        Some(r#"{"client_id": "dcr-someone-else"}"#),
    );
    assert_eq!(reply.status, 400);

    let reply = with_token(&s, "DELETE", &uri, &rat, None);
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(token(&s, &id, &secret).status, 401);
    assert_eq!(with_token(&s, "GET", &uri, &rat, None).status, 401);
    assert!(s.log_text().contains(&format!("{id} client.create {id}")));
}

#[test]
fn open_registration_needs_no_token_and_is_off_by_default() {
    let s = Server::start_tls("[registration]\nallowed_scopes = [\"read\"]\n");
    let reply = post_json(&s, "/register", None, "{}");
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.json()["scope"], "read");
    let off = Server::start_tls("");
    let reply = post_json(&off, "/register", None, "{}");
    assert_eq!(reply.status, 404);
    let d = curl(&off.base_url, &[], "/.well-known/openid-configuration").json();
    assert!(d.get("registration_endpoint").is_none());
}
