//! People logging in on hosts: the device authorization grant (RFC 8628) as SSSD's
//! `oidc_child` drives it — the device request, the polls, the person on the
//! verification page (code, password checked by the real KDC, the question) — then
//! refresh tokens with rotation, the grace window and family revocation, and the
//! Keycloak URL layout FreeIPA's `ipa idp-add --provider keycloak` builds.

use crate::harness::{Reply, Server, claims, curl};
use crate::kdc::realm;
use crate::signin::{enc, hidden, location};

/// The sign-in client as SSSD hosts use it: public (`--client-auth-method=none`), the
/// device grant, OpenID scopes.
fn sssd_client(id: &str) -> String {
    format!(
        "[[clients]]\nclient_id = \"{id}\"\ntoken_endpoint_auth_method = \"none\"\n\
         grant_types = [\"urn:ietf:params:oauth:grant-type:device_code\"]\n\
         scopes = [\"openid\", \"profile\", \"email\"]\nclient_name = \"SSSD {id}\"\n"
    )
}

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// `[device]` with a 1 s interval, so polls in a test need not wait 5 s.
const FAST_DEVICE: &str = "[device]\ninterval_secs = 1\n";

/// oidc_child's device request body (`client_id`, `scope`).
pub(crate) fn device_request(s: &Server, path: &str, client_id: &str, scope: &str) -> Reply {
    curl(
        &s.base_url,
        &["-d", &format!("client_id={client_id}&scope={}", enc(scope))],
        path,
    )
}

/// oidc_child's poll body.
pub(crate) fn poll(s: &Server, path: &str, client_id: &str, device_code: &str) -> Reply {
    curl(
        &s.base_url,
        &[
            "-d",
            &format!("grant_type={DEVICE_GRANT}&client_id={client_id}&device_code={device_code}"),
        ],
        path,
    )
}

/// The person's side with curl as the browser: the code page, the code, the sign-in
/// page (password), and the question answered with `decision`. Returns the last reply.
pub(crate) fn approve(
    s: &Server,
    jar: &std::path::Path,
    verification_uri_complete: &str,
    user: &str,
    password: &str,
    decision: &str,
) -> Reply {
    let jar_s = jar.to_str().unwrap();
    let path = verification_uri_complete
        .strip_prefix(&s.base_url)
        .unwrap_or_else(|| panic!("{verification_uri_complete} is not on {}", s.base_url));
    let page = curl(&s.base_url, &["-b", jar_s, "-c", jar_s], path);
    assert_eq!(page.status, 200, "{}", page.body);
    let code = hidden(&page.body, "user_code").to_owned();
    assert!(
        path.ends_with(&code),
        "the code is prefilled: {path} {code}"
    );
    let csrf = hidden(&page.body, "csrf");
    let entered = curl(
        &s.base_url,
        &[
            "-b",
            jar_s,
            "-c",
            jar_s,
            "-d",
            &format!(
                "user_code={}&csrf={}",
                enc(&code.to_lowercase()),
                enc(&csrf)
            ),
        ],
        "/device",
    );
    assert_eq!(entered.status, 303, "{}", entered.body);
    let approve_path = location(&entered);
    assert!(
        approve_path.starts_with("/device/approve?user_code="),
        "{approve_path}"
    );
    let mut signin = curl(&s.base_url, &["-b", jar_s, "-c", jar_s], &approve_path);
    if signin.body.contains("name=\"password\"") {
        assert!(
            signin.body.contains("action=\"/device/password\""),
            "{}",
            signin.body
        );
        let authz = hidden(&signin.body, "authz").replace("&amp;", "&");
        let csrf = hidden(&signin.body, "csrf");
        signin = curl(
            &s.base_url,
            &[
                "-b",
                jar_s,
                "-c",
                jar_s,
                "--data-urlencode",
                &format!("authz={authz}"),
                "--data-urlencode",
                &format!("csrf={csrf}"),
                "--data-urlencode",
                &format!("username={user}"),
                "--data-urlencode",
                &format!("password={password}"),
            ],
            "/device/password",
        );
    }
    assert_eq!(signin.status, 200, "{}", signin.body);
    assert!(
        signin.body.contains("to sign you in") && signin.body.contains(&code),
        "the question names the client and shows the code: {}",
        signin.body
    );
    let csrf = hidden(&signin.body, "csrf");
    curl(
        &s.base_url,
        &[
            "-b",
            jar_s,
            "-c",
            jar_s,
            "-d",
            &format!(
                "user_code={}&csrf={}&decision={decision}",
                enc(&code),
                enc(&csrf)
            ),
        ],
        "/device/consent",
    )
}

