//! The signing-key ring: the stored keys opened once, the key set in force at a moment
//! (the active key signs, published keys verify), and rotation and retirement with the
//! schedule that keeps every issued token verifiable.

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;

use super::StartError;
use crate::clock;
use crate::service::ROTATION_RETENTION_SECS;
use crate::store::{KeyRecord, Store};
use crate::token::keys::{KeySet, SigningAlgorithm, SigningKey};
use crate::token::rotation::{self, KeyTimes};
use crate::token::seal::MasterKey;

/// A stored key, opened and parsed once, with its schedule.
#[derive(Debug, Clone)]
pub(crate) struct LoadedKey {
    pub(crate) times: KeyTimes,
    pub(crate) key: Arc<SigningKey>,
}

/// How long `/jwks` may be cached by resource servers (its Cache-Control max-age).
pub const JWKS_MAX_AGE_SECS: u64 = 300;

/// Opens every stored key; creates the first key of each of `algorithms` (the
/// configured one first, then those clients ask for their ID tokens) when none is
/// published.
pub(crate) async fn load_keys(
    store: &dyn Store,
    master: &MasterKey,
    algorithms: &[SigningAlgorithm],
    rng: &SystemRandom,
    now: u64,
) -> Result<Vec<LoadedKey>, StartError> {
    let mut records = store.signing_keys().await?;
    for &algorithm in algorithms {
        let usable = |r: &KeyRecord| r.algorithm == algorithm && times_of(r).published_at(now);
        if !records.iter().any(usable) {
            let record = new_key_record(master, algorithm, rng, now)?;
            log::info!(kid = record.kid.as_str(), alg = algorithm.as_str(); "generated a new signing key");
            store.insert_signing_key(&record).await?;
            records.push(record);
        }
    }
    let mut out = Vec::with_capacity(records.len());
    for r in &records {
        let key_err = |message: String| StartError::SigningKey {
            kid: r.kid.clone(),
            message,
        };
        let pkcs8 = master
            .open(&r.sealed_pkcs8, r.kid.as_bytes())
            .map_err(|e| key_err(e.to_string()))?;
        let key =
            SigningKey::from_pkcs8(r.algorithm, &pkcs8).map_err(|e| key_err(e.to_string()))?;
        // An imported key may keep the kid it had elsewhere; the kid is bound to the
        // sealed key (it is the seal's context), so it cannot be swapped in the store.
        let key = Arc::new(if key.kid() == r.kid {
            key
        } else {
            key.with_kid(&r.kid)
        });
        out.push(LoadedKey {
            times: times_of(r),
            key,
        });
    }
    Ok(out)
}

pub(crate) fn times_of(r: &KeyRecord) -> KeyTimes {
    KeyTimes {
        algorithm: r.algorithm,
        activates_at: r.activates_at,
        retires_at: r.retires_at,
        removed_at: r.removed_at,
    }
}

/// The key set in force at `now`: the active key signs, published keys verify.
pub(crate) fn key_set_at(
    loaded: &[LoadedKey],
    algorithm: SigningAlgorithm,
    now: u64,
) -> Result<KeySet, StartError> {
    let times: Vec<KeyTimes> = loaded.iter().map(|k| k.times).collect();
    let active = rotation::active_at(&times, algorithm, now)
        .and_then(|i| loaded.get(i))
        .ok_or_else(|| StartError::SigningKey {
            kid: String::new(),
            message: "no key may sign now".into(),
        })?;
    let published = loaded
        .iter()
        .filter(|k| k.times.published_at(now))
        .map(|k| Arc::clone(&k.key))
        .collect();
    let others = [
        SigningAlgorithm::ES256,
        SigningAlgorithm::EdDSA,
        SigningAlgorithm::RS256,
    ]
    .into_iter()
    .filter(|a| *a != algorithm)
    .filter_map(|a| rotation::active_at(&times, a, now).and_then(|i| loaded.get(i)))
    .map(|k| Arc::clone(&k.key))
    .collect();
    Ok(KeySet::new(Arc::clone(&active.key), published).with_others(others))
}

pub(crate) fn new_key_record(
    master: &MasterKey,
    algorithm: SigningAlgorithm,
    rng: &SystemRandom,
    activates_at: u64,
) -> Result<KeyRecord, StartError> {
    let err = |message: String| StartError::SigningKey {
        kid: String::new(),
        message,
    };
    let pkcs8 = SigningKey::generate(algorithm, rng).map_err(|e| err(e.to_string()))?;
    let key = SigningKey::from_pkcs8(algorithm, &pkcs8).map_err(|e| err(e.to_string()))?;
    let sealed = master
        .seal(&pkcs8, key.kid().as_bytes(), rng)
        .map_err(|e| err(e.to_string()))?;
    Ok(KeyRecord {
        kid: key.kid().to_owned(),
        algorithm,
        sealed_pkcs8: sealed,
        created_at: clock::now_unix(),
        activates_at,
        retires_at: None,
        removed_at: None,
    })
}

/// Rotates the signing key: a new key is stored now and signs after `lead_secs` (at once
/// with `immediate`); the keys in force retire then and leave `/jwks` `retention_secs`
/// later. Returns the new kid. Used by `ahdapa keys rotate` and the rotation schedule.
pub async fn rotate_keys(
    store: &dyn Store,
    master: &MasterKey,
    algorithm: SigningAlgorithm,
    now: u64,
    immediate: bool,
    lead_secs: u64,
    retention_secs: u64,
) -> Result<String, StartError> {
    let records = store.signing_keys().await?;
    let in_force: Vec<&KeyRecord> = records.iter().collect();
    let (activates_at, retire) = succession(&in_force, now, immediate, lead_secs, retention_secs);
    let record = new_key_record(master, algorithm, &SystemRandom::new(), activates_at)?;
    store.insert_signing_key(&record).await?;
    retire_all(store, retire).await?;
    log::info!(kid = record.kid.as_str(), activates_at = activates_at; "signing key rotation scheduled");
    Ok(record.kid)
}

