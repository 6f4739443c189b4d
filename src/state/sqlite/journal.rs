//! The journal in the store of record: accepted messages appended to their log on the calling
//! thread (see [`super::accepted_log`]), marked done with the next group commit, and those not
//! done read back at start.

use std::sync::PoisonError;
use std::sync::atomic::Ordering;

use super::accepted_log::Accepted;
use super::writer::Write;
use super::{SqliteStore, StoreFailure};
use crate::clock::now_ms;

impl SqliteStore {
    /// Records an accepted message (the caller checked it is new) and returns its row. Once it
    /// returns, the message survives the process being killed: it is in the accepted-message
    /// log, one `write` to the page cache, made on the calling thread (a few microseconds), and
    /// it reaches the database with the next group commit.
    pub fn record(&self, msg_id: &str, payload: String) -> Result<i64, StoreFailure> {
        let mut pending = self.lazy.lock().unwrap_or_else(PoisonError::into_inner);
        let row = self.next_row.fetch_add(1, Ordering::Relaxed);
        let accepted = Accepted { row, received_ms: now_ms(), msg_id: msg_id.to_owned(), payload };
        if let Err(err) = pending.log.append(&accepted) {
            pending.health.write_errors += 1;
            pending.health.append_failing = Some(format!("its accepted-message log: {err}"));
            return Err(self.failure(format!("its accepted-message log: {err}")));
        }
        pending.health.append_failing = None;
        pending.writes.push(Write::Record(accepted));
        self.wake_if_full(pending.writes.len());
        Ok(row)
    }

    /// Makes recording fail from now on, as on a full disk.
    #[cfg(test)]
    pub(crate) fn fail_records(&self) {
        self.lazy.lock().unwrap_or_else(PoisonError::into_inner).log.fail_appends().expect("/dev/full opens");
    }

    /// Marks a recorded message done (committed with the next batch).
    pub fn done(&self, row: i64) {
        self.write_later(Write::Done { row, at_ms: now_ms() });
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
