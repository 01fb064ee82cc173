//! The PostgreSQL backend, for several ahdapa nodes behind a load balancer sharing one
//! existing database: clients, keys, replay records (assertion and DPoP `jti`s, AP-REQ
//! digests) and revocations are global, so a replay or a revoked token is refused on
//! every node.
//!
//! tokio-postgres with a deadpool connection pool; optional TLS (rustls, the system roots
//! plus a CA file). Migrations run under an advisory lock, so nodes starting together do
//! not race, and are versioned in `ahdapa_meta`. Every operation is bounded by a timeout;
//! a lost connection is an error for that request (503 upstream) and the pool reconnects
//! by itself. Expired replay records are pruned by [`Store::maintain`], off the request
//! path (an expired record never blocks a new one: the insert replaces it).
//!
//! Durability: clients, keys and revocations are committed with the database's own
//! settings (by default the WAL is flushed before the answer). Replay records go through
//! one writer task that writes every record waiting with one statement on its own
//! connection with `synchronous_commit = off` ([`Durability::Relaxed`]): visible to every
//! node at once, safe against a crash of ahdapa, and a crash of the database host can
//! forget the last fraction of a second of them — the trade SQLite makes for them too.
//! Relaxed state records (authorization codes) go through a second pool whose sessions
//! have `synchronous_commit = off`; sessions, consents and revocations stay durable.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::Notify;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{Durability, KeyRecord, Record, StateRecord, Store, StoreError};
use changes::{AbortOnDrop, listen};
use replay::{replay_writer, upsert_replay};

mod changes;
mod replay;
use crate::oauth::client::ClientRegistration;
use crate::token::keys::UnsupportedAlgorithm;

/// Schema migrations, applied in order; index + 1 is the version after each.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE ahdapa_clients (
        client_id TEXT PRIMARY KEY,
        registration TEXT NOT NULL,
        created_at BIGINT NOT NULL
     );
     CREATE TABLE ahdapa_signing_keys (
        kid TEXT PRIMARY KEY,
        algorithm TEXT NOT NULL,
        sealed_pkcs8 BYTEA NOT NULL,
        created_at BIGINT NOT NULL,
        activates_at BIGINT NOT NULL,
        retires_at BIGINT,
        removed_at BIGINT
     );
     CREATE TABLE ahdapa_replay (
        namespace TEXT NOT NULL,
        key BYTEA NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (namespace, key)
     );
     CREATE INDEX ahdapa_replay_expiry ON ahdapa_replay (expires_at);
     INSERT INTO ahdapa_meta (name, value) VALUES ('generation', 0);",
    // 2: state records (sessions, authorization codes, consents).
    "CREATE TABLE ahdapa_state (
        kind TEXT NOT NULL,
        key BYTEA NOT NULL,
        value BYTEA NOT NULL,
        uses BIGINT NOT NULL DEFAULT 0,
        note BYTEA NOT NULL DEFAULT '\\x',
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (kind, key)
     );
     CREATE INDEX ahdapa_state_expiry ON ahdapa_state (expires_at);",
];

/// A constant for `pg_advisory_lock`: ahdapa's migrations and key rotations.
const ADVISORY_LOCK: i64 = 0x6168_6461_7061; // "ahdapa"

/// How to reach the database (`[store] postgres_*`).
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// `postgres://user@host:port/db` (libpq URL or key=value form).
    pub url: String,
    /// A password read from a file at start-up, when the URL carries none.
    pub password: Option<String>,
    /// TLS to the database with the system roots plus this CA file.
    pub tls: bool,
    /// Extra CA certificates for the database's certificate.
    pub ca_file: Option<std::path::PathBuf>,
    /// Connections in the pool.
    pub pool_size: usize,
    /// Bound on connecting and on each statement.
    pub timeout: Duration,
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &redact_url(&self.url))
            .field("tls", &self.tls)
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

