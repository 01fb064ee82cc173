//! People signing in (authorization code + PKCE): `/authorize` with the password form
//! checked by the real MIT KDC, Kerberos SSO with `curl --negotiate`, codes redeemed at
//! `/token` (once), ID tokens verified with PyJWT against `/jwks`.

use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::harness::{Reply, Server, claims, curl, curl_with, python};
use crate::kdc::{REALM, realm};

pub(crate) const REDIRECT: &str = "http://127.0.0.1/cb";
const VERIFIER: &str = "a-verifier-of-at-least-forty-three-characters-0123456789";

fn challenge() -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, VERIFIER.as_bytes());
    URL_SAFE_NO_PAD.encode(d.as_ref())
}

/// A public sign-in client `<prefix>-app` (PKCE) and a resource server that may
/// introspect every token.
pub(crate) fn clients(prefix: &str) -> (String, String) {
    let (rs_secret, rs) =
        crate::harness::secret_client(&format!("{prefix}-rs"), "introspection_all_tokens = true\n");
    let app = format!(
        "[[clients]]\nclient_id = \"{prefix}-app\"\ntoken_endpoint_auth_method = \"none\"\n\
         grant_types = [\"authorization_code\"]\nredirect_uris = [\"{REDIRECT}\"]\n\
         scopes = [\"openid\", \"profile\"]\nclient_name = \"Test App {prefix}\"\n"
    );
    (rs_secret, format!("{app}{rs}"))
}

