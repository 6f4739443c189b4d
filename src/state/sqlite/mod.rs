//! The store of record on this machine: one SQLite database (WAL) in `DINGMEET_DATA_DIR`, its
//! schema migrated at start, written by one thread that commits whatever queued up meanwhile in
//! one transaction (a group commit), read through a second connection off the async runtime,
//! and checkpointed by a third thread, so no commit waits for a checkpoint's `fsync`. Accepted
//! messages are appended to a log file of their own before they are acknowledged
//! ([`accepted_log`]), and reach the database with the next group commit. Each view's reads and
//! writes are in a file of their own (`journal`, `settings`, `send_log`, `records`); this one
//! opens the store and holds what they share. `backup` copies it while it runs.
//!
//! SQLite rather than a pure-Rust store (redb): the file opens in the `sqlite3` shell for a look
//! or a `.backup` while the bot runs, and a schema with migrations fits what is kept (rows
//! found by more than one key: pending journal entries, jobs by due time).

mod accepted_log;
mod backup;
mod group_log;
mod health;
mod journal;
mod records;
mod schema;
mod send_log;
mod settings;
mod writer;

pub use health::WriterHealth;

use std::path::Path;
use std::sync::atomic::AtomicI64;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use self::accepted_log::{AcceptedLog, Logged};
pub use self::backup::{BackedUp, BackupError, backup};
use self::group_log::GroupLog;
pub use self::schema::StoreError;
use self::schema::{check, classify, create_dir, lock, migrate, open_connection};
use self::writer::{Lazy, Reply, WAKE_AT, Write};
use prometheus_client::metrics::histogram::Histogram;

/// The page cache of the connections that do not write the journal, in KiB (SQLite's
/// negative `cache_size`).
const SMALL_CACHE_KIB: i64 = -256;

/// The database's file name inside the data directory.
pub const DATABASE_FILE: &str = "dingmeet.sqlite3";

/// A read or write that failed after the store opened (disk full, I/O error).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the store {path}: {problem}")]
pub struct StoreFailure {
    path: Arc<str>,
    problem: String,
}

/// How long what the store keeps for a while is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Ids of answered messages (duplicate detection).
    pub dedupe: Duration,
    /// Sent replies (the rate limit's window).
    pub sends: Duration,
}

/// What the store held at start, for the in-memory side to begin from.
#[derive(Debug, Default)]
pub struct Loaded {
    /// `(scope, name, value)`.
    pub settings: Vec<(String, String, String)>,
    /// `(conversation, sent at, ms since the epoch)`, oldest first, within the window.
    pub sends: Vec<(String, i64)>,
    /// The `msgId`s recorded within the dedupe window.
    pub seen: Vec<String>,
}

/// The SQLite store. Cheap to clone; clones share the database.
#[derive(Clone)]
pub struct SqliteStore {
    path: Arc<str>,
    writes: mpsc::Sender<Write>,
    /// Writes nobody waits for, taken by the writer's next commit.
    lazy: Lazy,
    /// The accepted-message log, written in batches.
    log: Arc<GroupLog>,
    /// The journal row the next accepted message gets.
    next_row: Arc<AtomicI64>,
    reader: Arc<Mutex<Connection>>,
    /// Held open for the lock it holds; released when the last clone goes.
    _lock: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SqliteStore").field(&self.path).finish()
    }
}

