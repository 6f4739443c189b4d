//! `/remind`: the confirmation, the reminder at its time (once), 1:1 sends, listing and
//! cancelling, meetings that are cancelled, moved or start early, restarts, downtime, replicas
//! on one Redis and a weekly code, all on the simulator's clock: the tests move time, and a
//! scheduler pass is run on demand, so nothing waits for a reminder to come due.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dingmeet::app::Application;
use dingmeet::bot::handle::Bot;
use dingmeet::bot::meeting_view::format_time;
use dingmeet::config::Settings;
use dingtalk_sim::records::{OpenApiSend, WebhookPost};
use dingtalk_sim::scenario::{CodeAnswer, MeetingSpec, Moment, Offset};
use dingtalk_sim::{Scenario, SimClock, Simulator};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::helpers::{WAIT, assert_acknowledged, data_dir, text_of};
use crate::redis_server::RedisServer;

const CODE: &str = "987650001";
const OTHER: &str = "987650002";
const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;
const LINK: &str = "https://meeting.dingtalk.com/j/987650001";

/// A bot on the simulator's clock, with its store in `dir`.
struct Running {
    address: String,
    bot: Arc<Bot>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

async fn start(sim: &Simulator, dir: &Path, extra: &[(&str, &str)]) -> Running {
    if std::env::var_os("TEST_LOG").is_some() {
        let _flushed_when_dropped = dingmeet::telemetry::init_logging(false);
    }
    let mut vars = sim.bot_env();
    vars.push(("DINGMEET_LISTEN".to_owned(), "127.0.0.1:0".to_owned()));
    vars.push(("DINGMEET_DATA_DIR".to_owned(), dir.display().to_string()));
    vars.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let settings = Settings::load_from(None, vars).expect("the test settings load");
    let clock = crate::helpers::sim_time(sim);
    let app = Application::build_with_clock(&settings, clock).await.expect("the bot builds");
    let address = format!("http://{}", app.local_addr());
    let bot = app.bot();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    Running { address, bot, stop: Some(stop), server: Some(server) }
}

impl Running {
    /// Sends `text` (in the group, or 1:1) and returns the answer on its session webhook.
    async fn ask(&self, sim: &Simulator, text: &str, single: bool) -> String {
        let mut message = sim.message(text);
        if single {
            message = message.single();
        }
        answer_to(sim, &self.address, message).await
    }

    /// One scheduler pass, done when it returns.
    async fn tick(&self) -> usize {
        self.bot.reminders().expect("reminders are on").tick().await
    }

