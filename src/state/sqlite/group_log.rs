//! The group commit of the accepted-message log: the records of messages accepted (and the done
//! marks of replies sent) while one `write` of the log is under way are queued, and the next
//! `write` takes them all, so a burst pays one system call per batch, not per message. No timer:
//! the first record that finds no write under way is written at once by the task that brought
//! it (an idle bot adds nothing to an acknowledgement); the next batch is written by the task
//! that wrote the one before (up to [`MAX_ROUNDS`] in a row), then by one of those waiting for
//! it. An accepted message is acknowledged only once the `write` holding it returned, which is
//! this log's durability point: the page cache outlives a killed process. (An `fdatasync` per
//! batch, for power cuts, costs a disk flush per acknowledgement: BENCHMARKS.md has the figure.)
//!
//! Once written, the records go to the writer's next SQLite commit; lock order: the files, then
//! the writer's queue (the writer seals the files and takes its queue under both, so a file it
//! empties after a commit holds only records that commit took).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, mpsc};
use std::task::{Context, Poll, Waker};

use prometheus_client::metrics::histogram::Histogram;

use super::accepted_log::{self, AcceptedLog};
use super::writer::{Lazy, WAKE_AT, Write};

/// Batches one task writes in a row before it hands the next to those waiting for it: bounds
/// how long its own acknowledgement waits behind others'.
const MAX_ROUNDS: usize = 4;

/// One batch's outcome, shared by every record in it (one allocation per batch).
#[derive(Default)]
pub(super) struct Batch {
    outcome: OnceLock<Result<(), String>>,
}

/// What is queued for the next `write`.
#[derive(Default)]
struct Queue {
    bytes: Vec<u8>,
    /// What the queued bytes are, for the SQLite commit once they are written.
    writes: Vec<Write>,
    open: Arc<Batch>,
    /// Tasks waiting on the open batch, and on the one being written.
    open_waiters: Vec<Waker>,
    writing_waiters: Vec<Waker>,
    writing: bool,
    /// A buffer kept from the last write, for the next batch.
    spare: Vec<u8>,
}

/// The log's files and the queue in front of them.
pub(super) struct GroupLog {
    files: Arc<Mutex<AcceptedLog>>,
    queue: Mutex<Queue>,
    lazy: Lazy,
    wake: mpsc::Sender<Write>,
    batches: OnceLock<Histogram>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl GroupLog {
    pub(super) fn new(files: Arc<Mutex<AcceptedLog>>, lazy: Lazy, wake: mpsc::Sender<Write>) -> Self {
        Self { files, queue: Mutex::default(), lazy, wake, batches: OnceLock::new() }
    }

    /// Counts the records of each `write` into `histogram` from now on.
    pub(super) fn observe_batches(&self, histogram: Histogram) {
        let _ = self.batches.set(histogram);
    }

    /// Makes every append fail from now on, as on a full disk.
    #[cfg(test)]
    pub(super) fn fail_appends(&self) {
        lock(&self.files).fail_appends().expect("/dev/full opens");
    }

    /// Queues an accepted message's record and returns once it is written (or why it could not
    /// be): at once when no write was under way, else with the batch it joined.
    pub(super) fn append(&self, write: Write) -> impl Future<Output = Result<(), String>> + Send + '_ {
        let mut queue = lock(&self.queue);
        if let Write::Record(accepted) = &write
            && let Err(err) = accepted_log::encode(accepted, &mut queue.bytes)
        {
            let refused = Batch::default();
            let _ = refused.outcome.set(Err(err.to_string()));
            return Durable { log: self, batch: Arc::new(refused) };
        }
        queue.writes.push(write);
        let batch = Arc::clone(&queue.open);
        if !queue.writing {
            self.lead(queue);
        }
        Durable { log: self, batch }
    }

    /// Queues a done mark: written at once when no write is under way, else with the next
    /// batch (the task writing now writes it). Nobody waits for it.
    pub(super) fn mark_done(&self, row: i64, at_ms: i64) {
        let mut queue = lock(&self.queue);
        accepted_log::encode_done(row, at_ms, &mut queue.bytes);
        queue.writes.push(Write::Done { row, at_ms });
        if !queue.writing {
            self.lead(queue);
        }
    }

