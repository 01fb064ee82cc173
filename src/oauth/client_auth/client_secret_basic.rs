//! `client_secret_basic`: RFC 6749 §2.3.1 HTTP Basic, where the client_id and the secret
//! are each `application/x-www-form-urlencoded` before being joined with `:` and
//! base64-encoded (RFC 7617). Decoding undoes both.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::oauth::error::OAuthError;
use crate::oauth::secret::ClientSecret;

/// Decodes the credentials of a `Basic` header into client_id and secret.
pub fn decode(credentials: &str) -> Result<(String, ClientSecret), OAuthError> {
    let raw = STANDARD
        .decode(credentials)
        .map_err(|_| OAuthError::invalid_client("Basic credentials are not base64"))?;
    let text = String::from_utf8(raw)
        .map_err(|_| OAuthError::invalid_client("Basic credentials are not UTF-8"))?;
    let (id, secret) = text.split_once(':').ok_or_else(|| {
        OAuthError::invalid_client(format!(
            "Basic credentials lack ':' ({} bytes, not logged)",
            text.len()
        ))
    })?;
    let id = form_decode(id);
    let secret = form_decode(secret);
    if id.is_empty() {
        return Err(OAuthError::invalid_client(
            "Basic credentials have an empty client_id",
        ));
    }
    Ok((id, ClientSecret::new(secret)))
}

/// Encodes credentials the way RFC 6749 §2.3.1 asks clients to (used by tests and the CLI).
pub fn encode(client_id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    STANDARD.encode(format!("{}:{}", enc(client_id), enc(secret)))
}

/// `application/x-www-form-urlencoded` decoding of one component: `+` is a space, then
/// percent-decoding; invalid UTF-8 is replaced rather than refused (it cannot match).
fn form_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_form_encoded_components() {
        // "a b:c%" form-encoded is "a+b%3Ac%25".
        let header = STANDARD.encode("a+b%3Ac%25:p%26w+d");
        let (id, secret) = decode(&header).unwrap();
        assert_eq!(id, "a b:c%");
        assert_eq!(secret.expose(), "p&w d");
    }

    #[test]
    fn round_trips_with_encode() {
        let (id, secret) = decode(&encode("svc:1", "x=y&z")).unwrap();
        assert_eq!((id.as_str(), secret.expose()), ("svc:1", "x=y&z"));
    }

    #[test]
    fn plain_secret_with_colon_keeps_the_rest() {
        let (id, secret) = decode(&STANDARD.encode("id:se:cret")).unwrap();
        assert_eq!((id.as_str(), secret.expose()), ("id", "se:cret"));
    }

    #[test]
    fn rejects_malformed_credentials() {
        for bad in [
            "!!!",
            &STANDARD.encode("nocolon"),
            &STANDARD.encode(":secret"),
            &STANDARD.encode([0xffu8, b':']),
        ] {
            assert_eq!(decode(bad).unwrap_err().code(), "invalid_client", "{bad}");
        }
    }
}
