//! Refresh tokens on the store (the adapter of `ports::RefreshTokens`): a token is 256
//! random bits, given to the client once; the store keeps its SHA-256 as the key, so a
//! database reader cannot use one. The store's atomic use count makes a use count once
//! on every node, and the first use's note records when it happened (for the grace
//! window). A used token's record stays until it expires, so a reuse is recognised.
//!
//! Ended families and sessions are records of their own (`refresh-ended`, keyed by
//! `f:<family>` and `s:<sid>`), written durably: a revoked family stays revoked after a
//! crash.

use super::*;
use crate::oauth::grant::refresh_token::RefreshGrant;
use crate::oauth::ports::{RefreshTokens, UsedRefreshToken};

const REFRESH: &str = "refresh";
const ENDED: &str = "refresh-ended";

fn token_key(token: &str) -> Vec<u8> {
    store_key(token.as_bytes())
}

fn ended_key(prefix: &str, id: &str) -> Vec<u8> {
    format!("{prefix}:{id}").into_bytes()
}

#[derive(serde::Serialize, serde::Deserialize)]
struct FirstUse {
    at: u64,
}

impl Service {
    /// Ends the refresh tokens of the session `sid` (its logout), on every node.
    pub(crate) async fn end_refresh_of_session(&self, sid: &str) -> Result<(), OAuthError> {
        let now = clock::now_unix();
        self.store
            .put_state(
                ENDED,
                &ended_key("s", sid),
                b"",
                now.saturating_add(self.settings.refresh.lifetime_secs),
                Durability::Durable,
            )
            .await
            .map_err(|e| store_unavailable("ending the session's refresh tokens", e))
    }
}

#[async_trait::async_trait]
impl RefreshTokens for Service {
    async fn issue(
        &self,
        grant: &RefreshGrant,
        parent: Option<(&str, bool)>,
        expires_at: u64,
        now: u64,
    ) -> Result<String, OAuthError> {
        let token = match parent {
            None => self.random_token()?,
            Some((parent, retry)) => {
                // HMAC-SHA256 under a key derived from the master key: the successor
                // cannot be computed from the parent without the server.
                let token = URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(
                    &self.refresh_successor_key,
                    parent.as_bytes(),
                ));
                // A retry: the successor stored by the first use stays as it is (its
                // own use count included).
                if retry
                    && self
                        .store
                        .state(REFRESH, &token_key(&token), now)
                        .await
                        .map_err(|e| store_unavailable("reading the refresh token", e))?
                        .is_some()
                {
                    return Ok(token);
                }
                token
            }
        };
        let value = serde_json::to_vec(grant)
            .map_err(|e| OAuthError::server_error(format!("refresh token record: {e}")))?;
        self.store
            .put_state(
                REFRESH,
                &token_key(&token),
                &value,
                expires_at,
                Durability::Durable,
            )
            .await
            .map_err(|e| store_unavailable("storing the refresh token", e))?;
        Ok(token)
    }

    async fn use_token(
        &self,
        token: &str,
        now: u64,
    ) -> Result<Option<UsedRefreshToken>, OAuthError> {
        let note = serde_json::to_vec(&FirstUse { at: now })
            .map_err(|e| OAuthError::server_error(format!("refresh note: {e}")))?;
        let Some(record) = self
            .store
            .use_state(REFRESH, &token_key(token), now, &note, Durability::Durable)
            .await
            .map_err(|e| store_unavailable("using the refresh token", e))?
        else {
            return Ok(None);
        };
        let grant: RefreshGrant = serde_json::from_slice(&record.value).map_err(|e| {
            OAuthError::server_error(format!("stored refresh token does not parse: {e}"))
        })?;
        let first_used_at = (record.uses > 0)
            .then(|| serde_json::from_slice::<FirstUse>(&record.note).ok())
            .flatten()
            .map(|f| f.at);
        Ok(Some(UsedRefreshToken {
            grant,
            uses: record.uses,
            first_used_at,
        }))
    }

    async fn is_ended(&self, grant: &RefreshGrant, now: u64) -> Result<bool, OAuthError> {
        let keys = [ended_key("f", &grant.family), ended_key("s", &grant.sid)];
        self.store
            .any_state(ENDED, &keys, now)
            .await
            .map_err(|e| store_unavailable("reading refresh revocations", e))
    }

    async fn revoke_family(&self, family: &str, until: u64, _now: u64) -> Result<(), OAuthError> {
        self.store
            .put_state(
                ENDED,
                &ended_key("f", family),
                b"",
                until,
                Durability::Durable,
            )
            .await
            .map_err(|e| store_unavailable("revoking the refresh token family", e))
    }

    async fn peek(&self, token: &str, now: u64) -> Result<Option<RefreshGrant>, OAuthError> {
        let record = self
            .store
            .state(REFRESH, &token_key(token), now)
            .await
            .map_err(|e| store_unavailable("reading the refresh token", e))?;
        Ok(record.and_then(|r| serde_json::from_slice(&r.value).ok()))
    }
}
