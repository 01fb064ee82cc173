//! Signing-key rotation, as pure decisions over key schedules.
//!
//! Every key is published in `/jwks` from creation until `removed_at`; it signs from
//! `activates_at` until `retires_at`. A rotation creates a key that activates after a
//! lead time (so resource servers that cache `/jwks` know it before they see tokens it
//! signed) and schedules the keys in force to retire at that moment and to leave `/jwks`
//! only after the longest-lived token they may have signed has expired.

use super::keys::SigningAlgorithm;

/// The schedule of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyTimes {
    /// Its algorithm.
    pub algorithm: SigningAlgorithm,
    /// Starts signing.
    pub activates_at: u64,
    /// Stops signing.
    pub retires_at: Option<u64>,
    /// Leaves `/jwks`.
    pub removed_at: Option<u64>,
}

impl KeyTimes {
    /// The key's state at `now`, as shown to admins: `pending` (published, not signing
    /// yet), `active`, `retired` (published, no longer signing) or `removed`.
    pub fn state_at(&self, now: u64) -> &'static str {
        if !self.published_at(now) {
            "removed"
        } else if self.pending_at(now) {
            "pending"
        } else if self.signs_at(now) {
            "active"
        } else {
            "retired"
        }
    }

    /// True when the key may sign at `now`.
    pub fn signs_at(&self, now: u64) -> bool {
        self.activates_at <= now && self.retires_at.is_none_or(|r| now < r)
    }

    /// True when the key is in `/jwks` at `now`.
    pub fn published_at(&self, now: u64) -> bool {
        self.removed_at.is_none_or(|r| now < r)
    }

    /// True when the key is scheduled but not signing yet.
    pub fn pending_at(&self, now: u64) -> bool {
        self.activates_at > now && self.published_at(now)
    }
}

/// Which key signs at `now`: the most recently activated key of `algorithm` that may
/// sign; failing that (every key retired), the most recently activated published one.
pub fn active_at(keys: &[KeyTimes], algorithm: SigningAlgorithm, now: u64) -> Option<usize> {
    let latest = |pred: &dyn Fn(&KeyTimes) -> bool| {
        keys.iter()
            .enumerate()
            .filter(|(_, k)| k.algorithm == algorithm && pred(k))
            .max_by_key(|(_, k)| k.activates_at)
            .map(|(i, _)| i)
    };
    latest(&|k| k.signs_at(now))
        .or_else(|| latest(&|k| k.activates_at <= now && k.published_at(now)))
}

/// What a rotation changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationPlan {
    /// When the new key starts signing.
    pub new_activates_at: u64,
    /// (index, retires_at, removed_at) for the keys it supersedes.
    pub retire: Vec<(usize, u64, u64)>,
}

/// Plans a rotation at `now`: the new key signs after `lead_secs` (or at once), and every
/// key that would still sign by then — not yet scheduled to retire, or scheduled later
/// (an earlier rotation that is overtaken by an immediate one) — retires then and leaves
/// `/jwks` `retention_secs` later.
pub fn plan(
    keys: &[KeyTimes],
    now: u64,
    immediate: bool,
    lead_secs: u64,
    retention_secs: u64,
) -> RotationPlan {
    let new_activates_at = if immediate {
        now
    } else {
        now.saturating_add(lead_secs)
    };
    let retire = keys
        .iter()
        .enumerate()
        .filter(|(_, k)| k.retires_at.is_none_or(|r| r > new_activates_at))
        .map(|(i, _)| {
            (
                i,
                new_activates_at,
                new_activates_at.saturating_add(retention_secs),
            )
        })
        .collect();
    RotationPlan {
        new_activates_at,
        retire,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ES: SigningAlgorithm = SigningAlgorithm::ES256;

    fn key(activates_at: u64, retires_at: Option<u64>, removed_at: Option<u64>) -> KeyTimes {
        KeyTimes {
            algorithm: ES,
            activates_at,
            retires_at,
            removed_at,
        }
    }

    #[test]
    fn new_key_is_published_before_it_signs_and_old_key_outlives_its_tokens() {
        let mut keys = vec![key(0, None, None)];
        let p = plan(&keys, 1000, false, 1200, 86_700);
        assert_eq!(p.new_activates_at, 2200);
        assert_eq!(p.retire, vec![(0, 2200, 2200 + 86_700)]);
        keys[0] = key(0, Some(2200), Some(2200 + 86_700));
        keys.push(key(2200, None, None));
        // Before the switch: the old key signs, both are published.
        assert_eq!(active_at(&keys, ES, 1500), Some(0));
        assert!(keys[1].published_at(1500) && keys[1].pending_at(1500));
        // After: the new key signs; the old one stays published until its tokens expired.
        assert_eq!(active_at(&keys, ES, 2200), Some(1));
        assert!(keys[0].published_at(2200 + 86_699));
        assert!(!keys[0].published_at(2200 + 86_700));
    }

    #[test]
    fn immediate_rotation_switches_at_once_and_overtakes_a_scheduled_one() {
        // A scheduled rotation at 500 made key 1 (activating 1700) and retires key 0 then.
        let keys = vec![key(0, Some(1700), Some(90_000)), key(1700, None, None)];
        let p = plan(&keys, 1000, true, 1200, 100);
        assert_eq!(p.new_activates_at, 1000);
        assert_eq!(p.retire, vec![(0, 1000, 1100), (1, 1000, 1100)]);
        // Keys already retired earlier keep their schedule.
        let keys = vec![key(0, Some(900), Some(2000))];
        assert!(plan(&keys, 1000, true, 1200, 100).retire.is_empty());
    }

    #[test]
    fn other_algorithms_and_retired_keys_do_not_sign() {
        let keys = vec![
            KeyTimes {
                algorithm: SigningAlgorithm::EdDSA,
                activates_at: 5,
                retires_at: None,
                removed_at: None,
            },
            key(0, Some(10), Some(20)),
        ];
        assert_eq!(active_at(&keys, ES, 5), Some(1));
        // Retired without a successor: the last published key still signs rather than none.
        assert_eq!(active_at(&keys, ES, 15), Some(1));
        assert_eq!(active_at(&keys, ES, 25), None);
    }
}
