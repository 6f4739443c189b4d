//! The in-process state: the whole store of a single replica, and the fallback of the Redis store
//! while Redis is unreachable: message ids seen, settings, and the send log ([`send_log`]).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

mod send_log;

use self::send_log::SendLogs;
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

    pub(super) fn store(max_per_window: u32, window_ms: u64) -> MemoryStore {
        let limit = RateLimit { max_per_window, window: Duration::from_millis(window_ms), max_wait: Duration::ZERO };
        MemoryStore::new(Duration::from_secs(60), limit)
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
