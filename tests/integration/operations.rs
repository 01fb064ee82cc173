//! Running under systemd: `Type=notify` messages, and the unit's hardening score.

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;

use crate::harness::{Options, Server, curl};

fn recv(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = sock
        .recv(&mut buf)
        .expect("a notification within the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn notifies_ready_after_listening_and_stopping_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut s = Server::start(Options {
        env: vec![("NOTIFY_SOCKET", path.display().to_string())],
        ..Default::default()
    });
    let ready = recv(&sock);
    assert!(ready.contains("READY=1"), "{ready}");
    assert!(ready.contains("STATUS=serving"), "{ready}");
    assert!(
        s.log_text().contains("listening on"),
        "READY only after the listener is bound"
    );
    let status = s.stop();
    assert!(status.success());
    let stopping = recv(&sock);
    assert!(stopping.contains("STOPPING=1"), "{stopping}");
}

#[test]
fn shipped_unit_is_hardened() {
    let unit = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/ahdapa.service");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze must be installed (package systemd)");
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for ahdapa.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no exposure level in:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(score <= 2.0, "exposure {score} > 2.0:\n{text}");
}

#[test]
fn metrics_listener_counts_tokens_and_refusals() {
    let port = crate::harness::free_port();
    let (secret, table) = crate::harness::secret_client("m-svc", "");
    let s = Server::start_tls(&format!(
        "[metrics]\nlisten = \"127.0.0.1:{port}\"\n{table}"
    ));
    let ok = crate::harness::curl(
        &s.base_url,
        &[
            "-u",
            &format!("m-svc:{secret}"),
            "-d",
            "grant_type=client_credentials",
        ],
        "/token",
    );
    assert_eq!(ok.status, 200);
    let bad = crate::harness::curl(
        &s.base_url,
        &["-u", "m-svc:wrong", "-d", "grant_type=client_credentials"],
        "/token",
    );
    assert_eq!(bad.status, 401);
    let out = Command::new("curl")
        .args(["-sS", &format!("http://127.0.0.1:{port}/metrics")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // An independent parser of the text format (prometheus_client) reads every family.
    let parsed = Command::new(crate::harness::python())
        .args([
            "-c",
            "import sys\nfrom prometheus_client.parser import text_string_to_metric_families as p\n\
             for f in p(sys.stdin.read()):\n    print(f.name, f.type, len(f.samples))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
            c.wait_with_output().unwrap()
        })
        .expect("python3 with prometheus_client (python3-prometheus-client)");
    assert!(
        parsed.status.success(),
        "prometheus_client refused the exposition: {}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let families = String::from_utf8_lossy(&parsed.stdout);
    for family in [
        "ahdapa_http_requests counter",
        "ahdapa_tokens_issued counter",
        "ahdapa_token_request_duration_seconds histogram",
        "ahdapa_clients gauge",
        "ahdapa_store_request_duration_seconds histogram",
        "ahdapa_replays_refused counter",
    ] {
        assert!(families.contains(family), "{family} not parsed: {families}");
    }
    for line in [
        "ahdapa_tokens_issued_total{method=\"client_secret_basic\"} 1",
        "ahdapa_token_refusals_total{error=\"invalid_client\"} 1",
        "ahdapa_http_requests_total{endpoint=\"token\",status=\"2xx\"} 1",
        "ahdapa_http_requests_total{endpoint=\"token\",status=\"4xx\"} 1",
        "ahdapa_token_request_duration_seconds_count 2",
        "ahdapa_clients 1",
        "ahdapa_published_keys 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    // The metrics listener serves nothing else, and the main listener has no /metrics.
    let other = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://127.0.0.1:{port}/token"),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&other.stdout), "404");
    assert_eq!(
        crate::harness::curl(&s.base_url, &[], "/metrics").status,
        404
    );
}

/// SIGHUP reloads the config file: a client added there works without a restart, a new
/// TLS certificate is served to new connections, and a broken file is refused with its
/// mistakes logged while the previous config keeps serving.
#[test]
fn sighup_reloads_clients_and_certificates_and_refuses_a_broken_config() {
    let (secret, table) = crate::harness::secret_client("before-hup", "");
    let mut s = Server::start_tls(&table);
    let base = s.base_url.clone();
    let token = |id: &str, secret: &str| {
        curl(
            &base,
            &[
                "-u",
                &format!("{id}:{secret}"),
                "-d",
                "grant_type=client_credentials",
            ],
            "/token",
        )
        .status
    };
    assert_eq!(token("before-hup", &secret), 200);
    let original = std::fs::read_to_string(&s.config).unwrap();

    // A good change: one more client, and a new server certificate from the same CA.
    let (secret2, table2) = crate::harness::secret_client("after-hup", "");
    let p = crate::harness::pki();
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("new.key"), dir.path().join("new.pem"));
    let run = |args: &[&str]| crate::harness::openssl(dir.path(), args);
    std::fs::write(
        dir.path().join("ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    run(&[
        "req",
        "-new",
        "-nodes",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-subj",
        "/CN=reloaded",
        "-keyout",
        "new.key",
        "-out",
        "new.csr",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "new.csr",
        "-CA",
        &p.ca.display().to_string(),
        "-CAkey",
        &p.dir.join("ca.key").display().to_string(),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext",
        "-out",
        "new.pem",
    ]);
    let changed = original
        .replace(&p.cert.display().to_string(), &cert.display().to_string())
        .replace(&p.key.display().to_string(), &key.display().to_string());
    std::fs::write(&s.config, format!("{changed}\n{table2}")).unwrap();
    s.signal("-HUP");
    s.wait_for_log("configuration reloaded", 1);
    assert_eq!(token("after-hup", &secret2), 200, "{}", s.log_text());
    assert_eq!(token("before-hup", &secret), 200);
    let subject = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {} -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -subject",
            s.base_url.trim_start_matches("https://").replace("localhost", "127.0.0.1")
        ))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&subject.stdout).contains("reloaded"),
        "the new certificate is not served: {}",
        String::from_utf8_lossy(&subject.stdout)
    );

    // A broken change: refused, logged by key path, the running config keeps serving.
    std::fs::write(
        &s.config,
        format!("{changed}\n{table2}\n[tokens]\nlifetime_secs = 0\n"),
    )
    .unwrap();
    s.signal("-HUP");
    s.wait_for_log("reload refused", 1);
    assert!(
        s.log_text().contains("tokens.lifetime_secs"),
        "{}",
        s.log_text()
    );
    assert!(s.running());
    assert_eq!(token("after-hup", &secret2), 200);
}

