//! Device codes on the store (the adapter of `ports::DeviceCodes`), and the browser side
//! of the device grant: the verification page where the person types the code, signs
//! in, and allows (or denies) the host.
//!
//! Records: `device` (key: SHA-256 of the device code) holds the grant and the
//! person's decision; `device-user` (key: SHA-256 of the normalized user code) points
//! at it while it is undecided; `device-pace` holds the last poll. All are shared by
//! every node, so the device request, the approval and the polls may reach different
//! nodes. A decision deletes the user code: a decided code cannot be entered again.
//!
//! Guessing: user codes have 20^8 ≈ 2^34.6 values and live `device.code_lifetime_secs`;
//! each address may enter [`WRONG_PER_ADDRESS`] wrong codes per [`WRONG_WINDOW`], and
//! this node takes at most [`WRONG_PER_NODE`] wrong codes per window from everybody
//! together (then every code entry waits), which bounds the chance of hitting any
//! live code to about `WRONG_PER_NODE × live codes / 2^34.6` per window and node.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use super::*;
use crate::oauth::grant::device_code::{
    self, Approval, DeviceGrant, DeviceStatus, Pace, normalize_user_code,
};
use crate::oauth::ports::DeviceCodes;

const DEVICE: &str = "device";
const DEVICE_USER: &str = "device-user";
const DEVICE_PACE: &str = "device-pace";

/// How long a device record outlives its code, so a late poll hears `expired_token`
/// rather than "unknown".
const EXPIRED_KEPT_SECS: u64 = 600;

/// Wrong user codes one address may enter per window.
pub const WRONG_PER_ADDRESS: u32 = 10;
/// Wrong user codes this node accepts per window from all addresses together.
pub const WRONG_PER_NODE: u32 = 500;
/// The throttle's window.
pub const WRONG_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

/// Wrong user codes, per address and for the node.
#[derive(Default)]
pub struct WrongCodes {
    inner: Mutex<WrongInner>,
}

#[derive(Default)]
struct WrongInner {
    by_address: HashMap<IpAddr, (u32, std::time::Instant)>,
    node: Option<(u32, std::time::Instant)>,
}

impl WrongCodes {
    /// True when `address` may try a code now.
    fn allowed(&self, address: IpAddr) -> bool {
        let Ok(w) = self.inner.lock() else {
            return false;
        };
        let now = crate::clock::monotonic();
        let live = |e: &(u32, std::time::Instant), limit: u32| {
            now.duration_since(e.1) < WRONG_WINDOW && e.0 >= limit
        };
        !(w.by_address
            .get(&address)
            .is_some_and(|e| live(e, WRONG_PER_ADDRESS))
            || w.node.as_ref().is_some_and(|e| live(e, WRONG_PER_NODE)))
    }

    /// Counts a wrong code from `address`.
    fn wrong(&self, address: IpAddr) {
        let Ok(mut w) = self.inner.lock() else {
            return;
        };
        let now = crate::clock::monotonic();
        let bump = |e: &mut (u32, std::time::Instant)| {
            if now.duration_since(e.1) >= WRONG_WINDOW {
                *e = (0, now);
            }
            e.0 = e.0.saturating_add(1);
        };
        if w.by_address.len() >= 65_536 {
            w.by_address
                .retain(|_, e| now.duration_since(e.1) < WRONG_WINDOW);
        }
        bump(w.by_address.entry(address).or_insert((0, now)));
        bump(w.node.get_or_insert((0, now)));
    }
}

/// An undecided device code the person entered.
#[derive(Debug, Clone)]
pub struct PendingDevice {
    /// The store key of the device record.
    key: Vec<u8>,
    /// The grant.
    pub grant: DeviceGrant,
}

/// What a user code entry found.
#[derive(Debug, Clone)]
pub enum Entered {
    /// A live, undecided code.
    Found(Box<PendingDevice>),
    /// Not one of ours, expired or decided.
    Wrong,
    /// Too many wrong codes: wait.
    Throttled,
}

impl Service {
    /// The undecided device code `typed` names, counting a wrong one against `address`.
    pub async fn enter_user_code(
        &self,
        typed: &str,
        address: IpAddr,
        now: u64,
    ) -> Result<Entered, OAuthError> {
        if !self.wrong_codes.allowed(address) {
            return Ok(Entered::Throttled);
        }
        let found = match normalize_user_code(typed) {
            None => None,
            Some(code) => self.pending_device(&code, now).await?,
        };
        Ok(match found {
            Some(p) => Entered::Found(Box::new(p)),
            None => {
                self.wrong_codes.wrong(address);
                log::info!(address = address.to_string().as_str(); "wrong device user code entered");
                Entered::Wrong
            }
        })
    }

    async fn pending_device(
        &self,
        user_code: &str,
        now: u64,
    ) -> Result<Option<PendingDevice>, OAuthError> {
        let unavailable = |e| store_unavailable("reading the device code", e);
        let Some(pointer) = self
            .store
            .state(DEVICE_USER, &store_key(user_code.as_bytes()), now)
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        let key = pointer.value;
        let Some(record) = self
            .store
            .state(DEVICE, &key, now)
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        let Ok(grant) = serde_json::from_slice::<DeviceGrant>(&record.value) else {
            return Ok(None);
        };
        let live = grant.status == DeviceStatus::Pending
            && now < grant.expires_at
            && grant.user_code == user_code;
        Ok(live.then_some(PendingDevice { key, grant }))
    }

