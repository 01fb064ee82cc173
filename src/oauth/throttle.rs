//! Rate limits on what an attacker repeats (DESIGN.md "Hardening"): failed client
//! authentications per address and per client_id, registrations and device codes per
//! address. Each limit is a keyed GCRA (the generic cell rate algorithm: a leaky bucket
//! kept as one "theoretical arrival time" per key): `max` events at once, then one
//! every `window / max`, so over any long stretch at most `max` per `window`.
//!
//! Sans-IO: the caller passes the time (milliseconds on a monotonic clock) and the key;
//! this module never reads a clock and never renders a refusal (`web::error` turns
//! [`RetryAfter`] into `429` with `Retry-After`). Counts are per process: with N nodes
//! behind a load balancer an attacker gets up to N times each limit (README).
//!
//! Memory is bounded: each limit remembers at most [`CAPACITY`] keys; when full, keys
//! whose bucket has drained are dropped, and if none has, a new key is not tracked
//! (counted in `untracked`), so a flood of fresh addresses costs bounded memory and the
//! other limits (per client, per user) still hold.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Keys remembered per limit, over all shards.
pub const CAPACITY: usize = 131_072;
const SHARDS: usize = 16;

/// `max` events per `window_secs`; `max = 0` turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Events allowed at once, and per window over time.
    pub max: u32,
    /// The window, in seconds (at least 1).
    pub window_secs: u64,
}

impl Rate {
    /// `max` per `window_secs`.
    pub const fn new(max: u32, window_secs: u64) -> Self {
        Self { max, window_secs }
    }

    /// Milliseconds one event occupies the bucket.
    fn interval_ms(self) -> u64 {
        (self.window_secs.saturating_mul(1000) / u64::from(self.max.max(1))).max(1)
    }

    fn window_ms(self) -> u64 {
        self.window_secs.saturating_mul(1000)
    }
}

/// What a limit counts by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// A client address: IPv4 as it is, IPv6 by its /64 (one host usually holds a
    /// whole /64), an IPv4-mapped IPv6 address as its IPv4 address.
    Address(IpAddr),
    /// A client_id or a user name (the caller normalizes it).
    Name(String),
}

impl Key {
    /// The key of a client address.
    pub fn address(ip: IpAddr) -> Self {
        Self::Address(match ip {
            IpAddr::V4(_) => ip,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let [a, b, c, d, ..] = v6.segments();
                    IpAddr::V6(std::net::Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
                }
            },
        })
    }
}

/// A refusal: the limit is reached; one more event fits after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

/// A wait for people to read: "20 seconds", "1 minute", "3 minutes".
pub fn in_words(secs: u64) -> String {
    match secs {
        0..=1 => "a second".into(),
        2..=59 => format!("{secs} seconds"),
        60..=119 => "a minute".into(),
        _ => format!("{} minutes", secs.div_ceil(60)),
    }
}

/// One limit, for every key.
#[derive(Debug)]
pub struct Limiter {
    rate: Rate,
    shards: Vec<Mutex<HashMap<Key, u64>>>,
    refused: AtomicU64,
    untracked: AtomicU64,
}

