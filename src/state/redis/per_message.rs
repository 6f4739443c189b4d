//! What every message reads in Redis: duplicate detection, the send rate limit (a sliding
//! window on Redis's clock) and per-conversation settings.

use std::time::Duration;

use super::RedisStore;

/// A sliding-window send log per conversation, on Redis's clock so every replica agrees.
/// KEYS[1] the log (a sorted set of send times in ms); ARGV[1] sends allowed per window;
/// ARGV[2] the window in ms; ARGV[3] a unique member for this send.
/// Returns 0 when the send may go now, else the ms until a slot frees up.
pub(super) const SEND_SLOT_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
";

impl RedisStore {
    /// `SET key 1 NX PX ttl`: `Some(true)` if the key was new, `None` if Redis could not answer.
    pub(in crate::state) async fn first_seen(&self, key: &str, ttl: Duration) -> Option<bool> {
        let key = format!("{}seen:{key}", self.prefix);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.run(|mut conn| async move {
            let set: Option<String> =
                redis::cmd("SET").arg(key).arg(1).arg("NX").arg("PX").arg(ttl_ms).query_async(&mut conn).await?;
            Ok(set.is_some())
        })
        .await
    }

    /// Takes a send slot: `Some(Ok(()))`, or `Some(Err(wait))` until one frees up.
    pub(in crate::state) async fn try_send(
        &self,
        conversation: &str,
        limit: u32,
        window: Duration,
    ) -> Option<Result<(), Duration>> {
        let key = format!("{}sends:{conversation}", self.prefix);
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let member = format!("{:016x}", fastrand::u64(..));
        let script = &self.send_slot;
        let wait_ms = self
            .run(|mut conn| async move {
                script.key(key).arg(limit).arg(window_ms).arg(member).invoke_async::<u64>(&mut conn).await
            })
            .await?;
        Some(if wait_ms == 0 { Ok(()) } else { Err(Duration::from_millis(wait_ms)) })
    }

    pub(in crate::state) async fn setting(&self, conversation: &str, key: &str) -> Option<Option<String>> {
        let hash = format!("{}settings:{conversation}", self.prefix);
        self.run(|mut conn| async move { redis::cmd("HGET").arg(hash).arg(key).query_async(&mut conn).await }).await
    }

    /// Stores (or with `None` removes) a setting; false if Redis could not answer.
    pub(in crate::state) async fn set_setting(&self, conversation: &str, key: &str, value: Option<&str>) -> bool {
        let hash = format!("{}settings:{conversation}", self.prefix);
        let mut command = match value {
            Some(value) => redis::cmd("HSET").arg(hash).arg(key).arg(value).to_owned(),
            None => redis::cmd("HDEL").arg(hash).arg(key).to_owned(),
        };
        let command = &mut command;
        self.run(|mut conn| async move { command.exec_async(&mut conn).await }).await.is_some()
    }
}
