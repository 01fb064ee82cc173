//! The service's own tokens after issuance: RFC 7662 introspection, RFC 7009 revocation
//! (a revoked `jti` stays refused on every node until the token expires), and the
//! verification that ahdapa's resource endpoints (identity API, admin API) apply, with
//! its short-lived cache.

use std::sync::Arc;

use super::*;

impl Service {
    /// The authenticated caller of `/introspect` or `/revoke` and the `token` it names
    /// (RFC 7662 §2.1, RFC 7009 §2.1: both endpoints take the same form).
    async fn token_caller(
        &self,
        authorization: Option<Authorization<'_>>,
        body: &[u8],
        certificate: Option<&PresentedCertificate>,
        now: u64,
    ) -> Result<(Authenticated, String), OAuthError> {
        let (presented, form) = client_auth::parse_client_request(authorization, body)?;
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?
            .to_owned();
        let (caller, _) = self.authenticate(presented, certificate, now).await?;
        Ok((caller, token))
    }

    /// `POST /introspect` (RFC 7662): the caller authenticates as a client; a token is
    /// active when it verifies, has not expired, is not revoked, and the caller may see
    /// it (its own tokens, or any with `introspection_all_tokens`).
    pub async fn introspect(
        &self,
        authorization: Option<Authorization<'_>>,
        body: &[u8],
        certificate: Option<&PresentedCertificate>,
    ) -> Result<serde_json::Value, OAuthError> {
        let now = clock::now_unix();
        let (caller, token) = self
            .token_caller(authorization, body, certificate, now)
            .await?;
        let inactive = serde_json::json!({"active": false});
        let Ok(mut claims) = access_token::verify(&token, &self.keys.load(), self.issuer(), now)
        else {
            return Ok(inactive);
        };
        let owner = claims
            .get("client_id")
            .and_then(|c| c.as_str())
            .unwrap_or_default();
        if owner != caller.client.client_id && !caller.client.introspect_all_tokens {
            return Ok(inactive);
        }
        if self.is_revoked(&claims, now).await? {
            return Ok(inactive);
        }
        let bound = claims.get("cnf").and_then(|c| c.get("jkt")).is_some();
        claims.insert("active".into(), true.into());
        claims.insert(
            "token_type".into(),
            (if bound { "DPoP" } else { "Bearer" }).into(),
        );
        Ok(serde_json::Value::Object(claims))
    }

    /// `POST /revoke` (RFC 7009): a client revokes its own token; its `jti` stays refused
    /// until the token's `exp`, on every node. Unknown, invalid and expired tokens
    /// succeed without effect.
    pub async fn revoke(
        &self,
        authorization: Option<Authorization<'_>>,
        body: &[u8],
        certificate: Option<&PresentedCertificate>,
    ) -> Result<(), OAuthError> {
        let now = clock::now_unix();
        let (caller, token) = self
            .token_caller(authorization, body, certificate, now)
            .await?;
        let Ok(claims) = access_token::verify(&token, &self.keys.load(), self.issuer(), now) else {
            return Ok(());
        };
        if claims.get("client_id").and_then(|c| c.as_str())
            != Some(caller.client.client_id.as_str())
        {
            return Err(OAuthError::unauthorized_client(
                "the token was not issued to this client",
            ));
        }
        let (Some(jti), Some(exp)) = (
            claims.get("jti").and_then(|j| j.as_str()),
            claims.get("exp").and_then(|e| e.as_u64()),
        ) else {
            return Ok(());
        };
        // A second revocation of the same token is fine (RFC 7009 §2.2).
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
        log::info!(client_id = caller.client.client_id.as_str(), jti = jti; "token revoked");
        Ok(())
    }

    /// True when the token with these claims was revoked.
    pub async fn is_revoked(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
        now: u64,
    ) -> Result<bool, OAuthError> {
        let Some(jti) = claims.get("jti").and_then(|j| j.as_str()) else {
            return Ok(true);
        };
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
            None => Arc::new(
                access_token::verify(token, &self.keys.load(), self.issuer(), now)
                    .map_err(|e| TokenRefusal::Invalid(e.to_string()))?,
            ),
        };
        if self
            .is_revoked(&claims, now)
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

    pub(super) fn forget_verified_tokens(&self) {
        if let Ok(mut v) = self.verified.lock() {
            v.clear();
        }
    }
}
