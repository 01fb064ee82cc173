//! What a hostile client tries: connections that send nothing, log lines forged through
//! request fields, a secret smuggled into the log, registered URIs that point ahdapa at
//! its own network, and message framing RFC 9112 refuses.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::{Options, Server, curl, pki};

/// Reads and discards until the peer closes (EOF or a reset); the time that took, or
/// `None` when it was still open after `limit`.
fn closed_within(stream: &mut dyn Read, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if started.elapsed() >= limit {
                    return None;
                }
            }
            Err(_) => return Some(started.elapsed()),
        }
        if started.elapsed() >= limit {
            return None;
        }
    }
}

fn connect(s: &Server) -> TcpStream {
    let port = s
        .base_url
        .rsplit(':')
        .next()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    tcp
}

fn tls(s: &Server, alpn: &[&[u8]]) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut config = ahdapa::tls::client_config(Some(&pki().ca)).unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, connect(s));
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).unwrap();
    }
    stream
}

/// An HTTP/2 client preface and an empty SETTINGS frame (RFC 9113 §3.4).
const H2_PREFACE_AND_SETTINGS: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
/// An HTTP/2 PING frame (RFC 9113 §6.7).
const H2_PING: &[u8] = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00ahdapa!!";

#[test]
fn connections_that_send_nothing_are_closed_at_their_deadlines() {
    let s = deadline_server();
    let bound = Duration::from_secs(5);

    // TCP with no byte at all.
    let mut silent = connect(&s);
    // Only the start of the HTTP/2 preface.
    let mut pri = connect(&s);
    pri.write_all(b"PRI").unwrap();
    // A finished TLS handshake, then nothing.
    let mut idle_tls = tls(&s, &[b"http/1.1"]);
    // HTTP/2 preface + SETTINGS, then only PINGs (which must not keep it open).
    let mut h2 = tls(&s, &[b"h2"]);
    h2.write_all(H2_PREFACE_AND_SETTINGS).unwrap();
    h2.flush().unwrap();

    let t = closed_within(&mut silent, bound);
    assert!(
        t.is_some(),
        "a silent TCP connection stayed open past {bound:?}"
    );
    assert!(
        t.unwrap() >= Duration::from_millis(500),
        "closed before the 1 s deadline: {t:?}"
    );
    assert!(
        closed_within(&mut pri, bound).is_some(),
        "a connection that sent only PRI stayed open"
    );
    assert!(
        closed_within(&mut idle_tls, bound).is_some(),
        "an idle TLS connection stayed open"
    );
    let started = Instant::now();
    let mut h2_closed = false;
    while started.elapsed() < bound {
        let _ = h2.write_all(H2_PING).and_then(|()| h2.flush());
        if closed_within(&mut h2, Duration::from_millis(400)).is_some() {
            h2_closed = true;
            break;
        }
    }
    assert!(
        h2_closed,
        "an HTTP/2 connection sending only PINGs stayed open"
    );
}

/// A TLS server whose first-request deadline is 1 s and idle deadline 2 s.
fn deadline_server() -> Server {
    Server::start(Options {
        extra: String::new(),
        server_keys: "handshake_timeout_secs = 1\nidle_timeout_secs = 2\n".into(),
        ..Options::default()
    })
}

