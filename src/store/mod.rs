//! Persistent state behind one trait: registered clients, signing keys, and (from the
//! Kerberos issue on) single-use records for replay protection.
//!
//! Backends: embedded SQLite ([`sqlite::SqliteStore`], the default) now, PostgreSQL later;
//! both must pass the same contract tests (`contract` below). The hot path never waits on
//! the store for what can be cached: callers keep clients and keys in memory and poll
//! [`Store::generation`], a counter every client or key write bumps, to know when to
//! reload.

mod group_commit;
pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;

use crate::oauth::client::ClientRegistration;
use crate::token::keys::SigningAlgorithm;

/// A signing key as stored: the private half sealed under the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// RFC 7638 thumbprint of the public key.
    pub kid: String,
    /// Algorithm of the key.
    pub algorithm: SigningAlgorithm,
    /// `token::seal` blob of the PKCS#8 private key, with the kid as context.
    pub sealed_pkcs8: Vec<u8>,
    /// When the key was created, seconds since the epoch.
    pub created_at: u64,
    /// When it starts signing (published in `/jwks` from creation on).
    pub activates_at: u64,
    /// When it stops signing (set when a successor is scheduled or it is retired).
    pub retires_at: Option<u64>,
    /// When it leaves `/jwks` (after the last token it signed has expired).
    pub removed_at: Option<u64>,
}

/// A stored state record (an SSO session, an authorization code, a consent; later
/// device codes and refresh tokens), as [`Store::state`] and [`Store::use_state`]
/// return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRecord {
    /// What the record holds (JSON of the caller's record type).
    pub value: Vec<u8>,
    /// How many times [`Store::use_state`] counted it before this answer.
    pub uses: u64,
    /// What the first [`Store::use_state`] left on it (empty before any use).
    pub note: Vec<u8>,
    /// When it stops existing, seconds since the epoch.
    pub expires_at: u64,
}

/// Store failures. None of them is the client's fault.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record with this key exists already.
    #[error("{0} already exists")]
    Conflict(String),
    /// The database could not be opened, read or written.
    #[error("database error: {0}")]
    Backend(String),
    /// A stored record does not decode (hand-edited or from a newer version).
    #[error("stored record {0} is corrupt: {1}")]
    Corrupt(String, String),
}

/// The persistence port the rest of ahdapa talks to.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Every stored client registration.
    async fn clients(&self) -> Result<Vec<ClientRegistration>, StoreError>;
    /// Adds a client; `Conflict` if the client_id is taken.
    async fn insert_client(&self, client: &ClientRegistration, now: u64) -> Result<(), StoreError>;
    /// Replaces a client's registration; false if it does not exist.
    async fn update_client(
        &self,
        client: &ClientRegistration,
        now: u64,
    ) -> Result<bool, StoreError>;
    /// Removes a client; false if it did not exist.
    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError>;
    /// Every stored signing key, oldest first.
    async fn signing_keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Adds a signing key; `Conflict` if the kid exists.
    async fn insert_signing_key(&self, key: &KeyRecord) -> Result<(), StoreError>;
    /// Sets when a key stops signing and when it leaves `/jwks`; false if no such key.
    async fn schedule_signing_key(
        &self,
        kid: &str,
        retires_at: Option<u64>,
        removed_at: Option<u64>,
    ) -> Result<bool, StoreError>;
    /// A counter that changes whenever clients or keys change (from any process).
    async fn generation(&self) -> Result<u64, StoreError>;
    /// A signal raised soon after any process changed clients or keys, so nodes reload
    /// at once instead of at the next poll of [`Store::generation`]; `None` when the
    /// backend has no such push (callers keep polling either way).
    fn changes(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }
    /// True when `key` is recorded in `namespace` and not expired at `now`.
    async fn is_recorded(&self, namespace: &str, key: &[u8], now: u64) -> Result<bool, StoreError>;
    /// Housekeeping off the request path, called every few seconds: prune expired replay
    /// records, checkpoint the log.
    async fn maintain(&self, _now: u64) -> Result<(), StoreError> {
        Ok(())
    }
    /// Serialises signing-key rotations across nodes sharing this store: `Some(guard)`
    /// holds the lock until dropped, `None` means another node is rotating right now.
    /// (A single SQLite node needs no lock.)
    async fn rotation_guard(&self) -> Result<Option<Box<dyn Send + Sync>>, StoreError> {
        Ok(Some(Box::new(())))
    }
    /// Writes the state record `kind`/`key` (insert or replace, its use count back to 0
    /// and its note emptied), visible to every node sharing the store. `key` is a digest
    /// of the secret that names the record (cookie, code), never the secret itself.
    /// `Relaxed` is for short-lived records a crash of the database host may lose
    /// (codes: the person signs in again), `Durable` for the others.
    async fn put_state(
        &self,
        kind: &str,
        key: &[u8],
        value: &[u8],
        expires_at: u64,
        durability: Durability,
    ) -> Result<(), StoreError>;
    /// The state record, if it exists and has not expired at `now`.
    async fn state(
        &self,
        kind: &str,
        key: &[u8],
        now: u64,
    ) -> Result<Option<StateRecord>, StoreError>;
    /// True when any of `keys` names a live record of `kind` (one round trip where the
    /// backend can: refresh tokens ask whether their family or their session ended).
    async fn any_state(&self, kind: &str, keys: &[Vec<u8>], now: u64) -> Result<bool, StoreError> {
        for key in keys {
            if self.state(kind, key, now).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }
    /// Counts one use of the record and returns it: `uses` as it was before (0 for
    /// exactly one caller however many nodes race: single-use codes), and the note of
    /// the first use — `note` itself when this is the first use, so a later use learns
    /// what the first one did (the tokens a code produced) in the same step. `None` if it
    /// does not exist or has expired.
    async fn use_state(
        &self,
        kind: &str,
        key: &[u8],
        now: u64,
        note: &[u8],
        durability: Durability,
    ) -> Result<Option<StateRecord>, StoreError>;
    /// Removes the record; false if there was none.
    async fn delete_state(&self, kind: &str, key: &[u8]) -> Result<bool, StoreError>;
    /// Records `key` in `namespace` until `expires_at`; false if it was already recorded
    /// and has not expired (a replay). Expired records are pruned by [`Store::maintain`].
    async fn record_once(
        &self,
        namespace: &str,
        key: &[u8],
        expires_at: u64,
        now: u64,
        durability: Durability,
    ) -> Result<bool, StoreError>;
}

