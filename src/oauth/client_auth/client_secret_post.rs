//! `client_secret_post`: RFC 6749 §2.3.1, `client_id` and `client_secret` in the body.
//! With only a `client_id`, the request presents no credential (method `none`).

use super::Presented;
use crate::oauth::error::OAuthError;
use crate::oauth::secret::ClientSecret;

/// Builds the credential from the form's `client_id` and `client_secret`.
pub fn presented(
    client_id: Option<String>,
    secret: Option<String>,
) -> Result<Presented, OAuthError> {
    match (client_id, secret) {
        (Some(client_id), Some(secret)) => Ok(Presented::ClientSecretPost {
            client_id,
            secret: ClientSecret::new(secret),
        }),
        (Some(client_id), None) => Ok(Presented::None { client_id }),
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "client_secret without client_id",
        )),
        (None, None) => Err(OAuthError::invalid_client(
            "no client authentication presented",
        )),
    }
}
