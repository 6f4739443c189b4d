//! State: duplicate detection, the per-conversation send rate limit, per-conversation settings,
//! the journal of accepted messages and kept jobs. Kept in SQLite under `DINGMEET_DATA_DIR` (the
//! store of record on this machine), with what every message reads mirrored in memory; in Redis,
//! shared by every replica, when `DINGMEET_REDIS_URL` is set, with the local store answering
//! while Redis is unreachable.

mod journal;
mod memory;
mod redis;
mod registry;
mod shared;
mod sqlite;
mod suite_ticket;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use secrecy::SecretString;

pub use self::journal::{Recorded, Ticket};
use self::memory::MemoryStore;
use self::redis::RedisStore;
pub use self::registry::{Kept, Registry};
pub use self::shared::Claim;
pub use self::sqlite::{DATABASE_FILE, Retention, SqliteStore, StoreError, StoreFailure, WriterHealth};
pub use self::suite_ticket::{SUITE_TICKET_NAME, SUITE_TICKET_SCOPE, SuiteTickets};
use crate::readiness::Readiness;

/// How many replies one conversation may get per window, and how long a reply may wait for a
/// free slot before it is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Replies allowed per window; 0 turns the limit off.
    pub max_per_window: u32,
    pub window: Duration,
    pub max_wait: Duration,
}

impl RateLimit {
    /// DingTalk throttles a robot for 10 minutes beyond 20 messages a minute in one group.
    pub fn per_minute(max: u32, max_wait: Duration) -> Self {
        Self { max_per_window: max, window: Duration::from_secs(60), max_wait }
    }
}

/// How the store behaves, whichever backend holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateOptions {
    /// How long a message id is remembered.
    pub dedupe_ttl: Duration,
    pub rate_limit: RateLimit,
    /// Prepended to every Redis key, so several bots can share one Redis.
    pub key_prefix: String,
    /// For `rediss://`: a PEM file of the CA certificates the server's certificate must chain to,
    /// instead of the system roots.
    pub redis_ca_file: Option<PathBuf>,
    /// Whether accepted messages are journaled before they are acknowledged.
    pub journal: bool,
    /// With Redis: how long a journaled message may sit unacknowledged by its replica before
    /// another takes it over.
    pub journal_claim: Duration,
}

impl Default for StateOptions {
    fn default() -> Self {
        Self {
            dedupe_ttl: Duration::from_secs(600),
            rate_limit: RateLimit::per_minute(18, Duration::from_secs(30)),
            key_prefix: "dingmeet:".to_owned(),
            redis_ca_file: None,
            journal: true,
            journal_claim: Duration::from_secs(30),
        }
    }
}

/// The outcome of asking for a send slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendSlot {
    /// Send now; `waited` is how long the reply queued for the slot.
    Granted { waited: Duration },
    /// No slot within the allowed wait; the next frees up after `retry_after`.
    Refused { retry_after: Duration },
}

/// Where the state lives right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// On this machine only (no Redis configured): the local store, durable when it has a
    /// data directory.
    Memory,
    /// In Redis, shared by every replica.
    Redis,
    /// Redis is configured but unreachable: in the local store until it is back.
    LocalFallback,
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "DINGMEET_REDIS_URL is not a usable Redis URL ({0}): expected redis://[[user]:password@]host[:port][/db] \
         (rediss:// for TLS)"
    )]
    BadRedisUrl(String),
    #[error("DINGMEET_REDIS_CA_FILE {path}: {problem}")]
    BadRedisCa { path: String, problem: String },
    #[error("the Redis store must be opened inside a Tokio runtime")]
    NoRuntime,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The bot's state store. Cheap to clone; clones share the state.
///
/// Calls to Redis are boxed: without Redis they are never made, and inline their futures would
/// make every message's task larger.
#[derive(Clone)]
pub struct StateStore {
    local: Arc<MemoryStore>,
    durable: Option<SqliteStore>,
    shared: Option<Arc<RedisStore>>,
    options: Arc<StateOptions>,
    /// Whether every durable setting is also in memory, so a miss there is a miss: true until
    /// more settings exist than the memory side keeps.
    mirrored: Arc<AtomicBool>,
    settings_written: Arc<AtomicUsize>,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_tuple("StateStore");
        match &self.durable {
            Some(durable) => out.field(durable),
            None => out.field(&"memory"),
        };
        if let Some(shared) = &self.shared {
            out.field(shared);
        }
        out.finish()
    }
}

