//! The embedded SQLite backend: one file, WAL, migrations by `user_version`.
//!
//! Durability: clients and keys are written with `synchronous = FULL` (a committed client
//! or key survives a crash or a power loss), and so are revocations
//! ([`Durability::Durable`]). Replay records — one per accepted AP-REQ, assertion or DPoP
//! proof, on the hot path — go through a second connection with `synchronous = NORMAL`:
//! they survive a crash of ahdapa, and a power loss can forget the last few, which is the
//! same guarantee MIT's own replay cache gives and costs no fsync per request.
//!
//! rusqlite is blocking, so calls run on tokio's blocking pool with the connection behind
//! a mutex, with three exceptions on the request path. Replay records and state records
//! (sessions, codes, device codes, refresh tokens) are written in groups
//! (`super::group_commit`): the request that finds no writer at work commits every write
//! waiting in one transaction, so a burst of proofs or rotations costs one commit, not
//! one each; one writer on the second connection serves both durabilities (a group with
//! a durable write commits with `synchronous = FULL`), so a relaxed write never waits
//! behind a durable commit for SQLite's write lock. State reads run on the worker thread
//! on a third connection that waits for no writer (a WAL read by primary key). Reads of
//! clients and keys happen at start-up and when [`Store::generation`] moves.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::group_commit::GroupWriter;
use super::{Durability, KeyRecord, StateRecord, Store, StoreError};
use crate::oauth::client::ClientRegistration;

/// Schema migrations, applied in order; index + 1 is the `user_version` after each.
const MIGRATIONS: &[&str] = &[
    // 1: clients, keys, generation counter, replay records.
    "CREATE TABLE clients (
        client_id TEXT PRIMARY KEY NOT NULL,
        registration TEXT NOT NULL,
        created_at INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY NOT NULL,
        algorithm TEXT NOT NULL,
        sealed_pkcs8 BLOB NOT NULL,
        created_at INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE generation (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL) STRICT;
     INSERT INTO generation (id, value) VALUES (1, 0);
     CREATE TABLE replay (
        namespace TEXT NOT NULL,
        key BLOB NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (namespace, key)
     ) STRICT, WITHOUT ROWID;
     CREATE INDEX replay_expiry ON replay (expires_at);",
    // 2: key rotation schedule.
    "ALTER TABLE signing_keys ADD COLUMN activates_at INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE signing_keys ADD COLUMN retires_at INTEGER;
     ALTER TABLE signing_keys ADD COLUMN removed_at INTEGER;
     UPDATE signing_keys SET activates_at = created_at;",
    // 3: state records (sessions, authorization codes, consents).
    "CREATE TABLE state (
        kind TEXT NOT NULL,
        key BLOB NOT NULL,
        value BLOB NOT NULL,
        uses INTEGER NOT NULL DEFAULT 0,
        note BLOB NOT NULL DEFAULT x'',
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (kind, key)
     ) STRICT, WITHOUT ROWID;
     CREATE INDEX state_expiry ON state (expires_at);",
];

/// Expired replay records deleted per statement by [`Store::maintain`].
const PRUNE_CHUNK: usize = 1000;

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// Replay records: a second connection without an fsync per commit (the same
    /// connection as `conn` for an in-memory database).
    replay: Arc<Mutex<Connection>>,
    /// Replay and state writes of either durability, committed in groups on the
    /// replay connection (`super::group_commit`).
    writer: GroupWriter,
    /// State reads: a connection of their own, so they wait for neither writer nor the
    /// WAL checkpoint (the same connection as `conn` for an in-memory database).
    reader: Arc<Mutex<Connection>>,
}

