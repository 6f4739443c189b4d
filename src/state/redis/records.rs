//! The shared registries' records in Redis, seen by every replica: per kind a hash of payloads
//! and a sorted set of due times.

use super::RedisStore;

/// How many records one republishing round trip carries.
const REPUBLISH_CHUNK: usize = 200;

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

    /// Puts back `records` (`(key, due, payload)`) that Redis lacks: one another replica changed
    /// since is newer and stays. How many were missing; `None` if Redis did not answer.
    pub(in crate::state) async fn republish_kept(
        &self,
        kind: &str,
        records: &[(String, Option<i64>, String)],
    ) -> Option<usize> {
        let (hash, due) = self.kept_keys(kind);
        let mut missing = 0;
        for chunk in records.chunks(REPUBLISH_CHUNK) {
            let mut pipe = redis::pipe();
            for (key, _, payload) in chunk {
                pipe.cmd("HSETNX").arg(&hash).arg(key).arg(payload);
            }
            let pipe = &pipe;
            let set: Vec<u32> = self.run(|mut conn| async move { pipe.query_async(&mut conn).await }).await?;
            let mut schedule = redis::pipe();
            for ((key, at, _), set) in chunk.iter().zip(set) {
                if set == 1 {
                    missing += 1;
                    if let Some(at) = at {
                        schedule.cmd("ZADD").arg(&due).arg("NX").arg(*at).arg(key).ignore();
                    }
                }
            }
            let schedule = &schedule;
            self.run(|mut conn| async move { schedule.exec_async(&mut conn).await }).await?;
        }
        Some(missing)
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
}
