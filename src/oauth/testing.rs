//! In-memory fakes of the core's ports, for tier-(a) tests of the one token flow without
//! a KDC, a directory or a store: the Negotiate, replay and directory-gating rules are
//! tested here as well as against real ones in the integration binary.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::OAuthError;
use super::client_auth::jwt_assertion::AssertionKey;
use super::directory_policy::PrincipalEntry;
use super::ports::{
    AcceptedTicket, ClientKeySource, DirectoryLookup, NegotiateAcceptor, ReplayCache,
    RevocationList,
};

/// Runs a future of the core to completion. The fakes never wait, so one poll finishes
/// it; a future that is still pending is a bug in the test.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => panic!("a fake port left the core waiting"),
    }
}

/// Replay records in memory; `down` makes every call an outage.
#[derive(Default)]
pub struct MemoryReplay {
    seen: Mutex<HashSet<(String, Vec<u8>)>>,
    down: bool,
}

impl MemoryReplay {
    /// A replay cache whose store is down: every call is `temporarily_unavailable`.
    pub fn down() -> Self {
        Self {
            down: true,
            ..Self::default()
        }
    }
}

#[async_trait]
impl ReplayCache for MemoryReplay {
    async fn first_use(
        &self,
        namespace: &'static str,
        key: &[u8],
        _until: u64,
        _now: u64,
    ) -> Result<bool, OAuthError> {
        if self.down {
            return Err(OAuthError::TemporarilyUnavailable {
                reason: "the fake store is down".into(),
            });
        }
        let mut seen = self
            .seen
            .lock()
            .map_err(|_| OAuthError::server_error("poisoned"))?;
        Ok(seen.insert((namespace.to_owned(), key.to_vec())))
    }
}

/// A Kerberos acceptor that knows some tokens: each stands for a principal.
#[derive(Default)]
pub struct FakeAcceptor {
    /// Token bytes to the principal they prove.
    pub tickets: HashMap<Vec<u8>, String>,
}

#[async_trait]
impl NegotiateAcceptor for FakeAcceptor {
    async fn accept(&self, token: &[u8]) -> Result<AcceptedTicket, OAuthError> {
        let principal = self
            .tickets
            .get(token)
            .ok_or_else(|| OAuthError::invalid_client("the fake KDC never issued this token"))?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token);
        let mut replay_key = [0u8; 32];
        replay_key.copy_from_slice(digest.as_ref());
        Ok(AcceptedTicket {
            principal: principal.clone(),
            mutual_token: Some(b"ap-rep".to_vec()),
            replay_key,
            replay_window_secs: 600,
        })
    }
}

/// The same keys for every `jwks_uri`, counting fetches.
#[derive(Default)]
pub struct StaticKeys {
    /// What every fetch returns.
    pub keys: Arc<Vec<AssertionKey>>,
    /// How many fetches were asked for (refreshes included).
    pub fetches: AtomicUsize,
}

#[async_trait]
impl ClientKeySource for StaticKeys {
    async fn keys(
        &self,
        _uri: &str,
        _trusted: bool,
        _refresh: bool,
        _now: u64,
    ) -> Result<Arc<Vec<AssertionKey>>, OAuthError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        Ok(Arc::clone(&self.keys))
    }
}

#[async_trait]
impl crate::oauth::ports::IssuerKeySource for StaticKeys {
    async fn issuer_keys(
        &self,
        _issuer: &str,
        _refresh: bool,
        _now: u64,
    ) -> Result<Arc<Vec<AssertionKey>>, OAuthError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        Ok(Arc::clone(&self.keys))
    }
}

/// A directory of principals; `down` makes every lookup an outage.
#[derive(Default)]
pub struct FakeDirectory {
    /// Principal to entry.
    pub entries: HashMap<String, PrincipalEntry>,
    /// Answer every lookup with `temporarily_unavailable`.
    pub down: bool,
}

#[async_trait]
impl DirectoryLookup for FakeDirectory {
    async fn principal(&self, principal: &str) -> Result<Option<Arc<PrincipalEntry>>, OAuthError> {
        if self.down {
            return Err(OAuthError::TemporarilyUnavailable {
                reason: "the fake directory is down".into(),
            });
        }
        Ok(self.entries.get(principal).cloned().map(Arc::new))
    }
}

/// Revoked `jti`s in memory; `down` makes every call an outage.
#[derive(Default)]
pub struct MemoryRevocations {
    /// The revoked `jti`s.
    pub revoked: Mutex<HashSet<String>>,
    /// Answer every call with `temporarily_unavailable`.
    pub down: bool,
}

#[async_trait]
impl RevocationList for MemoryRevocations {
    async fn is_revoked(&self, jti: &str, _now: u64) -> Result<bool, OAuthError> {
        if self.down {
            return Err(OAuthError::TemporarilyUnavailable {
                reason: "the fake store is down".into(),
            });
        }
        let revoked = self
            .revoked
            .lock()
            .map_err(|_| OAuthError::server_error("poisoned"))?;
        Ok(revoked.contains(jti))
    }

    async fn revoke(&self, jti: &str, _exp: u64, _now: u64) -> Result<(), OAuthError> {
        if self.down {
            return Err(OAuthError::TemporarilyUnavailable {
                reason: "the fake store is down".into(),
            });
        }
        self.revoked
            .lock()
            .map_err(|_| OAuthError::server_error("poisoned"))?
            .insert(jti.to_owned());
        Ok(())
    }
}

