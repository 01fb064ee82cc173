//! The directory against a real slapd with a FreeIPA-like tree and a real KDC: template
//! clients with host-group requirements, the identity API as SSSD's oidc_child calls it,
//! DPoP-bound tokens at the identity API, outages and recovery, and a SASL/GSSAPI bind.

use std::time::{Duration, Instant};

use crate::harness::{Options, Server, claims, curl, curl_with, generate_secret};
use crate::kdc::{Host, REALM, realm};
use crate::ldap::{Slapd, shared};

const CC: &str = "grant_type=client_credentials";

/// A template client for `host/*.test.realm` hosts in the `oauth-clients` host group, one
/// that only needs an unlocked entry, a user-principal template, and a
/// client_secret_post client as SSSD uses it.
fn clients(sssd_hash: &str) -> String {
    format!(
        "[[clients]]\nclient_id = \"fleet\"\ntoken_endpoint_auth_method = \"kerberos_client_auth\"\n\
         kerberos_principal_pattern = \"host/*.test.realm@{REALM}\"\nscopes = [\"directory.read\"]\n\
         directory = {{ require_groups = [\"oauth-clients\"], claims = [\"hostgroups\", \"fqdn\"] }}\n\
         [[clients]]\nclient_id = \"fleet-any\"\ntoken_endpoint_auth_method = \"kerberos_client_auth\"\n\
         kerberos_principal_pattern = \"host/*.test.realm@{REALM}\"\nscopes = [\"directory.read\", \"other\"]\n\
         directory = {{ require_entry = true }}\n\
         [[clients]]\nclient_id = \"people\"\ntoken_endpoint_auth_method = \"kerberos_client_auth\"\n\
         kerberos_principal_pattern = \"*@{REALM}\"\nscopes = [\"directory.read\"]\n\
         directory = {{ claims = [\"groups\"] }}\n\
         [[clients]]\nclient_id = \"sssd-node1\"\ntoken_endpoint_auth_method = \"client_secret_post\"\n\
         {sssd_hash}\nscopes = [\"directory.read\"]\n"
    )
}

struct Setup {
    server: Server,
    sssd_secret: String,
    _dir: tempfile::TempDir,
}

fn start(slapd: &Slapd, directory_extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (secret, hash) = generate_secret();
    let extra = format!(
        "{}{}",
        slapd.config(dir.path(), directory_extra),
        clients(&hash)
    );
    Setup {
        server: Server::start(Options::kerberos(&extra)),
        sssd_secret: secret,
        _dir: dir,
    }
}

/// `curl --negotiate` from `host`'s credential cache for a client_credentials token.
pub(crate) fn negotiate(s: &Server, host: &Host, client_id: &str) -> crate::harness::Reply {
    curl_with(
        host.command("curl"),
        &s.base_url,
        &[
            "--negotiate",
            "-u",
            ":",
            "-d",
            &format!("{CC}&client_id={client_id}"),
        ],
        "/token",
    )
}

fn get(s: &Server, token: &str, path: &str) -> crate::harness::Reply {
    curl(
        &s.base_url,
        &["-H", &format!("Authorization: Bearer {token}")],
        path,
    )
}

