//! The README's run command as a newcomer uses it (`ahdapa serve --dev`), and tokens
//! checked by an independent implementation: PyJWT fetching `/jwks` itself.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{BIN, python};

const VERIFY_PY: &str = r#"
import json, sys, jwt
token, issuer = sys.argv[1], sys.argv[2]
header = jwt.get_unverified_header(token)
assert header["typ"] == "at+jwt", header
client = jwt.PyJWKClient(issuer + "/jwks")
key = client.get_signing_key_from_jwt(token)
claims = jwt.decode(token, key.key, algorithms=["ES256", "EdDSA", "RS256"], audience=issuer, issuer=issuer,
                    options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]})
for c in ("client_id", "scope"):
    assert c in claims, c
print(json.dumps({"kid": header["kid"], "claims": claims}))
"#;

struct Dev {
    child: Child,
    stdout: std::path::PathBuf,
}

impl Dev {
    fn start(state: &std::path::Path, out: std::path::PathBuf) -> Self {
        let file = std::fs::File::create(&out).unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--dev", "--listen", "127.0.0.1:0", "--state-dir"])
            .arg(state)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let dev = Self { child, stdout: out };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !dev.banner().contains("public keys:") {
            assert!(Instant::now() < deadline, "no dev banner: {}", dev.banner());
            std::thread::sleep(Duration::from_millis(20));
        }
        dev
    }

    fn banner(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.stdout) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    fn line(&self, prefix: &str) -> String {
        self.banner()
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|r| r.trim().to_owned()))
            .unwrap()
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_printed_curl(dev: &Dev) -> serde_json::Value {
    let cmd = dev
        .banner()
        .lines()
        .find(|l| l.trim_start().starts_with("curl -s -u"))
        .unwrap()
        .trim()
        .to_owned();
    let out = Command::new("sh").arg("-c").arg(&cmd).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{cmd} printed {}", String::from_utf8_lossy(&out.stdout)))
}

/// Verifies `token` with PyJWT, which fetches `{issuer}/jwks` itself (trusting the test
/// CA for https issuers).
pub fn pyjwt_verify(token: &str, issuer: &str) -> serde_json::Value {
    let out = Command::new(python())
        .env("SSL_CERT_FILE", &crate::harness::pki().ca)
        .args(["-c", VERIFY_PY, token, issuer])
        .output()
        .expect("python3 must be installed (the test command installs it with PyJWT)");
    assert!(
        out.status.success(),
        "PyJWT refused the token (is python3-jwt installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn dev_mode_curl_token_verifies_with_pyjwt_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (issuer, secret, kid) = {
        let dev = Dev::start(&state, dir.path().join("out1"));
        let issuer = dev.line("issuer:");
        let token = run_printed_curl(&dev);
        assert_eq!(token["token_type"], "Bearer");
        let verified = pyjwt_verify(token["access_token"].as_str().unwrap(), &issuer);
        assert_eq!(verified["claims"]["sub"], "demo");
        assert_eq!(verified["claims"]["client_id"], "demo");
        assert_eq!(verified["claims"]["iss"], issuer);
        (issuer, dev.line("demo client:"), verified["kid"].clone())
    };

    // Same state directory: the demo client and the signing key are reused.
    let dev = Dev::start(&state, dir.path().join("out2"));
    assert_eq!(
        dev.line("demo client:"),
        secret,
        "the demo secret is reused"
    );
    let issuer2 = dev.line("issuer:");
    assert_ne!(issuer, "", "issuer printed");
    let token = run_printed_curl(&dev);
    let verified = pyjwt_verify(token["access_token"].as_str().unwrap(), &issuer2);
    assert_eq!(verified["kid"], kid, "the signing key survives a restart");
}

