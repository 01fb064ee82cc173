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
    /// When it ends.
    pub expires_at: u64,
    /// When it was last used (kept to the minute): unused for `signin.session_idle_secs`,
    /// it ends.
    #[serde(default)]
    pub last_seen: u64,
}

/// How stale `last_seen` may be before a use writes it again.
const TOUCH_SECS: u64 = 60;

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
        let cookie = self.random_token()?;
        let value = serde_json::to_vec(session)
            .map_err(|e| OAuthError::server_error(format!("session record: {e}")))?;
        self.store
            .put_state(
                SESSION,
                &session_key(&cookie),
                &value,
                session.expires_at,
                Durability::Durable,
            )
            .await
            .map_err(|e| store_unavailable("storing the session", e))?;
        Ok(cookie)
    }

    /// The session a cookie names, if it exists and has not ended (by its lifetime, or
    /// by being unused for `signin.session_idle_secs`). A use moves `last_seen`.
    pub async fn session(&self, cookie: &str, now: u64) -> Result<Option<Session>, OAuthError> {
        let key = session_key(cookie);
        let record = self
            .store
            .state(SESSION, &key, now)
            .await
            .map_err(|e| store_unavailable("reading the session", e))?;
        let Some(mut session) =
            record.and_then(|r| serde_json::from_slice::<Session>(&r.value).ok())
        else {
            return Ok(None);
        };
        let idle = self.signin.session_idle_secs;
        let last = session.last_seen.max(session.auth_time);
        if idle > 0 && now.saturating_sub(last) > idle {
            self.store
                .delete_state(SESSION, &key)
                .await
                .map_err(|e| store_unavailable("ending the session", e))?;
            return Ok(None);
        }
        let touch = if idle > 0 {
            (idle / 2).clamp(1, TOUCH_SECS)
        } else {
            TOUCH_SECS
        };
        if now.saturating_sub(last) >= touch {
            session.last_seen = now;
            let value = serde_json::to_vec(&session)
                .map_err(|e| OAuthError::server_error(format!("session record: {e}")))?;
            self.store
                .put_state(
                    SESSION,
                    &key,
                    &value,
                    session.expires_at,
                    Durability::Durable,
                )
                .await
                .map_err(|e| store_unavailable("updating the session", e))?;
        }
        Ok(Some(session))
    }

    /// Ends the session with the public id `sid` (an ID token's), and its refresh
    /// tokens, on every node.
    pub async fn end_session_by_sid(&self, sid: &str) -> Result<bool, OAuthError> {
        let Ok(key) = URL_SAFE_NO_PAD.decode(sid) else {
            return Ok(false);
        };
        self.end_refresh_of_session(sid).await?;
        self.store
            .delete_state(SESSION, &key)
            .await
            .map_err(|e| store_unavailable("ending the session", e))
    }

    /// Ends a session and its refresh tokens on every node; false if there was none.
    pub async fn end_session(&self, cookie: &str) -> Result<bool, OAuthError> {
        self.end_refresh_of_session(&sid_of(cookie)).await?;
        self.store
            .delete_state(SESSION, &session_key(cookie))
            .await
            .map_err(|e| store_unavailable("ending the session", e))
    }
}
