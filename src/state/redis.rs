//! The Redis side of the shared store: one `ConnectionManager`, a health flag that sends every
//! operation to the local fallback while Redis is unreachable, and a watcher that brings it back.
//! `rediss://` connects over TLS (rustls with ring), verifying the server against the system
//! roots or the CA file given.

use std::collections::HashSet;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, IntoConnectionInfo, TlsCertificates};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Notify;

use super::StateError;
use crate::readiness::{self, Readiness};

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one operation may take before Redis counts as unreachable. Short: the bot answers
/// from local state rather than keep people waiting.
const OP_TIMEOUT: Duration = Duration::from_millis(500);
/// The first and the longest pause between reconnection attempts while Redis is down.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// A sliding-window send log per conversation, on Redis's clock so every replica agrees.
/// KEYS[1] the log (a sorted set of send times in ms); ARGV[1] sends allowed per window;
/// ARGV[2] the window in ms; ARGV[3] a unique member for this send.
/// Returns 0 when the send may go now, else the ms until a slot frees up.
const SEND_SLOT_SCRIPT: &str = r"
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

/// The journal's consumer group: every replica is a consumer of it.
const GROUP: &str = "dingmeet";
/// The most entries one take-over claims.
const CLAIM_BATCH: usize = 100;

/// Records an accepted message: the duplicate check and the journal entry in one step, so a
/// message is never marked seen without being journaled. The entry goes straight into this
/// replica's pending list (XCLAIM FORCE), where it stays until done or taken over.
/// KEYS[1] the seen key; KEYS[2] the journal stream; ARGV[1] the dedupe TTL in ms; ARGV[2] the
/// group; ARGV[3] this replica's consumer name; ARGV[4] the msgId; ARGV[5] the payload.
/// Returns the entry id, or nil for a duplicate.
const RECORD_SCRIPT: &str = r"
if not redis.call('SET', KEYS[1], 1, 'NX', 'PX', ARGV[1]) then return false end
local id = redis.call('XADD', KEYS[2], '*', 'msg', ARGV[4], 'body', ARGV[5])
local claimed = redis.pcall('XCLAIM', KEYS[2], ARGV[2], ARGV[3], 0, id, 'FORCE', 'JUSTID')
if type(claimed) == 'table' and claimed.err then
  redis.call('XGROUP', 'CREATE', KEYS[2], ARGV[2], '0', 'MKSTREAM')
  redis.call('XCLAIM', KEYS[2], ARGV[2], ARGV[3], 0, id, 'FORCE', 'JUSTID')
end
return id
";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Health {
    Up,
    Down(String),
}

pub(super) struct RedisStore {
    client: redis::Client,
    /// Where Redis is, for logs: host, port and database, never the password.
    target: String,
    /// Whether the connection is TLS (`rediss://`), to explain its failures.
    tls: bool,
    prefix: String,
    /// The connection in use and its generation: a failure on a connection that was already
    /// replaced says nothing about Redis now.
    connection: RwLock<Option<(u64, ConnectionManager)>>,
    health: Mutex<Health>,
    /// Wakes the watcher when Redis goes down (and when the store is dropped).
    wake: Arc<Notify>,
    readiness: Readiness,
    send_slot: redis::Script,
    record: redis::Script,
    /// This replica's name in the journal's consumer group: unique per process.
    consumer: String,
    /// The journal entries this replica is working on, whose claims it keeps fresh.
    in_flight: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("target", &self.target)
            .field("prefix", &self.prefix)
            .field("consumer", &self.consumer)
            .finish()
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        self.wake.notify_one();
    }
}

