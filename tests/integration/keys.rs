//! Signing-key rotation with `ahdapa keys`: publish before use, switch without a failed
//! verification, keep retired keys until their tokens have expired.

use std::time::{Duration, Instant};

use crate::harness::{Server, curl, header};

fn kid_of_new_token(s: &Server, secret: &str) -> (String, String) {
    let r = curl(
        &s.base_url,
        &[
            "-u",
            &format!("rot:{secret}"),
            "-d",
            "grant_type=client_credentials",
        ],
        "/token",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let t = r.json()["access_token"].as_str().unwrap().to_owned();
    (header(&t)["kid"].as_str().unwrap().to_owned(), t)
}

fn jwks_kids(s: &Server) -> Vec<String> {
    let r = curl(&s.base_url, &[], "/jwks");
    assert!(
        r.headers
            .to_ascii_lowercase()
            .contains("cache-control: public, max-age=300"),
        "{}",
        r.headers
    );
    r.json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "not within 10 s: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn rotation_publishes_first_switches_cleanly_and_keeps_old_keys() {
    let s = Server::start_tls("");
    let secret = s.add_client("rot", &["--scope", "s"]);
    s.wait_for_client("rot", &secret);
    let (k1, t1) = kid_of_new_token(&s, &secret);
    assert_eq!(jwks_kids(&s), vec![k1.clone()]);

    // Scheduled rotation: the new key is published at once but does not sign yet.
    let out = s.cli(&["keys", "rotate", "--local"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually("the pending key is published", || jwks_kids(&s).len() == 2);
    let k2 = jwks_kids(&s).into_iter().find(|k| *k != k1).unwrap();
    assert_eq!(
        kid_of_new_token(&s, &secret).0,
        k1,
        "a pending key must not sign"
    );
    let list = String::from_utf8(s.cli(&["keys", "list", "--local"]).stdout).unwrap();
    assert!(
        list.lines()
            .any(|l| l.starts_with(&k1) && l.contains("active")),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.starts_with(&k2) && l.contains("pending")),
        "{list}"
    );

    // Immediate rotation: new tokens switch to the new key; the old token still verifies.
    let out = s.cli(&["keys", "rotate", "--local", "--now"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually("a new key signs", || kid_of_new_token(&s, &secret).0 != k1);
    let (k3, _) = kid_of_new_token(&s, &secret);
    assert_ne!(k3, k2);
    let kids = jwks_kids(&s);
    assert!(
        kids.contains(&k1) && kids.contains(&k3),
        "the old key stays published: {kids:?}"
    );
    let i = curl(
        &s.base_url,
        &["-u", &format!("rot:{secret}"), "-d", &format!("token={t1}")],
        "/introspect",
    )
    .json();
    assert_eq!(
        i["active"], true,
        "a token signed before the rotation still verifies"
    );
    crate::interop::pyjwt_verify(&t1, &s.base_url);

    // The only signing key cannot be retired without a successor.
    let out = s.cli(&["keys", "retire", "--local", &k3]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("rotate --local --now"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `keys import`: a key made elsewhere (openssl) keeps its kid, is sealed and published
/// like a rotation; a migrated IdP's RSA key can be published without signing.
#[test]
fn imported_keys_keep_their_kid_and_are_published_before_use() {
    let mut s = Server::start_tls("");
    let secret = s.add_client("rot", &["--scope", "s"]);
    s.wait_for_client("rot", &secret);
    let dir = tempfile::tempdir().unwrap();
    let openssl = |args: &[&str]| crate::harness::openssl(dir.path(), args);
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "ec.pem",
    ]);
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "rsa.pem",
    ]);
    openssl(&["ec", "-in", "ec.pem", "-out", "sec1.pem"]);
    let pem = |f: &str| dir.path().join(f).display().to_string();
    // `keys import --local --pem FILE` and more.
    let import = |file: &str, more: &[&str]| {
        let file = pem(file);
        let mut args = vec!["keys", "import", "--local", "--pem", file.as_str()];
        args.extend_from_slice(more);
        s.cli(&args)
    };

    // A SEC1 key is refused with the conversion to use.
    let out = import("sec1.pem", &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("openssl pkcs8 -topk8"));
    // Without --local it is refused: a private key does not travel over the admin API.
    let out = s.cli(&[
        "--server",
        &s.base_url,
        "keys",
        "import",
        "--pem",
        &pem("ec.pem"),
    ]);
    assert_eq!(out.status.code(), Some(2));

    // The migrated IdP's key: published, never signing.
    let out = import("rsa.pem", &["--kid", "old-idp-2019", "--publish-only"]);
    crate::harness::succeeded(&out);
    eventually("the migrated key is published", || {
        jwks_kids(&s).contains(&"old-idp-2019".to_owned())
    });
    assert_ne!(kid_of_new_token(&s, &secret).0, "old-idp-2019");

    // An offline-generated key with its own kid, signing at once.
    let out = import("ec.pem", &["--kid", "offline-1", "--now"]);
    crate::harness::succeeded(&out);
    eventually("the imported key signs", || {
        kid_of_new_token(&s, &secret).0 == "offline-1"
    });
    // Twice the same kid is refused.
    let out = import("ec.pem", &["--kid", "offline-1"]);
    assert!(!out.status.success());
    // The token verifies with the published key (PyJWT against /jwks), and after a
    // restart the imported key still loads under its kid.
    let (_, token) = kid_of_new_token(&s, &secret);
    let check = |s: &Server, token: &str| {
        let jwks = curl(&s.base_url, &[], "/jwks").body;
        let out = std::process::Command::new(crate::harness::python())
            .args(["-c", "import jwt,json,sys; ks=jwt.PyJWKSet.from_json(sys.argv[1]); t=sys.argv[2]; \
                k=[k for k in ks.keys if k.key_id==jwt.get_unverified_header(t)['kid']][0]; \
                print(jwt.decode(t, k.key, algorithms=['ES256'], options={'verify_aud': False})['sub'])", &jwks, token])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "rot");
    };
    check(&s, &token);
    s.stop();
    s.spawn();
    assert_eq!(kid_of_new_token(&s, &secret).0, "offline-1");
    assert!(jwks_kids(&s).contains(&"old-idp-2019".to_owned()));
}
