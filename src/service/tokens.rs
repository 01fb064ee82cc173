//! The service's own tokens after issuance: the adapters of RFC 7662 introspection and
//! RFC 7009 revocation (the rules are `oauth::introspection` and `oauth::revocation`; a
//! revoked `jti` is a durable store record, refused on every node until the token
//! expires), and the verification that ahdapa's resource endpoints (identity API, admin
//! API) apply, with its short-lived cache.

use std::sync::Arc;

use super::*;
use crate::oauth::introspection::{self, TokenCallerRequest};
use crate::oauth::ports::{EncryptedTokens, RevocationList};
use crate::oauth::revocation::{self, Revocation};

/// What encrypted access tokens carry, as state records on the store.
#[async_trait::async_trait]
impl EncryptedTokens for Service {
    async fn remember(
        &self,
        encrypted: &str,
        claims: &serde_json::Map<String, serde_json::Value>,
        expires_at: u64,
    ) -> Result<(), OAuthError> {
        let value = serde_json::to_vec(claims)
            .map_err(|e| OAuthError::server_error(format!("encrypted token claims: {e}")))?;
        // Durable: a resource server introspects the token for as long as it lives.
        self.store
            .put_state(
                ENCRYPTED_TOKEN,
                &store_key(encrypted.as_bytes()),
                &value,
                expires_at,
                Durability::Durable,
            )
            .await
            .map_err(|e| store_unavailable("remembering an encrypted token", e))
    }

    async fn claims(
        &self,
        encrypted: &str,
        now: u64,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, OAuthError> {
        let record = self
            .store
            .state(ENCRYPTED_TOKEN, &store_key(encrypted.as_bytes()), now)
            .await
            .map_err(|e| store_unavailable("reading an encrypted token", e))?;
        Ok(record.and_then(|r| serde_json::from_slice(&r.value).ok()))
    }
}

/// The store kind of what an encrypted access token carries.
const ENCRYPTED_TOKEN: &str = "encrypted-token";

/// Revocation records on the store (durable), with the store latency metric; a
/// revocation also empties this node's cache of verified tokens.
#[async_trait::async_trait]
impl RevocationList for Service {
    async fn is_revoked(&self, jti: &str, now: u64) -> Result<bool, OAuthError> {
        let started = crate::clock::monotonic();
        let result = self
            .store
            .is_recorded(REVOKED_NAMESPACE, &revocation_key(jti), now)
            .await;
        self.metrics.store_latency(started.elapsed());
        result.map_err(|e| OAuthError::TemporarilyUnavailable {
            reason: format!("revocation check: {e}").into(),
        })
    }

    async fn revoke(&self, jti: &str, exp: u64, now: u64) -> Result<(), OAuthError> {
        // Durable: a revoked token must not come back after any crash.
        self.record(
            REVOKED_NAMESPACE,
            &revocation_key(jti),
            exp,
            now,
            Durability::Durable,
        )
        .await?;
        self.forget_verified_tokens();
        Ok(())
    }
}

impl Service {
    /// `POST /introspect`: [`introspection::introspect`] with this service's adapters.
    pub async fn introspect(
        &self,
        authorization: Option<Authorization<'_>>,
        body: &[u8],
        certificate: Option<&PresentedCertificate>,
    ) -> Result<serde_json::Value, OAuthError> {
        let request = TokenCallerRequest {
            authorization,
            body,
            certificate,
        };
        let (registry, keys) = (self.registry.load(), self.keys.load());
        let ctx = self.context(&registry, &keys, clock::now_unix());
        introspection::introspect(request, &ctx).await
    }

    /// `POST /revoke`: [`revocation::revoke`] with this service's adapters.
    pub async fn revoke(
        &self,
        authorization: Option<Authorization<'_>>,
        body: &[u8],
        certificate: Option<&PresentedCertificate>,
    ) -> Result<(), OAuthError> {
        let request = TokenCallerRequest {
            authorization,
            body,
            certificate,
        };
        let (registry, keys) = (self.registry.load(), self.keys.load());
        let ctx = self.context(&registry, &keys, clock::now_unix());
        match revocation::revoke(request, &ctx).await? {
            Revocation::Revoked { client_id, jti } => {
                log::info!(client_id = client_id.as_str(), jti = jti.as_str(); "token revoked");
            }
            Revocation::RefreshFamily { client_id, family } => {
                log::info!(client_id = client_id.as_str(), family = family.as_str(); "refresh token family revoked");
            }
            Revocation::NoEffect => {}
        }
        Ok(())
    }

    /// Verifies one of our access tokens for a resource endpoint: signature, issuer and
    /// expiry (remembered per token, so a token used again costs a hash lookup) and
    /// revocation (asked of the store again after [`REVOCATION_RECHECK`]).
    pub async fn verify_access_token(
        &self,
        token: &str,
        now: u64,
    ) -> Result<Arc<serde_json::Map<String, serde_json::Value>>, TokenRefusal> {
        let digest: [u8; 32] =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
                .as_ref()
                .try_into()
                .map_err(|_| TokenRefusal::Invalid("digest".into()))?;
        let cached = self.verified.lock().ok().and_then(|v| {
            v.get(&digest).map(|e| {
                (
                    Arc::clone(&e.claims),
                    e.revocation_checked.elapsed() < REVOCATION_RECHECK,
                )
            })
        });
        let claims = match cached {
            Some((claims, _))
                if claims
                    .get("exp")
                    .and_then(serde_json::Value::as_u64)
                    .is_none_or(|e| e <= now) =>
            {
                return Err(TokenRefusal::Invalid("expired".into()));
            }
            Some((claims, true)) => return Ok(claims),
            Some((claims, false)) => claims,
            // An encrypted token: what ahdapa remembers encrypting (it cannot open it).
            None if crate::token::jwe::is_compact_jwe(token) => Arc::new(
                self.claims(token, now)
                    .await
                    .map_err(|e| TokenRefusal::Unavailable(e.log_reason().to_owned()))?
                    .ok_or_else(|| {
                        TokenRefusal::Invalid("not an encrypted token this server issued".into())
                    })?,
            ),
            None => Arc::new(
                // HS256 access tokens are refused here: their client holds the key, and
                // could sign one naming anybody.
                access_token::verify(token, &self.keys.load(), self.issuer(), now, None)
                    .map_err(|e| TokenRefusal::Invalid(e.to_string()))?,
            ),
        };
        if introspection::is_revoked(&claims, self, now)
            .await
            .map_err(|e| TokenRefusal::Unavailable(e.log_reason().to_owned()))?
        {
            if let Ok(mut v) = self.verified.lock() {
                v.remove(&digest);
            }
            return Err(TokenRefusal::Invalid("revoked".into()));
        }
        if let Ok(mut v) = self.verified.lock() {
            if v.len() >= VERIFIED_CAPACITY {
                v.retain(|_, e| {
                    e.claims
                        .get("exp")
                        .and_then(serde_json::Value::as_u64)
                        .is_some_and(|exp| exp > now)
                });
                if v.len() >= VERIFIED_CAPACITY {
                    v.clear();
                }
            }
            v.insert(
                digest,
                VerifiedToken {
                    claims: Arc::clone(&claims),
                    revocation_checked: crate::clock::monotonic(),
                },
            );
        }
        Ok(claims)
    }

    /// Empties this node's cache of verified tokens (after a revocation or a key change).
    pub(crate) fn forget_verified_tokens(&self) {
        if let Ok(mut v) = self.verified.lock() {
            v.clear();
        }
    }
}
