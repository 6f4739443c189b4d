//! The durable default, through the real binary on real files (and a real `redis-server`): what
//! a conversation was told survives restarts, an answered message is not answered again after
//! one, messages acknowledged and then lost to a SIGKILL are finished by the next process on the
//! same `DINGMEET_DATA_DIR` (or, on Redis, by another replica), each exactly once, and a store
//! that cannot be used stops the bot at start with one line saying why.

use std::collections::HashMap;

use dingtalk_sim::sender::Delivery;
use dingtalk_sim::{MessageBuilder, Simulator};

use crate::helpers::process::BotProcess;
use crate::helpers::{WAIT, assert_acknowledged, data_dir, text_of};
use crate::process::{env, simulator};
use crate::redis_server::RedisServer;

async fn send(bot: &BotProcess, message: MessageBuilder) -> Delivery {
    let delivery = message.post(&format!("{}/dingtalk/callback", bot.address)).await.expect("the bot answers");
    assert_acknowledged(&delivery);
    delivery
}

/// The text of the delivered reply on `delivery`'s session webhook.
async fn reply_text(sim: &Simulator, delivery: &Delivery) -> String {
    let session = delivery.callback.session_id.clone();
    let post = sim
        .wait_until(WAIT, |r| r.webhook_posts.iter().find(|p| p.session == session && p.delivered()).cloned())
        .await
        .expect("a reply on the session webhook");
    text_of(&post)
}

