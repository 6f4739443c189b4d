//! The in-process state: the whole store of a single replica, and the fallback of the Redis store
//! while Redis is unreachable.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::RateLimit;

/// The most conversations whose settings or send log are kept (least recently used go first).
pub(super) const MAX_CONVERSATIONS: usize = 100_000;
/// The most message ids remembered at once.
const MAX_SEEN: usize = 1_000_000;

/// Message ids and conversation ids are kept as 64-bit keyed hashes (SipHash with this process's
/// random keys), not as strings: 8 bytes an entry instead of a few hundred in a general cache,
/// which is what keeps memory flat under load (a busy bot sees every message id once, and
/// remembers it for the whole dedupe window). Two different ids share a hash with odds of
/// about 1 in 10^13 even with a million remembered, and nobody outside can aim for it.
type Hashed<V> = HashMap<u64, V, BuildHasherDefault<Prehashed>>;
type HashedSet = HashSet<u64, BuildHasherDefault<Prehashed>>;

/// The hasher of keys that are already hashes.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Two generations of a collection: an entry is looked for in both; when the newer one is a
/// `span` old (or full), the older one is dropped whole and the newer one becomes the older.
/// So an entry put in the newer generation lives at least `span`, at most twice that, with no
/// per-entry clock or list.
struct Generations<T> {
    current: T,
    previous: T,
    started: Instant,
}

impl<T: Default + Len> Generations<T> {
    fn new() -> Self {
        Self { current: T::default(), previous: T::default(), started: Instant::now() }
    }

    fn rotate(&mut self, now: Instant, span: Duration, max_len: usize) {
        let age = now.saturating_duration_since(self.started);
        if age >= span.saturating_mul(2) {
            self.current = T::default();
            self.previous = T::default();
            self.started = now;
        } else if age >= span || self.current.len() >= max_len {
            self.previous = std::mem::take(&mut self.current);
            self.started = now;
        }
    }
}

trait Len {
    fn len(&self) -> usize;
}

impl Len for HashedSet {
    fn len(&self) -> usize {
        HashSet::len(self)
    }
}

impl<V> Len for Hashed<V> {
    fn len(&self) -> usize {
        HashMap::len(self)
    }
}

/// Send times of the conversations, in nanoseconds since the store's epoch. Most conversations
/// sent once in the window, so that time is the whole entry of the larger map (16 bytes with its
/// key; a busy bot keeps up to [`MAX_CONVERSATIONS`] of them in each generation); the few that
/// sent more keep their times, oldest first, in a second map.
#[derive(Default)]
struct SendLogs {
    once: Hashed<u64>,
    more: Hashed<VecDeque<u64>>,
}

impl Len for SendLogs {
    fn len(&self) -> usize {
        self.once.len() + self.more.len()
    }
}

impl SendLogs {
    /// Drops the conversation's sends older than `window` before `now`, then adds `now` if
    /// fewer than `max` are left, and says how many are in the window with it; otherwise says
    /// when the oldest leaves the window.
    fn try_push(&mut self, hash: u64, now: u64, window: u64, max: usize) -> Result<usize, u64> {
        if let Some(times) = self.more.get_mut(&hash) {
            while times.front().is_some_and(|&sent| now.saturating_sub(sent) >= window) {
                times.pop_front();
            }
            if times.len() < max {
                times.push_back(now);
                return Ok(times.len());
            }
            let oldest = times.front().copied().unwrap_or(now);
            return Err(window.saturating_sub(now.saturating_sub(oldest)));
        }
        let Some(&at) = self.once.get(&hash) else {
            if max == 0 {
                return Err(window);
            }
            self.once.insert(hash, now);
            return Ok(1);
        };
        let age = now.saturating_sub(at);
        if age >= window {
            self.once.insert(hash, now);
            Ok(1)
        } else if max < 2 {
            Err(window - age)
        } else {
            self.once.remove(&hash);
            self.more.insert(hash, VecDeque::from([at, now]));
            Ok(2)
        }
    }

    /// Adds `now` to the conversation's sends, keeping at most `max`.
    fn push(&mut self, hash: u64, now: u64, max: usize) {
        let mut times = match (self.more.remove(&hash), self.once.remove(&hash)) {
            (Some(times), _) => times,
            (None, Some(at)) => VecDeque::from([at]),
            (None, None) => {
                self.once.insert(hash, now);
                return;
            }
        };
        times.push_back(now);
        let excess = times.len().saturating_sub(max);
        times.drain(..excess);
        match times.len() {
            0 => {}
            1 => {
                self.once.insert(hash, times[0]);
            }
            _ => {
                self.more.insert(hash, times);
            }
        }
    }
}

