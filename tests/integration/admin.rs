//! The admin API through the `ahdapa` command, as an admin runs it from a workstation:
//! Kerberos tickets from a real KDC (Negotiate as initiator), admin tokens, group-based
//! admins from a real slapd, and host self-enrolment with a keytab.

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use crate::harness::{BIN, Options, Server, claims, curl, generate_secret, pki};
use crate::kdc::{Host, REALM, realm};

const CC: &str = "grant_type=client_credentials";

/// `ahdapa --server ... --ca-file ... ARGS` as `who` (their credential cache).
fn ahdapa(s: &Server, who: Option<&Host>, args: &[&str]) -> Output {
    let mut c = match who {
        Some(h) => h.command(BIN),
        None => {
            let mut c = realm().command(BIN);
            c.env("KRB5CCNAME", "MEMORY:nobody");
            c
        }
    };
    c.args(["--server", &s.base_url, "--ca-file"])
        .arg(&pki().ca)
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn stdout_value(o: &Output, key: &str) -> String {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key} = ")).map(str::to_owned))
        .unwrap_or_else(|| panic!("no {key} in {}", text(o)))
}

fn user(name: &str) -> Host {
    let kt = realm().user(name);
    let h = Host::with_principal(&format!("{name}@{REALM}"), &kt);
    h.kinit(None);
    h
}

fn secret_token(s: &Server, id: &str, secret: &str, scope: &str) -> crate::harness::Reply {
    curl(
        &s.base_url,
        &[
            "-u",
            &format!("{id}:{secret}"),
            "-d",
            &format!("{CC}&scope={scope}"),
        ],
        "/token",
    )
}

