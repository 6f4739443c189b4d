//! The journal in Redis: a stream with one consumer group, each accepted message recorded and
//! claimed by its replica in one step, claims kept fresh while answering, done entries deleted,
//! and a stopped replica's entries taken over.

use std::collections::HashSet;
use std::sync::PoisonError;
use std::time::Duration;

use super::RedisStore;

/// The journal's consumer group: every replica is a consumer of it.
pub(super) const GROUP: &str = "dingmeet";
/// The most entries one take-over claims.
const CLAIM_BATCH: usize = 100;

/// Records an accepted message: the duplicate check and the journal entry in one step, so a
/// message is never marked seen without being journaled. The entry goes straight into this
/// replica's pending list (XCLAIM FORCE), where it stays until done or taken over.
/// KEYS[1] the seen key; KEYS[2] the journal stream; ARGV[1] the dedupe TTL in ms; ARGV[2] the
/// group; ARGV[3] this replica's consumer name; ARGV[4] the msgId; ARGV[5] the payload.
/// Returns the entry id, or nil for a duplicate.
pub(super) const RECORD_SCRIPT: &str = r"
if not redis.call('SET', KEYS[1], 1, 'NX', 'PX', ARGV[1]) then return false end
local id = redis.call('XADD', KEYS[2], '*', 'msg', ARGV[4], 'body', ARGV[5])
local claimed = redis.pcall('XCLAIM', KEYS[2], ARGV[2], ARGV[3], 0, id, 'FORCE', 'JUSTID')
if type(claimed) == 'table' and claimed.err then
  redis.call('XGROUP', 'CREATE', KEYS[2], ARGV[2], '0', 'MKSTREAM')
  redis.call('XCLAIM', KEYS[2], ARGV[2], ARGV[3], 0, id, 'FORCE', 'JUSTID')
end
return id
";

impl RedisStore {
    fn journal_key(&self) -> String {
        format!("{}journal", self.prefix)
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.in_flight.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn unmarked(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.unmarked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records an accepted message in the journal, claimed by this replica: `Some(Some(id))` if
    /// new, `Some(None)` for a duplicate, `None` if Redis could not answer.
    pub(in crate::state) async fn record(
        &self,
        seen_key: &str,
        ttl: Duration,
        msg_id: &str,
        payload: &str,
    ) -> Option<Option<String>> {
        let seen = format!("{}seen:{seen_key}", self.prefix);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let (journal, script, consumer) = (self.journal_key(), &self.record, &self.consumer);
        let id = self
            .run(|mut conn| async move {
                script
                    .key(seen)
                    .key(journal)
                    .arg(ttl_ms)
                    .arg(GROUP)
                    .arg(consumer)
                    .arg(msg_id)
                    .arg(payload)
                    .invoke_async::<Option<String>>(&mut conn)
                    .await
            })
            .await?;
        if let Some(id) = &id {
            self.in_flight().insert(id.clone());
        }
        Some(id)
    }

    /// `SET replied:<msgId> NX`: true if this replica is the one to send the reply (also when
    /// its own earlier attempt set the marker and the answer was lost on the way).
    pub(in crate::state) async fn claim_reply(&self, msg_id: &str, ttl: Duration) -> Option<bool> {
        let key = format!("{}replied:{msg_id}", self.prefix);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let consumer = &self.consumer;
        self.run(|mut conn| async move {
            let set: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg(consumer)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms)
                .query_async(&mut conn)
                .await?;
            if set.is_some() {
                return Ok(true);
            }
            let holder: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut conn).await?;
            Ok(holder.as_deref() == Some(consumer.as_str()))
        })
        .await
    }

    /// Acknowledges and deletes a journal entry. When Redis does not take it, the entry is kept
    /// as answered here: marked again at the next claim upkeep, and not answered again if a
    /// take-over finds it first.
    pub(in crate::state) async fn finish(&self, id: &str) {
        self.in_flight().remove(id);
        if self.mark_done(id).await {
            self.unmarked().remove(id);
        } else {
            self.unmarked().insert(id.to_owned());
            tracing::warn!(
                entry = id,
                "a finished message could not be marked done in Redis; it is marked again once Redis answers, \
                 and not answered again"
            );
        }
    }

