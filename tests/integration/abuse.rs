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
         [rate_limits]\nclient_auth_failures_per_client = {{ max = 300, window_secs = 60 }}\n{app}{other}"
    ));
    // 200 guesses from one address, at clients that exist and clients that do not.
    let mut refused_at = None;
    let (mut failed, started) = (0, std::time::Instant::now());
    for i in 0..200 {
        let user = if i % 2 == 0 { "ab1-app" } else { "ab1-nobody" };
        let r = token(&s, "127.0.0.1", user, &format!("guess-{i}"));
        match r.status {
            401 => failed += 1,
            429 => {
                refused_at.get_or_insert(i);
                let retry = retry_after(&r);
                assert!((1..=60).contains(&retry), "{retry}");
                assert!(
                    r.refusal(429, "temporarily_unavailable")
                        .contains("too many failed client authentications")
                );
            }
            other => panic!("{other}: {}", r.body),
        }
    }
    // The default limit: 50 failures at once per address, then one every 1.2 s.
    assert_eq!(refused_at, Some(50));
    let trickle = started.elapsed().as_secs_f64() / 1.2;
    assert!(
        f64::from(failed) <= 50.0 + trickle + 1.0,
        "{failed} failures went through in {:?}",
        started.elapsed()
    );
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
    assert!(metric(&text, "client_auth_failures_per_address") >= 150);
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
