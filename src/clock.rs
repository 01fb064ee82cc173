//! The one place that reads the clocks and the process environment. Everything else
//! takes `now` as a parameter, so protocol code is tested with a fixed time, and reads
//! its settings from the config (clippy's `disallowed-methods` keeps it so).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 if the clock is before 1970).
#[allow(clippy::disallowed_methods)]
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The monotonic clock, for durations (latency metrics, cache expiry, back-off).
#[allow(clippy::disallowed_methods)]
pub fn monotonic() -> std::time::Instant {
    std::time::Instant::now()
}

/// Milliseconds on a monotonic clock that starts near the process's start (the rate
/// limits' time: wall-clock jumps do not refill or drain them).
pub fn monotonic_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(monotonic);
    // From 1 s on, so that a bucket's "empty" time 0 is always in the past.
    u64::try_from(start.elapsed().as_millis())
        .unwrap_or(u64::MAX)
        .saturating_add(1000)
}

/// An environment variable, when set and valid UTF-8 (the few settings that come from
/// the environment rather than the config: the dev mode's state directory, the user a
/// local change is audited as).
#[allow(clippy::disallowed_methods)]
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
