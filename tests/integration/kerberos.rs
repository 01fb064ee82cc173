//! `kerberos_client_auth` against a real MIT KDC, with curl --negotiate and python-gssapi
//! as initiators.

use crate::harness::{Options, Server, claims, curl, curl_with, header};
use crate::kdc::{Host, REALM, realm};

const CC: &str = "grant_type=client_credentials";

fn clients(prefix: &str) -> String {
    format!(
        "[[clients]]\nclient_id = \"{prefix}-fleet\"\ntoken_endpoint_auth_method = \"kerberos_client_auth\"\n\
         kerberos_principal_pattern = \"host/*.{prefix}.test.realm@{REALM}\"\nscopes = [\"directory.read\"]\n\
         [[clients]]\nclient_id = \"{prefix}-exact\"\ntoken_endpoint_auth_method = \"kerberos_client_auth\"\n\
         kerberos_principal = \"host/exact.{prefix}.test.realm@{REALM}\"\nscopes = [\"directory.read\", \"admin\"]\n"
    )
}

/// curl --negotiate from `host`'s credential cache, posting `body`.
fn negotiate(s: &Server, host: &Host, body: &str) -> crate::harness::Reply {
    curl_with(
        host.command("curl"),
        &s.base_url,
        &["--negotiate", "-u", ":", "-d", body],
        "/token",
    )
}

fn with_header(s: &Server, token: &str, body: &str) -> crate::harness::Reply {
    curl(
        &s.base_url,
        &[
            "-H",
            &format!("Authorization: Negotiate {token}"),
            "-d",
            body,
        ],
        "/token",
    )
}

