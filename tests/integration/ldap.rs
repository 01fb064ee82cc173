//! A throwaway OpenLDAP slapd with a FreeIPA-like tree (`tests/fixtures/ldap`), on
//! loopback with StartTLS and ldaps (the test PKI's localhost certificate), and SASL/GSSAPI
//! binds against the test realm (`ldap/localhost`; `HTTP/localhost` maps to the idp
//! system account).
//!
//! [`shared`] is started once per test binary under a shell reaper (statics are never
//! dropped) and must not be stopped; a test that takes the directory down starts its own
//! [`Slapd`], which is killed by PID on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::harness::{free_port, pki};
use crate::kdc::{REALM, realm};

pub const BASE_DN: &str = "dc=test,dc=realm";
pub const BIND_DN: &str = "uid=idp,cn=sysaccounts,cn=etc,dc=test,dc=realm";
pub const BIND_PASSWORD: &str = "idp-bind-secret";

pub struct Slapd {
    pub dir: PathBuf,
    /// `ldap://127.0.0.1:PORT` (StartTLS) and the same as `ldap://localhost:PORT`.
    pub port: u16,
    /// `ldaps://127.0.0.1:PORT`.
    pub ldaps_port: u16,
    child: Option<Child>,
    /// Keeps the directory of an owned instance; `None` for the shared one (its reaper
    /// removes it).
    _tmp: Option<tempfile::TempDir>,
}

/// The shared directory for tests that only read it.
pub fn shared() -> &'static Slapd {
    static SLAPD: OnceLock<Slapd> = OnceLock::new();
    SLAPD.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("ahdapa-slapd-")
            .tempdir()
            .unwrap()
            .keep();
        let s = Slapd::prepare(dir, None);
        let script = format!(
            "{} & pid=$!\nwhile kill -0 {parent} 2>/dev/null; do sleep 0.2; done\n\
             kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf '{d}'\n",
            s.slapd_command_line(),
            parent = std::process::id(),
            d = s.dir.display()
        );
        let reaper = Command::new("sh")
            .args(["-c", &script])
            .envs(realm().env())
            .env("KRB5_KTNAME", s.dir.join("ldap.keytab"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh");
        // The reaper outlives this process on purpose; it is never waited for.
        std::mem::forget(reaper);
        s.wait_up();
        s.load_data();
        s
    })
}

