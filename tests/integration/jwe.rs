//! Encrypted tokens (`encryption_key`): access and ID tokens as JWE around the signed
//! token, opened and verified by jwcrypto with the client's private key and `/jwks`;
//! introspection, userinfo and revocation still work, though ahdapa cannot decrypt them.

use crate::harness::{Server, curl, generate_secret, python_script};
use crate::kdc::realm;
use crate::signin::{REDIRECT, introspect_as, sign_in_and_redeem};

/// jwcrypto: `keys` makes an RSA and an EC key pair; `open TOKEN PRIVATE JWKS` decrypts a
/// JWE and verifies the JWS inside with the issuer's JWKS; `seal PUBLIC PAYLOAD` makes a
/// JWE ahdapa never issued.
const PY: &str = r#"
import json, sys
from jwcrypto import jwk, jwe, jws
mode = sys.argv[1]
if mode == "keys":
    rsa = jwk.JWK.generate(kty="RSA", size=2048, kid="enc-rsa-1")
    ec = jwk.JWK.generate(kty="EC", crv="P-256")
    print(json.dumps({
        "rsa_private": rsa.export_private(as_dict=True),
        "rsa_public": rsa.export_public(as_dict=True),
        "ec_private": ec.export_private(as_dict=True),
        "ec_public": ec.export_public(as_dict=True),
        "ec_public_pem": ec.export_to_pem().decode(),
    }))
elif mode == "open":
    token, private, jwks = sys.argv[2], json.loads(sys.argv[3]), jwk.JWKSet.from_json(sys.argv[4])
    outer = jwe.JWE()
    outer.deserialize(token, key=jwk.JWK(**private))
    inner = jws.JWS()
    inner.deserialize(outer.payload.decode())
    inner.verify(jwks.get_key(inner.jose_header["kid"]))
    print(json.dumps({"header": outer.jose_header, "inner_header": inner.jose_header,
                      "claims": json.loads(inner.payload), "signed": outer.payload.decode()}))
elif mode == "seal":
    key, payload = jwk.JWK(**json.loads(sys.argv[2])), sys.argv[3]
    token = jwe.JWE(payload.encode(), json.dumps({"alg": "RSA-OAEP-256", "enc": "A256CBC-HS512", "cty": "JWT"}))
    token.add_recipient(key)
    print(token.serialize(compact=True))
"#;

fn jwcrypto(args: &[&str]) -> serde_json::Value {
    let text = python_script(PY, args)
        .unwrap_or_else(|e| panic!("jwcrypto failed (is python3-jwcrypto installed?): {e}"));
    serde_json::from_str(&text).unwrap_or_else(|_| text.into())
}

/// A flat JSON object of strings as a TOML inline table.
fn toml_table(v: &serde_json::Value) -> String {
    let fields: Vec<String> = v
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    format!("{{ {} }}", fields.join(", "))
}

