//! The writer thread: the writes it takes, the group commit of what queued up (the accepted
//! messages among it, after which their log file is emptied), the checkpoints asked of the
//! checkpointer's thread, and the purge of what is past its keeping time.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, params};
use tokio::sync::oneshot;

use super::accepted_log::{Accepted, AcceptedLog};
use super::health::{self, OnDrop, WriterHealth};
use super::journal::insert_accepted;
use super::{Retention, millis, now_ms};

/// The most writes one transaction commits. The writer never waits to fill a batch: what queued
/// up while the last commit ran is the next batch, so an idle store commits at once and a busy
/// one commits many writes together. (Waiting for more would be paid per request: each
/// connection waits for its ack.)
const MAX_BATCH: usize = 1024;
/// How often the writer drops what is past its keeping time.
const PURGE_EVERY: Duration = Duration::from_secs(10);
/// Writes nobody waits for (an accepted message or a done mark, already in the log; a send) do
/// not wake the writer: they join the next commit, and an idle writer commits them after at most
/// this long. Waking it for each made every message two commits, two wake-ups and a checkpoint
/// every few hundred messages. (A done mark is durable before that, in the log: a crash after it
/// does not answer the message again.)
pub(super) const LAZY_WITHIN: Duration = Duration::from_millis(50);
/// With this many writes waiting, the one that makes it so wakes the writer: a busy bot commits
/// more often than every [`LAZY_WITHIN`], so the messages held for the commit stay a few hundred
/// KiB.
pub(super) const WAKE_AT: usize = 512;
/// Writes nobody waits for are kept for the next commit when one fails (the disk is full), up to
/// this many; beyond it the oldest are dropped, each with an error line.
const MAX_RETRIED: usize = 100_000;
/// The write-ahead log is checkpointed (on its own thread, `PASSIVE`: never in a commit's way)
/// after this many commits; SQLite's own would run it in the commit that crosses 1,000 pages.
const CHECKPOINT_EVERY_COMMITS: u32 = 200;

pub(super) type Reply<T> = oneshot::Sender<Result<T, String>>;

pub(super) enum Write {
    Record(Accepted),
    Done {
        row: i64,
        at_ms: i64,
    },
    Setting {
        scope: String,
        name: String,
        value: Option<String>,
        reply: Reply<()>,
    },
    Send {
        conversation: String,
        at_ms: i64,
    },
    PutJob {
        kind: &'static str,
        key: String,
        due_ms: Option<i64>,
        payload: String,
        reply: Reply<()>,
    },
    RemoveJob {
        kind: &'static str,
        key: String,
        reply: Reply<bool>,
    },
    Flush {
        reply: Reply<()>,
    },
    /// Commit what is waiting now.
    Wake,
}

/// What one write produced.
enum Outcome {
    Removed(bool),
    Nothing,
}

/// Rows recorded and done in one batch: inserted done, without their payload, and not updated.
#[derive(Default)]
struct BatchRows {
    recorded: HashSet<i64>,
    done: HashMap<i64, i64>,
}

impl BatchRows {
    fn of(batch: &[Write]) -> Self {
        let mut rows = Self::default();
        for write in batch {
            match write {
                Write::Record(accepted) => {
                    rows.recorded.insert(accepted.row);
                }
                Write::Done { row, at_ms } => {
                    rows.done.insert(*row, *at_ms);
                }
                _ => {}
            }
        }
        rows
    }
}

impl Write {
    fn apply(&self, tx: &Transaction<'_>, rows: &BatchRows) -> rusqlite::Result<Outcome> {
        match self {
            Self::Record(accepted) => {
                insert_accepted(tx, accepted, rows.done.get(&accepted.row).copied())?;
                Ok(Outcome::Nothing)
            }
            Self::Done { row, .. } if rows.recorded.contains(row) => Ok(Outcome::Nothing),
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
            Self::Flush { .. } | Self::Wake => Ok(Outcome::Nothing),
        }
    }

    /// Whether nobody waits for this write: it is kept and tried again when its commit fails.
    fn unwaited(&self) -> bool {
        matches!(self, Self::Record(_) | Self::Done { .. } | Self::Send { .. })
    }

    /// Tells the caller (if one waits) how its write went.
    fn answer(self, outcome: Result<Outcome, String>) {
        match self {
            Self::Setting { reply, .. } | Self::PutJob { reply, .. } | Self::Flush { reply } => {
                let _ = reply.send(outcome.map(drop));
            }
            Self::RemoveJob { reply, .. } => {
                let _ = reply.send(outcome.map(|o| matches!(o, Outcome::Removed(true))));
            }
            Self::Record(_) => {
                if let Err(problem) = outcome {
                    tracing::error!(%problem, "the store could not keep an accepted message (its log still has it)");
                }
            }
            Self::Done { .. } | Self::Send { .. } => {
                if let Err(problem) = outcome {
                    tracing::error!(%problem, "the store could not record a reply as sent");
                }
            }
            Self::Wake => {}
        }
    }
}

/// Writes nobody waits for, taken by the writer's next commit; and how the writer is doing.
pub(super) struct Pending {
    pub writes: Vec<Write>,
    pub health: WriterHealth,
}

/// The accepted-message log's files, which the writer empties as it commits what they hold.
pub(super) type Files = Arc<Mutex<AcceptedLog>>;

