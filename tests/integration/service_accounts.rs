//! Service accounts (authentik's machine-to-machine model) end to end: created through
//! the admin API (`ahdapa --server ... service-account create`) and on the store
//! (`--local`), then the three request shapes authentik documents, rotation, expiry and
//! removal.

use base64::Engine;

use crate::harness::{Reply, Server, claims, curl, pki, secret_client};

fn field(out: &std::process::Output, name: &str) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} = ")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .to_owned()
}

#[test]
fn service_accounts_get_tokens_three_ways_and_rotate_and_expire() {
    let (admin_secret, admin) = secret_client("automation", "");
    let admin = admin.replace("scopes = [\"s\"]", "scopes = [\"ahdapa.admin\"]");
    let s = Server::start_tls(&format!(
        "[[clients]]\nclient_id = \"app\"\ntoken_endpoint_auth_method = \"none\"\n\
         service_accounts = true\nscopes = [\"api.read\", \"api.write\"]\n{admin}"
    ));
    let admin_token = curl(
        &s.base_url,
        &[
            "-u",
            &format!("automation:{admin_secret}"),
            "-d",
            "grant_type=client_credentials",
        ],
        "/token",
    )
    .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Through the admin API: the password is shown once.
    let remote = |args: &[&str]| {
        std::process::Command::new(crate::harness::BIN)
            .args(["--server", &s.base_url, "--ca-file"])
            .arg(&pki().ca)
            .args(["--token", &admin_token])
            .args(args)
            .output()
            .unwrap()
    };
    let out = remote(&["service-account", "create", "ci-bot", "--client", "app"]);
    let password = field(&out, "password");
    assert!(password.len() >= 43);
    assert!(
        !s.log_text().contains(&password),
        "the password is never logged"
    );

    let token = |args: &[&str]| curl(&s.base_url, args, "/token");
    let ok = |r: Reply| {
        assert_eq!(r.status, 200, "{}\n{}", r.body, s.log_text());
        claims(r.json()["access_token"].as_str().unwrap())
    };
    // 1. client_credentials with username and password.
    let c = ok(token(&[
        "-d",
        "grant_type=client_credentials",
        "-d",
        "client_id=app",
        "-d",
        "username=ci-bot",
        "-d",
        &format!("password={password}"),
        "-d",
        "scope=api.read",
    ]));
    assert_eq!(
        (c["sub"].as_str(), c["client_id"].as_str()),
        (Some("ci-bot"), Some("app"))
    );
    assert_eq!(c["scope"], "api.read");
    // 2. The password grant, for applications that know only it.
    let c = ok(token(&[
        "-d",
        "grant_type=password",
        "-d",
        "client_id=app",
        "-d",
        "username=ci-bot",
        "-d",
        &format!("password={password}"),
    ]));
    assert_eq!(c["sub"], "ci-bot");
    // 3. client_secret = base64(SA:TOKEN), in the form and as HTTP Basic.
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("ci-bot:{password}"));
    ok(token(&[
        "-d",
        "grant_type=client_credentials",
        "-d",
        "client_id=app",
        "-d",
        &format!("client_secret={b64}"),
    ]));
    ok(token(&[
        "-u",
        &format!("app:{b64}"),
        "-d",
        "grant_type=client_credentials",
    ]));
    // A wrong password, an unknown account.
    let refused = |user: &str, pw: &str| {
        token(&[
            "-d",
            "grant_type=client_credentials",
            "-d",
            "client_id=app",
            "-d",
            &format!("username={user}"),
            "-d",
            &format!("password={pw}"),
        ])
        .refusal(401, "invalid_client")
    };
    refused("ci-bot", "wrong");
    refused("nobody", &password);

    // Rotation on the store: the old password stops working at once.
    let new = field(
        &s.cli(&[
            "service-account",
            "rotate",
            "ci-bot",
            "--client",
            "app",
            "--local",
        ]),
        "password",
    );
    refused("ci-bot", &password);
    ok(token(&[
        "-d",
        "grant_type=password",
        "-d",
        "client_id=app",
        "-d",
        "username=ci-bot",
        "-d",
        &format!("password={new}"),
    ]));

    // An app password that expires.
    let short = field(
        &s.cli(&[
            "service-account",
            "create",
            "job-42",
            "--client",
            "app",
            "--expires-secs",
            "3",
            "--local",
        ]),
        "password",
    );
    ok(token(&[
        "-d",
        "grant_type=password",
        "-d",
        "client_id=app",
        "-d",
        "username=job-42",
        "-d",
        &format!("password={short}"),
    ]));
    // Expiry is kept in whole seconds: the password lasts 2 to 3 s (1 s flaked on a busy
    // machine, when the first request came after the second had turned).
    std::thread::sleep(std::time::Duration::from_millis(4100));
    refused("job-42", &short);
    assert!(
        s.log_text().contains("the app password has expired"),
        "{}",
        s.log_text()
    );

    // Listing and removal.
    let list = remote(&["--json", "service-account", "list", "--client", "app"]);
    let names: Vec<String> = serde_json::from_slice::<serde_json::Value>(&list.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["ci-bot", "job-42"]);
    assert!(
        remote(&["service-account", "delete", "ci-bot", "--client", "app"])
            .status
            .success()
    );
    refused("ci-bot", &new);
    // A client that does not take service accounts.
    let out = s.cli(&[
        "service-account",
        "create",
        "x",
        "--client",
        "automation",
        "--local",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("service_accounts = true"));
}