/// One relaxed `record_once` waiting for a backend's group commit, with where its answer
/// goes: first use (true), a replay (false), or the group's error.
struct Record {
    namespace: String,
    key: Vec<u8>,
    expires_at: i64,
    now: i64,
    reply: tokio::sync::oneshot::Sender<Result<bool, StoreError>>,
}

/// What a single-use record must survive once [`Store::record_once`] has answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// On disk before the answer (revocations: a revoked token never comes back).
    Durable,
    /// Survives a crash of ahdapa; a crash or power loss of the database host may forget
    /// the last moments (replay records of proofs, assertions and AP-REQs, which expire
    /// within minutes anyway: the guarantee MIT's own replay cache gives). This is what
    /// lets many records share one commit without waiting for the disk.
    Relaxed,
}

#[doc(hidden)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
pub mod contract {
    //! The contract every backend passes. Each backend's tests call [`run_all`] (SQLite
    //! in unit tests, PostgreSQL from the integration tests against a real server).
    use super::*;
    use crate::oauth::client::TokenEndpointAuthMethod;

    fn reg(id: &str) -> ClientRegistration {
        ClientRegistration {
            client_id: id.into(),
            token_endpoint_auth_method: TokenEndpointAuthMethod::None,
            client_secret_hash: None,
            scopes: vec!["s".into()],
            audience: vec![],
            token_lifetime_secs: Some(60),
            ..Default::default()
        }
    }

    pub async fn run_all(store: &dyn Store) {
        clients_round_trip(store).await;
        keys_round_trip(store).await;
        record_once_refuses_replays_until_expiry(store).await;
        state_records_round_trip(store).await;
        maintain_prunes_every_expired_record(store).await;
    }

    async fn clients_round_trip(store: &dyn Store) {
        let g0 = store.generation().await.unwrap();
        store.insert_client(&reg("a"), 1).await.unwrap();
        assert!(matches!(
            store.insert_client(&reg("a"), 2).await,
            Err(StoreError::Conflict(_))
        ));
        store.insert_client(&reg("b"), 3).await.unwrap();
        let g1 = store.generation().await.unwrap();
        assert_ne!(g0, g1, "a write must change the generation");
        let ids: Vec<_> = store
            .clients()
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.client_id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(store.clients().await.unwrap()[0], reg("a"));
        let mut changed = reg("a");
        changed.scopes = vec!["t".into()];
        changed.disabled = true;
        let g2 = store.generation().await.unwrap();
        assert!(store.update_client(&changed, 4).await.unwrap());
        assert_ne!(store.generation().await.unwrap(), g2);
        assert_eq!(store.clients().await.unwrap()[0], changed);
        assert!(!store.update_client(&reg("zz"), 5).await.unwrap());
        assert!(store.delete_client("a").await.unwrap());
        assert!(!store.delete_client("a").await.unwrap());
        assert_ne!(store.generation().await.unwrap(), g1);
    }