pub(super) type Lazy = Arc<Mutex<Pending>>;

/// Starts the checkpointer's thread and the writer's: the writer commits what is sent on the
/// channel and what is pushed on the lazy queue, and ends when every sender is gone.
pub(super) fn start(
    conn: Connection,
    checkpointer: Connection,
    log: Files,
    retention: Retention,
) -> std::io::Result<(mpsc::Sender<Write>, Lazy)> {
    let (checkpoints, checkpoint_asked) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("store-checkpoint".into())
        .spawn(move || checkpoint_loop(&checkpointer, &checkpoint_asked))?;
    let (writes, queue) = mpsc::channel();
    let lazy = Arc::new(Mutex::new(Pending { writes: Vec::new(), health: WriterHealth::default() }));
    let writer = Writer { queue, lazy: Arc::clone(&lazy), log, checkpoints, retention };
    std::thread::Builder::new().name("store-writer".into()).spawn(move || writer.run(conn))?;
    Ok((writes, lazy))
}

/// The writer thread's side of the store.
struct Writer {
    queue: mpsc::Receiver<Write>,
    lazy: Lazy,
    log: Files,
    checkpoints: mpsc::SyncSender<()>,
    retention: Retention,
}

impl Writer {
    /// Commits what queued up together until every sender is gone, then what is left.
    fn run(self, mut conn: Connection) {
        let lazy = Arc::clone(&self.lazy);
        let _stopped = OnDrop(move || lazy.lock().unwrap_or_else(PoisonError::into_inner).health.stopped = true);
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
            {
                // The files first, as the log's appends take them: what the sealed file holds is
                // then exactly what this batch takes.
                let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
                let mut pending = self.lazy.lock().unwrap_or_else(PoisonError::into_inner);
                batch.append(&mut pending.writes);
                if !batch.is_empty() {
                    // Appends from now on go to the other file; this commit covers the sealed one.
                    log.seal();
                    pending.health.last_batch = Some(Instant::now());
                }
            }
            if !batch.is_empty() {
                // A commit with nothing to write (a flush) says nothing of the store's health.
                let writes_rows = batch.iter().any(|write| !matches!(write, Write::Flush { .. } | Write::Wake));
                let committed = commit(&mut conn, &mut batch);
                let mut pending = self.lazy.lock().unwrap_or_else(PoisonError::into_inner);
                match committed {
                    Err(problem) => {
                        pending.health.write_failed(Some(problem));
                        drop(pending);
                        let excess = batch.len().saturating_sub(MAX_RETRIED);
                        batch
                            .drain(..excess)
                            .for_each(|write| write.answer(Err("dropped after failed commits".into())));
                    }
                    Ok(write_failed) => {
                        if writes_rows {
                            pending.health.write_failed(write_failed);
                        }
                        drop(pending);
                        let emptied = self.log.lock().unwrap_or_else(PoisonError::into_inner).committed();
                        if let Err(err) = emptied {
                            tracing::warn!(%err, "the accepted-message log could not be emptied (it is replayed at start)");
                        }
                    }
                }
                commits += 1;
                if commits.is_multiple_of(CHECKPOINT_EVERY_COMMITS) {
                    // Full: a checkpoint is already asked for, and it covers these commits too.
                    let _ = self.checkpoints.try_send(());
                }
            }
            if stopping {
                break;
            }
            if purge.maybe(&conn) {
                let backlog = health::count_backlog(&conn);
                self.lazy.lock().unwrap_or_else(PoisonError::into_inner).health.set_backlog(backlog);
            }
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

/// Commits `batch` in one transaction and answers its writes; when the commit fails, the
/// writes nobody waits for stay in `batch` for the next one, and why it failed is the error. A
/// commit in which a write failed (its caller is told) names that failure.
fn commit(conn: &mut Connection, batch: &mut Vec<Write>) -> Result<Option<String>, String> {
    let rows = BatchRows::of(batch);
    let outcomes = (|| {
        let tx = conn.transaction()?;
        let outcomes: Vec<_> =
            batch.iter().map(|write| write.apply(&tx, &rows).map_err(|err| err.to_string())).collect();
        tx.commit()?;
        Ok::<_, rusqlite::Error>(outcomes)
    })();
    match outcomes {
        Ok(outcomes) => {
            let failed = outcomes.iter().find_map(|outcome| outcome.as_ref().err()).cloned();
            batch.drain(..).zip(outcomes).for_each(|(write, outcome)| write.answer(outcome));
            Ok(failed)
        }
        Err(err) => {
            let problem = format!("a write failed: {err}");
            tracing::error!(%problem, writes = batch.len(), "the store could not commit (kept for the next try)");
            let (kept, waited): (Vec<_>, Vec<_>) = batch.drain(..).partition(Write::unwaited);
            waited.into_iter().for_each(|write| write.answer(Err(problem.clone())));
            *batch = kept;
            Err(problem)
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

    /// Purges if it is time; whether it was.
    fn maybe(&mut self, conn: &Connection) -> bool {
        if self.last.elapsed() < PURGE_EVERY {
            return false;
        }
        self.last = Instant::now();
        if let Err(err) = self.run(conn) {
            tracing::warn!(%err, "the store could not drop expired rows");
        }
        true
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