fn sssd_token(setup: &Setup) -> String {
    let reply = curl(
        &setup.server.base_url,
        &[
            "-d",
            &format!(
                "{CC}&client_id=sssd-node1&client_secret={}&scope=directory.read",
                setup.sssd_secret
            ),
        ],
        "/token",
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

fn hosts(names: &[&str]) -> Vec<Host> {
    let kt = realm().add_hosts(names);
    names
        .iter()
        .zip(kt)
        .map(|(n, k)| {
            let h = Host::new(n, &k);
            h.kinit(None);
            h
        })
        .collect()
}

#[test]
fn host_groups_and_locks_decide_and_add_claims() {
    let setup = start(shared(), "");
    let s = &setup.server;
    let h = hosts(&[
        "node1.test.realm",
        "node2.test.realm",
        "node3.test.realm",
        "node4.test.realm",
    ]);

    // node1 is in oauth-clients: a token with its host groups and fqdn.
    let reply = negotiate(s, &h[0], "fleet");
    assert_eq!(reply.status, 200, "{}\n{}", reply.body, s.log_text());
    let c = claims(reply.json()["access_token"].as_str().unwrap());
    assert_eq!(c["sub"], h[0].principal);
    assert_eq!(c["hostgroups"], serde_json::json!(["oauth-clients"]));
    assert_eq!(c["fqdn"], "node1.test.realm");

    // node2 exists but is in no required group; node3 is locked; node4 has no entry.
    for (host, client) in [(&h[1], "fleet"), (&h[2], "fleet-any"), (&h[3], "fleet-any")] {
        let reply = negotiate(s, host, client);
        assert_eq!(reply.status, 401, "{} for {}", reply.body, host.principal);
        assert_eq!(reply.json()["error"], "invalid_client");
    }
    // node2 is fine for a client that only needs the entry; no claims were asked for.
    let reply = negotiate(s, &h[1], "fleet-any");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let c = claims(reply.json()["access_token"].as_str().unwrap());
    assert!(c.get("hostgroups").is_none() && c.get("fqdn").is_none());
    let log = s.log_text();
    assert!(log.contains("is locked in the directory"), "{log}");
    assert!(log.contains("has no directory entry"), "{log}");
}

#[test]
fn a_user_principal_gets_its_groups() {
    let setup = start(shared(), "");
    let kt = realm().user("alice");
    let alice = Host::with_principal(&format!("alice@{REALM}"), &kt);
    alice.kinit(None);
    let reply = negotiate(&setup.server, &alice, "people");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let c = claims(reply.json()["access_token"].as_str().unwrap());
    assert_eq!(c["sub"], format!("alice@{REALM}"));
    assert_eq!(
        c["groups"],
        serde_json::json!(["admins", "ipausers", "we*ird(grp)\\"])
    );
}

/// Exactly what SSSD 2.11/2.12's oidc_child sends (src/oidc_child/oidc_child_id.c,
/// keycloak_lookup): a token request per step, then the searches and the second-step
/// GETs with the id from the first answer pasted into the path unencoded.
#[test]
fn sssd_oidc_child_contract() {
    let setup = start(shared(), "");
    let s = &setup.server;
    let base = format!("{}/api/identity", s.base_url);
    let sssd_headers = [
        "-H",
        "Accept: application/json",
        "-H",
        "User-Agent: SSSD oidc_child/0.0",
    ];
    // 2.11's body: not URL-encoded, with an empty parameter (`&&`); newer builds encode.
    let mut tokens = Vec::new();
    for body in [
        format!(
            "grant_type=client_credentials&client_id=sssd-node1&&client_secret={}&scope=directory.read",
            setup.sssd_secret
        ),
        format!(
            "grant_type=client_credentials&client_id=sssd-node1&client_secret={}&scope=directory.read",
            setup.sssd_secret
        ),
    ] {
        let mut args = sssd_headers.to_vec();
        args.extend(["--data-binary", &body]);
        let reply = curl(&s.base_url, &args, "/token");
        assert_eq!(reply.status, 200, "{}", reply.body);
        tokens.push(reply.json()["access_token"].as_str().unwrap().to_owned());
    }
    let token = &tokens[0];
    let auth = format!("Authorization: Bearer {token}");
    let lookup = |path: &str, second_step: bool| {
        let mut args = sssd_headers.to_vec();
        args.extend(["-H", &auth]);
        if second_step {
            args.extend(["-H", "Content-Type: application/json"]);
        }
        let reply = curl(&base, &args, path);
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        reply.json()
    };

    // getpwnam alice.
    let users = lookup("/users?username=alice&exact=true", false);
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 1);
    let alice = &users[0];
    assert_eq!(alice["username"], "alice");
    let id = alice["id"].as_str().expect("id is a string");
    assert_eq!(id, format!("alice@{REALM}"));
    assert_eq!(alice["uidNumber"], 1001);
    assert_eq!(alice["homeDirectory"], "/home/alice");
    assert_eq!(alice["loginShell"], "/bin/bash");

    // initgroups: the id pasted raw into the path.
    let groups = lookup(
        &format!("/users/{id}/groups?briefRepresentation=false"),
        true,
    );
    let names: Vec<&str> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            assert!(g.get("username").is_none(), "a group has no username: {g}");
            assert!(g["id"].is_string());
            g["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(names, ["admins", "ipausers", "we*ird(grp)\\"]);
    let admins = &groups.as_array().unwrap()[0];
    assert_eq!(admins["gidNumber"], 1000);

    // getgrnam admins, then its members in a second run.
    let found = lookup(
        "/groups?search=admins&exact=true&populateHierarchy=false&briefRepresentation=false",
        false,
    );
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["name"], "admins");
    assert!(found[0].get("username").is_none());
    let gid = found[0]["id"].as_str().unwrap();
    let members = lookup(&format!("/groups/{gid}/members"), true);
    let members = members.as_array().unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["username"], "alice");

    // Not found is 200 [].
    assert_eq!(
        lookup("/users?username=nobody&exact=true", false),
        serde_json::json!([])
    );
    assert_eq!(
        lookup("/groups?search=nobody&exact=true", false),
        serde_json::json!([])
    );
    // A username in another case than stored is not returned (SSSD would drop it).
    assert_eq!(
        lookup("/users?username=ALICE&exact=true", false),
        serde_json::json!([])
    );
    // The encoded-body token works the same.
    assert_eq!(
        get(
            s,
            &tokens[1],
            "/api/identity/users?username=alice&exact=true"
        )
        .json()[0]["id"],
        id
    );
}

