//! Authorization codes on the store (the adapter of `ports::AuthorizationCodes`): a code
//! is 256 random bits, given to the browser once; the store keeps its SHA-256 as the
//! key, so a database reader cannot redeem codes. Single use on every node comes from
//! the store's atomic use count; the tokens a code produced are remembered (kind
//! `code-tokens`) until they expire, and a replay is marked (kind `code-replayed`) so a
//! first use still being served revokes what it made.

use super::*;
use crate::oauth::grant::authorization_code::{CODE_LIFETIME_SECS, CodeGrant};
use crate::oauth::ports::{AuthorizationCodes, RedeemedCode};

const CODE: &str = "code";
const CODE_TOKENS: &str = "code-tokens";
const CODE_REPLAYED: &str = "code-replayed";

fn code_key(code: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, code.as_bytes())
        .as_ref()
        .to_vec()
}

impl Service {
    /// Mints a code for `grant` (valid [`CODE_LIFETIME_SECS`], stored for every node).
    pub async fn issue_code(&self, grant: &CodeGrant, now: u64) -> Result<String, OAuthError> {
        let mut bytes = [0u8; 32];
        self.rng
            .fill(&mut bytes)
            .map_err(|_| OAuthError::server_error("random source failed"))?;
        let code = URL_SAFE_NO_PAD.encode(bytes);
        let value = serde_json::to_vec(grant)
            .map_err(|e| OAuthError::server_error(format!("code record: {e}")))?;
        self.store
            .put_state(
                CODE,
                &code_key(&code),
                &value,
                now.saturating_add(CODE_LIFETIME_SECS),
            )
            .await
            .map_err(|e| store_unavailable("storing the code", e))?;
        Ok(code)
    }
}

#[async_trait::async_trait]
impl AuthorizationCodes for Service {
    async fn redeem(&self, code: &str, now: u64) -> Result<Option<RedeemedCode>, OAuthError> {
        let key = code_key(code);
        let Some(record) = self
            .store
            .use_state(CODE, &key, now)
            .await
            .map_err(|e| store_unavailable("redeeming the code", e))?
        else {
            return Ok(None);
        };
        let grant: CodeGrant = serde_json::from_slice(&record.value)
            .map_err(|e| OAuthError::server_error(format!("stored code does not parse: {e}")))?;
        if record.uses == 0 {
            return Ok(Some(RedeemedCode {
                grant,
                first_use: true,
                issued: Vec::new(),
            }));
        }
        // A replay: mark it (for a first use still in flight) and hand back what the
        // first use produced, to revoke.
        let until = now.saturating_add(crate::oauth::client::MAX_TOKEN_LIFETIME_SECS);
        self.store
            .put_state(CODE_REPLAYED, &key, b"", until)
            .await
            .map_err(|e| store_unavailable("marking the code replayed", e))?;
        let issued = match self
            .store
            .state(CODE_TOKENS, &key, now)
            .await
            .map_err(|e| store_unavailable("reading the code's tokens", e))?
        {
            Some(r) => serde_json::from_slice(&r.value).unwrap_or_default(),
            None => Vec::new(),
        };
        Ok(Some(RedeemedCode {
            grant,
            first_use: false,
            issued,
        }))
    }

    async fn issued(
        &self,
        code: &str,
        tokens: &[(String, u64)],
        now: u64,
    ) -> Result<bool, OAuthError> {
        let key = code_key(code);
        let until = tokens.iter().map(|(_, exp)| *exp).max().unwrap_or(now);
        let value = serde_json::to_vec(tokens)
            .map_err(|e| OAuthError::server_error(format!("code tokens: {e}")))?;
        self.store
            .put_state(CODE_TOKENS, &key, &value, until)
            .await
            .map_err(|e| store_unavailable("remembering the code's tokens", e))?;
        let replayed = self
            .store
            .state(CODE_REPLAYED, &key, now)
            .await
            .map_err(|e| store_unavailable("checking the code", e))?;
        Ok(replayed.is_some())
    }
}
