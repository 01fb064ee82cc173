//! What an attacker repeats, refused with `429` and `Retry-After` by `[rate_limits]`:
//! failed client authentications per address and per client_id (another address and
//! another client still get tokens), registrations and device codes per address, and
//! `X-Forwarded-For` believed only from `tls.trusted_proxies`. The counters show in
//! `/metrics`; mistakes in `[rate_limits]` are named by key path.

use crate::harness::{Options, Reply, Server, curl, free_port, secret_client};

/// `curl` from the source address `from` (any of 127.0.0.0/8 reaches the server).
fn from(s: &Server, from: &str, args: &[&str], path: &str) -> Reply {
    let mut all = vec!["--interface", from];
    all.extend_from_slice(args);
    curl(&s.base_url, &all, path)
}

fn token(s: &Server, source: &str, user: &str, secret: &str) -> Reply {
    from(
        s,
        source,
        &[
            "-u",
            &format!("{user}:{secret}"),
            "-d",
            "grant_type=client_credentials",
        ],
        "/token",
    )
}

/// The `Retry-After` of a reply, in seconds.
fn retry_after(r: &Reply) -> u64 {
    r.headers
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("retry-after: ")
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no Retry-After in {}", r.headers))
        .trim()
        .parse()
        .unwrap()
}

