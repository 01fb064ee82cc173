//! `tls_client_auth` and `self_signed_tls_client_auth` (RFC 8705 §2): the client proves
//! possession of the private key of a certificate in the TLS handshake; the core decides
//! whether that certificate is this client's.
//!
//! - `tls_client_auth`: the certificate chained to a configured CA (checked by the TLS
//!   adapter, [`CertTrust::CaVerified`]) and carries exactly the registered subject DN or
//!   SAN (DNS, URI, IP, e-mail).
//! - `self_signed_tls_client_auth`: the certificate's SHA-256 thumbprint is one the client
//!   registered ([`CertTrust::Pinned`] or CA-verified alike: the pin decides).
//!
//! Tokens of such clients are bound to the certificate: `cnf.x5t#S256` (RFC 8705 §3.1).

use std::net::IpAddr;

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::oauth::error::OAuthError;

/// How the transport established trust in a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertTrust {
    /// The chain verified against the configured client CAs (and validity dates).
    CaVerified,
    /// Not CA-verified, but its thumbprint is registered by a self-signed client.
    Pinned,
}

/// The client certificate of this connection (or from a trusted proxy's header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedCertificate {
    /// The leaf certificate, DER.
    pub der: Vec<u8>,
    /// SHA-256 of the DER.
    pub thumbprint: [u8; 32],
    /// How it was trusted.
    pub trust: CertTrust,
}

impl PresentedCertificate {
    /// Wraps a leaf certificate the transport trusted.
    pub fn new(der: Vec<u8>, trust: CertTrust) -> Self {
        let thumbprint = thumbprint(&der);
        Self {
            der,
            thumbprint,
            trust,
        }
    }

    /// RFC 8705 §3.1 `x5t#S256`: base64url(SHA-256(DER)).
    pub fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.thumbprint)
    }
}

/// SHA-256 of a DER certificate.
pub fn thumbprint(der: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, der).as_ref());
    out
}

/// What a tls_client_auth client registered (RFC 8705 §2.1.2: exactly one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertIdentity {
    /// `tls_client_auth_subject_dn`, as RDNs (type upper-cased, value as written).
    SubjectDn(Vec<(String, String)>),
    /// `tls_client_auth_san_dns`.
    SanDns(String),
    /// `tls_client_auth_san_uri`.
    SanUri(String),
    /// `tls_client_auth_san_ip`.
    SanIp(IpAddr),
    /// `tls_client_auth_san_email`.
    SanEmail(String),
}

/// A subject DN component that is not `TYPE=value`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not TYPE=value")]
pub struct DnError(pub String);

/// Parses an RFC 4514 string (`CN=node1,O=EXAMPLE.COM`; spaces after commas allowed).
pub fn parse_dn(dn: &str) -> Result<Vec<(String, String)>, DnError> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut parts = Vec::new();
    let mut chars = dn.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    current.push(n);
                }
            }
            ',' => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    for p in parts {
        let (t, v) = p.split_once('=').ok_or_else(|| DnError(p.clone()))?;
        let (t, v) = (t.trim().to_ascii_uppercase(), v.trim().to_owned());
        if t.is_empty() || v.is_empty() {
            return Err(DnError(p));
        }
        out.push((t, v));
    }
    Ok(out)
}

/// True when the CA-verified certificate carries the registered identity.
pub fn matches(identity: &CertIdentity, der: &[u8]) -> Result<bool, OAuthError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|_| OAuthError::invalid_client("client certificate does not parse"))?;
    if let CertIdentity::SubjectDn(expected) = identity {
        let mut rdns: Vec<(String, String)> = Vec::new();
        for rdn in cert.subject().iter() {
            for attr in rdn.iter() {
                let t = x509_parser::objects::oid2abbrev(
                    attr.attr_type(),
                    x509_parser::objects::oid_registry(),
                )
                .map(|s| s.to_ascii_uppercase())
                .unwrap_or_else(|_| attr.attr_type().to_id_string());
                let v = attr
                    .as_str()
                    .map_err(|_| OAuthError::invalid_client("subject DN value is not text"))?;
                rdns.push((t, v.to_owned()));
            }
        }
        // RFC 4514 writes the most specific RDN first; certificates store it last.
        let reversed: Vec<(String, String)> = rdns.iter().rev().cloned().collect();
        return Ok(*expected == rdns || *expected == reversed);
    }
    let names = cert
        .subject_alternative_name()
        .map_err(|_| OAuthError::invalid_client("client certificate SAN extension is malformed"))?
        .map(|ext| ext.value.general_names.clone())
        .unwrap_or_default();
    Ok(names.iter().any(|n| match (identity, n) {
        (CertIdentity::SanDns(want), GeneralName::DNSName(got)) => want.eq_ignore_ascii_case(got),
        (CertIdentity::SanUri(want), GeneralName::URI(got)) => want == got,
        (CertIdentity::SanEmail(want), GeneralName::RFC822Name(got)) => {
            want.eq_ignore_ascii_case(got)
        }
        (CertIdentity::SanIp(want), GeneralName::IPAddress(got)) => match (want, got.len()) {
            (IpAddr::V4(v4), 4) => v4.octets().as_slice() == *got,
            (IpAddr::V6(v6), 16) => v6.octets().as_slice() == *got,
            _ => false,
        },
        _ => false,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc4514_dns_with_spaces_and_escapes() {
        assert_eq!(
            parse_dn("CN=node1.test.realm, o=TEST.REALM").unwrap(),
            vec![
                ("CN".into(), "node1.test.realm".into()),
                ("O".into(), "TEST.REALM".into())
            ]
        );
        assert_eq!(
            parse_dn(r"CN=a\,b").unwrap(),
            vec![("CN".into(), "a,b".into())]
        );
        assert!(parse_dn("CN").is_err());
        assert!(parse_dn("=x").is_err());
    }

    #[test]
    fn garbage_certificate_is_invalid_client() {
        assert_eq!(
            matches(&CertIdentity::SanDns("x".into()), b"garbage")
                .unwrap_err()
                .code(),
            "invalid_client"
        );
    }
}
