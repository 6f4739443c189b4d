//! The send rate limit's side in memory: each conversation's send times in the window, in two
//! generations like the rest of the in-process state.

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::MutexGuard;
use std::time::Duration;

use tokio::time::Instant;

use super::{Generations, Hashed, Len, MAX_CONVERSATIONS, MemoryStore, lock, nanos};

/// Send times of the conversations, in nanoseconds since the store's epoch. Most conversations
/// sent once in the window, so that time is the whole entry of the larger map (16 bytes with its
/// key; a busy bot keeps up to [`MAX_CONVERSATIONS`] of them in each generation); the few that
/// sent more keep their times, oldest first, in a second map.
#[derive(Default)]
pub(super) struct SendLogs {
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

impl MemoryStore {
    /// Takes a send slot for `conversation` now, or says how long until one frees up.
    #[cfg(test)]
    pub(in crate::state) async fn try_send(&self, conversation: &str) -> Result<(), Duration> {
        self.try_send_counted(conversation).await.map(drop)
    }

    /// Takes a send slot for `conversation` now and says how many sends the window holds with
    /// this one, or says how long until a slot frees up.
    ///
    /// A sliding window log rather than a token bucket: DingTalk counts messages per minute, and a
    /// bucket that refills steadily would let a burst plus the refill exceed that count.
    pub(in crate::state) async fn try_send_counted(&self, conversation: &str) -> Result<usize, Duration> {
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
    pub(in crate::state) async fn record_send(&self, conversation: &str) {
        self.record_send_at(conversation, Instant::now());
    }

    /// Counts a send made at `sent` (a send from before a restart, loaded from the store).
    pub(in crate::state) fn record_send_at(&self, conversation: &str, sent: Instant) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::memory::tests::store;

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
}