fn metric(text: &str, limit: &str) -> u64 {
    let name = format!("ahdapa_rate_limited_total{{limit=\"{limit}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&name))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn failed_client_authentications_are_limited_per_address_and_per_client() {
    let (secret, app) = secret_client("ab1-app", "");
    let (other_secret, other) = secret_client("ab1-other", "");
    let metrics_port = free_port();
    let s = Server::start_tls(&format!(
        "[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n\
         [rate_limits]\nclient_auth_failures_per_client = {{ max = 300, window_secs = 60 }}\n\
         client_auth_failures_per_address = {{ max = 50, window_secs = 3600 }}\n{app}{other}"
    ));
    // 200 guesses from one address, at clients that exist and clients that do not. The
    // limit is the default burst (50) with a slow refill (one every 72 s), so that a
    // slow machine cannot earn a retry between the steps; the refill is unit-tested.
    let mut refused_at = None;
    let (mut failed, mut throttled) = (0, 0);
    for i in 0..200 {
        let user = if i % 2 == 0 { "ab1-app" } else { "ab1-nobody" };
        let r = token(&s, "127.0.0.1", user, &format!("guess-{i}"));
        match r.status {
            401 => failed += 1,
            429 => {
                throttled += 1;
                refused_at.get_or_insert(i);
                let retry = retry_after(&r);
                assert!((1..=72).contains(&retry), "{retry}");
                assert!(
                    r.refusal(429, "temporarily_unavailable")
                        .contains("too many failed client authentications")
                );
            }
            other => panic!("{other}: {}", r.body),
        }
    }
    assert_eq!(refused_at, Some(50));
    assert_eq!((failed, throttled), (50, 150));
    // Even the right secret waits, from that address...
    assert_eq!(token(&s, "127.0.0.1", "ab1-app", &secret).status, 429);
    // ...while another address still gets tokens, for the same client and another.
    assert_eq!(token(&s, "127.0.0.2", "ab1-app", &secret).status, 200);
    assert_eq!(
        token(&s, "127.0.0.2", "ab1-other", &other_secret).status,
        200
    );
    // /introspect and /revoke authenticate clients too: the same address limit.
    let r = from(
        &s,
        "127.0.0.1",
        &["-u", &format!("ab1-app:{secret}"), "-d", "token=x"],
        "/introspect",
    );
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(
        s.log_text()
            .contains("too many failed client authentications")
    );
    assert!(!s.log_text().contains(&secret), "a secret was logged");

    let text = curl(&format!("http://127.0.0.1:{metrics_port}"), &[], "/metrics").body;
    // Every 429 counted: those of the loop, the right secret's and /introspect's.
    assert_eq!(metric(&text, "client_auth_failures_per_address"), 152);
    assert_eq!(metric(&text, "client_auth_failures_per_client"), 0);
}

#[test]
fn one_client_guessed_at_from_many_addresses_waits_alone() {
    let (secret, app) = secret_client("ab2-app", "");
    let (other_secret, other) = secret_client("ab2-other", "");
    let s = Server::start_tls(&format!(
        "[rate_limits]\nclient_auth_failures_per_client = {{ max = 10, window_secs = 600 }}\n{app}{other}"
    ));
    for i in 0..10 {
        let source = format!("127.0.1.{}", i + 1);
        assert_eq!(token(&s, &source, "ab2-app", "wrong").status, 401);
    }
    // The eleventh address, with the right secret: the client's limit is reached.
    let r = token(&s, "127.0.1.11", "ab2-app", &secret);
    assert_eq!(r.status, 429, "{}", r.body);
    // One failure every 60 s is what the limit lets through, once the ten are spent.
    assert!((50..=60).contains(&retry_after(&r)), "{}", r.headers);
    // Other clients are not affected.
    assert_eq!(
        token(&s, "127.0.1.11", "ab2-other", &other_secret).status,
        200
    );
}

#[test]
fn registrations_and_device_codes_are_limited_per_address() {
    let s = Server::start_tls(
        "[registration]\nallowed_scopes = [\"read\"]\n\
         [rate_limits]\nregistrations_per_address = { max = 3, window_secs = 3600 }\n\
         device_codes_per_address = { max = 2, window_secs = 60 }\n\
         [[clients]]\nclient_id = \"ab3-tv\"\ntoken_endpoint_auth_method = \"none\"\n\
         grant_types = [\"urn:ietf:params:oauth:grant-type:device_code\"]\nscopes = [\"openid\"]\n",
    );
    let register = |source: &str| {
        from(
            &s,
            source,
            &[
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                r#"{"client_name":"x","grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic","scope":"read"}"#,
            ],
            "/register",
        )
    };
    for _ in 0..3 {
        let r = register("127.0.0.3");
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = register("127.0.0.3");
    assert_eq!(r.status, 429, "{}\n{}\n{}", r.headers, r.body, r.stderr);
    assert!(
        r.refusal(429, "temporarily_unavailable")
            .contains("registrations")
    );
    assert!((1100..=1200).contains(&retry_after(&r)), "{}", r.headers);
    assert_eq!(register("127.0.0.4").status, 201);

    let device = |source: &str| {
        from(
            &s,
            source,
            &["-d", "client_id=ab3-tv", "-d", "scope=openid"],
            "/device_authorization",
        )
    };
    assert_eq!(device("127.0.0.3").status, 200);
    assert_eq!(device("127.0.0.3").status, 200);
    let r = device("127.0.0.3");
    assert_eq!(r.status, 429, "{}\n{}", r.headers, r.body);
    assert!(
        r.refusal(429, "temporarily_unavailable")
            .contains("device codes")
    );
    assert_eq!(device("127.0.0.4").status, 200);
}

#[test]
fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    let (secret, app) = secret_client("ab4-app", "");
    let s = Server::start(Options {
        plain_http_tls: Some("trusted_proxies = [\"127.0.0.1\"]".into()),
        extra: format!(
            "[rate_limits]\nclient_auth_failures_per_address = {{ max = 3, window_secs = 60 }}\n{app}"
        ),
        ..Options::default()
    });
    let via = |source: &str, forwarded: &str, pw: &str| {
        from(
            &s,
            source,
            &[
                "-H",
                &format!("X-Forwarded-For: {forwarded}"),
                "-u",
                &format!("ab4-app:{pw}"),
                "-d",
                "grant_type=client_credentials",
            ],
            "/token",
        )
    };
    // Through the proxy: the client named by the proxy counts, not the proxy.
    for _ in 0..3 {
        assert_eq!(via("127.0.0.1", "198.51.100.7", "wrong").status, 401);
    }
    assert_eq!(via("127.0.0.1", "198.51.100.7", &secret).status, 429);
    // A client cannot escape by adding its own entry: the proxy appends the real one.
    assert_eq!(
        via("127.0.0.1", "203.0.113.99, 198.51.100.7", &secret).status,
        429
    );
    assert_eq!(via("127.0.0.1", "198.51.100.8", &secret).status, 200);
    // From a peer that is not a trusted proxy the header means nothing.
    for i in 0..3 {
        let r = via("127.0.0.5", &format!("192.0.2.{i}"), "wrong");
        assert_eq!(r.status, 401);
    }
    assert_eq!(via("127.0.0.5", "192.0.2.200", &secret).status, 429);
}

#[test]
fn rate_limit_mistakes_are_named_by_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ahdapa.toml");
    std::fs::write(
        &config,
        format!(
            "issuer = \"https://localhost:1\"\n[server]\nlisten = [\"127.0.0.1:1\"]\ninsecure_http = true\n\
             [store]\nsqlite_path = \"{d}/db\"\n[keys]\nmaster_key_file = \"{d}/mk\"\n\
             [tls]\ntrusted_proxies = [\"proxy.example\"]\n\
             [rate_limits]\nclient_auth_failures_per_address = {{ max = -1 }}\n\
             device_codes_per_address = {{ max = 5, window_secs = 0 }}\n\
             signin_failures_per_user = {{ maximum = 5 }}\n",
            d = dir.path().display()
        ),
    )
    .unwrap();
    let (ok, text) = crate::harness::check_config(&config);
    assert!(!ok);
    for path in [
        "tls.trusted_proxies[0]",
        "rate_limits.client_auth_failures_per_address.max",
        "rate_limits.device_codes_per_address.window_secs",
        "rate_limits.signin_failures_per_user.maximum",
    ] {
        assert!(text.contains(path), "{path} in:\n{text}");
    }
}

