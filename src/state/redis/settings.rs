//! Per-conversation settings in Redis: a hash per conversation. A cleared setting is kept as an
//! empty value, so a missing one means "Redis does not know" (it may have lost its data) rather
//! than "removed", and the view asks this machine instead.

use super::RedisStore;

/// The value a cleared setting is kept as.
pub(in crate::state) const CLEARED: &str = "";

/// How many settings one republishing round trip carries.
const REPUBLISH_CHUNK: usize = 500;

impl RedisStore {
    /// `Some(None)`: Redis has no value (not even a cleared one); `None`: Redis did not answer.
    pub(in crate::state) async fn setting(&self, conversation: &str, key: &str) -> Option<Option<String>> {
        let hash = format!("{}settings:{conversation}", self.prefix);
        self.run(|mut conn| async move { redis::cmd("HGET").arg(hash).arg(key).query_async(&mut conn).await }).await
    }

    /// Stores (or with `None` marks cleared) a setting; false if Redis could not answer.
    pub(in crate::state) async fn set_setting(&self, conversation: &str, key: &str, value: Option<&str>) -> bool {
        let hash = format!("{}settings:{conversation}", self.prefix);
        let mut command = redis::cmd("HSET").arg(hash).arg(key).arg(value.unwrap_or(CLEARED)).to_owned();
        let command = &mut command;
        self.run(|mut conn| async move { command.exec_async(&mut conn).await }).await.is_some()
    }

    /// Puts back `settings` (`(scope, name, value)`) where Redis has none: what another replica
    /// set since is newer and stays. How many were missing.
    pub(super) async fn republish_settings(
        &self,
        conn: &mut redis::aio::ConnectionManager,
        settings: &[(String, String, String)],
    ) -> redis::RedisResult<usize> {
        let mut missing = 0;
        for chunk in settings.chunks(REPUBLISH_CHUNK) {
            let mut pipe = redis::pipe();
            for (scope, name, value) in chunk {
                pipe.cmd("HSETNX").arg(format!("{}settings:{scope}", self.prefix)).arg(name).arg(value);
            }
            let set: Vec<u32> = pipe.query_async(conn).await?;
            missing += set.iter().filter(|&&set| set == 1).count();
        }
        Ok(missing)
    }
}
