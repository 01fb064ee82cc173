//! Authorization codes on the store (the adapter of `ports::AuthorizationCodes`): a code
//! is 256 random bits, given to the browser once; the store keeps its SHA-256 as the
//! key, so a database reader cannot redeem codes. Single use on every node comes from
//! the store's atomic use count, and the first use's note names the token it produces,
//! so a replay revokes it whichever finishes first: one store write per redemption.
//! Codes are written with relaxed durability (they live 60 s; a crash of the database
//! host may lose a fresh one, and the person signs in again).

use super::*;
use crate::oauth::grant::authorization_code::{CODE_LIFETIME_SECS, CodeGrant};
use crate::oauth::ports::{AuthorizationCodes, RedeemedCode};

const CODE: &str = "code";

fn code_key(code: &str) -> Vec<u8> {
    store_key(code.as_bytes())
}

impl Service {
    /// Mints a code for `grant` (valid [`CODE_LIFETIME_SECS`], stored for every node).
    pub async fn issue_code(&self, grant: &CodeGrant, now: u64) -> Result<String, OAuthError> {
        let code = self.random_token()?;
        let value = serde_json::to_vec(grant)
            .map_err(|e| OAuthError::server_error(format!("code record: {e}")))?;
        self.store
            .put_state(
                CODE,
                &code_key(&code),
                &value,
                now.saturating_add(CODE_LIFETIME_SECS),
                Durability::Relaxed,
            )
            .await
            .map_err(|e| store_unavailable("storing the code", e))?;
        Ok(code)
    }
}

#[async_trait::async_trait]
impl AuthorizationCodes for Service {
    async fn peek(&self, code: &str, now: u64) -> Result<Option<CodeGrant>, OAuthError> {
        let record = self
            .store
            .state(CODE, &code_key(code), now)
            .await
            .map_err(|e| store_unavailable("reading the code", e))?;
        // A used code goes on to `redeem`, which revokes what its first use produced.
        Ok(record.and_then(|r| serde_json::from_slice(&r.value).ok()))
    }

    async fn redeem(
        &self,
        code: &str,
        token: &(String, u64),
        now: u64,
    ) -> Result<Option<RedeemedCode>, OAuthError> {
        let note = serde_json::to_vec(&[token])
            .map_err(|e| OAuthError::server_error(format!("code note: {e}")))?;
        let Some(record) = self
            .store
            .use_state(CODE, &code_key(code), now, &note, Durability::Relaxed)
            .await
            .map_err(|e| store_unavailable("redeeming the code", e))?
        else {
            return Ok(None);
        };
        let grant: CodeGrant = serde_json::from_slice(&record.value)
            .map_err(|e| OAuthError::server_error(format!("stored code does not parse: {e}")))?;
        let first_use = record.uses == 0;
        let issued = if first_use {
            Vec::new()
        } else {
            serde_json::from_slice(&record.note).unwrap_or_default()
        };
        Ok(Some(RedeemedCode {
            grant,
            first_use,
            issued,
        }))
    }
}