impl Generations<SendLogs> {
    /// Moves the conversation's sends into the newer generation, if the older one has them.
    fn promote(&mut self, hash: u64) {
        if let Some(at) = self.previous.once.remove(&hash) {
            self.current.once.insert(hash, at);
        } else if let Some(times) = self.previous.more.remove(&hash) {
            self.current.more.insert(hash, times);
        }
    }
}

pub(super) struct MemoryStore {
    keys: RandomState,
    epoch: Instant,
    dedupe_ttl: Duration,
    seen: Mutex<Generations<HashedSet>>,
    sends: Mutex<Generations<SendLogs>>,
    settings: moka::future::Cache<(String, String), String>,
    /// Whether any setting was ever stored: until then a lookup needs no cache (nor the two
    /// strings of its key).
    any_settings: AtomicBool,
    limit: RateLimit,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; if something did, the data is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl MemoryStore {
    pub(super) fn new(dedupe_ttl: Duration, limit: RateLimit) -> Self {
        let settings = moka::future::Cache::builder().max_capacity(MAX_CONVERSATIONS as u64).build();
        let now = Instant::now();
        Self {
            keys: RandomState::new(),
            // An hour back, so sends loaded from the durable store at start keep their times.
            epoch: now.checked_sub(Duration::from_secs(3600)).unwrap_or(now),
            dedupe_ttl,
            seen: Mutex::new(Generations::new()),
            sends: Mutex::new(Generations::new()),
            settings,
            any_settings: AtomicBool::new(false),
            limit,
        }
    }

    /// True the first time `key` is seen within the TTL; atomic for concurrent callers.
    pub(super) async fn first_seen(&self, key: &str) -> bool {
        let hash = self.keys.hash_one(key);
        let mut seen = lock(&self.seen);
        seen.rotate(Instant::now(), self.dedupe_ttl, MAX_SEEN / 2);
        !seen.previous.contains(&hash) && seen.current.insert(hash)
    }

    /// Forgets `key` (seen by a caller that then could not keep what it was for).
    pub(super) fn forget(&self, key: &str) {
        let hash = self.keys.hash_one(key);
        let mut seen = lock(&self.seen);
        seen.current.remove(&hash);
        seen.previous.remove(&hash);
    }

    /// Takes a send slot for `conversation` now, or says how long until one frees up.
    #[cfg(test)]
    pub(super) async fn try_send(&self, conversation: &str) -> Result<(), Duration> {
        self.try_send_counted(conversation).await.map(drop)
    }

    /// Takes a send slot for `conversation` now and says how many sends the window holds with
    /// this one, or says how long until a slot frees up.
    ///
    /// A sliding window log rather than a token bucket: DingTalk counts messages per minute, and a
    /// bucket that refills steadily would let a burst plus the refill exceed that count.
    pub(super) async fn try_send_counted(&self, conversation: &str) -> Result<usize, Duration> {
        let (window, max) = (nanos(self.limit.window), self.limit.max_per_window as usize);
        let hash = self.keys.hash_one(conversation);
        let now = Instant::now();
        let at = nanos(now.saturating_duration_since(self.epoch));
        let mut sends = self.send_logs(now);
        sends.promote(hash);
        let outcome = sends.current.try_push(hash, at, window, max);
        outcome.map_err(|wait| Duration::from_nanos(wait).max(Duration::from_millis(1)))
    }

    /// Counts a send that the shared store allowed, so a later fallback starts from what this
    /// replica really sent.
    pub(super) async fn record_send(&self, conversation: &str) {
        self.record_send_at(conversation, Instant::now());
    }

    /// Counts a send made at `sent` (a send from before a restart, loaded from the store).
    pub(super) fn record_send_at(&self, conversation: &str, sent: Instant) {
        let max = self.limit.max_per_window as usize;
        let hash = self.keys.hash_one(conversation);
        let now = Instant::now();
        let at = nanos(sent.saturating_duration_since(self.epoch));
        let mut sends = self.send_logs(now);
        sends.promote(hash);
        sends.current.push(hash, at, max);
    }

    /// The send logs, the older generation dropped if its time is up.
    fn send_logs(&self, now: Instant) -> MutexGuard<'_, Generations<SendLogs>> {
        let mut sends = lock(&self.sends);
        // A log untouched for a whole window holds nothing that still counts.
        sends.rotate(now, self.limit.window.max(Duration::from_millis(1)), MAX_CONVERSATIONS);
        sends
    }

    pub(super) async fn setting(&self, conversation: &str, key: &str) -> Option<String> {
        if !self.any_settings.load(Ordering::Acquire) {
            return None;
        }
        // Boxed, like the writes below: they are rare, and inline their futures would make every
        // message's task larger.
        let entry = (conversation.to_owned(), key.to_owned());
        Box::pin(self.settings.get(&entry)).await
    }

