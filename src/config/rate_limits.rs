//! `[rate_limits]`: the abuse limits of `oauth::throttle`, each `{ max, window_secs }`
//! (`max = 0` turns one off), mistakes named by key path.

use super::raw::{RawRate, RawRateLimits};
use crate::oauth::throttle::{Rate, RateLimits};

/// The limits, defaults where a key is absent; `None` after reporting a mistake.
pub(super) fn rate_limits(
    raw: &RawRateLimits,
    err: &mut impl FnMut(&str, String),
) -> Option<RateLimits> {
    let d = RateLimits::default();
    let mut ok = true;
    let mut one = |name: &str, raw: Option<&RawRate>, default: Rate| -> Rate {
        let Some(raw) = raw else { return default };
        let max = raw.max.unwrap_or(u64::from(default.max));
        let window = raw.window_secs.unwrap_or(default.window_secs);
        let max = match u32::try_from(max) {
            Ok(m) if m <= 1_000_000 => m,
            _ => {
                err(
                    &format!("rate_limits.{name}.max"),
                    "must be between 0 (off) and 1000000".into(),
                );
                ok = false;
                default.max
            }
        };
        if !(1..=86_400).contains(&window) {
            err(
                &format!("rate_limits.{name}.window_secs"),
                "must be between 1 and 86400".into(),
            );
            ok = false;
        }
        Rate::new(max, window)
    };
    // Each field of `[rate_limits]`, read under its own name.
    macro_rules! read {
        ($($field:ident),*) => {
            RateLimits { $($field: one(stringify!($field), raw.$field.as_ref(), d.$field)),* }
        };
    }
    let limits = read!(
        client_auth_failures_per_address,
        client_auth_failures_per_client,
        signin_failures_per_address,
        signin_failures_per_user,
        registrations_per_address,
        device_codes_per_address
    );
    ok.then_some(limits)
}
