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

/// The SSSD daemon itself, as a host runs it: `id_provider = idp` and `auth_provider =
/// idp` against ahdapa, and `pamtester` logging the person in through `pam_sss` — the
/// prompt with the URL, the person approving in a browser (curl here), Enter, success.
#[test]
fn sssd_with_auth_provider_idp_logs_a_person_in_through_pam() {
    use std::io::Read;
    let r = realm();
    let slapd = crate::ldap::shared();
    let base = "cn=accounts,dc=test,dc=realm";
    slapd.modify(&format!(
        "dn: uid=ss3lena,cn=users,{base}\nchangetype: add\nobjectClass: top\nobjectClass: person\n\
         objectClass: organizationalPerson\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n\
         objectClass: krbPrincipalAux\nuid: ss3lena\ncn: Lena Example\nsn: Example\n\
         mail: lena@test.realm\nuidNumber: 8951\ngidNumber: 8951\nhomeDirectory: /home/ss3lena\n\
         loginShell: /bin/sh\nkrbPrincipalName: ss3lena@{}\n",
        crate::kdc::REALM
    ));
    let user = r.person("ss3lena", "ss3-password");
    let (secret, hash) = crate::harness::generate_secret();
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_kerberos(&format!(
        "[device]\ninterval_secs = 1\n{}\
         [[clients]]\nclient_id = \"ss3-host\"\ntoken_endpoint_auth_method = \"client_secret_post\"\n{hash}\n\
         grant_types = [\"client_credentials\", \"urn:ietf:params:oauth:grant-type:device_code\"]\n\
         scopes = [\"directory.read\", \"openid\", \"profile\", \"email\"]\nclient_name = \"Fleet login\"\n",
        slapd.config(dir.path(), "")
    ));
    let root = sssd_root();
    let daemon = SssdDaemon::start(
        root,
        &format!(
            "[sssd]\nservices = nss, pam\ndomains = fleet\n\n[domain/fleet]\nid_provider = idp\n\
             auth_provider = idp\nidp_type = keycloak:{base_url}/api/identity\n\
             idp_client_id = ss3-host\nidp_client_secret = {secret}\n\
             idp_token_endpoint = {base_url}/token\nidp_id_scope = directory.read\n\
             idp_device_auth_endpoint = {base_url}/device_authorization\n\
             idp_userinfo_endpoint = {base_url}/userinfo\nidp_auth_scope = openid profile email\n\
             use_fully_qualified_names = false\ncache_credentials = false\n\n\
             [nss]\nfallback_homedir = /home/%u\n\n[pam]\n",
            base_url = s.base_url
        ),
    );
    let passwd = Command::new("chroot")
        .arg(root)
        .args(["getent", "passwd", "ss3lena"])
        .output()
        .unwrap();
    assert!(
        passwd.status.success(),
        "getent passwd through SSSD: {}\n{}",
        String::from_utf8_lossy(&passwd.stderr),
        daemon.logs()
    );

    // Under a pseudo-terminal (`script`), as at a login prompt: pamtester's messages
    // are then written at once, not held in a pipe's buffer.
    let mut pam = Command::new("script")
        .args(["-qfec"])
        .arg(format!(
            "chroot {} pamtester -v ahdapa-test ss3lena authenticate",
            root.display()
        ))
        .arg("/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = pam.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            if tx
                .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    let mut shown = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !shown.contains("ENTER") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => shown.push_str(&chunk),
            Err(_) => {
                let _ = pam.kill();
                panic!("no prompt from pam_sss: {shown:?}\n{}", daemon.logs());
            }
        }
    }
    // `Authenticate at "https://.../device?user_code=XXXX-XXXX".` then `Press ENTER to
    // continue.` (SSSD 2.13's pam_sss).
    let url = shown
        .split_whitespace()
        .map(|w| w.trim_matches(|c| c == '"' || c == '.' || c == ','))
        .find(|w| w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no URL in the prompt: {shown}"))
        .to_owned();
    let code = shown
        .split_whitespace()
        .find(|w| w.len() == 9 && w.as_bytes().get(4) == Some(&b'-'))
        .map(str::to_owned);
    let complete = if url.contains("user_code=") {
        url.clone()
    } else {
        format!(
            "{url}?user_code={}",
            code.clone().unwrap_or_else(|| panic!("no code in {shown}"))
        )
    };
    let done = crate::device::approve(
        &s,
        &dir.path().join("jar"),
        &complete,
        "ss3lena",
        "ss3-password",
        "allow",
    );
    assert_eq!(done.status, 200, "{}", done.body);
    pam.stdin.take().unwrap().write_all(b"\n").unwrap();
    let status = pam.wait().unwrap();
    let mut rest = String::new();
    while let Ok(chunk) = rx.recv_timeout(std::time::Duration::from_secs(2)) {
        rest.push_str(&chunk);
    }
    let mut err = String::new();
    let _ = pam.stderr.take().unwrap().read_to_string(&mut err);
    assert!(
        status.success() && format!("{rest}{err}").contains("successfully authenticated"),
        "pamtester: {status}\n{shown}{rest}\n{err}\n{}\n{}",
        daemon.logs(),
        s.log_text()
    );
    assert!(
        s.log_text()
            .contains(&format!("device code approved by {user}")),
        "{}",
        s.log_text()
    );
}