#[test]
fn identity_lookups_by_number_special_names_and_pages() {
    let setup = start(shared(), "");
    let s = &setup.server;
    let token = sssd_token(&setup);
    let json = |path: &str| {
        let reply = get(s, &token, &format!("/api/identity{path}"));
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        reply.json()
    };
    assert_eq!(json("/users?uidNumber=1002")[0]["username"], "bob");
    assert_eq!(json("/users?uidNumber=1002")[0]["enabled"], false);
    assert_eq!(json("/groups?gidNumber=1000")[0]["name"], "admins");
    assert_eq!(json("/users?uidNumber=4242"), serde_json::json!([]));

    // Names with filter metacharacters and NUL are values, never filter syntax.
    let weird = json("/users?username=we%2Aird%281%29%5C&exact=true");
    assert_eq!(weird[0]["username"], "we*ird(1)\\");
    assert_eq!(weird[0]["gecos"], "Weird (test) user");
    for probe in [
        "%2A",
        "al%2A",
        "%2A%29%28uid%3D%2A",
        "alice%00",
        "%00",
        "%5C",
    ] {
        assert_eq!(
            json(&format!("/users?username={probe}&exact=true")),
            serde_json::json!([]),
            "{probe}"
        );
    }
    let group = json("/groups?search=we%2Aird%28grp%29%5C&exact=true");
    assert_eq!(group[0]["name"], "we*ird(grp)\\");
    let members = json("/groups/we%2Aird%28grp%29%5C/members");
    let names: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "we*ird(1)\\"]);
    let by_id = json("/users/weird@TEST.REALM/groups");
    assert_eq!(by_id[0]["name"], "we*ird(grp)\\");
    // Paths that name an object by id: 404 for none, as Keycloak answers.
    for path in ["/users/nobody@TEST.REALM/groups", "/groups/nogroup/members"] {
        let reply = get(s, &token, &format!("/api/identity{path}"));
        assert_eq!(reply.status, 404, "{path}: {}", reply.body);
        assert_eq!(reply.json()["error"], "not_found", "{path}");
    }

    // One call for a user and its groups.
    let init = json("/initgroups?username=alice");
    assert_eq!(init["user"]["uidNumber"], 1001);
    assert_eq!(init["groups"].as_array().unwrap().len(), 3);

    // Listing, one page at a time through the Link header.
    let mut names = Vec::new();
    let mut path = format!("{}/api/identity/users?max=2", s.base_url);
    for _ in 0..10 {
        let reply = curl(
            "",
            &["-H", &format!("Authorization: Bearer {token}")],
            &path,
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        for u in reply.json().as_array().unwrap() {
            names.push(u["username"].as_str().unwrap().to_owned());
        }
        let next = reply
            .headers
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("link:"))
            .and_then(|l| l.split('<').nth(1))
            .and_then(|l| l.split('>').next())
            .map(str::to_owned);
        match next {
            Some(n) => path = n,
            None => break,
        }
    }
    // Other tests add people to the shared directory meanwhile: only the fixture's are
    // counted (each once: a page repeated would repeat them).
    names.retain(|n| ["alice", "bob", "we*ird(1)\\"].contains(&n.as_str()));
    assert_eq!(names, ["alice", "bob", "we*ird(1)\\"]);
}

