//! `POST /token` bodies (RFC 6749 §3.2) into typed requests: the one credential the
//! client presented and the grant with its parameters. Nothing here checks a credential
//! or a grant's rules; it only reads what was sent.
//!
//! Order of refusals: a body that does not parse (repeated parameters), two credentials
//! at once, a missing or unsupported `grant_type`, then the grant's own parameters.

use super::OAuthError;
use super::client_auth::{self, Authorization, Presented};
use super::form::Form;
use super::grant::Grant;

/// One token request, read.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The credential presented (checked later, by `client_auth`).
    pub client: Presented,
    /// The grant and its parameters.
    pub grant: Grant,
}

/// Reads a token request from the `Authorization` header and the form body (the caller
/// checked the media type and the size).
pub fn parse(
    authorization: Option<Authorization<'_>>,
    body: &[u8],
) -> Result<TokenRequest, OAuthError> {
    // RFC 8693 §2.1: `audience` and `resource` may repeat.
    let mut form = Form::parse_with_repeatable(body, &["audience", "resource"])?;
    let client = client_auth::presented(authorization, &mut form)?;
    let grant = Grant::parse(&form)?;
    Ok(TokenRequest { client, grant })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::grant::client_credentials;

    #[test]
    fn reads_the_credential_and_the_grant() {
        let r = parse(
            None,
            b"grant_type=client_credentials&client_id=a&client_secret=s&scope=x",
        )
        .unwrap();
        assert!(
            matches!(r.client, Presented::ClientSecretPost { ref client_id, .. } if client_id == "a")
        );
        let Grant::ClientCredentials(client_credentials::Request { scope }) = r.grant else {
            panic!("not client_credentials")
        };
        assert_eq!(scope.unwrap().to_scope_string(), "x");
    }

    #[test]
    fn refuses_missing_unknown_and_repeated_parameters_and_two_credentials() {
        let code = |body: &str, auth: Option<Authorization<'_>>| {
            parse(auth, body.as_bytes()).unwrap_err().code()
        };
        assert_eq!(code("client_id=a", None), "invalid_request");
        assert_eq!(
            code("grant_type=implicit&client_id=a", None),
            "unsupported_grant_type"
        );
        assert_eq!(
            code(
                "grant_type=client_credentials&grant_type=client_credentials",
                None
            ),
            "invalid_request"
        );
        assert_eq!(
            code(
                "grant_type=client_credentials&client_id=a&client_secret=s",
                Some(Authorization::Basic("YTpi"))
            ),
            "invalid_request"
        );
    }
}