/// Device codes in memory (the device code is its own key).
#[derive(Default)]
pub struct MemoryDevices {
    /// Device code → (grant, redemptions).
    pub grants: Mutex<HashMap<String, (super::grant::device_code::DeviceGrant, u64)>>,
    /// Device code → last poll.
    pub paces: Mutex<HashMap<String, super::grant::device_code::Pace>>,
    next: AtomicUsize,
}

impl MemoryDevices {
    /// Sets the person's decision on `device_code`.
    pub fn decide(&self, device_code: &str, status: super::grant::device_code::DeviceStatus) {
        if let Some((g, _)) = self.grants.lock().unwrap().get_mut(device_code) {
            g.status = status;
        }
    }
}

#[async_trait]
impl super::ports::DeviceCodes for MemoryDevices {
    async fn start(
        &self,
        mut grant: super::grant::device_code::DeviceGrant,
        _now: u64,
    ) -> Result<(String, String), OAuthError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let code = format!("device-{n}");
        grant.user_code = super::grant::device_code::user_code_from(&[n as u8; 8])
            .unwrap_or_else(|| "BCDFGHJK".into());
        let user_code = grant.user_code.clone();
        self.grants.lock().unwrap().insert(code.clone(), (grant, 0));
        Ok((code, user_code))
    }

    async fn peek(
        &self,
        device_code: &str,
        _now: u64,
    ) -> Result<Option<super::grant::device_code::DeviceGrant>, OAuthError> {
        Ok(self
            .grants
            .lock()
            .unwrap()
            .get(device_code)
            .map(|(g, _)| g.clone()))
    }

    async fn pace(
        &self,
        device_code: &str,
        _now: u64,
    ) -> Result<Option<super::grant::device_code::Pace>, OAuthError> {
        Ok(self.paces.lock().unwrap().get(device_code).copied())
    }

    async fn record_pace(
        &self,
        device_code: &str,
        pace: super::grant::device_code::Pace,
        _until: u64,
    ) -> Result<(), OAuthError> {
        self.paces
            .lock()
            .unwrap()
            .insert(device_code.to_owned(), pace);
        Ok(())
    }

    async fn redeem(&self, device_code: &str, _now: u64) -> Result<bool, OAuthError> {
        Ok(match self.grants.lock().unwrap().get_mut(device_code) {
            Some((_, uses)) => {
                *uses += 1;
                *uses == 1
            }
            None => false,
        })
    }
}

/// A refresh token in memory: its grant, its uses, its first use.
pub type StoredRefresh = (super::grant::refresh_token::RefreshGrant, u64, Option<u64>);

/// Refresh tokens in memory, and ended families.
#[derive(Default)]
pub struct MemoryRefresh {
    /// The tokens.
    pub tokens: Mutex<HashMap<String, StoredRefresh>>,
    /// Revoked families and ended sessions.
    pub ended: Mutex<HashSet<String>>,
    next: AtomicUsize,
}

#[async_trait]
impl super::ports::RefreshTokens for MemoryRefresh {
    async fn issue(
        &self,
        grant: &super::grant::refresh_token::RefreshGrant,
        parent: Option<(&str, bool)>,
        _expires_at: u64,
        _now: u64,
    ) -> Result<String, OAuthError> {
        let token = match parent {
            Some((p, _)) => format!("{p}'"),
            None => format!("rt-{}", self.next.fetch_add(1, Ordering::Relaxed)),
        };
        if self.tokens.lock().unwrap().contains_key(&token) {
            return Ok(token);
        }
        self.tokens
            .lock()
            .unwrap()
            .insert(token.clone(), (grant.clone(), 0, None));
        Ok(token)
    }

    async fn use_token(
        &self,
        token: &str,
        now: u64,
    ) -> Result<Option<super::ports::UsedRefreshToken>, OAuthError> {
        let mut tokens = self.tokens.lock().unwrap();
        let Some((grant, uses, first)) = tokens.get_mut(token) else {
            return Ok(None);
        };
        let used = super::ports::UsedRefreshToken {
            grant: grant.clone(),
            uses: *uses,
            first_used_at: *first,
        };
        *uses += 1;
        first.get_or_insert(now);
        Ok(Some(used))
    }

    async fn is_ended(
        &self,
        grant: &super::grant::refresh_token::RefreshGrant,
        _now: u64,
    ) -> Result<bool, OAuthError> {
        let ended = self.ended.lock().unwrap();
        Ok(ended.contains(&format!("f:{}", grant.family))
            || ended.contains(&format!("s:{}", grant.sid)))
    }

    async fn revoke_family(&self, family: &str, _until: u64, _now: u64) -> Result<(), OAuthError> {
        self.ended.lock().unwrap().insert(format!("f:{family}"));
        Ok(())
    }

    async fn peek(
        &self,
        token: &str,
        _now: u64,
    ) -> Result<Option<super::grant::refresh_token::RefreshGrant>, OAuthError> {
        Ok(self
            .tokens
            .lock()
            .unwrap()
            .get(token)
            .map(|(g, _, _)| g.clone()))
    }
}
