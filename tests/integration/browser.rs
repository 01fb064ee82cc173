//! People signing in with a real browser: headless Chromium driven by selenium, and a
//! relying party built on a third-party library (Python authlib: code + PKCE, the ID
//! token checked for signature from `/jwks`, `iss`, `aud` and `nonce`, then `/userinfo`).

use std::path::Path;
use std::process::Command;

use crate::harness::{Server, pki, python};
use crate::kdc::{REALM, realm};

const RP: &str = include_str!("browser/rp.py");

/// Runs the authlib RP and Chromium in `mode` against `s`; returns what the RP verified.
fn browse(
    s: &Server,
    client_id: &str,
    mode: &str,
    user: &str,
    password: &str,
    env: &[(&str, String)],
) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("rp.py");
    std::fs::write(&script, RP).unwrap();
    let profile = dir.path().join("profile");
    let out = Command::new(python())
        .arg(&script)
        .args([s.base_url.as_str(), client_id, mode, user, password])
        .arg(&profile)
        .env("REQUESTS_CA_BUNDLE", &pki().ca)
        .env("HOME", dir.path())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("python3 with selenium and authlib (the test command installs them)");
    assert!(
        out.status.success(),
        "the browser run failed (chromium, chromium-driver, python3-selenium, python3-authlib?):\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log_text()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn client(prefix: &str, extra: &str) -> String {
    format!(
        "[[clients]]\nclient_id = \"{prefix}-web\"\nclient_name = \"Browser App {prefix}\"\n\
         token_endpoint_auth_method = \"none\"\ngrant_types = [\"authorization_code\"]\n\
         redirect_uris = [\"http://127.0.0.1/cb\"]\nscopes = [\"openid\", \"profile\", \"email\"]\n{extra}"
    )
}

#[test]
fn a_person_signs_in_with_a_password_in_chromium_and_consents() {
    let r = realm();
    let user = r.person("br1kim", "br1-password");
    let s = Server::start_kerberos(&client("br1", "require_consent = true\n"));
    // Without --auth-server-allowlist the browser does not negotiate: it shows the 401's
    // body, the form, and is never caught in a loop.
    let v = browse(&s, "br1-web", "password", "br1kim", "br1-password", &[]);
    assert_eq!(v["saw_form"], true, "{v}");
    assert_eq!(v["saw_consent"], true, "{v}");
    assert_eq!(v["landed"], format!("Signed in as {user}"), "{v}");
    assert!(v.get("rp_error").is_none(), "{v}");
    assert_eq!(v["id_token"]["sub"], user);
    assert_eq!(v["id_token"]["amr"], serde_json::json!(["pwd"]));
    assert_eq!(
        v["userinfo"]["sub"], user,
        "userinfo agrees with the ID token"
    );
    assert_eq!(v["iss_param"], s.base_url.as_str(), "RFC 9207 iss");
}

#[test]
fn a_browser_with_a_kerberos_ticket_signs_in_without_the_form() {
    let r = realm();
    let user = r.person("br2lee", "br2-password");
    let s = Server::start_kerberos(&client("br2", ""));
    let dir = tempfile::tempdir().unwrap();
    let cc = dir.path().join("cc");
    kinit(&cc, "br2lee", "br2-password");
    let mut env = r.env();
    env.push(("KRB5CCNAME", format!("FILE:{}", cc.display())));
    let v = browse(&s, "br2-web", "kerberos", "", "", &env);
    assert_eq!(v["saw_form"], false, "{v}");
    assert_eq!(v["landed"], format!("Signed in as {user}"), "{v}");
    assert_eq!(v["id_token"]["amr"], serde_json::json!(["kerberos"]));
    // The same browser setup without a ticket gets the form.
    let no_ticket = vec![
        ("KRB5_CONFIG", r.krb5_conf.display().to_string()),
        (
            "KRB5CCNAME",
            format!("FILE:{}", dir.path().join("none").display()),
        ),
    ];
    let v = browse(&s, "br2-web", "form-only", "", "", &no_ticket);
    assert_eq!(v["saw_form"], true, "{v}");
}

pub(crate) fn kinit(cc: &Path, user: &str, password: &str) {
    use std::io::Write;
    let mut child = realm()
        .command("kinit")
        .env("KRB5CCNAME", format!("FILE:{}", cc.display()))
        .arg(format!("{user}@{REALM}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
