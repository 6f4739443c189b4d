//! Claims in Redis (`SET NX PX` by script), so one replica at a time does a piece of work, and
//! none does it again once it is marked done.

use std::time::Duration;

use super::RedisStore;

impl RedisStore {
    /// Claims `key` for this replica for `ttl`: `Some(None)` if it holds it now, else
    /// `Some(Some(holder))` with what the holder wrote (a replica's name while it works,
    /// [`DONE`] once the work is done).
    pub(in crate::state) async fn claim(&self, key: &str, ttl: Duration) -> Option<Option<String>> {
        let key = format!("{}claim:{key}", self.prefix);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let consumer = &self.consumer;
        self.run(|mut conn| async move {
            redis::Script::new(CLAIM_SCRIPT).key(key).arg(consumer).arg(ttl_ms).invoke_async(&mut conn).await
        })
        .await
    }

    /// Marks a claim's work done, kept for `ttl` so no replica does it again; false if Redis
    /// did not answer.
    pub(in crate::state) async fn finish_claim(&self, key: &str, ttl: Duration) -> bool {
        let key = format!("{}claim:{key}", self.prefix);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.run(|mut conn| async move {
            redis::cmd("SET").arg(key).arg(DONE).arg("PX").arg(ttl_ms).exec_async(&mut conn).await
        })
        .await
        .is_some()
    }
}

/// What a claim holds once its work is done.
pub(in crate::state) const DONE: &str = "done";

/// KEYS[1] the claim; ARGV[1] this replica; ARGV[2] the claim's life in ms. Returns nil when
/// claimed, else what the claim holds. (A script rather than `SET NX GET`, which needs Redis 7.)
const CLAIM_SCRIPT: &str = r"
local held = redis.call('GET', KEYS[1])
if held then return held end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
";
