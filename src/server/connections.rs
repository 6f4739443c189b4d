//! The open HTTP connections: what each has sent and when, which timeout watches it, and, at
//! the cap, which to shed: the ones that have sent the least for the longest.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::limits::HttpLimits;
use crate::telemetry::connections::{ConnectionMetrics, Timeout};

/// How often, at most, shedding is logged (the metrics count every one).
const SHED_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// The body of the request being served: still arriving, all read, or too late.
const BODY_PENDING: u8 = 0;
const BODY_COMPLETE: u8 = 1;
const BODY_TIMED_OUT: u8 = 2;

/// Milliseconds since the table's start, plus one, so that 0 can mean "never".
#[derive(Debug, Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn now(self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    fn instant(self, ms: u64) -> Instant {
        self.0 + Duration::from_millis(ms.saturating_sub(1))
    }
}

/// One connection's activity, updated by its reads and its requests.
pub(crate) struct Tracker {
    id: u64,
    clock: Clock,
    accepted: u64,
    bytes_read: AtomicU64,
    last_read: AtomicU64,
    /// When the first byte of a request whose headers are not complete yet arrived (0: none).
    head_started: AtomicU64,
    in_request: AtomicBool,
    /// When the last response was produced (0: none yet).
    last_done: AtomicU64,
    body: AtomicU8,
    shed: AtomicBool,
    /// Woken when the connection is shed.
    wake: Notify,
}

