//! Counters in Redis every replica adds to (`HINCRBY`), that expire a while after their last
//! change.

use std::time::Duration;

use super::RedisStore;

impl RedisStore {
    /// Adds `deltas` (field, amount) to the counters of `key`, which live `ttl` past the last
    /// change; returns every counter of `key` after the change. `None` if Redis did not answer.
    pub(in crate::state) async fn add_counts(
        &self,
        key: &str,
        deltas: &[(String, i64)],
        ttl: Duration,
    ) -> Option<Vec<(String, i64)>> {
        let key = format!("{}counts:{key}", self.prefix);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (field, delta) in deltas {
            pipe.cmd("HINCRBY").arg(&key).arg(field).arg(*delta).ignore();
        }
        pipe.cmd("PEXPIRE").arg(&key).arg(ttl_ms).ignore();
        pipe.cmd("HGETALL").arg(&key);
        let pipe = &pipe;
        let (counts,): (Vec<(String, i64)>,) =
            self.run(|mut conn| async move { pipe.query_async(&mut conn).await }).await?;
        Some(counts)
    }
}
