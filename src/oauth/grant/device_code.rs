//! The device authorization grant (RFC 8628): a host that cannot show a browser — SSSD's
//! `oidc_child` logging a person in on a Linux host — asks `/device_authorization` for
//! a device code and a short user code, shows the person the code and a URL, and polls
//! `/token` with `grant_type=urn:ietf:params:oauth:grant-type:device_code` while the
//! person signs in and approves in a browser.
//!
//! What the poll answers (§3.5): `authorization_pending` until the person decides;
//! `slow_down` when the device polls sooner than its interval after the last poll (the
//! interval then grows by 5 s for every later poll, §3.5); `access_denied` when the
//! person said no; `expired_token` once the code's lifetime is over; and, once approved,
//! the tokens, exactly once on any node. Device state lives in the shared store: the
//! device request, the approval and the polls may reach three different nodes.

use serde::{Deserialize, Serialize};

use crate::oauth::OAuthError;
use crate::oauth::client::Client;
use crate::oauth::form::Form;

/// `grant_type` of the device poll.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// How much a `slow_down` adds to the interval (RFC 8628 §3.5).
pub const SLOW_DOWN_SECS: u64 = 5;

/// The user code alphabet: RFC 8628 §6.1's twenty consonants (no vowels, so no words;
/// none that read alike), typed in either case.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// Letters in a user code (shown as `XXXX-XXXX`): 20^8 ≈ 2^34.6 codes.
pub const USER_CODE_LETTERS: usize = 8;

/// What a device code stands for, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceGrant {
    /// The client that asked.
    pub client_id: String,
    /// The scopes it will receive, space-separated (already narrowed to its own).
    pub scope: String,
    /// The user code, normalized (`BCDFGHJK`).
    pub user_code: String,
    /// The Kerberos principal of the host that asked, when it authenticated with its
    /// keytab: the consent page names the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The polling interval given to the device, in seconds.
    pub interval: u64,
    /// When the code stops working.
    pub expires_at: u64,
    /// What the person decided.
    pub status: DeviceStatus,
}

/// The person's decision on a device code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DeviceStatus {
    /// Nobody has decided yet.
    Pending,
    /// The person allowed it.
    Approved(Approval),
    /// The person said no.
    Denied,
}

/// Who approved a device code, and how they had signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// The person (their Kerberos principal).
    pub subject: String,
    /// When they authenticated.
    pub auth_time: u64,
    /// How (RFC 8176).
    pub amr: Vec<String>,
    /// Their browser session.
    pub sid: String,
    /// Claims by scope, read from the directory at approval.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// When the device last polled, and the interval it must keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pace {
    /// The last poll, seconds since the epoch.
    pub last: u64,
    /// The interval now in force.
    pub interval: u64,
}

/// The grant's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `device_code`.
    pub device_code: String,
}

/// Reads the parameters (the caller has read `grant_type` and the credential).
pub fn parse(form: &Form) -> Result<Request, OAuthError> {
    let code = form
        .get("device_code")
        .ok_or_else(|| OAuthError::invalid_request("device_code is required"))?;
    Ok(Request {
        device_code: code.to_owned(),
    })
}

/// What a poll of a pending code answers: `None` when the device kept its interval
/// (the new pace is `next`), or `slow_down` with the grown interval.
pub fn pace(previous: Option<Pace>, interval: u64, now: u64) -> (Pace, bool) {
    match previous {
        None => (
            Pace {
                last: now,
                interval,
            },
            false,
        ),
        // A second of leeway (none for a 1 s interval): the polls may reach nodes whose
        // clocks differ a little.
        Some(p)
            if now.saturating_add(p.interval.saturating_sub(1).min(1))
                < p.last.saturating_add(p.interval) =>
        {
            (
                Pace {
                    last: now,
                    interval: p.interval.saturating_add(SLOW_DOWN_SECS),
                },
                true,
            )
        }
        Some(p) => (
            Pace {
                last: now,
                interval: p.interval,
            },
            false,
        ),
    }
}

