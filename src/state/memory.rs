//! The in-process state: the whole store of a single replica, and the fallback of the Redis store
//! while Redis is unreachable.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::RateLimit;

/// The most conversations whose settings or send log are kept (least recently used go first).
const MAX_CONVERSATIONS: u64 = 100_000;
/// The most message ids remembered at once.
const MAX_SEEN: u64 = 1_000_000;

/// Send times of one conversation, oldest first.
type SendLog = Arc<Mutex<VecDeque<Instant>>>;

pub(super) struct MemoryStore {
    seen: moka::future::Cache<String, ()>,
    sends: moka::future::Cache<String, SendLog>,
    settings: moka::future::Cache<(String, String), String>,
    limit: RateLimit,
}

impl MemoryStore {
    pub(super) fn new(dedupe_ttl: Duration, limit: RateLimit) -> Self {
        let seen = moka::future::Cache::builder().max_capacity(MAX_SEEN).time_to_live(dedupe_ttl).build();
        // A log idle for a whole window holds nothing that still counts.
        let sends = moka::future::Cache::builder()
            .max_capacity(MAX_CONVERSATIONS)
            .time_to_idle(limit.window.max(Duration::from_millis(1)))
            .build();
        let settings = moka::future::Cache::builder().max_capacity(MAX_CONVERSATIONS).build();
        Self { seen, sends, settings, limit }
    }

    /// True the first time `key` is seen within the TTL; atomic for concurrent callers.
    pub(super) async fn first_seen(&self, key: &str) -> bool {
        self.seen.entry_by_ref(key).or_insert(()).await.is_fresh()
    }

    /// Takes a send slot for `conversation` now, or says how long until one frees up.
    ///
    /// A sliding window log rather than a token bucket: DingTalk counts messages per minute, and a
    /// bucket that refills steadily would let a burst plus the refill exceed that count.
    pub(super) async fn try_send(&self, conversation: &str) -> Result<(), Duration> {
        let log = self.send_log(conversation).await;
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        while log.front().is_some_and(|&sent| now.duration_since(sent) >= self.limit.window) {
            log.pop_front();
        }
        if log.len() < self.limit.max_per_window as usize {
            log.push_back(now);
            return Ok(());
        }
        let oldest = log.front().copied().unwrap_or(now);
        Err((self.limit.window.saturating_sub(now.duration_since(oldest))).max(Duration::from_millis(1)))
    }

    /// Counts a send that the shared store allowed, so a later fallback starts from what this
    /// replica really sent.
    pub(super) async fn record_send(&self, conversation: &str) {
        let log = self.send_log(conversation).await;
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        log.push_back(Instant::now());
        let excess = log.len().saturating_sub(self.limit.max_per_window as usize);
        log.drain(..excess);
    }

    async fn send_log(&self, conversation: &str) -> SendLog {
        self.sends.entry_by_ref(conversation).or_insert_with(async { SendLog::default() }).await.into_value()
    }

    pub(super) async fn setting(&self, conversation: &str, key: &str) -> Option<String> {
        self.settings.get(&(conversation.to_owned(), key.to_owned())).await
    }

    pub(super) async fn set_setting(&self, conversation: &str, key: &str, value: Option<&str>) {
        let entry = (conversation.to_owned(), key.to_owned());
        match value {
            Some(value) => self.settings.insert(entry, value.to_owned()).await,
            None => self.settings.invalidate(&entry).await,
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
