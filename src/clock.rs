//! The one place that reads the wall clock. Everything else takes `now` as a parameter,
//! so protocol code is tested with a fixed time (clippy's `disallowed-methods` keeps it so).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 if the clock is before 1970).
#[allow(clippy::disallowed_methods)]
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