#[test]
fn an_admin_manages_clients_with_a_kerberos_ticket() {
    let (tok_secret, tok_hash) = generate_secret();
    let (plain_secret, plain_hash) = generate_secret();
    let extra = format!(
        "[admin]\nprincipals = [\"root-adm@{REALM}\"]\n\
         [[clients]]\nclient_id = \"automation\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\n\
         {tok_hash}\nscopes = [\"ahdapa.admin\"]\n\
         [[clients]]\nclient_id = \"plain\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\n\
         {plain_hash}\nscopes = [\"other\"]\n"
    );
    let s = Server::start(Options::kerberos(&extra));
    let admin = user("root-adm");
    let nobody = user("not-adm");

    // A Kerberos template client, created with the admin's own ticket.
    let o = ahdapa(
        &s,
        Some(&admin),
        &[
            "client",
            "add",
            "fleet-adm",
            "--method",
            "kerberos_client_auth",
            "--kerberos-principal-pattern",
            &format!("host/*.adm.test.realm@{REALM}"),
            "--scope",
            "directory.read",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let kt = realm().add_hosts(&["h1.adm.test.realm"]);
    let host = Host::new("h1.adm.test.realm", &kt[0]);
    host.kinit(None);
    let negotiate = |client: &str| crate::directory::negotiate(&s, &host, client);
    let reply = negotiate("fleet-adm");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        claims(reply.json()["access_token"].as_str().unwrap())["sub"],
        host.principal
    );

    // Disabled: refused at once; enabled again: accepted.
    let o = ahdapa(&s, Some(&admin), &["client", "disable", "fleet-adm"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(negotiate("fleet-adm").status, 401);
    let o = ahdapa(&s, Some(&admin), &["client", "enable", "fleet-adm"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(negotiate("fleet-adm").status, 200);

    // list --json, show, update.
    let o = ahdapa(&s, Some(&admin), &["client", "list", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"fleet-adm") && ids.contains(&"automation"),
        "{ids:?}"
    );
    let o = ahdapa(
        &s,
        Some(&admin),
        &[
            "client",
            "update",
            "fleet-adm",
            "--scope",
            "directory.read",
            "--scope",
            "extra",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = ahdapa(&s, Some(&admin), &["client", "show", "fleet-adm"]);
    let shown: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        shown["scopes"],
        serde_json::json!(["directory.read", "extra"])
    );

    // A secret client: the secret is printed once; rotation retires the old one.
    let o = ahdapa(
        &s,
        Some(&admin),
        &["client", "add", "svc-adm", "--scope", "s"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let first = stdout_value(&o, "client_secret");
    assert_eq!(secret_token(&s, "svc-adm", &first, "s").status, 200);
    let o = ahdapa(&s, Some(&admin), &["client", "rotate-secret", "svc-adm"]);
    assert!(o.status.success(), "{}", text(&o));
    let second = stdout_value(&o, "client_secret");
    assert_eq!(secret_token(&s, "svc-adm", &first, "s").status, 401);
    assert_eq!(secret_token(&s, "svc-adm", &second, "s").status, 200);
    // HS256 token signing needs the secret whole: a hashed one is replaced by a new,
    // sealed secret, printed once; turning HS256 off again keeps that secret (hashed).
    let o = ahdapa(
        &s,
        Some(&admin),
        &["client", "update", "svc-adm", "--token-signing", "HS256"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let third = stdout_value(&o, "client_secret");
    assert_ne!(third, "(set)");
    let r = secret_token(&s, "svc-adm", &third, "s");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        crate::harness::header(r.json()["access_token"].as_str().unwrap())["alg"],
        "HS256"
    );
    assert_eq!(secret_token(&s, "svc-adm", &second, "s").status, 401);
    let o = ahdapa(
        &s,
        Some(&admin),
        &["client", "update", "svc-adm", "--token-signing", "server"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("client_secret"),
        "{}",
        text(&o)
    );
    let r = secret_token(&s, "svc-adm", &third, "s");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        crate::harness::header(r.json()["access_token"].as_str().unwrap())["alg"],
        "ES256"
    );
    // An ordinary update prints no secret (not even "(set)").
    let o = ahdapa(
        &s,
        Some(&admin),
        &["client", "update", "svc-adm", "--scope", "s"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("client_secret"));

    // Errors scripts can tell apart.
    let o = ahdapa(
        &s,
        Some(&admin),
        &["client", "add", "bad-adm", "--scope", "a b"],
    );
    assert_eq!(o.status.code(), Some(6), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("scopes"),
        "{}",
        text(&o)
    );
    let o = ahdapa(
        &s,
        Some(&admin),
        &["client", "add", "svc-adm", "--scope", "s"],
    );
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    let o = ahdapa(&s, Some(&admin), &["client", "remove", "automation"]);
    assert_eq!(
        o.status.code(),
        Some(5),
        "config clients are read-only: {}",
        text(&o)
    );
    let o = ahdapa(&s, Some(&admin), &["client", "remove", "svc-adm"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = ahdapa(&s, Some(&admin), &["client", "show", "svc-adm"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));

    // Not an admin, and no ticket at all.
    let o = ahdapa(&s, Some(&nobody), &["client", "list"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("403"));
    let o = ahdapa(&s, None, &["client", "list"]);
    assert_eq!(o.status.code(), Some(3), "no ticket: {}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("kinit"),
        "{}",
        text(&o)
    );

    // Admin tokens: with ahdapa.admin they work, without they are 403.
    let reply = secret_token(&s, "automation", &tok_secret, "ahdapa.admin");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let admin_token = reply.json()["access_token"].as_str().unwrap().to_owned();
    let o = ahdapa(
        &s,
        None,
        &["--token", &admin_token, "keys", "list", "--json"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let keys: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(keys[0]["state"], "active");
    let old_kid = keys[0]["kid"].as_str().unwrap().to_owned();
    // The only signer cannot be retired; after a rotation with --now it can.
    let o = ahdapa(
        &s,
        None,
        &["--token", &admin_token, "keys", "retire", &old_kid],
    );
    assert_eq!(o.status.code(), Some(6), "{}", text(&o));
    let o = ahdapa(
        &s,
        None,
        &["--token", &admin_token, "keys", "rotate", "--now"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = ahdapa(
        &s,
        None,
        &["--token", &admin_token, "keys", "retire", &old_kid],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = ahdapa(
        &s,
        None,
        &["--token", &admin_token, "keys", "list", "--json"],
    );
    let keys: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let state_of = |kid: &str| {
        keys.as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .map(|k| k["state"].as_str().unwrap().to_owned())
    };
    assert_eq!(state_of(&old_kid).as_deref(), Some("retired"));
    let reply = secret_token(&s, "plain", &plain_secret, "other");
    let plain_token = reply.json()["access_token"].as_str().unwrap().to_owned();
    let o = ahdapa(&s, None, &["--token", &plain_token, "client", "list"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));

    // Every change is in the audit log, naming the admin and the client; no secret.
    let log = s.log_text();
    for line in [
        format!("root-adm@{REALM} client.create fleet-adm"),
        format!("root-adm@{REALM} client.disable fleet-adm"),
        format!("root-adm@{REALM} client.update fleet-adm: scopes"),
        format!("root-adm@{REALM} client.rotate_secret svc-adm"),
        format!("root-adm@{REALM} client.delete svc-adm"),
        "automation keys.rotate".to_owned(),
        "automation keys.retire".to_owned(),
    ] {
        assert!(log.contains(&line), "missing audit {line:?} in\n{log}");
    }
    assert!(
        !log.contains(&first) && !log.contains(&second),
        "a secret was logged"
    );
}

#[test]
fn directory_group_members_are_admins() {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "{}[admin]\ngroups = [\"admins\"]\n",
        crate::ldap::shared().config(dir.path(), "")
    );
    let s = Server::start(Options::kerberos(&extra));
    // alice is in cn=admins; bob is not (and is locked).
    let alice = user("alice");
    let bob = user("bob");
    let o = ahdapa(&s, Some(&alice), &["client", "list"]);
    assert!(o.status.success(), "{}\n{}", text(&o), s.log_text());
    let o = ahdapa(&s, Some(&bob), &["client", "list"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}

#[test]
fn hosts_enrol_for_sssd_and_re_enrolment_rotates() {
    let extra = format!("[enrollment]\nprincipal_pattern = \"host/*.enr.test.realm@{REALM}\"\n");
    let s = Server::start(Options::kerberos(&extra));
    let kt = realm().add_hosts(&["n1.enr.test.realm", "n1.other-enr.test.realm"]);
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("sssd/conf.d/ahdapa.conf");
    let enroll = |keytab: &std::path::Path, principal: &str| {
        let mut c = realm().command(BIN);
        c.env("KRB5CCNAME", "MEMORY:enrol")
            .args(["--server", &s.base_url, "--ca-file"])
            .arg(&pki().ca)
            .args(["enroll", "--keytab"])
            .arg(keytab)
            .args(["--principal", principal, "--sssd-conf"])
            .arg(&conf);
        c.output().unwrap()
    };
    let principal = format!("host/n1.enr.test.realm@{REALM}");
    let o = enroll(&kt[0], &principal);
    assert!(o.status.success(), "{}\n{}", text(&o), s.log_text());
    let mode = std::fs::metadata(&conf).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let read = || {
        let text = std::fs::read_to_string(&conf).unwrap();
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k} = ")).map(str::to_owned))
                .unwrap()
        };
        assert_eq!(get("id_provider"), "idp");
        assert_eq!(
            get("idp_type"),
            format!("keycloak:{}/api/identity", s.base_url)
        );
        assert_eq!(get("idp_token_endpoint"), format!("{}/token", s.base_url));
        assert_eq!(get("idp_id_scope"), "directory.read");
        (get("idp_client_id"), get("idp_client_secret"))
    };
    let (id, secret) = read();
    assert_eq!(id, "host-n1.enr.test.realm");
    // SSSD's request: client_secret_post.
    let post = |secret: &str| {
        curl(
            &s.base_url,
            &[
                "-d",
                &format!("{CC}&client_id={id}&client_secret={secret}&scope=directory.read"),
            ],
            "/token",
        )
    };
    let reply = post(&secret);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["scope"], "directory.read");

    // Again: a new secret, the old one is refused.
    let o = enroll(&kt[0], &principal);
    assert!(o.status.success(), "{}", text(&o));
    let (_, second) = read();
    assert_ne!(second, secret);
    assert_eq!(post(&secret).status, 401);
    assert_eq!(post(&second).status, 200);

    // A host outside the policy.
    let o = enroll(&kt[1], &format!("host/n1.other-enr.test.realm@{REALM}"));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}

/// A revoked token is refused at once by the protected endpoints of the node that revoked
/// it, and within the documented bound (1 s re-check) by another node sharing the store.
#[test]
fn revocation_reaches_the_protected_endpoints_of_every_node() {
    let (secret, hash) = generate_secret();
    let state = tempfile::tempdir().unwrap();
    let table = format!(
        "[[clients]]\nclient_id = \"ops\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\n\
         {hash}\nscopes = [\"ahdapa.admin\"]\n"
    );
    let opts = |issuer: Option<String>| Options {
        extra: table.clone(),
        state_dir: Some(state.path().to_owned()),
        issuer,
        ..Options::default()
    };
    let a = Server::start(opts(None));
    let b = Server::start(opts(Some(a.base_url.clone())));
    let reply = secret_token(&a, "ops", &secret, "ahdapa.admin");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    let keys = |s: &Server| {
        curl(
            &s.base_url,
            &["-H", &format!("Authorization: Bearer {token}")],
            "/api/admin/keys",
        )
        .status
    };
    assert_eq!(keys(&a), 200);
    assert_eq!(keys(&b), 200);
    let reply = curl(
        &a.base_url,
        &[
            "-u",
            &format!("ops:{secret}"),
            "-d",
            &format!("token={token}"),
        ],
        "/revoke",
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(keys(&a), 401, "the revoking node refuses at once");
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(2500);
    while keys(&b) != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "node B still accepts a revoked token"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
