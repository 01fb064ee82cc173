//! Starting and stopping real ahdapa processes, a throwaway PKI, and curl.

#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_ahdapa");
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A CA and a server certificate for localhost/127.0.0.1, made once per test binary.
pub struct Pki {
    _dir: tempfile::TempDir,
    /// Where the client certificates are: `<name>.pem` and `<name>.key` for node1, other,
    /// expired, selfsigned, unregistered, rogue.
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(d).output().expect("openssl must be installed");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        run(&["req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-days", "2",
            "-subj", "/CN=ahdapa test CA", "-keyout", "ca.key", "-out", "ca.pem",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        run(&["req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-subj", "/CN=localhost",
            "-keyout", "server.key", "-out", "server.csr"]);
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n",
        )
        .unwrap();
        run(&["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
            "-extfile", "server.ext", "-out", "server.pem"]);
        // Client certificates: node1 (CA-signed, DNS SAN), other (CA-signed, other SAN),
        // expired (CA-signed, already past notAfter), a self-signed one, a second
        // self-signed one nobody registers, and one from a rogue CA.
        let client = |name: &str, subj: &str, san: &str, days: &str, ca: Option<(&str, &str)>| {
            let ext = format!("{name}.ext");
            std::fs::write(
                d.join(&ext),
                format!("subjectAltName={san}\nextendedKeyUsage=clientAuth\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"),
            )
            .unwrap();
            let (key, csr, pem) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"));
            match ca {
                Some((ca_pem, ca_key)) => {
                    run(&["req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-subj", subj, "-keyout", &key, "-out", &csr]);
                    run(&["x509", "-req", "-in", &csr, "-CA", ca_pem, "-CAkey", ca_key, "-CAcreateserial", "-days", days, "-extfile", &ext, "-out", &pem]);
                }
                None => run(&["req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-days", days, "-subj", subj,
                    "-keyout", &key, "-out", &pem, "-addext", &format!("subjectAltName={san}")]),
            }
        };
        client("node1", "/O=TEST.REALM/CN=node1.test.realm", "DNS:node1.test.realm", "2", Some(("ca.pem", "ca.key")));
        client("other", "/O=TEST.REALM/CN=other.test.realm", "DNS:other.test.realm", "2", Some(("ca.pem", "ca.key")));
        // An expired certificate: `openssl ca` can set dates in the past, `x509 -req` cannot.
        std::fs::write(
            d.join("ca.cnf"),
            "[ca]\ndefault_ca = t\n[t]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n\
             default_md = sha256\npolicy = p\n[p]\ncommonName = supplied\norganizationName = optional\n",
        )
        .unwrap();
        std::fs::write(d.join("index.txt"), "").unwrap();
        std::fs::write(d.join("serial"), "1000\n").unwrap();
        std::fs::write(
            d.join("expired.ext"),
            "subjectAltName=DNS:node1.test.realm\nextendedKeyUsage=clientAuth\nbasicConstraints=critical,CA:FALSE\n",
        )
        .unwrap();
        run(&["req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-subj", "/O=TEST.REALM/CN=node1.test.realm",
            "-keyout", "expired.key", "-out", "expired.csr"]);
        run(&["ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in", "expired.csr", "-out", "expired.pem",
            "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-extfile", "expired.ext", "-notext"]);
        client("selfsigned", "/CN=ci-runner", "DNS:ci-runner.test.realm", "2", None);
        client("unregistered", "/CN=ci-runner", "DNS:ci-runner.test.realm", "2", None);
        run(&["req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-days", "2",
            "-subj", "/CN=Rogue CA", "-keyout", "rogue-ca.key", "-out", "rogue-ca.pem",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        client("rogue", "/O=TEST.REALM/CN=node1.test.realm", "DNS:node1.test.realm", "2", Some(("rogue-ca.pem", "rogue-ca.key")));
        Pki { ca: d.join("ca.pem"), cert: d.join("server.pem"), key: d.join("server.key"), dir: d.to_owned(), _dir: dir }
    })
}

/// A free loopback port (bound then released; the server binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One ahdapa process with its own config and state directory.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub base_url: String,
    child: Option<Child>,
    log: PathBuf,
    env: Vec<(&'static str, String)>,
}

/// How to start a server.
pub struct Options {
    /// TOML appended to the generated config (`@STATE@` is a private directory).
    pub extra: String,
    /// `keys.algorithm`.
    pub algorithm: String,
    /// Environment for the server process.
    pub env: Vec<(&'static str, String)>,
    /// A state directory shared with other servers (several nodes on one database).
    pub state_dir: Option<PathBuf>,
    /// Plain HTTP (`insecure_http`) with these `[tls]` keys (proxy settings).
    pub plain_http_tls: Option<String>,
    /// The issuer, when several nodes must share one (default: this node's URL).
    pub issuer: Option<String>,
    /// `store.postgres_url`: PostgreSQL instead of SQLite.
    pub postgres_url: Option<String>,
    /// Lines added to the `[server]` section.
    pub server_keys: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            extra: String::new(),
            algorithm: "ES256".into(),
            env: Vec::new(),
            state_dir: None,
            plain_http_tls: None,
            issuer: None,
            postgres_url: None,
            server_keys: String::new(),
        }
    }
}

