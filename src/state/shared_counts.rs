//! Counters every replica adds to (the budget's calls per organisation and day), in Redis. There
//! is no local side: without Redis, or while it does not answer, each replica counts alone.

use std::time::Duration;

use super::StateStore;

/// The shared counters view of the store.
#[derive(Debug, Clone, Copy)]
pub struct SharedCounts<'a> {
    pub(super) store: &'a StateStore,
}

impl SharedCounts<'_> {
    /// Adds `deltas` (field, amount) to the shared counters of `key` (kept `ttl` past their last
    /// change) and returns all of them; `None` without Redis or if it did not answer.
    pub async fn add(self, key: &str, deltas: &[(String, i64)], ttl: Duration) -> Option<Vec<(String, i64)>> {
        Box::pin(self.store.shared.as_ref()?.add_counts(key, deltas, ttl)).await
    }
}
