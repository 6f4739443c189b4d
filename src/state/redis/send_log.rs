//! The send rate limit in Redis: a sliding window per conversation on Redis's clock, so every
//! replica agrees.

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
}