/// When a successor of `records` signs, and (kid, retires_at, removed_at) of each key it
/// retires (`rotation::plan`).
fn succession(
    records: &[&KeyRecord],
    now: u64,
    immediate: bool,
    lead_secs: u64,
    retention_secs: u64,
) -> (u64, Vec<(String, u64, u64)>) {
    let times: Vec<KeyTimes> = records.iter().map(|r| times_of(r)).collect();
    let plan = rotation::plan(&times, now, immediate, lead_secs, retention_secs);
    let retire = plan
        .retire
        .into_iter()
        .filter_map(|(i, retires_at, removed_at)| {
            records
                .get(i)
                .map(|r| (r.kid.clone(), retires_at, removed_at))
        })
        .collect();
    (plan.new_activates_at, retire)
}

/// Stores the retirement times of a succession.
async fn retire_all(store: &dyn Store, retire: Vec<(String, u64, u64)>) -> Result<(), StartError> {
    for (kid, retires_at, removed_at) in retire {
        store
            .schedule_signing_key(&kid, Some(retires_at), Some(removed_at))
            .await?;
    }
    Ok(())
}

/// How an imported key is scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportAs {
    /// Published now, signing after the lead (like a rotation); the keys in force retire.
    Successor,
    /// Published now and signing at once (after a compromise of the current key).
    Immediate,
    /// Published only (never signing), until `retention` from now: a migrated IdP's key
    /// whose tokens must keep verifying.
    PublishOnly,
}

/// Imports a PKCS#8 private key (`ahdapa keys import`): sealed under the master key like
/// a generated one, published before it signs. Returns the kid (`kid`, or the RFC 7638
/// thumbprint).
#[allow(clippy::too_many_arguments)]
pub async fn import_key(
    store: &dyn Store,
    master: &MasterKey,
    pkcs8: &[u8],
    kid: Option<&str>,
    now: u64,
    how: ImportAs,
    lead_secs: u64,
    retention_secs: u64,
) -> Result<String, StartError> {
    let err = |message: String| StartError::SigningKey {
        kid: kid.unwrap_or_default().to_owned(),
        message,
    };
    let key = SigningKey::from_pkcs8_any(pkcs8).map_err(|e| err(e.to_string()))?;
    let kid = kid.map_or_else(|| key.kid().to_owned(), str::to_owned);
    if kid.is_empty()
        || kid.len() > 128
        || !kid
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
    {
        return Err(err(
            "a kid is 1 to 128 printable characters without quotes or backslashes".into(),
        ));
    }
    let records = store.signing_keys().await?;
    if records.iter().any(|r| r.kid == kid) {
        return Err(err(format!("a key with kid {kid} is already stored")));
    }
    let sealed = master
        .seal(pkcs8, kid.as_bytes(), &SystemRandom::new())
        .map_err(|e| err(e.to_string()))?;
    let algorithm = key.algorithm();
    let mut record = KeyRecord {
        kid: kid.clone(),
        algorithm,
        sealed_pkcs8: sealed,
        created_at: now,
        activates_at: now,
        retires_at: None,
        removed_at: None,
    };
    let mut retire = Vec::new();
    match how {
        ImportAs::PublishOnly => {
            record.retires_at = Some(now);
            record.removed_at = Some(now.saturating_add(retention_secs));
        }
        ImportAs::Successor | ImportAs::Immediate => {
            let same: Vec<&KeyRecord> = records
                .iter()
                .filter(|r| r.algorithm == algorithm)
                .collect();
            let immediate = how == ImportAs::Immediate;
            (record.activates_at, retire) =
                succession(&same, now, immediate, lead_secs, retention_secs);
        }
    }
    store.insert_signing_key(&record).await?;
    retire_all(store, retire).await?;
    log::info!(target: "ahdapa::audit", kid = kid.as_str(), alg = algorithm.as_str(), activates_at = record.activates_at; "imported a signing key");
    Ok(kid)
}

/// Why a key cannot be retired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetireError {
    /// No key with that kid.
    NotFound,
    /// It is the only key of the configured algorithm that signs now.
    LastSigner,
    /// The store failed.
    Store(String),
}

/// Stops `kid` from signing now; it leaves `/jwks` after the longest token lifetime plus
/// the cache time (`remove_now`: at once, after a compromise). Refused for the only key
/// that can sign. Returns when it leaves `/jwks`.
pub async fn retire_key(
    store: &dyn Store,
    algorithm: SigningAlgorithm,
    kid: &str,
    now: u64,
    remove_now: bool,
) -> Result<u64, RetireError> {
    let records = store
        .signing_keys()
        .await
        .map_err(|e| RetireError::Store(e.to_string()))?;
    if !records.iter().any(|r| r.kid == kid) {
        return Err(RetireError::NotFound);
    }
    let others_can_sign = records
        .iter()
        .any(|r| r.kid != kid && r.algorithm == algorithm && times_of(r).signs_at(now));
    if !others_can_sign {
        return Err(RetireError::LastSigner);
    }
    let removed = if remove_now {
        now
    } else {
        now + ROTATION_RETENTION_SECS
    };
    store
        .schedule_signing_key(kid, Some(now), Some(removed))
        .await
        .map_err(|e| RetireError::Store(e.to_string()))?;
    log::info!(kid = kid, removed_at = removed; "signing key retired");
    Ok(removed)
}
