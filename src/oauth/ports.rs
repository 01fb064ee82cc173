//! The ports: what the protocol core needs from the outside world, as traits. The core
//! calls them; the adapters implement them (`service` for the replay cache on the
//! store, `authn::gssapi` for Negotiate, `authn::jwks_fetch` for client JWKS,
//! `directory` for principals); `oauth::testing` has in-memory fakes for tier-(a) tests.
//!
//! A port's error is already an [`OAuthError`]: an outage is `temporarily_unavailable`
//! (never `invalid_client`), a refusal is the refusal. Ports do no protocol policy: the
//! single-use rules, which checks run and in which order, stay in the core.

use std::sync::Arc;

use async_trait::async_trait;

use super::OAuthError;
use super::client_auth::jwt_assertion::AssertionKey;
use super::directory_policy::PrincipalEntry;

/// Single-use records, shared by every node that shares the store (assertion and DPoP
/// proof `jti`s, AP-REQ digests).
#[async_trait]
pub trait ReplayCache: Send + Sync {
    /// Records `key` in `namespace` until `until`: `true` the first time, `false` when it
    /// was recorded before, here or on another node.
    async fn first_use(
        &self,
        namespace: &'static str,
        key: &[u8],
        until: u64,
        now: u64,
    ) -> Result<bool, OAuthError>;
}

/// A Negotiate token the acceptor proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedTicket {
    /// The initiator's principal, e.g. `host/node1.example.com@EXAMPLE.COM`.
    pub principal: String,
    /// The AP-REP for mutual authentication.
    pub mutual_token: Option<Vec<u8>>,
    /// What identifies this AP-REQ for the replay record (a digest of its authenticator).
    pub replay_key: [u8; 32],
    /// How long the record must be kept (the authenticator's validity).
    pub replay_window_secs: u64,
}

/// The Kerberos acceptor (`kerberos_client_auth`): one AP-REQ, no second round.
#[async_trait]
pub trait NegotiateAcceptor: Send + Sync {
    /// Proves `token` (refusing NTLM, garbage, wrong service, expired tickets as
    /// `invalid_client`). The replay check is the core's, with
    /// [`AcceptedTicket::replay_key`].
    async fn accept(&self, token: &[u8]) -> Result<AcceptedTicket, OAuthError>;
}

/// The public keys of private_key_jwt clients registered with `jwks_uri`.
#[async_trait]
pub trait ClientKeySource: Send + Sync {
    /// The keys at `uri` (cached by the adapter); `refresh` asks for a refetch because an
    /// assertion named an unknown key. `trusted`: the admin allowed any address.
    async fn keys(
        &self,
        uri: &str,
        trusted: bool,
        refresh: bool,
        now: u64,
    ) -> Result<Arc<Vec<AssertionKey>>, OAuthError>;
}

/// The published keys of trusted issuers whose keys are fetched (`jwks_uri`, OIDC
/// discovery); inline and certificate keys never come through here.
#[async_trait]
pub trait IssuerKeySource: Send + Sync {
    /// The keys of `issuer` (cached by the adapter, honouring `Cache-Control`);
    /// `refresh` asks for a refetch because a token named an unknown key (rate-limited
    /// by the adapter).
    async fn issuer_keys(
        &self,
        issuer: &str,
        refresh: bool,
        now: u64,
    ) -> Result<Arc<Vec<AssertionKey>>, OAuthError>;
}

/// Service accounts (their app passwords' hashes), shared by every node.
#[async_trait]
pub trait ServiceAccounts: Send + Sync {
    /// The service account `name` of `client_id`, if it exists.
    async fn service_account(
        &self,
        client_id: &str,
        name: &str,
        now: u64,
    ) -> Result<Option<super::service_account::ServiceAccount>, OAuthError>;
}

/// The directory entry of a principal (host groups, locks, claims).
#[async_trait]
pub trait DirectoryLookup: Send + Sync {
    /// The entry, `None` when the directory has none.
    async fn principal(&self, principal: &str) -> Result<Option<Arc<PrincipalEntry>>, OAuthError>;
}

/// Revoked access tokens (RFC 7009), by `jti`, shared by every node that shares the store.
#[async_trait]
pub trait RevocationList: Send + Sync {
    /// True when the token with this `jti` was revoked.
    async fn is_revoked(&self, jti: &str, now: u64) -> Result<bool, OAuthError>;
    /// Revokes `jti` until `exp` (durably: a revoked token never comes back after a
    /// crash). Revoking twice is not an error.
    async fn revoke(&self, jti: &str, exp: u64, now: u64) -> Result<(), OAuthError>;
}