impl StateStore {
    /// An in-process store with default options and the given dedupe TTL.
    pub fn memory(dedupe_ttl: Duration) -> Self {
        Self::memory_with(StateOptions { dedupe_ttl, ..StateOptions::default() })
    }

    /// An in-process store that forgets everything when the process ends (the `query` command,
    /// tests).
    pub fn memory_with(options: StateOptions) -> Self {
        let local = Arc::new(MemoryStore::new(options.dedupe_ttl, options.rate_limit));
        Self {
            local,
            durable: None,
            shared: None,
            options: Arc::new(options),
            mirrored: Arc::new(AtomicBool::new(true)),
            settings_written: Arc::default(),
        }
    }

    /// The store of record in `data_dir` (created if missing, mode 0700): what it holds is loaded,
    /// the unfinished journal is left for [`StateStore::unfinished`]. Fails, naming the path and
    /// what to do, on a directory that cannot be made, a damaged or newer store, or one in use.
    pub async fn open(data_dir: &Path, options: StateOptions) -> Result<Self, StateError> {
        let retention = Retention { dedupe: options.dedupe_ttl, sends: options.rate_limit.window };
        let dir = data_dir.to_path_buf();
        let opened = tokio::task::spawn_blocking(move || SqliteStore::open(&dir, retention)).await.map_err(|err| {
            StoreError::Open { path: data_dir.display().to_string(), problem: format!("the opening failed: {err}") }
        })?;
        let (durable, loaded) = opened?;
        let mut store = Self::memory_with(options);
        let count = loaded.settings.len();
        for (scope, name, value) in loaded.settings {
            store.local.set_setting(&scope, &name, Some(&value)).await;
        }
        for msg_id in &loaded.seen {
            store.local.first_seen(&journal::message_key(msg_id)).await;
        }
        store.settings_written.store(count, Ordering::Relaxed);
        store.mirrored.store(count < memory::MAX_CONVERSATIONS / 2, Ordering::Relaxed);
        let now_wall = SystemTime::now();
        let now = tokio::time::Instant::now();
        for (conversation, at_ms) in &loaded.sends {
            let age = crate::clock::epoch_ms(now_wall).saturating_sub(*at_ms);
            let age = Duration::from_millis(u64::try_from(age).unwrap_or(0));
            store.local.record_send_at(conversation, now.checked_sub(age).unwrap_or(now));
        }
        tracing::info!(
            store = durable.path(),
            settings = count,
            recent_sends = loaded.sends.len(),
            recent_messages = loaded.seen.len(),
            "store of record opened"
        );
        store.durable = Some(durable);
        Ok(store)
    }

    /// A store in Redis at `url` alone (no durable local store), shared by every replica that
    /// uses the same Redis and key prefix; see [`StateStore::with_redis`].
    pub async fn redis(url: &SecretString, options: StateOptions, readiness: Readiness) -> Result<Self, StateError> {
        Self::memory_with(options).with_redis(url, readiness).await
    }

    /// Shares this store's state through Redis at `url`, with every replica on the same Redis
    /// and key prefix; the local store answers while Redis is unreachable. Reports its health as
    /// the [`crate::readiness::REDIS`] check. An unreachable Redis is not an error: it is
    /// reconnected in the background.
    pub async fn with_redis(mut self, url: &SecretString, readiness: Readiness) -> Result<Self, StateError> {
        let options = &self.options;
        let shared = RedisStore::connect(
            url,
            options.redis_ca_file.as_deref(),
            &options.key_prefix,
            options.journal_claim,
            readiness,
        )
        .await?;
        self.shared = Some(shared);
        Ok(self)
    }

    /// Where the state lives right now.
    pub fn backend(&self) -> Backend {
        match &self.shared {
            None => Backend::Memory,
            Some(shared) if shared.is_up() => Backend::Redis,
            Some(_) => Backend::LocalFallback,
        }
    }

    /// The store of record on this machine, if there is one (not in memory-only stores).
    pub fn durable(&self) -> Option<&SqliteStore> {
        self.durable.as_ref()
    }

    /// Waits until every write made so far is committed to the durable store.
    pub async fn flush(&self) {
        if let Some(durable) = &self.durable
            && let Err(err) = durable.flush().await
        {
            tracing::error!(%err, "the store could not commit its last writes");
        }
    }

    pub fn options(&self) -> &StateOptions {
        &self.options
    }

