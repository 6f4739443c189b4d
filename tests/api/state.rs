//! The state store against a real `redis-server`: what holds across instances sharing Redis, and
//! what happens when Redis goes away and comes back.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dingmeet::readiness::{self, CheckState, Readiness};
use dingmeet::state::{Backend, RateLimit, Recorded, SendSlot, StateError, StateOptions, StateStore, Ticket};
use secrecy::SecretString;

use crate::redis_server::RedisServer;

const DEADLINE: Duration = Duration::from_secs(15);

fn options(rate_limit: RateLimit) -> StateOptions {
    StateOptions { rate_limit, ..StateOptions::default() }
}

async fn open(redis: &RedisServer, options: StateOptions) -> StateStore {
    open_url(&redis.url(), options, Readiness::new()).await
}

async fn open_url(url: &str, options: StateOptions, readiness: Readiness) -> StateStore {
    StateStore::redis(&SecretString::from(url.to_owned()), options, readiness).await.expect("a valid Redis URL")
}

/// Polls `condition` until it holds or the deadline passes.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn duplicate_detection_is_atomic_across_two_instances_sharing_redis() {
    let redis = RedisServer::start();
    let a = open(&redis, StateOptions::default()).await;
    let b = open(&redis, StateOptions::default()).await;
    assert_eq!((a.backend(), b.backend()), (Backend::Redis, Backend::Redis));

    let racers: Vec<_> = (0..40)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { store.dedupe().first_seen("msg:race").await })
        })
        .collect();
    let mut fresh = 0;
    for racer in racers {
        fresh += usize::from(racer.await.expect("task"));
    }
    assert_eq!(fresh, 1, "exactly one of 40 concurrent deliveries over two instances is new");
    assert!(b.dedupe().first_seen("msg:other").await);
    assert!(!a.dedupe().first_seen("msg:other").await);
}

#[tokio::test]
async fn a_seen_message_is_forgotten_after_the_dedupe_ttl() {
    let redis = RedisServer::start();
    let store = open(&redis, StateOptions { dedupe_ttl: Duration::from_millis(200), ..StateOptions::default() }).await;
    assert!(store.dedupe().first_seen("msg:ttl").await);
    let other = open(&redis, StateOptions { dedupe_ttl: Duration::from_millis(200), ..StateOptions::default() }).await;
    let deadline = Instant::now() + DEADLINE;
    // Redis expires the key (PX); a fresh instance without local memory sees it as new again.
    while !other.dedupe().first_seen("msg:ttl").await {
        assert!(Instant::now() < deadline, "the key never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_rate_limit_counts_sends_from_every_instance() {
    let redis = RedisServer::start();
    let limit = RateLimit { max_per_window: 3, window: Duration::from_secs(60), max_wait: Duration::ZERO };
    let a = open(&redis, options(limit)).await;
    let b = open(&redis, options(limit)).await;
    assert_eq!(a.send_limit().try_slot("cid-group").await, Ok(()));
    assert_eq!(b.send_limit().try_slot("cid-group").await, Ok(()));
    assert_eq!(a.send_limit().try_slot("cid-group").await, Ok(()));
    for store in [&a, &b] {
        match store.send_limit().wait_for_slot("cid-group").await {
            SendSlot::Refused { retry_after } => {
                assert!(
                    retry_after > Duration::from_secs(50) && retry_after <= Duration::from_secs(60),
                    "{retry_after:?}"
                );
            }
            granted => panic!("a fourth send within the minute must be refused, got {granted:?}"),
        }
    }
    assert_eq!(b.send_limit().try_slot("cid-other").await, Ok(()), "other conversations have their own window");
}

#[tokio::test]
async fn a_queued_reply_takes_the_slot_as_soon_as_it_frees_up_on_any_instance() {
    let redis = RedisServer::start();
    let limit = RateLimit { max_per_window: 1, window: Duration::from_millis(400), max_wait: Duration::from_secs(5) };
    let a = open(&redis, options(limit)).await;
    let b = open(&redis, options(limit)).await;
    assert_eq!(a.send_limit().wait_for_slot("cid").await, SendSlot::Granted { waited: Duration::ZERO });
    match b.send_limit().wait_for_slot("cid").await {
        SendSlot::Granted { waited } => {
            assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(5), "{waited:?}");
        }
        refused => panic!("the reply should have queued, got {refused:?}"),
    }
}

#[tokio::test]
async fn conversation_settings_are_shared_and_separated_by_key_prefix() {
    let redis = RedisServer::start();
    let a = open(&redis, StateOptions::default()).await;
    let b = open(&redis, StateOptions::default()).await;
    let other_bot = open(&redis, StateOptions { key_prefix: "otherbot:".into(), ..StateOptions::default() }).await;

    assert_eq!(a.settings().get("cid1", "lang").await, None);
    a.settings().set("cid1", "lang", "en").await;
    assert_eq!(b.settings().get("cid1", "lang").await.as_deref(), Some("en"));
    assert_eq!(b.settings().get("cid2", "lang").await, None, "settings are per conversation");
    assert_eq!(other_bot.settings().get("cid1", "lang").await, None, "another key prefix is another bot");

    b.settings().set("cid1", "lang", "zh").await;
    assert_eq!(a.settings().get("cid1", "lang").await.as_deref(), Some("zh"));
    b.settings().clear("cid1", "lang").await;
    assert_eq!(a.settings().get("cid1", "lang").await, None);
}

/// Collects log output of the current thread's subscriber (also used by other tests).
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) fn capture_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

