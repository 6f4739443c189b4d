//! Claims on pieces of work (a reminder's send, a live card's look), so only one replica does
//! each, and none does it again once it is done. In Redis; without it, or while it does not
//! answer, there is no other replica to ask and the work is this one's.

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

/// The claims view of the store.
#[derive(Debug, Clone, Copy)]
pub struct Claims<'a> {
    pub(super) store: &'a StateStore,
}

impl Claims<'_> {
    /// Claims `key` for `ttl` (a replica that dies holding it lets it go then).
    pub async fn claim(self, key: &str, ttl: Duration) -> Claim {
        let Some(shared) = &self.store.shared else { return Claim::Mine };
        match Box::pin(shared.claim(key, ttl)).await {
            None | Some(None) => Claim::Mine,
            Some(Some(held)) if held == super::redis::DONE => Claim::Done,
            Some(Some(_)) => Claim::Busy,
        }
    }

    /// Marks a claimed piece of work done for `ttl`, so no replica does it again.
    pub async fn finish(self, key: &str, ttl: Duration) {
        if let Some(shared) = &self.store.shared
            && !Box::pin(shared.finish_claim(key, ttl)).await
        {
            tracing::warn!(key, "a finished claim could not be marked in Redis: another replica may redo it");
        }
    }
}