#[test]
fn identity_api_refuses_missing_bad_and_unscoped_tokens() {
    let setup = start(shared(), "");
    let s = &setup.server;
    let path = "/api/identity/users?username=alice&exact=true";
    let reply = curl(&s.base_url, &[], path);
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"], "missing_token");
    assert!(reply.headers.contains("Bearer realm="), "{}", reply.headers);
    let reply = get(s, "not.a.token", path);
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"], "invalid_token");
    assert!(reply.headers.contains("error=\"invalid_token\""));

    // A Kerberos host token with only the `other` scope.
    let h = hosts(&["scope1.test.realm"]);
    let reply = curl_with(
        h[0].command("curl"),
        &s.base_url,
        &[
            "--negotiate",
            "-u",
            ":",
            "-d",
            &format!("{CC}&client_id=fleet-any&scope=other"),
        ],
        "/token",
    );
    // scope1 has no entry: the directory requirement refuses it before any scope check.
    assert_eq!(reply.status, 401, "{}", reply.body);
    let h2 = &hosts(&["scope2.test.realm"])[0];
    shared().modify(
        "dn: fqdn=scope2.test.realm,cn=computers,cn=accounts,dc=test,dc=realm\nchangetype: add\n\
         objectClass: top\nobjectClass: nsHost\nobjectClass: ipaHost\nobjectClass: krbPrincipalAux\n\
         cn: scope2.test.realm\nfqdn: scope2.test.realm\nkrbPrincipalName: host/scope2.test.realm@TEST.REALM\n",
    );
    let reply = curl_with(
        h2.command("curl"),
        &s.base_url,
        &[
            "--negotiate",
            "-u",
            ":",
            "-d",
            &format!("{CC}&client_id=fleet-any&scope=other"),
        ],
        "/token",
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let other = reply.json()["access_token"].as_str().unwrap().to_owned();
    let reply = get(s, &other, path);
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.json()["error"], "insufficient_scope");
    assert!(reply.headers.contains("error=\"insufficient_scope\""));
}