    /// Writes the open batch, then the ones queued meanwhile, until none is or [`MAX_ROUNDS`]
    /// were written and someone waits to write the next.
    fn lead<'q>(&'q self, mut queue: MutexGuard<'q, Queue>) {
        let mut rounds = 0;
        loop {
            queue.writing = true;
            let batch = std::mem::take(&mut queue.open);
            let spare = std::mem::take(&mut queue.spare);
            let mut bytes = std::mem::replace(&mut queue.bytes, spare);
            let writes = std::mem::take(&mut queue.writes);
            let waiters = std::mem::take(&mut queue.open_waiters);
            queue.writing_waiters = waiters;
            drop(queue);
            let _ = batch.outcome.set(self.write(&bytes, writes));
            bytes.clear();
            queue = lock(&self.queue);
            queue.spare = bytes;
            let written = std::mem::take(&mut queue.writing_waiters);
            rounds += 1;
            let more = !queue.writes.is_empty();
            let hand_over = more && rounds >= MAX_ROUNDS && !queue.open_waiters.is_empty();
            if !more || hand_over {
                queue.writing = false;
                let next = if hand_over { std::mem::take(&mut queue.open_waiters) } else { Vec::new() };
                drop(queue);
                written.into_iter().chain(next).for_each(Waker::wake);
                return;
            }
            drop(queue);
            written.into_iter().for_each(Waker::wake);
            queue = lock(&self.queue);
        }
    }

    /// One `write` of a batch; once it is in the file, its records go to the writer's queue.
    fn write(&self, bytes: &[u8], mut writes: Vec<Write>) -> Result<(), String> {
        let mut files = lock(&self.files);
        let appended = files.append(bytes);
        let mut pending = lock(&self.lazy);
        let before = pending.writes.len();
        let outcome = match appended {
            Ok(()) => {
                pending.health.append_failing = None;
                Ok(())
            }
            Err(err) => {
                let problem = format!("its accepted-message log: {err}");
                pending.health.write_errors += 1;
                pending.health.append_failing = Some(problem.clone());
                // The accepted ones are not acknowledged; the done marks still reach SQLite.
                writes.retain(|write| matches!(write, Write::Done { .. }));
                Err(problem)
            }
        };
        let records = writes.len();
        pending.writes.append(&mut writes);
        let after = pending.writes.len();
        drop(pending);
        drop(files);
        if before < WAKE_AT && after >= WAKE_AT {
            let _ = self.wake.send(Write::Wake);
        }
        if let Some(batches) = self.batches.get() {
            #[allow(clippy::cast_precision_loss)]
            batches.observe(records as f64);
        }
        outcome
    }
}

/// Waits for a batch to be written; the one that finds it open and nobody writing writes it.
struct Durable<'a> {
    log: &'a GroupLog,
    batch: Arc<Batch>,
}