impl Slapd {
    /// A directory of this test's own (loaded with the fixture data).
    pub fn start_owned() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = Self::prepare(tmp.path().to_owned(), Some(tmp));
        s.spawn();
        s.load_data();
        s
    }

    fn prepare(dir: PathBuf, tmp: Option<tempfile::TempDir>) -> Self {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ldap");
        std::fs::create_dir_all(dir.join("db")).unwrap();
        // slapd's keytab: ldap/localhost, exported once per instance.
        let keytab = dir.join("ldap.keytab");
        let r = realm();
        static LDAP_PRINCIPAL: OnceLock<()> = OnceLock::new();
        LDAP_PRINCIPAL.get_or_init(|| {
            r.kadmin(&format!("addprinc -randkey ldap/localhost@{REALM}\n"));
        });
        r.kadmin(&format!(
            "ktadd -k {} -norandkey ldap/localhost@{REALM}\n",
            keytab.display()
        ));
        let p = pki();
        let schema = fixtures.join("schema");
        // Debian's layout, else Fedora's.
        let (system_schema, modules) = if Path::new("/etc/ldap/schema").exists() {
            ("/etc/ldap/schema", "/usr/lib/ldap")
        } else {
            ("/etc/openldap/schema", "/usr/lib64/openldap")
        };
        let conf = format!(
            "include {system_schema}/core.schema\n\
             include {system_schema}/cosine.schema\n\
             include {system_schema}/inetorgperson.schema\n\
             include {s}/nis-rfc2307bis.schema\n\
             include {s}/kerberos-subset.schema\n\
             include {s}/freeipa-subset.schema\n\
             pidfile {d}/slapd.pid\nargsfile {d}/slapd.args\n\
             modulepath {modules}\nmoduleload back_mdb\nmoduleload memberof\n\
             loglevel none\n\
             TLSCACertificateFile {ca}\nTLSCertificateFile {cert}\nTLSCertificateKeyFile {key}\n\
             sasl-host localhost\nsasl-realm {REALM}\n\
             sasl-secprops noanonymous,noplain,minssf=0\n\
             authz-regexp \"^uid=http/localhost(,cn=test\\.realm)?,cn=gssapi,cn=auth$\" \"{bind}\"\n\
             database mdb\nmaxsize 104857600\nsuffix \"{BASE_DN}\"\n\
             rootdn \"cn=Directory Manager,{BASE_DN}\"\nrootpw dm-secret\n\
             directory {d}/db\n\
             index objectClass eq\nindex uid,fqdn,krbPrincipalName,member,cn eq\n\
             overlay memberof\nmemberof-group-oc groupOfNames\nmemberof-member-ad member\n\
             memberof-memberof-ad memberOf\nmemberof-refint true\n\
             access to attrs=userPassword by self =xw by anonymous auth by * none\n\
             access to * by dn.exact=\"{bind}\" read by users read by * none\n",
            s = schema.display(),
            d = dir.display(),
            ca = p.ca.display(),
            cert = p.cert.display(),
            key = p.key.display(),
            bind = BIND_DN,
        );
        std::fs::write(dir.join("slapd.conf"), conf).unwrap();
        Self {
            dir,
            port: free_port(),
            ldaps_port: free_port(),
            child: None,
            _tmp: tmp,
        }
    }

    fn slapd_command_line(&self) -> String {
        format!(
            "slapd -f '{d}/slapd.conf' -h 'ldap://127.0.0.1:{p}/ ldaps://127.0.0.1:{s}/' -d 0 >>'{d}/slapd.out' 2>&1",
            d = self.dir.display(),
            p = self.port,
            s = self.ldaps_port
        )
    }

    /// Starts (or restarts) slapd on the same ports and database.
    pub fn spawn(&mut self) {
        let child = Command::new("slapd")
            .args(["-f", &self.dir.join("slapd.conf").display().to_string()])
            .args([
                "-h",
                &format!(
                    "ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{}/",
                    self.port, self.ldaps_port
                ),
            ])
            .args(["-d", "0"])
            .envs(realm().env())
            .env("KRB5_KTNAME", self.dir.join("ldap.keytab"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("slapd must be installed (slapd)");
        self.child = Some(child);
        self.wait_up();
    }

    /// Kills slapd (by PID) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn wait_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = Command::new("ldapsearch")
                .args([
                    "-x",
                    "-H",
                    &self.url(),
                    "-s",
                    "base",
                    "-b",
                    "",
                    "namingContexts",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("ldapsearch must be installed (ldap-utils)")
                .success();
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "slapd did not come up: {}",
                std::fs::read_to_string(self.dir.join("slapd.out")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn load_data(&self) {
        let ldif = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ldap/data.ldif");
        let out = Command::new("ldapadd")
            .args(["-x", "-H", &self.url(), "-D"])
            .arg(format!("cn=Directory Manager,{BASE_DN}"))
            .args(["-w", "dm-secret", "-f"])
            .arg(&ldif)
            .output()
            .expect("ldapadd (ldap-utils)");
        assert!(
            out.status.success(),
            "ldapadd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// Applies an LDIF change as the directory manager.
    pub fn modify(&self, ldif: &str) {
        use std::io::Write;
        let mut child = Command::new("ldapmodify")
            .args(["-x", "-H", &self.url(), "-D"])
            .arg(format!("cn=Directory Manager,{BASE_DN}"))
            .args(["-w", "dm-secret"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ldapmodify (ldap-utils)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ldif.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "ldapmodify: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A `[directory]` section with a simple bind over StartTLS (the password in a file
    /// under `dir`), and `extra` lines appended inside the section.
    pub fn config(&self, dir: &Path, extra: &str) -> String {
        let pw = dir.join("ldap-password");
        std::fs::write(&pw, format!("{BIND_PASSWORD}\n")).unwrap();
        format!(
            "[directory]\nuris = [\"ldap://127.0.0.1:{}\"]\nbase_dn = \"{BASE_DN}\"\n\
             bind = \"simple\"\nbind_dn = \"{BIND_DN}\"\nbind_password_file = \"{}\"\n\
             ca_file = \"{}\"\n{extra}\n",
            self.port,
            pw.display(),
            pki().ca.display()
        )
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}