    /// Records `key` and returns true if it was not seen within the TTL (atomic: of any number
    /// of concurrent callers with one key, on any replica sharing the Redis, exactly one gets true).
    pub async fn first_seen(&self, key: &str) -> bool {
        if let Some(shared) = &self.shared
            && let Some(fresh) = Box::pin(shared.first_seen(key, self.options.dedupe_ttl)).await
        {
            // Remembered locally too, so an outage does not forget what this replica just saw.
            self.local.first_seen(key).await;
            return fresh;
        }
        self.local.first_seen(key).await
    }

    /// Takes a send slot for `conversation` now, or says how long until one frees up.
    pub async fn try_send_slot(&self, conversation: &str) -> Result<(), Duration> {
        let limit = self.options.rate_limit;
        if limit.max_per_window == 0 {
            return Ok(());
        }
        if let Some(shared) = &self.shared
            && let Some(result) = Box::pin(shared.try_send(conversation, limit.max_per_window, limit.window)).await
        {
            if result.is_ok() {
                self.local.record_send(conversation).await;
            }
            return result;
        }
        let sent = self.local.try_send_counted(conversation).await?;
        if sent >= 2
            && let Some(durable) = &self.durable
        {
            // So a restart does not start the window over (DingTalk's count does not). A
            // window's first send is not written: most conversations send once, and the one send
            // a restart forgets stays within the two the default limit keeps below DingTalk's 20.
            durable.record_send(conversation);
        }
        Ok(())
    }

    /// Waits for a send slot for `conversation`, at most the configured `max_wait`; refuses at
    /// once if no slot would free up in time.
    pub async fn wait_for_send_slot(&self, conversation: &str) -> SendSlot {
        let started = tokio::time::Instant::now();
        let mut waited = Duration::ZERO;
        loop {
            match self.try_send_slot(conversation).await {
                Ok(()) => return SendSlot::Granted { waited },
                Err(retry_after) => {
                    if started.elapsed() + retry_after > self.options.rate_limit.max_wait {
                        return SendSlot::Refused { retry_after };
                    }
                    tokio::time::sleep(retry_after).await;
                    waited = started.elapsed();
                }
            }
        }
    }

    /// A conversation's setting (for example its language), if set.
    pub async fn get_setting(&self, conversation: &str, key: &str) -> Option<String> {
        if let Some(shared) = &self.shared
            && let Some(value) = Box::pin(shared.setting(conversation, key)).await
        {
            self.local.set_setting(conversation, key, value.as_deref()).await;
            return value;
        }
        let value = self.local.setting(conversation, key).await;
        if value.is_some() || self.mirrored.load(Ordering::Relaxed) {
            return value;
        }
        let durable = self.durable.as_ref()?;
        match Box::pin(durable.setting(conversation, key)).await {
            Ok(value) => {
                self.local.set_setting(conversation, key, value.as_deref()).await;
                value
            }
            Err(err) => {
                tracing::error!(%err, "a setting could not be read: using the default");
                None
            }
        }
    }

    /// Sets a conversation's setting. While Redis is unreachable the value is kept in this
    /// replica only.
    pub async fn set_setting(&self, conversation: &str, key: &str, value: &str) {
        self.store_setting(conversation, key, Some(value)).await;
    }

    /// Removes a conversation's setting.
    pub async fn clear_setting(&self, conversation: &str, key: &str) {
        self.store_setting(conversation, key, None).await;
    }

