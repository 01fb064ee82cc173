//! Group commit for SQLite state writes: writes submitted while a commit is under way
//! wait, and the next commit takes all of them in one transaction — one fsync for a
//! burst of refresh-token rotations instead of one each. Every write answers only
//! after its transaction committed (an error of the commit is every write's error), so
//! a durable write is as durable as it was alone. Writes in one group see each other,
//! in submission order.
//!
//! The writer is the request that finds none at work: for a connection that fsyncs it
//! runs the groups on the blocking pool until none is waiting, so no async worker blocks
//! on an fsync; for one that does not, it writes the waiting group on its own thread
//! (a short write) and leaves later groups to a task.

use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Transaction};

use super::StoreError;

/// What answers a write once its group's commit is known.
type Finish = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A write: runs its statements in the group's transaction.
type Job = Box<dyn FnOnce(&Transaction<'_>) -> Finish + Send>;

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    writing: bool,
}

/// A connection with a group-commit queue.
#[derive(Clone)]
pub struct GroupWriter {
    conn: Arc<Mutex<Connection>>,
    queue: Arc<Mutex<Queue>>,
    /// The commits do not fsync (`synchronous = NORMAL`): the leader writes its group
    /// on its own worker thread, without a hop to the blocking pool.
    inline: bool,
}

impl GroupWriter {
    /// A writer on `conn`; `inline` for a connection whose commits do not fsync.
    pub fn new(conn: Arc<Mutex<Connection>>, inline: bool) -> Self {
        Self {
            conn,
            queue: Arc::default(),
            inline,
        }
    }

    /// Runs `write` in the next group's transaction; its result once that committed.
    pub async fn submit<T, F>(&self, write: F) -> Result<T, StoreError>
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
            !std::mem::replace(&mut q.writing, true)
        };
        if lead && self.inline {
            // The group waiting, this write's included, now; later groups by a task, so
            // no request keeps writing for others.
            if let Some(group) = next_group(&self.queue) {
                write_group(&self.conn, group);
            }
            if let Some(group) = next_group(&self.queue) {
                let (conn, queue) = (Arc::clone(&self.conn), Arc::clone(&self.queue));
                tokio::spawn(async move {
                    let mut group = group;
                    loop {
                        write_group(&conn, group);
                        tokio::task::yield_now().await;
                        match next_group(&queue) {
                            Some(next) => group = next,
                            None => break,
                        }
                    }
                });
            }
        } else if lead {
            let (conn, queue) = (Arc::clone(&self.conn), Arc::clone(&self.queue));
            tokio::task::spawn_blocking(move || {
                while let Some(group) = next_group(&queue) {
                    write_group(&conn, group);
                }
            });
        }
        answer
            .await
            .map_err(|_| StoreError::Backend("the write was dropped unwritten".into()))?
    }
}

/// Every job waiting; `None`, and the writer's turn ends, when none is.
fn next_group(queue: &Mutex<Queue>) -> Option<Vec<Job>> {
    let mut q = queue.lock().ok()?;
    if q.jobs.is_empty() {
        q.writing = false;
        return None;
    }
    Some(std::mem::take(&mut q.jobs))
}

/// Runs a group in one transaction, then answers each job with the commit's outcome.
fn write_group(conn: &Mutex<Connection>, group: Vec<Job>) {
    // A poisoned lock or a failed BEGIN: nothing ran, and dropping the jobs drops their
    // replies, which each caller reports as unwritten.
    let Ok(mut guard) = conn.lock() else {
        return;
    };
    let tx = match guard.transaction() {
        Ok(tx) => tx,
        Err(e) => {
            log::warn!(reason = e.to_string().as_str(); "store: cannot begin a write transaction");
            return;
        }
    };
    let finishes: Vec<Finish> = group.into_iter().map(|job| job(&tx)).collect();
    let outcome = tx.commit().map_err(|e| e.to_string());
    for finish in finishes {
        finish(outcome.clone());
    }
}
