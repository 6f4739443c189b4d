//! Kept records in Redis, shared by every replica: per kind a hash of payloads and a sorted
//! set of due times; claims (`SET NX PX`) so one replica at a time does a record's work; and
//! counters every replica adds to (`HINCRBY`).

use std::time::Duration;

use super::RedisStore;

impl RedisStore {
    fn kept_keys(&self, kind: &str) -> (String, String) {
        (format!("{}kept:{kind}", self.prefix), format!("{}kept-due:{kind}", self.prefix))
    }

    /// Keeps `payload` under `key`, due at `due_ms` if scheduled; false if Redis did not answer.
    pub(in crate::state) async fn put_kept(&self, kind: &str, key: &str, due_ms: Option<i64>, payload: &str) -> bool {
        let (records, due) = self.kept_keys(kind);
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("HSET").arg(&records).arg(key).arg(payload).ignore();
        match due_ms {
            Some(at) => pipe.cmd("ZADD").arg(&due).arg(at).arg(key).ignore(),
            None => pipe.cmd("ZREM").arg(&due).arg(key).ignore(),
        };
        let pipe = &pipe;
        self.run(|mut conn| async move { pipe.exec_async(&mut conn).await }).await.is_some()
    }

    pub(in crate::state) async fn kept(&self, kind: &str, key: &str) -> Option<Option<String>> {
        let (records, _) = self.kept_keys(kind);
        self.run(|mut conn| async move { redis::cmd("HGET").arg(records).arg(key).query_async(&mut conn).await }).await
    }

    /// Forgets `key`: `Some(true)` if it was kept.
    pub(in crate::state) async fn remove_kept(&self, kind: &str, key: &str) -> Option<bool> {
        let (records, due) = self.kept_keys(kind);
        self.run(|mut conn| async move {
            let (removed, ()): (u32, ()) = redis::pipe()
                .atomic()
                .cmd("HDEL")
                .arg(&records)
                .arg(key)
                .cmd("ZREM")
                .arg(&due)
                .arg(key)
                .ignore()
                .query_async(&mut conn)
                .await?;
            Ok(removed > 0)
        })
        .await
    }

    /// The records due at or before `until_ms`, soonest first.
    pub(in crate::state) async fn due_kept(&self, kind: &str, until_ms: i64) -> Option<Vec<(String, String)>> {
        let (records, due) = self.kept_keys(kind);
        let keys: Vec<String> = self
            .run(|mut conn| async move {
                redis::cmd("ZRANGEBYSCORE").arg(&due).arg("-inf").arg(until_ms).query_async(&mut conn).await
            })
            .await?;
        if keys.is_empty() {
            return Some(Vec::new());
        }
        let payloads: Vec<Option<String>> = self
            .run(|mut conn| {
                let keys = &keys;
                async move { redis::cmd("HMGET").arg(records).arg(keys).query_async(&mut conn).await }
            })
            .await?;
        Some(keys.into_iter().zip(payloads).filter_map(|(key, payload)| Some((key, payload?))).collect())
    }

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

/// What a claim holds once its work is done.
pub(crate) const DONE: &str = "done";

/// KEYS[1] the claim; ARGV[1] this replica; ARGV[2] the claim's life in ms. Returns nil when
/// claimed, else what the claim holds. (A script rather than `SET NX GET`, which needs Redis 7.)
const CLAIM_SCRIPT: &str = r"
local held = redis.call('GET', KEYS[1])
if held then return held end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
";
