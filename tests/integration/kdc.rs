//! A throwaway MIT Kerberos realm on loopback (TEST.REALM), started once per test binary.
//!
//! The KDC runs under a small shell reaper that kills it (by PID) and removes the realm
//! directory as soon as this test process is gone, since statics are never dropped.
//! Tests add their own principals ([`Realm::add_hosts`]) so they do not depend on each
//! other. Every Kerberos tool and child gets `KRB5_CONFIG`/`KRB5_KDC_PROFILE` from
//! [`Realm::env`]: the package default /etc/krb5.conf points at another realm.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::harness::free_port;

pub const REALM: &str = "TEST.REALM";
/// The acceptor's clock skew, small so that the expired-ticket test waits seconds, not minutes.
pub const CLOCK_SKEW_SECS: u64 = 2;

pub struct Realm {
    pub dir: PathBuf,
    pub krb5_conf: PathBuf,
    kdc_conf: PathBuf,
    /// Keytab with HTTP/localhost@TEST.REALM (ahdapa's service principal in tests).
    pub http_keytab: PathBuf,
    /// The shell that owns krb5kdc; it outlives this process on purpose (see above).
    _reaper: Option<std::process::Child>,
}

pub fn realm() -> &'static Realm {
    static REALM_: OnceLock<Realm> = OnceLock::new();
    REALM_.get_or_init(start)
}

fn start() -> Realm {
    let dir = tempfile::Builder::new()
        .prefix("ahdapa-kdc-")
        .tempdir()
        .unwrap()
        .keep();
    let port = free_port();
    let krb5_conf = dir.join("krb5.conf");
    let kdc_conf = dir.join("kdc.conf");
    std::fs::write(
        &krb5_conf,
        format!(
            "[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = false\n dns_lookup_realm = false\n\
             dns_canonicalize_hostname = false\n rdns = false\n udp_preference_limit = 1\n\
             clockskew = {CLOCK_SKEW_SECS}\n kdc_timesync = 0\n\
             [realms]\n {REALM} = {{\n  kdc = 127.0.0.1:{port}\n }}\n\
             [domain_realm]\n localhost = {REALM}\n .test.realm = {REALM}\n .other.realm = {REALM}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        &kdc_conf,
        format!(
            "[kdcdefaults]\n kdc_listen = 127.0.0.1:{port}\n kdc_tcp_listen = 127.0.0.1:{port}\n\
             [realms]\n {REALM} = {{\n  database_name = {d}/principal\n  key_stash_file = {d}/stash\n\
             acl_file = {d}/kadm5.acl\n  kdc_listen = 127.0.0.1:{port}\n  kdc_tcp_listen = 127.0.0.1:{port}\n\
             max_life = 10h 0m 0s\n  master_key_type = aes256-cts-hmac-sha1-96\n\
             supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n }}\n\
             [logging]\n kdc = FILE:{d}/kdc.log\n default = FILE:{d}/krb5lib.log\n",
            d = dir.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("kadm5.acl"), format!("*/admin@{REALM} *\n")).unwrap();
    let mut realm = Realm {
        http_keytab: dir.join("http.keytab"),
        dir,
        krb5_conf,
        kdc_conf,
        _reaper: None,
    };

    let out = realm
        .command("kdb5_util")
        .args(["create", "-s", "-r", REALM, "-P", "master-pw-not-secret"])
        .output()
        .expect("kdb5_util must be installed (krb5-kdc)");
    assert!(
        out.status.success(),
        "kdb5_util: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The reaper: runs krb5kdc in the foreground-less mode, kills it by PID and removes
    // the realm once this test process has exited.
    let script = format!(
        "krb5kdc -n -r {REALM} >'{d}/krb5kdc.out' 2>&1 & kdc=$!\n\
         while kill -0 {parent} 2>/dev/null; do sleep 0.2; done\n\
         kill $kdc 2>/dev/null; wait $kdc 2>/dev/null; rm -rf '{d}'\n",
        d = realm.dir.display(),
        parent = std::process::id()
    );
    let reaper = realm
        .command("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh");
    realm._reaper = Some(reaper);

    realm.kadmin(&format!(
        "addprinc -randkey HTTP/localhost@{REALM}\nktadd -k {} HTTP/localhost@{REALM}\n",
        realm.http_keytab.display()
    ));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "krb5kdc did not listen: {}",
            realm.read("krb5kdc.out")
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    realm
}

impl Realm {
    /// The environment every Kerberos child process gets.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("KRB5_CONFIG", self.krb5_conf.display().to_string()),
            ("KRB5_KDC_PROFILE", self.kdc_conf.display().to_string()),
            ("KRB5RCACHEDIR", self.dir.display().to_string()),
        ]
    }

    /// A command with the realm's environment.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.envs(self.env());
        c
    }

    /// Runs kadmin.local with `script` on stdin (one process for many commands).
    pub fn kadmin(&self, script: &str) {
        use std::io::Write;
        let mut child = self
            .command("kadmin.local")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kadmin.local must be installed (krb5-admin-server)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !text.contains("error"),
            "kadmin.local: {text}"
        );
    }

    /// Creates `host/<fqdn>@TEST.REALM` for each name and returns each keytab path.
    pub fn add_hosts(&self, fqdns: &[&str]) -> Vec<PathBuf> {
        let mut script = String::new();
        let mut keytabs = Vec::new();
        for f in fqdns {
            let kt = self.dir.join(format!("host-{f}.keytab"));
            script.push_str(&format!(
                "addprinc -randkey host/{f}@{REALM}\nktadd -k {} host/{f}@{REALM}\n",
                kt.display()
            ));
            keytabs.push(kt);
        }
        self.kadmin(&script);
        keytabs
    }

    /// Creates a service principal in its own keytab.
    pub fn add_service(&self, principal: &str) -> PathBuf {
        let kt = self
            .dir
            .join(format!("svc-{}.keytab", principal.replace(['/', '@'], "_")));
        self.kadmin(&format!(
            "addprinc -randkey {principal}\nktadd -k {} {principal}\n",
            kt.display()
        ));
        kt
    }

    /// A user principal `name@TEST.REALM` with its own keytab, created once per binary
    /// however many tests ask for it.
    pub fn user(&self, name: &str) -> PathBuf {
        use std::collections::HashMap;
        use std::sync::Mutex;
        static USERS: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
        let mut users = USERS
            .get_or_init(|| Mutex::new(HashMap::new()))
            .lock()
            .unwrap();
        users
            .entry(name.to_owned())
            .or_insert_with(|| self.add_service(&format!("{name}@{REALM}")))
            .clone()
    }

    /// A person `name@TEST.REALM` with a password (no keytab), as FreeIPA makes them.
    pub fn person(&self, name: &str, password: &str) -> String {
        // +requires_preauth as in FreeIPA: the KDC checks the password itself (and so
        // counts failures for its lockout policy).
        self.kadmin(&format!(
            "addprinc +requires_preauth -pw {password} {name}@{REALM}\n"
        ));
        format!("{name}@{REALM}")
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).unwrap_or_default()
    }
}

