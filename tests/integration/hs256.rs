//! `token_signing = "HS256"` (authentik's behaviour when a provider has no signing key):
//! the client's access and ID tokens are HMACs of its client secret, checked by PyJWT
//! with that secret; ahdapa accepts them back only from that client.

use crate::harness::{Server, claims, curl, generate_secret, header, python_script};
use crate::kdc::realm;
use crate::signin::{REDIRECT, enc, introspect_as, sign_in_and_redeem};

/// PyJWT: verifies `token` as HS256 with `secret` (signature, `iss`, `exp`, and `aud`
/// when given), or with `--forge CLAIMS` signs CLAIMS with it; prints JSON.
const PY: &str = r#"
import json, sys, jwt
if sys.argv[1] == "--forge":
    print(jwt.encode(json.loads(sys.argv[3]), sys.argv[2], algorithm="HS256", headers={"typ": "at+jwt"}))
    sys.exit(0)
token, secret, issuer, audience = sys.argv[1:5]
options = {"require": ["iss", "sub", "aud", "exp", "iat"]}
claims = jwt.decode(token, secret, algorithms=["HS256"], issuer=issuer,
                    audience=audience or None, options=dict(options, verify_aud=bool(audience)))
print(json.dumps(claims))
"#;

fn verify(token: &str, secret: &str, issuer: &str, audience: &str) -> serde_json::Value {
    let out = python_script(PY, &[token, secret, issuer, audience])
        .unwrap_or_else(|e| panic!("PyJWT refused the HS256 token: {e}"));
    serde_json::from_str(&out).unwrap()
}

