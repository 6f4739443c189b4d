//! Two replicas of the real binary on one real Redis that is killed and started again every
//! second or so (it keeps its data, as a production Redis does), with DingTalk's deliveries and
//! redeliveries of every message reaching both: every message answered exactly once, none lost.
//! A replica that cannot reach Redis does not take a message (another may be answering it), so
//! DingTalk sends it again until one that can takes it.

use std::collections::HashMap;
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

    // Redis flaps until every message is acknowledged, and is left up.
    let (sent, kills) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    let flapper = {
        let (sent, kills, dir) = (Arc::clone(&sent), Arc::clone(&kills), data.path().to_owned());
        tokio::spawn(async move {
            let mut redis = Some(redis);
            loop {
                // Paces the fault; nothing waits on it.
                tokio::time::sleep(if redis.is_some() { UP } else { DOWN }).await;
                match redis.take() {
                    Some(up) if sent.load(Ordering::Acquire) => return up,
                    Some(mut up) => {
                        up.kill();
                        kills.fetch_add(1, Ordering::AcqRel);
                    }
                    None => {
                        let dir = dir.clone();
                        let started = tokio::task::spawn_blocking(move || RedisServer::start_persistent_on(port, &dir));
                        redis = Some(started.await.expect("redis-server starts"));
                    }
                }
            }
        })
    };

    let refused = AtomicUsize::new(0);
    let mut callbacks = Vec::with_capacity(MESSAGES);
    let mut pace = tokio::time::interval(PACE);
    let mut i = 0;
    while i < MESSAGES || kills.load(Ordering::Acquire) < KILLS {
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
    sent.store(true, Ordering::Release);
    let _redis = flapper.await.expect("the flapper");

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
    for bot in &mut bots {
        bot.terminate();
        assert!(bot.wait_for_exit().await.success(), "{}", bot.output().join("\n"));
    }

    let records = sim.records();
    let mut per_session: HashMap<&str, usize> = HashMap::new();
    for post in &records.webhook_posts {
        *per_session.entry(post.session.as_str()).or_default() += 1;
    }
    for session in &sessions {
        assert_eq!(
            per_session.get(session.as_str()),
            Some(&1),
            "{session} posted to {:?} times",
            per_session.get(session.as_str())
        );
    }
    assert!(records.openapi_sends.is_empty(), "no answer went another way: {:?}", records.openapi_sends);
    // Else the test proved nothing.
    assert!(refused.load(Ordering::Relaxed) > 0, "no delivery met Redis away");
    let output: Vec<String> = bots.iter().flat_map(BotProcess::output).collect();
    assert!(!output.iter().any(|l| l.contains("panicked")), "{}", output.join("\n"));
}