    /// `XACK` and `XDEL` of one entry; whether Redis took them.
    async fn mark_done(&self, id: &str) -> bool {
        let journal = self.journal_key();
        self.run(|mut conn| async move {
            redis::pipe()
                .cmd("XACK")
                .arg(&journal)
                .arg(GROUP)
                .arg(id)
                .ignore()
                .cmd("XDEL")
                .arg(&journal)
                .arg(id)
                .ignore()
                .exec_async(&mut conn)
                .await
        })
        .await
        .is_some()
    }

    /// Resets the idle time of this replica's in-flight entries, so a slow answer (a held
    /// lookup, a rate-limit wait) is not mistaken for a stopped replica.
    pub(in crate::state) async fn keep_claims(&self) {
        let unmarked: Vec<String> = self.unmarked().iter().cloned().collect();
        for id in unmarked {
            if self.mark_done(&id).await {
                self.unmarked().remove(&id);
                tracing::info!(entry = %id, "a finished message is marked done in Redis after all");
            }
        }
        let ids: Vec<String> = self.in_flight().iter().chain(self.unmarked().iter()).cloned().collect();
        if ids.is_empty() {
            return;
        }
        let (journal, consumer) = (self.journal_key(), &self.consumer);
        self.run(|mut conn| async move {
            redis::cmd("XCLAIM")
                .arg(journal)
                .arg(GROUP)
                .arg(consumer)
                .arg(0)
                .arg(&ids)
                .arg("JUSTID")
                .exec_async(&mut conn)
                .await
        })
        .await;
    }

    /// Claims the journal entries idle longer than `claim` (their replica stopped):
    /// `(entry id, payload)`.
    pub(in crate::state) async fn take_over(&self, claim: Duration) -> Vec<(String, String)> {
        let min_idle = u64::try_from(claim.as_millis()).unwrap_or(u64::MAX);
        let (journal, consumer) = (self.journal_key(), &self.consumer);
        let reply = self
            .run(|mut conn| async move {
                redis::cmd("XAUTOCLAIM")
                    .arg(&journal)
                    .arg(GROUP)
                    .arg(consumer)
                    .arg(min_idle)
                    .arg("0-0")
                    .arg("COUNT")
                    .arg(CLAIM_BATCH)
                    .query_async::<redis::Value>(&mut conn)
                    .await
            })
            .await;
        let Some(reply) = reply else { return Vec::new() };
        let (claimed, deleted) = claimed_entries(&reply);
        for id in &deleted {
            // Deleted while pending: nothing left to finish.
            self.finish(id).await;
        }
        let mut taken = Vec::with_capacity(claimed.len());
        for (id, payload) in claimed {
            if self.unmarked().contains(&id) {
                // Answered here already; only its done-mark was missing.
                self.finish(&id).await;
                continue;
            }
            match payload {
                Some(payload) => {
                    self.in_flight().insert(id.clone());
                    taken.push((id, payload));
                }
                None => {
                    tracing::warn!(entry = %id, "a journal entry without a message is dropped");
                    self.finish(&id).await;
                }
            }
        }
        taken
    }
}

/// The entries of an `XAUTOCLAIM` reply, `(id, payload)` (no payload: not one of ours), and the
/// ids of entries deleted while pending.
fn claimed_entries(reply: &redis::Value) -> (Vec<(String, Option<String>)>, Vec<String>) {
    use redis::Value;
    fn text(value: &Value) -> Option<String> {
        match value {
            Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
            Value::SimpleString(text) => Some(text.clone()),
            _ => None,
        }
    }
    let Value::Array(parts) = reply else { return (Vec::new(), Vec::new()) };
    let entries = match parts.get(1) {
        Some(Value::Array(entries)) => entries
            .iter()
            .filter_map(|entry| {
                let Value::Array(entry) = entry else { return None };
                let id = text(entry.first()?)?;
                let payload = match entry.get(1) {
                    Some(Value::Array(fields)) => fields
                        .chunks(2)
                        .find(|pair| pair.first().and_then(text).as_deref() == Some("body"))
                        .and_then(|pair| pair.get(1).and_then(text)),
                    _ => None,
                };
                Some((id, payload))
            })
            .collect(),
        _ => Vec::new(),
    };
    let deleted = match parts.get(2) {
        Some(Value::Array(ids)) => ids.iter().filter_map(text).collect(),
        _ => Vec::new(),
    };
    (entries, deleted)
}