fn refresh(s: &Server, client_id: &str, token: &str, scope: &str) -> Reply {
    curl(
        &s.base_url,
        &[
            "-d",
            &format!(
                "grant_type=refresh_token&client_id={client_id}&refresh_token={}&scope={}",
                enc(token),
                enc(scope)
            ),
        ],
        "/token",
    )
}

#[test]
fn a_person_approves_a_device_code_and_the_host_refreshes_with_rotation() {
    let r = realm();
    let user = r.person("dv1alice", "dv1-password");
    let s = Server::start_kerberos(&format!("{FAST_DEVICE}{}", sssd_client("dv1-sssd")));

    // oidc_child with nothing configured asks for the literal scope `user`: narrowed to
    // the client's own scopes, not refused.
    let started = device_request(&s, "/device_authorization", "dv1-sssd", "user");
    assert_eq!(started.status, 200, "{}", started.body);
    let d = started.json();
    let device_code = d["device_code"].as_str().unwrap().to_owned();
    assert!(
        device_code.len() <= 128
            && device_code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let user_code = d["user_code"].as_str().unwrap();
    assert!(
        user_code.len() == 9 && user_code.as_bytes()[4] == b'-',
        "XXXX-XXXX: {user_code}"
    );
    assert_eq!(d["verification_uri"], format!("{}/device", s.base_url));
    assert_eq!(
        d["verification_uri_complete"],
        format!("{}/device?user_code={user_code}", s.base_url)
    );
    assert_eq!(d["interval"], 1);
    assert_eq!(d["expires_in"], 600);

    // Pending, and too fast.
    let first = poll(&s, "/token", "dv1-sssd", &device_code);
    assert_eq!(
        first.json()["error"],
        "authorization_pending",
        "{}",
        first.body
    );
    let fast = poll(&s, "/token", "dv1-sssd", &device_code);
    assert_eq!(fast.json()["error"], "slow_down", "{}", fast.body);

    let dir = tempfile::tempdir().unwrap();
    let done = approve(
        &s,
        &dir.path().join("jar"),
        d["verification_uri_complete"].as_str().unwrap(),
        "dv1alice",
        "dv1-password",
        "allow",
    );
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("return to your device"), "{}", done.body);

    // Approved: the tokens, once (no interval applies to an approved code).
    let tokens = poll(&s, "/token", "dv1-sssd", &device_code);
    assert_eq!(tokens.status, 200, "{}\n{}", tokens.body, s.log_text());
    let t = tokens.json();
    assert_eq!(t["scope"], "openid profile email");
    let access = t["access_token"].as_str().unwrap();
    let at = claims(access);
    assert_eq!(at["sub"], user);
    assert!(
        at["iat"].as_u64().is_some() && at["exp"].as_u64() > at["iat"].as_u64(),
        "{at}"
    );
    assert!(t["id_token"].as_str().is_some());
    let refresh1 = t["refresh_token"].as_str().unwrap().to_owned();
    assert!(refresh1.len() >= 43, "256 bits");
    let again = poll(&s, "/token", "dv1-sssd", &device_code);
    assert_eq!(again.json()["error"], "invalid_grant", "{}", again.body);

    // userinfo: `sub` is the identity API's user id (the principal).
    let info = curl(
        &s.base_url,
        &["-H", &format!("Authorization: Bearer {access}")],
        "/userinfo",
    );
    assert_eq!(info.status, 200, "{}", info.body);
    assert_eq!(info.json()["sub"], user);
    assert_eq!(info.json()["preferred_username"], "dv1alice");

    // Refresh as SSSD 2.13 does: `scope` repeated. Always a new refresh token.
    let r1 = refresh(&s, "dv1-sssd", &refresh1, "user");
    assert_eq!(r1.status, 200, "{}", r1.body);
    let refresh2 = r1.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh2, refresh1);
    assert_eq!(r1.json()["scope"], "openid profile email");
    assert_eq!(
        claims(r1.json()["access_token"].as_str().unwrap())["sub"],
        user
    );
    // Narrowed, never widened.
    let narrow = refresh(&s, "dv1-sssd", &refresh2, "openid profile phone");
    assert_eq!(narrow.status, 200, "{}", narrow.body);
    assert_eq!(narrow.json()["scope"], "openid profile");
    let refresh3 = narrow.json()["refresh_token"].as_str().unwrap().to_owned();
    // The family keeps its scope: the next refresh may have email again.
    let wide = refresh(&s, "dv1-sssd", &refresh3, "openid profile email");
    assert_eq!(
        wide.json()["scope"],
        "openid profile email",
        "{}",
        wide.body
    );
    let refresh4 = wide.json()["refresh_token"].as_str().unwrap().to_owned();

    // A retry of the just-used token within the grace window: answered, no alarm.
    let retry = refresh(&s, "dv1-sssd", &refresh3, "user");
    assert_eq!(retry.status, 200, "grace window: {}", retry.body);
    assert_eq!(
        retry.json()["refresh_token"].as_str(),
        Some(refresh4.as_str()),
        "a retry gets the same successor"
    );
    // A third use of it is reuse: the whole family dies, the newest tokens too.
    let reuse = refresh(&s, "dv1-sssd", &refresh3, "user");
    assert_eq!(reuse.json()["error"], "invalid_grant", "{}", reuse.body);
    let newest = refresh(&s, "dv1-sssd", &refresh4, "user");
    assert_eq!(newest.json()["error"], "invalid_grant", "{}", newest.body);
    let retried = retry.json()["refresh_token"].as_str().unwrap().to_owned();
    let sibling = refresh(&s, "dv1-sssd", &retried, "user");
    assert_eq!(sibling.json()["error"], "invalid_grant", "{}", sibling.body);
    assert!(
        s.log_text().contains("refresh.family_revoked"),
        "the reuse is an audit event: {}",
        s.log_text()
    );
}

