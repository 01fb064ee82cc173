//! `[server]` and `[tls]` into typed values: the issuer URL, listen addresses, request
//! and connection limits, the transport (TLS files or `server.insecure_http`) and
//! client certificates forwarded by a trusted proxy. Mistakes are reported by key path.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::raw::{RawServer, RawTls};
use super::{Limits, ProxyClientCert, Transport};

const DEFAULT_LISTEN: &str = "0.0.0.0:443";

/// RFC 8414 §2: an https URL with no query or fragment. http is allowed only with
/// `server.insecure_http`. A trailing slash is refused, since `iss` must match exactly.
pub(super) fn check_issuer(s: &str, insecure_http: bool) -> Result<String, String> {
    let uri: http::Uri = s.parse().map_err(|_| format!("{s:?} is not a URL"))?;
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if insecure_http => {}
        Some("http") => {
            return Err("must be https:// (http:// only with server.insecure_http = true)".into());
        }
        _ => return Err(format!("{s:?} must start with https://")),
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err("must name a host".into());
    }
    if uri.query().is_some() || s.contains('#') {
        return Err("must not have a query or fragment (RFC 8414 §2)".into());
    }
    if s.ends_with('/') {
        return Err(format!(
            "remove the trailing slash: {:?}",
            s.trim_end_matches('/')
        ));
    }
    Ok(s.to_owned())
}