#[test]
fn hs256_tokens_verify_with_the_client_secret_and_come_back_only_from_it() {
    let r = realm();
    let alice = r.person("hs1alice", "hs1-password");
    let dir = tempfile::tempdir().unwrap();
    let (secret, _) = generate_secret();
    let secret_file = dir.path().join("hs1-app.secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let (rs_secret, rs) =
        crate::harness::secret_client("hs1-rs", "introspection_all_tokens = true\n");
    let s = Server::start_kerberos(&format!(
        "[[clients]]\nclient_id = \"hs1-app\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\n\
         client_secret_file = \"{}\"\ntoken_signing = \"HS256\"\n\
         grant_types = [\"authorization_code\", \"client_credentials\"]\n\
         redirect_uris = [\"{REDIRECT}\"]\nscopes = [\"openid\", \"profile\", \"s\"]\n{rs}",
        secret_file.display()
    ));
    let issuer = s.base_url.clone();

    // A person signs in; the code is redeemed with the client's secret.
    let tokens = sign_in_and_redeem(&s, dir.path(), "hs1", ("hs1alice", "hs1-password"), &secret);
    let access = tokens["access_token"].as_str().unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    for (token, typ) in [(access, "at+jwt"), (id_token, "JWT")] {
        let h = header(token);
        assert_eq!(h["alg"], "HS256", "{h}");
        assert_eq!(h["typ"], typ, "{h}");
        assert!(
            h.get("kid").is_none(),
            "an HS256 token names no server key: {h}"
        );
    }
    // PyJWT with the client secret: the ID token for the client, the access token too.
    let id = verify(id_token, &secret, &issuer, "hs1-app");
    assert_eq!(id["sub"], alice.as_str());
    assert_eq!(id["nonce"], "n-hs1");
    let at = verify(access, &secret, &issuer, "");
    assert_eq!(at["client_id"], "hs1-app");
    assert_eq!(at["sub"], alice.as_str());
    // With another secret the signature does not verify.
    let (other, _) = generate_secret();
    assert!(python_script(PY, &[access, &other, &issuer, ""]).is_err());
    // client_credentials tokens are HS256 too.
    let cc = curl(
        &s.base_url,
        &[
            "-u",
            &format!("hs1-app:{secret}"),
            "-d",
            "grant_type=client_credentials&scope=s",
        ],
        "/token",
    );
    assert_eq!(cc.status, 200, "{}", cc.body);
    let cc_token = cc.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(verify(&cc_token, &secret, &issuer, "")["sub"], "hs1-app");

    // Introspection: active to the client itself, inactive to a resource server that may
    // introspect every token (it cannot tell the client's own HS256 work from ours).
    let own = introspect_as(&s, "hs1-app", &secret, access);
    assert_eq!(own["active"], true, "{own}");
    assert_eq!(own["sub"], alice.as_str());
    let rs_view = introspect_as(&s, "hs1-rs", &rs_secret, access);
    assert_eq!(rs_view["active"], false, "{rs_view}");
    // A token the client signed itself, naming another client, is never active.
    let now = claims(access)["iat"].as_u64().unwrap();
    let forged = python_script(PY, &[
        "--forge",
        &secret,
        &serde_json::json!({"iss": issuer, "sub": "admin", "aud": "hs1-rs", "client_id": "hs1-rs",
            "exp": now + 300, "iat": now, "jti": "forged-1", "scope": "s"})
        .to_string(),
    ])
    .unwrap();
    assert_eq!(
        introspect_as(&s, "hs1-app", &secret, &forged)["active"],
        false
    );
    assert_eq!(
        introspect_as(&s, "hs1-rs", &rs_secret, &forged)["active"],
        false
    );
    // Nor can a token it signed itself revoke another client's token by naming its jti,
    // or live longer than ahdapa's own tokens do.
    let rs_token = curl(
        &s.base_url,
        &[
            "-u",
            &format!("hs1-rs:{rs_secret}"),
            "-d",
            "grant_type=client_credentials",
        ],
        "/token",
    )
    .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let rs_jti = claims(&rs_token)["jti"].as_str().unwrap().to_owned();
    let forge = |jti: &str, exp: u64| {
        python_script(PY, &[
            "--forge",
            &secret,
            &serde_json::json!({"iss": issuer, "sub": "hs1-app", "aud": issuer, "client_id": "hs1-app",
                "exp": exp, "iat": now, "jti": jti, "scope": "s"})
            .to_string(),
        ])
        .unwrap()
    };
    let aimed = forge(&rs_jti, now + 300);
    assert_eq!(
        introspect_as(&s, "hs1-app", &secret, &aimed)["active"],
        true
    );
    let r = curl(
        &s.base_url,
        &[
            "-u",
            &format!("hs1-app:{secret}"),
            "--data-urlencode",
            &format!("token={aimed}"),
        ],
        "/revoke",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        introspect_as(&s, "hs1-app", &secret, &aimed)["active"],
        false
    );
    assert_eq!(
        introspect_as(&s, "hs1-rs", &rs_secret, &rs_token)["active"],
        true,
        "an HS256 client revoked another client's token"
    );
    let forever = forge("forever-1", now + 10 * 365 * 86_400);
    assert_eq!(
        introspect_as(&s, "hs1-app", &secret, &forever)["active"],
        false
    );
    // Userinfo does not take HS256 access tokens: the client could sign one for anybody.
    let userinfo = curl(
        &s.base_url,
        &["-H", &format!("Authorization: Bearer {access}")],
        "/userinfo",
    );
    assert_eq!(userinfo.status, 401, "{}", userinfo.body);
    // Revocation by the client works; then its own introspection says inactive.
    let revoked = curl(
        &s.base_url,
        &[
            "-u",
            &format!("hs1-app:{secret}"),
            "--data-urlencode",
            &format!("token={access}"),
        ],
        "/revoke",
    );
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(
        introspect_as(&s, "hs1-app", &secret, access)["active"],
        false
    );
    // The HS256 ID token is a good id_token_hint for signing out.
    let logout = curl(
        &s.base_url,
        &[],
        &format!("/logout?id_token_hint={}", enc(id_token)),
    );
    assert!(
        !logout.body.contains("did not issue"),
        "{} {}",
        logout.status,
        logout.body
    );
    assert!(!s.log_text().contains(&secret), "the secret was logged");
}

#[test]
fn hs256_needs_the_secret_itself_and_the_store_seals_it() {
    // The config file: a hash cannot sign, and check-config says what to do.
    let dir = tempfile::tempdir().unwrap();
    let (_, hash_line) = generate_secret();
    let config = dir.path().join("ahdapa.toml");
    std::fs::write(
        &config,
        format!(
            "issuer = \"https://idp.example.com\"\n\
             [[clients]]\nclient_id = \"hs2\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\n\
             {hash_line}\ntoken_signing = \"HS256\"\nscopes = [\"s\"]\n"
        ),
    )
    .unwrap();
    let (ok, err) = crate::harness::check_config(&config);
    assert!(!ok);
    assert!(err.contains("clients[0].token_signing"), "{err}");
    assert!(err.contains("client_secret_file"), "{err}");

    // The store: `client add --token-signing HS256` seals the secret it prints.
    let s = Server::start_tls("");
    let secret = s.add_client("hs2-store", &["--scope", "s", "--token-signing", "HS256"]);
    assert_eq!(secret.len(), 43);
    s.wait_for_client("hs2-store", &secret);
    let r = curl(
        &s.base_url,
        &[
            "-u",
            &format!("hs2-store:{secret}"),
            "-d",
            "grant_type=client_credentials",
        ],
        "/token",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(header(&token)["alg"], "HS256");
    assert_eq!(
        verify(&token, &secret, &s.base_url, "")["client_id"],
        "hs2-store"
    );
    let shown = s.cli(&["client", "list", "--local"]);
    let listed = String::from_utf8_lossy(&shown.stdout);
    assert!(!listed.contains(&secret), "{listed}");
}