/// Started by systemd (JOURNAL_STREAM names its stderr), ahdapa logs to the journal with
/// AHDAPA_* fields. A private mount namespace puts a socket of ours at
/// /run/systemd/journal/socket, and the datagrams are parsed (journal native protocol).
#[test]
fn journal_events_carry_ahdapa_fields() {
    use std::os::unix::fs::MetadataExt;
    let (secret, table) = crate::harness::secret_client("journal-client", "");
    let mut s = Server::start_tls(&table);
    s.stop();
    let jdir = tempfile::tempdir().unwrap();
    let sock = UnixDatagram::bind(jdir.path().join("socket")).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let stderr_path = s.dir.path().join("journal-stderr");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let meta = std::fs::metadata(&stderr_path).unwrap();
    let created_run_dir = !std::path::Path::new("/run/systemd/journal").exists();
    let script = format!(
        "mkdir -p /run/systemd/journal && mount --bind '{}' /run/systemd/journal && exec '{}' --config '{}' serve",
        jdir.path().display(),
        crate::harness::BIN,
        s.config.display()
    );
    let child = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .env_remove("NOTIFY_SOCKET")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("unshare (util-linux)");
    // Killed (by PID) however the test ends.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _child = Kill(child);
    let mut buf = vec![0u8; 65536];
    let mut next = || -> Vec<(String, String)> {
        match sock.recv(&mut buf) {
            Ok(n) => journal_fields(&buf[..n]),
            Err(e) => panic!(
                "no journal datagram ({e}); stderr: {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            ),
        }
    };
    let field =
        |e: &[(String, String)], k: &str| e.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    loop {
        let e = next();
        if field(&e, "MESSAGE").is_some_and(|m| m.contains("listening on")) {
            break;
        }
    }
    let ok = curl(
        &s.base_url,
        &[
            "-u",
            &format!("journal-client:{secret}"),
            "-d",
            "grant_type=client_credentials",
        ],
        "/token",
    );
    assert_eq!(ok.status, 200);
    let bad = curl(
        &s.base_url,
        &[
            "-u",
            "journal-client:XyzzyNotTheSecret42",
            "-d",
            "grant_type=client_credentials",
        ],
        "/token",
    );
    assert_eq!(bad.status, 401);
    let mut issued = None;
    let mut refused = None;
    while issued.is_none() || refused.is_none() {
        let e = next();
        let flat: String = e.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        match field(&e, "AHDAPA_OUTCOME").as_deref() {
            Some("issued") => issued = Some(flat),
            Some("refused") => refused = Some(flat),
            _ => {}
        }
    }
    drop(_child);
    if created_run_dir {
        let _ = std::fs::remove_dir("/run/systemd/journal");
    }
    let issued = issued.unwrap();
    for field in [
        "AHDAPA_CLIENT_ID=journal-client",
        "AHDAPA_SUBJECT=journal-client",
        "AHDAPA_AUTH_METHOD=client_secret_basic",
        "AHDAPA_SCOPE=s",
        "AHDAPA_JTI=",
        "AHDAPA_REQUEST_ID=",
        "SYSLOG_IDENTIFIER=ahdapa",
        "PRIORITY=5",
    ] {
        assert!(issued.contains(field), "{field} missing in {issued:?}");
    }
    let jti = crate::harness::claims(ok.json()["access_token"].as_str().unwrap())["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(issued.contains(&format!("AHDAPA_JTI={jti}")));
    let request_id = ok
        .headers
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .unwrap()
        .trim()
        .to_owned();
    assert!(
        issued.contains(&format!("AHDAPA_REQUEST_ID={request_id}")),
        "{issued}"
    );
    let refused = refused.unwrap();
    for field in [
        "AHDAPA_CLIENT_ID=journal-client",
        "AHDAPA_ERROR=invalid_client",
        "AHDAPA_REASON=",
        "AHDAPA_REQUEST_ID=",
    ] {
        assert!(refused.contains(field), "{field} missing in {refused:?}");
    }
    assert!(
        !refused.contains("XyzzyNotTheSecret42"),
        "a presented secret reached the journal"
    );
    assert!(!issued.contains(&secret));
}

/// Fields of one journal native-protocol datagram: `NAME=value\n`, or `NAME\n`, a
/// 64-bit little-endian length, the value and `\n`.
fn journal_fields(mut d: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while !d.is_empty() {
        let end = d.iter().position(|b| *b == b'\n' || *b == b'=').unwrap();
        let name = String::from_utf8_lossy(&d[..end]).into_owned();
        if d[end] == b'=' {
            let rest = &d[end + 1..];
            let nl = rest.iter().position(|b| *b == b'\n').unwrap();
            out.push((name, String::from_utf8_lossy(&rest[..nl]).into_owned()));
            d = &rest[nl + 1..];
        } else {
            let len = u64::from_le_bytes(d[end + 1..end + 9].try_into().unwrap()) as usize;
            let value = &d[end + 9..end + 9 + len];
            out.push((name, String::from_utf8_lossy(value).into_owned()));
            d = &d[end + 9 + len + 1..];
        }
    }
    out
}

/// SIGTERM during a burst of requests still being sent: every request already accepted
/// is answered (200) before the process exits, and new connections are refused.
#[test]
fn sigterm_answers_every_accepted_request() {
    let (secret, table) = crate::harness::secret_client("drain-svc", "");
    let mut s = Server::start_tls(&table);
    // Bodies of ~3 kB sent at 1 kB/s: each request is in flight for about 3 s.
    let body = format!("grant_type=client_credentials&pad={}", "x".repeat(3000));
    let ca = crate::harness::pki().ca.clone();
    let workers: Vec<_> = (0..12)
        .map(|_| {
            let (url, body, secret, ca) = (
                format!("{}/token", s.base_url),
                body.clone(),
                secret.clone(),
                ca.clone(),
            );
            std::thread::spawn(move || {
                Command::new("curl")
                    .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
                    .arg(&ca)
                    .args(["--limit-rate", "1000", "-u", &format!("drain-svc:{secret}")])
                    .args(["--data-binary", &body, &url])
                    .output()
                    .unwrap()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    let started = std::time::Instant::now();
    let status = s.stop();
    assert!(status.success(), "exit status {status}");
    for w in workers {
        let out = w.join().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "200",
            "an in-flight request was not answered: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "exited before draining"
    );
    let after = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "--max-time", "5", "-k"])
        .arg(format!("{}/healthz", s.base_url))
        .output()
        .unwrap();
    assert_eq!(
        after.status.code(),
        Some(7),
        "new connections are refused after shutdown"
    );
}

/// The unit's `ExecReload=` as systemd runs it: it must need nothing the package does not
/// depend on (a minimal Debian has no /bin/kill), and it must reload the server.
#[test]
fn the_units_reload_command_waits_for_the_reload_and_fails_when_refused() {
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/ahdapa.service"),
    )
    .unwrap();
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecReload="))
        .expect("the unit has ExecReload=");
    let mut words = line.split(' ');
    assert_eq!(
        words.next(),
        Some("/usr/bin/ahdapa"),
        "ExecReload runs a program a minimal system may lack: {line}"
    );
    assert!(
        unit.lines().any(|l| l == "RuntimeDirectory=ahdapa"),
        "ahdapa reload learns the outcome through the runtime directory"
    );
    // As systemd runs it: $MAINPID substituted, $RUNTIME_DIRECTORY shared with the
    // server, no PATH to find a kill program with.
    let runtime = tempfile::tempdir().unwrap();
    let runtime_env = runtime.path().display().to_string();
    let mut s = Server::start(Options {
        env: vec![("RUNTIME_DIRECTORY", runtime_env.clone())],
        ..Default::default()
    });
    let pid = s.pid().to_string();
    let args: Vec<String> = words.map(|w| w.replace("$MAINPID", &pid)).collect();
    let reload = || {
        Command::new(crate::harness::BIN)
            .env_clear()
            .env("RUNTIME_DIRECTORY", &runtime_env)
            .args(&args)
            .output()
            .unwrap()
    };
    // It returns once the server has reloaded: the log line is already there.
    let before = s.log_text().matches("configuration reloaded").count();
    let out = reload();
    assert!(
        out.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "reloaded");
    assert_eq!(
        s.log_text().matches("configuration reloaded").count(),
        before + 1,
        "ahdapa reload returned before the reload was done"
    );
    // A broken config: the reload fails (so `systemctl reload` does), the server serves on.
    let good = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(&s.config, format!("{good}\n[[clients]]\nclient_id = 7\n")).unwrap();
    let out = reload();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("reload refused"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(s.running());
    std::fs::write(&s.config, good).unwrap();
    assert!(reload().status.success());
}

#[test]
fn socket_activation_serves_on_systemds_sockets_instead_of_server_listen() {
    // A config as usual (server.listen, metrics.listen), its own server stopped so that
    // systemd's tool can hold the same port.
    let (secret, client) = crate::harness::secret_client("sa1", "");
    let (config_metrics, socket_metrics) =
        (crate::harness::free_port(), crate::harness::free_port());
    let mut s = Server::start_tls(&format!(
        "[metrics]\nlisten = \"127.0.0.1:{config_metrics}\"\n{client}"
    ));
    s.stop();
    let port = s.base_url.rsplit(':').next().unwrap().to_owned();
    let log = s.dir.path().join("activated.log");
    // systemd-socket-activate binds, sets LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES and execs
    // ahdapa in its own process, as systemd does for ahdapa.socket.
    // It binds, waits for the first connection, then sets LISTEN_FDS, LISTEN_PID and
    // LISTEN_FDNAMES and execs ahdapa in its own process, as systemd does for
    // ahdapa.socket.
    struct Stopped(std::process::Child);
    impl Drop for Stopped {
        fn drop(&mut self) {
            let _ = Command::new("kill")
                .args(["-TERM", &self.0.id().to_string()])
                .status();
            let _ = self.0.wait();
        }
    }
    let child = Stopped(
        Command::new("systemd-socket-activate")
            .args([
                "-l",
                &format!("127.0.0.1:{port}"),
                "-l",
                &format!("127.0.0.1:{socket_metrics}"),
                "--fdname=https:metrics",
                crate::harness::BIN,
                "--config",
            ])
            .arg(&s.config)
            .arg("serve")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("systemd-socket-activate (the systemd package) must be installed"),
    );
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    // The first request starts ahdapa, which takes the connection waiting on the socket.
    let r = curl(
        &s.base_url,
        &[
            "-u",
            &format!("sa1:{secret}"),
            "-d",
            "grant_type=client_credentials",
        ],
        "/token",
    );
    let metrics = curl(
        &format!("http://127.0.0.1:{socket_metrics}"),
        &[],
        "/metrics",
    );
    let unbound = curl(
        &format!("http://127.0.0.1:{config_metrics}"),
        &[],
        "/metrics",
    );
    drop(child);
    assert_eq!(r.status, 200, "{}\n{}", r.body, text());
    assert!(text().contains("socket activation"), "{}", text());
    assert_eq!(metrics.status, 200, "{}", text());
    assert!(
        metrics.body.contains("ahdapa_tokens_issued_total"),
        "{}",
        metrics.body
    );
    assert_eq!(
        unbound.status, 0,
        "metrics.listen is not bound when systemd passes a metrics socket"
    );
}