/// A Kerberos client: a host principal with its keytab and a private credential cache.
pub struct Host {
    pub principal: String,
    pub keytab: PathBuf,
    pub ccache: PathBuf,
    _dir: tempfile::TempDir,
}

impl Host {
    pub fn new(fqdn: &str, keytab: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self {
            principal: format!("host/{fqdn}@{REALM}"),
            keytab: keytab.to_owned(),
            ccache: dir.path().join("ccache"),
            _dir: dir,
        }
    }

    /// A client with any principal (a user's, for instance) and its keytab.
    pub fn with_principal(principal: &str, keytab: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self {
            principal: principal.to_owned(),
            keytab: keytab.to_owned(),
            ccache: dir.path().join("ccache"),
            _dir: dir,
        }
    }

    /// A command with the realm's environment and this host's credential cache.
    pub fn command(&self, program: &str) -> Command {
        let mut c = realm().command(program);
        c.env("KRB5CCNAME", format!("FILE:{}", self.ccache.display()));
        c
    }

    /// `kinit -k -t KEYTAB host/...`, optionally with a ticket lifetime such as `"3s"`.
    pub fn kinit(&self, lifetime: Option<&str>) {
        let mut c = self.command("kinit");
        if let Some(l) = lifetime {
            c.args(["-l", l]);
        }
        let out = c
            .arg("-k")
            .arg("-t")
            .arg(&self.keytab)
            .arg(&self.principal)
            .output()
            .expect("kinit (krb5-user)");
        assert!(
            out.status.success(),
            "kinit {}: {}",
            self.principal,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A fresh SPNEGO Negotiate token (base64) for `service` (`HTTP@localhost`), made by
    /// python-gssapi from this host's credential cache.
    pub fn negotiate_token(&self, service: &str) -> String {
        self.token_with_mech(service, "1.3.6.1.5.5.2")
    }

    /// Like [`Host::negotiate_token`] with another mechanism OID (krb5: 1.2.840.113554.1.2.2).
    pub fn token_with_mech(&self, service: &str, mech: &str) -> String {
        const PY: &str = r#"
import base64, sys, gssapi
name = gssapi.Name(sys.argv[1], gssapi.NameType.hostbased_service)
mech = gssapi.OID.from_int_seq(sys.argv[2])
ctx = gssapi.SecurityContext(name=name, usage="initiate", mech=mech,
                             flags=[gssapi.RequirementFlag.mutual_authentication])
print(base64.b64encode(ctx.step()).decode())
"#;
        let out = self
            .command(&crate::harness::python())
            .args(["-c", PY, service, mech])
            .output()
            .expect("python3 with gssapi (python3-gssapi)");
        assert!(
            out.status.success(),
            "python-gssapi: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}
