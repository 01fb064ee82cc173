//! `kerberos_client_auth`: `Authorization: Negotiate <base64>` (RFC 4559) at `/token`,
//! one round trip. The core only decodes the token and, once the GSSAPI adapter has
//! proven the principal, decides whether that principal is this client: equal to its
//! `kerberos_principal`, or matching its `kerberos_principal_pattern`.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::oauth::client::KerberosIdentity;
use crate::oauth::error::OAuthError;

/// Largest Negotiate token accepted (a ticket with a large PAC stays well below).
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// A decoded Negotiate token. A credential: redacted `Debug`, no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct NegotiateToken(Vec<u8>);

impl NegotiateToken {
    /// Decodes the base64 credentials of a `Negotiate` header.
    pub fn decode(b64: &str) -> Result<Self, OAuthError> {
        if b64.is_empty() {
            return Err(OAuthError::invalid_client("empty Negotiate token"));
        }
        if b64.len() > MAX_TOKEN_BYTES * 4 / 3 + 4 {
            return Err(OAuthError::invalid_client("Negotiate token too large"));
        }
        STANDARD
            .decode(b64)
            .map(Self)
            .map_err(|_| OAuthError::invalid_client("Negotiate token is not base64"))
    }

    /// The token bytes, for the GSSAPI adapter.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for NegotiateToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NegotiateToken(<{} bytes>)", self.0.len())
    }
}

/// The token's `sub` for an authenticated `principal`, or `invalid_client` when the
/// principal is not this client.
pub fn subject(
    identity: &KerberosIdentity,
    client_id: &str,
    principal: &str,
) -> Result<String, OAuthError> {
    match identity {
        KerberosIdentity::Exact(expected) if expected == principal => Ok(client_id.to_owned()),
        KerberosIdentity::Exact(expected) => Err(OAuthError::invalid_client(format!(
            "principal {principal} is not the client's kerberos_principal {expected}"
        ))),
        KerberosIdentity::Template(pattern) if pattern.matches(principal) => {
            Ok(principal.to_owned())
        }
        KerberosIdentity::Template(pattern) => Err(OAuthError::invalid_client(format!(
            "principal {principal} does not match the client's pattern {}",
            pattern.as_str()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::principal::PrincipalPattern;

    #[test]
    fn exact_client_subject_is_client_id() {
        let id = KerberosIdentity::Exact("host/n1@R".into());
        assert_eq!(subject(&id, "n1-client", "host/n1@R").unwrap(), "n1-client");
        assert_eq!(
            subject(&id, "n1-client", "host/n2@R").unwrap_err().code(),
            "invalid_client"
        );
    }

    #[test]
    fn template_client_subject_is_principal() {
        let id = KerberosIdentity::Template(PrincipalPattern::parse("host/*.r@R").unwrap());
        assert_eq!(subject(&id, "fleet", "host/n1.r@R").unwrap(), "host/n1.r@R");
        assert_eq!(
            subject(&id, "fleet", "host/n1.x@R").unwrap_err().code(),
            "invalid_client"
        );
    }

    #[test]
    fn decode_refuses_bad_tokens() {
        assert_eq!(
            NegotiateToken::decode("").unwrap_err().code(),
            "invalid_client"
        );
        assert_eq!(
            NegotiateToken::decode("%%%").unwrap_err().code(),
            "invalid_client"
        );
        assert!(!format!("{:?}", NegotiateToken::decode("YWJj").unwrap()).contains("abc"));
    }
}