/// RFC 9449 §7 at a protected endpoint: a DPoP-bound token works with a fresh proof for
/// this GET, and is refused as Bearer, without a proof, with a replayed proof, and with a
/// proof for another URL.
#[test]
fn dpop_bound_tokens_at_the_identity_api() {
    use crate::dpop::{keygen, proof, token};
    let dir = tempfile::tempdir().unwrap();
    let (secret, hash) = generate_secret();
    let extra = format!(
        "{}[[clients]]\nclient_id = \"dpop-rs\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\n\
         {hash}\nscopes = [\"directory.read\"]\ndpop_bound_access_tokens = true\n",
        shared().config(dir.path(), "")
    );
    let s = Server::start_tls(&extra);
    let key = keygen();
    let token_url = format!("{}/token", s.base_url);
    let reply = token(
        &s,
        "dpop-rs",
        &secret,
        Some(&proof(&key, &token_url, |_, _| {})),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["token_type"], "DPoP");
    let at = reply.json()["access_token"].as_str().unwrap().to_owned();
    let ath = {
        use base64::Engine;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, at.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
    };
    let path = "/api/identity/users";
    let url = format!("{}{path}", s.base_url);
    let get_proof = |htu: &str| {
        proof(&key, htu, |_, c| {
            c["htm"] = "GET".into();
            c["ath"] = ath.clone().into();
        })
    };
    let call = |scheme: &str, proof: Option<&str>| {
        let mut args = vec!["-H".to_owned(), format!("Authorization: {scheme} {at}")];
        if let Some(p) = proof {
            args.extend(["-H".to_owned(), format!("DPoP: {p}")]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        curl(
            &s.base_url,
            &args,
            &format!("{path}?username=alice&exact=true"),
        )
    };

    let good = get_proof(&url);
    let reply = call("DPoP", Some(&good));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()[0]["username"], "alice");

    let reply = call("DPoP", Some(&good));
    assert_eq!(reply.status, 401, "a replayed proof: {}", reply.body);
    assert_eq!(reply.json()["error"], "invalid_dpop_proof");

    let reply = call("DPoP", None);
    assert_eq!(reply.status, 401, "no proof: {}", reply.body);

    let reply = call("Bearer", None);
    assert_eq!(reply.status, 401, "as Bearer: {}", reply.body);
    assert_eq!(reply.json()["error"], "invalid_token");

    let reply = call(
        "DPoP",
        Some(&get_proof(&format!("{}/api/identity/groups", s.base_url))),
    );
    assert_eq!(reply.status, 401, "other htu: {}", reply.body);
}

/// slapd frozen (SIGSTOP): lookups end in 503 within the timeout, cached answers still
/// come; slapd killed: 503 at once and a token that needs the directory is 503, not
/// invalid_client; slapd back: everything recovers without a restart.
#[test]
fn directory_outage_is_fast_503_and_recovers() {
    let mut slapd = Slapd::start_owned();
    let setup = start(
        &slapd,
        "timeout_ms = 1000\ncache_ttl_secs = 300\nnegative_cache_ttl_secs = 0\n",
    );
    let s = &setup.server;
    let token = sssd_token(&setup);
    let h = hosts(&["out1.test.realm"]);
    let alice = "/api/identity/users?username=alice&exact=true";
    let bob = "/api/identity/users?username=bob&exact=true";
    assert_eq!(get(s, &token, alice).status, 200);

    let pid = slapd_pid(&slapd);
    let sig = |name: &str| {
        assert!(
            std::process::Command::new("kill")
                .args([name, &pid.to_string()])
                .status()
                .unwrap()
                .success()
        );
    };
    sig("-STOP");
    let started = Instant::now();
    let reply = get(s, &token, bob);
    let took = started.elapsed();
    sig("-CONT");
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.json()["error"], "temporarily_unavailable");
    assert!(took < Duration::from_millis(2500), "took {took:?}");

    slapd.stop();
    // Cached: still answered.
    let reply = get(s, &token, alice);
    assert_eq!(reply.status, 200, "{}", reply.body);
    // Not cached: 503, fast.
    let started = Instant::now();
    let reply = get(s, &token, bob);
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(started.elapsed() < Duration::from_millis(2500));
    // A token that needs the directory: 503, not invalid_client.
    let reply = negotiate(s, &h[0], "fleet-any");
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.json()["error"], "temporarily_unavailable");
    let reply = curl(&s.base_url, &[], "/readyz");
    assert_eq!(reply.status, 503, "{}", reply.body);

    slapd.spawn();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = get(s, &token, bob);
        if reply.status == 200 {
            assert_eq!(reply.json()[0]["username"], "bob");
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {}", reply.body);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(curl(&s.base_url, &[], "/readyz").status, 200);
}

