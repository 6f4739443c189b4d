//! State: what the bot keeps between messages, replicas and restarts, reached through small
//! typed views of one [`StateStore`]. Kept in SQLite under `DINGMEET_DATA_DIR` (the store of
//! record on this machine), with what every message reads mirrored in memory; in Redis, shared by
//! every replica, when `DINGMEET_REDIS_URL` is set, with the local store answering while Redis is
//! unreachable.
//!
//! | view | holds | Redis side | this machine's side |
//! |---|---|---|---|
//! | [`StateStore::dedupe`] | message ids seen within the window | `redis/dedupe.rs` | `memory/mod.rs` |
//! | [`StateStore::send_limit`] | each conversation's sends in the window | `redis/send_log.rs` | `memory/send_log.rs`, `sqlite/send_log.rs` |
//! | [`StateStore::settings`] | per-conversation settings (`/lang`) | `redis/settings.rs` | `memory/mod.rs`, `sqlite/settings.rs` |
//! | [`StateStore::journal`] | accepted messages until answered | `redis/journal.rs` | `sqlite/journal.rs`, `sqlite/accepted_log.rs` |
//! | [`StateStore::claims`] | who does a piece of work | `redis/claims.rs` | (none: no other replica) |
//! | [`StateStore::shared_counts`] | counters every replica adds to (the budget's) | `redis/counts.rs` | (none) |
//! | [`StateStore::local_registry`] | typed records of one kind (the budget's ledgers) | (none) | `sqlite/records.rs` |
//! | [`StateStore::shared_registry`] | typed records every replica sees (live cards, reminders) | `redis/records.rs` | `sqlite/records.rs` |
//!
//! [`SuiteTickets`] keep a third-party app's suite ticket through the settings view. A Redis that
//! lost its data is found by a marker key and given back what this machine keeps
//! (`redis/marker.rs`, and each [`SharedRegistry`] for its records); [`backup`] copies the store of
//! record while the bot runs (`sqlite/backup.rs`).
//!
//! How to add a view: a file `src/state/<view>.rs` with a type that borrows the store
//! (`#[derive(Debug, Clone, Copy)] pub struct Things<'a> { store: &'a StateStore }`) and its
//! methods, each deciding in one place where its answer comes from (Redis while it answers, then
//! memory, then SQLite); an accessor `pub fn things(&self) -> Things<'_>` in the `impl StateStore`
//! below and a row in the table above; and each backend's side in a file named for what it holds:
//! `redis/<view>.rs` (its commands on `RedisStore`, which answer `None` while Redis is away, so
//! the view falls back), and `sqlite/<view>.rs` and `memory/` for what it keeps on this machine
//! (a new table needs a migration in `sqlite/schema.rs`; what is loaded at start, `Loaded`). A
//! view that only keeps typed records needs none of that: a type implementing [`Kept`] has a
//! [`LocalRegistry`], and implementing [`Shared`] too, a [`SharedRegistry`]. Views are borrows,
//! not clones: the per-message path (the dedupe, the journal's append) takes no allocation, lock
//! or await more than its backend's.

mod claims;
mod dedupe;
mod journal;
mod local_registry;
mod memory;
mod options;
mod redis;
mod send_limit;
mod settings;
mod shared_counts;
mod shared_registry;
mod sqlite;
mod suite_ticket;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prometheus_client::metrics::counter::Counter;
use secrecy::SecretString;

