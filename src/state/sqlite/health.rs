//! How the store's writer is doing: whether it runs and commits, the writes it could not make,
//! and the journal's backlog. The store's readiness check and its metrics read it.

use std::time::{Duration, Instant};

use rusqlite::Connection;

/// Writes waiting longer than this for the writer to take them mean it is stuck (a commit waits
/// at most the busy timeout, 5 s, for a lock).
const STUCK_AFTER: Duration = Duration::from_secs(30);

/// How the writer is doing, as the store's readiness check and metrics read it.
#[derive(Debug, Clone, Default)]
pub struct WriterHealth {
    /// Commits and accepted-message log appends that failed since the start.
    pub write_errors: u64,
    /// Why the last commit failed; `None` once one succeeds.
    pub commit_failing: Option<String>,
    /// Why the last log append failed; `None` once one succeeds.
    pub append_failing: Option<String>,
    /// The writer thread has ended: nothing is committed any more.
    pub stopped: bool,
    /// When the writer last took writes to commit.
    pub last_batch: Option<Instant>,
    /// Accepted messages not answered yet, and the oldest one's receipt (ms since the epoch),
    /// counted at each purge.
    pub backlog: u64,
    pub oldest_received_ms: Option<i64>,
}

/// Runs its closure when dropped: marks the writer stopped when its thread ends, however it ends.
pub(super) struct OnDrop<F: FnMut()>(pub F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

impl WriterHealth {
    /// Passing while the writer runs, its last commit and log append succeeded, and writes that
    /// wait are taken; else why not. `waiting`: whether writes are queued now.
    pub fn check(&self, waiting: bool) -> Result<(), String> {
        if self.stopped {
            return Err("the store's writer has stopped: nothing is recorded".to_owned());
        }
        if let Some(problem) = self.commit_failing.as_ref().or(self.append_failing.as_ref()) {
            return Err(format!("the store cannot write: {problem}"));
        }
        if waiting && self.last_batch.is_some_and(|at| at.elapsed() > STUCK_AFTER) {
            return Err(format!("the store's writer has taken no writes for over {} s", STUCK_AFTER.as_secs()));
        }
        Ok(())
    }

    /// A commit went through (`None`) or did not, or a write in it failed (why).
    pub(super) fn write_failed(&mut self, problem: Option<String>) {
        if problem.is_some() {
            self.write_errors += 1;
        }
        self.commit_failing = problem;
    }

    pub(super) fn set_backlog(&mut self, counted: rusqlite::Result<(i64, Option<i64>)>) {
        if let Ok((count, oldest)) = counted {
            self.backlog = u64::try_from(count).unwrap_or(0);
            self.oldest_received_ms = oldest;
        }
    }
}

/// The journal's unanswered messages and the oldest one's receipt.
pub(super) fn count_backlog(conn: &Connection) -> rusqlite::Result<(i64, Option<i64>)> {
    conn.query_row("SELECT count(*), min(received_ms) FROM journal WHERE done_ms IS NULL", [], |row| {
        Ok((row.get(0)?, row.get(1)?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Retention, SqliteStore};

    #[tokio::test]
    async fn a_store_whose_log_cannot_be_written_fails_its_check_and_counts_the_error() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let retention = Retention { dedupe: Duration::from_secs(60), sends: Duration::from_secs(60) };
        let (store, _) = SqliteStore::open(dir.path(), retention).expect("opens");
        assert_eq!(store.health().0.check(false), Ok(()));
        store.fail_records();
        assert!(store.record("m1", String::new()).await.is_err(), "the disk is full");
        let (health, _) = store.health();
        assert_eq!(health.write_errors, 1);
        assert!(health.check(false).is_err_and(|why| why.contains("accepted-message log")), "{health:?}");
    }

    #[test]
    fn the_check_names_a_stopped_writer_a_failing_write_and_a_stuck_one() {
        let mut health = WriterHealth::default();
        assert_eq!(health.check(true), Ok(()));
        health.append_failing = Some("No space left on device".to_owned());
        assert!(health.check(false).is_err_and(|why| why.contains("No space left")));
        health.append_failing = None;
        health.last_batch = Instant::now().checked_sub(STUCK_AFTER * 2);
        assert_eq!(health.check(false), Ok(()), "idle: nothing waits");
        assert!(health.check(true).is_err_and(|why| why.contains("no writes for over 30 s")));
        health.stopped = true;
        assert!(health.check(false).is_err_and(|why| why.contains("stopped")));
    }
}
