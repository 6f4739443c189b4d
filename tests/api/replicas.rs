//! Several replicas behind one load balancer: with one Redis, a message delivered to all of them
//! is answered once, and the per-conversation rate limit counts every replica's replies.

use dingtalk_sim::sender::post_callback;
use dingtalk_sim::{Scenario, Simulator};

use crate::bots::{self, WAIT};
use crate::redis_server::RedisServer;

pub(crate) async fn simulator() -> Simulator {
    Simulator::start(Scenario::builtin().expect("the builtin scenario")).await.expect("the simulator starts")
}

/// Delivers one signed callback to every bot at once; returns how many replies arrived once all
/// of them have stopped (and so finished every reply in flight).
pub(crate) async fn deliver_to_all(sim: &Simulator, bots: Vec<bots::Bot>) -> usize {
    let callback = sim.message("/meeting 123456789").build();
    let urls: Vec<String> = bots.iter().map(bots::Bot::callback_url).collect();
    let posts = urls.iter().map(|url| post_callback(sim, url, callback.clone()));
    for delivery in futures_util::future::join_all(posts).await {
        let delivery = delivery.expect("the bot answers");
        assert_eq!((delivery.status, delivery.body.as_str()), (200, r#"{"msgtype":"empty"}"#));
    }
    sim.wait_for_webhook_posts(1, WAIT).await.expect("a reply");
    for bot in bots {
        bot.finish().await;
    }
    sim.records().delivered_posts().len()
}

/// Starts two bots with `settings` (a shared Redis), checks both report Redis ready, delivers one
/// message to both and checks it was answered, and looked up, once.
pub(crate) async fn two_ready_replicas_answer_once(settings: &[(&str, &str)]) {
    let sim = simulator().await;
    let a = bots::start(&sim, settings).await;
    let b = bots::start(&sim, settings).await;
    for bot in [&a, &b] {
        let (status, body) = bot.get("/readyz").await;
        assert!(status == 200 && body.contains(r#""redis":{"ok":true}"#), "{status} {body}");
    }
    assert_eq!(deliver_to_all(&sim, vec![a, b]).await, 1, "one reply, not one per replica");
    assert_eq!(sim.records().conference_calls("123456789"), 1, "one lookup too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_sharing_redis_answer_a_message_delivered_to_both_exactly_once() {
    let redis = RedisServer::start();
    two_ready_replicas_answer_once(&[("DINGMEET_REDIS_URL", &redis.url())]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_shared_state_each_replica_would_answer() {
    let sim = simulator().await;
    let a = bots::start(&sim, &[]).await;
    let b = bots::start(&sim, &[]).await;
    assert_eq!(deliver_to_all(&sim, vec![a, b]).await, 2, "the case Redis is for");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rate_limit_counts_replies_from_every_replica_and_drops_the_excess_politely() {
    let redis = RedisServer::start();
    let sim = simulator().await;
    let url = redis.url();
    let limit = [
        ("DINGMEET_REDIS_URL", url.as_str()),
        ("DINGMEET_RATE_LIMIT_PER_MINUTE", "2"),
        ("DINGMEET_RATE_LIMIT_WAIT_SECS", "0"),
    ];
    let a = bots::start(&sim, &limit).await;
    let b = bots::start(&sim, &limit).await;

    for (sent, bot) in [&a, &b].into_iter().enumerate() {
        let delivery = sim.message("/help").post(&bot.callback_url()).await.expect("the bot answers");
        assert_eq!(delivery.status, 200);
        sim.wait_for_webhook_posts(sent + 1, WAIT).await.expect("a reply within the limit");
    }
    let delivery = sim.message("/help").post(&a.callback_url()).await.expect("the bot answers");
    assert_eq!(delivery.status, 200, "the third message is still acknowledged");
    let refused = r#"dingmeet_refused_messages_total{reason="rate_limited"} 1"#;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (_, metrics) = a.get("/metrics").await;
        if metrics.lines().any(|line| line == refused) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no {refused:?} in:\n{metrics}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let other = sim.message("/help").conversation_id("cid-another-group").post(&b.callback_url()).await;
    assert_eq!(other.expect("the bot answers").status, 200);
    sim.wait_for_webhook_posts(3, WAIT).await.expect("another group has its own limit");

    a.finish().await;
    b.finish().await;
    assert_eq!(sim.records().delivered_posts().len(), 3, "the third reply to the first group was dropped");
}