    /// Writes a device record (kept a while past its code's end, for `expired_token`).
    async fn store_device(&self, key: &[u8], grant: &DeviceGrant) -> Result<(), OAuthError> {
        let value = serde_json::to_vec(grant)
            .map_err(|e| OAuthError::server_error(format!("device record: {e}")))?;
        self.store
            .put_state(
                DEVICE,
                key,
                &value,
                grant.expires_at.saturating_add(EXPIRED_KEPT_SECS),
                Durability::Durable,
            )
            .await
            .map_err(|e| store_unavailable("storing the device code", e))
    }

    /// Records the person's decision on an undecided code (approval with their
    /// session's facts, or denial) and retires its user code.
    pub async fn decide_device(
        &self,
        device: &PendingDevice,
        approval: Option<Approval>,
        now: u64,
    ) -> Result<(), OAuthError> {
        let unavailable = |e| store_unavailable("recording the decision", e);
        // Claim the decision first, atomically on every node: of two racing answers
        // (two tabs, a double submit) exactly one goes on; a decided code is never
        // rewritten (its rewrite would reset the redemption count).
        let claimed = self
            .store
            .use_state(
                DEVICE_USER,
                &store_key(device.grant.user_code.as_bytes()),
                now,
                b"decided",
                Durability::Durable,
            )
            .await
            .map_err(unavailable)?
            .is_some_and(|r| r.uses == 0);
        if !claimed {
            return Err(OAuthError::invalid_grant("the code was already decided"));
        }
        let mut grant = device.grant.clone();
        grant.status = match approval {
            Some(a) => DeviceStatus::Approved(a),
            None => DeviceStatus::Denied,
        };
        self.store_device(&device.key, &grant).await?;
        self.store
            .delete_state(DEVICE_USER, &store_key(grant.user_code.as_bytes()))
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl DeviceCodes for Service {
    async fn start(
        &self,
        mut grant: DeviceGrant,
        now: u64,
    ) -> Result<(String, String), OAuthError> {
        let unavailable = |e| store_unavailable("storing the device code", e);
        let device_code = self.random_token()?;
        let key = store_key(device_code.as_bytes());
        // A fresh user code that is not live (a collision is rare: 2^34.6 codes).
        let mut user_code = None;
        for _ in 0..8 {
            let mut random = [0u8; 16];
            self.rng
                .fill(&mut random)
                .map_err(|_| OAuthError::server_error("random source failed"))?;
            let Some(candidate) = device_code::user_code_from(&random) else {
                continue;
            };
            let taken = self
                .store
                .state(DEVICE_USER, &store_key(candidate.as_bytes()), now)
                .await
                .map_err(unavailable)?
                .is_some();
            if !taken {
                user_code = Some(candidate);
                break;
            }
        }
        let user_code =
            user_code.ok_or_else(|| OAuthError::server_error("no free user code was drawn"))?;
        grant.user_code.clone_from(&user_code);
        self.store_device(&key, &grant).await?;
        self.store
            .put_state(
                DEVICE_USER,
                &store_key(user_code.as_bytes()),
                &key,
                grant.expires_at,
                Durability::Durable,
            )
            .await
            .map_err(unavailable)?;
        Ok((device_code, user_code))
    }

    async fn peek(&self, device_code: &str, now: u64) -> Result<Option<DeviceGrant>, OAuthError> {
        let record = self
            .store
            .state(DEVICE, &store_key(device_code.as_bytes()), now)
            .await
            .map_err(|e| store_unavailable("reading the device code", e))?;
        Ok(record.and_then(|r| serde_json::from_slice(&r.value).ok()))
    }

    async fn pace(&self, device_code: &str, now: u64) -> Result<Option<Pace>, OAuthError> {
        let record = self
            .store
            .state(DEVICE_PACE, &store_key(device_code.as_bytes()), now)
            .await
            .map_err(|e| store_unavailable("reading the device poll", e))?;
        Ok(record.and_then(|r| serde_json::from_slice(&r.value).ok()))
    }

    async fn record_pace(
        &self,
        device_code: &str,
        pace: Pace,
        until: u64,
    ) -> Result<(), OAuthError> {
        let value = serde_json::to_vec(&pace)
            .map_err(|e| OAuthError::server_error(format!("device poll record: {e}")))?;
        self.store
            .put_state(
                DEVICE_PACE,
                &store_key(device_code.as_bytes()),
                &value,
                until,
                Durability::Relaxed,
            )
            .await
            .map_err(|e| store_unavailable("recording the device poll", e))
    }

    async fn redeem(&self, device_code: &str, now: u64) -> Result<bool, OAuthError> {
        let record = self
            .store
            .use_state(
                DEVICE,
                &store_key(device_code.as_bytes()),
                now,
                b"",
                Durability::Durable,
            )
            .await
            .map_err(|e| store_unavailable("redeeming the device code", e))?;
        Ok(record.is_some_and(|r| r.uses == 0))
    }
}