#[test]
fn encrypted_tokens_open_with_the_clients_key_and_still_introspect() {
    let r = realm();
    let alice = r.person("jw1alice", "jw1-password");
    let keys = jwcrypto(&["keys"]);
    let (secret, hash_line) = generate_secret();
    let (ec_secret, ec_hash) = generate_secret();
    let (ec2_secret, ec2_hash) = generate_secret();
    let (rs_secret, rs) =
        crate::harness::secret_client("jw1-rs", "introspection_all_tokens = true\n");
    let s = Server::start_kerberos(&format!(
        "[[clients]]\nclient_id = \"jw1-app\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\n\
         {hash_line}\nencryption_key = {}\n\
         grant_types = [\"authorization_code\", \"client_credentials\"]\n\
         redirect_uris = [\"{REDIRECT}\"]\nscopes = [\"openid\", \"profile\", \"s\"]\n\
         [[clients]]\nclient_id = \"jw1-ec\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\n\
         {ec_hash}\nencryption_key = '''\n{}'''\nencryption_enc = \"A256GCM\"\nscopes = [\"s\"]\n\
         [[clients]]\nclient_id = \"jw1-ec2\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\n\
         {ec2_hash}\nencryption_key = {}\nscopes = [\"s\"]\n{rs}",
        toml_table(&keys["rsa_public"]),
        keys["ec_public_pem"].as_str().unwrap(),
        toml_table(&keys["ec_public"]),
    ));
    let jwks = curl(&s.base_url, &[], "/jwks").body;
    let open = |token: &str, private: &serde_json::Value| {
        jwcrypto(&["open", token, &private.to_string(), &jwks])
    };

    // Discovery names what ID tokens may be encrypted with.
    let meta = curl(&s.base_url, &[], "/.well-known/openid-configuration").json();
    assert_eq!(
        meta["id_token_encryption_alg_values_supported"],
        serde_json::json!(["RSA-OAEP-256", "ECDH-ES"])
    );
    assert_eq!(
        meta["id_token_encryption_enc_values_supported"],
        serde_json::json!(["A256CBC-HS512", "A256GCM"])
    );

    // A person signs in; both tokens come encrypted to the client's RSA key.
    let dir = tempfile::tempdir().unwrap();
    let tokens = sign_in_and_redeem(&s, dir.path(), "jw1", ("jw1alice", "jw1-password"), &secret);
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(access.split('.').count(), 5, "a compact JWE: {access}");
    let at = open(&access, &keys["rsa_private"]);
    assert_eq!(
        at["header"],
        serde_json::json!({"alg": "RSA-OAEP-256", "enc": "A256CBC-HS512", "cty": "JWT", "kid": "enc-rsa-1"})
    );
    assert_eq!(at["inner_header"]["typ"], "at+jwt");
    assert_eq!(at["claims"]["sub"], alice.as_str());
    assert_eq!(at["claims"]["client_id"], "jw1-app");
    let id = open(id_token, &keys["rsa_private"]);
    assert_eq!(id["inner_header"]["typ"], "JWT");
    assert_eq!(id["claims"]["aud"], "jw1-app");
    assert_eq!(id["claims"]["nonce"], "n-jw1");
    // at_hash is of the access token the client received: the JWE.
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access.as_bytes());
    assert_eq!(
        id["claims"]["at_hash"],
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            &digest.as_ref()[..16]
        )
    );
    // Someone without the key sees nothing of the claims.
    assert!(!access.contains(&alice));

    // Introspection: ahdapa cannot decrypt, yet knows what it issued.
    let seen = introspect_as(&s, "jw1-rs", &rs_secret, &access);
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["sub"], alice.as_str());
    assert_eq!(seen["client_id"], "jw1-app");
    // A JWE made by someone else for the same key is not one of ours.
    let signed = at["signed"].as_str().unwrap();
    let foreign = jwcrypto(&["seal", &keys["rsa_public"].to_string(), signed]);
    let foreign = foreign.as_str().unwrap();
    assert_eq!(foreign.split('.').count(), 5);
    assert_eq!(
        introspect_as(&s, "jw1-rs", &rs_secret, foreign)["active"],
        false
    );
    // Userinfo takes the encrypted access token.
    let info = curl(
        &s.base_url,
        &["-H", &format!("Authorization: Bearer {access}")],
        "/userinfo",
    );
    assert_eq!(info.status, 200, "{}", info.body);
    assert_eq!(info.json()["sub"], alice.as_str());
    // Revoked by its client: inactive from then on, and refused at userinfo.
    let revoked = curl(
        &s.base_url,
        &[
            "-u",
            &format!("jw1-app:{secret}"),
            "--data-urlencode",
            &format!("token={access}"),
        ],
        "/revoke",
    );
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(
        introspect_as(&s, "jw1-rs", &rs_secret, &access)["active"],
        false
    );

    // ECDH-ES to a P-256 key, given as PEM with A256GCM and as a JWK with the default
    // A256CBC-HS512 (a 512-bit key from two rounds of the Concat KDF).
    for (client, client_secret, enc) in [
        ("jw1-ec", &ec_secret, "A256GCM"),
        ("jw1-ec2", &ec2_secret, "A256CBC-HS512"),
    ] {
        let cc = curl(
            &s.base_url,
            &[
                "-u",
                &format!("{client}:{client_secret}"),
                "-d",
                "grant_type=client_credentials",
            ],
            "/token",
        );
        assert_eq!(cc.status, 200, "{}", cc.body);
        let ec_token = cc.json()["access_token"].as_str().unwrap().to_owned();
        let opened = open(&ec_token, &keys["ec_private"]);
        assert_eq!(opened["header"]["alg"], "ECDH-ES");
        assert_eq!(opened["header"]["enc"], enc);
        assert_eq!(opened["header"]["epk"]["crv"], "P-256");
        assert_eq!(opened["claims"]["sub"], client);
        assert_eq!(
            introspect_as(&s, "jw1-rs", &rs_secret, &ec_token)["active"],
            true
        );
    }
}

#[test]
fn bad_encryption_keys_are_named_at_start_up() {
    let keys = jwcrypto(&["keys"]);
    let (_, hash_line) = generate_secret();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ahdapa.toml");
    std::fs::write(
        &config,
        format!(
            "issuer = \"https://idp.example.com\"\n\
             [[clients]]\nclient_id = \"a\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\n\
             {hash_line}\nencryption_key = {}\nscopes = [\"s\"]\n\
             [[clients]]\nclient_id = \"b\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\n\
             {hash_line}\nencryption_key = {}\nencryption_alg = \"RSA1_5\"\nscopes = [\"s\"]\n\
             [[clients]]\nclient_id = \"c\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\n\
             {hash_line}\nencryption_enc = \"A256GCM\"\nscopes = [\"s\"]\n",
            toml_table(&keys["rsa_private"]),
            toml_table(&keys["rsa_public"]),
        ),
    )
    .unwrap();
    let (ok, err) = crate::harness::check_config(&config);
    assert!(!ok);
    assert!(
        err.contains("clients[0].encryption_key") && err.contains("private key"),
        "{err}"
    );
    assert!(
        err.contains("clients[1].encryption_key") && err.contains("RSA1_5"),
        "{err}"
    );
    assert!(err.contains("clients[2].encryption_key"), "{err}");
}
