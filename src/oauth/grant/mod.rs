//! The grants of `POST /token` (RFC 6749 §4 and its extensions), one file each: how a
//! grant's parameters are read from the form, and what the client must satisfy before
//! [`super::issue`] mints its token.
//!
//! Adding a grant: a file here with `parse` and its checks, a [`GrantType`] and a
//! [`Grant`] arm, and its arm in the token flow. Discovery (`grant_types_supported`),
//! client registrations (`grant_types`) and dynamic registration all read
//! [`GrantType::SUPPORTED`].

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod jwt_bearer;
pub mod refresh_token;
pub mod token_exchange;

use serde::{Deserialize, Serialize};

use super::OAuthError;
use super::client::Client;

/// A grant type, by its registered name (RFC 7591 §2 `grant_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GrantType {
    /// `client_credentials` (RFC 6749 §4.4).
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    /// `authorization_code` (RFC 6749 §4.1): people signing in to web applications.
    #[serde(rename = "authorization_code")]
    AuthorizationCode,
    /// RFC 8628: hosts logging people in (SSSD `auth_provider = idp`, FreeIPA).
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
    /// RFC 6749 §6. A client may use it whenever its `refresh_tokens` policy gave it
    /// refresh tokens; listing it in `grant_types` is accepted and changes nothing.
    #[serde(rename = "refresh_token")]
    RefreshToken,
    /// RFC 8693: a service trades a token it received for a narrower one naming it.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
    /// RFC 7523 §2.1: a trusted issuer's JWT about a subject the client may act for.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:jwt-bearer")]
    JwtBearer,
}

impl GrantType {
    /// Every grant `/token` serves, in the order discovery lists them.
    pub const SUPPORTED: [GrantType; 6] = [
        GrantType::ClientCredentials,
        GrantType::AuthorizationCode,
        GrantType::DeviceCode,
        GrantType::RefreshToken,
        GrantType::TokenExchange,
        GrantType::JwtBearer,
    ];

    /// What a registration that names none may use (RFC 7591 §2 says
    /// `authorization_code`; ahdapa's clients have always been machines).
    pub const DEFAULT: [GrantType; 1] = [GrantType::ClientCredentials];

    /// The `grant_type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::AuthorizationCode => "authorization_code",
            Self::DeviceCode => device_code::GRANT_TYPE,
            Self::RefreshToken => "refresh_token",
            Self::TokenExchange => token_exchange::GRANT_TYPE,
            Self::JwtBearer => jwt_bearer::GRANT_TYPE,
        }
    }

    /// The grant type a `grant_type` value names, if ahdapa serves it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::SUPPORTED.into_iter().find(|g| g.as_str() == name)
    }

    /// The names of every supported grant (discovery).
    pub fn supported_names() -> Vec<&'static str> {
        Self::SUPPORTED.iter().map(|g| g.as_str()).collect()
    }
}

/// A token request's grant with its parameters, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// RFC 6749 §4.4.
    ClientCredentials(client_credentials::Request),
    /// RFC 6749 §4.1.3.
    AuthorizationCode(authorization_code::Request),
    /// RFC 8628 §3.4.
    DeviceCode(device_code::Request),
    /// RFC 6749 §6.
    RefreshToken(refresh_token::Request),
    /// RFC 8693 §2.1.
    TokenExchange(token_exchange::Request),
    /// RFC 7523 §2.1.
    JwtBearer(jwt_bearer::Request),
    /// RFC 6749 §4.3, for service accounts' app passwords only (never people's): served
    /// as client_credentials. Not listed in discovery.
    Password(client_credentials::Request),
}

impl Grant {
    /// Reads the grant named by `grant_type` from the form.
    pub fn parse(form: &super::form::Form) -> Result<Self, OAuthError> {
        let name = form
            .get("grant_type")
            .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
        if name == "password" {
            return client_credentials::parse(form).map(Self::Password);
        }
        match GrantType::from_name(name) {
            Some(GrantType::ClientCredentials) => {
                client_credentials::parse(form).map(Self::ClientCredentials)
            }
            Some(GrantType::AuthorizationCode) => {
                authorization_code::parse(form).map(Self::AuthorizationCode)
            }
            Some(GrantType::DeviceCode) => device_code::parse(form).map(Self::DeviceCode),
            Some(GrantType::RefreshToken) => refresh_token::parse(form).map(Self::RefreshToken),
            Some(GrantType::TokenExchange) => token_exchange::parse(form).map(Self::TokenExchange),
            Some(GrantType::JwtBearer) => jwt_bearer::parse(form).map(Self::JwtBearer),
            None => Err(OAuthError::UnsupportedGrantType {
                description: format!(
                    "grant_type {:?} is not supported",
                    name.chars().take(60).collect::<String>()
                )
                .into(),
            }),
        }
    }

    /// Its grant type.
    pub fn grant_type(&self) -> GrantType {
        match self {
            Self::ClientCredentials(_) | Self::Password(_) => GrantType::ClientCredentials,
            Self::AuthorizationCode(_) => GrantType::AuthorizationCode,
            Self::DeviceCode(_) => GrantType::DeviceCode,
            Self::RefreshToken(_) => GrantType::RefreshToken,
            Self::TokenExchange(_) => GrantType::TokenExchange,
            Self::JwtBearer(_) => GrantType::JwtBearer,
        }
    }
}

/// RFC 6749 §5.2 `unauthorized_client`: the client is not registered for this grant.
pub fn check_registered(client: &Client, grant: GrantType) -> Result<(), OAuthError> {
    if client.grant_types.contains(&grant) {
        Ok(())
    } else {
        Err(OAuthError::unauthorized_client(format!(
            "this client is not registered for grant_type {}",
            grant.as_str()
        )))
    }
}
