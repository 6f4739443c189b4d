//! How the store behaves, whichever backend holds it: the dedupe window, the send rate limit,
//! the Redis key prefix and CA file, and the journal's settings.

use std::path::PathBuf;
use std::time::Duration;

/// How many replies one conversation may get per window, and how long a reply may wait for a
/// free slot before it is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Replies allowed per window; 0 turns the limit off.
    pub max_per_window: u32,
    pub window: Duration,
    pub max_wait: Duration,
}

impl RateLimit {
    /// DingTalk throttles a robot for 10 minutes beyond 20 messages a minute in one group.
    pub fn per_minute(max: u32, max_wait: Duration) -> Self {
        Self { max_per_window: max, window: Duration::from_secs(60), max_wait }
    }
}

/// How the store behaves, whichever backend holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateOptions {
    /// How long a message id is remembered.
    pub dedupe_ttl: Duration,
    pub rate_limit: RateLimit,
    /// Prepended to every Redis key, so several bots can share one Redis.
    pub key_prefix: String,
    /// For `rediss://`: a PEM file of the CA certificates the server's certificate must chain to,
    /// instead of the system roots.
    pub redis_ca_file: Option<PathBuf>,
    /// Whether accepted messages are journaled before they are acknowledged.
    pub journal: bool,
    /// With Redis: how long a journaled message may sit unacknowledged by its replica before
    /// another takes it over.
    pub journal_claim: Duration,
}

impl Default for StateOptions {
    fn default() -> Self {
        Self {
            dedupe_ttl: Duration::from_secs(600),
            rate_limit: RateLimit::per_minute(18, Duration::from_secs(30)),
            key_prefix: "dingmeet:".to_owned(),
            redis_ca_file: None,
            journal: true,
            journal_claim: Duration::from_secs(30),
        }
    }
}