/// The claims of the encrypted (JWE) access tokens ahdapa issued, by a digest of the
/// token, shared by every node that shares the store: ahdapa cannot decrypt what it
/// encrypted to a client's key, so it remembers what it encrypted, for `/introspect`,
/// `/revoke` and `/userinfo`. Only the claims are kept, never a token that would work.
#[async_trait]
pub trait EncryptedTokens: Send + Sync {
    /// Remembers that `encrypted` carries `claims`, until `expires_at`.
    async fn remember(
        &self,
        encrypted: &str,
        claims: &serde_json::Map<String, serde_json::Value>,
        expires_at: u64,
    ) -> Result<(), OAuthError>;
    /// The claims of `encrypted`, when ahdapa issued it and it has not expired.
    async fn claims(
        &self,
        encrypted: &str,
        now: u64,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, OAuthError>;
}

/// A redeemed authorization code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedeemedCode {
    /// What the code stands for.
    pub grant: super::grant::authorization_code::CodeGrant,
    /// True for exactly one redemption on any node; a later one is a replay.
    pub first_use: bool,
    /// For a replay: the tokens the first use produced (`jti`, `exp`), to revoke.
    pub issued: Vec<(String, u64)>,
}

/// Authorization codes, single-use across every node that shares the store.
#[async_trait]
pub trait AuthorizationCodes: Send + Sync {
    /// What `code` stands for, without using it (for the checks that must not spend a
    /// code someone else presented); `None` when unknown or expired. A used code is
    /// returned too: `redeem` then refuses it and revokes what its first use produced.
    async fn peek(
        &self,
        code: &str,
        now: u64,
    ) -> Result<Option<super::grant::authorization_code::CodeGrant>, OAuthError>;
    /// Redeems `code` in one step: counts the use and, on the first use, records the
    /// token it is about to produce (`jti`, `exp`), so a later use learns which token
    /// to revoke however the two race. `None` when the code is unknown or expired.
    async fn redeem(
        &self,
        code: &str,
        token: &(String, u64),
        now: u64,
    ) -> Result<Option<RedeemedCode>, OAuthError>;
}

/// Device codes (RFC 8628), shared by every node that shares the store.
#[async_trait]
pub trait DeviceCodes: Send + Sync {
    /// Stores a new device grant under a fresh device code and a fresh user code (not
    /// one that is live: the adapter draws again) and returns both, the user code
    /// normalized.
    async fn start(
        &self,
        grant: super::grant::device_code::DeviceGrant,
        now: u64,
    ) -> Result<(String, String), OAuthError>;
    /// What `device_code` stands for; `None` when unknown or long expired.
    async fn peek(
        &self,
        device_code: &str,
        now: u64,
    ) -> Result<Option<super::grant::device_code::DeviceGrant>, OAuthError>;
    /// The device's last poll and interval, if it polled before.
    async fn pace(
        &self,
        device_code: &str,
        now: u64,
    ) -> Result<Option<super::grant::device_code::Pace>, OAuthError>;
    /// Records a poll (until the code expires).
    async fn record_pace(
        &self,
        device_code: &str,
        pace: super::grant::device_code::Pace,
        until: u64,
    ) -> Result<(), OAuthError>;
    /// Redeems an approved code: true for exactly one caller on any node.
    async fn redeem(&self, device_code: &str, now: u64) -> Result<bool, OAuthError>;
}

/// A refresh token presented for use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedRefreshToken {
    /// What the token stands for.
    pub grant: super::grant::refresh_token::RefreshGrant,
    /// How many times it was used before (0: this is the first use).
    pub uses: u64,
    /// When it was first used, if it was.
    pub first_used_at: Option<u64>,
}

/// Refresh tokens, rotated, their families revocable, shared by every node.
#[async_trait]
pub trait RefreshTokens: Send + Sync {
    /// Mints a refresh token for `grant`, valid until `expires_at`. With `parent` (the
    /// token this one replaces) the new token is derived from it under a server key:
    /// a retry of the parent within the grace window gets the same successor back (not
    /// a second live one); on that retry (`parent.1`) a successor already stored is left
    /// as it is.
    async fn issue(
        &self,
        grant: &super::grant::refresh_token::RefreshGrant,
        parent: Option<(&str, bool)>,
        expires_at: u64,
        now: u64,
    ) -> Result<String, OAuthError>;
    /// Counts one use of `token` (atomically, across nodes) and returns its record;
    /// `None` when unknown or expired.
    async fn use_token(
        &self,
        token: &str,
        now: u64,
    ) -> Result<Option<UsedRefreshToken>, OAuthError>;
    /// True when `grant`'s family was revoked or its session ended.
    async fn is_ended(
        &self,
        grant: &super::grant::refresh_token::RefreshGrant,
        now: u64,
    ) -> Result<bool, OAuthError>;
    /// Revokes a family until `until` (durably).
    async fn revoke_family(&self, family: &str, until: u64, now: u64) -> Result<(), OAuthError>;
    /// What `token` stands for, without using it (`/revoke`); `None` when unknown.
    async fn peek(
        &self,
        token: &str,
        now: u64,
    ) -> Result<Option<super::grant::refresh_token::RefreshGrant>, OAuthError>;
}