#[test]
fn a_denied_or_unknown_code_ends_the_poll() {
    let r = realm();
    r.person("dv2bob", "dv2-password");
    let s = Server::start_kerberos(&format!("{FAST_DEVICE}{}", sssd_client("dv2-sssd")));
    let d = device_request(&s, "/device_authorization", "dv2-sssd", "openid").json();
    let device_code = d["device_code"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let done = approve(
        &s,
        &dir.path().join("jar"),
        d["verification_uri_complete"].as_str().unwrap(),
        "dv2bob",
        "dv2-password",
        "deny",
    );
    assert!(done.body.contains("denied"), "{}", done.body);
    let polled = poll(&s, "/token", "dv2-sssd", device_code);
    assert_eq!(polled.json()["error"], "access_denied", "{}", polled.body);
    // A decided code cannot be entered again.
    let jar = dir.path().join("jar");
    let page = curl(
        &s.base_url,
        &["-b", jar.to_str().unwrap()],
        &format!(
            "/device/approve?user_code={}",
            d["user_code"].as_str().unwrap()
        ),
    );
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("not valid"), "{}", page.body);
    // Garbage and another client's code.
    assert_eq!(
        poll(&s, "/token", "dv2-sssd", "no-such-code").json()["error"],
        "invalid_grant"
    );
    let other = device_request(&s, "/device_authorization", "dv2-sssd", "openid").json();
    let s2 = format!(
        "grant_type={DEVICE_GRANT}&client_id=nobody&device_code={}",
        other["device_code"].as_str().unwrap()
    );
    assert_eq!(
        curl(&s.base_url, &["-d", &s2], "/token").json()["error"],
        "invalid_client"
    );
}