const ENGLISH: &str = "This conversation gets English replies";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversations_language_survives_a_sigkill_and_a_sigterm_restart() {
    let sim = simulator().await;
    let dir = data_dir();
    let vars = env(&sim, &[("DINGMEET_DATA_DIR", &dir.path().display().to_string())]);

    let mut bot = BotProcess::start(&vars).await;
    let switched = send(&bot, sim.message("/lang en")).await;
    assert!(reply_text(&sim, &switched).await.contains("English replies from now on"));
    bot.kill().await;

    let bot = BotProcess::start(&vars).await;
    let asked = send(&bot, sim.message("/lang")).await;
    assert!(reply_text(&sim, &asked).await.contains(ENGLISH), "after SIGKILL");
    bot.terminate();
    let mut bot = bot;
    assert!(bot.wait_for_exit().await.success());

    let bot = BotProcess::start(&vars).await;
    let asked = send(&bot, sim.message("/lang")).await;
    assert!(reply_text(&sim, &asked).await.contains(ENGLISH), "after SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_answered_before_a_restart_is_not_answered_after_it() {
    let sim = simulator().await;
    let dir = data_dir();
    let vars = env(&sim, &[("DINGMEET_DATA_DIR", &dir.path().display().to_string())]);

    let mut bot = BotProcess::start(&vars).await;
    let first = send(&bot, sim.message("/help").msg_id("msg-answered-once")).await;
    reply_text(&sim, &first).await;
    bot.terminate();
    assert!(bot.wait_for_exit().await.success());

    let mut bot = BotProcess::start(&vars).await;
    // DingTalk redelivers it (a fresh signature, the same msgId): acknowledged, not answered.
    send(&bot, sim.message("/help").msg_id("msg-answered-once")).await;
    let later = send(&bot, sim.message("/help")).await;
    reply_text(&sim, &later).await;
    assert_eq!(sim.records().delivered_posts().len(), 2, "the redelivery got no reply: {:?}", sim.records());
    bot.wait_for_line(|l| l.contains("duplicate delivery acknowledged") && l.contains("msg-answered-once")).await;
}

/// Sends 20 meeting questions to `bot` while DingTalk's answer is held (every one acknowledged,
/// none answered yet); returns their sessions.
async fn twenty_acknowledged_and_unanswered(sim: &Simulator, bot: &BotProcess) -> Vec<String> {
    let mut sessions = Vec::new();
    for _ in 0..20 {
        sessions.push(send(bot, sim.message("/meeting 123456789")).await.callback.session_id);
    }
    sim.wait_for_conference_calls("123456789", 1, WAIT).await.expect("the lookup is under way");
    assert!(sim.records().webhook_posts.is_empty(), "nothing answered while the lookup is held");
    sessions
}

/// Waits until every session got its reply, then checks each got exactly one.
async fn each_answered_exactly_once(sim: &Simulator, sessions: &[String]) {
    sim.wait_until(WAIT, |r| {
        sessions.iter().all(|s| r.webhook_posts.iter().any(|p| &p.session == s && p.delivered())).then_some(())
    })
    .await
    .expect("every acknowledged message answered");
    let mut per_session: HashMap<String, usize> = HashMap::new();
    for post in sim.records().webhook_posts {
        *per_session.entry(post.session).or_default() += 1;
    }
    for session in sessions {
        assert_eq!(per_session.get(session), Some(&1), "{session} answered {:?} times", per_session.get(session));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_acknowledged_before_a_sigkill_are_each_answered_once_by_the_next_process() {
    let sim = simulator().await;
    let dir = data_dir();
    let vars =
        env(&sim, &[("DINGMEET_DATA_DIR", &dir.path().display().to_string()), ("DINGMEET_RATE_LIMIT_PER_MINUTE", "0")]);
    let held = sim.meetings().hold("123456789");
    let mut bot = BotProcess::start(&vars).await;
    let sessions = twenty_acknowledged_and_unanswered(&sim, &bot).await;
    bot.kill().await;

    let mut bot = BotProcess::start(&vars).await;
    bot.wait_for_line(|l| l.contains("finishing the messages accepted before the restart") && l.contains("20")).await;
    held.release();
    each_answered_exactly_once(&sim, &sessions).await;
    bot.terminate();
    assert!(bot.wait_for_exit().await.success());

    // And once finished, they are done: a third process has nothing left to answer.
    // (In another group: DingTalk lets a robot post 20 a minute into one.)
    let mut bot = BotProcess::start(&vars).await;
    let later = send(&bot, sim.message("/help").conversation_id("cid-another-group")).await;
    reply_text(&sim, &later).await;
    assert_eq!(sim.records().delivered_posts().len(), 21);
    bot.terminate();
    assert!(bot.wait_for_exit().await.success());
    assert!(!bot.output().iter().any(|l| l.contains("finishing the messages")), "{}", bot.output().join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_with_messages_in_flight_has_them_finished_by_another_once_each() {
    let redis = RedisServer::start();
    let sim = simulator().await;
    let url = redis.url();
    let vars = env(
        &sim,
        &[("DINGMEET_REDIS_URL", &url), ("DINGMEET_JOURNAL_CLAIM_SECS", "1"), ("DINGMEET_RATE_LIMIT_PER_MINUTE", "0")],
    );
    let held = sim.meetings().hold("123456789");
    let mut doomed = BotProcess::start(&vars).await;
    let mut survivor = BotProcess::start(&vars).await;
    let sessions = twenty_acknowledged_and_unanswered(&sim, &doomed).await;
    doomed.kill().await;

    survivor.wait_for_line(|l| l.contains("taking over messages another replica accepted and left")).await;
    held.release();
    each_answered_exactly_once(&sim, &sessions).await;
    survivor.terminate();
    assert!(survivor.wait_for_exit().await.success());
    assert_eq!(sim.records().delivered_posts().len(), 20, "no second answer once the survivor stopped");
}

/// Starts the binary on `vars`, expects it to exit non-zero at once, and returns its output.
async fn refused(vars: &[(String, String)]) -> Vec<String> {
    let mut bot = BotProcess::spawn(vars);
    let status = bot.wait_for_exit().await;
    let output = bot.output();
    assert!(!status.success(), "it started:\n{}", output.join("\n"));
    assert!(!output.iter().any(|l| l.contains("panicked")), "{}", output.join("\n"));
    // With JSON logs the reason is a JSON line's message.
    let message = |line: &String| {
        let json: Option<serde_json::Value> = serde_json::from_str(line).ok();
        json.and_then(|json| json["message"].as_str().map(str::to_owned)).unwrap_or_else(|| line.clone())
    };
    output.iter().map(message).collect()
}

#[tokio::test]
async fn a_corrupt_store_or_an_impossible_data_dir_stops_the_bot_with_one_line_saying_what_to_do() {
    let sim = simulator().await;
    let dir = data_dir();
    let store = dir.path().join(dingmeet::state::DATABASE_FILE);
    std::fs::write(&store, vec![0x42; 16 * 1024]).expect("a damaged store");
    let output = refused(&env(&sim, &[("DINGMEET_DATA_DIR", &dir.path().display().to_string())])).await;
    let line = output.iter().find(|l| l.starts_with("dingmeet: ")).expect("the reason logged");
    assert!(line.contains(&store.display().to_string()) && line.contains("unreadable"), "{line}");
    assert!(line.contains("restore it from a backup, or move it"), "{line}");
    assert_eq!(std::fs::read(&store).expect("still there"), vec![0x42; 16 * 1024], "never started over");

    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").expect("a file");
    let impossible = file.join("data");
    let output = refused(&env(&sim, &[("DINGMEET_DATA_DIR", &impossible.display().to_string())])).await;
    let line = output.iter().find(|l| l.starts_with("dingmeet: ")).expect("the reason logged");
    assert!(line.starts_with(&format!("dingmeet: DINGMEET_DATA_DIR {}", impossible.display())), "{line}");
    assert!(line.contains("point DINGMEET_DATA_DIR at a directory"), "{line}");
}