    async fn keys_round_trip(store: &dyn Store) {
        let k = KeyRecord {
            kid: "k1".into(),
            algorithm: SigningAlgorithm::ES256,
            sealed_pkcs8: vec![1, 2, 3],
            created_at: 5,
            activates_at: 5,
            retires_at: None,
            removed_at: None,
        };
        store.insert_signing_key(&k).await.unwrap();
        assert!(matches!(
            store.insert_signing_key(&k).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(store.signing_keys().await.unwrap(), vec![k.clone()]);
        let g = store.generation().await.unwrap();
        assert!(
            store
                .schedule_signing_key("k1", Some(50), Some(90))
                .await
                .unwrap()
        );
        assert!(
            !store
                .schedule_signing_key("nope", Some(50), Some(90))
                .await
                .unwrap()
        );
        assert_ne!(store.generation().await.unwrap(), g);
        let got = store.signing_keys().await.unwrap();
        assert_eq!((got[0].retires_at, got[0].removed_at), (Some(50), Some(90)));
    }

    async fn record_once_refuses_replays_until_expiry(store: &dyn Store) {
        assert!(!store.is_recorded("ns", b"x", 10).await.unwrap());
        assert!(
            store
                .record_once("ns", b"x", 100, 10, Durability::Relaxed)
                .await
                .unwrap()
        );
        assert!(store.is_recorded("ns", b"x", 50).await.unwrap());
        assert!(
            !store.is_recorded("ns", b"x", 100).await.unwrap(),
            "expired at expires_at"
        );
        assert!(
            !store
                .record_once("ns", b"x", 100, 20, Durability::Relaxed)
                .await
                .unwrap()
        );
        assert!(
            store
                .record_once("other", b"x", 100, 20, Durability::Relaxed)
                .await
                .unwrap()
        );
        // After expiry the same key is accepted again.
        assert!(
            store
                .record_once("ns", b"x", 300, 150, Durability::Relaxed)
                .await
                .unwrap()
        );
        // Durable and relaxed records are one set: either kind refuses the other's key.
        for (first, then) in [
            (Durability::Durable, Durability::Relaxed),
            (Durability::Relaxed, Durability::Durable),
            (Durability::Durable, Durability::Durable),
        ] {
            let key = format!("{first:?}-{then:?}");
            assert!(
                store
                    .record_once("mixed", key.as_bytes(), 100, 10, first)
                    .await
                    .unwrap()
            );
            assert!(
                !store
                    .record_once("mixed", key.as_bytes(), 100, 20, then)
                    .await
                    .unwrap()
            );
            assert!(
                store
                    .is_recorded("mixed", key.as_bytes(), 20)
                    .await
                    .unwrap()
            );
        }
    }

    async fn state_records_round_trip(store: &dyn Store) {
        const D: Durability = Durability::Durable;
        const R: Durability = Durability::Relaxed;
        assert_eq!(store.state("session", b"s1", 10).await.unwrap(), None);
        store
            .put_state("session", b"s1", b"v1", 100, D)
            .await
            .unwrap();
        let got = store.state("session", b"s1", 10).await.unwrap().unwrap();
        assert_eq!(
            (got.value.as_slice(), got.uses, got.expires_at),
            (&b"v1"[..], 0, 100)
        );
        // Any of several keys: one live is enough; expired or absent ones are not.
        let keys = |ks: &[&[u8]]| ks.iter().map(|k| k.to_vec()).collect::<Vec<_>>();
        assert!(
            store
                .any_state("session", &keys(&[b"no", b"s1"]), 10)
                .await
                .unwrap()
        );
        assert!(
            !store
                .any_state("session", &keys(&[b"no", b"s2"]), 10)
                .await
                .unwrap()
        );
        assert!(
            !store
                .any_state("session", &keys(&[b"s1"]), 100)
                .await
                .unwrap()
        );
        assert!(!store.any_state("other", &keys(&[b"s1"]), 10).await.unwrap());
        assert!(got.note.is_empty());
        assert_eq!(
            store.state("session", b"s1", 100).await.unwrap(),
            None,
            "expired"
        );
        assert_eq!(
            store.state("code", b"s1", 10).await.unwrap(),
            None,
            "kinds apart"
        );
        // The first use leaves its note; later uses see it and cannot change it.
        let first = store
            .use_state("session", b"s1", 10, b"n1", R)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((first.uses, first.note.as_slice()), (0, &b"n1"[..]));
        let second = store
            .use_state("session", b"s1", 10, b"n2", D)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((second.uses, second.note.as_slice()), (1, &b"n1"[..]));
        // Replacing resets the value, the expiry, the use count and the note.
        store
            .put_state("session", b"s1", b"v2", 200, R)
            .await
            .unwrap();
        let got = store
            .use_state("session", b"s1", 150, b"", D)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (got.value.as_slice(), got.uses, got.expires_at),
            (&b"v2"[..], 0, 200)
        );
        assert_eq!(
            store
                .state("session", b"s1", 150)
                .await
                .unwrap()
                .unwrap()
                .uses,
            1
        );
        assert_eq!(
            store
                .use_state("session", b"s1", 200, b"", D)
                .await
                .unwrap(),
            None,
            "expired"
        );
        assert!(store.delete_state("session", b"s1").await.unwrap());
        assert!(!store.delete_state("session", b"s1").await.unwrap());
        assert_eq!(
            store.use_state("session", b"s1", 10, b"", R).await.unwrap(),
            None
        );
        // Housekeeping removes expired state records.
        store.put_state("code", b"old", b"x", 50, R).await.unwrap();
        store.put_state("code", b"new", b"y", 500, D).await.unwrap();
        store.maintain(60).await.unwrap();
        assert!(!store.delete_state("code", b"old").await.unwrap(), "pruned");
        assert!(store.state("code", b"new", 60).await.unwrap().is_some());
    }

    /// Many concurrent uses of one state record: exactly one sees it unused.
    pub async fn concurrent_state_uses_have_one_winner(store: Arc<dyn Store>) {
        store
            .put_state("race-code", b"c", b"v", 100, Durability::Relaxed)
            .await
            .unwrap();
        let tasks: Vec<_> = (0..32u8)
            .map(|i| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    store
                        .use_state("race-code", b"c", 10, &[i], Durability::Relaxed)
                        .await
                })
            })
            .collect();
        let mut first = 0;
        let mut notes = std::collections::HashSet::new();
        for t in tasks {
            let r = t.await.unwrap().unwrap().unwrap();
            first += u32::from(r.uses == 0);
            notes.insert(r.note);
        }
        assert_eq!(first, 1, "exactly one use sees the record unused");
        assert_eq!(notes.len(), 1, "every use sees the first use's note");
    }

    /// Many concurrent uses of one key: exactly one first use (the backends group
    /// records into one transaction or statement; a key twice in a group must lose).
    pub async fn concurrent_uses_have_one_winner(store: Arc<dyn Store>) {
        let race = |key: Option<u32>| {
            (0..64u32)
                .map(|i| {
                    let store = Arc::clone(&store);
                    let key = key.unwrap_or(i).to_be_bytes();
                    tokio::spawn(async move {
                        store
                            .record_once("race", &key, 100, 10, Durability::Relaxed)
                            .await
                    })
                })
                .collect::<Vec<_>>()
        };
        let mut firsts = 0;
        for task in race(Some(7)) {
            firsts += u32::from(task.await.unwrap().unwrap());
        }
        assert_eq!(
            firsts, 1,
            "one key, many concurrent uses: exactly one first use"
        );
        let mut firsts = 0;
        for task in race(None) {
            firsts += u32::from(task.await.unwrap().unwrap());
        }
        assert_eq!(firsts, 63, "key 7 was used above; the other 63 are new");
    }

    async fn maintain_prunes_every_expired_record(store: &dyn Store) {
        // More than one pruning chunk expires at once; a live record stays. (Asking
        // with an earlier `now` tells a pruned record from one merely expired.)
        const N: u32 = 2100;
        for i in 0..N {
            assert!(
                store
                    .record_once("prune", &i.to_be_bytes(), 100, 10, Durability::Relaxed)
                    .await
                    .unwrap()
            );
        }
        assert!(
            store
                .record_once("prune", b"live", 1000, 10, Durability::Relaxed)
                .await
                .unwrap()
        );
        store.maintain(200).await.unwrap();
        for i in [0, 999, 1000, 1999, 2000, N - 1] {
            assert!(
                !store
                    .is_recorded("prune", &i.to_be_bytes(), 10)
                    .await
                    .unwrap(),
                "record {i} was not pruned"
            );
        }
        assert!(store.is_recorded("prune", b"live", 10).await.unwrap());
    }
}
