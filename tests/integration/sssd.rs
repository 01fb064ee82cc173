//! The real SSSD 2.13 `oidc_child` (Debian sid's `sssd-idp`, in a root built once by
//! `testbed/sssd/build-root.sh` and cached under /var/cache/ahdapa) logs people in
//! through ahdapa over TLS: `--get-device-code`, the person approving in headless
//! Chromium (password, and SPNEGO with a ticket), `--get-access-token --return-tokens`,
//! `--refresh-access-token`, with the identifier it prints equal to the identity API's
//! user `id` — against ahdapa's own URLs and against the Keycloak layout FreeIPA's
//! `ipa idp-add --provider keycloak` builds.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::harness::{Server, claims, pki, python};
use crate::kdc::realm;

const DEVICE_PY: &str = include_str!("browser/device.py");

/// The SSSD root: `AHDAPA_SSSD_ROOT`, else the cache; built when missing (the build
/// script is idempotent and serialised by a lock). A root that cannot be built fails
/// the test.
fn sssd_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = std::env::var_os("AHDAPA_SSSD_ROOT")
            .map_or_else(|| PathBuf::from("/var/cache/ahdapa/sssd-root"), PathBuf::from);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("testbed/sssd/build-root.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(&root)
            .env("SUITES", "sid")
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "the SSSD root could not be built (root, mmdebstrap and the Debian archive are needed): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            root.join("usr/libexec/sssd/oidc_child").exists(),
            "no oidc_child in {}",
            root.display()
        );
        root
    })
}

/// The test CA inside the root, under a name of this test's own.
fn ca_in_root(name: &str) -> String {
    let inside = format!("/tmp/ahdapa-test-ca-{name}-{}.pem", std::process::id());
    let path = sssd_root().join(inside.trim_start_matches('/'));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::copy(&pki().ca, &path).unwrap();
    inside
}

