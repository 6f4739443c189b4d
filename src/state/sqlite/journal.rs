//! The journal in the store of record: accepted messages and done marks appended to their log in
//! batches (see [`super::group_log`]), committed to SQLite behind it, and those not done read
//! back at start.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use rusqlite::{Transaction, params};

use super::accepted_log::{Accepted, Logged};
use super::writer::Write;
use super::{SqliteStore, StoreFailure};
use crate::clock::now_ms;

impl SqliteStore {
    /// Records an accepted message (the caller checked it is new) and returns its row. Once it
    /// returns, the message survives the process being killed: it is in the accepted-message
    /// log, written with the messages that arrived while the last append was under way (at once
    /// if none was), and it reaches the database with the next group commit.
    pub async fn record(&self, msg_id: &str, payload: String) -> Result<i64, StoreFailure> {
        let row = self.next_row.fetch_add(1, Ordering::Relaxed);
        let accepted = Accepted { row, received_ms: now_ms(), msg_id: msg_id.to_owned(), payload };
        self.log.append(Write::Record(accepted)).await.map_err(|problem| self.failure(problem))?;
        Ok(row)
    }

    /// Makes recording fail from now on, as on a full disk.
    #[cfg(test)]
    pub(crate) fn fail_records(&self) {
        self.log.fail_appends();
    }

    /// Marks a recorded message done: in the log with the next batch (at once if no append is
    /// under way), so a restart does not answer it again; in the database with the next commit.
    pub fn done(&self, row: i64) {
        self.log.mark_done(row, now_ms());
    }

    /// The recorded messages not done yet, oldest first: `(row, payload)`.
    pub async fn unfinished(&self) -> Result<Vec<(i64, String)>, StoreFailure> {
        self.read(|conn| {
            let mut statement = conn.prepare("SELECT row, payload FROM journal WHERE done_ms IS NULL ORDER BY row")?;
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect()
        })
        .await
    }
}

/// Writes an accepted message into the journal (a replayed one may be there already).
pub(super) fn insert_accepted(
    tx: &Transaction<'_>,
    accepted: &Accepted,
    done_ms: Option<i64>,
) -> rusqlite::Result<usize> {
    let payload = if done_ms.is_some() { "" } else { accepted.payload.as_str() };
    tx.prepare_cached(
        "INSERT OR IGNORE INTO journal (row, msg_id, payload, received_ms, done_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![accepted.row, accepted.msg_id, payload, accepted.received_ms, done_ms])
}

/// Folds what the log files held into the journal (the accepted messages, then the done marks);
/// how many accepted messages it lacked.
pub(super) fn keep_logged(tx: &Transaction<'_>, logged: &Logged) -> rusqlite::Result<usize> {
    let done: HashMap<i64, i64> = logged.done.iter().copied().collect();
    let mut added = 0;
    for accepted in &logged.accepted {
        added += insert_accepted(tx, accepted, done.get(&accepted.row).copied())?;
    }
    for (row, at_ms) in &logged.done {
        tx.prepare_cached("UPDATE journal SET done_ms = ?2, payload = '' WHERE row = ?1 AND done_ms IS NULL")?
            .execute(params![row, at_ms])?;
    }
    Ok(added)
}