#[test]
fn kept_alive_connections_are_closed_when_idle() {
    let s = deadline_server();
    let mut c = tls(&s, &[b"http/1.1"]);
    // Two requests on one connection, the second after more than the first-request
    // deadline: the idle deadline runs from the end of the last request.
    for _ in 0..2 {
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        c.flush().unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&answer).contains("\r\n\r\n") {
            match c.read(&mut buf) {
                Ok(0) => panic!("closed before answering"),
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
        std::thread::sleep(Duration::from_millis(1200));
    }
    let t = closed_within(&mut c, Duration::from_secs(5))
        .expect("an idle kept-alive connection stayed open");
    // 1.2 s of the 2 s already passed: it closes after about 0.8 s more.
    assert!(t < Duration::from_secs(3), "{t:?}");
}

#[test]
fn one_address_cannot_take_the_servers_connections() {
    let (secret, table) = crate::harness::secret_client("flood-svc", "");
    // The shipped defaults: 4096 connections, 256 per address, 10 s to the first request.
    // Plain HTTP (behind a TLS proxy), where nothing but these limits ends a silent
    // socket: before them, 4,096 silent sockets held the server for good.
    let s = Server::start(Options {
        extra: table,
        plain_http_tls: Some(String::new()),
        ..Options::default()
    });
    let port: u16 = s.base_url.rsplit(':').next().unwrap().parse().unwrap();
    let target = SocketAddr::from(([127, 0, 0, 1], port));
    let mut silent = Vec::with_capacity(5000);
    let t0 = Instant::now();
    for i in 0..5000 {
        match TcpStream::connect_timeout(&target, Duration::from_secs(5)) {
            Ok(c) => silent.push(c),
            Err(e) => panic!("silent connection {i}: {e} (raise the open-files limit: ulimit -n)"),
        }
    }
    eprintln!("5,000 connections in {:?}", t0.elapsed());
    // A good client from another address is answered at once, five times over.
    let mut times = Vec::new();
    for _ in 0..5 {
        let r = curl(
            &s.base_url,
            &[
                "--interface",
                "127.0.0.2",
                "-u",
                &format!("flood-svc:{secret}"),
                "-d",
                "grant_type=client_credentials",
                "-w",
                "\n%{time_total}\n%{http_code}",
            ],
            "/token",
        );
        let (body, time) = r.body.rsplit_once('\n').unwrap();
        assert_eq!(r.status, 200, "{body} {}", r.stderr);
        times.push(time.trim().parse::<f64>().unwrap());
    }
    times.sort_by(f64::total_cmp);
    assert!(
        times[2] < 0.1,
        "median answer {:.3} s with 5,000 silent connections from 127.0.0.1: {times:?}",
        times[2]
    );
    eprintln!("answer times with 5,000 silent connections: {times:?}");
    assert!(
        s.log_text()
            .contains("the connection limit per client address is reached")
    );
    drop(silent);
}

#[test]
fn request_fields_cannot_forge_log_lines() {
    let (secret, table) = crate::harness::secret_client("log-svc", "");
    let s = Server::start_tls(&table);
    let forged = "ERROR\tforged\tline\ttoken\tissued";
    // In the form's client_id (no Authorization header).
    let r = curl(
        &s.base_url,
        &[
            "-d",
            &format!(
                "grant_type=client_credentials&client_id=x%0A{}",
                forged.replace('\t', "%09")
            ),
        ],
        "/token",
    );
    assert_eq!(r.status, 401, "{}", r.body);
    let basic = |user_and_secret: String| {
        let header = format!("Authorization: Basic {}", base64_std(&user_and_secret));
        let r = curl(
            &s.base_url,
            &["-H", &header, "-d", "grant_type=client_credentials"],
            "/token",
        );
        assert_eq!(r.status, 401, "{}", r.body);
    };
    // In a Basic user name (control characters form-encoded, as RFC 6749 §2.3.1 has it).
    basic(format!("x%0D%0A{}:{secret}", forged.replace('\t', "%09")));
    // Raw control characters in a Basic user name.
    basic(format!("y\n{forged}:{secret}"));
    let log = s.log_text();
    for line in log.lines() {
        assert!(
            !line.contains("forged") || line.contains("client_id=\""),
            "a forged line: {line:?}\n{log}"
        );
        assert!(
            !line.starts_with("ERROR\t") && !line.starts_with("ERROR forged"),
            "{line:?}"
        );
        assert!(
            !line.contains('\t') && !line.contains('\r'),
            "a control character in {line:?}"
        );
    }
    assert!(
        log.contains(r#"client_id="x\nERROR\tforged\tline\ttoken\tissued""#),
        "{log}"
    );
    assert!(log.contains(r#"client_id="x\r\nERROR\tforged"#), "{log}");
    assert!(log.contains(r#"client_id="y\nERROR\tforged"#), "{log}");
}

#[test]
fn a_basic_value_without_a_colon_never_reaches_the_log() {
    let (secret, table) = crate::harness::secret_client("basic", "");
    let s = Server::start_tls(&table);
    let r = curl(
        &s.base_url,
        &[
            "-H",
            &format!(
                "Authorization: Basic {}",
                base64_std(&format!("basic{secret}"))
            ),
            "-d",
            "grant_type=client_credentials",
        ],
        "/token",
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let log = s.log_text();
    assert!(!log.contains(&secret), "the secret is in the log:\n{log}");
    assert!(
        !log.contains(&secret[..16]),
        "part of the secret is in the log:\n{log}"
    );
    assert!(log.contains("Basic credentials lack ':'"), "{log}");
}

#[test]
fn registered_jwks_uris_cannot_point_at_loopback_or_plain_http() {
    // A listener that would see a ClientHello if ahdapa connected to it.
    let bait = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    bait.set_nonblocking(true).unwrap();
    let bait_port = bait.local_addr().unwrap().port();
    let s = Server::start_tls("[registration]\nallowed_scopes = [\"read\"]\n");
    for (uri, expect) in [
        (
            format!("https://127.0.0.1:{bait_port}/jwks.json"),
            "127.0.0.1 is a loopback address",
        ),
        (
            format!("https://localhost:{bait_port}/jwks.json"),
            "localhost resolves to",
        ),
        (
            format!("https://[::1]:{bait_port}/jwks.json"),
            "::1 is a loopback address",
        ),
        (
            "https://169.254.169.254/latest/meta-data".to_owned(),
            "link-local",
        ),
        ("https://10.1.2.3/jwks.json".to_owned(), "private"),
        (
            "https://[::ffff:127.0.0.1]/jwks.json".to_owned(),
            "loopback",
        ),
        (
            "http://keys.example/jwks.json".to_owned(),
            "must be https://",
        ),
        (
            "https://user@keys.example/jwks.json".to_owned(),
            "user info",
        ),
    ] {
        let body =
            format!(r#"{{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "{uri}"}}"#);
        let r = register(&s, &body);
        assert_eq!(r.status, 400, "{uri}: {}", r.body);
        assert_eq!(r.json()["error"], "invalid_client_metadata", "{uri}");
        let description = r.json()["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(description.contains(expect), "{uri}: {description}");
    }
    // The trust flag is the admin's, never a registrant's.
    let r = register(
        &s,
        &format!(
            r#"{{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://127.0.0.1:{bait_port}/j", "jwks_uri_trusted": true}}"#
        ),
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
    assert!(
        matches!(bait.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "ahdapa connected to the loopback address a registrant named"
    );
}

#[test]
fn allowed_networks_let_registrants_reach_an_internal_key_server() {
    let s = Server::start_tls(
        "[registration]\nallowed_scopes = [\"read\"]\n[assertions]\njwks_uri_allowed_networks = [\"127.0.0.0/8\"]\n",
    );
    let r = register(
        &s,
        r#"{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://127.0.0.1:9/jwks.json"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
}

#[test]
fn config_mistakes_in_jwks_uri_are_named_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ahdapa.toml");
    std::fs::write(
        &config,
        "issuer = \"https://idp.example.com\"\n[server]\ninsecure_http = true\n\
         [[clients]]\nclient_id = \"a\"\ntoken_endpoint_auth_method = \"private_key_jwt\"\n\
         jwks_uri = \"http://keys.example/jwks.json\"\nscopes = [\"s\"]\n\
         [[clients]]\nclient_id = \"b\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\n\
         client_secret_hash = \"sha256:AAAA\"\njwks_uri_trusted = true\nscopes = [\"s\"]\n\
         [assertions]\njwks_uri_allowed_networks = [\"10.0.0.0/33\"]\n",
    )
    .unwrap();
    let (ok, text) = crate::harness::check_config(&config);
    assert!(!ok, "{text}");
    assert!(
        text.contains("clients[0].jwks_uri: \"http://keys.example/jwks.json\" must be https://"),
        "{text}"
    );
    assert!(
        text.contains("clients[1].jwks_uri_trusted: only for private_key_jwt"),
        "{text}"
    );
    assert!(
        text.contains("assertions.jwks_uri_allowed_networks[0]:"),
        "{text}"
    );
}

#[test]
fn framing_that_rfc_9112_refuses_is_refused() {
    let s = Server::start_tls("");
    let exchange = |request: &[u8]| -> String {
        let mut c = tls(&s, &[b"http/1.1"]);
        c.write_all(request).unwrap();
        c.flush().unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 2048];
        let started = Instant::now();
        while !String::from_utf8_lossy(&answer).contains("\r\n\r\n")
            && started.elapsed() < Duration::from_secs(5)
        {
            match c.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        String::from_utf8_lossy(&answer).into_owned()
    };
    let no_host = exchange(b"GET /healthz HTTP/1.1\r\n\r\n");
    assert!(no_host.starts_with("HTTP/1.1 400"), "{no_host}");
    let two_hosts = exchange(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nHost: other\r\n\r\n");
    assert!(two_hosts.starts_with("HTTP/1.1 400"), "{two_hosts}");
    let http10 = exchange(b"GET /healthz HTTP/1.0\r\n\r\n");
    assert!(
        http10.starts_with("HTTP/1.0 200") || http10.starts_with("HTTP/1.1 200"),
        "{http10}"
    );
    let gzip = exchange(
        b"POST /token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n",
    );
    assert!(gzip.starts_with("HTTP/1.1 501"), "{gzip}");
    let ok = exchange(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
}

fn register(s: &Server, body: &str) -> crate::harness::Reply {
    curl(
        &s.base_url,
        &[
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
        ],
        "/register",
    )
}

fn base64_std(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn check_config_sees_what_serve_would_fail_on_and_serve_writes_nothing_first() {
    let realm = crate::kdc::realm();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("garbage.keytab"), "not a keytab\n").unwrap();
    std::fs::write(d.join("short.key"), "12345").unwrap();
    let state = d.join("state");
    let port = crate::harness::free_port();
    let written = std::cell::Cell::new(0);
    let write = |keytab: &str, principal: &str, master: &str, db: &str, metrics: &str| {
        let text = format!(
            "issuer = \"http://localhost:{port}\"\n[server]\nlisten = [\"127.0.0.1:{port}\"]\ninsecure_http = true\n\
             [metrics]\nlisten = \"{metrics}\"\n\
             [store]\nsqlite_path = \"{db}\"\n[keys]\nmaster_key_file = \"{master}\"\n\
             [kerberos]\nenabled = true\nkeytab = \"{keytab}\"\nservice_principal = \"{principal}\"\n\
             replay_cache = \"{}/krb5.rcache\"\n",
            state.display()
        );
        written.set(written.get() + 1);
        let path = d.join(format!("ahdapa-{}.toml", written.get()));
        std::fs::write(&path, text).unwrap();
        path
    };
    let run = |path: &std::path::Path, what: &str| {
        let out = std::process::Command::new(crate::harness::BIN)
            .envs(realm.env())
            .arg("--config")
            .arg(path)
            .arg(what)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let db = format!("{}/ahdapa.db", state.display());
    let master = format!("{}/master.key", state.display());
    let good_keytab = realm.http_keytab.display().to_string();
    let principal = format!("HTTP/localhost@{}", crate::kdc::REALM);
    // Never bound here (each start stops before): the next port is as good as any.
    let metrics = format!("127.0.0.1:{}", port + 1);
    for (path, expect) in [
        (
            write(&d.display().to_string(), &principal, &master, &db, &metrics),
            "kerberos.keytab: ",
        ),
        (
            write(
                &d.join("garbage.keytab").display().to_string(),
                &principal,
                &master,
                &db,
                &metrics,
            ),
            "is not a keytab",
        ),
        (
            write(
                &good_keytab,
                "HTTP/elsewhere@TEST.REALM",
                &master,
                &db,
                &metrics,
            ),
            "kerberos.keytab / kerberos.service_principal: cannot use HTTP/elsewhere@TEST.REALM",
        ),
        (
            write(
                &good_keytab,
                &principal,
                &d.join("short.key").display().to_string(),
                &db,
                &metrics,
            ),
            "keys.master_key_file: ",
        ),
        (
            write(
                &good_keytab,
                &principal,
                &master,
                "/proc/ahdapa/ahdapa.db",
                &metrics,
            ),
            "store.sqlite_path: cannot create /proc/ahdapa/ahdapa.db",
        ),
        (
            write(
                &good_keytab,
                &principal,
                &master,
                &db,
                &format!("127.0.0.1:{port}"),
            ),
            "metrics.listen: ",
        ),
    ] {
        let (ok, text) = run(&path, "check-config");
        assert!(
            !ok && text.contains(expect),
            "check-config: want {expect:?} in:\n{text}"
        );
        let (ok, text) = run(&path, "serve");
        assert!(
            !ok && text.contains(expect),
            "serve: want {expect:?} in:\n{text}"
        );
        assert!(
            !state.exists(),
            "a failed start left state behind ({expect}): {:?}",
            std::fs::read_dir(&state).map(|r| r.count())
        );
    }
    assert_eq!(
        std::fs::read(d.join("short.key")).unwrap(),
        b"12345",
        "the bad master key is untouched"
    );
    // The listener is bound before any state is written: a port in use stops the start.
    let busy = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (ok, text) = run(
        &write(&good_keytab, &principal, &master, &db, &metrics),
        "serve",
    );
    assert!(!ok && text.contains("cannot listen on"), "{text}");
    assert!(
        !state.exists(),
        "a start that could not bind left state behind"
    );
    drop(busy);
    let (ok, text) = run(
        &write(&good_keytab, &principal, &master, &db, &metrics),
        "check-config",
    );
    assert!(ok, "{text}");
}

#[test]
fn local_client_commands_keep_the_documented_exit_codes_and_json() {
    let s = Server::start_tls("");
    let out = s.cli(&[
        "--json", "client", "add", "--local", "cli-svc", "--scope", "s",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let added: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(added["client_id"], "cli-svc");
    assert!(
        added["client_secret"]
            .as_str()
            .is_some_and(|s| s.len() >= 43),
        "{added}"
    );
    // Through the admin API's own function: audited, via=local (stderr here: no journal).
    let audit = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        audit.contains("client.create") && audit.contains("via=local"),
        "{audit}"
    );
    let out = s.cli(&["client", "add", "--local", "cli-svc", "--scope", "s"]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "an existing id is a conflict: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = s.cli(&["client", "add", "--local", "bad id", "--scope", "s"]);
    assert_eq!(
        out.status.code(),
        Some(6),
        "invalid: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = s.cli(&["--json", "client", "list", "--local"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|c| c["client_id"] == "cli-svc"),
        "{list}"
    );
    let out = s.cli(&["--json", "client", "remove", "--local", "cli-svc"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("client.delete"));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["removed"],
        true
    );
    let out = s.cli(&["client", "remove", "--local", "cli-svc"]);
    assert_eq!(out.status.code(), Some(4), "no such client");
}

#[test]
fn issuance_lines_can_be_sampled_or_off_while_refusals_stay() {
    // The harness's config ends in its [log] table: these keys land there.
    for (log_keys, expect_lines) in [
        ("issuance = \"none\"\n", 0),
        ("issuance = \"sampled\"\nissuance_sample_every = 5\n", 2),
    ] {
        let (secret, table) = crate::harness::secret_client("quiet-svc", "");
        let s = Server::start_tls(&format!("{log_keys}{table}"));
        let mode = log_keys;
        for _ in 0..10 {
            let r = curl(
                &s.base_url,
                &[
                    "-u",
                    &format!("quiet-svc:{secret}"),
                    "-d",
                    "grant_type=client_credentials",
                ],
                "/token",
            );
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let r = curl(
            &s.base_url,
            &[
                "-u",
                "quiet-svc:wrong",
                "-d",
                "grant_type=client_credentials",
            ],
            "/token",
        );
        assert_eq!(r.status, 401);
        let log = s.log_text();
        assert_eq!(
            log.matches("token issued").count(),
            expect_lines,
            "{mode}:\n{log}"
        );
        if expect_lines > 0 {
            assert!(log.contains("sampled=5"), "{log}");
        }
        assert!(
            log.contains("request refused"),
            "refusals are always logged:\n{log}"
        );
    }
}
