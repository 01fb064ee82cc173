//! The replay writer: single-use records (assertion and DPoP `jti`s, AP-REQ digests)
//! written in groups with `synchronous_commit = off`, one statement and one commit per
//! group ([`Durability::Relaxed`](crate::store::Durability::Relaxed)).

use super::{Db, Record, StoreError, pg};

/// Records replay keys with one statement: each is inserted, or replaces an expired
/// record, and is returned (a first use); a live record is not (a replay). The keys must
/// be distinct. `now` decides expiry for all of them.
pub(super) async fn upsert_replay(
    c: &deadpool_postgres::ClientWrapper,
    namespaces: &[&str],
    keys: &[&[u8]],
    expiries: &[i64],
    now: i64,
) -> Result<std::collections::HashSet<(String, Vec<u8>)>, StoreError> {
    let stmt = c
        .prepare_cached(
            "INSERT INTO ahdapa_replay (namespace, key, expires_at)
             SELECT * FROM unnest($1::text[], $2::bytea[], $3::bigint[])
             ON CONFLICT (namespace, key) DO UPDATE SET expires_at = EXCLUDED.expires_at
             WHERE ahdapa_replay.expires_at <= $4
             RETURNING namespace, key",
        )
        .await
        .map_err(pg)?;
    let rows = c
        .query(&stmt, &[&namespaces, &keys, &expiries, &now])
        .await
        .map_err(pg)?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Records written by one statement at most.
const GROUP_MAX: usize = 256;

/// The replay writer task: takes every record waiting and writes them with one
/// statement, so a burst of proofs, assertions or AP-REQs costs one round trip and one
/// commit (one WAL flush) instead of one each. Records are sorted, so two nodes writing
/// overlapping groups lock rows in the same order and cannot deadlock; a key twice in
/// one group is first use once and a replay after. Ends when the last store clone is
/// dropped.
pub(super) async fn replay_writer(db: Db, mut queue: tokio::sync::mpsc::UnboundedReceiver<Record>) {
    let mut conn = None;
    while let Some(first) = queue.recv().await {
        let mut group = vec![first];
        while group.len() < GROUP_MAX {
            match queue.try_recv() {
                Ok(r) => group.push(r),
                Err(_) => break,
            }
        }
        group.sort_by(|a, b| (&a.namespace, &a.key).cmp(&(&b.namespace, &b.key)));
        let mut unique: Vec<&Record> = Vec::with_capacity(group.len());
        for r in &group {
            if unique
                .last()
                .is_none_or(|u| (&u.namespace, &u.key) != (&r.namespace, &r.key))
            {
                unique.push(r);
            }
        }
        let namespaces: Vec<&str> = unique.iter().map(|r| r.namespace.as_str()).collect();
        let keys: Vec<&[u8]> = unique.iter().map(|r| r.key.as_slice()).collect();
        let expiries: Vec<i64> = unique.iter().map(|r| r.expires_at).collect();
        // The earliest `now` of the group: a record expiring meanwhile stays a replay for
        // at most the time the group waited.
        let now = unique.iter().map(|r| r.now).min().unwrap_or(0);
        let outcome = db
            .bounded(async {
                let c = db.relaxed(&mut conn).await?;
                upsert_replay(c, &namespaces, &keys, &expiries, now).await
            })
            .await;
        if outcome.is_err() {
            conn = None; // a fresh connection for the next group
        }
        // Sorted: repeats of a key follow its first occurrence, which alone can win.
        let mut previous: Option<(String, Vec<u8>)> = None;
        for r in group {
            let id = (r.namespace, r.key);
            let result = match &outcome {
                Ok(first_uses) => Ok(previous.as_ref() != Some(&id) && first_uses.contains(&id)),
                Err(e) => Err(StoreError::Backend(e.to_string())),
            };
            previous = Some(id);
            let _ = r.reply.send(result);
        }
    }
}