/// Times of `n` client_credentials requests on one kept-alive connection (curl with the
/// URL repeated), in milliseconds.
fn good_client_latencies(s: &Server, id: &str, secret: &str, n: usize) -> Vec<f64> {
    let url = format!("{}/token", s.base_url);
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "30", "--cacert"])
        .arg(&crate::harness::pki().ca)
        .args(["-w", "%{http_code} %{time_total}\n"])
        .args([
            "-u",
            &format!("{id}:{secret}"),
            "-d",
            "grant_type=client_credentials",
        ])
        .args((0..n).flat_map(|_| ["-o", "/dev/null", url.as_str()]))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let times: Vec<f64> = text
        .lines()
        .map(|l| {
            let (code, t) = l.split_once(' ').unwrap();
            assert_eq!(code, "200", "{text}");
            t.parse::<f64>().unwrap() * 1000.0
        })
        .collect();
    assert_eq!(
        times.len(),
        n,
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    times
}

fn p99(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(v.len() * 99).div_ceil(100) - 1]
}

fn port_of(s: &Server) -> u16 {
    s.base_url.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn slowloris_connections_do_not_slow_a_good_client() {
    use std::io::Write;
    let (secret, app) = secret_client("ab5-app", "");
    let s = Server::start(Options {
        plain_http_tls: Some(String::new()),
        server_keys: "max_connections_per_address = 1024\n".into(),
        extra: app,
        ..Options::default()
    });
    let port = port_of(&s);
    // 500 connections, each sending a request head one header line every 200 ms.
    let mut slow: Vec<std::net::TcpStream> = (0..500)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.write_all(b"POST /token HTTP/1.1\r\nHost: localhost\r\n")
                .unwrap();
            c
        })
        .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let dripper = {
        let stop = std::sync::Arc::clone(&stop);
        let mut conns: Vec<_> = slow.iter_mut().map(|c| c.try_clone().unwrap()).collect();
        std::thread::spawn(move || {
            let mut closed = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                closed = 0;
                for c in &mut conns {
                    if c.write_all(b"X-Slow: 1\r\n").is_err() {
                        closed += 1;
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            closed
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(500));
    let times = good_client_latencies(&s, "ab5-app", &secret, 200);
    let p = p99(times);
    assert!(
        p < 100.0,
        "a good client's p99 was {p:.1} ms beside 500 slow connections"
    );
    // The request deadline (5 s here) closes every slow head; none is served.
    std::thread::sleep(std::time::Duration::from_secs(6));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let closed = dripper.join().unwrap();
    assert_eq!(
        closed, 500,
        "slow connections still open after the deadline"
    );
}

#[test]
fn huge_forms_and_deep_json_are_refused_fast() {
    let (secret, app) = secret_client("ab6-app", "");
    let s = Server::start_tls(&format!(
        "[registration]\nallowed_scopes = [\"read\"]\n{app}"
    ));
    let dir = tempfile::tempdir().unwrap();
    let post = |path: &str, content_type: &str, body: &[u8]| {
        let file = dir.path().join("body");
        std::fs::write(&file, body).unwrap();
        let started = std::time::Instant::now();
        let r = curl(
            &s.base_url,
            &[
                "-u",
                &format!("ab6-app:{secret}"),
                "-H",
                &format!("Content-Type: {content_type}"),
                "--data-binary",
                &format!("@{}", file.display()),
            ],
            path,
        );
        let took = started.elapsed();
        assert!(
            took < std::time::Duration::from_secs(2),
            "{path} took {took:?}"
        );
        r
    };
    let form = "application/x-www-form-urlencoded";
    // 100,000 parameters: over the body limit, refused before it is read.
    let huge: String = (0..100_000).map(|i| format!("p{i}=1&")).collect();
    let r = post("/token", form, huge.as_bytes());
    assert_eq!(r.status, 413, "{}", r.body);
    // Within the body limit, too many parameters.
    let many: String = std::iter::once("grant_type=client_credentials".to_owned())
        .chain((0..1_500).map(|i| format!("&p{i}=1")))
        .collect();
    assert!(many.len() < 16 * 1024);
    let r = post("/token", form, many.as_bytes());
    assert!(
        r.refusal(400, "invalid_request")
            .contains("too many parameters")
    );
    // 10,000-deep JSON at the registration endpoint.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let r = post("/register", "application/json", deep.as_bytes());
    assert!(
        r.refusal(400, "invalid_client_metadata")
            .contains("recursion limit")
    );
    // The server is fine.
    assert_eq!(token(&s, "127.0.0.1", "ab6-app", &secret).status, 200);
}

/// An HTTP/2 frame (RFC 9113 §4.1).
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut f = vec![len[1], len[2], len[3], kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[test]
fn an_http2_rapid_reset_burst_ends_that_connection_and_nobody_elses() {
    use std::io::{Read, Write};
    let (secret, app) = secret_client("ab7-app", "");
    let s = Server::start_tls(&app);
    let mut config = ahdapa::tls::client_config(Some(&crate::harness::pki().ca)).unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port_of(&s))).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    let mut h2 = rustls::StreamOwned::new(conn, tcp);
    // HPACK (RFC 7541): :method POST, :scheme https (static 3 and 7), :path /token and
    // :authority localhost as literals with indexed names, not indexed.
    let mut head = vec![0x83, 0x87, 0x04, 6];
    head.extend_from_slice(b"/token");
    head.extend_from_slice(&[0x01, 9]);
    head.extend_from_slice(b"localhost");
    let mut burst = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    burst.extend(frame(0x4, 0, 0, &[]));
    // 10,000 streams, each opened (HEADERS, END_HEADERS) and at once reset (CANCEL),
    // in chunks; what the server sends is read between them (the read deadline is short).
    h2.sock
        .set_read_timeout(Some(std::time::Duration::from_millis(5)))
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut read_some =
        |h2: &mut rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>| loop {
            match h2.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return true;
                }
                Err(_) => return false,
            }
        };
    let mut sent = 0u32;
    let mut open = true;
    for i in 0..10_000u32 {
        let id = 2 * i + 1;
        burst.extend(frame(0x1, 0x4, id, &head));
        burst.extend(frame(0x3, 0, id, &8u32.to_be_bytes()));
        if burst.len() > 8 * 1024 || i == 9_999 {
            if h2.write_all(&burst).and_then(|()| h2.flush()).is_err() {
                open = false;
                break;
            }
            sent = i + 1;
            burst.clear();
            if !read_some(&mut h2) {
                open = false;
                break;
            }
        }
    }
    let started = std::time::Instant::now();
    while open && started.elapsed() < std::time::Duration::from_secs(5) {
        open = read_some(&mut h2);
    }
    // Here h2 gave up after about 200 of the 10,000 streams.
    assert!(
        !open && sent < 10_000,
        "{sent} streams sent, connection open: {open}"
    );
    let mut frames = Vec::new();
    let mut rest = seen.as_slice();
    while rest.len() >= 9 {
        let len = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        frames.push((rest[3], rest.get(9..9 + len).map(<[u8]>::to_vec)));
        rest = rest.get(9 + len..).unwrap_or_default();
    }
    let goaway = frames
        .iter()
        .find(|(kind, _)| *kind == 0x7)
        .unwrap_or_else(|| {
            panic!(
                "no GOAWAY among {:?}",
                frames.iter().map(|f| f.0).collect::<Vec<_>>()
            )
        });
    let code = goaway
        .1
        .as_ref()
        .map(|p| u32::from_be_bytes(p[4..8].try_into().unwrap()));
    // ENHANCE_YOUR_CALM (0xb), as h2 answers rapid resets.
    assert_eq!(code, Some(0xb), "{frames:?}");
    // Everyone else is served.
    let times = good_client_latencies(&s, "ab7-app", &secret, 20);
    assert!(p99(times) < 100.0);
}