pub(super) fn listen_addresses(
    server: &RawServer,
    err: &mut impl FnMut(&str, String),
) -> Option<Vec<SocketAddr>> {
    let raw = server
        .listen
        .clone()
        .unwrap_or_else(|| vec![DEFAULT_LISTEN.to_owned()]);
    if raw.is_empty() {
        err("server.listen", "at least one address is required".into());
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (i, a) in raw.iter().enumerate() {
        match a.parse::<SocketAddr>() {
            Ok(addr) => out.push(addr),
            Err(_) => {
                err(
                    &format!("server.listen[{i}]"),
                    format!(
                        "{a:?} is not an IP:port address (e.g. \"0.0.0.0:443\", \"[::1]:8443\")"
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

pub(super) fn limits(server: &RawServer, err: &mut impl FnMut(&str, String)) -> Option<Limits> {
    let d = Limits::default();
    let mut ok = true;
    let mut bounded = |key: &str, value: Option<u64>, default: u64, min: u64, max: u64| -> u64 {
        let v = value.unwrap_or(default);
        if v < min || v > max {
            err(
                &format!("server.{key}"),
                format!("must be between {min} and {max}"),
            );
            ok = false;
        }
        v
    };
    let max_body = bounded(
        "max_body_bytes",
        server.max_body_bytes,
        d.max_body_bytes as u64,
        1024,
        1 << 20,
    );
    let max_header = bounded(
        "max_header_bytes",
        server.max_header_bytes,
        d.max_header_bytes as u64,
        4096,
        1 << 20,
    );
    let timeout = bounded(
        "request_timeout_secs",
        server.request_timeout_secs,
        d.request_timeout.as_secs(),
        1,
        300,
    );
    let handshake = bounded(
        "handshake_timeout_secs",
        server.handshake_timeout_secs,
        d.handshake_timeout.as_secs(),
        1,
        300,
    );
    let idle = bounded(
        "idle_timeout_secs",
        server.idle_timeout_secs,
        d.idle_timeout.as_secs(),
        1,
        3600,
    );
    let conns = bounded(
        "max_connections",
        server.max_connections,
        d.max_connections as u64,
        1,
        1 << 20,
    );
    let per_address = bounded(
        "max_connections_per_address",
        server.max_connections_per_address,
        d.max_connections_per_address as u64,
        1,
        1 << 20,
    );
    let grace = bounded(
        "shutdown_grace_secs",
        server.shutdown_grace_secs,
        d.shutdown_grace.as_secs(),
        0,
        300,
    );
    ok.then(|| Limits {
        max_body_bytes: usize::try_from(max_body).unwrap_or(d.max_body_bytes),
        max_header_bytes: usize::try_from(max_header).unwrap_or(d.max_header_bytes),
        request_timeout: Duration::from_secs(timeout),
        handshake_timeout: Duration::from_secs(handshake),
        idle_timeout: Duration::from_secs(idle),
        max_connections: usize::try_from(conns).unwrap_or(d.max_connections),
        max_connections_per_address: usize::try_from(per_address)
            .unwrap_or(d.max_connections_per_address),
        shutdown_grace: Duration::from_secs(grace),
    })
}

pub(super) fn transport(
    tls: Option<&RawTls>,
    insecure_http: bool,
    err: &mut impl FnMut(&str, String),
) -> Option<Transport> {
    match (tls, insecure_http) {
        (Some(t), true) if t.certificate_file.is_some() || t.private_key_file.is_some() => {
            err(
                "server.insecure_http",
                "cannot be true while tls.certificate_file / tls.private_key_file are set: choose one".into(),
            );
            None
        }
        (Some(_), true) => Some(Transport::InsecureHttp),
        (None, true) => Some(Transport::InsecureHttp),
        (None, false) => {
            err("tls", "required: set tls.certificate_file and tls.private_key_file (or server.insecure_http = true behind a TLS proxy)".into());
            None
        }
        (Some(t), false) => {
            let cert = t.certificate_file.as_deref();
            let key = t.private_key_file.as_deref();
            if cert.is_none() {
                err(
                    "tls.certificate_file",
                    "required: a PEM file with the certificate chain".into(),
                );
            }
            if key.is_none() {
                err(
                    "tls.private_key_file",
                    "required: a PEM file with the private key".into(),
                );
            }
            let ca_files: Vec<PathBuf> = t
                .client_ca_files
                .iter()
                .flatten()
                .map(PathBuf::from)
                .collect();
            let policy = match crate::tls::ClientCertPolicy::new(&ca_files) {
                Ok(p) => Arc::new(p),
                Err(e) => {
                    err("tls.client_ca_files", e.to_string());
                    return None;
                }
            };
            let (cert, key) = (cert?, key?);
            // Built once here to name every mistake by key path; the service builds the
            // configuration it serves with from the same files.
            match crate::tls::server_config(cert.as_ref(), key.as_ref(), Arc::clone(&policy)) {
                Ok(_) => Some(Transport::Tls(super::TlsFiles {
                    certificate_file: PathBuf::from(cert),
                    private_key_file: PathBuf::from(key),
                    client_ca_files: ca_files,
                })),
                Err(crate::tls::TlsError::Certificate(m)) => {
                    err("tls.certificate_file", m);
                    None
                }
                Err(crate::tls::TlsError::PrivateKey(m)) => {
                    err("tls.private_key_file", m);
                    None
                }
                Err(crate::tls::TlsError::ClientCa(m)) => {
                    err("tls.client_ca_files", m);
                    None
                }
            }
        }
    }
}

/// `tls.client_cert_header` + `tls.trusted_proxies`: client certificates forwarded by a
/// TLS-terminating proxy. `Some(None)` is "valid and off".
pub(super) fn proxy_client_cert(
    tls: Option<&RawTls>,
    trusted: &[std::net::IpAddr],
    err: &mut impl FnMut(&str, String),
) -> Option<Option<ProxyClientCert>> {
    let Some(t) = tls else { return Some(None) };
    let Some(header) = &t.client_cert_header else {
        return Some(None);
    };
    let header = match http::HeaderName::from_bytes(header.as_bytes()) {
        Ok(h) => h,
        Err(_) => {
            err(
                "tls.client_cert_header",
                format!("{header:?} is not a header name"),
            );
            return None;
        }
    };
    if trusted.is_empty() {
        err(
            "tls.trusted_proxies",
            "required with tls.client_cert_header: the proxies allowed to send it".into(),
        );
        return None;
    }
    let ca_files: Vec<PathBuf> = t
        .client_ca_files
        .iter()
        .flatten()
        .map(PathBuf::from)
        .collect();
    match crate::tls::ClientCertPolicy::new(&ca_files) {
        Ok(_) => Some(Some(ProxyClientCert {
            header,
            trusted_proxies: trusted.to_vec(),
            client_ca_files: ca_files,
        })),
        Err(e) => {
            err("tls.client_ca_files", e.to_string());
            None
        }
    }
}

/// `tls.trusted_proxies`: the peers whose `X-Forwarded-For` is believed (and that may
/// send `tls.client_cert_header`).
pub(super) fn trusted_proxies(
    tls: Option<&RawTls>,
    err: &mut impl FnMut(&str, String),
) -> Option<Vec<std::net::IpAddr>> {
    let mut ok = true;
    let mut trusted = Vec::new();
    for (i, p) in tls
        .and_then(|t| t.trusted_proxies.as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        match p.parse::<std::net::IpAddr>() {
            Ok(ip) => trusted.push(ip),
            Err(_) => {
                err(
                    &format!("tls.trusted_proxies[{i}]"),
                    format!("{p:?} is not an IP address"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(trusted)
}