pub(crate) fn enc(s: &str) -> String {
    url_escape(s)
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(crate) fn authz_query(prefix: &str, extra: &str) -> String {
    format!(
        "response_type=code&client_id={prefix}-app&redirect_uri={}&scope=openid+profile\
         &state=st-{prefix}&nonce=n-{prefix}&code_challenge={}&code_challenge_method=S256{extra}",
        enc(REDIRECT),
        challenge()
    )
}

pub(crate) fn location(r: &Reply) -> String {
    r.headers
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("location")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no Location: {}\n{}", r.headers, r.body))
}

pub(crate) fn param(uri: &str, name: &str) -> Option<String> {
    let query = uri.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub(crate) fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field: {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Opens the sign-in page, then posts the password form; returns the reply to the post.
pub(crate) fn sign_in(
    s: &Server,
    jar: &std::path::Path,
    query: &str,
    user: &str,
    password: &str,
) -> Reply {
    let jar_s = jar.to_str().unwrap();
    let page = curl(
        &s.base_url,
        &["-b", jar_s, "-c", jar_s],
        &format!("/authorize?{query}"),
    );
    assert!(
        page.body.contains("name=\"password\""),
        "{} {}",
        page.status,
        page.body
    );
    let csrf = hidden(&page.body, "csrf");
    curl(
        &s.base_url,
        &[
            "-b",
            jar_s,
            "-c",
            jar_s,
            "--data-urlencode",
            &format!("authz={query}"),
            "--data-urlencode",
            &format!("csrf={csrf}"),
            "--data-urlencode",
            &format!("username={user}"),
            "--data-urlencode",
            &format!("password={password}"),
        ],
        "/authorize/password",
    )
}

/// A confidential client `<prefix>-app` (secret `secret`, redirect [`REDIRECT`]): `user`
/// signs in with `password`, and the code is redeemed with the secret. Returns the token
/// response.
pub(crate) fn sign_in_and_redeem(
    s: &Server,
    dir: &std::path::Path,
    prefix: &str,
    (user, password): (&str, &str),
    secret: &str,
) -> serde_json::Value {
    let query = authz_query(prefix, "");
    let posted = sign_in(s, &dir.join("jar"), &query, user, password);
    assert_eq!(posted.status, 303, "{}\n{}", posted.body, s.log_text());
    let code = param(&location(&posted), "code").unwrap();
    let redeemed = curl(
        &s.base_url,
        &[
            "-u",
            &format!("{prefix}-app:{secret}"),
            "-d",
            &format!(
                "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={VERIFIER}",
                enc(&code),
                enc(REDIRECT)
            ),
        ],
        "/token",
    );
    assert_eq!(redeemed.status, 200, "{}", redeemed.body);
    redeemed.json()
}

/// `/introspect` as `who` with `secret`: the RFC 7662 answer.
pub(crate) fn introspect_as(s: &Server, who: &str, secret: &str, token: &str) -> serde_json::Value {
    let r = curl(
        &s.base_url,
        &[
            "-u",
            &format!("{who}:{secret}"),
            "--data-urlencode",
            &format!("token={token}"),
        ],
        "/introspect",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

pub(crate) fn redeem(s: &Server, prefix: &str, code: &str) -> Reply {
    curl(
        &s.base_url,
        &[
            "-d",
            &format!(
                "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={VERIFIER}&client_id={prefix}-app",
                enc(code),
                enc(REDIRECT)
            ),
        ],
        "/token",
    )
}

/// Verifies an ID token with PyJWT against `/jwks` (signature, `iss`, `aud`, `exp`).
fn pyjwt_id_token(token: &str, issuer: &str, audience: &str) -> serde_json::Value {
    const PY: &str = r#"
import json, sys, jwt
token, issuer, audience = sys.argv[1:4]
key = jwt.PyJWKClient(issuer + "/jwks").get_signing_key_from_jwt(token)
claims = jwt.decode(token, key.key, algorithms=["ES256", "EdDSA", "RS256"], audience=audience,
                    issuer=issuer, options={"require": ["iss", "sub", "aud", "exp", "iat"]})
print(json.dumps(claims))
"#;
    let out = Command::new(python())
        .env("SSL_CERT_FILE", &crate::harness::pki().ca)
        .args(["-c", PY, token, issuer, audience])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "PyJWT refused the ID token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn password_sign_in_issues_a_code_redeemed_once_with_an_id_token() {
    let r = realm();
    let user = r.person("si1alice", "si1-password");
    let (rs_secret, clients) = clients("si1");
    let s = Server::start_kerberos(&clients);
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("jar");
    let query = authz_query("si1", "");

    // No session, Negotiate on: 401 with the challenge, the body being the form.
    let jar_s = jar.to_str().unwrap();
    let first = curl(&s.base_url, &["-c", jar_s], &format!("/authorize?{query}"));
    assert_eq!(first.status, 401, "{}", first.body);
    assert!(
        first
            .headers
            .to_ascii_lowercase()
            .contains("www-authenticate: negotiate")
    );
    assert!(
        first.body.contains("Sign in to Test App si1"),
        "{}",
        first.body
    );
    assert!(
        first
            .headers
            .to_ascii_lowercase()
            .contains("content-security-policy")
    );
    // A second unanswered challenge (a new Chromium leaves its first one unanswered),
    // then the form comes as a 200: no 401 loop.
    let second = curl(
        &s.base_url,
        &["-b", jar_s, "-c", jar_s],
        &format!("/authorize?{query}"),
    );
    assert_eq!(second.status, 401);
    let again = curl(
        &s.base_url,
        &["-b", jar_s, "-c", jar_s],
        &format!("/authorize?{query}"),
    );
    assert_eq!(again.status, 200);
    assert!(
        !again
            .headers
            .to_ascii_lowercase()
            .contains("www-authenticate")
    );

    let posted = sign_in(&s, &jar, &query, "si1alice", "si1-password");
    assert_eq!(posted.status, 303, "{}\n{}", posted.body, s.log_text());
    let to = location(&posted);
    assert!(to.starts_with(&format!("{REDIRECT}?")), "{to}");
    assert_eq!(param(&to, "state").as_deref(), Some("st-si1"));
    assert_eq!(
        param(&to, "iss").as_deref(),
        Some(s.base_url.as_str()),
        "RFC 9207 iss"
    );
    assert!(
        posted.headers.contains("__Host-ahdapa-session="),
        "{}",
        posted.headers
    );
    let code = param(&to, "code").unwrap();
    // The AS exchange was armoured with FAST from ahdapa's keytab.
    assert!(
        s.log_text().contains("password checked user=si1alice")
            && s.log_text().contains("fast=true"),
        "{}",
        s.log_text()
    );

    // A wrong verifier does not spend the code for its owner.
    let wrong = curl(
        &s.base_url,
        &[
            "-d",
            &format!(
                "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={}&client_id=si1-app",
                enc(&code),
                enc(REDIRECT),
                "b".repeat(50)
            ),
        ],
        "/token",
    );
    assert_eq!(wrong.json()["error"], "invalid_grant", "{}", wrong.body);

    let tokens = redeem(&s, "si1", &code);
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let t = tokens.json();
    let id_token = t["id_token"].as_str().unwrap();
    let id = pyjwt_id_token(id_token, &s.base_url, "si1-app");
    assert_eq!(id["sub"], user);
    assert_eq!(id["nonce"], "n-si1");
    assert_eq!(id["amr"], serde_json::json!(["pwd"]));
    assert_eq!(id["azp"], "si1-app");
    assert_eq!(id["preferred_username"], "si1alice");
    assert!(id["auth_time"].as_u64().unwrap() <= id["iat"].as_u64().unwrap());
    assert!(id["sid"].as_str().is_some_and(|s| !s.is_empty()));
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(
        id["at_hash"].as_str().unwrap(),
        {
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access.as_bytes());
            URL_SAFE_NO_PAD.encode(&d.as_ref()[..16])
        },
        "at_hash is the left half of SHA-256 (ES256)"
    );
    let at = claims(access);
    assert_eq!(at["sub"], user);
    assert_eq!(at["client_id"], "si1-app");
    assert_eq!(at["scope"], "openid profile");

    // The code again: refused, and the token of the first use is revoked.
    let second = redeem(&s, "si1", &code);
    assert_eq!(second.status, 400, "{}", second.body);
    assert_eq!(second.json()["error"], "invalid_grant");
    let intro = curl(
        &s.base_url,
        &[
            "-u",
            &format!("si1-rs:{rs_secret}"),
            "-d",
            &format!("token={access}"),
        ],
        "/introspect",
    );
    assert_eq!(intro.json()["active"], false, "{}", intro.body);

    // The session: prompt=none now answers with a code, no page.
    let silent = curl(
        &s.base_url,
        &["-b", jar_s],
        &format!("/authorize?{}", authz_query("si1", "&prompt=none")),
    );
    assert_eq!(silent.status, 303, "{}", silent.body);
    assert!(param(&location(&silent), "code").is_some());
    // prompt=login asks again even with the session.
    let login = curl(
        &s.base_url,
        &["-b", jar_s],
        &format!("/authorize?{}", authz_query("si1", "&prompt=login")),
    );
    assert!(login.body.contains("name=\"password\""), "{}", login.body);
}

#[test]
fn wrong_expired_and_locked_passwords_get_their_messages() {
    let r = realm();
    r.person("si2wrong", "right-password");
    r.person("si2expired", "old-password");
    r.person("si2locked", "locked-password");
    r.kadmin(&format!(
        "modprinc -pwexpire yesterday si2expired@{REALM}\nmodprinc -allow_tix si2locked@{REALM}\n"
    ));
    let (_, clients) = clients("si2");
    let s = Server::start_kerberos(&clients);
    let dir = tempfile::tempdir().unwrap();
    let query = authz_query("si2", "");
    for (user, password, message) in [
        (
            "si2wrong",
            "not-the-password",
            "The user name or password is not correct.",
        ),
        (
            "nosuchuser",
            "whatever",
            "The user name or password is not correct.",
        ),
        ("si2expired", "old-password", "Your password has expired."),
        (
            "si2locked",
            "locked-password",
            "Your account is locked or disabled.",
        ),
    ] {
        let jar = dir.path().join(user);
        let r = sign_in(&s, &jar, &query, user, password);
        assert_eq!(
            r.status,
            200,
            "{user}: {} {}\n{}",
            r.body,
            r.stderr,
            s.log_text()
        );
        assert!(r.body.contains(message), "{user}: {}", r.body);
        assert!(!r.headers.contains("ahdapa-session="), "{user}: no session");
    }
}

#[test]
fn guessing_one_users_password_is_throttled_before_the_kdc() {
    let r = realm();
    r.person("si3victim", "victim-password");
    // FreeIPA's default lockout: 6 failures. ahdapa stops at 5 per user, so guessing
    // through it never locks the real person out at the KDC.
    r.kadmin(&format!(
        "addpol -maxfailure 6 -failurecountinterval 0 -lockoutduration 0 si3lockout
         modprinc -policy si3lockout si3victim@{REALM}
"
    ));
    let (_, clients) = clients("si3");
    let s = Server::start_kerberos(&clients);
    let dir = tempfile::tempdir().unwrap();
    let query = authz_query("si3", "");
    for i in 0..5 {
        let jar = dir.path().join(format!("j{i}"));
        let r = sign_in(&s, &jar, &query, "si3victim", &format!("guess-{i}"));
        assert!(r.body.contains("not correct"), "{}", r.body);
    }
    // Later guesses are refused without asking the KDC; so is the right password, for now.
    for i in 5..10 {
        let jar = dir.path().join(format!("j{i}"));
        let r = sign_in(&s, &jar, &query, "si3victim", &format!("guess-{i}"));
        assert!(r.body.contains("Too many failed attempts"), "{}", r.body);
        // The page, answered 429 with when to come back.
        assert_eq!(r.status, 429);
        assert!(
            r.headers.to_ascii_lowercase().contains("retry-after: "),
            "{}",
            r.headers
        );
    }
    let jar = dir.path().join("j10");
    let r = sign_in(&s, &jar, &query, "si3victim", "victim-password");
    assert!(r.body.contains("Too many failed attempts"), "{}", r.body);
    // The policy does lock: six wrong kinits lock a control principal at the KDC.
    realm().person("si3control", "control-password");
    realm().kadmin(&format!("modprinc -policy si3lockout si3control@{REALM}\n"));
    let ccc = dir.path().join("ccc");
    for _ in 0..6 {
        assert!(!r_kinit(&ccc, "si3control", "wrong").status.success());
    }
    assert!(
        !r_kinit(&ccc, "si3control", "control-password")
            .status
            .success(),
        "the KDC's lockout policy is in force"
    );
    // The KDC never saw the victim locked: kinit with the right password works.
    let cc = dir.path().join("cc");
    let out = r_kinit(&cc, "si3victim", "victim-password");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn r_kinit(cc: &std::path::Path, user: &str, password: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = realm()
        .command("kinit")
        .env("KRB5CCNAME", format!("FILE:{}", cc.display()))
        .arg(format!("{user}@{REALM}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_kerberos_ticket_signs_in_without_the_form() {
    let r = realm();
    let user = r.person("si4sso", "sso-password");
    let (_, clients) = clients("si4");
    let s = Server::start_kerberos(&clients);
    let dir = tempfile::tempdir().unwrap();
    let cc = dir.path().join("cc");
    let out = r_kinit(&cc, "si4sso", "sso-password");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cmd = realm().command("curl");
    cmd.env("KRB5CCNAME", format!("FILE:{}", cc.display()));
    let jar = dir.path().join("jar");
    let reply = curl_with(
        cmd,
        &s.base_url,
        &["--negotiate", "-u", ":", "-c", jar.to_str().unwrap()],
        &format!("/authorize?{}", authz_query("si4", "")),
    );
    assert_eq!(reply.status, 303, "{}\n{}", reply.body, s.log_text());
    let code = param(&location(&reply), "code").unwrap();
    let t = redeem(&s, "si4", &code).json();
    let id = claims(t["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], user);
    assert_eq!(id["amr"], serde_json::json!(["kerberos"]));

    // A host's ticket is not a person's: no session, the form.
    let kt = r.add_hosts(&["si4host.test.realm"]);
    let host = crate::kdc::Host::new("si4host.test.realm", &kt[0]);
    host.kinit(None);
    let reply = curl_with(
        host.command("curl"),
        &s.base_url,
        &["--negotiate", "-u", ":"],
        &format!("/authorize?{}", authz_query("si4", "")),
    );
    assert!(reply.body.contains("not a person"), "{}", reply.body);
    assert!(!reply.headers.contains("ahdapa-session="));
}

#[test]
fn bad_requests_show_an_error_page_or_go_back_with_an_error() {
    let (_, clients) = clients("si5");
    let s = Server::start_kerberos(&clients);
    // Unknown client, unregistered redirect URI: a page, never a redirect.
    for query in [
        authz_query("si5", "").replace("client_id=si5-app", "client_id=nobody"),
        authz_query("si5", "").replace(&enc(REDIRECT), &enc("https://evil.example/cb")),
    ] {
        let r = curl(&s.base_url, &[], &format!("/authorize?{query}"));
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(
            !r.headers.to_ascii_lowercase().contains("location:"),
            "{}",
            r.headers
        );
        assert!(r.body.contains("Cannot sign in"), "{}", r.body);
    }
    // Valid client and redirect URI: errors go back with state and iss.
    for (extra, error) in [
        ("&prompt=none", "login_required"),
        ("&request=eyJ", "request_not_supported"),
        ("&request_uri=https%3A%2F%2Fx", "request_uri_not_supported"),
    ] {
        let r = curl(
            &s.base_url,
            &[],
            &format!("/authorize?{}", authz_query("si5", extra)),
        );
        assert_eq!(r.status, 303, "{extra}: {}", r.body);
        let to = location(&r);
        assert_eq!(param(&to, "error").as_deref(), Some(error), "{to}");
        assert_eq!(param(&to, "state").as_deref(), Some("st-si5"));
        assert_eq!(param(&to, "iss").as_deref(), Some(s.base_url.as_str()));
    }
    let implicit = authz_query("si5", "").replace("response_type=code", "response_type=token");
    let r = curl(&s.base_url, &[], &format!("/authorize?{implicit}"));
    assert_eq!(
        param(&location(&r), "error").as_deref(),
        Some("unsupported_response_type")
    );
    // A public client without PKCE.
    let no_pkce = format!(
        "response_type=code&client_id=si5-app&redirect_uri={}&scope=openid",
        enc(REDIRECT)
    );
    let r = curl(&s.base_url, &[], &format!("/authorize?{no_pkce}"));
    assert_eq!(
        param(&location(&r), "error").as_deref(),
        Some("invalid_request")
    );
    // An unknown parameter is ignored.
    let r = curl(
        &s.base_url,
        &[],
        &format!("/authorize?{}", authz_query("si5", "&frobnicate=1")),
    );
    assert!(r.body.contains("name=\"password\""), "{}", r.body);
}

#[test]
fn a_client_that_requires_consent_asks_once_and_remembers() {
    let r = realm();
    r.person("si7carol", "si7-password");
    let (_, clients) = clients("si7");
    let clients = clients.replacen(
        "client_name = \"Test App si7\"\n",
        "client_name = \"Test App si7\"\nrequire_consent = true\n",
        1,
    );
    let s = Server::start_kerberos(&clients);
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("jar");
    let jar_s = jar.to_str().unwrap();
    let query = authz_query("si7", "");

    let page = sign_in(&s, &jar, &query, "si7carol", "si7-password");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("wants to know who you are"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<li>openid</li>") && page.body.contains("<li>profile</li>"));
    assert!(
        page.headers.contains("__Host-ahdapa-session="),
        "signed in before consent"
    );
    let csrf = hidden(&page.body, "csrf");
    let answer = |decision: &str, query: &str| {
        curl(
            &s.base_url,
            &[
                "-b",
                jar_s,
                "--data-urlencode",
                &format!("authz={query}"),
                "--data-urlencode",
                &format!("csrf={csrf}"),
                "-d",
                &format!("decision={decision}"),
            ],
            "/authorize/consent",
        )
    };
    // Deny: access_denied at the client.
    let denied = answer("deny", &query);
    assert_eq!(denied.status, 303);
    assert_eq!(
        param(&location(&denied), "error").as_deref(),
        Some("access_denied")
    );
    // prompt=none before any consent: consent_required.
    let silent = curl(
        &s.base_url,
        &["-b", jar_s],
        &format!("/authorize?{}", authz_query("si7", "&prompt=none")),
    );
    assert_eq!(
        param(&location(&silent), "error").as_deref(),
        Some("consent_required")
    );
    // Allow: a code, and the next sign-in to this client asks nothing.
    let allowed = answer("allow", &query);
    assert_eq!(allowed.status, 303, "{}", allowed.body);
    assert!(param(&location(&allowed), "code").is_some());
    let again = curl(&s.base_url, &["-b", jar_s], &format!("/authorize?{query}"));
    assert_eq!(again.status, 303, "{}", again.body);
    assert!(param(&location(&again), "code").is_some());
    // prompt=consent asks again.
    let ask = curl(
        &s.base_url,
        &["-b", jar_s],
        &format!("/authorize?{}", authz_query("si7", "&prompt=consent")),
    );
    assert!(
        ask.body.contains("wants to know who you are"),
        "{}",
        ask.body
    );
    // A consent form without the CSRF cookie's token is refused.
    let forged = curl(
        &s.base_url,
        &[
            "-b",
            jar_s,
            "--data-urlencode",
            &format!("authz={query}"),
            "-d",
            "csrf=forged&decision=allow",
        ],
        "/authorize/consent",
    );
    assert_eq!(forged.status, 400);
    assert!(!forged.headers.to_ascii_lowercase().contains("location:"));
}

#[test]
fn a_kdc_that_does_not_know_the_service_key_cannot_sign_anyone_in() {
    // The KDC answers the password correctly, but the service ticket it issues is not
    // under the key in ahdapa's keytab (as with a spoofed KDC): no sign-in.
    let r = realm();
    r.person("si6dave", "si6-password");
    let principal = format!("HTTP/si6.test.realm@{REALM}");
    let keytab = r.add_service(&principal);
    r.kadmin(&format!("cpw -randkey {principal}\n"));
    let (_, clients) = clients("si6");
    let kerberos = format!(
        "[kerberos]\nenabled = true\nkeytab = \"{}\"\nservice_principal = \"{principal}\"\n\
         replay_cache = \"@STATE@/krb5.rcache\"\n",
        keytab.display()
    );
    let s = Server::start(crate::harness::Options {
        extra: format!("{kerberos}{clients}"),
        env: r.env(),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let reply = sign_in(
        &s,
        &dir.path().join("jar"),
        &authz_query("si6", ""),
        "si6dave",
        "si6-password",
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.body.contains("Sign-in is unavailable"),
        "{}",
        reply.body
    );
    assert!(!reply.headers.contains("ahdapa-session="));
    assert!(
        s.log_text().contains("could not be verified"),
        "{}",
        s.log_text()
    );
}

fn userinfo(s: &Server, args: &[&str]) -> Reply {
    curl(&s.base_url, args, "/userinfo")
}

#[test]
fn directory_claims_reach_the_id_token_and_userinfo_three_ways() {
    let r = realm();
    let slapd = crate::ldap::shared();
    let base = "cn=accounts,dc=test,dc=realm";
    slapd.modify(&format!(
        "dn: uid=si8erin,cn=users,{base}\nchangetype: add\nobjectClass: top\nobjectClass: person\n\
         objectClass: organizationalPerson\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n\
         objectClass: krbPrincipalAux\nuid: si8erin\ncn: Erin Example\nsn: Example\ngivenName: Erin\n\
         displayName: Erin Example\nmail: erin@test.realm\nuidNumber: 8801\ngidNumber: 8801\n\
         homeDirectory: /home/si8erin\nkrbPrincipalName: si8erin@{REALM}\n\n\
         dn: uid=si8frank,cn=users,{base}\nchangetype: add\nobjectClass: top\nobjectClass: person\n\
         objectClass: organizationalPerson\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n\
         objectClass: krbPrincipalAux\nobjectClass: inetUser\nuid: si8frank\ncn: Frank\nsn: Frank\n\
         uidNumber: 8802\ngidNumber: 8802\nhomeDirectory: /home/si8frank\n\
         krbPrincipalName: si8frank@{REALM}\nnsAccountLock: TRUE\n\n\
         dn: cn=si8staff,cn=groups,{base}\nchangetype: add\nobjectClass: top\n\
         objectClass: groupOfNames\nobjectClass: posixGroup\ncn: si8staff\ngidNumber: 8800\n\
         member: uid=si8erin,cn=users,{base}\n"
    ));
    let user = r.person("si8erin", "si8-password");
    r.person("si8frank", "si8f-password");
    let dir = tempfile::tempdir().unwrap();
    let (_, clients) = clients("si8");
    let clients = clients.replace(
        "scopes = [\"openid\", \"profile\"]",
        "scopes = [\"openid\", \"profile\", \"email\", \"groups\"]",
    );
    let s = Server::start_kerberos(&format!("{}{clients}", slapd.config(dir.path(), "")));
    let query =
        authz_query("si8", "").replace("scope=openid+profile", "scope=openid+profile+email+groups");

    // Locked in the directory: refused, whatever the KDC says.
    let locked = sign_in(
        &s,
        &dir.path().join("f"),
        &query,
        "si8frank",
        "si8f-password",
    );
    assert!(
        locked.body.contains("locked or disabled"),
        "{}",
        locked.body
    );

    let posted = sign_in(&s, &dir.path().join("e"), &query, "si8erin", "si8-password");
    assert_eq!(posted.status, 303, "{}\n{}", posted.body, s.log_text());
    let code = param(&location(&posted), "code").unwrap();
    let t = redeem(&s, "si8", &code).json();
    let id = claims(t["id_token"].as_str().unwrap());
    assert_eq!(id["name"], "Erin Example");
    assert_eq!(id["given_name"], "Erin");
    assert_eq!(id["family_name"], "Example");
    assert_eq!(id["email"], "erin@test.realm");
    assert_eq!(id["preferred_username"], "si8erin");
    assert_eq!(id["groups"], serde_json::json!(["si8staff"]));

    let access = t["access_token"].as_str().unwrap();
    let bearer = format!("Authorization: Bearer {access}");
    for reply in [
        userinfo(&s, &["-H", &bearer]),
        userinfo(&s, &["-H", &bearer, "-X", "POST"]),
        userinfo(&s, &["-d", &format!("access_token={access}")]),
    ] {
        assert_eq!(reply.status, 200, "{}", reply.body);
        let u = reply.json();
        assert_eq!(u["sub"], user, "userinfo sub is the ID token's");
        assert_eq!(u["sub"], id["sub"]);
        assert_eq!(u["email"], "erin@test.realm");
        assert_eq!(u["groups"], serde_json::json!(["si8staff"]));
    }
    // No token, a bad token: RFC 6750 challenges.
    let none = userinfo(&s, &[]);
    assert_eq!(none.status, 401);
    assert!(
        none.headers
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer")
    );
    let bad = userinfo(&s, &["-H", "Authorization: Bearer nope"]);
    assert_eq!(bad.status, 401);
    assert!(bad.headers.contains("invalid_token"), "{}", bad.headers);
}

#[test]
fn rp_initiated_logout_ends_the_session_and_goes_back() {
    let r = realm();
    r.person("si9gina", "si9-password");
    let (_, clients) = clients("si9");
    let clients = clients.replacen(
        "client_name = \"Test App si9\"\n",
        "client_name = \"Test App si9\"\npost_logout_redirect_uris = [\"http://127.0.0.1/bye\"]\n",
        1,
    );
    let s = Server::start_kerberos(&clients);
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("jar");
    let jar_s = jar.to_str().unwrap();
    let posted = sign_in(&s, &jar, &authz_query("si9", ""), "si9gina", "si9-password");
    let code = param(&location(&posted), "code").unwrap();
    let id_token = redeem(&s, "si9", &code).json()["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let silent = |jar: &str| {
        curl(
            &s.base_url,
            &["-b", jar],
            &format!("/authorize?{}", authz_query("si9", "&prompt=none")),
        )
    };
    assert!(
        param(&location(&silent(jar_s)), "code").is_some(),
        "signed in"
    );

    // An unregistered post_logout_redirect_uri: an error page, nothing ended.
    let bad = curl(
        &s.base_url,
        &["-b", jar_s],
        &format!(
            "/logout?id_token_hint={id_token}&post_logout_redirect_uri={}",
            enc("https://evil.example/")
        ),
    );
    assert_eq!(bad.status, 400);
    assert!(!bad.headers.to_ascii_lowercase().contains("location:"));
    assert!(
        param(&location(&silent(jar_s)), "code").is_some(),
        "still signed in"
    );
    // A forged hint: refused.
    let forged = curl(
        &s.base_url,
        &["-b", jar_s],
        "/logout?id_token_hint=e30.e30.sig",
    );
    assert_eq!(forged.status, 400);
    // Someone else's ID token in a link: this browser is asked, not signed out.
    let other_jar = dir.path().join("other");
    let other = sign_in(
        &s,
        &other_jar,
        &authz_query("si9", ""),
        "si9gina",
        "si9-password",
    );
    let other_code = param(&location(&other), "code").unwrap();
    let other_id = redeem(&s, "si9", &other_code).json()["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let csrf_link = curl(
        &s.base_url,
        &["-b", jar_s],
        &format!("/logout?id_token_hint={other_id}"),
    );
    assert!(csrf_link.body.contains("Sign out?"), "{}", csrf_link.body);
    assert!(
        param(&location(&silent(jar_s)), "code").is_some(),
        "still signed in"
    );

    // The real thing: back to the client with state; the session is gone server-side
    // (the old cookie no longer works) and the cookie is cleared.
    let out = curl(
        &s.base_url,
        &["-b", jar_s],
        &format!(
            "/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye-state",
            enc("http://127.0.0.1/bye")
        ),
    );
    assert_eq!(out.status, 303, "{}", out.body);
    assert_eq!(location(&out), "http://127.0.0.1/bye?state=bye-state");
    assert!(
        out.headers.contains("__Host-ahdapa-session=;"),
        "{}",
        out.headers
    );
    assert_eq!(
        param(&location(&silent(jar_s)), "error").as_deref(),
        Some("login_required")
    );

    // Without a hint: a confirmation page first, then the form signs out.
    let jar2 = dir.path().join("jar2");
    let jar2_s = jar2.to_str().unwrap();
    sign_in(
        &s,
        &jar2,
        &authz_query("si9", ""),
        "si9gina",
        "si9-password",
    );
    let ask = curl(&s.base_url, &["-b", jar2_s, "-c", jar2_s], "/logout");
    assert_eq!(ask.status, 200);
    assert!(ask.body.contains("Sign out?"), "{}", ask.body);
    assert!(
        param(&location(&silent(jar2_s)), "code").is_some(),
        "asking ends nothing"
    );
    let csrf = hidden(&ask.body, "csrf");
    let done = curl(
        &s.base_url,
        &[
            "-b",
            jar2_s,
            "-d",
            &format!("confirm=yes&csrf={csrf}&params="),
        ],
        "/logout",
    );
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("You are signed out"), "{}", done.body);
    assert_eq!(
        param(&location(&silent(jar2_s)), "error").as_deref(),
        Some("login_required")
    );
}

#[test]
fn two_nodes_on_postgresql_share_sessions_codes_and_logout() {
    let r = realm();
    r.person("si10hank", "si10-password");
    let url = crate::postgres::shared().database("signin");
    let state = tempfile::tempdir().unwrap();
    let (_, clients) = clients("si10");
    let a = crate::postgres::node(&url, state.path(), None, &clients);
    let b = crate::postgres::node(&url, state.path(), Some(a.base_url.clone()), &clients);
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("jar");
    let jar_s = jar.to_str().unwrap();

    // Signed in on A, the code redeemed on B.
    let posted = sign_in(
        &a,
        &jar,
        &authz_query("si10", ""),
        "si10hank",
        "si10-password",
    );
    assert_eq!(posted.status, 303, "{}", posted.body);
    let code = param(&location(&posted), "code").unwrap();
    let t = redeem(&b, "si10", &code);
    assert_eq!(t.status, 200, "{}", t.body);
    let id_token = t.json()["id_token"].as_str().unwrap().to_owned();
    // ... and is then used up on A too.
    assert_eq!(redeem(&a, "si10", &code).json()["error"], "invalid_grant");

    // B finds A's session (prompt=none answers with a code).
    let on_b = |jar: &str| {
        curl(
            &b.base_url,
            &["-b", jar],
            &format!("/authorize?{}", authz_query("si10", "&prompt=none")),
        )
    };
    assert!(
        param(&location(&on_b(jar_s)), "code").is_some(),
        "{}",
        on_b(jar_s).headers
    );

    // Logout on A ends it on B.
    let out = curl(
        &a.base_url,
        &["-b", jar_s],
        &format!("/logout?id_token_hint={id_token}"),
    );
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(
        param(&location(&on_b(jar_s)), "error").as_deref(),
        Some("login_required")
    );
}

#[test]
fn rs256_id_tokens_max_age_and_id_token_hint() {
    let r = realm();
    r.person("si11ivy", "si11-password");
    r.person("si11jon", "si11j-password");
    let (_, clients) = clients("si11");
    let clients = clients.replacen(
        "client_name = \"Test App si11\"\n",
        "client_name = \"Test App si11\"\nid_token_signed_response_alg = \"RS256\"\n",
        1,
    );
    let s = Server::start_kerberos(&clients);
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("jar");
    let jar_s = jar.to_str().unwrap();
    let posted = sign_in(
        &s,
        &jar,
        &authz_query("si11", ""),
        "si11ivy",
        "si11-password",
    );
    let t = redeem(&s, "si11", &param(&location(&posted), "code").unwrap()).json();
    let id_token = t["id_token"].as_str().unwrap().to_owned();
    // The client asked for RS256 ID tokens: an RS256 key joined /jwks, and PyJWT checks
    // the signature with it; access tokens stay ES256.
    assert_eq!(crate::harness::header(&id_token)["alg"], "RS256");
    assert_eq!(
        crate::harness::header(t["access_token"].as_str().unwrap())["alg"],
        "ES256"
    );
    let id = pyjwt_id_token(&id_token, &s.base_url, "si11-app");
    let auth_time = id["auth_time"].as_u64().unwrap();
    let discovery = curl(&s.base_url, &[], "/.well-known/openid-configuration").json();
    assert!(
        discovery["id_token_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&"RS256".into())
    );

    let again = |extra: &str| {
        curl(
            &s.base_url,
            &["-b", jar_s],
            &format!("/authorize?{}", authz_query("si11", extra)),
        )
    };
    // max_age=10000 after a recent sign-in: the same session, the same auth_time.
    let kept = again("&max_age=10000");
    let code = param(&location(&kept), "code").unwrap();
    let id2 = claims(
        redeem(&s, "si11", &code).json()["id_token"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(id2["auth_time"].as_u64(), Some(auth_time));
    // max_age=1 once a second has passed: sign in again.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let stale = again("&max_age=1");
    assert!(stale.body.contains("name=\"password\""), "{}", stale.body);
    let stale_silent = again("&max_age=1&prompt=none");
    assert_eq!(
        param(&location(&stale_silent), "error").as_deref(),
        Some("login_required")
    );
    // id_token_hint naming the signed-in person: fine; naming someone else: sign in.
    let same = again(&format!("&prompt=none&id_token_hint={id_token}"));
    assert!(
        param(&location(&same), "code").is_some(),
        "{}",
        same.headers
    );
    let jar2 = dir.path().join("jar2");
    let other = sign_in(
        &s,
        &jar2,
        &authz_query("si11", ""),
        "si11jon",
        "si11j-password",
    );
    let other_id =
        redeem(&s, "si11", &param(&location(&other), "code").unwrap()).json()["id_token"]
            .as_str()
            .unwrap()
            .to_owned();
    let mismatch = again(&format!("&prompt=none&id_token_hint={other_id}"));
    assert_eq!(
        param(&location(&mismatch), "error").as_deref(),
        Some("login_required")
    );
    let garbage = again("&id_token_hint=e30.e30.x");
    assert_eq!(
        param(&location(&garbage), "error").as_deref(),
        Some("invalid_request")
    );
}

#[test]
fn check_config_names_sign_in_mistakes_and_warns_about_loose_patterns() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let config = dir.path().join("ahdapa.toml");
    let write = |clients: &str| {
        std::fs::write(
            &config,
            format!(
                "issuer = \"http://127.0.0.1:9\"\n[server]\ninsecure_http = true\nlisten = [\"127.0.0.1:9\"]\n\
                 [store]\nsqlite_path = \"{d}/db\"\n[keys]\nmaster_key_file = \"{d}/mk\"\n{clients}"
            ),
        )
        .unwrap();
    };
    write(
        "[[clients]]\nclient_id = \"loose\"\ntoken_endpoint_auth_method = \"none\"\n\
         grant_types = [\"authorization_code\"]\nscopes = [\"openid\"]\n\
         redirect_uris = [\"regex:https://app-[0-9]+.example\\\\.com/cb\"]\n",
    );
    let (ok, text) = crate::harness::check_config(&config);
    assert!(ok, "{text}");
    assert!(
        text.contains("warning: client loose redirect_uris") && text.contains("unescaped '.'"),
        "{text}"
    );
    write(
        "[[clients]]\nclient_id = \"bad\"\ntoken_endpoint_auth_method = \"none\"\n\
         grant_types = [\"authorization_code\"]\nscopes = [\"openid\"]\n\
         redirect_uris = [\"http://app.example.com/cb\", \"https://a.example/cb#x\"]\n\
         response_types = [\"token\"]\nid_token_signed_response_alg = \"HS256\"\n\
         [[clients]]\nclient_id = \"nouris\"\ntoken_endpoint_auth_method = \"none\"\n\
         grant_types = [\"authorization_code\"]\nscopes = [\"openid\"]\n",
    );
    let (ok, text) = crate::harness::check_config(&config);
    assert!(!ok, "{text}");
    for expected in [
        "clients[0].redirect_uris: \"http://app.example.com/cb\": http is only allowed",
        "clients[0].redirect_uris: \"https://a.example/cb#x\" has a fragment",
        "clients[0].response_types: only [\"code\"]",
        "clients[0].id_token_signed_response_alg",
        "clients[1].redirect_uris: required with grant_types authorization_code",
    ] {
        assert!(text.contains(expected), "{expected} not in {text}");
    }
}

#[test]
fn twenty_failures_from_one_address_throttle_it_for_everyone() {
    let r = realm();
    r.person("si12real", "si12-password");
    let (_, clients) = clients("si12");
    let s = Server::start_kerberos(&clients);
    let dir = tempfile::tempdir().unwrap();
    let query = authz_query("si12", "");
    // Twenty different names, so only the per-address count can trip.
    for i in 0..20 {
        let jar = dir.path().join(format!("j{i}"));
        let r = sign_in(&s, &jar, &query, &format!("si12guess{i}"), "nope");
        assert!(r.body.contains("not correct"), "{i}: {}", r.body);
    }
    let jar = dir.path().join("real");
    let r = sign_in(&s, &jar, &query, "si12real", "si12-password");
    assert!(r.body.contains("Too many failed attempts"), "{}", r.body);
    assert_eq!(r.status, 429);
}

#[test]
fn the_pages_carry_the_configured_branding() {
    let dir = tempfile::tempdir().unwrap();
    let logo = dir.path().join("logo.svg");
    std::fs::write(&logo, "<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();
    let (_, clients) = clients("si13");
    let s = Server::start_kerberos(&format!(
        "[signin]\nproduct_name = \"Example Corp <Login>\"\nlogo_file = \"{}\"\n\
         support_url = \"https://help.example.com/\"\nsession_lifetime_secs = 600\n{clients}",
        logo.display()
    ));
    let page = curl(
        &s.base_url,
        &[],
        &format!("/authorize?{}", authz_query("si13", "")),
    );
    assert!(
        page.body.contains("<h1>Example Corp &#60;Login&#62;</h1>")
            || page.body.contains("<h1>Example Corp &lt;Login&gt;</h1>"),
        "escaped product name: {}",
        page.body
    );
    assert!(page.body.contains("src=\"/assets/logo\""), "{}", page.body);
    assert!(page.body.contains("href=\"https://help.example.com/\""));
    let l = curl(&s.base_url, &[], "/assets/logo");
    assert_eq!(l.status, 200);
    assert!(
        l.headers
            .to_ascii_lowercase()
            .contains("content-type: image/svg+xml")
    );
    assert!(l.body.starts_with("<svg"));
    // Config mistakes are named by key path.
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "issuer = \"https://idp.example.com\"\n[signin]\nlogo_file = \"logo.gif\"\n\
         support_url = \"javascript:alert(1)\"\nsession_lifetime_secs = 5\nsurprise = 1\n",
    )
    .unwrap();
    let (ok, text) = crate::harness::check_config(&config);
    assert!(!ok);
    for key in [
        "signin.logo_file",
        "signin.support_url",
        "signin.session_lifetime_secs",
        "signin.surprise",
    ] {
        assert!(text.contains(key), "{key} not in {text}");
    }
}

#[test]
fn an_unused_session_ends_after_the_idle_timeout() {
    let r = realm();
    r.person("si14kai", "si14-password");
    let (_, clients) = clients("si14");
    let s = Server::start_kerberos(&format!("[signin]\nsession_idle_secs = 2\n{clients}"));
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("jar");
    let jar_s = jar.to_str().unwrap();
    let posted = sign_in(
        &s,
        &jar,
        &authz_query("si14", ""),
        "si14kai",
        "si14-password",
    );
    assert_eq!(posted.status, 303);
    let silent = || {
        curl(
            &s.base_url,
            &["-b", jar_s],
            &format!("/authorize?{}", authz_query("si14", "&prompt=none")),
        )
    };
    assert!(param(&location(&silent()), "code").is_some(), "in use");
    std::thread::sleep(std::time::Duration::from_millis(3200));
    assert_eq!(
        param(&location(&silent()), "error").as_deref(),
        Some("login_required"),
        "unused for longer than session_idle_secs"
    );
}

#[test]
fn without_kerberos_passwords_are_checked_by_an_ldap_bind_over_tls() {
    let slapd = crate::ldap::shared();
    let dir = tempfile::tempdir().unwrap();
    let (_, clients) = clients("si15");
    // No [kerberos]: the directory checks passwords (alice's userPassword in the fixture).
    let s = Server::start_tls(&format!("{}{clients}", slapd.config(dir.path(), "")));
    let query = authz_query("si15", "");
    let page = curl(&s.base_url, &[], &format!("/authorize?{query}"));
    assert_eq!(page.status, 200, "no Negotiate without [kerberos]");
    assert!(
        !page
            .headers
            .to_ascii_lowercase()
            .contains("www-authenticate")
    );
    for (user, password, message) in [
        (
            "alice",
            "wrong",
            "The user name or password is not correct.",
        ),
        ("nobody", "x", "The user name or password is not correct."),
        ("bob", "whatever", "Your account is locked or disabled."),
    ] {
        let r = sign_in(&s, &dir.path().join(user), &query, user, password);
        assert!(r.body.contains(message), "{user}: {}", r.body);
    }
    let ok = sign_in(&s, &dir.path().join("a"), &query, "alice", "alice-password");
    assert_eq!(ok.status, 303, "{}\n{}", ok.body, s.log_text());
    let t = redeem(&s, "si15", &param(&location(&ok), "code").unwrap()).json();
    let id = claims(t["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], format!("alice@{REALM}"));
    assert_eq!(id["amr"], serde_json::json!(["pwd"]));
}

#[test]
fn client_add_registers_a_sign_in_client() {
    let r = realm();
    r.person("si16lou", "si16-password");
    let s = Server::start_kerberos("");
    let out = s.cli(&[
        "client",
        "add",
        "--local",
        "si16-app",
        "--scope",
        "openid",
        "--scope",
        "profile",
        "--method",
        "none",
        "--redirect-uri",
        REDIRECT,
        "--post-logout-redirect-uri",
        "http://127.0.0.1/bye",
        "--require-consent",
        "--id-token-alg",
        "RS256",
        "--name",
        "Added App",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = s.cli(&[
        "client",
        "add",
        "--local",
        "si16-bad",
        "--scope",
        "openid",
        "--method",
        "none",
        "--redirect-uri",
        "http://example.com/cb",
    ]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("redirect_uris"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    // The running server picks it up from the store.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let page = loop {
        let p = curl(
            &s.base_url,
            &[],
            &format!("/authorize?{}", authz_query("si16", "")),
        );
        if p.body.contains("Sign in to Added App") || std::time::Instant::now() > deadline {
            break p;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(page.body.contains("Sign in to Added App"), "{}", page.body);
    let dir = tempfile::tempdir().unwrap();
    let consent = sign_in(
        &s,
        &dir.path().join("j"),
        &authz_query("si16", ""),
        "si16lou",
        "si16-password",
    );
    assert!(
        consent.body.contains("wants to know who you are"),
        "{}",
        consent.body
    );
}

#[test]
fn a_code_redeemed_with_a_dpop_proof_gets_a_bound_token() {
    let r = realm();
    r.person("si17mia", "si17-password");
    let (_, clients) = clients("si17");
    let s = Server::start_kerberos(&clients);
    let dir = tempfile::tempdir().unwrap();
    let posted = sign_in(
        &s,
        &dir.path().join("j"),
        &authz_query("si17", ""),
        "si17mia",
        "si17-password",
    );
    let code = param(&location(&posted), "code").unwrap();
    let key = crate::dpop::keygen();
    let proof = crate::dpop::proof(&key, &format!("{}/token", s.base_url), |_, _| {});
    let reply = curl(
        &s.base_url,
        &[
            "-H",
            &format!("DPoP: {proof}"),
            "-d",
            &format!(
                "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={VERIFIER}&client_id=si17-app",
                enc(&code),
                enc(REDIRECT)
            ),
        ],
        "/token",
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let t = reply.json();
    assert_eq!(t["token_type"], "DPoP");
    let at = claims(t["access_token"].as_str().unwrap());
    assert_eq!(at["cnf"]["jkt"], key.jkt.as_str(), "bound to the proof key");
    assert_eq!(at["sub"], format!("si17mia@{REALM}"));
    // The DPoP-bound token works at /userinfo only with a proof.
    let bearer = curl(
        &s.base_url,
        &[
            "-H",
            &format!(
                "Authorization: Bearer {}",
                t["access_token"].as_str().unwrap()
            ),
        ],
        "/userinfo",
    );
    assert_eq!(bearer.status, 401, "{}", bearer.body);
}

/// Browser clients get a refresh token only with `offline_access` (their default
/// policy), and it rotates like a host's.
#[test]
fn web_clients_get_refresh_tokens_with_offline_access_only() {
    let r = realm();
    r.person("si20nina", "si20-password");
    let (_, clients) = clients("si20");
    let clients = clients.replace(
        "scopes = [\"openid\", \"profile\"]",
        "scopes = [\"openid\", \"profile\", \"offline_access\"]",
    );
    let s = Server::start_kerberos(&clients);
    let dir = tempfile::tempdir().unwrap();
    let posted = sign_in(
        &s,
        &dir.path().join("a"),
        &authz_query("si20", ""),
        "si20nina",
        "si20-password",
    );
    let code = param(&location(&posted), "code").unwrap();
    let t = redeem(&s, "si20", &code).json();
    assert!(t.get("refresh_token").is_none(), "no offline_access: {t}");

    let query =
        authz_query("si20", "").replace("scope=openid+profile", "scope=openid+offline_access");
    let posted = sign_in(
        &s,
        &dir.path().join("b"),
        &query,
        "si20nina",
        "si20-password",
    );
    let code = param(&location(&posted), "code").unwrap();
    let t = redeem(&s, "si20", &code).json();
    let rt = t["refresh_token"].as_str().unwrap_or_else(|| panic!("{t}"));
    let refreshed = curl(
        &s.base_url,
        &[
            "-d",
            &format!(
                "grant_type=refresh_token&client_id=si20-app&refresh_token={}",
                enc(rt)
            ),
        ],
        "/token",
    );
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert_eq!(refreshed.json()["scope"], "openid offline_access");
    assert_ne!(refreshed.json()["refresh_token"].as_str(), Some(rt));
}
