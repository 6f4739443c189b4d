//! Two replicas of the real binary on one real Redis that is killed and started again every
//! second or so (it keeps its data, as a production Redis does), with DingTalk's deliveries and
//! redeliveries of every message reaching both: every message answered exactly once, none lost.
//! A replica that cannot reach Redis does not take a message (another may be answering it), so
//! DingTalk sends it again until one that can takes it. Over HTTP (each delivery posted to both)
//! and over the Stream (each frame pushed again to either socket until acknowledged).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dingtalk_sim::Simulator;
use dingtalk_sim::sender::{Callback, post_callback};

use crate::helpers::process::BotProcess;
use crate::process::{env, simulator};
use crate::redis_server::RedisServer;

/// At least this many messages are sent, over at least [`KILLS`] kills of Redis.
const MESSAGES: usize = 30;
const KILLS: usize = 4;
/// How long Redis stays up, then down, in each flap.
const UP: Duration = Duration::from_millis(1500);
const DOWN: Duration = Duration::from_millis(1000);
/// The pause between two messages, and between two redeliveries of one not yet acknowledged.
const PACE: Duration = Duration::from_millis(150);
/// How long one message may go unacknowledged, and how long every reply may take once Redis is
/// back for good.
const DEADLINE: Duration = Duration::from_secs(60);

/// Posts `callback` to every replica at once, as DingTalk's redeliveries reaching both would;
/// true if any acknowledged it. Any answer but 200 and 503 fails the test.
async fn deliver_to_both(sim: &Simulator, urls: &[String], callback: &Callback, refused: &AtomicUsize) -> bool {
    let posts = urls.iter().map(|url| post_callback(sim, url, callback.clone()));
    let mut acknowledged = false;
    for delivery in futures_util::future::join_all(posts).await {
        let delivery = delivery.expect("the bot answers");
        match delivery.status {
            200 => acknowledged = true,
            503 => {
                assert!(delivery.body.contains("redis_unreachable"), "{}", delivery.body);
                refused.fetch_add(1, Ordering::Relaxed);
            }
            other => panic!("unexpected {other}: {}", delivery.body),
        }
    }
    acknowledged
}

/// Redis killed and started again on the same data, paced by [`UP`] and [`DOWN`], until stopped.
struct Flapping {
    stop: Arc<AtomicBool>,
    kills: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<RedisServer>,
}

impl Flapping {
    fn start(redis: RedisServer, port: u16, dir: &Path) -> Self {
        let (stop, kills) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let (stopped, killed, dir) = (Arc::clone(&stop), Arc::clone(&kills), dir.to_owned());
        let task = tokio::spawn(async move {
            let mut redis = Some(redis);
            loop {
                // Paces the fault; nothing waits on it.
                tokio::time::sleep(if redis.is_some() { UP } else { DOWN }).await;
                match redis.take() {
                    Some(up) if stopped.load(Ordering::Acquire) => return up,
                    Some(mut up) => {
                        up.kill();
                        killed.fetch_add(1, Ordering::AcqRel);
                    }
                    None => {
                        let dir = dir.clone();
                        let started = tokio::task::spawn_blocking(move || RedisServer::start_persistent_on(port, &dir));
                        redis = Some(started.await.expect("redis-server starts"));
                    }
                }
            }
        });
        Self { stop, kills, task }
    }

    fn kills(&self) -> usize {
        self.kills.load(Ordering::Acquire)
    }

    /// Leaves Redis up, for good, and hands it over.
    async fn stop(self) -> RedisServer {
        self.stop.store(true, Ordering::Release);
        self.task.await.expect("the flapper")
    }
}

/// Every session posted to exactly once, and nothing sent through the OpenAPI instead.
fn each_posted_once(sim: &Simulator, sessions: &[String]) {
    let records = sim.records();
    let mut per_session: HashMap<&str, usize> = HashMap::new();
    for post in &records.webhook_posts {
        *per_session.entry(post.session.as_str()).or_default() += 1;
    }
    for session in sessions {
        let posts = per_session.get(session.as_str());
        assert_eq!(posts, Some(&1), "{session} posted to {posts:?} times");
    }
    assert!(records.openapi_sends.is_empty(), "no answer went another way: {:?}", records.openapi_sends);
}