impl RedisStore {
    /// Opens the store: one connection attempt now (so a healthy Redis is in use before the first
    /// message), then a background watcher that reconnects whenever Redis is lost. Fails only on
    /// settings that can never work (the URL, the CA file); an unreachable Redis, or one whose
    /// TLS handshake fails, means local state until it is back.
    pub(super) async fn connect(
        url: &SecretString,
        ca_file: Option<&Path>,
        prefix: &str,
        claim: Duration,
        readiness: Readiness,
    ) -> Result<Arc<Self>, StateError> {
        let (client, tls) = client(url, ca_file)?;
        let host = std::env::var("HOSTNAME").ok().filter(|h| !h.trim().is_empty());
        let consumer =
            format!("{}-{}-{:08x}", host.as_deref().unwrap_or("dingmeet"), std::process::id(), fastrand::u32(..));
        let info = client.get_connection_info();
        let target = format!("{}/{}", info.addr, info.redis.db);
        let store = Arc::new(Self {
            client,
            target,
            tls,
            prefix: prefix.to_owned(),
            connection: RwLock::new(None),
            health: Mutex::new(Health::Down("not connected yet".to_owned())),
            wake: Arc::new(Notify::new()),
            readiness,
            send_slot: redis::Script::new(SEND_SLOT_SCRIPT),
            record: redis::Script::new(RECORD_SCRIPT),
            consumer,
            in_flight: Mutex::new(HashSet::new()),
        });
        tracing::debug!(consumer = %store.consumer, claim_secs = claim.as_secs_f64(), "journal consumer");
        store.readiness.degrade(readiness::REDIS, format!("connecting to Redis at {}", store.target));
        match store.reconnect().await {
            Ok(()) => {
                tracing::info!(redis = %store.target, tls = store.tls, "shared state in Redis");
                store.set_health(Health::Up);
            }
            Err(reason) => {
                tracing::warn!(
                    redis = %store.target,
                    %reason,
                    "Redis unavailable at start: using local state (duplicates and rate limits hold per \
                     replica only) and retrying in the background"
                );
                store.set_health(Health::Down(reason));
                store.wake.notify_one();
            }
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| StateError::NoRuntime)?;
        runtime.spawn(watch(Arc::downgrade(&store), Arc::clone(&store.wake)));
        Ok(store)
    }

    /// True while operations go to Redis.
    pub(super) fn is_up(&self) -> bool {
        *self.health.lock().unwrap_or_else(PoisonError::into_inner) == Health::Up
    }

