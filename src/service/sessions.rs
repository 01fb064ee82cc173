//! SSO sessions of people, on the store (every node sees them; logout on one node ends
//! them everywhere), and the password check with its throttle.
//!
//! A session is named by a 256-bit random cookie value; the store key is the first 128
//! bits of its SHA-256, which is also the public `sid` (OIDC Front-/Back-Channel Logout
//! §3: the ID token's `sid`), so neither the store nor an ID token holds a usable cookie.

use serde::{Deserialize, Serialize};

use super::*;

const SESSION: &str = "session";

/// One person's SSO session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The person's Kerberos principal (the `sub` of their ID tokens).
    pub subject: String,
    /// When they authenticated.
    pub auth_time: u64,
    /// How (RFC 8176: `kerberos`, `pwd`, `otp`).
    pub amr: Vec<String>,
    /// Claims from the directory (name, email, groups), read at sign-in.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// When it ends.
    pub expires_at: u64,
}

/// The store key (and `sid`) of a session cookie.
fn session_key(cookie: &str) -> Vec<u8> {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cookie.as_bytes());
    d.as_ref().get(..16).unwrap_or_default().to_vec()
}

/// The public session id of a cookie.
pub fn sid_of(cookie: &str) -> String {
    URL_SAFE_NO_PAD.encode(session_key(cookie))
}

impl Service {
    /// Stores a new session; returns the cookie value.
    pub async fn start_session(&self, session: &Session) -> Result<String, OAuthError> {
        let mut bytes = [0u8; 32];
        self.rng
            .fill(&mut bytes)
            .map_err(|_| OAuthError::server_error("random source failed"))?;
        let cookie = URL_SAFE_NO_PAD.encode(bytes);
        let value = serde_json::to_vec(session)
            .map_err(|e| OAuthError::server_error(format!("session record: {e}")))?;
        self.store
            .put_state(SESSION, &session_key(&cookie), &value, session.expires_at)
            .await
            .map_err(|e| store_unavailable("storing the session", e))?;
        Ok(cookie)
    }

    /// The session a cookie names, if it exists and has not ended.
    pub async fn session(&self, cookie: &str, now: u64) -> Result<Option<Session>, OAuthError> {
        let record = self
            .store
            .state(SESSION, &session_key(cookie), now)
            .await
            .map_err(|e| store_unavailable("reading the session", e))?;
        Ok(record.and_then(|r| serde_json::from_slice(&r.value).ok()))
    }

    /// Ends the session with the public id `sid` (an ID token's), on every node.
    pub async fn end_session_by_sid(&self, sid: &str) -> Result<bool, OAuthError> {
        let Ok(key) = URL_SAFE_NO_PAD.decode(sid) else {
            return Ok(false);
        };
        self.store
            .delete_state(SESSION, &key)
            .await
            .map_err(|e| store_unavailable("ending the session", e))
    }

    /// Ends a session on every node; false if there was none.
    pub async fn end_session(&self, cookie: &str) -> Result<bool, OAuthError> {
        self.store
            .delete_state(SESSION, &session_key(cookie))
            .await
            .map_err(|e| store_unavailable("ending the session", e))
    }
}
