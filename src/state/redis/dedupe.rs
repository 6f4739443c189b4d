//! Duplicate detection in Redis: a key per message id, set only if absent, that expires with the
//! dedupe window.

use std::time::Duration;

use super::RedisStore;

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
}
