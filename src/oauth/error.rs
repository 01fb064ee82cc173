//! The OAuth error vocabulary: RFC 6749 §5.2 codes plus one internal variant.
//!
//! Every refusal the protocol core makes is an [`OAuthError`]. The core never renders
//! HTTP; `web::error` turns these into status codes, headers and JSON bodies. The
//! `description` is safe to show to the client: it never contains a secret, and for
//! authentication failures it says *which* check failed only for a registered client's
//! assertion (otherwise that goes to the log only, through [`OAuthError::log_reason`]).

use std::borrow::Cow;

/// Which `WWW-Authenticate` challenges a 401 must carry.
///
/// RFC 6749 §5.2: when the client tried HTTP authentication, the 401 must include the
/// challenge matching the scheme it used; we always advertise every scheme we accept so
/// that `curl -u` and `curl --negotiate` retry on their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenges {
    /// `WWW-Authenticate: Basic realm="..."`
    pub basic: bool,
}

impl Challenges {
    /// The challenges every failed client authentication at `/token` sends.
    pub const TOKEN_ENDPOINT: Self = Self { basic: true };
}

/// A refusal, in the words of RFC 6749 §5.2 (and later RFC 9449 §5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// The request is missing a parameter, repeats one, or is otherwise malformed.
    #[error("invalid_request: {description}")]
    InvalidRequest {
        /// Shown to the client.
        description: Cow<'static, str>,
    },
    /// Client authentication failed (unknown client, wrong secret, wrong method...).
    #[error("invalid_client: {reason}")]
    InvalidClient {
        /// Logged: why authentication failed.
        reason: Cow<'static, str>,
        /// Shown, when saying why helps the client and no attacker: a registered
        /// client's assertion that is merely wrong (too long-lived, wrong `aud`, stale
        /// `iat`). Never for secrets or unknown clients.
        shown: Option<Cow<'static, str>>,
        /// The challenges to send with the 401.
        challenges: Challenges,
        /// The JWT named a key the key set at hand lacks (the signer may have rotated):
        /// the caller may fetch the keys again, once.
        unknown_key: bool,
    },
    /// The grant (code, refresh token, assertion) is invalid, expired or revoked.
    #[error("invalid_grant: {description}")]
    InvalidGrant {
        /// Shown to the client.
        description: Cow<'static, str>,
    },
    /// The authenticated client may not use this grant type.
    #[error("unauthorized_client: {description}")]
    UnauthorizedClient {
        /// Shown to the client.
        description: Cow<'static, str>,
    },
    /// The grant type is not supported by this server.
    #[error("unsupported_grant_type: {description}")]
    UnsupportedGrantType {
        /// Shown to the client.
        description: Cow<'static, str>,
    },
    /// The requested scope is invalid, unknown, malformed, or outside the registration.
    #[error("invalid_scope: {description}")]
    InvalidScope {
        /// Shown to the client.
        description: Cow<'static, str>,
    },
    /// RFC 8707 §2 / RFC 8693 §2.2.2: the audience or resource asked for is not one this
    /// client may have a token for.
    #[error("invalid_target: {description}")]
    InvalidTarget {
        /// Shown to the client.
        description: Cow<'static, str>,
    },
    /// RFC 9449 §5: the DPoP proof is missing where required, malformed or invalid.
    #[error("invalid_dpop_proof: {description}")]
    InvalidDpopProof {
        /// Shown to the client.
        description: Cow<'static, str>,
    },
    /// RFC 9449 §8: the proof must carry the server nonce sent in `DPoP-Nonce`.
    #[error("use_dpop_nonce")]
    UseDpopNonce {
        /// The fresh nonce for the `DPoP-Nonce` header.
        nonce: String,
    },
    /// RFC 8628 §3.5: the person has not decided yet; poll again after the interval.
    #[error("authorization_pending")]
    AuthorizationPending,
    /// RFC 8628 §3.5: still pending, and the device polls too fast: add 5 s to the
    /// interval from now on.
    #[error("slow_down")]
    SlowDown,
    /// RFC 8628 §3.5 (and RFC 6749 §4.1.2.1): the person refused.
    #[error("access_denied: {description}")]
    AccessDenied {
        /// Shown to the client.
        description: Cow<'static, str>,
    },
    /// RFC 8628 §3.5: the device code expired; the device must start again.
    #[error("expired_token")]
    ExpiredToken,
    /// A dependency (store, directory) is down; the client may retry. Never a client mistake.
    #[error("temporarily_unavailable: {reason}")]
    TemporarilyUnavailable {
        /// Logged, never shown.
        reason: Cow<'static, str>,
    },
    /// A bug or an invariant broken on our side. Rendered as 500 `server_error`.
    #[error("server_error: {reason}")]
    ServerError {
        /// Logged, never shown.
        reason: Cow<'static, str>,
    },
}

