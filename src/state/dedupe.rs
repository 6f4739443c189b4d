//! Duplicate detection: a key (a message id, a delivery id) is new once within the dedupe
//! window. In Redis while it answers, for every replica; in memory always, so an outage does not
//! forget what this replica saw. (The journal's own check is in [`super::journal`].)

use super::StateStore;

/// The dedupe view of the store.
#[derive(Debug, Clone, Copy)]
pub struct Dedupe<'a> {
    pub(super) store: &'a StateStore,
}

impl Dedupe<'_> {
    /// Records `key` and returns true if it was not seen within the TTL (atomic: of any number
    /// of concurrent callers with one key, on any replica sharing the Redis, exactly one gets true).
    pub async fn first_seen(self, key: &str) -> bool {
        let store = self.store;
        if let Some(shared) = &store.shared
            && let Some(fresh) = Box::pin(shared.first_seen(key, store.options.dedupe_ttl)).await
        {
            // Remembered locally too, so an outage does not forget what this replica just saw.
            store.local.first_seen(key).await;
            return fresh;
        }
        store.local.first_seen(key).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::state::Backend;

    #[tokio::test]
    async fn a_key_is_fresh_exactly_once_even_under_a_race() {
        let store = StateStore::memory(Duration::from_secs(60));
        let handles: Vec<_> = (0..50)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.dedupe().first_seen("msg-1").await })
            })
            .collect();
        let mut fresh = 0;
        for handle in handles {
            fresh += usize::from(handle.await.expect("task"));
        }
        assert_eq!(fresh, 1);
        assert!(store.dedupe().first_seen("msg-2").await);
        assert_eq!(store.backend(), Backend::Memory);
    }
}
