//! Cost of resolving a Kerberos client (client_id lookup + principal match) as the number
//! of registered clients grows. Used by `bench/run`.
//! Usage: pattern_cost   (prints one line per registry size)

// A load generator measures with the clocks and takes its settings from the environment.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::Instant;

use ahdapa::oauth::client::{
    Client, ClientRegistration, ClientRegistry, ClientSource, TokenEndpointAuthMethod,
};
use ahdapa::oauth::client_auth::jwt_assertion::AssertionRules;
use ahdapa::oauth::client_auth::kerberos_client_auth::NegotiateToken;
use ahdapa::oauth::client_auth::{AuthContext, Presented, authenticate};

fn kerberos(id: String, principal: Option<String>, pattern: Option<String>) -> Client {
    let reg = ClientRegistration {
        client_id: id,
        token_endpoint_auth_method: TokenEndpointAuthMethod::KerberosClientAuth,
        client_secret_hash: None,
        kerberos_principal: principal,
        kerberos_principal_pattern: pattern,
        scopes: vec!["s".into()],
        audience: vec![],
        token_lifetime_secs: None,
        ..Default::default()
    };
    match Client::from_registration(&reg, ClientSource::Config, None) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e:?}");
            std::process::exit(1)
        }
    }
}

fn registry(patterns: usize, exact: usize) -> ClientRegistry {
    let mut clients = Vec::with_capacity(patterns + exact);
    for i in 0..patterns {
        clients.push(kerberos(
            format!("fleet{i}"),
            None,
            Some(format!("host/*.d{i}.example.com@EXAMPLE.COM")),
        ));
    }
    for i in 0..exact {
        clients.push(kerberos(
            format!("exact{i}"),
            Some(format!("host/n{i}.example.com@EXAMPLE.COM")),
            None,
        ));
    }
    ClientRegistry::new(clients, Vec::new()).0
}

fn main() {
    let token = match NegotiateToken::decode("YWJj") {
        Ok(t) => t,
        Err(_) => std::process::exit(1),
    };
    const ITERS: usize = 200_000;
    let rules = AssertionRules {
        audiences: Vec::new(),
        max_lifetime_secs: 300,
        leeway_secs: 60,
    };
    for (patterns, exact) in [(10, 0), (10_000, 0), (10_000, 100_000)] {
        let reg = registry(patterns, exact);
        let mut total = std::time::Duration::ZERO;
        let mut ok = 0usize;
        for round in 0..ITERS {
            // Spread requests over the registered clients and hosts.
            let d = round % patterns;
            let presented = Presented::Negotiate {
                client_id: format!("fleet{d}"),
                token: token.clone(),
            };
            let principal = format!("host/node{}.d{d}.example.com@EXAMPLE.COM", round % 1000);
            let issuers = ahdapa::oauth::federation::TrustedIssuers::default();
            let t = Instant::now();
            let ctx = AuthContext {
                verified_principal: Some(&principal),
                now: 0,
                assertion_rules: &rules,
                certificate: None,
                fetched_keys: None,
                issuers: &issuers,
                service_account: None,
            };
            let r = authenticate(black_box(&reg), presented, ctx);
            total += t.elapsed();
            ok += usize::from(r.is_ok());
        }
        println!(
            "patterns={patterns} exact={exact} clients={} ns_per_match={} matched={ok}/{ITERS}",
            reg.len(),
            total.as_nanos() / ITERS as u128
        );
    }
}