impl Tracker {
    fn new(id: u64, clock: Clock) -> Self {
        Self {
            id,
            clock,
            accepted: clock.now(),
            bytes_read: AtomicU64::new(0),
            last_read: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            in_request: AtomicBool::new(false),
            last_done: AtomicU64::new(0),
            body: AtomicU8::new(BODY_COMPLETE),
            shed: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    /// A tracker on no table, as a request's body sees it.
    #[cfg(test)]
    pub(crate) fn detached() -> Arc<Self> {
        Arc::new(Self::new(0, Clock(Instant::now())))
    }

    /// `n` bytes (more than 0) were read from the client.
    pub(crate) fn read(&self, n: usize) {
        let now = self.clock.now();
        self.bytes_read.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.last_read.store(now, Ordering::Relaxed);
        if !self.in_request.load(Ordering::Acquire) {
            // From waiting (idle timeout) to reading headers (header timeout), once per request.
            let _ = self.head_started.compare_exchange(0, now, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// A request's headers are complete and it is being served until the guard drops.
    pub(crate) fn begin_request(self: &Arc<Self>, body_complete: bool) -> RequestGuard {
        self.in_request.store(true, Ordering::Release);
        self.head_started.store(0, Ordering::Release);
        self.body.store(if body_complete { BODY_COMPLETE } else { BODY_PENDING }, Ordering::Release);
        RequestGuard(Arc::clone(self))
    }

    pub(crate) fn body_complete(&self) {
        let _ = self.body.compare_exchange(BODY_PENDING, BODY_COMPLETE, Ordering::AcqRel, Ordering::Relaxed);
    }

    pub(crate) fn body_timed_out(&self) {
        self.body.store(BODY_TIMED_OUT, Ordering::Release);
    }

    /// The request's body was not read to its end by the handler (so the connection cannot
    /// carry another request).
    pub(crate) fn body_unfinished(&self) -> bool {
        self.body.load(Ordering::Acquire) == BODY_PENDING
    }

    pub(crate) fn body_too_late(&self) -> bool {
        self.body.load(Ordering::Acquire) == BODY_TIMED_OUT
    }

    pub(crate) fn is_shed(&self) -> bool {
        self.shed.load(Ordering::Acquire)
    }

    /// Resolves when the connection is shed.
    pub(crate) async fn shed_notice(&self) {
        self.wake.notified().await;
    }

    /// The timeout that applies now and when it expires; none while a request is served (its
    /// body has its own deadline).
    pub(crate) fn watch(&self, limits: &HttpLimits) -> Option<(Instant, Timeout)> {
        if self.in_request.load(Ordering::Acquire) {
            return None;
        }
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let head_started = self.head_started.load(Ordering::Acquire);
        let last_done = self.last_done.load(Ordering::Acquire);
        let (from, timeout, after) = if head_started != 0 {
            (head_started, Timeout::Header, limits.header_timeout)
        } else if last_done == 0 {
            // A new connection owes its first request's headers, whether it has begun them or not.
            (self.accepted, Timeout::Header, limits.header_timeout)
        } else {
            (last_done, Timeout::Idle, limits.idle_timeout)
        };
        Some((self.clock.instant(from.saturating_add(ms(after))), timeout))
    }

    /// How readily this connection is shed: how long it has been silent, weighed down by how
    /// much it has sent (a KiB halves it). None while a request is served.
    fn shed_score(&self, now: u64) -> Option<u64> {
        if self.in_request.load(Ordering::Acquire) || self.is_shed() {
            return None;
        }
        let silent = self.silent_ms(now);
        let bytes = self.bytes_read.load(Ordering::Relaxed);
        Some(silent.saturating_mul(1024) / bytes.saturating_add(1024))
    }

    fn silent_ms(&self, now: u64) -> u64 {
        let last =
            self.accepted.max(self.last_read.load(Ordering::Relaxed)).max(self.last_done.load(Ordering::Relaxed));
        now.saturating_sub(last)
    }
}

/// Ends the request's phase when dropped: the connection waits for its next request.
pub(crate) struct RequestGuard(Arc<Tracker>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let tracker = &self.0;
        tracker.last_done.store(tracker.clock.now(), Ordering::Release);
        tracker.in_request.store(false, Ordering::Release);
    }
}

/// Every open connection.
pub(crate) struct Connections {
    clock: Clock,
    max: usize,
    metrics: ConnectionMetrics,
    inner: Mutex<Inner>,
}

struct Inner {
    next_id: u64,
    open: HashMap<u64, Arc<Tracker>>,
    /// Marked to be shed but not closed yet: no longer counted against the cap.
    shedding: usize,
    log: ShedLog,
}

/// Shedding since the last warning.
#[derive(Default)]
struct ShedLog {
    last: Option<Instant>,
    shed: u64,
    longest_silence_ms: u64,
}

/// What to log about shedding, once a minute at most.
struct ShedWarning {
    shed: u64,
    longest_silence_ms: u64,
    since: Option<Duration>,
}

impl Connections {
    pub(crate) fn new(max: usize, metrics: ConnectionMetrics) -> Self {
        metrics.set_limit(max);
        let inner = Inner { next_id: 0, open: HashMap::new(), shedding: 0, log: ShedLog::default() };
        Self { clock: Clock(Instant::now()), max: max.max(1), metrics, inner: Mutex::new(inner) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn metrics(&self) -> &ConnectionMetrics {
        &self.metrics
    }

    /// Registers a new connection, shedding others first when it would go over the cap. The
    /// connection counts as open until the returned registration drops.
    pub(crate) fn admit(self: &Arc<Self>) -> Registration {
        let (tracker, warning) = {
            let mut inner = self.lock();
            let warning = if inner.open.len() - inner.shedding >= self.max { self.shed(&mut inner).1 } else { None };
            inner.next_id += 1;
            let tracker = Arc::new(Tracker::new(inner.next_id, self.clock));
            inner.open.insert(tracker.id, Arc::clone(&tracker));
            (tracker, warning)
        };
        self.metrics.opened();
        if let Some(warning) = warning {
            self.warn(&warning);
        }
        Registration { connections: Arc::clone(self), tracker }
    }

    /// Sheds connections to make room though the cap is not reached (the process ran out of
    /// descriptors). Returns how many were shed.
    pub(crate) fn make_room(&self) -> u64 {
        let (shed, warning) = self.shed(&mut self.lock());
        if let Some(warning) = warning {
            self.warn(&warning);
        }
        shed
    }

    /// Marks the connections with the highest [`Tracker::shed_score`] to be shed: a batch, so
    /// that a flood does not scan the table at every accept.
    fn shed(&self, inner: &mut Inner) -> (u64, Option<ShedWarning>) {
        let now = self.clock.now();
        let batch = (self.max / 64).max(1);
        let mut candidates: Vec<(u64, &Arc<Tracker>)> =
            inner.open.values().filter_map(|t| Some((t.shed_score(now)?, t))).collect();
        if candidates.len() > batch {
            candidates.select_nth_unstable_by(batch - 1, |a, b| b.0.cmp(&a.0));
            candidates.truncate(batch);
        }
        let mut longest = 0;
        for (_, tracker) in &candidates {
            longest = longest.max(tracker.silent_ms(now));
            tracker.shed.store(true, Ordering::Release);
            tracker.wake.notify_one();
        }
        let count = candidates.len();
        inner.shedding += count;
        let count = u64::try_from(count).unwrap_or(u64::MAX);
        self.metrics.shed(count);
        let log = &mut inner.log;
        log.shed += count;
        log.longest_silence_ms = log.longest_silence_ms.max(longest);
        let due = log.last.is_none_or(|last| last.elapsed() >= SHED_LOG_INTERVAL);
        if !due || log.shed == 0 {
            return (count, None);
        }
        let warning = ShedWarning {
            shed: log.shed,
            longest_silence_ms: log.longest_silence_ms,
            since: log.last.map(|last| last.elapsed()),
        };
        *log = ShedLog { last: Some(Instant::now()), ..ShedLog::default() };
        (count, Some(warning))
    }

    fn warn(&self, warning: &ShedWarning) {
        let open = self.lock().open.len();
        tracing::warn!(
            shed = warning.shed,
            over_secs = warning.since.map_or(0, |since| since.as_secs()),
            longest_silence_ms = warning.longest_silence_ms,
            open,
            cap = self.max,
            "HTTP connections at the cap: closed the ones that sent the least for the longest to let new ones in \
             (a flood of slow clients?); if this is ordinary traffic, raise DINGMEET_HTTP_MAX_CONNECTIONS or the \
             open-files limit"
        );
    }

    #[cfg(test)]
    fn open(&self) -> usize {
        self.lock().open.len()
    }
}

/// A connection counted as open; dropping it closes the books on it.
pub(crate) struct Registration {
    connections: Arc<Connections>,
    tracker: Arc<Tracker>,
}

impl Registration {
    pub(crate) fn tracker(&self) -> &Arc<Tracker> {
        &self.tracker
    }

    pub(crate) fn timed_out(&self, timeout: Timeout) {
        self.connections.metrics.timed_out(timeout);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut inner = self.connections.lock();
        inner.open.remove(&self.tracker.id);
        if self.tracker.is_shed() {
            inner.shedding = inner.shedding.saturating_sub(1);
        }
        drop(inner);
        self.connections.metrics.closed();
    }
}

#[cfg(test)]
mod tests;
