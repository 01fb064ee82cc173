//! The `ahdapa` command's side of the admin and enrolment APIs: one HTTPS request per
//! call (HTTP/1.1 over rustls, the system roots plus `--ca-file`), authenticated with
//! the caller's own Kerberos ticket (Negotiate as initiator, a fresh AP-REQ per request:
//! the server records each as single-use), with a keytab (host enrolment), or with an
//! access token carrying `ahdapa.admin`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;

/// How the command authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Token(String),
    /// Negotiate with the default credentials (the ticket cache from `kinit`).
    Negotiate,
    /// Negotiate with keys from a keytab (`ahdapa enroll`), as `principal` or the
    /// keytab's first principal.
    Keytab {
        /// The keytab, e.g. `/etc/krb5.keytab`.
        keytab: PathBuf,
        /// The principal to authenticate as.
        principal: Option<String>,
    },
}

/// An admin API endpoint.
#[derive(Clone)]
pub struct AdminClient {
    server: http::Uri,
    host: String,
    auth: Auth,
    tls: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// Why a call failed before an answer arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// No usable credential (no ticket, unreadable keytab, ...).
    Credentials(String),
    /// The server could not be reached or did not answer.
    Transport(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Credentials(m) | Self::Transport(m) => f.write_str(m),
        }
    }
}

/// A response: status and JSON body (`null` when empty or not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: serde_json::Value,
}

const TIMEOUT: Duration = Duration::from_secs(30);
const MAX_BODY: usize = 16 * 1024 * 1024;

impl AdminClient {
    /// `server` is the issuer URL (`https://idp.example.com`); `ca_file` adds trusted
    /// CA certificates to the system roots.
    pub fn new(server: &str, auth: Auth, ca_file: Option<&Path>) -> Result<Self, String> {
        let uri: http::Uri = server
            .trim_end_matches('/')
            .parse()
            .map_err(|_| format!("--server {server:?} is not a URL"))?;
        let host = uri
            .host()
            .ok_or_else(|| format!("--server {server:?} has no host"))?
            .to_owned();
        if !matches!(uri.scheme_str(), Some("https" | "http")) {
            return Err(format!("--server {server:?} must be https://"));
        }
        let config = crate::tls::client_config(ca_file).map_err(|e| format!("--ca-file {e}"))?;
        Ok(Self {
            server: uri,
            host,
            auth,
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }

    /// Sends one request to `path` (below the server URL) with an optional JSON body.
    pub async fn call(
        &self,
        method: http::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, CallError> {
        let authorization = match &self.auth {
            Auth::Token(t) => format!("Bearer {t}"),
            Auth::Negotiate => format!(
                "Negotiate {}",
                self.negotiate(None, None)
                    .await
                    .map_err(CallError::Credentials)?
            ),
            Auth::Keytab { keytab, principal } => format!(
                "Negotiate {}",
                self.negotiate(Some(keytab.clone()), principal.clone())
                    .await
                    .map_err(CallError::Credentials)?
            ),
        };
        tokio::time::timeout(TIMEOUT, self.call_inner(method, path, body, authorization))
            .await
            .map_err(|_| {
                CallError::Transport(format!("{} did not answer within {TIMEOUT:?}", self.server))
            })?
            .map_err(CallError::Transport)
    }

    async fn call_inner(
        &self,
        method: http::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        authorization: String,
    ) -> Result<Answer, String> {
        let base_path = self.server.path().trim_end_matches('/');
        let https = self.server.scheme_str() == Some("https");
        let port = self
            .server
            .port_u16()
            .unwrap_or(if https { 443 } else { 80 });
        let tcp = TcpStream::connect((self.host.as_str(), port))
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.server))?;
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{base_path}{path}"))
            .header(http::header::HOST, self.authority())
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::AUTHORIZATION, authorization);
        if body.is_some() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(payload)))
            .map_err(|e| e.to_string())?;
        if https {
            let name = ServerName::try_from(self.host.clone()).map_err(|e| format!("{e}"))?;
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {}: {e}", self.server))?;
            send(TokioIo::new(tls), req).await
        } else {
            send(TokioIo::new(tcp), req).await
        }
    }

    fn authority(&self) -> String {
        self.server
            .authority()
            .map_or_else(|| self.host.clone(), |a| a.as_str().to_owned())
    }

    /// A fresh Negotiate token (base64) for `HTTP@<server host>`.
    async fn negotiate(
        &self,
        keytab: Option<PathBuf>,
        principal: Option<String>,
    ) -> Result<String, String> {
        let host = self.host.clone();
        tokio::task::spawn_blocking(move || {
            use libgssapi::context::{ClientCtx, CtxFlags};
            use libgssapi::name::Name;
            use libgssapi::oid::{GSS_MECH_KRB5, GSS_NT_HOSTBASED_SERVICE};
            let cred = match &keytab {
                None => None,
                Some(k) => Some(
                    gss_credstore::acquire_initiator(
                        principal.as_deref(),
                        &[
                            ("client_keytab", &k.display().to_string()),
                            ("ccache", "MEMORY:ahdapa-cli"),
                        ],
                    )
                    .map_err(|e| format!("cannot use the keytab {}: {e}", k.display()))?,
                ),
            };
            let name = Name::new(
                format!("HTTP@{host}").as_bytes(),
                Some(GSS_NT_HOSTBASED_SERVICE),
            )
            .map_err(|e| format!("service name HTTP@{host}: {e}"))?;
            let mut ctx =
                ClientCtx::new(cred, name, CtxFlags::GSS_C_MUTUAL_FLAG, Some(GSS_MECH_KRB5));
            let token = ctx.step(None, None).map_err(|e| {
                format!("no Kerberos ticket for HTTP/{host}: {e} (run kinit first, or use --token)")
            })?;
            token
                .map(|t| STANDARD.encode(&*t))
                .ok_or_else(|| "GSSAPI produced no token".to_owned())
        })
        .await
        .map_err(|e| format!("GSSAPI task failed: {e}"))?
    }
}

async fn send<T>(io: T, req: http::Request<Full<Bytes>>) -> Result<Answer, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (status, bytes) = crate::http_client::exchange(io, req, MAX_BODY).await?;
    Ok(Answer {
        status: status.as_u16(),
        body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    })
}
