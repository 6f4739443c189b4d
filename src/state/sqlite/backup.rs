//! `dingmeet backup FILE`: a consistent copy of the store of record, taken while the bot runs,
//! by SQLite's online backup API on a read-only connection of its own (never the bot's lock or
//! its writer), with the messages the accepted-message logs hold folded in.
//!
//! Why the logs are read before the database is copied: a message acknowledged before the backup
//! starts is either still in a log file when that file is read, or was emptied from it, which the
//! writer does only after committing it, so it is in the database before the copy is taken. Read
//! the other way round, a message committed and emptied between the two reads would be missed.
//! What is acknowledged after the backup starts is not promised to be in it.
//!
//! The copy is written beside `FILE` and renamed onto it once checked, so `FILE` is never half a
//! store; it is a single file (rollback journal, no `-wal`), to be put back as
//! `DINGMEET_DATA_DIR/dingmeet.sqlite3` with the bot stopped.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::accepted_log::{self, Logged};
use super::schema::{StoreError, check};
use super::{DATABASE_FILE, journal};

/// How long the copy waits for the bot's writer before it gives up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause before a step the writer's lock turned away is tried again.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// What a backup copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackedUp {
    /// The database copied.
    pub source: PathBuf,
    /// The accepted messages only the logs held, now in the copy.
    pub folded_from_logs: usize,
    /// The copy's size in bytes.
    pub bytes: u64,
}

/// Why a backup could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "no store at {path}: point DINGMEET_DATA_DIR (or --data-dir) at the directory the bot keeps \
         dingmeet.sqlite3 in"
    )]
    NoStore { path: String },
    #[error("the store {path} could not be copied ({problem}): check its permissions and retry")]
    Copy { path: String, problem: String },
    #[error("the backup {path} could not be written ({problem}): check the directory and the free disk space")]
    Write { path: String, problem: String },
    #[error(transparent)]
    Unusable(#[from] StoreError),
}

/// Copies the store in `data_dir` to `target` (replacing it), with what the accepted-message
/// logs hold. Blocks: call it off the async runtime.
pub fn backup(data_dir: &Path, target: &Path) -> Result<BackedUp, BackupError> {
    let source = data_dir.join(DATABASE_FILE);
    let source_name = source.display().to_string();
    if !source.is_file() {
        return Err(BackupError::NoStore { path: source_name });
    }
    let copy_failed = |problem: String| BackupError::Copy { path: source_name.clone(), problem };
    let logged =
        accepted_log::snapshot(data_dir).map_err(|err| copy_failed(format!("its accepted-message log: {err}")))?;
    let partial = partial_path(target);
    let written = copy(&source, &partial, &logged).map_err(|err| match err {
        Failure::Source(problem) => copy_failed(problem),
        Failure::Target(problem) => BackupError::Write { path: partial.display().to_string(), problem },
    });
    let folded_from_logs = match written {
        Ok(folded) => folded,
        Err(err) => {
            let _ = std::fs::remove_file(&partial);
            return Err(err);
        }
    };
    let target_name = target.display().to_string();
    let write_failed = |err: std::io::Error| BackupError::Write { path: target_name.clone(), problem: err.to_string() };
    std::fs::File::open(&partial).and_then(|file| file.sync_all()).map_err(write_failed)?;
    std::fs::rename(&partial, target).map_err(write_failed)?;
    let bytes = std::fs::metadata(target).map_err(write_failed)?.len();
    Ok(BackedUp { source, folded_from_logs, bytes })
}

/// `FILE.partial`, beside it (so the rename stays on one file system).
fn partial_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().map(|name| name.to_os_string()).unwrap_or_default();
    name.push(".partial");
    target.with_file_name(name)
}

enum Failure {
    Source(String),
    Target(String),
}

fn on_source(err: rusqlite::Error) -> Failure {
    Failure::Source(err.to_string())
}

fn on_target(err: rusqlite::Error) -> Failure {
    Failure::Target(err.to_string())
}

/// Copies `source` to `partial` in one step (one read transaction: a consistent snapshot), then
/// adds the logged messages it lacks; how many it lacked.
fn copy(source: &Path, partial: &Path, logged: &Logged) -> Result<usize, Failure> {
    let _ = std::fs::remove_file(partial);
    let from = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(on_source)?;
    from.busy_timeout(BUSY_TIMEOUT).map_err(on_source)?;
    let mut to = Connection::open(partial).map_err(on_target)?;
    copy_all_pages(&from, &mut to)?;
    drop(from);
    let tx = to.transaction().map_err(on_target)?;
    let folded = journal::keep_logged(&tx, logged).map_err(on_target)?;
    tx.commit().map_err(on_target)?;
    to.pragma_update_and_check(None, "journal_mode", "DELETE", |row| row.get::<_, String>(0)).map_err(on_target)?;
    check(&to, &partial.display().to_string()).map_err(|err| Failure::Target(err.to_string()))?;
    Ok(folded)
}

/// Every page in one step (one read transaction, so a consistent snapshot of the last commit),
/// retried while the bot's writer holds a lock the step needs.
fn copy_all_pages(from: &Connection, to: &mut Connection) -> Result<(), Failure> {
    let backup = Backup::new(from, to).map_err(on_source)?;
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match backup.step(-1).map_err(on_source)? {
            StepResult::Done => return Ok(()),
            _ if Instant::now() < deadline => std::thread::sleep(RETRY_PAUSE),
            _ => {
                return Err(Failure::Source(format!("the bot kept it locked for {} s", BUSY_TIMEOUT.as_secs())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::now_ms;
    use crate::state::sqlite::accepted_log::{Accepted, AcceptedLog};
    use crate::state::sqlite::tests::open;

    #[tokio::test]
    async fn a_backup_of_an_open_store_has_its_commits_and_what_only_its_log_holds() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (store, _) = open(dir.path());
        store.set_setting("cid", "lang", Some("en")).await.expect("set");
        let row = store.record("m1", "one".to_owned()).await.expect("recorded");
        store.flush().await.expect("flushed");
        // What an acknowledgement not yet committed leaves: a record in the log only.
        let mut log = AcceptedLog::open(dir.path()).expect("opens");
        log.append_accepted(&Accepted {
            row: row + 1,
            received_ms: now_ms(),
            msg_id: "m2".into(),
            payload: "two".into(),
        })
        .expect("appended");

        let out = tempfile::tempdir().expect("a temporary directory");
        let target = out.path().join("copy.sqlite3");
        let backed_up = backup(dir.path(), &target).expect("backed up while the store is open");
        assert_eq!(backed_up.folded_from_logs, 1);
        assert!(backed_up.bytes > 0);
        assert!(!partial_path(&target).exists());
        drop(store);
        drop(log);
        backup(dir.path(), &target).expect("backed up with the bot stopped, replacing the last copy");

        let restored = tempfile::tempdir().expect("a temporary directory");
        std::fs::copy(&target, restored.path().join(DATABASE_FILE)).expect("put back");
        let (store, loaded) = open(restored.path());
        assert_eq!(loaded.settings, [("cid".to_owned(), "lang".to_owned(), "en".to_owned())]);
        assert_eq!(loaded.seen, ["m1", "m2"]);
        let unfinished: Vec<String> = store.unfinished().await.expect("read").into_iter().map(|(_, p)| p).collect();
        assert_eq!(unfinished, ["one", "two"], "neither was answered");
    }

    #[test]
    fn no_store_is_an_error_naming_the_directory_to_set() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let err = backup(dir.path(), &dir.path().join("copy")).expect_err("nothing to copy");
        assert!(err.to_string().contains("DINGMEET_DATA_DIR"), "{err}");
    }
}
