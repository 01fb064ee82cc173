//! Router tests: real `Service`, in-memory store, `http::Request`s, no sockets.

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};

use super::route;
use crate::config;
use crate::oauth::secret::{ClientSecret, SecretHash};
use crate::service::Service;
use crate::store::sqlite::SqliteStore;
use crate::token::seal::MasterKey;

const FORM: &str = "application/x-www-form-urlencoded";

async fn service() -> Arc<Service> {
    let hash = SecretHash::of(&ClientSecret::new("pw".into())).to_stored();
    let text = format!(
        r#"
issuer = "https://idp.test"
[server]
insecure_http = true
max_body_bytes = 2048
[[clients]]
client_id = "svc"
token_endpoint_auth_method = "client_secret_basic"
client_secret_hash = "{hash}"
scopes = ["directory.read", "metrics"]
[[clients]]
client_id = "poster"
token_endpoint_auth_method = "client_secret_post"
client_secret_hash = "{hash}"
scopes = ["directory.read"]
[[clients]]
client_id = "pub"
token_endpoint_auth_method = "none"
scopes = ["directory.read"]
"#
    );
    let cfg = config::parse(&text).unwrap();
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let master =
        MasterKey::from_bytes(&MasterKey::generate_bytes(&SystemRandom::new()).unwrap()).unwrap();
    Service::with_store(&cfg, store, master).await.unwrap()
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    json: serde_json::Value,
}

async fn send(service: &Service, req: Request<Full<Bytes>>) -> Reply {
    let resp = route(service, req).await;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    Reply {
        status,
        headers,
        json,
    }
}

fn post(body: &str, auth: Option<(&str, &str)>) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method(Method::POST)
        .uri("/token")
        .header("content-type", FORM);
    if let Some((id, secret)) = auth {
        b = b.header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
        );
    }
    b.body(Full::new(Bytes::from(body.to_owned()))).unwrap()
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .uri(path)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[tokio::test]
async fn token_with_basic_returns_bearer_jwt_and_no_store() {
    let s = service().await;
    let r = send(
        &s,
        post("grant_type=client_credentials", Some(("svc", "pw"))),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["cache-control"], "no-store");
    assert_eq!(r.json["token_type"], "Bearer");
    assert_eq!(r.json["expires_in"], 900);
    assert_eq!(r.json["scope"], "directory.read metrics");
    assert!(
        r.json.get("refresh_token").is_none(),
        "RFC 6749 §4.4.3: no refresh token"
    );
    let jwt = r.json["access_token"].as_str().unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["kid"], s.active_kid());
}