impl Limiter {
    /// A limit of `rate`.
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            refused: AtomicU64::new(0),
            untracked: AtomicU64::new(0),
        }
    }

    /// Refusals so far (for `/metrics`).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Keys not tracked because the table was full of live buckets.
    pub fn untracked(&self) -> u64 {
        self.untracked.load(Ordering::Relaxed)
    }

    fn shard(&self, key: &Key) -> Option<&Mutex<HashMap<Key, u64>>> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let n = usize::try_from(h.finish() % SHARDS as u64).unwrap_or(0);
        self.shards.get(n)
    }

    /// Whether one more event fits now (nothing is counted). Counted as a refusal when
    /// it does not.
    pub fn check(&self, key: &Key, now_ms: u64) -> Result<(), RetryAfter> {
        if self.rate.max == 0 {
            return Ok(());
        }
        let tat = self
            .shard(key)
            .and_then(|s| s.lock().ok().and_then(|m| m.get(key).copied()))
            .unwrap_or(0);
        self.fits(tat, now_ms)
    }

    /// Counts an event (a failure), whether or not it fits.
    pub fn record(&self, key: &Key, now_ms: u64) {
        self.update(key, now_ms, |tat, rate, now| {
            let next = tat.max(now).saturating_add(rate.interval_ms());
            // Requests that passed the check together and then all failed may push
            // past the window; never more than one window beyond it.
            Some(next.min(now.saturating_add(rate.window_ms().saturating_mul(2))))
        });
    }

    /// Counts an event if it fits; a refused one is not counted.
    pub fn take(&self, key: &Key, now_ms: u64) -> Result<(), RetryAfter> {
        if self.rate.max == 0 {
            return Ok(());
        }
        let mut verdict = Ok(());
        self.update(key, now_ms, |tat, rate, now| {
            verdict = self.fits(tat, now);
            verdict
                .is_ok()
                .then(|| tat.max(now).saturating_add(rate.interval_ms()))
        });
        verdict
    }

    /// Gives one event back (it was not a failure after all).
    pub fn give_back(&self, key: &Key, now_ms: u64) {
        self.update(key, now_ms, |tat, rate, now| {
            Some(tat.saturating_sub(rate.interval_ms()).max(now))
        });
    }

    /// Forgets `key` (a success that clears earlier failures).
    pub fn forget(&self, key: &Key) {
        if let Some(Ok(mut m)) = self.shard(key).map(Mutex::lock) {
            m.remove(key);
        }
    }

    fn fits(&self, tat: u64, now: u64) -> Result<(), RetryAfter> {
        let next = tat.max(now).saturating_add(self.rate.interval_ms());
        let over = next.saturating_sub(now);
        if over <= self.rate.window_ms() {
            return Ok(());
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        let wait_ms = over - self.rate.window_ms();
        Err(RetryAfter(wait_ms.div_ceil(1000).max(1)))
    }

    /// Applies `f(tat, rate, now)` to `key`'s bucket under its shard's lock; `None`
    /// leaves it as it was.
    fn update(&self, key: &Key, now: u64, f: impl FnOnce(u64, Rate, u64) -> Option<u64>) {
        if self.rate.max == 0 {
            return;
        }
        let Some(Ok(mut m)) = self.shard(key).map(Mutex::lock) else {
            return;
        };
        let tat = m.get(key).copied().unwrap_or(0);
        let Some(next) = f(tat, self.rate, now) else {
            return;
        };
        if let Some(v) = m.get_mut(key) {
            *v = next;
            return;
        }
        if m.len() >= CAPACITY / SHARDS {
            // Drained buckets say nothing: drop them.
            m.retain(|_, tat| *tat > now);
            if m.len() >= CAPACITY / SHARDS {
                self.untracked.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        m.insert(key.clone(), next);
    }
}

/// The limits of `[rate_limits]`, by name (the key under `[rate_limits]` and the
/// `limit` label of `ahdapa_rate_limited_total`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// Failed client authentications (`invalid_client`) at `/token`, `/introspect`,
    /// `/revoke` and `/device_authorization`, per client address.
    pub client_auth_failures_per_address: Rate,
    /// The same, per client_id claimed (exists or not).
    pub client_auth_failures_per_client: Rate,
    /// Wrong passwords on the sign-in pages, per client address (checked before the KDC).
    pub signin_failures_per_address: Rate,
    /// Wrong passwords per user name (before the KDC, so guessing cannot trip the realm's
    /// lockout of the real person).
    pub signin_failures_per_user: Rate,
    /// `POST /register` (RFC 7591), per client address.
    pub registrations_per_address: Rate,
    /// Device codes issued (RFC 8628 §3.1), per client address.
    pub device_codes_per_address: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            client_auth_failures_per_address: Rate::new(50, 60),
            client_auth_failures_per_client: Rate::new(100, 60),
            signin_failures_per_address: Rate::new(20, 300),
            signin_failures_per_user: Rate::new(5, 300),
            registrations_per_address: Rate::new(20, 3600),
            device_codes_per_address: Rate::new(60, 60),
        }
    }
}

/// The limiters of one process for the entries of [`RateLimits`] the web layer checks
/// (the sign-in limits belong to `authn::password::Passwords`).
#[derive(Debug)]
pub struct Throttles {
    /// See [`RateLimits::client_auth_failures_per_address`].
    pub client_auth_per_address: Limiter,
    /// See [`RateLimits::client_auth_failures_per_client`].
    pub client_auth_per_client: Limiter,
    /// See [`RateLimits::registrations_per_address`].
    pub registrations_per_address: Limiter,
    /// See [`RateLimits::device_codes_per_address`].
    pub device_codes_per_address: Limiter,
}