    async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let stopped = tokio::time::timeout(WAIT, server).await.expect("the bot stops in time");
            stopped.expect("the bot task ends").expect("the bot stops cleanly");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// A booked meeting `id` behind a code, starting at `start_ms`, half an hour long.
pub(crate) fn meeting(id: &str, title: &str, status: i64, start_ms: i64) -> MeetingSpec {
    MeetingSpec {
        conference_id: Some(id.to_owned()),
        title: Some(title.to_owned()),
        status: Some(status),
        start: Some(Moment::Absolute(start_ms)),
        end: Some(Moment::Absolute(start_ms + 30 * MINUTE)),
        external_link_url: Some(LINK.to_owned()),
        creator_id: None,
        creator_nick: Some("李四".to_owned()),
        schedule_conference_id: Some("sched-1".to_owned()),
        biz_type: Some("3".to_owned()),
        omit: Vec::new(),
        count: 1,
        step: Offset(-DAY),
    }
}

async fn simulator() -> Simulator {
    let scenario = Scenario::builtin().expect("the builtin scenario");
    Simulator::start_with(scenario, SimClock::real()).await.expect("the simulator starts")
}

/// Reminders sent so far (accepted robot OpenAPI sends).
fn reminders(sim: &Simulator) -> Vec<OpenApiSend> {
    sim.records().accepted_sends().into_iter().cloned().collect()
}

fn advance(sim: &Simulator, ms: i64) {
    sim.clock().advance(Duration::from_millis(u64::try_from(ms).expect("forward")));
}

fn shanghai(ms: i64) -> String {
    format_time(ms, chrono_tz::Asia::Shanghai).expect("a time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_is_confirmed_then_sent_once_at_its_time_with_title_and_link() {
    let sim = simulator().await;
    let dir = data_dir();
    let bot = start(&sim, dir.path(), &[]).await;
    let start_ms = sim.clock().now_ms() + 60 * MINUTE;
    let later = start_ms + 2 * DAY;
    sim.meetings().set_answer(
        CODE,
        CodeAnswer::Meetings(vec![
            meeting("c1", "产品周会", 0, start_ms),
            meeting("c2", "产品周会 第二次", 0, later),
            meeting("old", "上周的会", 1, start_ms - 7 * DAY),
        ]),
    );

    let confirmation = bot.ask(&sim, &format!("/remind {CODE} 10"), false).await;
    assert!(confirmation.contains("10 分钟") && confirmation.contains(CODE), "{confirmation}");
    assert!(confirmation.contains(&format!("产品周会：{}", shanghai(start_ms))), "{confirmation}");
    assert!(confirmation.contains(&shanghai(later)), "{confirmation}");
    assert!(!confirmation.contains("上周的会"), "{confirmation}");

    advance(&sim, 49 * MINUTE);
    bot.tick().await;
    assert!(reminders(&sim).is_empty(), "not before its time");
    advance(&sim, MINUTE);
    let sent = sim.wait_for_openapi_sends(1, WAIT).await.expect("the reminder");
    let reminder = &sent[0];
    assert_eq!(reminder.open_conversation_id(), Some(sim.scenario().chat.group_conversation_id.as_str()));
    assert_eq!(reminder.msg_key(), Some("sampleActionCard"));
    let param = reminder.msg_param().expect("a msgParam");
    assert_eq!(param["singleURL"], LINK);
    let text = reminder.text().expect("a text");
    assert!(text.contains("产品周会") && text.contains(&shanghai(start_ms)), "{text}");
    assert!(text.contains("张三") && text.contains(&format!("/remind off {CODE}")), "{text}");
    assert!(!text.contains('@'), "no mention: {text}");

    advance(&sim, 5 * MINUTE);
    bot.tick().await;
    bot.tick().await;
    assert_eq!(reminders(&sim).len(), 1, "no second reminder");
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_to_one_reminder_goes_to_the_asker_through_batch_send() {
    let sim = simulator().await;
    let dir = data_dir();
    let bot = start(&sim, dir.path(), &[]).await;
    let start_ms = sim.clock().now_ms() + 20 * MINUTE;
    sim.meetings().set_answer(CODE, CodeAnswer::Meetings(vec![meeting("c1", "一对一", 0, start_ms)]));
    let confirmation = bot.ask(&sim, &format!("提醒 {CODE}"), true).await;
    assert!(confirmation.contains("5 分钟"), "{confirmation}");
    advance(&sim, 15 * MINUTE);
    let sent = sim.wait_for_openapi_sends(1, WAIT).await.expect("the reminder");
    assert_eq!(sent[0].user_ids(), [sim.scenario().chat.sender_staff_id.clone()]);
    assert_eq!(sent[0].open_conversation_id(), None);
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_are_listed_and_cancelled_one_or_all() {
    let sim = simulator().await;
    let dir = data_dir();
    let bot = start(&sim, dir.path(), &[("DINGMEET_LANG", "en")]).await;
    let now = sim.clock().now_ms();
    sim.meetings().set_answer(CODE, CodeAnswer::Meetings(vec![meeting("c1", "Standup", 0, now + 60 * MINUTE)]));
    sim.meetings().set_answer(OTHER, CodeAnswer::Meetings(vec![meeting("c2", "Review", 0, now + 90 * MINUTE)]));
    assert!(bot.ask(&sim, "/remind", false).await.contains("No meeting reminders"));
    bot.ask(&sim, &format!("/remind {CODE}"), false).await;
    bot.ask(&sim, &format!("/remind {OTHER} 15"), false).await;
    let list = bot.ask(&sim, "/remind", false).await;
    assert!(list.contains(&format!("code {CODE}: 5 minutes before")) && list.contains("Standup"), "{list}");
    assert!(list.contains(&format!("code {OTHER}: 15 minutes before")) && list.contains("Review"), "{list}");

    let off = bot.ask(&sim, &format!("/remind off {CODE}"), false).await;
    assert!(off.contains("cancelled"), "{off}");
    let list = bot.ask(&sim, "/remind", false).await;
    assert!(!list.contains(CODE) && list.contains(OTHER), "{list}");
    let off = bot.ask(&sim, &format!("/remind off {CODE}"), false).await;
    assert!(off.contains("has no reminder"), "{off}");
    let all = bot.ask(&sim, "/remind off", false).await;
    assert!(all.contains("All 1 meeting reminders"), "{all}");

    advance(&sim, 2 * 60 * MINUTE);
    bot.tick().await;
    assert!(reminders(&sim).is_empty(), "cancelled reminders are not sent");
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_upcoming_or_an_unknown_code_sets_nothing() {
    let sim = simulator().await;
    let dir = data_dir();
    let bot = start(&sim, dir.path(), &[]).await;
    let now = sim.clock().now_ms();
    sim.meetings().set_answer(CODE, CodeAnswer::Meetings(vec![meeting("c1", "已开过", 1, now - DAY)]));
    let answer = bot.ask(&sim, &format!("/remind {CODE}"), false).await;
    assert!(answer.contains("没有未开始的会议"), "{answer}");
    let answer = bot.ask(&sim, "/remind 555000111", true).await;
    assert!(answer.contains("没有找到") && answer.contains("单聊"), "{answer}");
    let answer = bot.ask(&sim, &format!("/remind {CODE} 2000"), false).await;
    assert!(answer.contains("1 到 1440"), "{answer}");
    assert!(bot.ask(&sim, "/remind", false).await.contains("还没有会议提醒"));
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_meeting_is_not_reminded_a_moved_one_is_rescheduled_and_an_early_start_says_join_now() {
    let sim = simulator().await;
    let dir = data_dir();
    let bot = start(&sim, dir.path(), &[("DINGMEET_CACHE_TTL_SECS", "0")]).await;
    let now = sim.clock().now_ms();
    let third = "987650003";
    sim.meetings().set_answer(CODE, CodeAnswer::Meetings(vec![meeting("gone", "被取消的会", 0, now + 30 * MINUTE)]));
    sim.meetings().set_answer(OTHER, CodeAnswer::Meetings(vec![meeting("moved", "改期的会", 0, now + 30 * MINUTE)]));
    sim.meetings().set_answer(third, CodeAnswer::Meetings(vec![meeting("early", "提前开的会", 0, now + 30 * MINUTE)]));
    for code in [CODE, OTHER, third] {
        bot.ask(&sim, &format!("/remind {code}"), false).await;
    }
    assert!(sim.meetings().cancel_meeting(CODE, "gone"));
    assert!(sim.meetings().reschedule_meeting(OTHER, "moved", now + 90 * MINUTE));
    advance(&sim, 10 * MINUTE);
    assert!(sim.meetings().start_meeting(third, "early"));
    let now = now + 10 * MINUTE;
    advance(&sim, 14 * MINUTE);

    let sent = sim.wait_for_openapi_sends(1, WAIT).await.expect("the early start");
    bot.tick().await;
    assert_eq!(reminders(&sim).len(), 1, "only the meeting that started: {sent:?}");
    let text = sent[0].text().expect("a text");
    assert!(text.contains("提前开的会") && text.contains("已经开始"), "{text}");

    advance(&sim, 2 * MINUTE);
    bot.tick().await;
    assert_eq!(reminders(&sim).len(), 1, "the moved meeting is not reminded at its old time");
    advance(&sim, 60 * MINUTE);
    let sent = sim.wait_for_openapi_sends(2, WAIT).await.expect("the moved meeting");
    let text = sent[1].text().expect("a text");
    assert!(text.contains("改期的会") && text.contains(&shanghai(now + 80 * MINUTE)), "{text}");
    advance(&sim, 60 * MINUTE);
    bot.tick().await;
    assert_eq!(reminders(&sim).len(), 2, "the cancelled meeting never");
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_due_while_the_bot_was_down_is_sent_once_when_it_is_back() {
    let sim = simulator().await;
    let dir = data_dir();
    let bot = start(&sim, dir.path(), &[]).await;
    let start_ms = sim.clock().now_ms() + 30 * MINUTE;
    sim.meetings().set_answer(CODE, CodeAnswer::Meetings(vec![meeting("c1", "停机期间的会", 0, start_ms)]));
    bot.ask(&sim, &format!("/remind {CODE}"), false).await;
    bot.finish().await;

    advance(&sim, 27 * MINUTE);
    let again = start(&sim, dir.path(), &[]).await;
    let sent = sim.wait_for_openapi_sends(1, WAIT).await.expect("sent on return");
    assert!(sent[0].text().expect("a text").contains("停机期间的会"));
    again.tick().await;
    again.finish().await;
    let third = start(&sim, dir.path(), &[]).await;
    third.tick().await;
    assert_eq!(reminders(&sim).len(), 1, "never twice");
    third.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_due_after_the_whole_meeting_passed_in_downtime_is_not_sent() {
    let sim = simulator().await;
    let dir = data_dir();
    let bot = start(&sim, dir.path(), &[]).await;
    let start_ms = sim.clock().now_ms() + 30 * MINUTE;
    sim.meetings().set_answer(CODE, CodeAnswer::Meetings(vec![meeting("c1", "错过的会", 0, start_ms)]));
    bot.ask(&sim, &format!("/remind {CODE}"), false).await;
    bot.finish().await;
    sim.meetings().set_answer(CODE, CodeAnswer::Meetings(vec![meeting("c1", "错过的会", 1, start_ms)]));
    advance(&sim, 3 * 60 * MINUTE);
    let again = start(&sim, dir.path(), &[]).await;
    again.tick().await;
    assert!(reminders(&sim).is_empty(), "the meeting is over");
    again.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weekly_code_is_reminded_on_two_consecutive_weeks() {
    let sim = simulator().await;
    let dir = data_dir();
    let bot = start(&sim, dir.path(), &[("DINGMEET_CACHE_TTL_SECS", "0")]).await;
    let first = sim.clock().now_ms() + DAY;
    let second = first + 7 * DAY;
    sim.meetings().set_answer(
        CODE,
        CodeAnswer::Meetings(vec![meeting("w1", "周例会", 0, first), meeting("w2", "周例会", 0, second)]),
    );
    let confirmation = bot.ask(&sim, &format!("/remind {CODE}"), false).await;
    assert!(confirmation.contains(&shanghai(first)) && !confirmation.contains(&shanghai(second)), "{confirmation}");
    assert!(confirmation.contains("每天"), "{confirmation}");
    advance(&sim, DAY - 10 * MINUTE);
    bot.tick().await;
    advance(&sim, 5 * MINUTE);
    sim.wait_for_openapi_sends(1, WAIT).await.expect("the first week's reminder");
    for _ in 0..7 {
        advance(&sim, DAY);
        bot.tick().await;
    }
    let sent = sim.wait_for_openapi_sends(2, WAIT).await.expect("two weeks of reminders");
    assert!(sent.iter().all(|s| s.text().is_some_and(|t| t.contains("周例会"))));
    assert!(sent[0].at_ms < first && sent[1].at_ms < second && sent[1].at_ms > first, "one each week");
    bot.tick().await;
    assert_eq!(reminders(&sim).len(), 2);
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_redis_send_one_reminder() {
    let redis = RedisServer::start();
    let url = redis.url();
    let sim = simulator().await;
    let (dir_a, dir_b) = (data_dir(), data_dir());
    let settings = [("DINGMEET_REDIS_URL", url.as_str())];
    let a = start(&sim, dir_a.path(), &settings).await;
    let b = start(&sim, dir_b.path(), &settings).await;
    let start_ms = sim.clock().now_ms() + 30 * MINUTE;
    sim.meetings().set_answer(CODE, CodeAnswer::Meetings(vec![meeting("c1", "两个副本", 0, start_ms)]));
    a.ask(&sim, &format!("/remind {CODE}"), false).await;
    let list = b.ask(&sim, "/remind", false).await;
    assert!(list.contains(CODE), "the other replica knows it: {list}");

    advance(&sim, 25 * MINUTE);
    let (sent_a, sent_b) = tokio::join!(a.tick(), b.tick());
    sim.wait_for_openapi_sends(1, WAIT).await.expect("the reminder");
    let (again_a, again_b) = tokio::join!(a.tick(), b.tick());
    assert_eq!(reminders(&sim).len(), 1, "one reminder, not one per replica ({sent_a}+{sent_b}, {again_a}+{again_b})");
    a.finish().await;
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_robot_send_permission_a_reminder_fails_once_and_remind_names_the_permission() {
    let sim = simulator().await;
    let dir = data_dir();
    let bot = start(&sim, dir.path(), &[]).await;
    let now = sim.clock().now_ms();
    sim.meetings().set_answer(CODE, CodeAnswer::Meetings(vec![meeting("c1", "没有权限", 0, now + 20 * MINUTE)]));
    sim.meetings().set_answer(OTHER, CodeAnswer::Meetings(vec![meeting("c2", "下一个", 0, now + 90 * MINUTE)]));
    sim.orgs().set_robot_send(sim.home_corp(), false);
    bot.ask(&sim, &format!("/remind {CODE}"), false).await;
    advance(&sim, 15 * MINUTE);
    sim.wait_until(WAIT, |records| (!records.openapi_sends.is_empty()).then_some(())).await.expect("a refused send");
    bot.tick().await;
    let records = sim.records();
    assert_eq!((records.openapi_sends.len(), records.accepted_sends().len()), (1, 0), "tried once, not again");
    let refusal = bot.ask(&sim, &format!("/remind {OTHER}"), false).await;
    assert!(refusal.contains("qyapi＿robot＿sendmsg") || refusal.contains("qyapi_robot_sendmsg"), "{refusal}");
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_keeps_each_conversations_proactive_sends_apart() {
    let sim = simulator().await;
    let dir = data_dir();
    let bot = start(&sim, dir.path(), &[]).await;
    let now = sim.clock().now_ms();
    sim.meetings().set_answer(CODE, CodeAnswer::Meetings(vec![meeting("c1", "群里", 0, now + 20 * MINUTE)]));
    bot.ask(&sim, &format!("/remind {CODE}"), false).await;
    bot.ask(&sim, &format!("/remind {CODE}"), true).await;
    advance(&sim, 15 * MINUTE);
    sim.wait_for_openapi_sends(2, WAIT).await.expect("both reminders");
    let records = sim.records();
    let chat = &sim.scenario().chat;
    assert_eq!(records.sends_to(&chat.group_conversation_id).len(), 1);
    assert_eq!(records.sends_to(&chat.sender_staff_id).len(), 1);
    bot.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reminder_set_across_a_redis_outage_is_shared_when_it_is_back_and_sent_once() {
    let port = RedisServer::unused_port();
    let mut redis = RedisServer::start_on(port);
    let url = redis.url();
    let sim = simulator().await;
    let (dir_a, dir_b) = (data_dir(), data_dir());
    let settings = [("DINGMEET_REDIS_URL", url.as_str())];
    let a = start(&sim, dir_a.path(), &settings).await;
    let start_ms = sim.clock().now_ms() + 30 * MINUTE;
    sim.meetings().set_answer(CODE, CodeAnswer::Meetings(vec![meeting("c1", "断线时设置的会", 0, start_ms)]));
    // Accepted while Redis answers (a message is not taken while it does not); Redis goes away
    // while the meeting is looked up, so the reminder is kept here first.
    let held = sim.meetings().hold(CODE);
    let skew = dingmeet::clock::now_ms() - sim.clock().now_ms();
    let message = sim.message(format!("/remind {CODE}")).skew_ms(skew);
    let url = format!("{}/dingtalk/callback", a.address);
    let posted = tokio::spawn(async move { message.post(&url).await });
    sim.wait_until(WAIT, |r| (r.conference_calls(CODE) >= 1).then_some(())).await.expect("the lookup");
    redis.kill();
    held.release();

    let _redis = RedisServer::start_on(port);
    let delivery = posted.await.expect("the question").expect("answers");
    assert_acknowledged(&delivery);
    let session = delivery.callback.session_id.clone();
    let confirmation = answer_on(&sim, &session).await;
    assert!(confirmation.contains("断线时设置的会"), "{confirmation}");
    let b = start(&sim, dir_b.path(), &settings).await;
    // Asked at most once a second: a conversation gets 20 answers a minute, and a's reconnect to
    // Redis may take a few seconds on a busy machine.
    let deadline = tokio::time::Instant::now() + WAIT;
    while !b.ask(&sim, "/remind", false).await.contains(CODE) {
        let next_ask = tokio::time::Instant::now() + Duration::from_secs(1);
        while tokio::time::Instant::now() < next_ask {
            a.tick().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(tokio::time::Instant::now() < deadline, "the reminder reached Redis");
    }
    advance(&sim, 25 * MINUTE);
    let (_, _) = tokio::join!(a.tick(), b.tick());
    sim.wait_for_openapi_sends(1, WAIT).await.expect("the reminder");
    let (_, _) = tokio::join!(a.tick(), b.tick());
    assert_eq!(reminders(&sim).len(), 1);
    a.finish().await;
    b.finish().await;
}

async fn answer_to(sim: &Simulator, address: &str, message: dingtalk_sim::sender::MessageBuilder) -> String {
    // Signed with the wall clock the bot checks, however far the simulator's clock moved.
    let skew = dingmeet::clock::now_ms() - sim.clock().now_ms();
    let delivery = message.skew_ms(skew).post(&format!("{address}/dingtalk/callback")).await.expect("answers");
    assert_acknowledged(&delivery);
    answer_on(sim, &delivery.callback.session_id).await
}

/// The text of the answer posted on `session`'s webhook.
async fn answer_on(sim: &Simulator, session: &str) -> String {
    let post: WebhookPost = sim
        .wait_until(WAIT, |records| {
            records.webhook_posts.iter().find(|p| p.session == session && p.delivered()).cloned()
        })
        .await
        .expect("an answer on the session webhook");
    text_of(&post)
}
