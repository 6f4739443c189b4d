//! Kept records and claims shared by every replica through Redis (when it is configured and
//! answering): what one replica keeps, another can do, and a claim makes sure only one does.

use std::time::Duration;

use super::StateStore;

/// What claiming a piece of work found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This replica does it (also without Redis, or while Redis is unreachable: then there is
    /// no other replica to ask).
    Mine,
    /// Another replica is doing it now.
    Busy,
    /// Already done.
    Done,
}

impl StateStore {
    /// Whether replicas share records through Redis (whether or not it answers right now).
    pub fn shares(&self) -> bool {
        self.shared.is_some()
    }

    /// Whether records are shared through Redis right now.
    pub fn sharing(&self) -> bool {
        self.shared.as_ref().is_some_and(|shared| shared.is_up())
    }

    /// Keeps `payload` in Redis; false without Redis or if it did not answer.
    pub async fn put_shared(&self, kind: &str, key: &str, due_ms: Option<i64>, payload: &str) -> bool {
        match &self.shared {
            Some(shared) => Box::pin(shared.put_kept(kind, key, due_ms, payload)).await,
            None => false,
        }
    }

    /// A record from Redis; `None` without Redis or if it did not answer.
    pub async fn shared(&self, kind: &str, key: &str) -> Option<Option<String>> {
        Box::pin(self.shared.as_ref()?.kept(kind, key)).await
    }

    /// Forgets a record in Redis; `None` without Redis or if it did not answer.
    pub async fn remove_shared(&self, kind: &str, key: &str) -> Option<bool> {
        Box::pin(self.shared.as_ref()?.remove_kept(kind, key)).await
    }

    /// The records in Redis due by `until_ms`; `None` without Redis or if it did not answer.
    pub async fn due_shared(&self, kind: &str, until_ms: i64) -> Option<Vec<(String, String)>> {
        Box::pin(self.shared.as_ref()?.due_kept(kind, until_ms)).await
    }

    /// Adds `deltas` (field, amount) to the shared counters of `key` (kept `ttl` past their last
    /// change) and returns all of them; `None` without Redis or if it did not answer.
    pub async fn add_shared_counts(
        &self,
        key: &str,
        deltas: &[(String, i64)],
        ttl: Duration,
    ) -> Option<Vec<(String, i64)>> {
        Box::pin(self.shared.as_ref()?.add_counts(key, deltas, ttl)).await
    }

    /// Claims `key` for `ttl` (a replica that dies holding it lets it go then).
    pub async fn claim(&self, key: &str, ttl: Duration) -> Claim {
        let Some(shared) = &self.shared else { return Claim::Mine };
        match Box::pin(shared.claim(key, ttl)).await {
            None | Some(None) => Claim::Mine,
            Some(Some(held)) if held == super::redis::DONE => Claim::Done,
            Some(Some(_)) => Claim::Busy,
        }
    }

    /// Marks a claimed piece of work done for `ttl`, so no replica does it again.
    pub async fn finish_claim(&self, key: &str, ttl: Duration) {
        if let Some(shared) = &self.shared
            && !Box::pin(shared.finish_claim(key, ttl)).await
        {
            tracing::warn!(key, "a finished claim could not be marked in Redis: another replica may redo it");
        }
    }
}
