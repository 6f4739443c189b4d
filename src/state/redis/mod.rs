//! The Redis side of the shared store: one `ConnectionManager`, a health flag that sends every
//! operation to the local fallback while Redis is unreachable, and a watcher that brings it back.
//! Each view's commands are in a file of their own (`dedupe`, `send_log`, `settings`, `journal`,
//! `records`, `claims`, `counts`); the marker that tells a Redis that lost its data, in `marker`.
//! `rediss://` connects over TLS (rustls with ring), verifying the server against the system
//! roots or the CA file given.

mod claims;
mod client;
mod counts;
mod dedupe;
mod journal;
mod marker;
mod records;
mod send_log;
mod settings;

pub(super) use self::claims::DONE;
pub(super) use self::settings::CLEARED;

use std::collections::HashSet;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::SecretString;
use tokio::sync::Notify;

use self::client::{client, explain};
use self::journal::{GROUP, RECORD_SCRIPT};
use self::marker::MARKER_CHECK;
use self::send_log::SEND_SLOT_SCRIPT;
use super::{SqliteStore, StateError};
use crate::readiness::{self, Readiness};

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one operation may take before Redis counts as unreachable. Short: the bot answers
/// from local state rather than keep people waiting.
const OP_TIMEOUT: Duration = Duration::from_millis(500);
/// The first and the longest pause between reconnection attempts while Redis is down.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// How long checking the marker, and putting back what a Redis that lost its data lacks, may take.
const REPUBLISH_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// Entries this replica answered whose done-mark Redis did not take: marked again at the
    /// next claim upkeep, and never taken over to be answered again meanwhile.
    unmarked: Mutex<HashSet<String>>,
    /// The marker's epoch this replica last saw in Redis (`None` before the first connect).
    epoch: Mutex<Option<String>>,
    /// How many times this replica found Redis emptied.
    emptied_generation: AtomicU64,
    /// Counts the times Redis was found emptied, for `dingmeet_redis_emptied_total`.
    emptied: Counter,
    /// What this machine keeps, put back in a Redis that lost it.
    held: Option<SqliteStore>,
}

/// What a replica puts back in a Redis that lost its data, and where it counts that.
pub(super) struct Held {
    pub store: Option<SqliteStore>,
    pub emptied: Counter,
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
        held: Held,
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
            unmarked: Mutex::new(HashSet::new()),
            epoch: Mutex::new(None),
            emptied_generation: AtomicU64::new(0),
            emptied: held.emptied,
            held: held.store,
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
                    "Redis unavailable at start: messages are not acknowledged until it answers (another \
                     replica may be answering them), other state is local; retrying in the background"
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
                "Redis unavailable: falling back to local state (rate limits hold per replica only), except \
                 for messages: they are not acknowledged until it is back (another replica may be answering them)"
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
                format!(
                    "Redis at {} unavailable ({reason}): messages are refused until it answers (DingTalk sends them \
                     again); the rest is answered from local state",
                    self.target
                ),
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
        let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT * 3, attempt).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(err)) => return Err(explain(&err.to_string(), self.tls)),
            Err(_) => {
                let reason = format!("no answer within {} s", (CONNECT_TIMEOUT * 3).as_secs());
                return Err(explain(&reason, self.tls));
            }
        };
        // Before the connection is used: nothing reads a Redis that lost its data before what
        // this machine keeps is back in it.
        match tokio::time::timeout(REPUBLISH_TIMEOUT, self.settle_marker(&mut conn)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(format!("its marker could not be checked: {err}")),
            Err(_) => return Err(format!("its marker was not checked within {} s", REPUBLISH_TIMEOUT.as_secs())),
        }
        let mut slot = self.connection.write().unwrap_or_else(PoisonError::into_inner);
        let generation = slot.as_ref().map_or(0, |(g, _)| g.wrapping_add(1));
        *slot = Some((generation, conn));
        Ok(())
    }
}

impl RedisStore {
    /// Looks at the marker on the connection in use (putting back what a Redis that lost its data
    /// lacks); a failure marks Redis down, as any operation's does.
    async fn check_marker(&self) {
        let Some((generation, mut conn)) = self.connection.read().unwrap_or_else(PoisonError::into_inner).clone()
        else {
            return;
        };
        match tokio::time::timeout(REPUBLISH_TIMEOUT, self.settle_marker(&mut conn)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => self.mark_down(generation, err.to_string()),
            Err(_) => self.mark_down(generation, "its marker was not checked in time".to_owned()),
        }
    }
}

/// Waits while Redis is up (looking at its marker now and then); while it is down, reconnects with a growing pause until it is back.
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
            if tokio::time::timeout(MARKER_CHECK, wake.notified()).await.is_err()
                && let Some(store) = store.upgrade()
            {
                store.check_marker().await;
            }
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