// Single-threaded, so the store's background task logs through this thread's subscriber.
#[tokio::test(flavor = "current_thread")]
async fn when_redis_dies_what_is_not_a_message_falls_back_to_local_state_and_recovers_when_it_is_back() {
    let (logs, _guard) = capture_logs();
    let mut redis = RedisServer::start();
    let port = redis.port();
    let readiness = Readiness::new();
    let store = open_url(&redis.url(), StateOptions::default(), readiness.clone()).await;
    let peer = open(&redis, StateOptions::default()).await;
    assert_eq!(readiness.snapshot().get(readiness::REDIS), Some(&CheckState::Pass));
    assert!(store.dedupe().first_seen("msg:before").await);
    store.settings().set("cid", "lang", "en").await;

    redis.kill();
    for i in 0..5 {
        assert!(store.dedupe().first_seen(&format!("msg:during-{i}")).await, "new messages are still admitted");
    }
    assert!(!store.dedupe().first_seen("msg:before").await, "what this instance saw before is still a duplicate");
    assert_eq!(store.settings().get("cid", "lang").await.as_deref(), Some("en"), "the last known setting is kept");
    assert_eq!(store.send_limit().try_slot("cid").await, Ok(()), "replies still get slots");
    assert_eq!(store.backend(), Backend::LocalFallback);
    let reason = readiness.snapshot().get(readiness::REDIS).cloned().expect("the redis check");
    assert!(matches!(reason, CheckState::Degraded(_)), "degraded, still ready: {reason:?}");
    let reason = reason.reason().expect("a reason").to_owned();
    assert!(reason.contains(&format!("127.0.0.1:{port}")) && reason.contains("local state"), "{reason}");

    let _redis = RedisServer::start_on(port);
    eventually("the store is back on Redis", || store.backend() == Backend::Redis).await;
    assert_eq!(readiness.snapshot().get(readiness::REDIS), Some(&CheckState::Pass));
    assert!(store.dedupe().first_seen("msg:after").await);
    // The idle peer learns of the restart on its next call (its old connection is dead), falls
    // back for that call, reconnects, and then sees what the first instance stored.
    assert!(peer.dedupe().first_seen("msg:wake-peer").await);
    eventually("the peer is back on Redis", || peer.backend() == Backend::Redis).await;
    assert!(!peer.dedupe().first_seen("msg:after").await, "state is shared again after recovery");

    let text = logs.text();
    let count = |needle: &str| text.matches(needle).count();
    assert_eq!(count("Redis unavailable: falling back to local state"), 2, "once per instance:\n{text}");
    assert_eq!(count("Redis is reachable again"), 2, "once per instance:\n{text}");
}

#[tokio::test]
async fn a_store_opened_while_redis_is_down_answers_locally_and_connects_once_it_is_up() {
    let port = RedisServer::unused_port();
    let readiness = Readiness::new();
    let store = open_url(&format!("redis://127.0.0.1:{port}/0"), StateOptions::default(), readiness.clone()).await;
    assert_eq!(store.backend(), Backend::LocalFallback);
    let reason = readiness.snapshot().get(readiness::REDIS).cloned().expect("registered");
    assert!(matches!(reason, CheckState::Degraded(_)), "degraded, still ready: {reason:?}");
    let reason = reason.reason().expect("a reason").to_owned();
    assert!(reason.contains("unavailable"), "{reason}");
    assert!(store.dedupe().first_seen("msg:1").await);
    assert!(!store.dedupe().first_seen("msg:1").await);

    let redis = RedisServer::start_on(port);
    eventually("the store connects", || store.backend() == Backend::Redis).await;
    assert_eq!(readiness.snapshot().get(readiness::REDIS), Some(&CheckState::Pass));
    let peer = open(&redis, StateOptions::default()).await;
    assert!(store.dedupe().first_seen("msg:2").await);
    assert!(!peer.dedupe().first_seen("msg:2").await);
}

#[tokio::test]
async fn a_password_protected_redis_works_and_the_password_never_shows() {
    let redis = RedisServer::start_with_password("redis-pw-4f2a");
    let store = open(&redis, StateOptions::default()).await;
    assert_eq!(store.backend(), Backend::Redis);
    assert!(!format!("{store:?}").contains("redis-pw-4f2a"), "{store:?}");

    let readiness = Readiness::new();
    let wrong = format!("redis://:wrong-pw-77@127.0.0.1:{}/0", redis.port());
    let store = open_url(&wrong, StateOptions::default(), readiness.clone()).await;
    assert_eq!(store.backend(), Backend::LocalFallback);
    let reason = readiness.snapshot().get(readiness::REDIS).cloned().expect("registered");
    assert!(matches!(reason, CheckState::Degraded(_)), "degraded, still ready: {reason:?}");
    let reason = reason.reason().expect("a reason").to_owned();
    assert!(!reason.contains("wrong-pw-77") && !format!("{store:?}").contains("wrong-pw-77"), "{reason}");
}

