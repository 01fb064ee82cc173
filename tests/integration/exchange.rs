//! RFC 8693 token exchange with a person's token from a real sign-in (the test realm's
//! KDC checks the password): a service trades it for a narrower one naming itself in
//! `act`, a second service does it again (`act` nested), an actor token names another
//! actor, and widening, foreign audiences and tokens not meant for the caller are
//! refused. Introspection shows `act`.

use crate::harness::{Reply, Server, claims, curl, secret_client};
use crate::kdc::realm;
use crate::signin::{authz_query, clients, location, param, redeem, sign_in};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

fn exchange(s: &Server, client: &str, secret: &str, subject: &str, extra: &[&str]) -> Reply {
    let mut args = vec![
        "-u".to_owned(),
        format!("{client}:{secret}"),
        "-d".into(),
        format!("grant_type={EXCHANGE}"),
        "-d".into(),
        format!("subject_token={subject}"),
        "-d".into(),
        format!("subject_token_type={ACCESS_TOKEN}"),
    ];
    for e in extra {
        args.extend(["-d".to_owned(), (*e).to_owned()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    curl(&s.base_url, &args, "/token")
}

#[test]
fn a_service_exchanges_a_persons_token_for_a_narrower_one_naming_itself() {
    let r = realm();
    let person = r.person("xch1carol", "xch1-password");
    let (rs_secret, app_and_rs) = clients("xch1");
    let exchanger = |id: &str, policy: &str| {
        secret_client(
            id,
            &format!(
                "grant_types = [\"{EXCHANGE}\", \"client_credentials\"]\nscopes = [\"openid\", \"profile\", \"orders\"]\n\
                 token_exchange = {{ {policy} }}\n"
            ),
        )
    };
    let (orders_secret, orders) = exchanger(
        "xch1-orders",
        "from_clients = [\"xch1-app\"], audiences = [\"https://billing.internal\"]",
    );
    let (billing_secret, billing) = exchanger(
        "xch1-billing",
        "from_clients = [\"xch1-orders\"], audiences = [\"https://ledger.internal\"]",
    );
    let (batch_secret, batch) = secret_client("xch1-batch", "");
    // secret_client's tables end with `scopes = ["s"]`; the exchangers add their own.
    let fix = |t: String| t.replacen("scopes = [\"s\"]\n", "", 1);
    let s = Server::start_kerberos(&format!(
        "{app_and_rs}{}{}{batch}",
        fix(orders),
        fix(billing)
    ));

    // Carol signs in to the app; the app calls the orders service with her token.
    let dir = tempfile::tempdir().unwrap();
    let query = authz_query("xch1", "");
    let posted = sign_in(
        &s,
        &dir.path().join("jar"),
        &query,
        "xch1carol",
        "xch1-password",
    );
    assert_eq!(posted.status, 303, "{}", posted.body);
    let code = param(&location(&posted), "code").unwrap();
    let tokens = redeem(&s, "xch1", &code);
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let carol = tokens.json()["access_token"].as_str().unwrap().to_owned();
    let carol_claims = claims(&carol);
    assert_eq!(carol_claims["sub"], person);

    // The orders service trades it for a billing token: narrower, naming itself.
    let r = exchange(
        &s,
        "xch1-orders",
        &orders_secret,
        &carol,
        &["scope=profile", "audience=https://billing.internal"],
    );
    assert_eq!(r.status, 200, "{}\n{}", r.body, s.log_text());
    let j = r.json();
    assert_eq!(j["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(j["token_type"], "Bearer");
    assert!(j.get("refresh_token").is_none());
    let hop1 = j["access_token"].as_str().unwrap().to_owned();
    let c = claims(&hop1);
    assert_eq!(c["sub"], person);
    assert_eq!(c["client_id"], "xch1-orders");
    assert_eq!(c["aud"], "https://billing.internal");
    assert_eq!(c["scope"], "profile");
    assert_eq!(c["act"], serde_json::json!({"sub": "xch1-orders"}));
    assert!(c["exp"].as_u64() <= carol_claims["exp"].as_u64());

    // The billing service does it again: the chain nests.
    let r = exchange(
        &s,
        "xch1-billing",
        &billing_secret,
        &hop1,
        &["resource=https://ledger.internal"],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let hop2 = r.json()["access_token"].as_str().unwrap().to_owned();
    let c = claims(&hop2);
    assert_eq!(
        c["act"],
        serde_json::json!({"sub": "xch1-billing", "act": {"sub": "xch1-orders"}})
    );
    assert_eq!(
        c["scope"], "profile",
        "never wider than the token it came from"
    );

    // An actor token names the actor instead of the client.
    let batch_token = curl(
        &s.base_url,
        &[
            "-u",
            &format!("xch1-batch:{batch_secret}"),
            "-d",
            "grant_type=client_credentials",
        ],
        "/token",
    )
    .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = exchange(
        &s,
        "xch1-orders",
        &orders_secret,
        &carol,
        &[
            &format!("actor_token={batch_token}"),
            &format!("actor_token_type={ACCESS_TOKEN}"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        claims(r.json()["access_token"].as_str().unwrap())["act"],
        serde_json::json!({"sub": "xch1-batch"})
    );

    // Refusals.
    let refusal = |r: Reply, status: u16, error: &str| r.refusal(status, error);
    let d = refusal(
        exchange(
            &s,
            "xch1-billing",
            &billing_secret,
            &hop1,
            &["scope=profile openid"],
        ),
        400,
        "invalid_scope",
    );
    assert!(d.contains("wider"), "{d}");
    let d = refusal(
        exchange(
            &s,
            "xch1-orders",
            &orders_secret,
            &carol,
            &["audience=https://elsewhere.internal"],
        ),
        400,
        "invalid_target",
    );
    assert!(d.contains("https://elsewhere.internal"), "{d}");
    // Carol's token was issued to the app, for ahdapa: billing may not exchange it.
    let d = refusal(
        exchange(&s, "xch1-billing", &billing_secret, &carol, &[]),
        400,
        "invalid_request",
    );
    assert!(d.contains("from_clients"), "{d}");
    // A client not registered for the grant.
    let d = refusal(
        exchange(&s, "xch1-batch", &batch_secret, &carol, &[]),
        400,
        "unauthorized_client",
    );
    assert!(d.contains("token-exchange"), "{d}");
    // Introspection shows the actor chain.
    let i = curl(
        &s.base_url,
        &[
            "-u",
            &format!("xch1-rs:{rs_secret}"),
            "-d",
            &format!("token={hop1}"),
        ],
        "/introspect",
    )
    .json();
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(i["act"]["sub"], "xch1-orders");
    // Revoked by the service it was issued to, it can no longer be exchanged.
    let revoked = curl(
        &s.base_url,
        &[
            "-u",
            &format!("xch1-orders:{orders_secret}"),
            "-d",
            &format!("token={hop1}"),
        ],
        "/revoke",
    );
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let d = refusal(
        exchange(&s, "xch1-billing", &billing_secret, &hop1, &[]),
        400,
        "invalid_request",
    );
    assert!(d.contains("revoked"), "{d}");
    // Every exchange is audited.
    let log = s.log_text();
    assert_eq!(log.matches("token exchanged").count(), 3, "{log}");
    assert!(log.contains("token.exchanged"), "{log}");
}
