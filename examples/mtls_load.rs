//! Load generator for tls_client_auth (used by `bench/run`): threads POST /token over TLS
//! with a client certificate, on kept-alive connections or with a full handshake per
//! request.
//! Usage: mtls_load HOST:PORT SERVER_NAME CA_PEM CERT_PEM KEY_PEM CLIENT_ID THREADS SECONDS keepalive|handshake
//! Prints: `requests=N errors=E secs=S rps=R p50_us=A p99_us=B`.

// A load generator measures with the clocks and takes its settings from the environment.
#![allow(clippy::disallowed_methods)]

#[path = "common/http1.rs"]
mod http1;

use std::io::BufReader;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, sni, ca, cert, key, client_id, threads, secs, mode] = args.as_slice() else {
        eprintln!(
            "usage: mtls_load HOST:PORT SERVER_NAME CA CERT KEY CLIENT_ID THREADS SECONDS keepalive|handshake"
        );
        std::process::exit(2);
    };
    let fail = |m: String| -> ! {
        eprintln!("mtls_load: {m}");
        std::process::exit(1)
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap_or_else(|e| fail(e.to_string())) {
        roots
            .add(c.unwrap_or_else(|e| fail(e.to_string())))
            .unwrap_or_else(|e| fail(e.to_string()));
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap_or_else(|e| fail(e.to_string()))
        .filter_map(Result::ok)
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).unwrap_or_else(|e| fail(e.to_string()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| fail(e.to_string()))
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap_or_else(|e| fail(e.to_string()));
    let config = Arc::new(config);
    let server_name = ServerName::try_from(sni.clone()).unwrap_or_else(|e| fail(e.to_string()));
    let keepalive = mode == "keepalive";
    let threads: usize = threads.parse().unwrap_or(32);
    let deadline = Instant::now() + Duration::from_secs(secs.parse().unwrap_or(10));
    let body = format!("grant_type=client_credentials&client_id={client_id}");
    let request = format!(
        "POST /token HTTP/1.1\r\nHost: {sni}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{}\r\n{body}",
        body.len(),
        if keepalive {
            ""
        } else {
            "Connection: close\r\n"
        }
    );
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (config, name, addr, request) = (
                Arc::clone(&config),
                server_name.clone(),
                addr.clone(),
                request.clone(),
            );
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                let mut conn: Option<
                    BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>,
                > = None;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    if conn.is_none() {
                        let stream = match TcpStream::connect(&addr) {
                            Ok(s) => s,
                            Err(_) => {
                                errors += 1;
                                continue;
                            }
                        };
                        let _ = stream.set_nodelay(true);
                        let Ok(c) =
                            rustls::ClientConnection::new(Arc::clone(&config), name.clone())
                        else {
                            errors += 1;
                            continue;
                        };
                        conn = Some(BufReader::new(rustls::StreamOwned::new(c, stream)));
                    }
                    let ok = conn.as_mut().is_some_and(|r| {
                        matches!(http1::roundtrip(r, request.as_bytes()), Ok(200))
                    });
                    if ok {
                        lat.push(t.elapsed());
                    } else {
                        errors += 1;
                        conn = None;
                    }
                    if !keepalive {
                        conn = None;
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let (mut lat, mut errors) = (Vec::new(), 0u64);
    for h in handles {
        if let Ok((l, e)) = h.join() {
            lat.extend(l);
            errors += e;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
            .map_or(0, |d| d.as_micros())
    };
    println!(
        "requests={} errors={errors} secs={elapsed:.1} rps={:.0} p50_us={} p99_us={}",
        lat.len(),
        lat.len() as f64 / elapsed,
        pct(0.5),
        pct(0.99)
    );
}