    async fn store_setting(&self, conversation: &str, key: &str, value: Option<&str>) {
        self.local.set_setting(conversation, key, value).await;
        if let Some(durable) = &self.durable {
            let written = self.settings_written.fetch_add(1, Ordering::Relaxed) + 1;
            if written >= memory::MAX_CONVERSATIONS / 2 {
                self.mirrored.store(false, Ordering::Relaxed);
            }
            if let Err(err) = Box::pin(durable.set_setting(conversation, key, value)).await {
                tracing::error!(%err, "a setting could not be stored: it holds until this process stops");
            }
        }
        if let Some(shared) = &self.shared {
            Box::pin(shared.set_setting(conversation, key, value)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_message_that_could_not_be_recorded_is_new_when_it_comes_again() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = StateStore::open(dir.path(), StateOptions::default()).await.expect("opens");
        assert!(matches!(store.record("m1", String::new).await, Ok(Recorded::New(Ticket::Local(_)))));
        assert_eq!(store.record("m1", String::new).await.ok(), Some(Recorded::Duplicate));
        store.durable.as_ref().expect("durable").fail_records();
        assert!(store.record("m2", String::new).await.is_err(), "the disk is full");
        assert!(store.record("m2", String::new).await.is_err(), "still new, so it is tried again, not acked");
    }

    #[tokio::test]
    async fn of_concurrent_deliveries_of_one_id_exactly_one_is_recorded() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = StateStore::open(dir.path(), StateOptions::default()).await.expect("opens");
        let deliveries = (0..200).map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.record(&format!("m{}", i % 100), String::new).await })
        });
        let mut new = 0;
        for delivery in deliveries {
            new += usize::from(matches!(delivery.await.expect("task"), Ok(Recorded::New(_))));
        }
        assert_eq!(new, 100, "each id once");
    }

    #[tokio::test]
    async fn a_key_is_fresh_exactly_once_even_under_a_race() {
        let store = StateStore::memory(Duration::from_secs(60));
        let handles: Vec<_> = (0..50)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.first_seen("msg-1").await })
            })
            .collect();
        let mut fresh = 0;
        for handle in handles {
            fresh += usize::from(handle.await.expect("task"));
        }
        assert_eq!(fresh, 1);
        assert!(store.first_seen("msg-2").await);
        assert_eq!(store.backend(), Backend::Memory);
    }

    fn limited(max_per_window: u32, window_ms: u64, max_wait_ms: u64) -> StateStore {
        StateStore::memory_with(StateOptions {
            rate_limit: RateLimit {
                max_per_window,
                window: Duration::from_millis(window_ms),
                max_wait: Duration::from_millis(max_wait_ms),
            },
            ..StateOptions::default()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_reply_queues_for_a_free_slot_within_the_allowed_wait() {
        let store = limited(2, 1000, 1500);
        for _ in 0..2 {
            assert_eq!(store.wait_for_send_slot("c").await, SendSlot::Granted { waited: Duration::ZERO });
        }
        assert_eq!(store.wait_for_send_slot("c").await, SendSlot::Granted { waited: Duration::from_millis(1000) });
    }

    #[tokio::test(start_paused = true)]
    async fn a_reply_that_would_wait_too_long_is_refused_at_once() {
        let store = limited(1, 60_000, 1000);
        assert!(matches!(store.wait_for_send_slot("c").await, SendSlot::Granted { .. }));
        let started = tokio::time::Instant::now();
        assert_eq!(
            store.wait_for_send_slot("c").await,
            SendSlot::Refused { retry_after: Duration::from_millis(60_000) }
        );
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test]
    async fn a_zero_limit_means_no_limit() {
        let store = limited(0, 60_000, 0);
        for _ in 0..100 {
            assert_eq!(store.try_send_slot("c").await, Ok(()));
        }
    }

    #[test]
    fn the_default_stays_under_dingtalks_twenty_a_minute() {
        let limit = StateOptions::default().rate_limit;
        assert!(limit.max_per_window < 20 && limit.window == Duration::from_secs(60));
    }

    #[tokio::test]
    async fn settings_the_rate_limits_window_and_answered_ids_outlive_the_process() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let options = StateOptions {
            rate_limit: RateLimit::per_minute(3, Duration::ZERO),
            dedupe_ttl: Duration::from_secs(600),
            ..StateOptions::default()
        };
        let store = StateStore::open(dir.path(), options.clone()).await.expect("opens");
        store.set_setting("cid", "lang", "en").await;
        for _ in 0..3 {
            assert_eq!(store.try_send_slot("cid").await, Ok(()));
        }
        let Ok(Recorded::New(ticket)) = store.record("m1", || "{}".to_owned()).await else { panic!("new") };
        store.finish(&ticket).await;
        store.flush().await;
        drop(store);

        let store = StateStore::open(dir.path(), options).await.expect("reopens");
        assert_eq!(store.get_setting("cid", "lang").await.as_deref(), Some("en"));
        // The window's first send is not kept: one slot frees, then the limit holds.
        assert_eq!(store.try_send_slot("cid").await, Ok(()));
        assert!(store.try_send_slot("cid").await.is_err(), "the sends before the restart still count");
        assert_eq!(store.try_send_slot("other").await, Ok(()));
        assert_eq!(store.record("m1", String::new).await.expect("recorded"), Recorded::Duplicate);
        assert!(store.unfinished().await.is_empty(), "m1 was done");
    }

    #[tokio::test]
    async fn settings_are_kept_per_scope() {
        let store = StateStore::memory(Duration::from_secs(60));
        assert_eq!(store.get_setting("cid1", "lang").await, None);
        store.set_setting("cid1", "lang", "en").await;
        assert_eq!(store.get_setting("cid1", "lang").await.as_deref(), Some("en"));
        assert_eq!(store.get_setting("cid2", "lang").await, None);
    }
}