impl Future for Durable<'_> {
    type Output = Result<(), String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(outcome) = self.batch.outcome.get() {
            return Poll::Ready(outcome.clone());
        }
        let mut queue = lock(&self.log.queue);
        if let Some(outcome) = self.batch.outcome.get() {
            return Poll::Ready(outcome.clone());
        }
        if Arc::ptr_eq(&queue.open, &self.batch) {
            if !queue.writing {
                self.log.lead(queue);
                let outcome = self.batch.outcome.get().cloned();
                return Poll::Ready(outcome.unwrap_or_else(|| Err("the log's write did not finish".to_owned())));
            }
            queue.open_waiters.push(cx.waker().clone());
        } else {
            queue.writing_waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for Durable<'_> {
    /// A caller that stops waiting (its request went away) still has its record written: it
    /// is remembered as seen, so a redelivery would not be taken again.
    fn drop(&mut self) {
        if self.batch.outcome.get().is_some() {
            return;
        }
        let queue = lock(&self.log.queue);
        if Arc::ptr_eq(&queue.open, &self.batch) && !queue.writing {
            self.log.lead(queue);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use prometheus_client::metrics::histogram::exponential_buckets;

    use super::*;
    use crate::state::sqlite::accepted_log::{Accepted, replay};
    use crate::state::sqlite::health::WriterHealth;
    use crate::state::sqlite::writer::Pending;

    fn group(dir: &std::path::Path) -> (Arc<GroupLog>, Histogram, mpsc::Receiver<Write>) {
        let files = Arc::new(Mutex::new(AcceptedLog::open(dir).expect("opens")));
        let lazy = Arc::new(Mutex::new(Pending { writes: Vec::new(), health: WriterHealth::default() }));
        let (wake, woken) = mpsc::channel();
        let log = Arc::new(GroupLog::new(files, lazy, wake));
        let histogram = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        log.observe_batches(histogram.clone());
        (log, histogram, woken)
    }

    fn accepted(row: i64) -> Write {
        Write::Record(Accepted { row, received_ms: 1, msg_id: format!("m{row}"), payload: "{}".to_owned() })
    }

    /// (writes, records) counted by the histogram.
    fn counted(histogram: &Histogram) -> (u64, f64) {
        let mut text = String::new();
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("batch", "", histogram.clone());
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        let value = |name: &str| {
            text.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse::<f64>().ok()).expect(name)
        };
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let writes = value("batch_count ") as u64;
        (writes, value("batch_sum "))
    }

    #[tokio::test]
    async fn an_idle_log_writes_a_record_at_once_on_the_callers_task() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (log, histogram, _woken) = group(dir.path());
        let appended = log.append(accepted(1));
        assert_eq!(replay(dir.path()).expect("read").accepted.len(), 1, "in the file before the first poll");
        assert_eq!(appended.await, Ok(()));
        log.mark_done(1, 2);
        assert_eq!(replay(dir.path()).expect("read").done, [(1, 2)], "a done mark too, with nobody waiting");
        assert_eq!(counted(&histogram), (2, 2.0));
        assert_eq!(lock(&log.lazy).writes.len(), 2, "both for the next commit");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn what_arrives_during_a_write_waits_for_it_and_goes_in_the_next_one_together() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (log, histogram, _woken) = group(dir.path());
        // A slow disk: the first write cannot start until the files are let go.
        let files = lock(&log.files);
        let first = std::thread::spawn({
            let log = Arc::clone(&log);
            move || {
                let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
                runtime.block_on(log.append(accepted(1)))
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while !lock(&log.queue).writing {
            assert!(Instant::now() < deadline, "the first append never started writing");
            std::thread::yield_now();
        }
        let waiting: Vec<_> = (2..=10)
            .map(|row| {
                let log = Arc::clone(&log);
                tokio::spawn(async move { log.append(accepted(row)).await })
            })
            .collect();
        log.mark_done(1, 5);
        while lock(&log.queue).open_waiters.len() < 9 {
            assert!(Instant::now() < deadline, "the others never waited");
            std::thread::yield_now();
        }
        assert!(waiting.iter().all(|task| !task.is_finished()), "nothing acknowledged before its write");
        drop(files);
        assert_eq!(first.join().expect("the first append"), Ok(()));
        for task in waiting {
            assert_eq!(task.await.expect("task"), Ok(()));
        }
        assert_eq!(counted(&histogram), (2, 11.0), "one write for the first, one for the ten queued behind it");
        let logged = replay(dir.path()).expect("read");
        assert_eq!((logged.accepted.len(), logged.done), (10, vec![(1, 5)]));
    }

    #[tokio::test]
    async fn a_failed_write_fails_every_message_in_it_and_keeps_only_the_done_marks() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (log, histogram, _woken) = group(dir.path());
        log.fail_appends();
        assert!(log.append(accepted(1)).await.is_err_and(|why| why.contains("accepted-message log")));
        log.mark_done(7, 8);
        let pending = lock(&log.lazy);
        assert!(matches!(pending.writes[..], [Write::Done { row: 7, .. }]), "the accepted one is not committed");
        assert_eq!(pending.health.write_errors, 2);
        assert!(pending.health.append_failing.is_some());
        drop(pending);
        assert_eq!(counted(&histogram).0, 2);
    }

    #[tokio::test]
    async fn a_record_over_the_size_limit_is_refused_alone() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (log, _, _woken) = group(dir.path());
        let huge = Write::Record(Accepted { row: 1, received_ms: 1, msg_id: "m".into(), payload: "x".repeat(5 << 20) });
        assert!(log.append(huge).await.is_err());
        assert_eq!(log.append(accepted(2)).await, Ok(()));
        assert_eq!(replay(dir.path()).expect("read").accepted.len(), 1);
    }
}
