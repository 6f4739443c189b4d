//! The database's file and schema: the directory and its lock, the connections' settings, the
//! checks and migrations at open, and the errors that name what to do when it cannot be used.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::DATABASE_FILE;

/// Held (an exclusive SQLite lock) for as long as a process uses the directory: two bots on one
/// directory would both finish the same journal.
const LOCK_FILE: &str = "dingmeet.lock";
/// `PRAGMA application_id`: "ding", so another program's database is not taken for ours.
const APPLICATION_ID: i64 = 0x6469_6e67;

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

/// Creates the directory (and its parents) with mode 0700 if missing; an existing one is used
/// as it is.
pub(super) fn create_dir(dir: &Path) -> Result<(), StoreError> {
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
pub(super) fn lock(dir: &Path) -> Result<Connection, StoreError> {
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

pub(super) fn open_connection(file: &PathBuf, flags: OpenFlags) -> rusqlite::Result<Connection> {
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
pub(super) fn check(conn: &Connection, path: &str) -> Result<(), StoreError> {
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
pub(super) fn migrate(conn: &mut Connection, path: &str) -> Result<(), StoreError> {
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
pub(super) fn classify(path: &str, err: &rusqlite::Error) -> StoreError {
    let (path, problem) = (path.to_owned(), err.to_string());
    match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt { path, problem },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::InUse { path },
        _ => StoreError::Open { path, problem },
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Loaded, Retention, SqliteStore};
    use super::*;

    const RETENTION: Retention = Retention { dedupe: Duration::from_secs(600), sends: Duration::from_secs(60) };

    fn open(dir: &Path) -> (SqliteStore, Loaded) {
        SqliteStore::open(dir, RETENTION).expect("the store opens")
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