/// `sssd -i` in the root with `conf`, stopped by its PID on drop.
struct SssdDaemon {
    root: PathBuf,
    child: std::process::Child,
}

impl SssdDaemon {
    fn start(root: &Path, conf: &str) -> Self {
        // One daemon at a time in the root.
        static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = ONE.lock();
        let etc = root.join("etc");
        std::fs::create_dir_all(etc.join("sssd")).unwrap();
        let conf_path = etc.join("sssd/sssd.conf");
        std::fs::write(&conf_path, conf).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&conf_path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(
            etc.join("pam.d/ahdapa-test"),
            "auth required pam_sss.so\naccount required pam_permit.so\n",
        )
        .unwrap();
        let nsswitch = std::fs::read_to_string(etc.join("nsswitch.conf")).unwrap_or_default();
        let fixed: String = nsswitch
            .lines()
            .map(|l| {
                if (l.starts_with("passwd:") || l.starts_with("group:")) && !l.contains("sss") {
                    format!("{l} sss\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(etc.join("nsswitch.conf"), fixed).unwrap();
        // oidc_child under sssd_be trusts the system store only.
        let ca = root.join("usr/local/share/ca-certificates/ahdapa-test-ca.crt");
        std::fs::create_dir_all(ca.parent().unwrap()).unwrap();
        std::fs::copy(&pki().ca, &ca).unwrap();
        let up = Command::new("chroot")
            .arg(root)
            .args(["update-ca-certificates", "--fresh"])
            .output()
            .unwrap();
        assert!(
            up.status.success(),
            "{}",
            String::from_utf8_lossy(&up.stderr)
        );
        for d in ["var/lib/sss/db", "var/lib/sss/mc", "var/log/sssd"] {
            let p = root.join(d);
            if let Ok(entries) = std::fs::read_dir(&p) {
                for e in entries.flatten() {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        for stale in [
            "var/lib/sss/pipes/nss",
            "var/lib/sss/pipes/pam",
            "run/sssd.pid",
        ] {
            let _ = std::fs::remove_file(root.join(stale));
        }
        let child = Command::new("chroot")
            .arg(root)
            .args(["/usr/sbin/sssd", "-i", "-d", "6", "--logger=files"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chroot sssd");
        let d = Self {
            root: root.to_owned(),
            child,
        };
        for _ in 0..120 {
            if root.join("var/lib/sss/pipes/pam").exists()
                && root.join("var/lib/sss/pipes/nss").exists()
            {
                std::thread::sleep(std::time::Duration::from_millis(500));
                return d;
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        panic!("sssd did not start:\n{}", d.logs());
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        if let Ok(entries) = std::fs::read_dir(self.root.join("var/log/sssd")) {
            for e in entries.flatten() {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(60).collect();
                out.push_str(&format!("--- {}\n", e.path().display()));
                for l in tail.into_iter().rev() {
                    out.push_str(l);
                    out.push('\n');
                }
            }
        }
        out
    }
}

impl Drop for SssdDaemon {
    fn drop(&mut self) {
        let pid = self.child.id();
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        for _ in 0..40 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // sssd's own children (sssd_be, sssd_nss, sssd_pam) in this root.
        if let Ok(procs) = std::fs::read_dir("/proc") {
            for p in procs.flatten() {
                let in_root =
                    std::fs::read_link(p.path().join("root")).is_ok_and(|r| r == self.root);
                let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
                if in_root && comm.starts_with("sssd") {
                    let _ = Command::new("kill")
                        .args(["-KILL", &p.file_name().to_string_lossy()])
                        .status();
                }
            }
        }
    }
}