/// Inserted, or an expired record replaced: one row changed, first use. A live record:
/// none, a replay. (Expired records are pruned by `maintain`, off the request path.)
const UPSERT_REPLAY: &str = "INSERT INTO replay (namespace, key, expires_at) VALUES (?1, ?2, ?3)
     ON CONFLICT (namespace, key) DO UPDATE SET expires_at = excluded.expires_at
     WHERE replay.expires_at <= ?4";

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the database at `path` and
    /// migrates it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        crate::fs::create_private_parent(path).map_err(|e| {
            StoreError::Backend(format!(
                "{}: cannot create its directory: {e}",
                path.display()
            ))
        })?;
        let open = || {
            Connection::open(path)
                .map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))
        };
        let conn = Self::init(open()?)?;
        let replay = open()?;
        replay
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(backend)?;
        replay
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(backend)?;
        // Checkpoints happen in `maintain` (every refresh), not inside a request's insert.
        replay
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(backend)?;
        let reader = open()?;
        reader
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(backend)?;
        Ok(Self::with_connections(
            Arc::new(Mutex::new(conn)),
            Arc::new(Mutex::new(replay)),
            Arc::new(Mutex::new(reader)),
        ))
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Arc::new(Mutex::new(Self::init(
            Connection::open_in_memory().map_err(backend)?,
        )?));
        Ok(Self::with_connections(
            Arc::clone(&conn),
            Arc::clone(&conn),
            conn,
        ))
    }

    /// Sets the pragmas and migrates.
    fn init(mut conn: Connection) -> Result<Connection, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(backend)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(backend)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(backend)?;
        let version: usize = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(backend)?;
        if version > MIGRATIONS.len() {
            return Err(StoreError::Backend(format!(
                "database schema version {version} is newer than this ahdapa knows ({})",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.transaction().map_err(backend)?;
            tx.execute_batch(sql).map_err(backend)?;
            tx.pragma_update(None, "user_version", i + 1)
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
        }
        Ok(conn)
    }

    /// The store on its three connections.
    fn with_connections(
        conn: Arc<Mutex<Connection>>,
        replay: Arc<Mutex<Connection>>,
        reader: Arc<Mutex<Connection>>,
    ) -> Self {
        Self {
            writer: GroupWriter::new(Arc::clone(&replay)),
            conn,
            replay,
            reader,
        }
    }

    /// Runs `f` with the main connection on the blocking pool.
    async fn with<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        Self::on(&self.conn, f).await
    }

    async fn on<T, F>(conn: &Arc<Mutex<Connection>>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::Backend("connection mutex poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn is_conflict(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

fn bump_generation(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    tx.execute("UPDATE generation SET value = value + 1 WHERE id = 1", [])
        .map_err(backend)?;
    Ok(())
}

/// A `value, uses, expires_at, note` row.
fn state_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<StateRecord> {
    Ok(StateRecord {
        value: r.get(0)?,
        uses: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
        expires_at: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
        note: r.get(3)?,
    })
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[async_trait]
impl Store for SqliteStore {
    async fn maintain(&self, now: u64) -> Result<(), StoreError> {
        // In bounded chunks, each its own transaction, so writes waiting for the
        // database's write lock are held up for one chunk at most, never for one huge
        // DELETE (a burst of codes expires at once a minute after it was minted).
        for (durability, sql) in [
            (
                Durability::Relaxed,
                "DELETE FROM replay WHERE (namespace, key) IN
                 (SELECT namespace, key FROM replay WHERE expires_at <= ?1 LIMIT ?2)",
            ),
            // Pruning needs no fsync: a prune lost in a crash is done again.
            (
                Durability::Relaxed,
                "DELETE FROM state WHERE (kind, key) IN
                 (SELECT kind, key FROM state WHERE expires_at <= ?1 LIMIT ?2)",
            ),
        ] {
            loop {
                let pruned = self
                    .writer
                    .submit(durability, move |tx| {
                        tx.prepare_cached(sql)
                            .and_then(|mut st| st.execute(params![to_i64(now), PRUNE_CHUNK]))
                            .map_err(backend)
                    })
                    .await?;
                if pruned < PRUNE_CHUNK {
                    break;
                }
            }
        }
        // The checkpoint (which fsyncs) runs on the other connection, so replay inserts
        // keep going meanwhile (WAL lets one writer and a checkpointer work at once).
        self.with(|conn| {
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                .map_err(backend)
        })
        .await
    }

    async fn clients(&self) -> Result<Vec<ClientRegistration>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT client_id, registration FROM clients ORDER BY client_id")
                .map_err(backend)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(backend)?;
            let mut out = Vec::new();
            for row in rows {
                let (id, json) = row.map_err(backend)?;
                let reg = serde_json::from_str(&json)
                    .map_err(|e| StoreError::Corrupt(format!("client {id}"), e.to_string()))?;
                out.push(reg);
            }
            Ok(out)
        })
        .await
    }

    async fn insert_client(&self, client: &ClientRegistration, now: u64) -> Result<(), StoreError> {
        let json = serde_json::to_string(client).map_err(|e| StoreError::Backend(e.to_string()))?;
        let id = client.client_id.clone();
        self.with(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            match tx.execute(
                "INSERT INTO clients (client_id, registration, created_at) VALUES (?1, ?2, ?3)",
                params![id, json, to_i64(now)],
            ) {
                Err(e) if is_conflict(&e) => {
                    return Err(StoreError::Conflict(format!("client {id}")));
                }
                r => r.map_err(backend)?,
            };
            bump_generation(&tx)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn update_client(
        &self,
        client: &ClientRegistration,
        _now: u64,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(client).map_err(|e| StoreError::Backend(e.to_string()))?;
        let id = client.client_id.clone();
        self.with(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            let n = tx
                .execute(
                    "UPDATE clients SET registration = ?2 WHERE client_id = ?1",
                    params![id, json],
                )
                .map_err(backend)?;
            if n > 0 {
                bump_generation(&tx)?;
            }
            tx.commit().map_err(backend)?;
            Ok(n > 0)
        })
        .await
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        let id = client_id.to_owned();
        self.with(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            let n = tx
                .execute("DELETE FROM clients WHERE client_id = ?1", [id])
                .map_err(backend)?;
            if n > 0 {
                bump_generation(&tx)?;
            }
            tx.commit().map_err(backend)?;
            Ok(n > 0)
        })
        .await
    }

    async fn signing_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT kid, algorithm, sealed_pkcs8, created_at, activates_at, retires_at, removed_at
                     FROM signing_keys ORDER BY activates_at, created_at, kid",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                        r.get::<_, Option<i64>>(6)?,
                    ))
                })
                .map_err(backend)?;
            let mut out = Vec::new();
            let secs = |v: i64| u64::try_from(v).unwrap_or(0);
            for row in rows {
                let (kid, alg, sealed_pkcs8, created_at, activates_at, retires_at, removed_at) = row.map_err(backend)?;
                let algorithm = alg.parse().map_err(|e: crate::token::keys::UnsupportedAlgorithm| StoreError::Corrupt(format!("key {kid}"), e.to_string()))?;
                out.push(KeyRecord {
                    kid,
                    algorithm,
                    sealed_pkcs8,
                    created_at: secs(created_at),
                    activates_at: secs(activates_at),
                    retires_at: retires_at.map(secs),
                    removed_at: removed_at.map(secs),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn insert_signing_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let key = key.clone();
        self.with(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            match tx.execute(
                "INSERT INTO signing_keys (kid, algorithm, sealed_pkcs8, created_at, activates_at, retires_at, removed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    key.kid,
                    key.algorithm.as_str(),
                    key.sealed_pkcs8,
                    to_i64(key.created_at),
                    to_i64(key.activates_at),
                    key.retires_at.map(to_i64),
                    key.removed_at.map(to_i64)
                ],
            ) {
                Err(e) if is_conflict(&e) => return Err(StoreError::Conflict(format!("key {}", key.kid))),
                r => r.map_err(backend)?,
            };
            bump_generation(&tx)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn schedule_signing_key(
        &self,
        kid: &str,
        retires_at: Option<u64>,
        removed_at: Option<u64>,
    ) -> Result<bool, StoreError> {
        let kid = kid.to_owned();
        self.with(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            let n = tx
                .execute(
                    "UPDATE signing_keys SET retires_at = ?2, removed_at = ?3 WHERE kid = ?1",
                    params![kid, retires_at.map(to_i64), removed_at.map(to_i64)],
                )
                .map_err(backend)?;
            if n > 0 {
                bump_generation(&tx)?;
            }
            tx.commit().map_err(backend)?;
            Ok(n > 0)
        })
        .await
    }

    async fn generation(&self) -> Result<u64, StoreError> {
        self.with(|conn| {
            let v: Option<i64> = conn
                .prepare_cached("SELECT value FROM generation WHERE id = 1")
                .and_then(|mut s| s.query_row([], |r| r.get(0)).optional())
                .map_err(backend)?;
            Ok(u64::try_from(v.unwrap_or(0)).unwrap_or(0))
        })
        .await
    }

    async fn put_state(
        &self,
        kind: &str,
        key: &[u8],
        value: &[u8],
        expires_at: u64,
        durability: Durability,
    ) -> Result<(), StoreError> {
        let (kind, key, value) = (kind.to_owned(), key.to_vec(), value.to_vec());
        self.writer.submit(durability, move |conn| {
            conn.prepare_cached(
                "INSERT INTO state (kind, key, value, uses, note, expires_at)
                 VALUES (?1, ?2, ?3, 0, x'', ?4)
                 ON CONFLICT (kind, key) DO UPDATE
                 SET value = excluded.value, uses = 0, note = x'', expires_at = excluded.expires_at",
            )
            .and_then(|mut st| st.execute(params![kind, key, value, to_i64(expires_at)]))
            .map(|_| ())
            .map_err(backend)
        })
        .await
    }

    async fn state(
        &self,
        kind: &str,
        key: &[u8],
        now: u64,
    ) -> Result<Option<StateRecord>, StoreError> {
        let (kind, key) = (kind.to_owned(), key.to_vec());
        // On the reader connection: the main one also runs the periodic WAL checkpoint,
        // and both writers commit groups, which would hold up every read behind them
        // (sessions, codes, refresh revocations are read on the request path).
        // A WAL reader never waits for a writer, and a read by primary key takes
        // microseconds: on this worker thread, no hop to the blocking pool.
        let conn = self
            .reader
            .lock()
            .map_err(|_| StoreError::Backend("reader mutex poisoned".into()))?;
        conn.prepare_cached(
            "SELECT value, uses, expires_at, note FROM state
             WHERE kind = ?1 AND key = ?2 AND expires_at > ?3",
        )
        .and_then(|mut st| {
            st.query_row(params![kind, key, to_i64(now)], state_record)
                .optional()
        })
        .map_err(backend)
    }

    async fn use_state(
        &self,
        kind: &str,
        key: &[u8],
        now: u64,
        note: &[u8],
        durability: Durability,
    ) -> Result<Option<StateRecord>, StoreError> {
        let (kind, key, note) = (kind.to_owned(), key.to_vec(), note.to_vec());
        // One statement: SQLite's write lock makes the increment, the first use's note
        // and the read one step, so exactly one caller sees `uses = 0`.
        self.writer
            .submit(durability, move |conn| {
                conn.prepare_cached(
                    "UPDATE state SET uses = uses + 1,
                        note = CASE WHEN uses = 0 THEN ?4 ELSE note END
                 WHERE kind = ?1 AND key = ?2 AND expires_at > ?3
                 RETURNING value, uses - 1, expires_at, note",
                )
                .and_then(|mut st| {
                    st.query_row(params![kind, key, to_i64(now), note], state_record)
                        .optional()
                })
                .map_err(backend)
            })
            .await
    }

    async fn delete_state(&self, kind: &str, key: &[u8]) -> Result<bool, StoreError> {
        let (kind, key) = (kind.to_owned(), key.to_vec());
        self.writer
            .submit(Durability::Durable, move |conn| {
                conn.prepare_cached("DELETE FROM state WHERE kind = ?1 AND key = ?2")
                    .and_then(|mut st| st.execute(params![kind, key]))
                    .map(|n| n > 0)
                    .map_err(backend)
            })
            .await
    }

    async fn is_recorded(&self, namespace: &str, key: &[u8], now: u64) -> Result<bool, StoreError> {
        let (namespace, key) = (namespace.to_owned(), key.to_vec());
        Self::on(&self.replay, move |conn| {
            let found: Option<i64> = conn
                .prepare_cached(
                    "SELECT 1 FROM replay WHERE namespace = ?1 AND key = ?2 AND expires_at > ?3",
                )
                .and_then(|mut st| {
                    st.query_row(params![namespace, key, to_i64(now)], |r| r.get(0))
                        .optional()
                })
                .map_err(backend)?;
            Ok(found.is_some())
        })
        .await
    }

    async fn record_once(
        &self,
        namespace: &str,
        key: &[u8],
        expires_at: u64,
        now: u64,
        durability: Durability,
    ) -> Result<bool, StoreError> {
        if durability == Durability::Durable {
            // Through the `synchronous = FULL` connection: fsynced before the answer.
            let (namespace, key) = (namespace.to_owned(), key.to_vec());
            return self
                .with(move |conn| {
                    conn.prepare_cached(UPSERT_REPLAY)
                        .and_then(|mut st| {
                            st.execute(params![namespace, key, to_i64(expires_at), to_i64(now)])
                        })
                        .map(|n| n == 1)
                        .map_err(backend)
                })
                .await;
        }
        // Group commit (`super::group_commit`) on the connection without an fsync per
        // commit: a burst of proofs or assertions costs one commit. Two uses of one key
        // in the same group see each other: the second is a replay.
        let (namespace, key) = (namespace.to_owned(), key.to_vec());
        self.writer
            .submit(Durability::Relaxed, move |tx| {
                tx.prepare_cached(UPSERT_REPLAY)
                    .and_then(|mut st| {
                        st.execute(params![namespace, key, to_i64(expires_at), to_i64(now)])
                    })
                    .map(|n| n == 1)
                    .map_err(backend)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passes_store_contract() {
        let store = SqliteStore::open_in_memory().unwrap();
        super::super::contract::run_all(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_state_uses_have_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
        super::super::contract::concurrent_state_uses_have_one_winner(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_uses_of_one_key_have_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("a.db")).unwrap());
        super::super::contract::concurrent_uses_have_one_winner(store).await;
    }

    #[tokio::test]
    async fn reopening_keeps_data_and_skips_applied_migrations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        {
            let s = SqliteStore::open(&path).unwrap();
            super::super::contract::run_all(&s).await;
        }
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.clients().await.unwrap().len(), 1);
        assert_eq!(s.signing_keys().await.unwrap().len(), 1);
    }
}