/// The URL with any password replaced, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = url.get(s + 3..at).unwrap_or_default();
            match creds.split_once(':') {
                Some((user, _)) => format!(
                    "{}{user}:***{}",
                    url.get(..s + 3).unwrap_or_default(),
                    url.get(at..).unwrap_or_default()
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Expired replay records deleted per statement by [`Store::maintain`].
const PRUNE_CHUNK: i64 = 2000;

/// The channel every client or key write notifies (in its transaction, so on commit).
const CHANNEL: &str = "ahdapa_changes";

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PostgresStore {
    db: Db,
    pg: tokio_postgres::Config,
    tls: Option<MakeRustlsConnect>,
    listener: Arc<OnceLock<Listener>>,
    /// The group-commit writer of replay records (see [`replay_writer`]).
    records: tokio::sync::mpsc::UnboundedSender<Record>,
}

/// The pool and the bound on each operation: what the store and its replay writer share.
#[derive(Clone)]
struct Db {
    pool: Pool,
    /// Connections with `synchronous_commit = off`, for [`Durability::Relaxed`] state
    /// writes (authorization codes): committed and visible to every node, without
    /// waiting for the WAL flush.
    relaxed_pool: Pool,
    timeout: Duration,
}

impl Db {
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Backend(format!("PostgreSQL: {e}")))
    }

    /// A pooled connection for a write of this durability.
    async fn client_for(
        &self,
        durability: Durability,
    ) -> Result<deadpool_postgres::Object, StoreError> {
        match durability {
            Durability::Durable => self.client().await,
            Durability::Relaxed => self
                .relaxed_pool
                .get()
                .await
                .map_err(|e| StoreError::Backend(format!("PostgreSQL: {e}"))),
        }
    }

    /// Runs `work` within the statement timeout.
    async fn bounded<T>(
        &self,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| {
                StoreError::Backend(format!(
                    "PostgreSQL did not answer within {} ms",
                    self.timeout.as_millis()
                ))
            })?
    }

    /// The replay writer's own connection (taken out of the pool) with
    /// `synchronous_commit` off: its commits are visible to every node at once and
    /// survive a crash of ahdapa, but do not wait for the WAL flush
    /// ([`Durability::Relaxed`]). Replaced when it closes.
    async fn relaxed<'c>(
        &self,
        conn: &'c mut Option<deadpool_postgres::ClientWrapper>,
    ) -> Result<&'c deadpool_postgres::ClientWrapper, StoreError> {
        if conn.as_ref().is_none_or(|c| c.is_closed()) {
            let c = deadpool_postgres::Object::take(self.client().await?);
            c.batch_execute("SET synchronous_commit = off")
                .await
                .map_err(pg)?;
            *conn = Some(c);
        }
        conn.as_ref()
            .ok_or_else(|| StoreError::Backend("no PostgreSQL connection".into()))
    }
}

/// The task holding a `LISTEN` connection, started on the first [`Store::changes`] call
/// (short-lived CLI processes never start it) and stopped with the last store clone.
struct Listener {
    changes: Arc<Notify>,
    _task: AbortOnDrop,
}