    pub(super) async fn set_setting(&self, conversation: &str, key: &str, value: Option<&str>) {
        let entry = (conversation.to_owned(), key.to_owned());
        match value {
            Some(value) => {
                self.any_settings.store(true, Ordering::Release);
                Box::pin(self.settings.insert(entry, value.to_owned())).await;
            }
            None => Box::pin(self.settings.invalidate(&entry)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(max_per_window: u32, window_ms: u64) -> MemoryStore {
        let limit = RateLimit { max_per_window, window: Duration::from_millis(window_ms), max_wait: Duration::ZERO };
        MemoryStore::new(Duration::from_secs(60), limit)
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_slides_one_send_at_a_time() {
        let store = store(2, 1000);
        assert_eq!(store.try_send("c").await, Ok(()));
        tokio::time::advance(Duration::from_millis(400)).await;
        assert_eq!(store.try_send("c").await, Ok(()));
        assert_eq!(store.try_send("c").await, Err(Duration::from_millis(600)));
        assert_eq!(store.try_send("other").await, Ok(()), "conversations are limited separately");
        tokio::time::advance(Duration::from_millis(600)).await;
        assert_eq!(store.try_send("c").await, Ok(()), "the first send left the window");
        assert_eq!(store.try_send("c").await, Err(Duration::from_millis(400)));
    }

    #[tokio::test(start_paused = true)]
    async fn recorded_sends_count_against_the_local_window() {
        let store = store(2, 1000);
        for _ in 0..5 {
            store.record_send("c").await;
        }
        assert_eq!(store.try_send("c").await, Err(Duration::from_millis(1000)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_id_is_remembered_for_at_least_the_ttl_and_then_forgotten() {
        let store = store(1, 1000);
        assert!(store.first_seen("msg:a").await);
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(!store.first_seen("msg:a").await);
        assert!(store.first_seen("msg:b").await);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!store.first_seen("msg:a").await, "still within its TTL of 60 s (61 s, rotated once)");
        assert!(!store.first_seen("msg:b").await);
        tokio::time::advance(Duration::from_secs(120)).await;
        assert!(store.first_seen("msg:a").await, "forgotten after twice the TTL");
        let seen = lock(&store.seen);
        assert_eq!((seen.current.len(), seen.previous.len()), (1, 0), "only the id seen since is kept");
    }

    #[tokio::test(start_paused = true)]
    async fn a_conversation_that_went_quiet_is_forgotten_but_not_within_its_window() {
        let store = store(2, 1000);
        assert_eq!(store.try_send("c").await, Ok(()));
        assert_eq!(store.try_send("c").await, Ok(()));
        tokio::time::advance(Duration::from_millis(999)).await;
        store.record_send("other").await;
        assert_eq!(store.try_send("c").await, Err(Duration::from_millis(1)), "moved on, not forgotten");
        tokio::time::advance(Duration::from_millis(2001)).await;
        store.record_send("other").await;
        let sends = lock(&store.sends);
        assert_eq!((sends.current.len(), sends.previous.len()), (1, 0), "only the conversation still sending");
    }

    #[test]
    fn a_send_log_keeps_one_send_inline_and_slides_when_it_grows() {
        let mut logs = SendLogs::default();
        assert_eq!(logs.try_push(7, 0, 100, 1), Ok(1));
        assert_eq!(logs.try_push(7, 10, 100, 1), Err(90));
        assert_eq!(logs.try_push(7, 100, 100, 1), Ok(1));
        assert_eq!(
            (logs.once.get(&7), logs.more.len()),
            (Some(&100), 0),
            "an expired single send is replaced in place"
        );
        assert_eq!(logs.try_push(7, 150, 100, 3), Ok(2));
        assert_eq!(logs.try_push(7, 160, 100, 3), Ok(3));
        assert_eq!(logs.try_push(7, 170, 100, 3), Err(30));
        assert_eq!(logs.len(), 1);
        logs.push(7, 180, 2);
        assert_eq!(logs.more[&7].iter().copied().collect::<Vec<_>>(), vec![160, 180]);
        logs.push(8, 180, 2);
        logs.push(8, 190, 1);
        assert_eq!((logs.once.get(&8), logs.more.get(&8)), (Some(&190), None), "a single send stays inline");
    }

    #[tokio::test]
    async fn settings_are_kept_per_conversation_and_can_be_cleared() {
        let store = store(1, 1000);
        assert_eq!(store.setting("c1", "lang").await, None);
        store.set_setting("c1", "lang", Some("en")).await;
        assert_eq!(store.setting("c1", "lang").await.as_deref(), Some("en"));
        assert_eq!(store.setting("c2", "lang").await, None);
        store.set_setting("c1", "lang", None).await;
        assert_eq!(store.setting("c1", "lang").await, None);
    }
}