impl OAuthError {
    /// `invalid_request` with a description shown to the client.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidRequest {
            description: description.into(),
        }
    }

    /// `invalid_client` for the token endpoint; `reason` is logged, not shown.
    pub fn invalid_client(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidClient {
            reason: reason.into(),
            shown: None,
            challenges: Challenges::TOKEN_ENDPOINT,
            unknown_key: false,
        }
    }

    /// `invalid_client` whose reason is also the `error_description`: only for a known
    /// client's own mistake that reveals nothing (see [`OAuthError::InvalidClient`]).
    pub fn invalid_client_explained(reason: impl Into<Cow<'static, str>>) -> Self {
        let reason = reason.into();
        Self::InvalidClient {
            shown: Some(reason.clone()),
            reason,
            challenges: Challenges::TOKEN_ENDPOINT,
            unknown_key: false,
        }
    }

    /// [`OAuthError::invalid_client_explained`] for a JWT signed with a key the key set
    /// at hand does not have (see `unknown_key`).
    pub fn invalid_client_unknown_key(reason: impl Into<Cow<'static, str>>) -> Self {
        match Self::invalid_client_explained(reason) {
            Self::InvalidClient {
                reason,
                shown,
                challenges,
                ..
            } => Self::InvalidClient {
                reason,
                shown,
                challenges,
                unknown_key: true,
            },
            other => other,
        }
    }

    /// True for an `invalid_client` that a refetch of the signer's keys might cure.
    pub fn is_unknown_key(&self) -> bool {
        matches!(
            self,
            Self::InvalidClient {
                unknown_key: true,
                ..
            }
        )
    }

    /// `invalid_grant` with a description shown to the client.
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidGrant {
            description: description.into(),
        }
    }

    /// `invalid_scope` with a description shown to the client.
    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidScope {
            description: description.into(),
        }
    }

    /// `invalid_target` with a description shown to the client.
    pub fn invalid_target(description: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidTarget {
            description: description.into(),
        }
    }

    /// `unauthorized_client` with a description shown to the client.
    pub fn unauthorized_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::UnauthorizedClient {
            description: description.into(),
        }
    }

    /// `server_error`; `reason` is logged, not shown.
    pub fn server_error(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::ServerError {
            reason: reason.into(),
        }
    }

    /// The RFC 6749 §5.2 `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. } => "invalid_request",
            Self::InvalidClient { .. } => "invalid_client",
            Self::InvalidGrant { .. } => "invalid_grant",
            Self::UnauthorizedClient { .. } => "unauthorized_client",
            Self::UnsupportedGrantType { .. } => "unsupported_grant_type",
            Self::InvalidScope { .. } => "invalid_scope",
            Self::InvalidTarget { .. } => "invalid_target",
            Self::InvalidDpopProof { .. } => "invalid_dpop_proof",
            Self::UseDpopNonce { .. } => "use_dpop_nonce",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::AccessDenied { .. } => "access_denied",
            Self::ExpiredToken => "expired_token",
            Self::TemporarilyUnavailable { .. } => "temporarily_unavailable",
            Self::ServerError { .. } => "server_error",
        }
    }

    /// The `error_description` the client may see, if any.
    pub fn description(&self) -> Option<&str> {
        match self {
            Self::InvalidRequest { description }
            | Self::InvalidGrant { description }
            | Self::UnauthorizedClient { description }
            | Self::UnsupportedGrantType { description }
            | Self::InvalidScope { description }
            | Self::InvalidTarget { description }
            | Self::InvalidDpopProof { description } => Some(description),
            Self::UseDpopNonce { .. } => {
                Some("the DPoP proof must carry the nonce from the DPoP-Nonce header")
            }
            Self::InvalidClient { shown, .. } => {
                Some(shown.as_deref().unwrap_or("client authentication failed"))
            }
            Self::AuthorizationPending => {
                Some("the person has not approved the request yet; keep polling")
            }
            Self::SlowDown => Some("polling too fast: the interval is now 5 seconds longer"),
            Self::AccessDenied { description } => Some(description),
            Self::ExpiredToken => Some("the device code has expired; start again"),
            Self::TemporarilyUnavailable { .. } => Some("try again later"),
            Self::ServerError { .. } => None,
        }
    }

    /// Why the request was refused, for the log (may say more than the description).
    pub fn log_reason(&self) -> &str {
        match self {
            Self::InvalidClient { reason, .. }
            | Self::TemporarilyUnavailable { reason }
            | Self::ServerError { reason } => reason,
            Self::InvalidRequest { description }
            | Self::InvalidGrant { description }
            | Self::UnauthorizedClient { description }
            | Self::UnsupportedGrantType { description }
            | Self::InvalidScope { description }
            | Self::InvalidTarget { description }
            | Self::InvalidDpopProof { description }
            | Self::AccessDenied { description } => description,
            Self::UseDpopNonce { .. } => "DPoP proof without a valid server nonce",
            Self::AuthorizationPending => "authorization pending",
            Self::SlowDown => "polling too fast",
            Self::ExpiredToken => "device code expired",
        }
    }
}