impl Throttles {
    /// Empty limiters for `limits`.
    pub fn new(limits: &RateLimits) -> Self {
        Self {
            client_auth_per_address: Limiter::new(limits.client_auth_failures_per_address),
            client_auth_per_client: Limiter::new(limits.client_auth_failures_per_client),
            registrations_per_address: Limiter::new(limits.registrations_per_address),
            device_codes_per_address: Limiter::new(limits.device_codes_per_address),
        }
    }

    /// Before authenticating a client: refused, with the name of the limit, while the
    /// address or the claimed client_id is over its failure limit.
    pub fn client_auth_allowed(
        &self,
        address: IpAddr,
        client_id: Option<&str>,
        now_ms: u64,
    ) -> Result<(), (&'static str, RetryAfter)> {
        self.client_auth_per_address
            .check(&Key::address(address), now_ms)
            .map_err(|r| ("client_auth_failures_per_address", r))?;
        match client_id {
            Some(id) => self
                .client_auth_per_client
                .check(&Key::Name(id.to_owned()), now_ms)
                .map_err(|r| ("client_auth_failures_per_client", r)),
            None => Ok(()),
        }
    }

    /// After a failed client authentication.
    pub fn client_auth_failed(&self, address: IpAddr, client_id: Option<&str>, now_ms: u64) {
        self.client_auth_per_address
            .record(&Key::address(address), now_ms);
        if let Some(id) = client_id {
            self.client_auth_per_client
                .record(&Key::Name(id.to_owned()), now_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Key {
        Key::address(s.parse().unwrap())
    }

    #[test]
    fn a_burst_of_max_then_one_per_interval() {
        let l = Limiter::new(Rate::new(5, 60));
        let k = ip("192.0.2.1");
        for _ in 0..5 {
            assert_eq!(l.check(&k, 1_000), Ok(()));
            l.record(&k, 1_000);
        }
        // Full: the next one fits after one interval (12 s).
        assert_eq!(l.check(&k, 1_000), Err(RetryAfter(12)));
        assert_eq!(l.check(&k, 12_999), Err(RetryAfter(1)));
        assert_eq!(l.check(&k, 13_000), Ok(()));
        // Another key is untouched.
        assert_eq!(l.check(&ip("192.0.2.2"), 1_000), Ok(()));
        assert_eq!(l.refused(), 2);
    }

    #[test]
    fn take_counts_only_what_fits() {
        let l = Limiter::new(Rate::new(2, 10));
        let k = Key::Name("app".into());
        assert!(l.take(&k, 0).is_ok());
        assert!(l.take(&k, 0).is_ok());
        assert_eq!(l.take(&k, 0), Err(RetryAfter(5)));
        // The refusal did not push the bucket further.
        assert!(l.take(&k, 5_000).is_ok());
        assert!(l.take(&k, 5_000).is_err());
    }

    #[test]
    fn give_back_and_forget() {
        let l = Limiter::new(Rate::new(1, 60));
        let k = Key::Name("alice".into());
        assert!(l.take(&k, 0).is_ok());
        assert!(l.check(&k, 0).is_err());
        l.give_back(&k, 0);
        assert!(l.check(&k, 0).is_ok());
        l.record(&k, 0);
        l.forget(&k);
        assert!(l.check(&k, 0).is_ok());
    }

    #[test]
    fn off_counts_nothing() {
        let l = Limiter::new(Rate::new(0, 60));
        let k = ip("::1");
        for _ in 0..1000 {
            l.record(&k, 0);
        }
        assert!(l.take(&k, 0).is_ok());
    }

    #[test]
    fn ipv6_counts_by_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(ip("2001:db8:1:2:3::1"), ip("2001:db8:1:2:ffff::9"));
        assert_ne!(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1"));
        assert_eq!(ip("::ffff:192.0.2.7"), ip("192.0.2.7"));
    }

    #[test]
    fn a_flood_of_keys_stays_bounded() {
        let l = Limiter::new(Rate::new(1, 60));
        for i in 0..(CAPACITY as u32 + 10_000) {
            l.record(&Key::address(IpAddr::from(i.to_be_bytes())), 0);
        }
        let held: usize = l.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(held <= CAPACITY, "{held}");
        assert!(l.untracked() >= 10_000);
        // Once the buckets drain, new keys are tracked again.
        l.record(&ip("198.51.100.1"), 120_000);
        assert!(l.check(&ip("198.51.100.1"), 120_000).is_err());
    }
}