#[test]
fn wrong_user_codes_are_throttled_per_address() {
    let s = Server::start_kerberos(&sssd_client("dv3-sssd"));
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("jar");
    let jar_s = jar.to_str().unwrap();
    let mut last = String::new();
    for _ in 0..11 {
        let r = curl(
            &s.base_url,
            &["-b", jar_s, "-c", jar_s],
            "/device/approve?user_code=BCDF-GHJK",
        );
        assert_eq!(r.status, 400);
        last = r.body;
    }
    assert!(last.contains("Too many wrong codes"), "{last}");
    // A live code now waits too, from this address.
    let d = device_request(&s, "/device_authorization", "dv3-sssd", "openid").json();
    let r = curl(
        &s.base_url,
        &["-b", jar_s],
        &format!(
            "/device/approve?user_code={}",
            d["user_code"].as_str().unwrap()
        ),
    );
    assert!(r.body.contains("Too many wrong codes"), "{}", r.body);
}

/// FreeIPA's keycloak template (`ipaserver/plugins/idp.py`): `https://<base-url>/realms/
/// <organization>/protocol/openid-connect/{auth, auth/device, token, userinfo}`.
#[test]
fn the_keycloak_layout_serves_the_device_grant() {
    let r = realm();
    let user = r.person("dv4carol", "dv4-password");
    let s = Server::start_kerberos(&format!(
        "{FAST_DEVICE}[compat]\nkeycloak_realm = \"ACME\"\n{}",
        sssd_client("dv4-ipa")
    ));
    let kc = "/realms/ACME/protocol/openid-connect";
    let d = device_request(
        &s,
        &format!("{kc}/auth/device"),
        "dv4-ipa",
        "openid profile",
    );
    assert_eq!(d.status, 200, "{}", d.body);
    let d = d.json();
    let device_code = d["device_code"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let done = approve(
        &s,
        &dir.path().join("jar"),
        d["verification_uri_complete"].as_str().unwrap(),
        "dv4carol",
        "dv4-password",
        "allow",
    );
    assert_eq!(done.status, 200, "{}", done.body);
    let tokens = poll(&s, &format!("{kc}/token"), "dv4-ipa", device_code);
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let access = tokens.json()["access_token"].as_str().unwrap().to_owned();
    let info = curl(
        &s.base_url,
        &["-H", &format!("Authorization: Bearer {access}")],
        &format!("{kc}/userinfo"),
    );
    assert_eq!(info.json()["sub"], user, "{}", info.body);
    let certs = curl(&s.base_url, &[], &format!("{kc}/certs"));
    assert!(certs.json()["keys"].is_array());
    // Another realm name is not aliased.
    assert_eq!(
        curl(
            &s.base_url,
            &[],
            "/realms/OTHER/protocol/openid-connect/certs"
        )
        .status,
        404
    );
}

/// Upstream SSSD's `oidc_child --client-use-gssapi --keytab`: libcurl's GSS-Negotiate on
/// the device and token requests, no secret, `client_id` in the body. The hosts of a
/// template client each get their own codes and refresh tokens.
#[test]
fn hosts_ask_with_their_keytab_and_no_secret() {
    use crate::harness::curl_with;
    use crate::kdc::{Host, REALM};
    let r = realm();
    let user = r.person("dv5gail", "dv5-password");
    let kt = r.add_hosts(&["n1.dv5.test.realm", "n2.dv5.test.realm"]);
    let s = Server::start_kerberos(&format!(
        "{FAST_DEVICE}[[clients]]\nclient_id = \"dv5-hosts\"\n\
         token_endpoint_auth_method = \"kerberos_client_auth\"\n\
         kerberos_principal_pattern = \"host/*.dv5.test.realm@{REALM}\"\n\
         grant_types = [\"urn:ietf:params:oauth:grant-type:device_code\"]\n\
         scopes = [\"openid\", \"profile\"]\nclient_name = \"Fleet login\"\n"
    ));
    let (n1, n2) = (
        Host::new("n1.dv5.test.realm", &kt[0]),
        Host::new("n2.dv5.test.realm", &kt[1]),
    );
    n1.kinit(None);
    n2.kinit(None);
    let negotiate = |h: &Host, body: &str, path: &str| {
        curl_with(
            h.command("curl"),
            &s.base_url,
            &["--negotiate", "-u", ":", "-d", body],
            path,
        )
    };
    // Without a ticket: 401 with the Negotiate challenge.
    let bare = device_request(&s, "/device_authorization", "dv5-hosts", "openid");
    assert_eq!(bare.status, 401, "{}", bare.body);
    assert!(
        bare.headers
            .to_ascii_lowercase()
            .contains("www-authenticate: negotiate")
    );
    // curl --negotiate: the host's AP-REQ, no secret.
    let started = negotiate(
        &n1,
        "client_id=dv5-hosts&scope=openid",
        "/device_authorization",
    );
    assert_eq!(started.status, 200, "{}\n{}", started.body, s.log_text());
    let d = started.json();
    let device_code = d["device_code"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let done = approve(
        &s,
        &dir.path().join("jar"),
        d["verification_uri_complete"].as_str().unwrap(),
        "dv5gail",
        "dv5-password",
        "allow",
    );
    assert_eq!(done.status, 200, "{}", done.body);
    let poll_body =
        format!("grant_type={DEVICE_GRANT}&client_id=dv5-hosts&device_code={device_code}");
    // Another host of the same client cannot take n1's code.
    let stolen = negotiate(&n2, &poll_body, "/token");
    assert_eq!(stolen.json()["error"], "invalid_grant", "{}", stolen.body);
    let tokens = negotiate(&n1, &poll_body, "/token");
    assert_eq!(tokens.status, 200, "{}\n{}", tokens.body, s.log_text());
    let t = tokens.json();
    assert_eq!(claims(t["access_token"].as_str().unwrap())["sub"], user);
    let rt = t["refresh_token"].as_str().unwrap();
    // n2 presenting n1's refresh token: theft, the family is revoked.
    let body = format!(
        "grant_type=refresh_token&client_id=dv5-hosts&refresh_token={}",
        enc(rt)
    );
    assert_eq!(
        negotiate(&n2, &body, "/token").json()["error"],
        "invalid_grant"
    );
    assert_eq!(
        negotiate(&n1, &body, "/token").json()["error"],
        "invalid_grant"
    );
}

#[test]
fn the_question_names_the_host() {
    use crate::kdc::{Host, REALM};
    let r = realm();
    r.person("dv6hank", "dv6-password");
    let kt = r.add_hosts(&["ws1.dv6.test.realm"]);
    let s = Server::start_kerberos(&format!(
        "[[clients]]\nclient_id = \"dv6-hosts\"\n\
         token_endpoint_auth_method = \"kerberos_client_auth\"\n\
         kerberos_principal_pattern = \"host/*.dv6.test.realm@{REALM}\"\n\
         grant_types = [\"urn:ietf:params:oauth:grant-type:device_code\"]\n\
         scopes = [\"openid\"]\nclient_name = \"Fleet login\"\n"
    ));
    let h = Host::new("ws1.dv6.test.realm", &kt[0]);
    h.kinit(None);
    let d = crate::harness::curl_with(
        h.command("curl"),
        &s.base_url,
        &["--negotiate", "-u", ":", "-d", "client_id=dv6-hosts"],
        "/device_authorization",
    )
    .json();
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("jar");
    let jar_s = jar.to_str().unwrap();
    let approve_path = format!(
        "/device/approve?user_code={}",
        d["user_code"].as_str().unwrap()
    );
    let page = curl(&s.base_url, &["-b", jar_s, "-c", jar_s], &approve_path);
    let authz = hidden(&page.body, "authz").replace("&amp;", "&");
    let csrf = hidden(&page.body, "csrf");
    let question = curl(
        &s.base_url,
        &[
            "-b",
            jar_s,
            "-c",
            jar_s,
            "--data-urlencode",
            &format!("authz={authz}"),
            "--data-urlencode",
            &format!("csrf={csrf}"),
            "--data-urlencode",
            "username=dv6hank",
            "--data-urlencode",
            "password=dv6-password",
        ],
        "/device/password",
    );
    assert!(
        question
            .body
            .contains("Allow Fleet login to sign you in on ws1.dv6.test.realm?"),
        "{}",
        question.body
    );
}

/// A refresh token issued with a DPoP proof needs the same key at every refresh.
#[test]
fn dpop_bound_refresh_tokens_need_their_key() {
    use crate::dpop::{keygen, proof};
    let r = realm();
    r.person("dv7ivy", "dv7-password");
    let s = Server::start_kerberos(&format!("{FAST_DEVICE}{}", sssd_client("dv7-sssd")));
    let d = device_request(&s, "/device_authorization", "dv7-sssd", "openid").json();
    let dir = tempfile::tempdir().unwrap();
    approve(
        &s,
        &dir.path().join("jar"),
        d["verification_uri_complete"].as_str().unwrap(),
        "dv7ivy",
        "dv7-password",
        "allow",
    );
    let key = keygen();
    let htu = format!("{}/token", s.base_url);
    let with_proof = |body: &str, k: &crate::dpop::Key| {
        let p = proof(k, &htu, |_, _| {});
        curl(
            &s.base_url,
            &["-H", &format!("DPoP: {p}"), "-d", body],
            "/token",
        )
    };
    let t = with_proof(
        &format!(
            "grant_type={DEVICE_GRANT}&client_id=dv7-sssd&device_code={}",
            d["device_code"].as_str().unwrap()
        ),
        &key,
    );
    assert_eq!(t.status, 200, "{}", t.body);
    assert_eq!(t.json()["token_type"], "DPoP");
    let rt = t.json()["refresh_token"].as_str().unwrap().to_owned();
    let body = format!(
        "grant_type=refresh_token&client_id=dv7-sssd&refresh_token={}",
        enc(&rt)
    );
    // Without a proof: refused, before the use is counted.
    let bare = curl(&s.base_url, &["-d", &body], "/token");
    assert_eq!(bare.json()["error"], "invalid_dpop_proof", "{}", bare.body);
    let good = with_proof(&body, &key);
    assert_eq!(good.status, 200, "{}", good.body);
    assert_eq!(
        claims(good.json()["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.jkt.as_str()
    );
    // Another key: theft, the family is revoked.
    let next = good.json()["refresh_token"].as_str().unwrap().to_owned();
    let body = format!(
        "grant_type=refresh_token&client_id=dv7-sssd&refresh_token={}",
        enc(&next)
    );
    let other = with_proof(&body, &keygen());
    assert_eq!(other.json()["error"], "invalid_grant", "{}", other.body);
    assert_eq!(with_proof(&body, &key).json()["error"], "invalid_grant");
}

/// A person locked in the directory gets no new tokens; the session's logout and
/// `/revoke` end a family.
#[test]
fn locked_people_logout_and_revoke_end_refresh() {
    use crate::kdc::REALM;
    let r = realm();
    let slapd = crate::ldap::shared();
    let base = "cn=accounts,dc=test,dc=realm";
    slapd.modify(&format!(
        "dn: uid=dv8jo,cn=users,{base}\nchangetype: add\nobjectClass: top\nobjectClass: person\n\
         objectClass: organizationalPerson\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n\
         objectClass: krbPrincipalAux\nobjectClass: inetUser\nuid: dv8jo\ncn: Jo\nsn: Jo\n\
         uidNumber: 8901\ngidNumber: 8901\nhomeDirectory: /home/dv8jo\n\
         krbPrincipalName: dv8jo@{REALM}\n"
    ));
    r.person("dv8jo", "dv8-password");
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_kerberos(&format!(
        "{FAST_DEVICE}{}{}",
        slapd.config(
            dir.path(),
            "cache_ttl_secs = 0\nnegative_cache_ttl_secs = 0"
        ),
        sssd_client("dv8-sssd")
    ));
    let login = |jar: &str| {
        let d = device_request(&s, "/device_authorization", "dv8-sssd", "openid").json();
        let done = approve(
            &s,
            &dir.path().join(jar),
            d["verification_uri_complete"].as_str().unwrap(),
            "dv8jo",
            "dv8-password",
            "allow",
        );
        assert_eq!(done.status, 200, "{}", done.body);
        let t = poll(&s, "/token", "dv8-sssd", d["device_code"].as_str().unwrap());
        assert_eq!(t.status, 200, "{}", t.body);
        t.json()["refresh_token"].as_str().unwrap().to_owned()
    };
    // /revoke with a refresh token ends its family.
    let rt = login("a");
    let revoked = curl(
        &s.base_url,
        &[
            "-d",
            &format!(
                "client_id=dv8-sssd&token={}&token_type_hint=refresh_token",
                enc(&rt)
            ),
        ],
        "/revoke",
    );
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(
        refresh(&s, "dv8-sssd", &rt, "openid").json()["error"],
        "invalid_grant"
    );

    // Logout of the browser session that approved ends the session's refresh tokens.
    let rt = login("b");
    let jar = dir.path().join("b");
    let out = curl(&s.base_url, &["-b", jar.to_str().unwrap()], "/logout");
    let csrf = hidden(&out.body, "csrf");
    let confirmed = curl(
        &s.base_url,
        &[
            "-b",
            jar.to_str().unwrap(),
            "-d",
            &format!("confirm=yes&csrf={}&params=", enc(&csrf)),
        ],
        "/logout",
    );
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    assert_eq!(
        refresh(&s, "dv8-sssd", &rt, "openid").json()["error"],
        "invalid_grant"
    );

    // Locked in the directory after the login: the next refresh is refused.
    let rt = login("c");
    assert_eq!(refresh(&s, "dv8-sssd", &rt, "openid").status, 200);
    let rt2 = {
        let r = refresh(&s, "dv8-sssd", &rt, "openid");
        // the grace retry of rt gives a sibling; use it below
        r.json()["refresh_token"].as_str().unwrap().to_owned()
    };
    slapd.modify(&format!(
        "dn: uid=dv8jo,cn=users,{base}\nchangetype: modify\nadd: nsAccountLock\nnsAccountLock: TRUE\n"
    ));
    let refused = refresh(&s, "dv8-sssd", &rt2, "openid");
    assert_eq!(refused.json()["error"], "invalid_grant", "{}", refused.body);
    assert!(refused.body.contains("locked"), "{}", refused.body);
}

/// Two nodes on one PostgreSQL: the device request on A, the approval and the polls on
/// B (FreeIPA's two KDC requests may reach two replicas); a refresh on A and its reuse
/// on B is detected, and the family is dead on both.
#[test]
fn nodes_on_one_database_share_device_codes_and_refresh_families() {
    let r = realm();
    let user = r.person("dv9kai", "dv9-password");
    let url = crate::postgres::shared().database("device");
    let state = tempfile::tempdir().unwrap();
    // A grace window of 0: any second use is a reuse.
    let table = format!(
        "{FAST_DEVICE}[refresh_tokens]\ngrace_secs = 0\n{}",
        sssd_client("dv9-sssd")
    );
    let a = crate::postgres::node(&url, state.path(), None, &table);
    let b = crate::postgres::node(&url, state.path(), Some(a.base_url.clone()), &table);
    let d = device_request(&a, "/device_authorization", "dv9-sssd", "openid profile").json();
    let device_code = d["device_code"].as_str().unwrap();
    assert_eq!(
        poll(&b, "/token", "dv9-sssd", device_code).json()["error"],
        "authorization_pending"
    );
    let on_b = d["verification_uri_complete"]
        .as_str()
        .unwrap()
        .replace(&a.base_url, &b.base_url);
    let dir = tempfile::tempdir().unwrap();
    let done = approve(
        &b,
        &dir.path().join("jar"),
        &on_b,
        "dv9kai",
        "dv9-password",
        "allow",
    );
    assert_eq!(done.status, 200, "{}", done.body);
    let t = poll(&b, "/token", "dv9-sssd", device_code);
    assert_eq!(t.status, 200, "{}\n{}", t.body, b.log_text());
    assert_eq!(
        claims(t.json()["access_token"].as_str().unwrap())["sub"],
        user
    );
    assert_eq!(
        poll(&a, "/token", "dv9-sssd", device_code).json()["error"],
        "invalid_grant",
        "redeemed once across nodes"
    );
    let rt = t.json()["refresh_token"].as_str().unwrap().to_owned();
    let r1 = refresh(&a, "dv9-sssd", &rt, "openid");
    assert_eq!(r1.status, 200, "{}", r1.body);
    let newest = r1.json()["refresh_token"].as_str().unwrap().to_owned();
    let reuse = refresh(&b, "dv9-sssd", &rt, "openid");
    assert_eq!(reuse.json()["error"], "invalid_grant", "{}", reuse.body);
    assert!(b.log_text().contains("refresh.family_revoked"));
    assert_eq!(
        refresh(&a, "dv9-sssd", &newest, "openid").json()["error"],
        "invalid_grant",
        "the family is revoked on every node"
    );
}