/// Runs `oidc_child ARGS` in the root with `stdin`; returns stdout (and fails on a
/// non-zero exit, printing its debug output).
fn oidc_child(args: &[String], stdin: &str) -> String {
    let mut child = Command::new("chroot")
        .arg(sssd_root())
        .arg("/usr/libexec/sssd/oidc_child")
        .args(["--debug-level=9", "--logger=stderr"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chroot (the test suite runs as root)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "oidc_child {args:?} failed ({}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The person approves `url` in Chromium; returns what the browser saw.
fn approve_in_chromium(
    url: &str,
    mode: &str,
    user: &str,
    password: &str,
    env: &[(&str, String)],
) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("device.py");
    std::fs::write(&script, DEVICE_PY).unwrap();
    let out = Command::new(python())
        .arg(&script)
        .args([url, mode, user, password])
        .arg(dir.path().join("profile"))
        .env("HOME", dir.path())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("python3 with selenium");
    assert!(
        out.status.success(),
        "the browser run failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The endpoints oidc_child is given: ahdapa's own, or the Keycloak layout as
/// `ipaserver/plugins/idp.py` builds it from `--base-url` and `--organization`.
fn endpoints(s: &Server, keycloak_org: Option<&str>) -> Vec<String> {
    let (device, token, userinfo) = match keycloak_org {
        None => (
            format!("{}/device_authorization", s.base_url),
            format!("{}/token", s.base_url),
            format!("{}/userinfo", s.base_url),
        ),
        Some(org) => {
            let base = format!("{}/realms/{org}/protocol/openid-connect", s.base_url);
            (
                format!("{base}/auth/device"),
                format!("{base}/token"),
                format!("{base}/userinfo"),
            )
        }
    };
    vec![
        format!("--device-auth-endpoint={device}"),
        format!("--token-endpoint={token}"),
        format!("--userinfo-endpoint={userinfo}"),
    ]
}

/// One full login as sssd_be drives oidc_child: the device code, the person's approval
/// (by `approve`), the tokens and the identifier, then a refresh.
fn login(
    s: &Server,
    client_id: &str,
    keycloak_org: Option<&str>,
    ca: &str,
    approve: impl FnOnce(&str),
) -> (serde_json::Value, String, serde_json::Value) {
    let common: Vec<String> = endpoints(s, keycloak_org)
        .into_iter()
        .chain([
            format!("--client-id={client_id}"),
            "--client-auth-method=none".into(),
            format!("--ca-db={ca}"),
        ])
        .collect();
    let mut args = vec![
        "--get-device-code".to_owned(),
        "--scope=openid profile email".into(),
    ];
    args.extend(common.iter().cloned());
    let out = oidc_child(&args, "");
    let mut lines = out.lines().filter(|l| !l.trim().is_empty());
    let device_line = lines.next().expect("the device code line").to_owned();
    let device: serde_json::Value = serde_json::from_str(&device_line).unwrap();
    assert!(device["device_code"].is_string(), "{out}");
    assert_eq!(device["interval"], 1, "{out}");
    let shown = lines.next().expect("the oauth2 line");
    let shown: serde_json::Value = serde_json::from_str(
        shown
            .strip_prefix("oauth2 ")
            .unwrap_or_else(|| panic!("{shown}")),
    )
    .unwrap();
    let url = shown["verification_uri_complete"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        url.ends_with(shown["user_code"].as_str().unwrap()),
        "{shown}"
    );

    // The person approves while oidc_child polls (it waits for the approval).
    let mut args = vec![
        "--get-access-token".to_owned(),
        "--return-tokens".into(),
        "--user-identifier-attribute=sub".into(),
        "--scope=openid profile email".into(),
    ];
    args.extend(common.iter().cloned());
    let waiter = std::thread::spawn(move || oidc_child(&args, &format!("{device_line}\n")));
    approve(&url);
    let out = waiter.join().unwrap();
    let mut lines = out.lines().filter(|l| !l.trim().is_empty());
    let tokens: serde_json::Value = serde_json::from_str(lines.next().expect("the tokens line"))
        .unwrap_or_else(|e| panic!("{e}: {out}"));
    let identifier = lines.next().expect("the identifier line").trim().to_owned();

    let mut args = vec![
        "--refresh-access-token".to_owned(),
        "--return-tokens".into(),
        "--user-identifier-attribute=sub".into(),
        "--scope=openid profile email".into(),
    ];
    args.extend(common);
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    let out = oidc_child(&args, &format!("{refresh}\n"));
    let refreshed: serde_json::Value = serde_json::from_str(
        out.lines()
            .find(|l| l.trim_start().starts_with('{'))
            .unwrap_or_else(|| panic!("{out}")),
    )
    .unwrap();
    (tokens, identifier, refreshed)
}

fn sssd_client(id: &str) -> String {
    format!(
        "[device]\ninterval_secs = 1\n[compat]\nkeycloak_realm = \"ACME\"\n\
         [[clients]]\nclient_id = \"{id}\"\ntoken_endpoint_auth_method = \"none\"\n\
         grant_types = [\"urn:ietf:params:oauth:grant-type:device_code\"]\n\
         scopes = [\"openid\", \"profile\", \"email\"]\nclient_name = \"SSSD on the fleet\"\n"
    )
}

#[test]
fn sssd_oidc_child_logs_a_person_in_with_a_password_in_chromium() {
    let r = realm();
    let user = r.person("ss1dana", "ss1-password");
    let s = Server::start_kerberos(&sssd_client("ss1-sssd"));
    let ca = ca_in_root("ss1");
    let (tokens, identifier, refreshed) = login(&s, "ss1-sssd", None, &ca, |url| {
        let seen = approve_in_chromium(url, "password", "ss1dana", "ss1-password", &[]);
        assert!(seen.get("browser_error").is_none(), "{seen}");
        assert_eq!(seen["saw_form"], true, "{seen}");
        assert!(
            seen["prefilled"].as_str().is_some_and(|c| c.len() == 9),
            "{seen}"
        );
        assert!(
            seen["question"]
                .as_str()
                .unwrap_or_default()
                .contains("SSSD on the fleet"),
            "{seen}"
        );
        assert_eq!(seen["done"], "You can return to your device", "{seen}");
    });
    assert_eq!(
        identifier, user,
        "oidc_child's identifier is the identity API's id"
    );
    let at = claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(at["sub"], user);
    assert!(tokens["id_token"].is_string(), "{tokens}");
    assert!(refreshed["access_token"].is_string(), "{refreshed}");
    assert!(
        refreshed["refresh_token"].is_string(),
        "rotation: {refreshed}"
    );
    assert_ne!(refreshed["refresh_token"], tokens["refresh_token"]);
}

#[test]
fn sssd_oidc_child_through_the_keycloak_layout_with_a_kerberos_ticket_in_chromium() {
    let r = realm();
    let user = r.person("ss2erin", "ss2-password");
    let s = Server::start_kerberos(&sssd_client("ss2-ipa"));
    let ca = ca_in_root("ss2");
    let dir = tempfile::tempdir().unwrap();
    let cc = dir.path().join("cc");
    crate::browser::kinit(&cc, "ss2erin", "ss2-password");
    let mut env = r.env();
    env.push(("KRB5CCNAME", format!("FILE:{}", cc.display())));
    let (tokens, identifier, refreshed) = login(&s, "ss2-ipa", Some("ACME"), &ca, |url| {
        let seen = approve_in_chromium(url, "kerberos", "", "", &env);
        assert!(seen.get("browser_error").is_none(), "{seen}");
        assert_eq!(seen["saw_form"], false, "SPNEGO, no password form: {seen}");
        assert_eq!(seen["done"], "You can return to your device", "{seen}");
    });
    assert_eq!(identifier, user);
    let id = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], serde_json::json!(["kerberos"]));
    assert!(refreshed["refresh_token"].is_string(), "{refreshed}");
}
