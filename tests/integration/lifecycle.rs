//! `/introspect` (RFC 7662) and `/revoke` (RFC 7009) with real clients over TLS.

use crate::harness::{Server, curl, secret_client};

fn post(s: &Server, path: &str, id: &str, secret: &str, body: &str) -> crate::harness::Reply {
    curl(
        &s.base_url,
        &["-u", &format!("{id}:{secret}"), "-d", body],
        path,
    )
}

#[test]
fn introspection_and_revocation_follow_the_rfcs() {
    let (a, ta) = secret_client("lc-a", "");
    let (b, tb) = secret_client("lc-b", "");
    let (rs, trs) = secret_client("lc-rs", "introspection_all_tokens = true\n");
    let s = Server::start_tls(&format!("{ta}{tb}{trs}"));
    let token =
        post(&s, "/token", "lc-a", &a, "grant_type=client_credentials").json()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
    let tok = format!("token={token}");

    // The owner sees its token; another client does not; a resource server with the
    // permission does.
    let own = post(&s, "/introspect", "lc-a", &a, &tok);
    assert_eq!(own.status, 200);
    assert!(
        own.headers
            .to_ascii_lowercase()
            .contains("cache-control: no-store")
    );
    let j = own.json();
    assert_eq!(j["active"], true);
    assert_eq!(
        (
            j["client_id"].as_str(),
            j["sub"].as_str(),
            j["scope"].as_str()
        ),
        (Some("lc-a"), Some("lc-a"), Some("s"))
    );
    assert_eq!(j["token_type"], "Bearer");
    for k in ["exp", "iat", "iss", "aud", "jti"] {
        assert!(j.get(k).is_some(), "introspection lacks {k}: {j}");
    }
    assert_eq!(
        post(&s, "/introspect", "lc-b", &b, &tok).json(),
        serde_json::json!({"active": false})
    );
    assert_eq!(
        post(&s, "/introspect", "lc-rs", &rs, &tok).json()["active"],
        true
    );

    // Garbage and missing client authentication.
    assert_eq!(
        post(&s, "/introspect", "lc-a", &a, "token=garbage").json(),
        serde_json::json!({"active": false})
    );
    let r = curl(&s.base_url, &["-d", &tok], "/introspect");
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let r = post(
        &s,
        "/introspect",
        "lc-a",
        &a,
        "token_type_hint=access_token",
    );
    assert_eq!(r.json()["error"], "invalid_request");

    // Only the owner may revoke; unknown tokens still get 200.
    let r = post(&s, "/revoke", "lc-b", &b, &tok);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    assert_eq!(post(&s, "/revoke", "lc-a", &a, "token=unknown").status, 200);
    assert_eq!(post(&s, "/revoke", "lc-a", &a, &tok).status, 200);
    assert_eq!(
        post(&s, "/introspect", "lc-a", &a, &tok).json(),
        serde_json::json!({"active": false})
    );
    assert_eq!(
        post(&s, "/introspect", "lc-rs", &rs, &tok).json(),
        serde_json::json!({"active": false})
    );
    // Revoking twice is fine.
    assert_eq!(post(&s, "/revoke", "lc-a", &a, &tok).status, 200);
    assert!(s.log_text().contains("token revoked"));
}