impl PostgresStore {
    /// Deletes the expired rows of `table` (a constant name) in bounded chunks.
    async fn prune(&self, table: &'static str, now: u64) -> Result<(), StoreError> {
        let sql = format!(
            "DELETE FROM {table} WHERE ctid IN
             (SELECT ctid FROM {table} WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"
        );
        loop {
            let pruned = self
                .db
                .bounded(async {
                    let c = self.db.client().await?;
                    c.execute(&sql, &[&to_i64(now), &PRUNE_CHUNK])
                        .await
                        .map_err(pg)
                })
                .await?;
            if pruned < u64::try_from(PRUNE_CHUNK).unwrap_or(0) {
                return Ok(());
            }
        }
    }

    /// Builds the pool, connects once and migrates the schema.
    pub async fn open(config: &PostgresConfig) -> Result<Self, StoreError> {
        let mut pg: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|e| StoreError::Backend(format!("store.postgres_url: {e}")))?;
        if let Some(pw) = &config.password {
            pg.password(pw.as_bytes());
        }
        pg.connect_timeout(config.timeout);
        pg.application_name("ahdapa");
        let tls = if config.tls {
            let tls = crate::tls::client_config(config.ca_file.as_deref())
                .map_err(|e| StoreError::Backend(format!("store.postgres_ca_file: {e}")))?;
            Some(MakeRustlsConnect::new(tls))
        } else {
            None
        };
        let build = |pg: tokio_postgres::Config| {
            let mgr_config = ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            };
            let manager = match &tls {
                Some(tls) => Manager::from_config(pg, tls.clone(), mgr_config),
                None => Manager::from_config(pg, tokio_postgres::NoTls, mgr_config),
            };
            Pool::builder(manager)
                .max_size(config.pool_size.max(1))
                .wait_timeout(Some(config.timeout))
                .create_timeout(Some(config.timeout))
                .recycle_timeout(Some(config.timeout))
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .build()
                .map_err(|e| StoreError::Backend(e.to_string()))
        };
        let pool = build(pg.clone())?;
        let mut relaxed = pg.clone();
        relaxed.options("-c synchronous_commit=off");
        let relaxed_pool = build(relaxed)?;
        let db = Db {
            pool,
            relaxed_pool,
            timeout: config.timeout,
        };
        let (records, queue) = tokio::sync::mpsc::unbounded_channel();
        let store = Self {
            db: db.clone(),
            pg,
            tls,
            listener: Arc::new(OnceLock::new()),
            records,
        };
        store.migrate().await?;
        // Ends when the last store clone (holding the sender) is dropped.
        tokio::spawn(replay_writer(db, queue));
        Ok(store)
    }

    /// One write of clients or keys: the statement and, when it changed a row, the
    /// generation bump other nodes poll for, in one transaction. Returns the rows changed.
    async fn write(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        self.db
            .bounded(async {
                let mut c = self.db.client().await?;
                let tx = c.transaction().await.map_err(pg)?;
                let n = tx.execute(sql, params).await.map_err(pg)?;
                if n > 0 {
                    tx.execute(BUMP, &[]).await.map_err(pg)?;
                    tx.batch_execute(&format!("NOTIFY {CHANNEL}"))
                        .await
                        .map_err(pg)?;
                }
                tx.commit().await.map_err(pg)?;
                Ok(n)
            })
            .await
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        self.db.bounded(async {
            let mut c = self.db.client().await?;
            let tx = c.transaction().await.map_err(pg)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ADVISORY_LOCK])
                .await
                .map_err(pg)?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS ahdapa_meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
            )
            .await
            .map_err(pg)?;
            let version: i64 = tx
                .query_opt("SELECT value FROM ahdapa_meta WHERE name = 'schema'", &[])
                .await
                .map_err(pg)?
                .map_or(0, |r| r.get(0));
            let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
            if version > known {
                return Err(StoreError::Backend(format!(
                    "database schema version {version} is newer than this ahdapa knows ({known})"
                )));
            }
            for (i, sql) in MIGRATIONS
                .iter()
                .enumerate()
                .skip(usize::try_from(version).unwrap_or(0))
            {
                tx.batch_execute(sql).await.map_err(pg)?;
                let v = i64::try_from(i + 1).unwrap_or(i64::MAX);
                tx.execute(
                    "INSERT INTO ahdapa_meta (name, value) VALUES ('schema', $1)
                     ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                    &[&v],
                )
                .await
                .map_err(pg)?;
            }
            tx.commit().await.map_err(pg)
        })
        .await
    }
}

/// Holds the rotation advisory lock until dropped.
pub struct RotationLock(Option<deadpool_postgres::Object>);

impl Drop for RotationLock {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            tokio::spawn(async move {
                let _ = c
                    .execute("SELECT pg_advisory_unlock($1)", &[&ADVISORY_LOCK])
                    .await;
            });
        }
    }
}

fn pg(e: tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
        return StoreError::Conflict(e.to_string());
    }
    StoreError::Backend(format!("PostgreSQL: {e}"))
}