#[tokio::test]
async fn token_with_client_secret_post() {
    let s = service().await;
    let r = send(
        &s,
        post(
            "grant_type=client_credentials&client_id=poster&client_secret=pw",
            None,
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
}

#[tokio::test]
async fn wrong_secret_is_401_with_basic_challenge() {
    let s = service().await;
    let r = send(
        &s,
        post("grant_type=client_credentials", Some(("svc", "nope"))),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json["error"], "invalid_client");
    let challenge = r.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Basic realm="), "{challenge}");
}

#[tokio::test]
async fn no_credentials_is_401_with_challenge() {
    let s = service().await;
    let r = send(&s, post("grant_type=client_credentials", None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.headers.contains_key("www-authenticate"));
}

#[tokio::test]
async fn public_client_is_refused_client_credentials() {
    let s = service().await;
    let r = send(
        &s,
        post("grant_type=client_credentials&client_id=pub", None),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["error"], "unauthorized_client");
}

#[tokio::test]
async fn scope_outside_registration_is_invalid_scope() {
    let s = service().await;
    let r = send(
        &s,
        post(
            "grant_type=client_credentials&scope=admin",
            Some(("svc", "pw")),
        ),
    )
    .await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
}

#[tokio::test]
async fn repeated_parameter_is_invalid_request() {
    let s = service().await;
    let r = send(
        &s,
        post(
            "grant_type=client_credentials&scope=a&scope=b",
            Some(("svc", "pw")),
        ),
    )
    .await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

#[tokio::test]
async fn wrong_content_type_is_invalid_request() {
    let s = service().await;
    let req = Request::builder()
        .method(Method::POST)
        .uri("/token")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let r = send(&s, req).await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

#[tokio::test]
async fn unknown_grant_type_is_unsupported() {
    let s = service().await;
    let r = send(&s, post("grant_type=implicit", Some(("svc", "pw")))).await;
    assert_eq!(r.json["error"], "unsupported_grant_type");
    // The password grant exists only for service accounts: a client's own secret is
    // not enough, and no person's password is ever taken here.
    let r = send(&s, post("grant_type=password", Some(("svc", "pw")))).await;
    assert_eq!(r.json["error"], "unauthorized_client");
}

#[tokio::test]
async fn oversized_body_is_413_even_without_content_length() {
    let s = service().await;
    let big = format!("grant_type=client_credentials&pad={}", "a".repeat(4096));
    // Full<Bytes> reports its exact size, so this exercises the streaming limit too.
    let r = send(&s, post(&big, Some(("svc", "pw")))).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let req = Request::builder()
        .method(Method::POST)
        .uri("/token")
        .header("content-type", FORM)
        .header("content-length", "999999")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(send(&s, req).await.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn two_authorization_headers_are_invalid_request() {
    let s = service().await;
    let mut req = post("grant_type=client_credentials", Some(("svc", "pw")));
    req.headers_mut()
        .append("authorization", "Basic eDp5".parse().unwrap());
    let r = send(&s, req).await;
    assert_eq!(r.json["error"], "invalid_request");
}

#[tokio::test]
async fn jwks_and_discovery_describe_what_is_implemented() {
    let s = service().await;
    let jwks = send(&s, get("/jwks")).await;
    assert_eq!(jwks.status, StatusCode::OK);
    assert_eq!(jwks.json["keys"][0]["kid"], s.active_kid());
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let d = send(&s, get(path)).await;
        assert_eq!(d.json["issuer"], "https://idp.test");
        assert_eq!(d.json["token_endpoint"], "https://idp.test/token");
        assert_eq!(d.json["jwks_uri"], "https://idp.test/jwks");
        assert_eq!(
            d.json["device_authorization_endpoint"],
            "https://idp.test/device_authorization"
        );
        assert_eq!(
            d.json["grant_types_supported"],
            serde_json::json!([
                "client_credentials",
                "authorization_code",
                "urn:ietf:params:oauth:grant-type:device_code",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:token-exchange",
                "urn:ietf:params:oauth:grant-type:jwt-bearer"
            ])
        );
        assert_eq!(
            d.json["token_endpoint_auth_methods_supported"],
            serde_json::json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "client_secret_jwt",
                "none"
            ])
        );
        assert_eq!(
            d.json["authorization_endpoint"],
            "https://idp.test/authorize"
        );
        assert_eq!(
            d.json["response_types_supported"],
            serde_json::json!(["code"])
        );
        assert_eq!(
            d.json["response_modes_supported"],
            serde_json::json!(["query"])
        );
        assert_eq!(
            d.json["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(
            d.json["authorization_response_iss_parameter_supported"],
            true
        );
        assert_eq!(
            d.json["subject_types_supported"],
            serde_json::json!(["public"])
        );
    }
}

#[tokio::test]
async fn unknown_path_is_404_and_wrong_method_is_405() {
    let s = service().await;
    assert_eq!(send(&s, get("/nope")).await.status, StatusCode::NOT_FOUND);
    let r = send(&s, get("/token")).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers["allow"], "POST");
    assert_eq!(send(&s, get("/healthz")).await.status, StatusCode::OK);
    let ready = send(&s, get("/readyz")).await;
    assert_eq!(
        (ready.status, ready.json["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
}

#[tokio::test]
async fn store_clients_appear_after_refresh() {
    use crate::oauth::client::{ClientRegistration, TokenEndpointAuthMethod};
    let s = service().await;
    let reg = ClientRegistration {
        client_id: "late".into(),
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        client_secret_hash: Some(SecretHash::of(&ClientSecret::new("pw2".into())).to_stored()),
        scopes: vec!["x".into()],
        audience: vec!["https://api.test".into()],
        token_lifetime_secs: Some(60),
        ..Default::default()
    };
    s.store().insert_client(&reg, 0).await.unwrap();
    assert_eq!(
        send(
            &s,
            post("grant_type=client_credentials", Some(("late", "pw2")))
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
    assert!(s.refresh().await.unwrap());
    let r = send(
        &s,
        post("grant_type=client_credentials", Some(("late", "pw2"))),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["expires_in"], 60);
    s.store().delete_client("late").await.unwrap();
    assert!(s.refresh().await.unwrap());
    assert_eq!(
        send(
            &s,
            post("grant_type=client_credentials", Some(("late", "pw2")))
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
}
