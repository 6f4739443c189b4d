//! The store of record on this machine: one SQLite database (WAL) in `DINGMEET_DATA_DIR`, its
//! schema migrated at start, written by one thread that commits whatever queued up meanwhile in
//! one transaction (a group commit), read through a second connection off the async runtime,
//! and checkpointed by a third thread, so no commit waits for a checkpoint's `fsync`.
//!
//! SQLite rather than a pure-Rust store (redb): the file opens in the `sqlite3` shell for a look
//! or a `.backup` while the bot runs, and a schema with migrations fits what is kept (rows
//! found by more than one key: pending journal entries, jobs by due time).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, params};
use tokio::sync::oneshot;

/// The database's file name inside the data directory.
pub const DATABASE_FILE: &str = "dingmeet.sqlite3";
/// Held (an exclusive SQLite lock) for as long as a process uses the directory: two bots on one
/// directory would both finish the same journal.
const LOCK_FILE: &str = "dingmeet.lock";
/// `PRAGMA application_id`: "ding", so another program's database is not taken for ours.
const APPLICATION_ID: i64 = 0x6469_6e67;
/// The most writes one transaction commits. The writer never waits to fill a batch: what queued
/// up while the last commit ran is the next batch, so an idle store commits at once and a busy
/// one commits many writes together. (Waiting even 1 ms for more halved the load benchmark's
/// throughput: each connection waits for its ack, so the wait is paid per request.)
const MAX_BATCH: usize = 1024;
/// How often the writer drops what is past its keeping time.
const PURGE_EVERY: Duration = Duration::from_secs(10);
/// Writes nobody waits for (a reply's done mark, a send) do not wake the writer: they join the
/// next commit, and an idle writer commits them after at most this long. Waking it for each
/// made every message two commits, two wake-ups and a checkpoint every few hundred messages
/// (`perf stat` on the load benchmark: 2.2 `pwrite`s and 1.2 futex calls per message). A crash
/// within this time after a reply answers that message once more at the next start.
const LAZY_WITHIN: Duration = Duration::from_millis(50);
/// The write-ahead log is checkpointed (on its own thread, `PASSIVE`: never in a commit's way)
/// after this many commits; SQLite's own would run it in the commit that crosses 1,000 pages.
const CHECKPOINT_EVERY_COMMITS: u32 = 200;

/// Each entry brings the schema from its position to the next version (`PRAGMA user_version`).
/// Append only: a released migration is never edited.
const MIGRATIONS: &[&str] = &["
    -- Accepted messages: recorded before the ack, done once answered (or finally refused).
    -- Done rows keep their id (not their payload) for the dedupe window. Rows are in the order
    -- they were recorded, so old ones go by row range; no index but the msgId's, so a message
    -- costs two B-tree updates on the way in and one on the way out.
    CREATE TABLE journal (
        row INTEGER PRIMARY KEY,
        msg_id TEXT NOT NULL UNIQUE,
        payload TEXT NOT NULL,
        received_ms INTEGER NOT NULL,
        done_ms INTEGER
    );
    -- Per-conversation settings (the language) and app-wide ones (the suite ticket).
    CREATE TABLE settings (
        scope TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (scope, name)
    ) WITHOUT ROWID;
    -- Replies sent, within the rate limit's window: a restart does not reset the count.
    CREATE TABLE sends (conversation TEXT NOT NULL, at_ms INTEGER NOT NULL);
    CREATE INDEX sends_at ON sends (at_ms);
    -- Scheduled work and registrations, by kind and key (live cards, reminders).
    CREATE TABLE jobs (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        due_ms INTEGER,
        payload TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    ) WITHOUT ROWID;
    CREATE INDEX jobs_due ON jobs (kind, due_ms) WHERE due_ms IS NOT NULL;
"];

/// Why the store could not be opened: one line naming the path, what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "DINGMEET_DATA_DIR {path}: cannot be created or used ({problem}): point DINGMEET_DATA_DIR at a directory \
         this user can write"
    )]
    Directory { path: String, problem: String },
    #[error(
        "the store {path} is in use by another dingmeet process: stop that one, or give this one its own \
         DINGMEET_DATA_DIR"
    )]
    InUse { path: String },
    #[error(
        "the store {path} is unreadable ({problem}): restore it from a backup, or move it (and its -wal file) \
         aside to start with an empty store"
    )]
    Corrupt { path: String, problem: String },
    #[error("the store {path} is not a dingmeet store (application id {found:#x}): point DINGMEET_DATA_DIR elsewhere")]
    Foreign { path: String, found: i64 },
    #[error(
        "the store {path} has schema version {found}, newer than this dingmeet knows ({known}): run the \
         dingmeet release that wrote it (or a newer one), or restore a backup taken before that upgrade"
    )]
    Newer { path: String, found: i64, known: i64 },
    #[error("the store {path} cannot be opened ({problem}): check its permissions and the free disk space")]
    Open { path: String, problem: String },
}

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

