//! Load generator for `kerberos_client_auth` (used by `bench/run`): every request carries
//! a fresh SPNEGO AP-REQ made with MIT's gss_init_sec_context (libgssapi), since ahdapa
//! refuses replays. Plain HTTP/1.1 keep-alive connections, one thread each.
//!
//! Usage: negotiate_load HOST:PORT CLIENT_ID THREADS SECONDS
//! Environment: KRB5_CONFIG, KRB5CCNAME (e.g. MEMORY:) and KRB5_CLIENT_KTNAME (the
//! host keytab) select the realm and the initiator's credentials.
//! Prints: `requests=N errors=E secs=S rps=R p50_us=A p99_us=B gss_init_us=C`.

// A load generator measures with the clocks and takes its settings from the environment.
#![allow(clippy::disallowed_methods)]

#[path = "common/http1.rs"]
mod http1;

use std::io::BufReader;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libgssapi::context::{ClientCtx, CtxFlags};
use libgssapi::credential::{Cred, CredUsage};
use libgssapi::name::Name;
use libgssapi::oid::{GSS_MECH_SPNEGO, GSS_NT_HOSTBASED_SERVICE};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, client_id, threads, secs] = args.as_slice() else {
        eprintln!("usage: negotiate_load HOST:PORT CLIENT_ID THREADS SECONDS");
        std::process::exit(2);
    };
    let threads: usize = threads.parse().unwrap_or(32);
    let secs: u64 = secs.parse().unwrap_or(10);
    let cred = match Cred::acquire(None, None, CredUsage::Initiate, None) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("negotiate_load: no initiator credentials: {e}");
            std::process::exit(1);
        }
    };
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (cred, addr, client_id) = (cred.clone(), addr.clone(), client_id.clone());
            std::thread::spawn(move || worker(&cred, &addr, &client_id, deadline))
        })
        .collect();
    let mut latencies = Vec::new();
    let (mut errors, mut gss_total, mut gss_count) = (0u64, Duration::ZERO, 0u32);
    for h in handles {
        match h.join() {
            Ok(stats) => {
                latencies.extend(stats.latencies);
                errors += stats.errors;
                gss_total += stats.gss_time;
                gss_count += stats.gss_count;
            }
            Err(_) => errors += 1,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| {
        let idx = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(idx).map_or(0, |d| d.as_micros())
    };
    println!(
        "requests={} errors={} secs={:.1} rps={:.0} p50_us={} p99_us={} gss_init_us={}",
        latencies.len(),
        errors,
        elapsed,
        latencies.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        gss_total.as_micros() / u128::from(gss_count.max(1)),
    );
}

struct Stats {
    latencies: Vec<Duration>,
    errors: u64,
    gss_time: Duration,
    gss_count: u32,
}

fn token(cred: &Cred) -> Result<String, String> {
    let target =
        Name::new(b"HTTP@localhost", Some(GSS_NT_HOSTBASED_SERVICE)).map_err(|e| e.to_string())?;
    let mut ctx = ClientCtx::new(
        Some(cred.clone()),
        target,
        CtxFlags::GSS_C_MUTUAL_FLAG,
        Some(GSS_MECH_SPNEGO),
    );
    let tok = ctx
        .step(None, None)
        .map_err(|e| e.to_string())?
        .ok_or("no token")?;
    Ok(STANDARD.encode(&*tok))
}

fn worker(cred: &Cred, addr: &str, client_id: &str, deadline: Instant) -> Stats {
    let mut stats = Stats {
        latencies: Vec::new(),
        errors: 0,
        gss_time: Duration::ZERO,
        gss_count: 0,
    };
    let body = format!("grant_type=client_credentials&client_id={client_id}");
    let mut conn: Option<BufReader<TcpStream>> = None;
    while Instant::now() < deadline {
        let t0 = Instant::now();
        let tok = match token(cred) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("gss_init_sec_context: {e}");
                stats.errors += 1;
                continue;
            }
        };
        stats.gss_time += t0.elapsed();
        stats.gss_count += 1;
        let request = format!(
            "POST /token HTTP/1.1\r\nHost: localhost\r\nAuthorization: Negotiate {tok}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let sent = Instant::now();
        let reader = match conn.as_mut() {
            Some(r) => r,
            None => match TcpStream::connect(addr) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    conn.insert(BufReader::new(s))
                }
                Err(_) => {
                    stats.errors += 1;
                    continue;
                }
            },
        };
        match http1::roundtrip(reader, request.as_bytes()) {
            Ok(200) => stats.latencies.push(sent.elapsed()),
            Ok(_) => stats.errors += 1,
            Err(_) => {
                stats.errors += 1;
                conn = None;
            }
        }
    }
    stats
}