    /// `SET key 1 NX PX ttl`: `Some(true)` if the key was new, `None` if Redis could not answer.
    pub(super) async fn first_seen(&self, key: &str, ttl: Duration) -> Option<bool> {
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
    pub(super) async fn try_send(
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

    pub(super) async fn setting(&self, conversation: &str, key: &str) -> Option<Option<String>> {
        let hash = format!("{}settings:{conversation}", self.prefix);
        self.run(|mut conn| async move { redis::cmd("HGET").arg(hash).arg(key).query_async(&mut conn).await }).await
    }

    /// Stores (or with `None` removes) a setting; false if Redis could not answer.
    pub(super) async fn set_setting(&self, conversation: &str, key: &str, value: Option<&str>) -> bool {
        let hash = format!("{}settings:{conversation}", self.prefix);
        let mut command = match value {
            Some(value) => redis::cmd("HSET").arg(hash).arg(key).arg(value).to_owned(),
            None => redis::cmd("HDEL").arg(hash).arg(key).to_owned(),
        };
        let command = &mut command;
        self.run(|mut conn| async move { command.exec_async(&mut conn).await }).await.is_some()
    }

    fn journal_key(&self) -> String {
        format!("{}journal", self.prefix)
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.in_flight.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records an accepted message in the journal, claimed by this replica: `Some(Some(id))` if
    /// new, `Some(None)` for a duplicate, `None` if Redis could not answer.
    pub(super) async fn record(
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

    /// `SET replied:<msgId> NX`: true if this replica is the one to send the reply.
    pub(super) async fn claim_reply(&self, msg_id: &str, ttl: Duration) -> Option<bool> {
        let key = format!("{}replied:{msg_id}", self.prefix);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let consumer = &self.consumer;
        self.run(|mut conn| async move {
            let set: Option<String> =
                redis::cmd("SET").arg(key).arg(consumer).arg("NX").arg("PX").arg(ttl_ms).query_async(&mut conn).await?;
            Ok(set.is_some())
        })
        .await
    }

    /// Acknowledges and deletes a journal entry.
    pub(super) async fn finish(&self, id: &str) {
        self.in_flight().remove(id);
        let journal = self.journal_key();
        let done = self
            .run(|mut conn| async move {
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
            .await;
        if done.is_none() {
            tracing::warn!(
                entry = id,
                "a finished message could not be marked done in Redis: another replica may look at it again"
            );
        }
    }

    /// Resets the idle time of this replica's in-flight entries, so a slow answer (a held
    /// lookup, a rate-limit wait) is not mistaken for a stopped replica.
    pub(super) async fn keep_claims(&self) {
        let ids: Vec<String> = self.in_flight().iter().cloned().collect();
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
    pub(super) async fn take_over(&self, claim: Duration) -> Vec<(String, String)> {
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

    /// Runs one operation if Redis is up; any failure or timeout marks it down, and `None` tells
    /// the caller to use local state.
    async fn run<T, F, Fut>(&self, operation: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if !self.is_up() {
            return None;
        }
        let (generation, conn) = self.connection.read().unwrap_or_else(PoisonError::into_inner).clone()?;
        match tokio::time::timeout(OP_TIMEOUT, operation(conn)).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(err)) => {
                self.mark_down(generation, err.to_string());
                None
            }
            Err(_) => {
                self.mark_down(generation, format!("no answer within {} ms", OP_TIMEOUT.as_millis()));
                None
            }
        }
    }

    fn mark_down(&self, generation: u64, reason: String) {
        let current = self.connection.read().unwrap_or_else(PoisonError::into_inner).as_ref().map(|(g, _)| *g);
        if current != Some(generation) {
            return;
        }
        if self.set_health(Health::Down(reason.clone())) {
            tracing::warn!(
                redis = %self.target,
                %reason,
                "Redis unavailable: falling back to local state (duplicates and rate limits hold per replica \
                 only) until it is back"
            );
            self.wake.notify_one();
        }
    }

    /// Records the new health and reports it to readiness; true if it changed from up to down or
    /// back.
    fn set_health(&self, health: Health) -> bool {
        let mut current = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        let changed = (*current == Health::Up) != (health == Health::Up);
        match &health {
            Health::Up => self.readiness.pass(readiness::REDIS),
            Health::Down(reason) => self.readiness.degrade(
                readiness::REDIS,
                format!("Redis at {} unavailable ({reason}): answering from local state", self.target),
            ),
        }
        *current = health;
        changed
    }

    /// A fresh connection that answers a write, put in place of the old one.
    async fn reconnect(&self) -> Result<(), String> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(OP_TIMEOUT)
            .set_number_of_retries(1)
            .set_max_delay(u64::try_from(RETRY_MAX.as_millis()).unwrap_or(u64::MAX));
        let attempt = async {
            let mut conn = ConnectionManager::new_with_config(self.client.clone(), config).await?;
            // A write, so a read-only replica or a full Redis does not pass for healthy.
            redis::cmd("SET")
                .arg(format!("{}probe", self.prefix))
                .arg(1)
                .arg("PX")
                .arg(10_000)
                .exec_async(&mut conn)
                .await?;
            // The journal's group, so take-overs find it (BUSYGROUP: it exists).
            let created = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(format!("{}journal", self.prefix))
                .arg(GROUP)
                .arg("0")
                .arg("MKSTREAM")
                .exec_async(&mut conn)
                .await;
            if let Err(err) = created
                && err.code() != Some("BUSYGROUP")
            {
                return Err(err);
            }
            Ok::<_, redis::RedisError>(conn)
        };
        let conn = match tokio::time::timeout(CONNECT_TIMEOUT * 3, attempt).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(err)) => return Err(explain(&err.to_string(), self.tls)),
            Err(_) => {
                let reason = format!("no answer within {} s", (CONNECT_TIMEOUT * 3).as_secs());
                return Err(explain(&reason, self.tls));
            }
        };
        let mut slot = self.connection.write().unwrap_or_else(PoisonError::into_inner);
        let generation = slot.as_ref().map_or(0, |(g, _)| g.wrapping_add(1));
        *slot = Some((generation, conn));
        Ok(())
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

/// The client for `url`: plain, or TLS for `rediss://`, trusting `ca_file` if given, else the
/// system roots. Errors name the setting to fix and never echo the URL (it may hold a password).
fn client(url: &SecretString, ca_file: Option<&Path>) -> Result<(redis::Client, bool), StateError> {
    // rustls needs the process-wide provider before the first TLS connection; installing it
    // here does not rely on the HTTP client having been built first.
    crate::dingtalk::api::install_crypto_provider();
    let bad_url = |err: redis::RedisError| StateError::BadRedisUrl(err.to_string());
    let info = url.expose_secret().trim().into_connection_info().map_err(bad_url)?;
    let tls = match &info.addr {
        ConnectionAddr::TcpTls { insecure: true, .. } => {
            // Turning certificate checks off is not offered: trust the CA with the CA file instead.
            return Err(StateError::BadRedisUrl(
                "#insecure is not supported: set DINGMEET_REDIS_CA_FILE to the CA that signed the server's certificate"
                    .to_owned(),
            ));
        }
        ConnectionAddr::TcpTls { .. } => true,
        _ => false,
    };
    let Some(path) = ca_file else {
        return Ok((redis::Client::open(info).map_err(bad_url)?, tls));
    };
    let bad_ca = |problem: String| StateError::BadRedisCa { path: path.display().to_string(), problem };
    if !tls {
        return Err(bad_ca("set, but DINGMEET_REDIS_URL is redis:// (no TLS): use rediss://".to_owned()));
    }
    let pem = std::fs::read(path).map_err(|err| bad_ca(format!("cannot be read ({err})")))?;
    // Checked here so a wrong file fails at start rather than every TLS handshake later.
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| bad_ca(format!("is not PEM ({err})")))?;
    if certificates.is_empty() {
        return Err(bad_ca("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned()));
    }
    let certificates = TlsCertificates { client_tls: None, root_cert: Some(pem) };
    let client = redis::Client::build_with_tls(info, certificates).map_err(|err| bad_ca(err.to_string()))?;
    Ok((client, tls))
}

/// Adds what to check to a connection failure whose likely cause is the TLS setup: an untrusted
/// certificate, or one side speaking TLS and the other not (a plain Redis does not answer a TLS
/// handshake; a TLS-only Redis drops a plain client).
fn explain(reason: &str, tls: bool) -> String {
    let lower = reason.to_lowercase();
    let any = |words: &[&str]| words.iter().any(|word| lower.contains(word));
    let hint = if tls && lower.contains("not valid for name") {
        Some("use a host name the Redis server's TLS certificate lists")
    } else if tls && lower.contains("certificate") {
        Some(
            "the Redis server's TLS certificate is not trusted: set DINGMEET_REDIS_CA_FILE to the CA that signed it \
             (or add that CA to the system roots)",
        )
    } else if tls && any(&["no answer", "corrupt message", "reset by peer", "eof"]) {
        Some("is TLS enabled on that port? For a Redis without TLS, use redis://")
    } else if !tls && any(&["reset by peer", "broken pipe", "eof"]) {
        Some("if that Redis accepts TLS only, use rediss://")
    } else {
        None
    };
    match hint {
        Some(hint) => format!("{reason}; {hint}"),
        None => reason.to_owned(),
    }
}

/// Waits while Redis is up; while it is down, reconnects with a growing pause until it is back.
/// Holds only a weak reference between attempts, so it ends when the store is dropped.
async fn watch(store: Weak<RedisStore>, wake: Arc<Notify>) {
    let mut pause = RETRY_MIN;
    loop {
        let up = match store.upgrade() {
            Some(store) => store.is_up(),
            None => return,
        };
        if up {
            pause = RETRY_MIN;
            wake.notified().await;
            continue;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RETRY_MAX);
        let Some(store) = store.upgrade() else { return };
        match store.reconnect().await {
            Ok(()) => {
                if store.set_health(Health::Up) {
                    tracing::info!(redis = %store.target, "Redis is reachable again: shared state restored");
                }
            }
            Err(reason) => {
                tracing::debug!(redis = %store.target, %reason, "Redis still unavailable");
                store.set_health(Health::Down(reason));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::explain;

    #[test]
    fn tls_failures_say_what_to_check_and_an_unreachable_redis_gets_no_guess() {
        let untrusted = explain("invalid peer certificate: UnknownIssuer", true);
        assert!(
            untrusted
                .ends_with("set DINGMEET_REDIS_CA_FILE to the CA that signed it (or add that CA to the system roots)")
        );
        assert!(explain("invalid peer certificate: certificate not valid for name \"x\"", true).contains("host name"));
        assert!(explain("no answer within 3 s", true).ends_with("For a Redis without TLS, use redis://"));
        assert!(explain("Connection reset by peer (os error 104)", false).ends_with("use rediss://"));
        for tls in [true, false] {
            assert_eq!(explain("Connection refused (os error 111)", tls), "Connection refused (os error 111)");
        }
    }
}