pub use self::claims::{Claim, Claims};
pub use self::dedupe::Dedupe;
pub use self::journal::{Journal, Recorded, Ticket};
pub use self::local_registry::{Kept, LocalRegistry};
use self::memory::MemoryStore;
pub use self::options::{RateLimit, StateOptions};
use self::redis::{Held, RedisStore};
pub use self::send_limit::{SendLimit, SendSlot};
pub use self::settings::Settings;
use self::settings::SettingsMirror;
pub use self::shared_counts::SharedCounts;
pub use self::shared_registry::{Shared, SharedRegistry};
pub use self::sqlite::{
    BackedUp, BackupError, DATABASE_FILE, Retention, SqliteStore, StoreError, StoreFailure, WriterHealth, backup,
};
pub use self::suite_ticket::{SUITE_TICKET_NAME, SUITE_TICKET_SCOPE, SuiteTickets};
use crate::readiness::Readiness;

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
    settings_mirror: Arc<SettingsMirror>,
    /// The times Redis was found to have lost its data.
    redis_emptied: Counter,
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
            settings_mirror: Arc::new(SettingsMirror::new()),
            redis_emptied: Counter::default(),
        }
    }

    /// The store of record in `data_dir` (created if missing, mode 0700): what it holds is loaded,
    /// the unfinished journal is left for [`Journal::unfinished`]. Fails, naming the path and
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
        store.settings_mirror.loaded(count);
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
    /// reconnected in the background. A Redis that lost its data (restarted without persistence)
    /// is noticed, logged and counted ([`StateStore::redis_emptied`]), and what this machine keeps
    /// is put back in it.
    pub async fn with_redis(mut self, url: &SecretString, readiness: Readiness) -> Result<Self, StateError> {
        let options = &self.options;
        let held = Held { store: self.durable.clone(), emptied: self.redis_emptied.clone() };
        let shared = RedisStore::connect(
            url,
            options.redis_ca_file.as_deref(),
            &options.key_prefix,
            options.journal_claim,
            readiness,
            held,
        )
        .await?;
        self.shared = Some(shared);
        Ok(self)
    }

    /// Counts the times Redis was found to have lost what it held (exported as
    /// `dingmeet_redis_emptied_total`).
    pub fn redis_emptied(&self) -> Counter {
        self.redis_emptied.clone()
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

    /// Whether replicas share records through Redis (whether or not it answers right now).
    pub fn shares(&self) -> bool {
        self.shared.is_some()
    }

    /// Whether records are shared through Redis right now.
    pub fn sharing(&self) -> bool {
        self.shared.as_ref().is_some_and(|shared| shared.is_up())
    }

    /// Duplicate detection: which keys were seen within the dedupe window.
    pub fn dedupe(&self) -> Dedupe<'_> {
        Dedupe { store: self }
    }

    /// The per-conversation send rate limit.
    pub fn send_limit(&self) -> SendLimit<'_> {
        SendLimit { store: self }
    }

    /// Per-conversation settings (and the store-wide ones, such as the suite ticket).
    pub fn settings(&self) -> Settings<'_> {
        Settings { store: self }
    }

    /// The journal of accepted messages.
    pub fn journal(&self) -> Journal<'_> {
        Journal { store: self }
    }

    /// Claims on pieces of work, so one replica at a time does each.
    pub fn claims(&self) -> Claims<'_> {
        Claims { store: self }
    }

    /// Counters every replica adds to (through Redis).
    pub fn shared_counts(&self) -> SharedCounts<'_> {
        SharedCounts { store: self }
    }

    /// The records of kind `T` kept on this machine; `None` for a store in memory only.
    pub fn local_registry<T: Kept>(&self) -> Option<LocalRegistry<T>> {
        self.durable.clone().map(LocalRegistry::new)
    }

    /// The records of kind `T` every replica sees: in Redis when it is configured, and on this
    /// machine, which answers while Redis does not.
    pub fn shared_registry<T: Shared>(&self) -> SharedRegistry<T> {
        SharedRegistry::new(self.clone(), self.local_registry())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settings_the_rate_limits_window_and_answered_ids_outlive_the_process() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let options = StateOptions {
            rate_limit: RateLimit::per_minute(3, Duration::ZERO),
            dedupe_ttl: Duration::from_secs(600),
            ..StateOptions::default()
        };
        let store = StateStore::open(dir.path(), options.clone()).await.expect("opens");
        store.settings().set("cid", "lang", "en").await;
        for _ in 0..3 {
            assert_eq!(store.send_limit().try_slot("cid").await, Ok(()));
        }
        let Ok(Recorded::New(ticket)) = store.journal().record("m1", || "{}".to_owned()).await else { panic!("new") };
        store.journal().finish(&ticket).await;
        store.flush().await;
        drop(store);

        let store = StateStore::open(dir.path(), options).await.expect("reopens");
        assert_eq!(store.settings().get("cid", "lang").await.as_deref(), Some("en"));
        // The window's first send is not kept: one slot frees, then the limit holds.
        assert_eq!(store.send_limit().try_slot("cid").await, Ok(()));
        assert!(store.send_limit().try_slot("cid").await.is_err(), "the sends before the restart still count");
        assert_eq!(store.send_limit().try_slot("other").await, Ok(()));
        assert_eq!(store.journal().record("m1", String::new).await.expect("recorded"), Recorded::Duplicate);
        assert!(store.journal().unfinished().await.is_empty(), "m1 was done");
    }
}
