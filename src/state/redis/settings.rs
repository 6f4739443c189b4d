//! Per-conversation settings in Redis: a hash per conversation.

use super::RedisStore;

impl RedisStore {
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
