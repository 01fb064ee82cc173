//! TLS for the listener: a rustls `ServerConfig` from PEM files, offering HTTP/2 and
//! HTTP/1.1 by ALPN, with optional client certificates on the same port (RFC 8705).
//!
//! [`ClientCertPolicy`] decides, during the handshake, which client certificates are
//! acceptable: a chain to one of `tls.client_ca_files` (verified by webpki, validity
//! included), or a certificate whose SHA-256 thumbprint a `self_signed_tls_client_auth`
//! client registered (within its validity dates). Anything else fails the handshake
//! rather than silently becoming an anonymous connection. A connection without a
//! certificate is fine: most clients authenticate otherwise.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

use crate::oauth::client_auth::tls_client_auth::{CertTrust, thumbprint};

/// Which file was wrong, and how.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file is missing, unreadable or holds no certificate.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The key file is missing, unreadable, holds no key, or does not match.
    #[error("private key: {0}")]
    PrivateKey(String),
    /// A client CA file is missing, unreadable or holds no usable CA.
    #[error("client CA: {0}")]
    ClientCa(String),
}

/// Loads a certificate chain and key into a server config that asks for (optional)
/// client certificates through `policy`.
/// A TLS client configuration for ahdapa's own outgoing connections (jwks_uri fetches,
/// the directory, PostgreSQL, the CLI): the system roots plus the PEM certificates of
/// `ca_file`, which must hold at least one. Errors name the file, not the config key:
/// callers add that.
pub fn client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        {
            let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!("{} holds no certificate", path.display()));
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

pub fn server_config(
    cert_file: &Path,
    key_file: &Path,
    policy: Arc<ClientCertPolicy>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| TlsError::Certificate(format!("{}: {e}", cert_file.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Certificate(format!("{}: {e}", cert_file.display())))?;
    if certs.is_empty() {
        return Err(TlsError::Certificate(format!(
            "{}: no PEM certificate found",
            cert_file.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| TlsError::PrivateKey(format!("{}: {e}", key_file.display())))?;
    let mut config = ServerConfig::builder_with_provider(Arc::clone(&policy.provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Certificate(e.to_string()))?
        .with_client_cert_verifier(policy)
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::PrivateKey(format!("{}: {e}", key_file.display())))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The client-certificate rules of the listener; the pinned set follows the registry.
pub struct ClientCertPolicy {
    provider: Arc<CryptoProvider>,
    ca: Option<Arc<dyn ClientCertVerifier>>,
    pinned: ArcSwap<HashSet<[u8; 32]>>,
}

impl std::fmt::Debug for ClientCertPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertPolicy")
            .field("ca", &self.ca.is_some())
            .field("pinned", &self.pinned.load().len())
            .finish()
    }
}

impl ClientCertPolicy {
    /// A policy trusting the CAs in `ca_files` (PEM bundles; may be empty).
    pub fn new(ca_files: &[std::path::PathBuf]) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = RootCertStore::empty();
        for f in ca_files {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(f)
                .map_err(|e| TlsError::ClientCa(format!("{}: {e}", f.display())))?
                .collect::<Result<_, _>>()
                .map_err(|e| TlsError::ClientCa(format!("{}: {e}", f.display())))?;
            if certs.is_empty() {
                return Err(TlsError::ClientCa(format!(
                    "{}: no PEM certificate found",
                    f.display()
                )));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| TlsError::ClientCa(format!("{}: {e}", f.display())))?;
            }
        }
        let ca = if roots.is_empty() {
            None
        } else {
            let v =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| TlsError::ClientCa(e.to_string()))?;
            Some(v)
        };
        Ok(Self {
            provider,
            ca,
            pinned: ArcSwap::from_pointee(HashSet::new()),
        })
    }

    /// Replaces the registered self-signed thumbprints (on every registry reload).
    pub fn set_pinned(&self, pinned: HashSet<[u8; 32]>) {
        self.pinned.store(Arc::new(pinned));
    }

    /// How `end_entity` is trusted, if at all.
    pub fn classify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Option<CertTrust> {
        if let Some(ca) = &self.ca
            && ca
                .verify_client_cert(end_entity, intermediates, now)
                .is_ok()
        {
            return Some(CertTrust::CaVerified);
        }
        if self.pinned.load().contains(&thumbprint(end_entity)) && within_validity(end_entity, now)
        {
            return Some(CertTrust::Pinned);
        }
        None
    }
}

fn within_validity(der: &[u8], now: UnixTime) -> bool {
    use x509_parser::prelude::FromDer;
    let Ok((_, cert)) = x509_parser::certificate::X509Certificate::from_der(der) else {
        return false;
    };
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let v = cert.validity();
    v.not_before.timestamp() <= now && now <= v.not_after.timestamp()
}

impl ClientCertVerifier for ClientCertPolicy {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: self-signed clients must not be steered away by a CA list.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match self.classify(end_entity, intermediates, now) {
            Some(_) => Ok(ClientCertVerified::assertion()),
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