type Reply<T> = oneshot::Sender<Result<T, String>>;

enum Write {
    Record { msg_id: String, payload: String, at_ms: i64, reply: Reply<Option<i64>> },
    Done { row: i64, at_ms: i64 },
    Setting { scope: String, name: String, value: Option<String>, reply: Reply<()> },
    Send { conversation: String, at_ms: i64 },
    PutJob { kind: &'static str, key: String, due_ms: Option<i64>, payload: String, reply: Reply<()> },
    RemoveJob { kind: &'static str, key: String, reply: Reply<bool> },
    Flush { reply: Reply<()> },
}

/// What one write produced.
enum Outcome {
    Row(Option<i64>),
    Removed(bool),
    Nothing,
}

impl Write {
    fn apply(&self, tx: &Transaction<'_>) -> rusqlite::Result<Outcome> {
        match self {
            Self::Record { msg_id, payload, at_ms, .. } => {
                let inserted = tx
                    .prepare_cached(
                        "INSERT INTO journal (msg_id, payload, received_ms) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (msg_id) DO NOTHING",
                    )?
                    .execute(params![msg_id, payload, at_ms])?;
                Ok(Outcome::Row((inserted == 1).then(|| tx.last_insert_rowid())))
            }
            Self::Done { row, at_ms } => {
                tx.prepare_cached("UPDATE journal SET done_ms = ?2, payload = '' WHERE row = ?1")?
                    .execute(params![row, at_ms])?;
                Ok(Outcome::Nothing)
            }
            Self::Setting { scope, name, value: Some(value), .. } => {
                tx.prepare_cached(
                    "INSERT INTO settings (scope, name, value) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (scope, name) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![scope, name, value])?;
                Ok(Outcome::Nothing)
            }
            Self::Setting { scope, name, value: None, .. } => {
                tx.prepare_cached("DELETE FROM settings WHERE scope = ?1 AND name = ?2")?
                    .execute(params![scope, name])?;
                Ok(Outcome::Nothing)
            }
            Self::Send { conversation, at_ms } => {
                tx.prepare_cached("INSERT INTO sends (conversation, at_ms) VALUES (?1, ?2)")?
                    .execute(params![conversation, at_ms])?;
                Ok(Outcome::Nothing)
            }
            Self::PutJob { kind, key, due_ms, payload, .. } => {
                tx.prepare_cached(
                    "INSERT INTO jobs (kind, key, due_ms, payload) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (kind, key) DO UPDATE SET due_ms = excluded.due_ms, payload = excluded.payload",
                )?
                .execute(params![kind, key, due_ms, payload])?;
                Ok(Outcome::Nothing)
            }
            Self::RemoveJob { kind, key, .. } => {
                let removed =
                    tx.prepare_cached("DELETE FROM jobs WHERE kind = ?1 AND key = ?2")?.execute(params![kind, key])?;
                Ok(Outcome::Removed(removed > 0))
            }
            Self::Flush { .. } => Ok(Outcome::Nothing),
        }
    }

    /// Tells the caller (if one waits) how its write went.
    fn answer(self, outcome: Result<Outcome, String>) {
        match self {
            Self::Record { reply, .. } => {
                let _ = reply.send(outcome.map(|o| if let Outcome::Row(row) = o { row } else { None }));
            }
            Self::Setting { reply, .. } | Self::PutJob { reply, .. } | Self::Flush { reply } => {
                let _ = reply.send(outcome.map(drop));
            }
            Self::RemoveJob { reply, .. } => {
                let _ = reply.send(outcome.map(|o| matches!(o, Outcome::Removed(true))));
            }
            Self::Done { .. } | Self::Send { .. } => {
                if let Err(problem) = outcome {
                    tracing::error!(%problem, "the store could not record a reply as sent");
                }
            }
        }
    }
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
        let (checkpoints, checkpoint_asked) = mpsc::sync_channel(1);
        let no_thread = |err: std::io::Error| StoreError::Open {
            path: path.clone(),
            problem: format!("no thread for its writer: {err}"),
        };
        std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || checkpoint_loop(&checkpointer, &checkpoint_asked))
            .map_err(no_thread)?;
        let (writes, queue) = mpsc::channel();
        let lazy = Arc::new(Mutex::new(Vec::new()));
        let writer = Writer { queue, lazy: Arc::clone(&lazy), checkpoints, retention };
        std::thread::Builder::new().name("store-writer".into()).spawn(move || writer.run(conn)).map_err(no_thread)?;
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

    /// Queues a write nobody waits for: it commits with the next batch, within [`LAZY_WITHIN`].
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

/// Creates the directory (and its parents) with mode 0700 if missing; an existing one is used
/// as it is.
fn create_dir(dir: &Path) -> Result<(), StoreError> {
    let problem =
        |err: std::io::Error| StoreError::Directory { path: dir.display().to_string(), problem: err.to_string() };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(problem)?;
    if !dir.is_dir() {
        return Err(StoreError::Directory { path: dir.display().to_string(), problem: "not a directory".to_owned() });
    }
    Ok(())
}

/// Takes the directory's lock: a small database of its own, held in exclusive locking mode.
fn lock(dir: &Path) -> Result<Connection, StoreError> {
    let file = dir.join(LOCK_FILE);
    let path = file.display().to_string();
    let conn = Connection::open_with_flags(&file, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)
        .map_err(|err| classify(&path, &err))?;
    let taken = conn
        .execute_batch(
            "PRAGMA locking_mode = EXCLUSIVE;
             BEGIN EXCLUSIVE;
             CREATE TABLE IF NOT EXISTS holder (pid INTEGER);
             COMMIT;",
        )
        .map_err(|err| classify(&dir.join(DATABASE_FILE).display().to_string(), &err));
    taken.map(|()| conn)
}

fn open_connection(file: &PathBuf, flags: OpenFlags) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(file, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    if !flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY) {
        // WAL: readers do not wait for the writer, and a commit is one append. NORMAL syncs at
        // checkpoints only: a killed process loses nothing, a power cut may lose the last commits.
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
    }
    Ok(conn)
}

/// Refuses a database that is damaged or is not ours.
fn check(conn: &Connection, path: &str) -> Result<(), StoreError> {
    let verdict: String =
        conn.query_row("PRAGMA quick_check", [], |row| row.get(0)).map_err(|err| classify(path, &err))?;
    if verdict != "ok" {
        return Err(StoreError::Corrupt { path: path.to_owned(), problem: format!("integrity check: {verdict}") });
    }
    let id: i64 = conn.query_row("PRAGMA application_id", [], |row| row.get(0)).map_err(|err| classify(path, &err))?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
        .map_err(|err| classify(path, &err))?;
    if id != APPLICATION_ID && (id != 0 || tables > 0) {
        return Err(StoreError::Foreign { path: path.to_owned(), found: id });
    }
    Ok(())
}

/// Brings the schema to the newest version this binary knows, one transaction per step.
fn migrate(conn: &mut Connection, path: &str) -> Result<(), StoreError> {
    let fail = |err: rusqlite::Error| classify(path, &err);
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(fail)?;
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if version > known {
        return Err(StoreError::Newer { path: path.to_owned(), found: version, known });
    }
    for (step, sql) in (version..).zip(MIGRATIONS.iter().skip(usize::try_from(version).unwrap_or(usize::MAX))) {
        let tx = conn.transaction().map_err(fail)?;
        tx.execute_batch(sql).map_err(fail)?;
        tx.pragma_update(None, "user_version", step + 1).map_err(fail)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(fail)?;
        tx.commit().map_err(fail)?;
        if version > 0 {
            tracing::info!(store = path, from = step, to = step + 1, "store schema migrated");
        }
    }
    Ok(())
}

/// Names what went wrong in terms an admin can act on.
fn classify(path: &str, err: &rusqlite::Error) -> StoreError {
    let (path, problem) = (path.to_owned(), err.to_string());
    match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt { path, problem },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::InUse { path },
        _ => StoreError::Open { path, problem },
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

/// The writer thread's side of the store.
struct Writer {
    queue: mpsc::Receiver<Write>,
    lazy: Arc<Mutex<Vec<Write>>>,
    checkpoints: mpsc::SyncSender<()>,
    retention: Retention,
}

impl Writer {
    /// Commits what queued up together until every sender is gone, then what is left.
    fn run(self, mut conn: Connection) {
        let mut purge = Purge::new(self.retention);
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut commits = 0u32;
        loop {
            let stopping = match self.queue.recv_timeout(LAZY_WITHIN) {
                Ok(first) => {
                    batch.push(first);
                    while batch.len() < MAX_BATCH
                        && let Ok(write) = self.queue.try_recv()
                    {
                        batch.push(write);
                    }
                    false
                }
                Err(RecvTimeoutError::Timeout) => false,
                Err(RecvTimeoutError::Disconnected) => true,
            };
            batch.append(&mut self.lazy.lock().unwrap_or_else(PoisonError::into_inner));
            if !batch.is_empty() {
                commit(&mut conn, &mut batch);
                commits += 1;
                if commits.is_multiple_of(CHECKPOINT_EVERY_COMMITS) {
                    // Full: a checkpoint is already asked for, and it covers these commits too.
                    let _ = self.checkpoints.try_send(());
                }
            }
            if stopping {
                break;
            }
            purge.maybe(&conn);
        }
    }
}

/// Copies the write-ahead log into the database when asked, without blocking the writer; ends
/// when the writer does.
fn checkpoint_loop(conn: &Connection, asked: &mpsc::Receiver<()>) {
    while asked.recv().is_ok() {
        if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(%err, "the store could not checkpoint its write-ahead log");
        }
    }
}

fn commit(conn: &mut Connection, batch: &mut Vec<Write>) {
    let outcomes = (|| {
        let tx = conn.transaction()?;
        let outcomes: Vec<_> = batch.iter().map(|write| write.apply(&tx).map_err(|err| err.to_string())).collect();
        tx.commit()?;
        Ok::<_, rusqlite::Error>(outcomes)
    })();
    match outcomes {
        Ok(outcomes) => batch.drain(..).zip(outcomes).for_each(|(write, outcome)| write.answer(outcome)),
        Err(err) => {
            let problem = format!("a write failed: {err}");
            tracing::error!(%problem, writes = batch.len(), "the store could not commit");
            batch.drain(..).for_each(|write| write.answer(Err(problem.clone())));
        }
    }
}

/// Drops what is past its keeping time, every [`PURGE_EVERY`]: journal rows by row range (the
/// newest row at each purge is remembered, and the done rows up to one remembered a dedupe
/// window ago go), sends by time.
struct Purge {
    retention: Retention,
    last: Instant,
    marks: std::collections::VecDeque<(Instant, i64)>,
}

impl Purge {
    fn new(retention: Retention) -> Self {
        Self { retention, last: Instant::now(), marks: std::collections::VecDeque::new() }
    }

    fn maybe(&mut self, conn: &Connection) {
        if self.last.elapsed() < PURGE_EVERY {
            return;
        }
        self.last = Instant::now();
        if let Err(err) = self.run(conn) {
            tracing::warn!(%err, "the store could not drop expired rows");
        }
    }

    fn run(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let newest: i64 = conn.query_row("SELECT coalesce(max(row), 0) FROM journal", [], |row| row.get(0))?;
        self.marks.push_back((self.last, newest));
        let mut upto = None;
        while let Some(&(at, row)) = self.marks.front()
            && self.last.saturating_duration_since(at) >= self.retention.dedupe
        {
            upto = Some(row);
            self.marks.pop_front();
        }
        if let Some(row) = upto {
            conn.prepare_cached("DELETE FROM journal WHERE row <= ?1 AND done_ms IS NOT NULL")?.execute([row])?;
        }
        let since = now_ms().saturating_sub(millis(self.retention.sends));
        conn.prepare_cached("DELETE FROM sends WHERE at_ms < ?1")?.execute([since])?;
        Ok(())
    }
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

    #[test]
    fn a_second_process_on_the_directory_is_refused() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (_store, _) = open(dir.path());
        let err = SqliteStore::open(dir.path(), RETENTION).expect_err("in use");
        assert!(matches!(err, StoreError::InUse { .. }), "{err}");
    }

    #[test]
    fn a_damaged_or_foreign_or_newer_store_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join(DATABASE_FILE), vec![0x5a; 8192]).expect("garbage");
        let err = SqliteStore::open(dir.path(), RETENTION).expect_err("corrupt");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("restore it from a backup"), "{err}");
        assert_eq!(std::fs::read(dir.path().join(DATABASE_FILE)).expect("kept"), vec![0x5a; 8192], "left as it was");

        let dir = tempfile::tempdir().expect("a temporary directory");
        let other = Connection::open(dir.path().join(DATABASE_FILE)).expect("a database");
        other.execute_batch("CREATE TABLE notes (text TEXT);").expect("a table");
        drop(other);
        let err = SqliteStore::open(dir.path(), RETENTION).expect_err("foreign");
        assert!(matches!(err, StoreError::Foreign { .. }), "{err}");

        let dir = tempfile::tempdir().expect("a temporary directory");
        drop(open(dir.path()));
        let newer = Connection::open(dir.path().join(DATABASE_FILE)).expect("the database");
        newer.pragma_update(None, "user_version", 99).expect("a newer version");
        drop(newer);
        let err = SqliteStore::open(dir.path(), RETENTION).expect_err("newer");
        assert!(err.to_string().contains("schema version 99, newer than this dingmeet knows (1)"), "{err}");
    }

    #[test]
    fn a_directory_that_cannot_be_made_names_the_path() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").expect("a file");
        let err = SqliteStore::open(&file.join("data"), RETENTION).expect_err("impossible");
        assert!(matches!(err, StoreError::Directory { .. }), "{err}");
        assert!(err.to_string().starts_with(&format!("DINGMEET_DATA_DIR {}", file.join("data").display())), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_new_directory_is_private_to_its_user() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let data = dir.path().join("nested").join("data");
        drop(open(&data));
        let mode = std::fs::metadata(&data).expect("made").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
