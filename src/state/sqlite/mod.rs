//! The store of record on this machine: one SQLite database (WAL) in `DINGMEET_DATA_DIR`, its
//! schema migrated at start, written by one thread that commits whatever queued up meanwhile in
//! one transaction (a group commit), read through a second connection off the async runtime,
//! and checkpointed by a third thread, so no commit waits for a checkpoint's `fsync`.
//!
//! SQLite rather than a pure-Rust store (redb): the file opens in the `sqlite3` shell for a look
//! or a `.backup` while the bot runs, and a schema with migrations fits what is kept (rows
//! found by more than one key: pending journal entries, jobs by due time).

mod schema;
mod writer;

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::oneshot;

pub use self::schema::StoreError;
use self::schema::{check, classify, create_dir, lock, migrate, open_connection};
use self::writer::{Reply, Write};

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
}

/// The SQLite store. Cheap to clone; clones share the database.
#[derive(Clone)]
pub struct SqliteStore {
    path: Arc<str>,
    writes: mpsc::Sender<Write>,
    /// Writes nobody waits for, taken by the writer's next commit.
    lazy: Arc<Mutex<Vec<Write>>>,
    reader: Arc<Mutex<Connection>>,
    /// Held open for the lock it holds; released when the last clone goes.
    _lock: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SqliteStore").field(&self.path).finish()
    }
}