/// A `value, uses, expires_at, note` row.
fn state_record(r: &tokio_postgres::Row) -> StateRecord {
    StateRecord {
        value: r.get(0),
        uses: to_u64(r.get(1)),
        expires_at: to_u64(r.get(2)),
        note: r.get(3),
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

const BUMP: &str = "UPDATE ahdapa_meta SET value = value + 1 WHERE name = 'generation'";

#[async_trait]
impl Store for PostgresStore {
    fn changes(&self) -> Option<Arc<Notify>> {
        let listener = self.listener.get_or_init(|| {
            let changes = Arc::new(Notify::new());
            let task = tokio::spawn(listen(
                self.pg.clone(),
                self.tls.clone(),
                Arc::clone(&changes),
            ));
            Listener {
                changes,
                _task: AbortOnDrop(task.abort_handle()),
            }
        });
        Some(Arc::clone(&listener.changes))
    }

    async fn maintain(&self, now: u64) -> Result<(), StoreError> {
        // Every node prunes, in bounded chunks (each well within the statement timeout
        // however much expired at once); concurrent prunes skip each other's rows.
        for table in ["ahdapa_replay", "ahdapa_state"] {
            self.prune(table, now).await?;
        }
        Ok(())
    }

    async fn rotation_guard(&self) -> Result<Option<Box<dyn Send + Sync>>, StoreError> {
        self.db
            .bounded(async {
                let c = self.db.client().await?;
                let got: bool = c
                    .query_one("SELECT pg_try_advisory_lock($1)", &[&ADVISORY_LOCK])
                    .await
                    .map_err(pg)?
                    .get(0);
                Ok(got.then(|| Box::new(RotationLock(Some(c))) as Box<dyn Send + Sync>))
            })
            .await
    }

    async fn clients(&self) -> Result<Vec<ClientRegistration>, StoreError> {
        self.db
            .bounded(async {
                let c = self.db.client().await?;
                let rows = c
                    .query(
                        "SELECT client_id, registration FROM ahdapa_clients ORDER BY client_id",
                        &[],
                    )
                    .await
                    .map_err(pg)?;
                rows.iter()
                    .map(|r| {
                        let id: String = r.get(0);
                        let json: String = r.get(1);
                        serde_json::from_str(&json)
                            .map_err(|e| StoreError::Corrupt(format!("client {id}"), e.to_string()))
                    })
                    .collect()
            })
            .await
    }

    async fn insert_client(&self, client: &ClientRegistration, now: u64) -> Result<(), StoreError> {
        let json = serde_json::to_string(client).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.write(
            "INSERT INTO ahdapa_clients (client_id, registration, created_at) VALUES ($1, $2, $3)",
            &[&client.client_id, &json, &to_i64(now)],
        )
        .await
        .map(|_| ())
        .map_err(|e| match e {
            StoreError::Conflict(_) => StoreError::Conflict(format!("client {}", client.client_id)),
            other => other,
        })
    }

    async fn update_client(
        &self,
        client: &ClientRegistration,
        _now: u64,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(client).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.write(
            "UPDATE ahdapa_clients SET registration = $2 WHERE client_id = $1",
            &[&client.client_id, &json],
        )
        .await
        .map(|n| n > 0)
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        self.write(
            "DELETE FROM ahdapa_clients WHERE client_id = $1",
            &[&client_id],
        )
        .await
        .map(|n| n > 0)
    }

    async fn signing_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.db.bounded(async {
            let c = self.db.client().await?;
            let rows = c
                .query(
                    "SELECT kid, algorithm, sealed_pkcs8, created_at, activates_at, retires_at, removed_at
                     FROM ahdapa_signing_keys ORDER BY activates_at, created_at, kid",
                    &[],
                )
                .await
                .map_err(pg)?;
            rows.iter()
                .map(|r| {
                    let kid: String = r.get(0);
                    let alg: String = r.get(1);
                    let algorithm = alg
                        .parse()
                        .map_err(|e: UnsupportedAlgorithm| {
                            StoreError::Corrupt(format!("key {kid}"), e.to_string())
                        })?;
                    Ok(KeyRecord {
                        algorithm,
                        sealed_pkcs8: r.get(2),
                        created_at: to_u64(r.get(3)),
                        activates_at: to_u64(r.get(4)),
                        retires_at: r.get::<_, Option<i64>>(5).map(to_u64),
                        removed_at: r.get::<_, Option<i64>>(6).map(to_u64),
                        kid,
                    })
                })
                .collect()
        })
        .await
    }

    async fn insert_signing_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO ahdapa_signing_keys
             (kid, algorithm, sealed_pkcs8, created_at, activates_at, retires_at, removed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &key.kid,
                &key.algorithm.as_str(),
                &key.sealed_pkcs8,
                &to_i64(key.created_at),
                &to_i64(key.activates_at),
                &key.retires_at.map(to_i64),
                &key.removed_at.map(to_i64),
            ],
        )
        .await
        .map(|_| ())
        .map_err(|e| match e {
            StoreError::Conflict(_) => StoreError::Conflict(format!("key {}", key.kid)),
            other => other,
        })
    }

    async fn schedule_signing_key(
        &self,
        kid: &str,
        retires_at: Option<u64>,
        removed_at: Option<u64>,
    ) -> Result<bool, StoreError> {
        self.write(
            "UPDATE ahdapa_signing_keys SET retires_at = $2, removed_at = $3 WHERE kid = $1",
            &[&kid, &retires_at.map(to_i64), &removed_at.map(to_i64)],
        )
        .await
        .map(|n| n > 0)
    }

    async fn generation(&self) -> Result<u64, StoreError> {
        self.db
            .bounded(async {
                let c = self.db.client().await?;
                let stmt = c
                    .prepare_cached("SELECT value FROM ahdapa_meta WHERE name = 'generation'")
                    .await
                    .map_err(pg)?;
                let row = c.query_opt(&stmt, &[]).await.map_err(pg)?;
                Ok(row.map_or(0, |r| to_u64(r.get(0))))
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
        self.db
            .bounded(async {
                let c = self.db.client_for(durability).await?;
                c.execute(
                    &c.prepare_cached(
                        "INSERT INTO ahdapa_state (kind, key, value, uses, note, expires_at)
                     VALUES ($1, $2, $3, 0, '\\x', $4)
                     ON CONFLICT (kind, key) DO UPDATE
                     SET value = EXCLUDED.value, uses = 0, note = '\\x',
                         expires_at = EXCLUDED.expires_at",
                    )
                    .await
                    .map_err(pg)?,
                    &[&kind, &key, &value, &to_i64(expires_at)],
                )
                .await
                .map_err(pg)
            })
            .await
            .map(|_| ())
    }

    async fn state(
        &self,
        kind: &str,
        key: &[u8],
        now: u64,
    ) -> Result<Option<StateRecord>, StoreError> {
        self.db
            .bounded(async {
                let c = self.db.client().await?;
                let row = c
                    .query_opt(
                        &c.prepare_cached(
                            "SELECT value, uses, expires_at, note FROM ahdapa_state
                         WHERE kind = $1 AND key = $2 AND expires_at > $3",
                        )
                        .await
                        .map_err(pg)?,
                        &[&kind, &key, &to_i64(now)],
                    )
                    .await
                    .map_err(pg)?;
                Ok(row.map(|r| state_record(&r)))
            })
            .await
    }

    async fn any_state(&self, kind: &str, keys: &[Vec<u8>], now: u64) -> Result<bool, StoreError> {
        self.db
            .bounded(async {
                let c = self.db.client().await?;
                let row = c
                    .query_opt(
                        &c.prepare_cached(
                            "SELECT 1 FROM ahdapa_state
                         WHERE kind = $1 AND key = ANY($2) AND expires_at > $3 LIMIT 1",
                        )
                        .await
                        .map_err(pg)?,
                        &[&kind, &keys, &to_i64(now)],
                    )
                    .await
                    .map_err(pg)?;
                Ok(row.is_some())
            })
            .await
    }

    async fn use_state(
        &self,
        kind: &str,
        key: &[u8],
        now: u64,
        note: &[u8],
        durability: Durability,
    ) -> Result<Option<StateRecord>, StoreError> {
        // One UPDATE: the row lock serialises racing nodes, so exactly one sees 0, and
        // every later use sees the first one's note.
        self.db
            .bounded(async {
                let c = self.db.client_for(durability).await?;
                let row = c
                    .query_opt(
                        &c.prepare_cached(
                            "UPDATE ahdapa_state SET uses = uses + 1,
                                note = CASE WHEN uses = 0 THEN $4 ELSE note END
                         WHERE kind = $1 AND key = $2 AND expires_at > $3
                         RETURNING value, uses - 1, expires_at, note",
                        )
                        .await
                        .map_err(pg)?,
                        &[&kind, &key, &to_i64(now), &note],
                    )
                    .await
                    .map_err(pg)?;
                Ok(row.map(|r| state_record(&r)))
            })
            .await
    }

    async fn delete_state(&self, kind: &str, key: &[u8]) -> Result<bool, StoreError> {
        self.db
            .bounded(async {
                let c = self.db.client().await?;
                c.execute(
                    &c.prepare_cached("DELETE FROM ahdapa_state WHERE kind = $1 AND key = $2")
                        .await
                        .map_err(pg)?,
                    &[&kind, &key],
                )
                .await
                .map_err(pg)
            })
            .await
            .map(|n| n > 0)
    }

    async fn is_recorded(&self, namespace: &str, key: &[u8], now: u64) -> Result<bool, StoreError> {
        self.db.bounded(async {
            let c = self.db.client().await?;
            let stmt = c
                .prepare_cached(
                    "SELECT 1 FROM ahdapa_replay WHERE namespace = $1 AND key = $2 AND expires_at > $3",
                )
                .await
                .map_err(pg)?;
            let row = c
                .query_opt(&stmt, &[&namespace, &key, &to_i64(now)])
                .await
                .map_err(pg)?;
            Ok(row.is_some())
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
            // On a pool connection, with the database's full durability.
            return self
                .db
                .bounded(async {
                    let c = self.db.client().await?;
                    let first =
                        upsert_replay(&c, &[namespace], &[key], &[to_i64(expires_at)], to_i64(now))
                            .await?;
                    Ok(!first.is_empty())
                })
                .await;
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let stopped = || StoreError::Backend("the replay record writer has stopped".into());
        self.records
            .send(Record {
                namespace: namespace.to_owned(),
                key: key.to_vec(),
                expires_at: to_i64(expires_at),
                now: to_i64(now),
                reply,
            })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://ahdapa:s3cret@db.example.com:5432/ahdapa"),
            "postgres://ahdapa:***@db.example.com:5432/ahdapa"
        );
        assert_eq!(
            redact_url("postgres://ahdapa@db/ahdapa"),
            "postgres://ahdapa@db/ahdapa"
        );
    }
}