impl Options {
    /// Negotiate on with the test realm; `extra` is appended.
    pub fn kerberos(extra: &str) -> Self {
        let realm = crate::kdc::realm();
        let kerberos = format!(
            "[kerberos]\nenabled = true\nkeytab = \"{}\"\nservice_principal = \"HTTP/localhost@{}\"\n\
             replay_cache = \"@STATE@/krb5.rcache\"\nclock_skew_secs = {}\n",
            realm.http_keytab.display(),
            crate::kdc::REALM,
            crate::kdc::CLOCK_SKEW_SECS
        );
        Self {
            extra: format!("{kerberos}{extra}"),
            env: realm.env(),
            ..Self::default()
        }
    }
}

impl Server {
    /// Writes a TLS config (issuer `https://localhost:PORT`) with `extra` appended and
    /// starts the server.
    pub fn start_tls(extra: &str) -> Self {
        Self::start(Options {
            extra: extra.into(),
            ..Options::default()
        })
    }

    /// Like [`Server::start_tls`] with `keys.algorithm` set.
    pub fn start_tls_with_keys(algorithm: &str) -> Self {
        Self::start(Options {
            algorithm: algorithm.into(),
            ..Options::default()
        })
    }

    /// A server with Negotiate on (the test realm's HTTP/localhost keytab) and `extra`
    /// appended to its config.
    pub fn start_kerberos(extra: &str) -> Self {
        Self::start(Options::kerberos(extra))
    }

    pub fn start(opts: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let p = pki();
        let state = opts
            .state_dir
            .clone()
            .unwrap_or_else(|| dir.path().join("state"));
        let algorithm = &opts.algorithm;
        let extra = opts
            .extra
            .replace("@STATE@", &dir.path().join("own").display().to_string());
        let (scheme, transport) = match &opts.plain_http_tls {
            // Plain HTTP behind a pretend proxy: [tls] carries only the given keys.
            Some(tls_keys) => (
                "http",
                format!(
                    "insecure_http = true\n[tls]\n{tls_keys}\nclient_ca_files = [\"{}\"]\n",
                    p.ca.display()
                ),
            ),
            None => (
                "https",
                format!(
                    "[tls]\ncertificate_file = \"{}\"\nprivate_key_file = \"{}\"\nclient_ca_files = [\"{}\"]\n",
                    p.cert.display(),
                    p.key.display(),
                    p.ca.display()
                ),
            ),
        };
        let issuer = opts
            .issuer
            .clone()
            .unwrap_or_else(|| format!("{scheme}://localhost:{port}"));
        let postgres = opts
            .postgres_url
            .as_ref()
            .map(|u| format!("postgres_url = \"{u}\"\npostgres_timeout_ms = 2000\n"))
            .unwrap_or_default();
        let text = format!(
            "issuer = \"{issuer}\"\n\
             [server]\nlisten = [\"127.0.0.1:{port}\"]\nrequest_timeout_secs = 5\n{server_keys}\
             {transport}\
             [store]\nsqlite_path = \"{}/ahdapa.db\"\n{postgres}\
             [keys]\nalgorithm = \"{algorithm}\"\nmaster_key_file = \"{}/master.key\"\n\
             [log]\nlevel = \"debug\"\n{extra}",
            state.display(),
            state.display(),
            server_keys = opts.server_keys,
        );
        let config = dir.path().join("ahdapa.toml");
        std::fs::write(&config, text).unwrap();
        let mut s = Self {
            base_url: format!("{scheme}://localhost:{port}"),
            config,
            child: None,
            log: dir.path().join("server.log"),
            env: opts.env,
            dir,
        };
        s.spawn();
        s
    }