/// Milliseconds since the Unix epoch, by the wall clock (what survives a restart).
pub(super) fn wall_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn now_ms() -> i64 {
    wall_ms(SystemTime::now())
}

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
        let reader = open_connection(&file, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|err| classify(&path, &err))?;
        let loaded = load(&reader, retention).map_err(|err| classify(&path, &err))?;
        // The writer never checkpoints: the checkpointer does, on its own connection.
        conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(|err| classify(&path, &err))?;
        let checkpointer =
            open_connection(&file, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(|err| classify(&path, &err))?;
        let (writes, lazy) = writer::start(conn, checkpointer, retention).map_err(|err| StoreError::Open {
            path: path.clone(),
            problem: format!("no thread for its writer: {err}"),
        })?;
        let store = Self {
            path: path.into(),
            writes,
            lazy,
            reader: Arc::new(Mutex::new(reader)),
            _lock: Arc::new(Mutex::new(lock)),
        };
        Ok((store, loaded))
    }

    /// The database file.
    pub fn path(&self) -> &str {
        &self.path
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
        self.lazy.lock().unwrap_or_else(PoisonError::into_inner).push(write);
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

    /// Records an accepted message: its row, or `None` if `msg_id` is already recorded (a
    /// redelivery). Returns once committed.
    pub async fn record(&self, msg_id: &str, payload: String) -> Result<Option<i64>, StoreFailure> {
        let (msg_id, at_ms) = (msg_id.to_owned(), now_ms());
        self.write(|reply| Write::Record { msg_id, payload, at_ms, reply }).await
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

    /// Sets (or with `None` removes) a setting; returns once committed.
    pub async fn set_setting(&self, scope: &str, name: &str, value: Option<&str>) -> Result<(), StoreFailure> {
        let (scope, name, value) = (scope.to_owned(), name.to_owned(), value.map(str::to_owned));
        self.write(|reply| Write::Setting { scope, name, value, reply }).await
    }

    pub async fn setting(&self, scope: &str, name: &str) -> Result<Option<String>, StoreFailure> {
        let (scope, name) = (scope.to_owned(), name.to_owned());
        self.read(move |conn| {
            conn.prepare_cached("SELECT value FROM settings WHERE scope = ?1 AND name = ?2")?
                .query_row(params![scope, name], |row| row.get(0))
                .optional()
        })
        .await
    }

    /// Counts a reply sent to `conversation` now (committed with the next batch).
    pub fn record_send(&self, conversation: &str) {
        self.write_later(Write::Send { conversation: conversation.to_owned(), at_ms: now_ms() });
    }

    pub async fn put_job(
        &self,
        kind: &'static str,
        key: &str,
        due: Option<SystemTime>,
        payload: String,
    ) -> Result<(), StoreFailure> {
        let (key, due_ms) = (key.to_owned(), due.map(wall_ms));
        self.write(|reply| Write::PutJob { kind, key, due_ms, payload, reply }).await
    }

    pub async fn remove_job(&self, kind: &'static str, key: &str) -> Result<bool, StoreFailure> {
        let key = key.to_owned();
        self.write(|reply| Write::RemoveJob { kind, key, reply }).await
    }

    pub async fn job(&self, kind: &'static str, key: &str) -> Result<Option<String>, StoreFailure> {
        let key = key.to_owned();
        self.read(move |conn| {
            conn.prepare_cached("SELECT payload FROM jobs WHERE kind = ?1 AND key = ?2")?
                .query_row(params![kind, key], |row| row.get(0))
                .optional()
        })
        .await
    }

    /// The jobs of `kind` due at or before `until`, soonest first: `(key, payload)`.
    pub async fn due_jobs(&self, kind: &'static str, until: SystemTime) -> Result<Vec<(String, String)>, StoreFailure> {
        let until = wall_ms(until);
        self.read(move |conn| {
            let mut statement = conn.prepare_cached(
                "SELECT key, payload FROM jobs WHERE kind = ?1 AND due_ms IS NOT NULL AND due_ms <= ?2 ORDER BY due_ms",
            )?;
            let rows = statement.query_map(params![kind, until], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect()
        })
        .await
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
    Ok(Loaded { settings, sends })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RETENTION: Retention = Retention { dedupe: Duration::from_secs(600), sends: Duration::from_secs(60) };

    fn open(dir: &Path) -> (SqliteStore, Loaded) {
        SqliteStore::open(dir, RETENTION).expect("the store opens")
    }

    #[tokio::test]
    async fn what_is_written_is_there_after_a_reopen() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (store, loaded) = open(dir.path());
        assert!(loaded.settings.is_empty());
        let row = store.record("m1", "{}".to_owned()).await.expect("recorded").expect("new");
        assert_eq!(store.record("m1", "{}".to_owned()).await.expect("recorded"), None, "a redelivery");
        store.record("m2", "two".to_owned()).await.expect("recorded").expect("new");
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
        assert_eq!(store.setting("cid", "lang").await.expect("read").as_deref(), Some("en"));
        assert_eq!(store.record("m1", "{}".to_owned()).await.expect("recorded"), None, "remembered when done");
        assert_eq!(store.unfinished().await.expect("read").len(), 1);
    }

    #[tokio::test]
    async fn concurrent_writers_are_committed_together_and_each_told_its_row() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (store, _) = open(dir.path());
        let writes = (0..200).map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.record(&format!("m{}", i % 100), String::new()).await })
        });
        let mut fresh = 0;
        for write in writes {
            fresh += usize::from(write.await.expect("task").expect("recorded").is_some());
        }
        assert_eq!(fresh, 100, "each id once");
    }

    #[tokio::test]
    async fn jobs_are_kept_by_kind_and_key_and_found_when_due() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (store, _) = open(dir.path());
        let now = SystemTime::now();
        store.put_job("reminder", "a", Some(now - Duration::from_secs(5)), "A".to_owned()).await.expect("put");
        store.put_job("reminder", "b", Some(now + Duration::from_secs(60)), "B".to_owned()).await.expect("put");
        store.put_job("card", "a", None, "card".to_owned()).await.expect("put");
        assert_eq!(store.due_jobs("reminder", now).await.expect("read"), [("a".to_owned(), "A".to_owned())]);
        assert_eq!(store.job("card", "a").await.expect("read").as_deref(), Some("card"));
        assert!(store.remove_job("reminder", "a").await.expect("removed"));
        assert!(!store.remove_job("reminder", "a").await.expect("removed"));
        assert!(store.due_jobs("reminder", now).await.expect("read").is_empty());
    }
}
