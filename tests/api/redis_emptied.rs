//! A Redis that lost its data (restarted without persistence, or flushed) against a real
//! `redis-server`: the replica notices it by its marker, says so, counts it, and puts back the
//! settings and shared records it keeps; a `/lang` setting never reads as removed meanwhile.

use std::time::{Duration, Instant};

use dingmeet::readiness::Readiness;
use dingmeet::state::{Backend, Kept, Shared, StateOptions, StateStore};
use dingmeet::telemetry::Metrics;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::redis_server::RedisServer;
use crate::state::capture_logs;

const DEADLINE: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Note {
    due_ms: i64,
}

impl Kept for Note {
    const KIND: &'static str = "test-emptied-note";
}

impl Shared for Note {
    fn due_ms(&self) -> Option<i64> {
        Some(self.due_ms)
    }
}

fn url(redis: &RedisServer) -> SecretString {
    SecretString::from(redis.url())
}

/// Polls `check` (which may talk to the store, and so notice a dead connection) until it holds.
async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// Single-threaded, so the store's background task logs through this thread's subscriber.
#[tokio::test(flavor = "current_thread")]
async fn a_redis_restarted_empty_or_flushed_is_noticed_counted_and_given_back_what_this_replica_keeps() {
    let (logs, _guard) = capture_logs();
    let mut redis = RedisServer::start();
    let port = redis.port();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = StateStore::open(dir.path(), StateOptions::default()).await.expect("opens");
    let store = store.with_redis(&url(&redis), Readiness::new()).await.expect("a valid Redis URL");
    let metrics = Metrics::with_redis_emptied(store.redis_emptied());
    assert_eq!(store.backend(), Backend::Redis);
    assert_eq!(store.redis_emptied().get(), 0, "a first connect to a fresh Redis is no loss");
    let notes = store.shared_registry::<Note>();
    store.settings().set("cid", "lang", "en").await;
    notes.put("n1", &Note { due_ms: 1_000 }).await.expect("kept");

    redis.kill();
    let redis = RedisServer::start_on(port);
    let mut probes = 0;
    until("the replica has noticed the empty Redis", async || {
        probes += 1;
        store.dedupe().first_seen(&format!("msg:probe-{probes}")).await;
        store.backend() == Backend::Redis && store.redis_emptied().get() == 1
    })
    .await;
    assert_eq!(store.settings().get("cid", "lang").await.as_deref(), Some("en"));
    let peer = StateStore::redis(&url(&redis), StateOptions::default(), Readiness::new()).await.expect("connects");
    assert_eq!(peer.settings().get("cid", "lang").await.as_deref(), Some("en"), "put back for every replica");
    assert!(notes.due(2_000).await.expect("read").iter().any(|(key, _)| key == "n1"));
    assert_eq!(
        peer.shared_registry::<Note>().get("n1").await.expect("read"),
        Some(Note { due_ms: 1_000 }),
        "records are put back on the registry's next pass"
    );

    // Flushed while connected: nothing fails, the marker check notices; meanwhile the setting
    // still reads as set, not as removed.
    let client = redis::Client::open(redis.url()).expect("a client");
    let mut conn = client.get_multiplexed_async_connection().await.expect("connects");
    redis::cmd("FLUSHALL").exec_async(&mut conn).await.expect("flushed");
    assert_eq!(store.settings().get("cid", "lang").await.as_deref(), Some("en"), "an empty Redis is no removal");
    until("the flush is noticed", async || store.redis_emptied().get() == 2).await;
    assert_eq!(peer.settings().get("cid", "lang").await.as_deref(), Some("en"));

    assert!(metrics.render().contains("dingmeet_redis_emptied_total 2"), "{}", metrics.render());
    let text = logs.text();
    // Twice from this replica; the peer may have noticed the flush too by now.
    assert!(text.matches("Redis lost the shared state").count() >= 2, "{text}");
    assert!(text.contains("appendonly yes"), "the warning says what to do:\n{text}");
}

#[tokio::test]
async fn a_cleared_setting_reads_as_cleared_on_every_replica() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = StateStore::open(dir.path(), StateOptions::default()).await.expect("opens");
    let store = store.with_redis(&url(&redis), Readiness::new()).await.expect("connects");
    let peer = StateStore::redis(&url(&redis), StateOptions::default(), Readiness::new()).await.expect("connects");
    store.settings().set("cid", "lang", "en").await;
    assert_eq!(peer.settings().get("cid", "lang").await.as_deref(), Some("en"));
    peer.settings().clear("cid", "lang").await;
    assert_eq!(store.settings().get("cid", "lang").await, None, "the clear is in Redis, not a missing value");
}

#[tokio::test(flavor = "current_thread")]
async fn a_replica_restarted_after_another_found_redis_empty_still_puts_back_what_it_keeps() {
    let (logs, _guard) = capture_logs();
    let mut redis = RedisServer::start();
    let port = redis.port();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = StateStore::open(dir.path(), StateOptions::default()).await.expect("opens");
    let store = store.with_redis(&url(&redis), Readiness::new()).await.expect("connects");
    store.settings().set("cid", "lang", "en").await;
    store.flush().await;
    drop(store);

    // Redis restarts empty while this replica is stopped, and another replica sets a new marker.
    redis.kill();
    let redis = RedisServer::start_on(port);
    let peer = StateStore::redis(&url(&redis), StateOptions::default(), Readiness::new()).await.expect("connects");
    assert_eq!(peer.settings().get("cid", "lang").await, None, "nothing put it back yet");

    let store = StateStore::open(dir.path(), StateOptions::default()).await.expect("reopens");
    let store = store.with_redis(&url(&redis), Readiness::new()).await.expect("connects");
    assert_eq!(store.redis_emptied().get(), 1, "the epoch it kept is not Redis's now");
    assert_eq!(peer.settings().get("cid", "lang").await.as_deref(), Some("en"));
    assert_eq!(logs.text().matches("Redis lost the shared state").count(), 1, "{}", logs.text());
}