#[tokio::test]
async fn a_url_that_can_never_work_fails_at_start_without_echoing_it() {
    for url in ["http://:hunter2@example.com", "not a url :hunter2", "redis://:hunter2@"] {
        let err = StateStore::redis(&SecretString::from(url), StateOptions::default(), Readiness::new())
            .await
            .expect_err("refused");
        assert!(matches!(err, StateError::BadRedisUrl(_)), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with("DINGMEET_REDIS_URL is not a usable Redis URL") && !text.contains("hunter2"),
            "{text}"
        );
    }
}

/// `redis-cli` against the test's server: what another client (or an operator) does to it.
fn redis_cli(redis: &RedisServer, args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port().to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs (it comes with redis-server)");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A finished message whose done-mark Redis does not take (its writes paused past the client's
/// timeout) is marked again once Redis answers, and a take-over never hands it out to be answered
/// again, though it sits in the journal past the claim time.
#[tokio::test]
async fn a_failed_done_mark_is_marked_again_and_never_taken_over() {
    use dingmeet::state::{Recorded, Ticket};
    let redis = RedisServer::start();
    let options = StateOptions { journal_claim: Duration::from_millis(50), ..StateOptions::default() };
    let store = open(&redis, options).await;
    let Ok(Recorded::New(ticket @ Ticket::Shared(_))) =
        store.journal().record("msgDoneMark", || "{\"msgId\":\"msgDoneMark\"}".to_owned()).await
    else {
        panic!("recorded in the Redis journal");
    };
    assert!(store.journal().claim_reply("msgDoneMark", &ticket).await);

    // Writes wait longer than the client's timeout: the done-mark fails.
    assert_eq!(redis_cli(&redis, &["CLIENT", "PAUSE", "1500", "WRITE"]), "OK");
    store.journal().finish(&ticket).await;
    // Its connection dropped with the done-mark still unread: Redis never sees it.
    redis_cli(&redis, &["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]);
    assert_eq!(redis_cli(&redis, &["XLEN", "dingmeet:journal"]), "1", "the entry is still in the journal");

    let deadline = Instant::now() + DEADLINE;
    loop {
        let taken = store.journal().take_over().await;
        assert!(taken.is_empty(), "a message answered here is not taken over to be answered again: {taken:?}");
        if redis_cli(&redis, &["XLEN", "dingmeet:journal"]) == "0" {
            break;
        }
        assert!(Instant::now() < deadline, "the entry was never marked done");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let peer = open(&redis, StateOptions { journal_claim: Duration::from_millis(50), ..StateOptions::default() }).await;
    assert!(peer.journal().take_over().await.is_empty(), "nothing left for another replica either");
}

/// While Redis does not answer, no replica takes a message (only Redis knows whether another one
/// has it); once it is back, what one took is a duplicate for the other, and the `replied`
/// marker lets the one that holds it, and it alone, send the reply (again after a lost answer).
#[tokio::test]
async fn with_redis_away_no_replica_takes_a_message_and_once_it_is_back_each_is_taken_once() {
    let data = tempfile::tempdir().expect("a directory for Redis's data");
    let port = RedisServer::unused_port();
    let mut redis = RedisServer::start_persistent_on(port, data.path());
    let (store, peer) = (open(&redis, StateOptions::default()).await, open(&redis, StateOptions::default()).await);
    let Ok(Recorded::New(taken)) = store.journal().record("m1", String::new).await else { panic!("m1 is new") };
    assert!(matches!(taken, Ticket::Shared(_)), "{taken:?}");

    redis.kill();
    assert_eq!(peer.journal().record("m1", String::new).await.ok(), Some(Recorded::Unshared), "not known here");
    assert_eq!(store.journal().record("m2", String::new).await.ok(), Some(Recorded::Unshared));
    assert_eq!(peer.journal().record("m2", String::new).await.ok(), Some(Recorded::Unshared));

    let _redis = RedisServer::start_persistent_on(port, data.path());
    eventually("both are back on Redis", || store.backend() == Backend::Redis && peer.backend() == Backend::Redis)
        .await;
    assert_eq!(peer.journal().record("m1", String::new).await.ok(), Some(Recorded::Duplicate));
    assert!(matches!(peer.journal().record("m2", String::new).await, Ok(Recorded::New(Ticket::Shared(_)))));
    assert_eq!(store.journal().record("m2", String::new).await.ok(), Some(Recorded::Duplicate));
    assert!(store.journal().claim_reply("m1", &taken).await, "the replica that took it sends the reply");
    assert!(!peer.journal().claim_reply("m1", &taken).await, "no other does");
    assert!(store.journal().claim_reply("m1", &taken).await, "its own marker is recognised");
}