    /// (Re)starts the process on the same config and waits until it listens.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(BIN)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .arg("--config")
            .arg(&self.config)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        let starts = self.log_text().matches("listening on").count();
        loop {
            let text = self.log_text();
            if text.matches("listening on").count() > starts {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("ahdapa exited with {status} before listening:\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "ahdapa did not listen within {START_DEADLINE:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process with SIGKILL (a crash) and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The process id of the running server.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("not running").id()
    }

    /// Sends a signal (`-HUP`, ...) to the running process.
    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("not running").id().to_string();
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// Waits until the log has `n` lines containing `needle`.
    pub fn wait_for_log(&self, needle: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.log_text().matches(needle).count() < n {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} (x{n}) in the log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("not running");
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "ahdapa did not stop within 20 s of SIGTERM:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the server logged so far.
    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Runs `ahdapa --config <this config> ARGS...`.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(BIN)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap()
    }

    /// Registers a store client with `ahdapa client add --local` and returns its secret.
    pub fn add_client(&self, id: &str, args: &[&str]) -> String {
        let mut all = vec!["client", "add", "--local", id];
        all.extend_from_slice(args);
        let out = self.cli(&all);
        assert!(
            out.status.success(),
            "client add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("client_secret = "))
            .map(str::to_owned)
            .unwrap_or_default()
    }

    /// Waits until the server has picked up store changes (its refresh period is 2 s).
    pub fn wait_for_client(&self, id: &str, secret: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = curl(
                &self.base_url,
                &[
                    "-u",
                    &format!("{id}:{secret}"),
                    "-d",
                    "grant_type=client_credentials",
                ],
                "/token",
            );
            if r.status == 200 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "client {id} not usable after 10 s: {} {}",
                r.status,
                r.body
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A curl response.
pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: String,
    /// curl's own complaints (connection errors and the like).
    pub stderr: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The `error_description` of a refusal, after checking its status and `error`.
    pub fn refusal(&self, status: u16, error: &str) -> String {
        assert_eq!(
            (self.status, self.json()["error"].as_str()),
            (status, Some(error)),
            "{}",
            self.body
        );
        self.json()["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Runs curl against `base + path` with the test CA trusted.
pub fn curl(base: &str, args: &[&str], path: &str) -> Reply {
    curl_with(Command::new("curl"), base, args, path)
}

/// Like [`curl`], with a prepared `curl` command (environment for Kerberos).
pub fn curl_with(mut cmd: Command, base: &str, args: &[&str], path: &str) -> Reply {
    let dir = tempfile::tempdir().unwrap();
    let headers = dir.path().join("h");
    let out = cmd
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(&pki().ca)
        .arg("-D")
        .arg(&headers)
        .args(["-w", "\n%{http_code}"])
        .args(args)
        .arg(format!("{base}{path}"))
        .output()
        .expect("curl must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    Reply {
        status: code
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("curl failed: {}", String::from_utf8_lossy(&out.stderr))),
        headers: std::fs::read_to_string(&headers).unwrap_or_default(),
        body: body.to_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs the `ahdapa` binary with `args`, `stdin` written to it when given, and waits.
pub fn ahdapa(args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// `ahdapa --config PATH check-config`: success, and stdout + stderr.
pub fn check_config(path: &Path) -> (bool, String) {
    let out = ahdapa(
        &["--config", &path.display().to_string(), "check-config"],
        None,
    );
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    (out.status.success(), text)
}

/// The python interpreter with PyJWT (the test command installs it).
pub fn python() -> String {
    std::env::var("AHDAPA_TEST_PYTHON").unwrap_or_else(|_| {
        if Path::new("/usr/bin/python3").exists() {
            "/usr/bin/python3".into()
        } else {
            "python3".into()
        }
    })
}

/// Runs `script` with [`python`] and `args`: its trimmed standard output, or its standard
/// error when it fails.
pub fn python_script(script: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 must be installed (the test command installs it)");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Claims of a JWT, decoded without verification (for assertions only).
pub fn claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).expect("JWT has three parts");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// Header of a JWT.
pub fn header(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let part = jwt.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// `ahdapa client generate-secret`: a new secret and its `client_secret_hash = "..."` line.
pub fn generate_secret() -> (String, String) {
    let out = Command::new(BIN)
        .args(["client", "generate-secret"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let secret = text
        .lines()
        .find_map(|l| l.strip_prefix("client_secret = "))
        .unwrap()
        .to_owned();
    let hash_line = text
        .lines()
        .find(|l| l.starts_with("client_secret_hash = "))
        .unwrap()
        .to_owned();
    (secret, hash_line)
}

/// A `[[clients]]` table for a client_secret_basic client with a fresh secret, plus `extra`
/// lines; returns the secret and the table.
pub fn secret_client(id: &str, extra: &str) -> (String, String) {
    let (secret, hash_line) = generate_secret();
    let table = format!(
        "[[clients]]\nclient_id = \"{id}\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\n{hash_line}\nscopes = [\"s\"]\n{extra}"
    );
    (secret, table)
}

/// Runs `openssl ARGS` in `dir`, which must succeed.
pub fn openssl(dir: &Path, args: &[&str]) {
    succeeded(
        &Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap(),
    );
}

/// Asserts that a finished command succeeded, showing its stderr when not.
pub fn succeeded(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
