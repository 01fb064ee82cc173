//! Group commit for SQLite writes on the request path (replay records, state records):
//! writes submitted while a commit is under way wait, and the next commit takes all of
//! them in one transaction — one commit for a burst of proofs or refresh-token rotations
//! instead of one each. Every write answers only after its transaction committed (an
//! error of the commit is every write's error). Writes in one group see each other, in
//! submission order.
//!
//! One writer serves both durabilities, so a relaxed write never waits for SQLite's
//! write lock behind a durable commit of this process. A group with a durable write
//! commits with `synchronous = FULL` (fsynced before any answer), a group of relaxed
//! writes only with `synchronous = NORMAL` (WAL: safe against a crash of ahdapa, not of
//! the host). The writer is the request that finds none at work: a relaxed group it
//! writes on its own worker thread (a short write, no fsync); later groups a task
//! writes, durable ones (their fsync) on the blocking pool, so no async worker waits for
//! an fsync and no request keeps writing for others.

use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Transaction};

use super::{Durability, StoreError};

/// What answers a write once its group's commit is known.
type Finish = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A write: runs its statements in the group's transaction.
type Job = Box<dyn FnOnce(&Transaction<'_>) -> Finish + Send>;

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    durable: bool,
    writing: bool,
}

/// A connection with a group-commit queue.
#[derive(Clone)]
pub struct GroupWriter {
    conn: Arc<Mutex<Connection>>,
    queue: Arc<Mutex<Queue>>,
}

impl GroupWriter {
    /// A writer on `conn` (whose default is `synchronous = NORMAL`).
    pub fn new(conn: Arc<Mutex<Connection>>) -> Self {
        Self {
            conn,
            queue: Arc::default(),
        }
    }

    /// Runs `write` in the next group's transaction; its result once that committed with
    /// (at least) `durability`.
    pub async fn submit<T, F>(&self, durability: Durability, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |tx| {
            let result = write(tx);
            Box::new(move |commit: Result<(), String>| {
                let _ = reply.send(commit.map_err(StoreError::Backend).and(result));
            })
        });
        let lead = {
            let mut q = self
                .queue
                .lock()
                .map_err(|_| StoreError::Backend("write queue mutex poisoned".into()))?;
            q.jobs.push(job);
            q.durable |= durability == Durability::Durable;
            !std::mem::replace(&mut q.writing, true)
        };
        if lead {
            match next_group(&self.queue) {
                Some((group, false)) => {
                    write_group(&self.conn, group, false);
                    if let Some(next) = next_group(&self.queue) {
                        tokio::spawn(drain(Arc::clone(&self.conn), Arc::clone(&self.queue), next));
                    }
                }
                Some(first) => {
                    tokio::spawn(drain(
                        Arc::clone(&self.conn),
                        Arc::clone(&self.queue),
                        first,
                    ));
                }
                None => {}
            }
        }
        answer
            .await
            .map_err(|_| StoreError::Backend("the write was dropped unwritten".into()))?
    }
}

/// Writes `first` and every group after it until none is waiting: relaxed groups on
/// this task's thread; from the first durable group on (its fsync), everything on the
/// blocking pool, one hop for a run of durable groups.
async fn drain(conn: Arc<Mutex<Connection>>, queue: Arc<Mutex<Queue>>, first: (Vec<Job>, bool)) {
    let mut group = Some(first);
    while let Some((jobs, durable)) = group {
        if durable {
            // A failed task dropped its jobs' replies: their callers hear "unwritten".
            let _ = tokio::task::spawn_blocking(move || {
                write_group(&conn, jobs, true);
                while let Some((jobs, durable)) = next_group(&queue) {
                    write_group(&conn, jobs, durable);
                }
            })
            .await;
            return;
        }
        write_group(&conn, jobs, false);
        tokio::task::yield_now().await;
        group = next_group(&queue);
    }
}

/// Every job waiting and whether one is durable; `None`, and the writer's turn ends,
/// when none is.
fn next_group(queue: &Mutex<Queue>) -> Option<(Vec<Job>, bool)> {
    let mut q = queue.lock().ok()?;
    if q.jobs.is_empty() {
        q.writing = false;
        return None;
    }
    let durable = std::mem::take(&mut q.durable);
    Some((std::mem::take(&mut q.jobs), durable))
}

/// Runs a group in one transaction, then answers each job with the commit's outcome.
fn write_group(conn: &Mutex<Connection>, group: Vec<Job>, durable: bool) {
    // A poisoned lock or a failed BEGIN: nothing ran, and dropping the jobs drops their
    // replies, which each caller reports as unwritten.
    let Ok(mut guard) = conn.lock() else {
        return;
    };
    if durable && let Err(e) = guard.pragma_update(None, "synchronous", "FULL") {
        log::warn!(reason = e.to_string().as_str(); "store: cannot make a commit durable");
        return;
    }
    let outcome = match guard.transaction() {
        Ok(tx) => {
            let finishes: Vec<Finish> = group.into_iter().map(|job| job(&tx)).collect();
            let outcome = tx.commit().map_err(|e| e.to_string());
            for finish in finishes {
                finish(outcome.clone());
            }
            Ok(())
        }
        Err(e) => Err(e),
    };
    if let Err(e) = outcome {
        log::warn!(reason = e.to_string().as_str(); "store: cannot begin a write transaction");
    }
    if durable {
        let _ = guard.pragma_update(None, "synchronous", "NORMAL");
    }
}