fn slapd_pid(slapd: &Slapd) -> u32 {
    std::fs::read_to_string(slapd.dir.join("slapd.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// ahdapa binds with SASL/GSSAPI using its own keytab (HTTP/localhost), no password.
#[test]
fn gssapi_bind_with_the_service_keytab() {
    let r = realm();
    let slapd = shared();
    let (secret, hash) = generate_secret();
    let extra = format!(
        "[directory]\nuris = [\"ldap://localhost:{}\"]\nbase_dn = \"{}\"\nbind = \"gssapi\"\n\
         principal = \"HTTP/localhost@{REALM}\"\nca_file = \"{}\"\n\
         [[clients]]\nclient_id = \"sssd-g\"\ntoken_endpoint_auth_method = \"client_secret_post\"\n\
         {hash}\nscopes = [\"directory.read\"]\n",
        slapd.port,
        crate::ldap::BASE_DN,
        crate::harness::pki().ca.display()
    );
    let _ = r;
    let s = Server::start_kerberos(&extra);
    let reply = curl(
        &s.base_url,
        &[
            "-d",
            &format!("{CC}&client_id=sssd-g&client_secret={secret}&scope=directory.read"),
        ],
        "/token",
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    let reply = get(&s, &token, "/api/identity/groups/admins/members");
    assert_eq!(reply.status, 200, "{}\n{}", reply.body, s.log_text());
    assert_eq!(reply.json()[0]["username"], "alice");
}

/// Scope policies: a scope that needs a directory group stays only for members, for
/// people and hosts alike.
#[test]
fn scope_policies_follow_directory_groups() {
    let dir = tempfile::tempdir().unwrap();
    let policies = format!(
        "[[clients]]\nclient_id = \"staff\"\ntoken_endpoint_auth_method = \"kerberos_client_auth\"\n\
         kerberos_principal_pattern = \"*@{REALM}\"\nscopes = [\"directory.read\", \"admin.write\"]\n\
         scope_policies = {{ \"admin.write\" = {{ groups = [\"admins\"] }} }}\n\
         [[clients]]\nclient_id = \"fleet-ops\"\ntoken_endpoint_auth_method = \"kerberos_client_auth\"\n\
         kerberos_principal_pattern = \"host/*.test.realm@{REALM}\"\nscopes = [\"directory.read\", \"ops\"]\n\
         scope_policies = {{ ops = {{ groups = [\"oauth-clients\"] }} }}\n"
    );
    let s = Server::start(Options::kerberos(&format!(
        "{}{policies}",
        shared().config(dir.path(), "")
    )));
    let person = |name: &str| {
        let h = Host::with_principal(&format!("{name}@{REALM}"), &realm().user(name));
        h.kinit(None);
        h
    };
    let scope_of = |h: &Host, client: &str, scope: Option<&str>| {
        let mut body = format!("{CC}&client_id={client}");
        if let Some(s) = scope {
            body.push_str(&format!("&scope={s}"));
        }
        curl_with(
            h.command("curl"),
            &s.base_url,
            &["--negotiate", "-u", ":", "-d", &body],
            "/token",
        )
    };
    // alice is in admins: both scopes; bob is not: admin.write is dropped, and asking
    // for it alone is invalid_scope.
    let (alice, bob) = (person("alice"), person("bob"));
    let r = scope_of(&alice, "staff", None);
    assert_eq!(
        r.json()["scope"],
        "directory.read admin.write",
        "{}",
        r.body
    );
    let r = scope_of(&bob, "staff", None);
    assert_eq!(r.json()["scope"], "directory.read", "{}", r.body);
    let d = scope_of(&bob, "staff", Some("admin.write")).refusal(400, "invalid_scope");
    assert!(d.contains("admins"), "{d}");
    // Hosts: node1 is in the oauth-clients host group, node2 is not.
    let h = hosts(&["node1.test.realm", "node2.test.realm"]);
    assert_eq!(
        scope_of(&h[0], "fleet-ops", None).json()["scope"],
        "directory.read ops"
    );
    assert_eq!(
        scope_of(&h[1], "fleet-ops", None).json()["scope"],
        "directory.read"
    );
    assert!(s.log_text().contains("scopes dropped by scope_policies"));
}