/// Checks a poll of `grant` by `client` that is not yet approved, or the approval it
/// carries: the code must be this client's and not expired.
pub fn check(client: &Client, grant: &DeviceGrant, now: u64) -> Result<(), OAuthError> {
    super::check_registered(client, super::GrantType::DeviceCode)?;
    if grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the device code was issued to another client",
        ));
    }
    if now >= grant.expires_at {
        return Err(OAuthError::ExpiredToken);
    }
    Ok(())
}

/// A user code as typed: with or without the dash, spaces, any case. `None` when it
/// cannot be one of ours (wrong length or letters), so no lookup is spent on it.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LETTERS && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)))
        .then_some(code)
}

/// A normalized user code as people see it: `BCDF-GHJK`.
pub fn display_user_code(code: &str) -> String {
    match (code.get(..4), code.get(4..)) {
        (Some(a), Some(b)) if !b.is_empty() => format!("{a}-{b}"),
        _ => code.to_owned(),
    }
}

/// A user code from random bytes (one letter from each byte, without modulo bias:
/// 256 = 12 × 20 + 16, so bytes ≥ 240 are skipped). `None` when `random` ran out.
pub fn user_code_from(random: &[u8]) -> Option<String> {
    let code: String = random
        .iter()
        .filter(|b| **b < 240)
        .take(USER_CODE_LETTERS)
        .filter_map(|b| USER_CODE_ALPHABET.get(usize::from(*b % 20)))
        .map(|b| *b as char)
        .collect();
    (code.len() == USER_CODE_LETTERS).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_typed_any_way() {
        assert_eq!(
            normalize_user_code("bcdf-ghjk").as_deref(),
            Some("BCDFGHJK")
        );
        assert_eq!(normalize_user_code("BCDFGHJK").as_deref(), Some("BCDFGHJK"));
        assert_eq!(
            normalize_user_code(" bcdf ghjk ").as_deref(),
            Some("BCDFGHJK")
        );
        assert_eq!(normalize_user_code("BCDF-GHJ"), None, "too short");
        assert_eq!(normalize_user_code("BCDF-GHJA"), None, "a vowel");
        assert_eq!(normalize_user_code("BCDF-GHJ1"), None, "a digit");
        assert_eq!(normalize_user_code("ÄBCD-GHJK"), None);
        assert_eq!(display_user_code("BCDFGHJK"), "BCDF-GHJK");
    }

    #[test]
    fn user_codes_use_the_alphabet_without_bias() {
        let random: Vec<u8> = (0..=255).collect();
        let code = user_code_from(&random).unwrap();
        assert_eq!(code.len(), USER_CODE_LETTERS);
        assert!(normalize_user_code(&code).is_some());
        // Bytes at or above 240 are skipped, not folded onto the first letters.
        assert_eq!(
            user_code_from(&[240, 250, 255, 0, 1, 2, 3, 4, 5, 6, 7]).unwrap(),
            "BCDFGHJK"
        );
        assert_eq!(user_code_from(&[255; 16]), None);
    }

    #[test]
    fn polling_faster_than_the_interval_slows_the_device_down() {
        let at = |last, interval| Pace { last, interval };
        let (p, slow) = pace(None, 5, 100);
        assert_eq!((p, slow), (at(100, 5), false));
        let (p, slow) = pace(Some(p), 5, 105);
        assert_eq!((p, slow), (at(105, 5), false));
        // A second early is within the leeway (nodes' clocks differ a little).
        let (p, slow) = pace(Some(p), 5, 109);
        assert_eq!((p, slow), (at(109, 5), false));
        // Two early: slow_down, and the interval grows by 5 s from now on.
        let (p, slow) = pace(Some(p), 5, 111);
        assert_eq!((p, slow), (at(111, 10), true));
        let (p, slow) = pace(Some(p), 5, 116);
        assert_eq!((p.interval, slow), (15, true), "10 s had not passed");
        let (p, slow) = pace(Some(p), 5, 131);
        assert_eq!((p.interval, slow), (15, false));
    }
}