/// The README's dev mode for people: the printed sign-in URL, the demo person's printed
/// password, and the demo app's page with the verified ID token's claims.
#[test]
fn dev_mode_signs_a_demo_person_in_to_the_demo_app() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(&dir.path().join("state"), dir.path().join("out"));
    let banner = dev.banner();
    let url = banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("sign in as a person: open "))
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no sign-in URL: {banner}"))
        .to_owned();
    let (user, password) = banner
        .lines()
        .find_map(|l| {
            let rest = l.trim().strip_prefix("user ")?;
            let (user, rest) = rest.split_once(", password ")?;
            Some((user.to_owned(), rest.split_whitespace().next()?.to_owned()))
        })
        .unwrap_or_else(|| panic!("no demo person: {banner}"));
    let jar = dir.path().join("jar");
    let jar_s = jar.to_str().unwrap();
    let curl = |args: &[&str], url: &str| {
        let out = Command::new("curl")
            .args([
                "-sS",
                "-b",
                jar_s,
                "-c",
                jar_s,
                "-w",
                "\n%{http_code} %{redirect_url}",
            ])
            .args(args)
            .arg(url)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let status_and_next = |out: &str| {
        let last = out.lines().last().unwrap_or_default().to_owned();
        let (status, next) = last.split_once(' ').unwrap_or((&last, ""));
        (status.to_owned(), next.to_owned())
    };
    // /dev/rp sends the browser to /authorize; no Kerberos in dev mode: the form.
    let (status, authorize) = status_and_next(&curl(&[], &url));
    assert_eq!(status, "303");
    let page = curl(&[], &authorize);
    assert!(page.contains("Sign in to Demo app"), "{page}");
    let marker = "name=\"csrf\" value=\"";
    let csrf = page[page.find(marker).unwrap() + marker.len()..]
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let query = authorize.split_once('?').unwrap().1.to_owned();
    let issuer = dev.line("issuer:");
    let wrong = curl(
        &[
            "--data-urlencode",
            &format!("authz={query}"),
            "--data-urlencode",
            &format!("csrf={csrf}"),
            "--data-urlencode",
            &format!("username={user}"),
            "--data-urlencode",
            "password=not-it",
        ],
        &format!("{issuer}/authorize/password"),
    );
    assert!(wrong.contains("not correct"), "{wrong}");
    let posted = curl(
        &[
            "--data-urlencode",
            &format!("authz={query}"),
            "--data-urlencode",
            &format!("csrf={csrf}"),
            "--data-urlencode",
            &format!("username={user}"),
            "--data-urlencode",
            &format!("password={password}"),
        ],
        &format!("{issuer}/authorize/password"),
    );
    let (status, callback) = status_and_next(&posted);
    assert_eq!(status, "303", "{posted}");
    assert!(
        callback.starts_with(&format!("{issuer}/dev/rp/callback?code=")),
        "{callback}"
    );
    let shown = curl(&[], &callback);
    assert!(shown.contains("Signed in as demo@AHDAPA.DEV"), "{shown}");
    assert!(shown.contains("<th scope=\"row\">nonce</th>"), "{shown}");
    assert!(shown.contains("<th scope=\"row\">at_hash</th>"), "{shown}");

    // The printed device grant, with the session of that sign-in: the code, the
    // question, allow, the device's poll.
    let printed = |prefix: &str| {
        banner
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line: {banner}"))
            .to_owned()
    };
    let started = Command::new("sh")
        .arg("-c")
        .arg(printed("curl -s -d client_id=demo-app -d scope=openid"))
        .output()
        .unwrap();
    let d: serde_json::Value = serde_json::from_slice(&started.stdout).unwrap();
    let page = curl(&[], d["verification_uri_complete"].as_str().unwrap());
    let csrf = page[page.find(marker).unwrap() + marker.len()..]
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let code = d["user_code"].as_str().unwrap();
    let (status, approve) = status_and_next(&curl(
        &["-d", &format!("user_code={code}&csrf={csrf}")],
        &format!("{issuer}/device"),
    ));
    assert_eq!(status, "303");
    let question = curl(&[], &approve);
    assert!(
        question.contains("Allow Demo app to sign you in"),
        "{question}"
    );
    let done = curl(
        &[
            "-d",
            &format!("user_code={code}&csrf={csrf}&decision=allow"),
        ],
        &format!("{issuer}/device/consent"),
    );
    assert!(done.contains("return to your device"), "{done}");
    let poll = printed("curl -s -d client_id=demo-app -d grant_type=")
        .replace("<device_code>", d["device_code"].as_str().unwrap());
    let tokens = Command::new("sh").arg("-c").arg(&poll).output().unwrap();
    let t: serde_json::Value = serde_json::from_slice(&tokens.stdout)
        .unwrap_or_else(|_| panic!("{poll}: {}", String::from_utf8_lossy(&tokens.stdout)));
    assert_eq!(
        crate::harness::claims(t["access_token"].as_str().unwrap())["sub"],
        "demo@AHDAPA.DEV"
    );
    assert!(t["refresh_token"].is_string(), "{t}");
}
