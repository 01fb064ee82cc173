//! Service accounts (authentik's machine-to-machine model): an identity under one client,
//! with an app password shown once and stored as a hash, an expiry, and rotation.
//!
//! A client registered with `service_accounts = true` accepts, instead of its own
//! credential, a service account's:
//! - `grant_type=client_credentials&client_id=APP&username=SA&password=TOKEN`;
//! - `grant_type=password` with the same parameters, for applications that only know the
//!   password grant. It is only ever a service account's app password: people's
//!   passwords are never accepted at `/token` (they sign in at `/authorize`);
//! - `client_secret = base64(SA:TOKEN)` (form or HTTP Basic).
//!
//! The token's `sub` is the service account's name.

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::secret::{ClientSecret, SecretHash};

/// The longest name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// One service account, as stored (hashes only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccount {
    /// Its name: the `username`, and the `sub` of its tokens.
    pub name: String,
    /// The client it belongs to.
    pub client_id: String,
    /// `sha256:…` of the current app password.
    pub password_hash: String,
    /// The app password stops working then.
    pub expires_at: u64,
    /// After a rotation with an overlap: the previous password's hash and until when it
    /// still works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<(String, u64)>,
    /// When it was created.
    pub created_at: u64,
    /// When its password was last set.
    pub rotated_at: u64,
}

/// Why a presented app password is refused (logged, never shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The password is not the current one (nor a previous one still in its overlap).
    #[error("wrong app password")]
    Wrong,
    /// The password was right and has expired.
    #[error("the app password has expired")]
    Expired,
}

impl ServiceAccount {
    /// Checks a presented app password at `now`.
    pub fn verify(&self, password: &ClientSecret, now: u64) -> Result<(), Refused> {
        let matches = |stored: &str| SecretHash::parse(stored).is_some_and(|h| h.verify(password));
        if matches(&self.password_hash) {
            return if now < self.expires_at {
                Ok(())
            } else {
                Err(Refused::Expired)
            };
        }
        match &self.previous {
            Some((hash, until)) if matches(hash) => {
                if now < *until && now < self.expires_at {
                    Ok(())
                } else {
                    Err(Refused::Expired)
                }
            }
            _ => Err(Refused::Wrong),
        }
    }
}

/// Why a name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a service account name is 1 to {MAX_NAME_LEN} characters of letters, digits, . _ - and @")]
pub struct BadName;

/// Names travel in forms, Basic credentials and `sub`.
pub fn check_name(name: &str) -> Result<(), BadName> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok { Ok(()) } else { Err(BadName) }
}

/// A `client_secret` of the form `base64(name:password)`, as authentik accepts.
pub fn from_secret(secret: &ClientSecret) -> Option<(String, ClientSecret)> {
    let raw = secret.expose();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw))
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (name, password) = text.split_once(':')?;
    check_name(name).ok()?;
    (!password.is_empty()).then(|| (name.to_owned(), ClientSecret::new(password.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(password: &str, expires_at: u64) -> ServiceAccount {
        ServiceAccount {
            name: "ci".into(),
            client_id: "app".into(),
            password_hash: SecretHash::of(&ClientSecret::new(password.into())).to_stored(),
            expires_at,
            previous: None,
            created_at: 0,
            rotated_at: 0,
        }
    }

    #[test]
    fn checks_password_expiry_and_the_rotation_overlap() {
        let pw = |s: &str| ClientSecret::new(s.into());
        let a = account("new", 100);
        assert_eq!(a.verify(&pw("new"), 10), Ok(()));
        assert_eq!(a.verify(&pw("old"), 10), Err(Refused::Wrong));
        assert_eq!(a.verify(&pw("new"), 100), Err(Refused::Expired));
        let mut rotated = a.clone();
        rotated.previous = Some((SecretHash::of(&pw("old")).to_stored(), 20));
        assert_eq!(rotated.verify(&pw("old"), 10), Ok(()));
        assert_eq!(rotated.verify(&pw("old"), 20), Err(Refused::Expired));
    }

    #[test]
    fn reads_base64_name_and_password_secrets() {
        let s =
            ClientSecret::new(base64::engine::general_purpose::STANDARD.encode("ci-bot:tok:en"));
        let (name, password) = from_secret(&s).unwrap();
        assert_eq!((name.as_str(), password.expose()), ("ci-bot", "tok:en"));
        assert!(from_secret(&ClientSecret::new("not base64 at all!".into())).is_none());
        assert!(check_name("a b").is_err() && check_name("").is_err());
    }
}
