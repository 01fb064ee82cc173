//! `client_credentials` (RFC 6749 §4.4): a confidential client asks for a token for
//! itself. The request carries an optional `scope`; the answer never has a refresh token
//! (§4.4.3).
//!
//! Rules: public clients (`none`) cannot use it (DESIGN.md; §4.4 "MUST only be used by
//! confidential clients"); the scope is the requested scopes intersected with the
//! registered ones, all registered scopes when none is asked for, `invalid_scope` when
//! the intersection is empty.

use crate::oauth::OAuthError;
use crate::oauth::client::{Client, Credential};
use crate::oauth::form::Form;
use crate::oauth::scope::Scopes;

/// The grant's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `scope`, when given.
    pub scope: Option<Scopes>,
}

/// Reads the parameters (the caller has read `grant_type` and the credential).
pub fn parse(form: &Form) -> Result<Request, OAuthError> {
    Ok(Request {
        scope: form.get("scope").map(Scopes::parse).transpose()?,
    })
}

/// The scope `client` is granted, or why it may not have a token this way.
/// `service_account`: a service account's app password authenticated the request (the
/// client itself may then be a public one).
pub fn authorize(
    client: &Client,
    request: &Request,
    service_account: bool,
) -> Result<Scopes, OAuthError> {
    if matches!(client.credential, Credential::Public) && !service_account {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use client_credentials",
        ));
    }
    super::check_registered(client, super::GrantType::ClientCredentials)?;
    Scopes::grant(&client.scopes, request.scope.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::client::{ClientRegistration, ClientSource, TokenEndpointAuthMethod};
    use crate::oauth::grant::GrantType;

    fn client(method: TokenEndpointAuthMethod) -> Client {
        Client::from_registration(
            &ClientRegistration {
                client_id: "svc".into(),
                token_endpoint_auth_method: method,
                client_secret_hash: (method != TokenEndpointAuthMethod::None)
                    .then(|| "sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()),
                scopes: vec!["a".into(), "b".into()],
                ..Default::default()
            },
            ClientSource::Config,
            None,
        )
        .unwrap()
    }

    fn form(body: &str) -> Form {
        Form::parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn grants_the_intersection_or_everything_registered() {
        let c = client(TokenEndpointAuthMethod::ClientSecretBasic);
        let granted = |body: &str| authorize(&c, &parse(&form(body)).unwrap(), false);
        assert_eq!(granted("scope=b+zzz").unwrap().to_scope_string(), "b");
        assert_eq!(granted("x=1").unwrap().to_scope_string(), "a b");
        assert_eq!(granted("scope=zzz").unwrap_err().code(), "invalid_scope");
        assert_eq!(
            parse(&form("scope=%22")).unwrap_err().code(),
            "invalid_scope"
        );
    }

    #[test]
    fn rejects_public_clients() {
        let c = client(TokenEndpointAuthMethod::None);
        let e = authorize(&c, &Request { scope: None }, false).unwrap_err();
        assert_eq!(e.code(), "unauthorized_client");
    }

    #[test]
    fn rejects_clients_not_registered_for_the_grant() {
        let mut c = client(TokenEndpointAuthMethod::ClientSecretBasic);
        assert_eq!(c.grant_types, GrantType::DEFAULT.to_vec());
        c.grant_types.clear();
        let e = authorize(&c, &Request { scope: None }, false).unwrap_err();
        assert_eq!(e.code(), "unauthorized_client");
        assert!(e.description().unwrap().contains("client_credentials"));
    }
}