use crate::clock::now_ms;

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir`, migrates its schema and starts its writer.
    /// Blocks: call it off the async runtime.
    pub fn open(dir: &Path, retention: Retention) -> Result<(Self, Loaded), StoreError> {
        create_dir(dir)?;
        let file = dir.join(DATABASE_FILE);
        let path = file.display().to_string();
        let lock = lock(dir)?;
        let mut conn = open_connection(&file, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)
            .map_err(|err| classify(&path, &err))?;
        check(&conn, &path)?;
        migrate(&mut conn, &path)?;
        let log_failure = |err: std::io::Error| StoreError::Open {
            path: dir.display().to_string(),
            problem: format!("its accepted-message log: {err}"),
        };
        let replayed = accepted_log::replay(dir).map_err(log_failure)?;
        let next_row = keep_replayed(&mut conn, &replayed).map_err(|err| classify(&path, &err))?;
        if !replayed.is_empty() {
            tracing::info!(
                store = path,
                messages = replayed.accepted.len(),
                done = replayed.done.len(),
                "accepted messages and done marks replayed from the log"
            );
        }
        let log = AcceptedLog::open(dir).map_err(log_failure)?;
        let reader = open_connection(&file, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|err| classify(&path, &err))?;
        let loaded = load(&reader, retention).map_err(|err| classify(&path, &err))?;
        // The writer never checkpoints: the checkpointer does, on its own connection.
        conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(|err| classify(&path, &err))?;
        let checkpointer =
            open_connection(&file, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(|err| classify(&path, &err))?;
        // The reader answers a few small lookups and the checkpointer copies pages through: the
        // default 2 MiB page cache each only added to the bot's peak memory under load.
        for side in [&reader, &checkpointer] {
            side.pragma_update(None, "cache_size", SMALL_CACHE_KIB).map_err(|err| classify(&path, &err))?;
        }
        let files = Arc::new(Mutex::new(log));
        let (writes, lazy) = writer::start(conn, checkpointer, Arc::clone(&files), retention).map_err(|err| {
            StoreError::Open { path: path.clone(), problem: format!("no thread for its writer: {err}") }
        })?;
        let log = Arc::new(GroupLog::new(files, Arc::clone(&lazy), writes.clone()));
        let store = Self {
            path: path.into(),
            writes,
            lazy,
            log,
            next_row: Arc::new(AtomicI64::new(next_row)),
            reader: Arc::new(Mutex::new(reader)),
            _lock: Arc::new(Mutex::new(lock)),
        };
        Ok((store, loaded))
    }

    /// The database file.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Counts the records (accepted messages and done marks) of each append to the
    /// accepted-message log into `histogram`: the batch sizes of its group commit.
    pub fn observe_batches(&self, histogram: Histogram) {
        self.log.observe_batches(histogram);
    }

    /// How its writer is doing; [`WriterHealth::check`] with whether writes wait is its check.
    pub fn health(&self) -> (WriterHealth, bool) {
        let pending = self.lazy.lock().unwrap_or_else(PoisonError::into_inner);
        (pending.health.clone(), !pending.writes.is_empty())
    }

    pub(super) fn failure(&self, problem: impl Into<String>) -> StoreFailure {
        StoreFailure { path: Arc::clone(&self.path), problem: problem.into() }
    }

    /// Queues a write and waits for its transaction to commit.
    async fn write<T>(&self, make: impl FnOnce(Reply<T>) -> Write) -> Result<T, StoreFailure> {
        let (reply, outcome) = oneshot::channel();
        self.writes.send(make(reply)).map_err(|_| self.failure("its writer stopped"))?;
        match outcome.await {
            Ok(result) => result.map_err(|problem| self.failure(problem)),
            Err(_) => Err(self.failure("its writer stopped")),
        }
    }

    /// Queues a write nobody waits for: it commits with the next batch, within [`writer::LAZY_WITHIN`].
    fn write_later(&self, write: Write) {
        let mut pending = self.lazy.lock().unwrap_or_else(PoisonError::into_inner);
        pending.writes.push(write);
        self.wake_if_full(pending.writes.len());
    }

    fn wake_if_full(&self, waiting: usize) {
        if waiting == WAKE_AT {
            let _ = self.writes.send(Write::Wake);
        }
    }

    /// Runs a read on the read connection, off the async runtime.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreFailure> {
        let reader = Arc::clone(&self.reader);
        let result = tokio::task::spawn_blocking(move || read(&reader.lock().unwrap_or_else(PoisonError::into_inner)))
            .await
            .map_err(|err| self.failure(format!("a read did not finish: {err}")))?;
        result.map_err(|err| self.failure(err.to_string()))
    }

    /// Waits until every write queued before it is committed.
    pub async fn flush(&self) -> Result<(), StoreFailure> {
        self.write(|reply| Write::Flush { reply }).await
    }
}

fn load(conn: &Connection, retention: Retention) -> rusqlite::Result<Loaded> {
    let mut settings = conn.prepare("SELECT scope, name, value FROM settings")?;
    let settings =
        settings.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?.collect::<Result<_, _>>()?;
    let since = now_ms().saturating_sub(millis(retention.sends));
    let mut sends = conn.prepare("SELECT conversation, at_ms FROM sends WHERE at_ms > ?1 ORDER BY at_ms")?;
    let sends = sends.query_map([since], |row| Ok((row.get(0)?, row.get(1)?)))?.collect::<Result<_, _>>()?;
    let since = now_ms().saturating_sub(millis(retention.dedupe));
    let mut seen = conn.prepare("SELECT msg_id FROM journal WHERE received_ms > ?1")?;
    let seen = seen.query_map([since], |row| row.get(0))?.collect::<Result<_, _>>()?;
    Ok(Loaded { settings, sends, seen })
}

/// Commits what the accepted-message log held at start (what the last process acknowledged
/// and had not committed yet), and says the row the next message gets.
fn keep_replayed(conn: &mut Connection, replayed: &Logged) -> rusqlite::Result<i64> {
    let tx = conn.transaction()?;
    journal::keep_logged(&tx, replayed)?;
    let newest: i64 = tx.query_row("SELECT coalesce(max(row), 0) FROM journal", [], |row| row.get(0))?;
    tx.commit()?;
    if !replayed.is_empty() {
        // On disk before the log is emptied, even across a power cut: once, at start.
        conn.query_row("PRAGMA wal_checkpoint(FULL)", [], |_| Ok(()))?;
    }
    Ok(newest + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::sqlite::accepted_log::Accepted;

    const RETENTION: Retention = Retention { dedupe: Duration::from_secs(600), sends: Duration::from_secs(60) };

    pub(super) fn open(dir: &Path) -> (SqliteStore, Loaded) {
        SqliteStore::open(dir, RETENTION).expect("the store opens")
    }

    #[tokio::test]
    async fn what_is_written_is_there_after_a_reopen() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (store, loaded) = open(dir.path());
        assert!(loaded.settings.is_empty());
        let row = store.record("m1", "{}".to_owned()).await.expect("recorded");
        store.record("m2", "two".to_owned()).await.expect("recorded");
        store.set_setting("cid", "lang", Some("en")).await.expect("set");
        store.set_setting("cid", "gone", Some("x")).await.expect("set");
        store.set_setting("cid", "gone", None).await.expect("cleared");
        store.record_send("cid");
        store.done(row);
        store.flush().await.expect("flushed");
        assert_eq!(store.unfinished().await.expect("read").into_iter().map(|(_, p)| p).collect::<Vec<_>>(), ["two"]);
        drop(store);

        let (store, loaded) = open(dir.path());
        assert_eq!(loaded.settings, [("cid".to_owned(), "lang".to_owned(), "en".to_owned())]);
        assert_eq!(loaded.sends.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(), ["cid"]);
        assert_eq!(loaded.seen, ["m1", "m2"], "answered or not, both ids are remembered");
        assert_eq!(store.setting("cid", "lang").await.expect("read").as_deref(), Some("en"));
        assert_eq!(store.unfinished().await.expect("read").len(), 1);
        assert!(store.record("m3", String::new()).await.expect("recorded") > row + 1, "rows are not reused");
    }

    #[tokio::test]
    async fn an_accepted_message_not_yet_committed_is_replayed_from_its_log_at_the_next_open() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (store, _) = open(dir.path());
        let answered = store.record("m1", "one".to_owned()).await.expect("recorded");
        store.done(answered);
        store.flush().await.expect("flushed");
        drop(store);
        // What a process killed right after acknowledging m2 leaves: m2 in the log only.
        let mut log = AcceptedLog::open(dir.path()).expect("opens");
        let unanswered = answered + 1;
        log.append_accepted(&Accepted {
            row: unanswered,
            received_ms: now_ms(),
            msg_id: "m2".into(),
            payload: "two".into(),
        })
        .expect("appended");
        drop(log);

        let (store, loaded) = open(dir.path());
        assert_eq!(loaded.seen, ["m1", "m2"]);
        assert_eq!(store.unfinished().await.expect("read"), [(unanswered, "two".to_owned())]);
        assert!(accepted_log::replay(dir.path()).expect("read").is_empty(), "kept, so the log is emptied");
        assert!(store.record("m3", String::new()).await.expect("recorded") > unanswered, "rows are not reused");
    }

    #[tokio::test]
    async fn a_done_mark_in_the_log_keeps_its_message_from_being_answered_again_after_a_kill() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (store, _) = open(dir.path());
        let committed = store.record("m1", "one".to_owned()).await.expect("recorded");
        store.flush().await.expect("flushed");
        drop(store);
        // What a process killed right after replying leaves: done marks in the log, one for a
        // row already committed, one for a row only the log holds; and one message unanswered.
        let mut log = AcceptedLog::open(dir.path()).expect("opens");
        let record = |row: i64, msg_id: &str| Accepted {
            row,
            received_ms: now_ms(),
            msg_id: msg_id.into(),
            payload: msg_id.into(),
        };
        log.append_accepted(&record(committed + 1, "m2")).expect("appended");
        log.append_accepted(&record(committed + 2, "m3")).expect("appended");
        let mut marks = Vec::new();
        accepted_log::encode_done(committed, now_ms(), &mut marks);
        accepted_log::encode_done(committed + 1, now_ms(), &mut marks);
        log.append(&marks).expect("appended");
        drop(log);

        let (store, loaded) = open(dir.path());
        assert_eq!(loaded.seen, ["m1", "m2", "m3"]);
        assert_eq!(store.unfinished().await.expect("read"), [(committed + 2, "m3".to_owned())]);
        // And a done mark is in the log (or already committed) once `done` returns.
        store.done(committed + 2);
        let logged = accepted_log::replay(dir.path()).expect("read");
        assert!(
            logged.done.iter().any(|(row, _)| *row == committed + 2)
                || store.unfinished().await.expect("read").is_empty()
        );
    }
}
