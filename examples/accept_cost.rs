//! Measures the cost of one GSSAPI accept (MIT krb5) in isolation: makes N fresh SPNEGO
//! tokens, then accepts them on one thread. Used to see where Negotiate time goes.
//! Usage: accept_cost KEYTAB RCACHE N   (env: KRB5_CONFIG, KRB5CCNAME, KRB5_CLIENT_KTNAME)

// A load generator measures with the clocks and takes its settings from the environment.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use libgssapi::context::{ClientCtx, CtxFlags};
use libgssapi::credential::{Cred, CredUsage};
use libgssapi::name::Name;
use libgssapi::oid::{GSS_MECH_SPNEGO, GSS_NT_HOSTBASED_SERVICE};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, keytab, rcache, n] = args.as_slice() else {
        eprintln!("usage: accept_cost KEYTAB RCACHE N");
        std::process::exit(2);
    };
    let n: usize = n.parse().unwrap_or(1000);
    let cred = Cred::acquire(None, None, CredUsage::Initiate, None).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let t = Instant::now();
    let tokens: Vec<Vec<u8>> = (0..n)
        .filter_map(|_| {
            let target = Name::new(b"HTTP@localhost", Some(GSS_NT_HOSTBASED_SERVICE)).ok()?;
            let mut ctx = ClientCtx::new(
                Some(cred.clone()),
                target,
                CtxFlags::GSS_C_MUTUAL_FLAG,
                Some(GSS_MECH_SPNEGO),
            );
            ctx.step(None, None).ok()?.map(|b| b.to_vec())
        })
        .collect();
    let init = t.elapsed();
    let acceptor = ahdapa::authn::gssapi::Acceptor::new(
        "HTTP/localhost@TEST.REALM",
        std::path::Path::new(keytab),
        std::path::Path::new(rcache),
    )
    .unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let t = Instant::now();
    let ok = tokens
        .iter()
        .filter(|tok| acceptor.accept(tok).is_ok())
        .count();
    let accept = t.elapsed();
    println!(
        "tokens={} accepted={ok} init_us={} accept_us={}",
        tokens.len(),
        init.as_micros() / tokens.len().max(1) as u128,
        accept.as_micros() / tokens.len().max(1) as u128
    );
}