async fn stop_both(bots: &mut [BotProcess]) {
    for bot in bots.iter_mut() {
        bot.terminate();
        assert!(bot.wait_for_exit().await.success(), "{}", bot.output().join("\n"));
    }
    let output: Vec<String> = bots.iter().flat_map(BotProcess::output).collect();
    assert!(!output.iter().any(|l| l.contains("panicked")), "{}", output.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_a_flapping_redis_answer_every_message_redelivered_to_both_exactly_once() {
    let data = tempfile::tempdir().expect("a directory for Redis's data");
    let port = RedisServer::unused_port();
    let redis = RedisServer::start_persistent_on(port, data.path());
    let sim = simulator().await;
    let url = redis.url();
    let vars = env(
        &sim,
        &[("DINGMEET_REDIS_URL", &url), ("DINGMEET_JOURNAL_CLAIM_SECS", "1"), ("DINGMEET_RATE_LIMIT_PER_MINUTE", "0")],
    );
    let mut bots = [BotProcess::start(&vars).await, BotProcess::start(&vars).await];
    let urls: Vec<String> = bots.iter().map(|bot| format!("{}/dingtalk/callback", bot.address)).collect();

    let flapping = Flapping::start(redis, port, data.path());
    let refused = AtomicUsize::new(0);
    let mut callbacks = Vec::with_capacity(MESSAGES);
    let mut pace = tokio::time::interval(PACE);
    let mut i = 0;
    while i < MESSAGES || flapping.kills() < KILLS {
        i += 1;
        let callback = sim.message("/help").conversation_id(&format!("cid-flapping-{i}")).build();
        let deadline = Instant::now() + DEADLINE;
        loop {
            pace.tick().await;
            if deliver_to_both(&sim, &urls, &callback, &refused).await {
                break;
            }
            assert!(Instant::now() < deadline, "message {i} was never acknowledged");
        }
        callbacks.push(callback);
    }
    let _redis = flapping.stop().await;

    let sessions: Vec<String> = callbacks.iter().map(|c| c.session_id.clone()).collect();
    sim.wait_until(DEADLINE, |r| {
        sessions.iter().all(|s| r.webhook_posts.iter().any(|p| &p.session == s && p.delivered())).then_some(())
    })
    .await
    .expect("every acknowledged message answered");
    // DingTalk's redeliveries once Redis is back: duplicates, to both replicas.
    for callback in &callbacks {
        assert!(deliver_to_both(&sim, &urls, callback, &refused).await, "a redelivery after Redis returned");
    }
    stop_both(&mut bots).await;
    each_posted_once(&sim, &sessions);
    // Else the test proved nothing.
    assert!(refused.load(Ordering::Relaxed) > 0, "no delivery met Redis away");
}

/// Stream mode: each message pushed to one replica's socket and pushed again, to either, until
/// one acknowledges it (as DingTalk does with a frame it has no ack for), and once more after.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stream_replicas_on_a_flapping_redis_answer_every_message_pushed_again_exactly_once() {
    let data = tempfile::tempdir().expect("a directory for Redis's data");
    let port = RedisServer::unused_port();
    let redis = RedisServer::start_persistent_on(port, data.path());
    let sim = simulator().await;
    let url = redis.url();
    let vars = env(
        &sim,
        &[
            ("DINGMEET_MODE", "stream"),
            ("DINGMEET_STREAM_BACKOFF_INITIAL_MS", "50"),
            ("DINGMEET_STREAM_BACKOFF_MAX_MS", "400"),
            ("DINGMEET_REDIS_URL", &url),
            ("DINGMEET_JOURNAL_CLAIM_SECS", "1"),
            ("DINGMEET_RATE_LIMIT_PER_MINUTE", "0"),
        ],
    );
    let mut bots = [BotProcess::start(&vars).await, BotProcess::start(&vars).await];
    sim.wait_for_connections(2, DEADLINE).await.expect("both replicas connect");
    let acked = |id: &str| {
        let id = id.to_owned();
        move |r: &dingtalk_sim::records::Records| r.stream.answers_to(&id).iter().any(|f| f.is_ack()).then_some(())
    };

    let flapping = Flapping::start(redis, port, data.path());
    let (mut pushed, mut pushes) = (Vec::with_capacity(MESSAGES), 0_usize);
    let mut pace = tokio::time::interval(PACE);
    let mut i = 0;
    while i < MESSAGES || flapping.kills() < KILLS {
        pace.tick().await;
        i += 1;
        let push = sim.message("/help").conversation_id(&format!("cid-stream-flapping-{i}")).push();
        let deadline = Instant::now() + DEADLINE;
        while sim.wait_until(PACE, acked(&push.message_id)).await.is_err() {
            assert!(Instant::now() < deadline, "message {i} was never acknowledged");
            sim.stream().redeliver(&push.message_id);
            pushes += 1;
        }
        pushed.push(push);
    }
    let _redis = flapping.stop().await;

    let sessions: Vec<String> =
        pushed.iter().map(|p| p.callback.as_ref().expect("a built message").session_id.clone()).collect();
    sim.wait_until(DEADLINE, |r| {
        sessions.iter().all(|s| r.webhook_posts.iter().any(|p| &p.session == s && p.delivered())).then_some(())
    })
    .await
    .expect("every acknowledged message answered");
    // Pushed once more now that Redis is back: duplicates, acknowledged.
    for push in &pushed {
        sim.stream().redeliver(&push.message_id);
    }
    sim.wait_until(DEADLINE, |r| {
        pushed
            .iter()
            .all(|p| r.stream.answers_to(&p.message_id).iter().filter(|f| f.is_ack()).count() >= 2)
            .then_some(())
    })
    .await
    .unwrap_or_else(|err| {
        let records = sim.records();
        let missing: Vec<_> = pushed
            .iter()
            .filter(|p| records.stream.answers_to(&p.message_id).iter().filter(|f| f.is_ack()).count() < 2)
            .map(|p| (p.message_id.clone(), records.stream.sent_with(&p.message_id).len()))
            .collect();
        panic!("not every redelivery acknowledged: {err:?}; {missing:?}")
    });
    stop_both(&mut bots).await;
    each_posted_once(&sim, &sessions);
    // Else the test proved nothing.
    assert!(pushes > 0, "no push met Redis away");
}
