//! The per-conversation send rate limit: a sliding window of sends, on Redis's clock for every
//! replica while it answers, else in memory (the window's later sends also written to SQLite,
//! so a restart does not start it over).

use std::time::Duration;

use super::StateStore;

/// The outcome of asking for a send slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendSlot {
    /// Send now; `waited` is how long the reply queued for the slot.
    Granted { waited: Duration },
    /// No slot within the allowed wait; the next frees up after `retry_after`.
    Refused { retry_after: Duration },
}

/// The send rate limit view of the store.
#[derive(Debug, Clone, Copy)]
pub struct SendLimit<'a> {
    pub(super) store: &'a StateStore,
}

impl SendLimit<'_> {
    /// Takes a send slot for `conversation` now, or says how long until one frees up.
    pub async fn try_slot(self, conversation: &str) -> Result<(), Duration> {
        let store = self.store;
        let limit = store.options.rate_limit;
        if limit.max_per_window == 0 {
            return Ok(());
        }
        if let Some(shared) = &store.shared
            && let Some(result) = Box::pin(shared.try_send(conversation, limit.max_per_window, limit.window)).await
        {
            if result.is_ok() {
                store.local.record_send(conversation).await;
            }
            return result;
        }
        let sent = store.local.try_send_counted(conversation).await?;
        if sent >= 2
            && let Some(durable) = &store.durable
        {
            // So a restart does not start the window over (DingTalk's count does not). A
            // window's first send is not written: most conversations send once, and the one send
            // a restart forgets stays within the two the default limit keeps below DingTalk's 20.
            durable.record_send(conversation);
        }
        Ok(())
    }

    /// Waits for a send slot for `conversation`, at most the configured `max_wait`; refuses at
    /// once if no slot would free up in time.
    pub async fn wait_for_slot(self, conversation: &str) -> SendSlot {
        let started = tokio::time::Instant::now();
        let mut waited = Duration::ZERO;
        loop {
            match self.try_slot(conversation).await {
                Ok(()) => return SendSlot::Granted { waited },
                Err(retry_after) => {
                    if started.elapsed() + retry_after > self.store.options.rate_limit.max_wait {
                        return SendSlot::Refused { retry_after };
                    }
                    tokio::time::sleep(retry_after).await;
                    waited = started.elapsed();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{RateLimit, StateOptions};

    fn limited(max_per_window: u32, window_ms: u64, max_wait_ms: u64) -> StateStore {
        StateStore::memory_with(StateOptions {
            rate_limit: RateLimit {
                max_per_window,
                window: Duration::from_millis(window_ms),
                max_wait: Duration::from_millis(max_wait_ms),
            },
            ..StateOptions::default()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_reply_queues_for_a_free_slot_within_the_allowed_wait() {
        let store = limited(2, 1000, 1500);
        for _ in 0..2 {
            assert_eq!(store.send_limit().wait_for_slot("c").await, SendSlot::Granted { waited: Duration::ZERO });
        }
        assert_eq!(
            store.send_limit().wait_for_slot("c").await,
            SendSlot::Granted { waited: Duration::from_millis(1000) }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_reply_that_would_wait_too_long_is_refused_at_once() {
        let store = limited(1, 60_000, 1000);
        assert!(matches!(store.send_limit().wait_for_slot("c").await, SendSlot::Granted { .. }));
        let started = tokio::time::Instant::now();
        assert_eq!(
            store.send_limit().wait_for_slot("c").await,
            SendSlot::Refused { retry_after: Duration::from_millis(60_000) }
        );
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test]
    async fn a_zero_limit_means_no_limit() {
        let store = limited(0, 60_000, 0);
        for _ in 0..100 {
            assert_eq!(store.send_limit().try_slot("c").await, Ok(()));
        }
    }

    #[test]
    fn the_default_stays_under_dingtalks_twenty_a_minute() {
        let limit = StateOptions::default().rate_limit;
        assert!(limit.max_per_window < 20 && limit.window == Duration::from_secs(60));
    }
}