#[test]
fn curl_negotiate_gets_tokens_for_template_and_exact_clients() {
    let r = realm();
    let kt = r.add_hosts(&[
        "n1.kt1.test.realm",
        "n2.kt1.test.realm",
        "exact.kt1.test.realm",
    ]);
    let s = Server::start_kerberos(&clients("kt1"));
    let (n1, n2, exact) = (
        Host::new("n1.kt1.test.realm", &kt[0]),
        Host::new("n2.kt1.test.realm", &kt[1]),
        Host::new("exact.kt1.test.realm", &kt[2]),
    );
    for h in [&n1, &n2, &exact] {
        h.kinit(None);
    }

    // Template client: two hosts, two subjects, each naming its host.
    let mut subjects = Vec::new();
    for h in [&n1, &n2] {
        let reply = negotiate(&s, h, &format!("{CC}&client_id=kt1-fleet"));
        assert_eq!(
            reply.status,
            200,
            "{} {}\n{}",
            reply.body,
            reply.stderr,
            s.log_text()
        );
        let lower = reply.headers.to_ascii_lowercase();
        assert!(
            lower.contains("www-authenticate: negotiate "),
            "mutual auth token missing: {}",
            reply.headers
        );
        let jwt = reply.json()["access_token"].as_str().unwrap().to_owned();
        let c = claims(&jwt);
        assert_eq!(c["sub"], h.principal);
        assert_eq!(c["client_id"], "kt1-fleet");
        assert_eq!(c["krb5_principal"], h.principal);
        assert_eq!(
            c["host"],
            h.principal
                .trim_start_matches("host/")
                .trim_end_matches(&format!("@{REALM}"))
        );
        assert_eq!(header(&jwt)["typ"], "at+jwt");
        let verified = crate::interop::pyjwt_verify(&jwt, &s.base_url);
        assert_eq!(
            verified["claims"]["sub"], h.principal,
            "PyJWT verifies the token"
        );
        subjects.push(c["sub"].as_str().unwrap().to_owned());
    }
    assert_ne!(subjects[0], subjects[1]);
    let metadata = curl(&s.base_url, &[], "/.well-known/oauth-authorization-server").json();
    assert!(
        metadata["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&"kerberos_client_auth".into()),
        "{metadata}"
    );

    // Exact client: sub is the client_id.
    let reply = negotiate(&s, &exact, &format!("{CC}&client_id=kt1-exact&scope=admin"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let c = claims(reply.json()["access_token"].as_str().unwrap());
    assert_eq!(
        (c["sub"].as_str(), c["scope"].as_str()),
        (Some("kt1-exact"), Some("admin"))
    );

    // A host that is not the exact client's principal.
    let reply = negotiate(&s, &n1, &format!("{CC}&client_id=kt1-exact"));
    assert_eq!(
        (reply.status, reply.json()["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(
        s.log_text()
            .contains("is not the client's kerberos_principal"),
        "{}",
        s.log_text()
    );
}

#[test]
fn keytab_without_kinit_via_krb5_client_ktname() {
    let r = realm();
    let kt = r.add_hosts(&["n1.kt2.test.realm"]);
    let s = Server::start_kerberos(&clients("kt2"));
    let host = Host::new("n1.kt2.test.realm", &kt[0]);
    // As the README shows: no kinit, no credential cache file.
    let mut cmd = host.command("curl");
    cmd.env("KRB5_CLIENT_KTNAME", &host.keytab)
        .env("KRB5CCNAME", "MEMORY:");
    let reply = curl_with(
        cmd,
        &s.base_url,
        &[
            "--negotiate",
            "-u",
            ":",
            "-d",
            &format!("{CC}&client_id=kt2-fleet"),
        ],
        "/token",
    );
    assert_eq!(
        reply.status,
        200,
        "{} {}\n{}",
        reply.body,
        reply.stderr,
        s.log_text()
    );
    assert_eq!(
        claims(reply.json()["access_token"].as_str().unwrap())["sub"],
        host.principal
    );
}

#[test]
fn refusals_are_401_with_negotiate_challenge_and_a_logged_reason() {
    let r = realm();
    let kt = r.add_hosts(&["n1.kt3.test.realm", "n1.kt3.other.realm"]);
    // The `[ipa] gssapi = true` spelling turns Negotiate on too.
    let mut opts = Options::kerberos(&format!(
        "{}[[clients]]\nclient_id = \"kt3-secret\"\ntoken_endpoint_auth_method = \"client_secret_post\"\n\
         client_secret_hash = \"sha256:47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU\"\nscopes = [\"s\"]\n",
        clients("kt3")
    ));
    opts.extra = opts.extra.replace(
        "[kerberos]\nenabled = true\n",
        "[ipa]\ngssapi = true\n[kerberos]\n",
    );
    let s = Server::start(opts);
    let inside = Host::new("n1.kt3.test.realm", &kt[0]);
    let outside = Host::new("n1.kt3.other.realm", &kt[1]);
    inside.kinit(None);
    outside.kinit(None);
    let body = format!("{CC}&client_id=kt3-fleet");

    // No ticket at all: 401 advertising both Negotiate and Basic.
    let reply = curl(&s.base_url, &["-d", &body], "/token");
    assert_eq!(reply.status, 401);
    let lower = reply.headers.to_ascii_lowercase();
    assert!(
        lower.contains("www-authenticate: negotiate\r\n"),
        "{}",
        reply.headers
    );
    assert!(
        lower.contains("www-authenticate: basic realm="),
        "{}",
        reply.headers
    );

    // A host outside the template's pattern.
    let reply = negotiate(&s, &outside, &body);
    assert_eq!(
        (reply.status, reply.json()["error"].as_str()),
        (401, Some("invalid_client"))
    );

    // An unregistered client_id.
    let reply = negotiate(&s, &inside, &format!("{CC}&client_id=nobody"));
    assert_eq!(reply.status, 401);

    // The same Authorization header twice: the second is a replay.
    let token = inside.negotiate_token("HTTP@localhost");
    assert_eq!(with_header(&s, &token, &body).status, 200);
    let replay = with_header(&s, &token, &body);
    assert_eq!(
        (replay.status, replay.json()["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(
        replay
            .headers
            .to_ascii_lowercase()
            .contains("www-authenticate: negotiate"),
        "{}",
        replay.headers
    );

    // A raw krb5 GSS token (no SPNEGO) is accepted as well.
    let raw = inside.token_with_mech("HTTP@localhost", "1.2.840.113554.1.2.2");
    let reply = with_header(&s, &raw, &body);
    assert_eq!(reply.status, 200, "{}", reply.body);

    // A Kerberos client cannot use a secret, a secret client cannot use Negotiate.
    let reply = curl(
        &s.base_url,
        &["-u", "kt3-fleet:whatever", "-d", CC],
        "/token",
    );
    assert_eq!(reply.status, 401);
    let reply = negotiate(&s, &inside, &format!("{CC}&client_id=kt3-secret"));
    assert_eq!(reply.status, 401);

    // Garbage: bad base64, random bytes, NTLM (raw and inside SPNEGO), an empty token.
    let ntlm = "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAF1YAAAADw==";
    let spnego_ntlm = "YCgGBisGAQUFAqAeMBygDjAMBgorBgEEAYI3AgIKogoECE5UTE1TU1AA";
    for bad in ["!!!notbase64", "Z2FyYmFnZQ==", ntlm, spnego_ntlm, ""] {
        let reply = with_header(&s, bad, &body);
        assert_eq!(reply.status, 401, "{bad}: {}", reply.body);
        assert_eq!(reply.json()["error"], "invalid_client");
    }

    assert_eq!(curl(&s.base_url, &[], "/healthz").status, 200);
    let log = s.log_text();
    for reason in [
        "kerberos client presented no Negotiate token",
        "does not match the client's pattern",
        "unknown client_id",
        "Request is a replay",
        "client is registered for kerberos_client_auth, request used client_secret_basic",
        "client is registered for client_secret_post, request used kerberos_client_auth",
        "Negotiate token is not base64",
        "not a Kerberos or SPNEGO token",
        "NTLM token",
    ] {
        assert!(log.contains(reason), "log lacks {reason:?}:\n{log}");
    }
    assert!(!log.contains("panicked"), "{log}");
    if std::env::var_os("SHOW_LOG").is_some() {
        eprintln!("{log}");
    }
}

#[test]
fn ticket_for_another_service_principal_is_refused() {
    let r = realm();
    let kt = r.add_hosts(&["n1.kt4.test.realm"]);
    r.add_service(&format!("HTTP/pinned-other.test.realm@{REALM}"));
    let s = Server::start_kerberos(&clients("kt4"));
    let host = Host::new("n1.kt4.test.realm", &kt[0]);
    host.kinit(None);
    let token = host.negotiate_token("HTTP@pinned-other.test.realm");
    let reply = with_header(&s, &token, &format!("{CC}&client_id=kt4-fleet"));
    assert_eq!(
        (reply.status, reply.json()["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(
        s.log_text().contains("GSSAPI refused the token"),
        "{}",
        s.log_text()
    );
}

#[test]
fn expired_ticket_is_refused() {
    let r = realm();
    let kt = r.add_hosts(&["n1.kt5.test.realm"]);
    let s = Server::start_kerberos(&clients("kt5"));
    let host = Host::new("n1.kt5.test.realm", &kt[0]);
    host.kinit(Some("3s"));
    let token = host.negotiate_token("HTTP@localhost");
    // Past the ticket's end plus the acceptor's clock skew.
    std::thread::sleep(std::time::Duration::from_secs(
        3 + crate::kdc::CLOCK_SKEW_SECS + 2,
    ));
    let reply = with_header(&s, &token, &format!("{CC}&client_id=kt5-fleet"));
    assert_eq!(
        (reply.status, reply.json()["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let log = s.log_text();
    assert!(log.contains("GSSAPI refused the token"), "{log}");
    if std::env::var_os("SHOW_LOG").is_some() {
        eprintln!("{log}");
    }
}

#[test]
fn replay_is_refused_by_another_node_sharing_the_store() {
    let r = realm();
    let kt = r.add_hosts(&["n1.kt6.test.realm"]);
    let shared = tempfile::tempdir().unwrap();
    let node = || {
        let mut o = Options::kerberos(&clients("kt6"));
        o.state_dir = Some(shared.path().to_owned());
        Server::start(o)
    };
    let (a, b) = (node(), node());
    let host = Host::new("n1.kt6.test.realm", &kt[0]);
    host.kinit(None);
    let token = host.negotiate_token("HTTP@localhost");
    let body = format!("{CC}&client_id=kt6-fleet");
    assert_eq!(with_header(&a, &token, &body).status, 200);
    // Node B has its own krb5 replay cache, which has not seen the token: the shared
    // store record is what refuses it.
    let replay = with_header(&b, &token, &body);
    assert_eq!(replay.status, 401, "{}", replay.body);
    assert!(
        b.log_text()
            .contains("already accepted by this or another node"),
        "{}",
        b.log_text()
    );
}

#[test]
fn start_fails_clearly_without_a_usable_keytab() {
    let r = realm();
    // The keytab exists but lacks the configured service principal.
    let opts = Options::kerberos("");
    let extra = opts.extra.replace(
        "HTTP/localhost@TEST.REALM",
        "HTTP/not-in-keytab.test.realm@TEST.REALM",
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ahdapa.toml");
    let base = format!(
        "issuer = \"http://127.0.0.1:1\"\n[server]\ninsecure_http = true\n[store]\nsqlite_path = \"{d}/db\"\n\
         [keys]\nmaster_key_file = \"{d}/mk\"\n",
        d = dir.path().display()
    );
    std::fs::write(
        &config,
        format!(
            "{base}{}",
            extra.replace("@STATE@", &dir.path().display().to_string())
        ),
    )
    .unwrap();
    let out = r
        .command(crate::harness::BIN)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("kerberos.keytab / kerberos.service_principal"),
        "{err}"
    );
    assert!(
        err.contains("HTTP/not-in-keytab.test.realm@TEST.REALM"),
        "{err}"
    );
    if std::env::var_os("SHOW_LOG").is_some() {
        eprintln!("{err}");
    }

    // A missing keytab is named by check-config.
    let missing = format!(
        "{base}[kerberos]\nenabled = true\nkeytab = \"{}/nope.keytab\"\n",
        dir.path().display()
    );
    std::fs::write(&config, missing).unwrap();
    let out = r
        .command(crate::harness::BIN)
        .arg("--config")
        .arg(&config)
        .arg("check-config")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("kerberos.keytab: cannot read"), "{err}");
}
