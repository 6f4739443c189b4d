//! `/meeting new`, `/meeting end` and `/today` against the simulator, the real bot on loopback:
//! a meeting started with the sender as organiser and the @-mentioned members invited, its live
//! card, once however often the callback is delivered (across a restart too); ended by its
//! organiser only; the day's calendar in a 1:1 and from a group (sent 1:1, the group told only
//! that), empty, with a recurring event and over several pages; each documented refusal with its
//! own message; and the unionId mapping kept across a restart.

use dingtalk_sim::records::actions::ActionKind;
use dingtalk_sim::records::{SendKind, WebhookPost};
use dingtalk_sim::state::calendars::CalendarEvent;
use dingtalk_sim::{Scenario, SimClock, Simulator};

use crate::helpers::*;

const ORGANISER: &str = "manager807";
const COLLEAGUE: &str = "manager4220";
const HOUR: i64 = 3_600_000;

fn union_of(sim: &Simulator, staff_id: &str) -> String {
    sim.users().get(sim.home_corp(), staff_id).expect("a scenario user").union_id
}

/// The simulator on a clock frozen at the wall clock's now (the bot's work runs on it).
async fn simulator() -> Simulator {
    let scenario = Scenario::builtin().expect("the builtin scenario is valid");
    let now = SimClock::real().now_ms();
    Simulator::start_with(scenario, SimClock::frozen(now)).await.expect("the simulator starts")
}

async fn app_with(settings: &[(&str, &str)]) -> TestApp {
    spawn_app_in(simulator().await, settings, data_dir(), true).await
}

const CARDS: [(&str, &str); 1] = [("DINGMEET_CARDS", "interactive")];

#[tokio::test]
async fn a_meeting_is_started_for_the_sender_with_the_mentioned_invited_and_its_live_card_once() {
    let app = app_with(&CARDS).await;
    let message = app.message("/meeting new 产品评审 @李四").mentioning(COLLEAGUE).msg_id("msg-new-1");
    let delivery = app.send(message.clone()).await;
    assert_acknowledged(&delivery);
    let card = app
        .sim
        .wait_until(WAIT, |records| records.cards.cards.values().next().cloned())
        .await
        .expect("the meeting's card is delivered");
    let created = app.sim.conferences().created();
    assert_eq!(created.len(), 1, "one meeting");
    let meeting = &created[0];
    assert_eq!(meeting.organiser, union_of(&app.sim, ORGANISER), "the sender organises it");
    assert_eq!(meeting.invitees, [union_of(&app.sim, COLLEAGUE)], "the @-mentioned member is invited");
    assert_eq!(meeting.title, "产品评审");
    assert_eq!(card.space_type, "IM_GROUP");
    let markdown = card.markdown();
    assert!(markdown.contains("### 产品评审"), "{markdown}");
    assert!(markdown.contains(&meeting.room_code), "the code as DingTalk writes it: {markdown}");
    assert!(meeting.room_code.contains(' '), "{}", meeting.room_code);
    assert!(markdown.contains("发起人：张三"), "{markdown}");
    assert!(markdown.contains("进行中"), "{markdown}");
    let join = card.buttons().into_iter().find(|b| b["url"] == meeting.link.as_str());
    assert!(join.is_some(), "a Join button to the meeting: {:?}", card.buttons());

    // DingTalk delivers the callback again: nothing new is started.
    let again = app.send(message.clone()).await;
    assert_acknowledged(&again);
    let (sim, dir) = app.finish_keeping_store().await;
    assert_eq!(sim.conferences().created().len(), 1);
    // Nor after a restart, on the same store.
    let app = spawn_app_in(sim, &CARDS, dir, true).await;
    assert_acknowledged(&app.send(message).await);
    let sim = app.finish().await;
    assert_eq!(sim.conferences().created().len(), 1, "a redelivered message never starts a second meeting");
    assert_eq!(sim.cards().records().cards.len(), 1, "nor posts a second card");
    let creates = sim.conferences().actions().into_iter().filter(|a| a.kind == ActionKind::Create).count();
    assert_eq!(creates, 1);
}

#[tokio::test]
async fn only_the_organiser_ends_the_meeting_and_its_card_shows_it_ended() {
    let app = app_with(&CARDS).await;
    assert_acknowledged(&app.send(app.message("/meeting new")).await);
    app.sim.wait_until(WAIT, |records| records.cards.cards.values().next().cloned()).await.expect("the meeting's card");
    let created = app.sim.conferences().created().first().cloned().expect("a meeting started");
    assert_eq!(created.title, "张三的会议", "the default title");
    let code: String = created.room_code.chars().filter(char::is_ascii_digit).collect();

    let other = app.message(&format!("/meeting end {code}")).sender_staff_id(Some(COLLEAGUE));
    let refused = text_of(&app.ask_with(other).await);
    assert!(refused.contains("只有发起人 张三 可以结束这场会议"), "{refused}");
    let closes =
        |sim: &Simulator| sim.conferences().actions().into_iter().filter(|a| a.kind == ActionKind::Close).count();
    assert_eq!(closes(&app.sim), 0, "nothing is called for someone else");

    let ended = text_of(&app.ask("/meeting end").await);
    assert!(ended.contains("会议「张三的会议」已结束"), "{ended}");
    assert!(app.sim.conferences().created()[0].closed_ms.is_some(), "DingTalk ended it");
    let card = app
        .sim
        .wait_until(WAIT, |records| records.cards.cards.values().find(|c| c.markdown().contains("已结束")).cloned())
        .await
        .expect("the card's last update shows it ended");
    assert!(card.buttons().iter().all(|b| b["url"].is_null()), "no Join once ended: {:?}", card.buttons());

    let twice = text_of(&app.ask("/meeting end").await);
    assert!(twice.contains("这场会议已经结束了"), "{twice}");
    let unknown = text_of(&app.ask("/meeting end 999888777").await);
    assert!(unknown.contains("不是在这里用 /meeting new 发起的"), "{unknown}");
    let sim = app.finish().await;
    assert_eq!(closes(&sim), 2, "the organiser's two asks; never the refused one");
}

/// The events of `union_id` today: a plain one, a recurring one begun days ago, a meeting.
fn fill_calendar(sim: &Simulator, union_id: &str) {
    let now = sim.clock().now_ms();
    let calendars = sim.calendars();
    calendars.add(union_id, CalendarEvent::new("e-plain", "站会", now, now + HOUR / 4));
    calendars.add(
        union_id,
        CalendarEvent::new("e-weekly", "每日同步", now - 3 * 24 * HOUR, now - 3 * 24 * HOUR + HOUR)
            .every(24 * HOUR, 30),
    );
    calendars.add(
        union_id,
        CalendarEvent::new("e-meet", "客户评审", now, now + HOUR).with_meeting(
            "conf-cal-1",
            "dingtalk://dingtalkclient/page/videoConfFromCalendar?confId=conf-cal-1",
            Some("555 666 777"),
        ),
    );
}

#[tokio::test]
async fn today_in_a_one_to_one_chat_lists_the_day_with_recurring_events_and_meeting_codes() {
    let app = app_with(&[]).await;
    fill_calendar(&app.sim, &union_of(&app.sim, ORGANISER));
    let text = text_of(&app.ask_with(app.message("/today").single()).await);
    assert!(text.contains("你今天的会议"), "{text}");
    assert!(text.contains("**站会**"), "{text}");
    assert!(text.contains("**每日同步**"), "today's instance of the recurring event: {text}");
    assert!(text.contains("会议号 555 666 777"), "{text}");
    assert!(text.contains("(dingtalk://dingtalkclient/page/videoConfFromCalendar?confId=conf-cal-1)"), "{text}");
    let sim = app.finish().await;
    let reads = sim.conferences().actions().into_iter().filter(|a| a.kind == ActionKind::Calendar).collect::<Vec<_>>();
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].request["view"], true, "recurring events expanded");
}

#[tokio::test]
async fn today_from_a_group_goes_one_to_one_and_the_group_is_told_only_that() {
    let app = app_with(&[]).await;
    fill_calendar(&app.sim, &union_of(&app.sim, ORGANISER));
    let text = text_of(&app.ask("/today").await);
    assert!(text.contains("已把你今天的会议私聊发给你"), "{text}");
    assert!(!text.contains("站会"), "the calendar stays private: {text}");
    let sent = app
        .sim
        .wait_until(WAIT, |records| records.openapi_sends.iter().find(|s| s.kind == SendKind::OneToOne).cloned())
        .await
        .expect("a 1:1 send");
    let body = sent.body.expect("a JSON body");
    assert_eq!(body["userIds"], serde_json::json!([ORGANISER]));
    let param = body["msgParam"].as_str().expect("msgParam");
    assert!(param.contains("站会") && param.contains("每日同步"), "{param}");
    // Every call of the question counts as a question someone typed, the 1:1 send included.
    let metrics = reqwest::get(format!("{}/metrics", app.address)).await.expect("metrics").text().await.expect("text");
    for endpoint in ["user_get", "calendar_events", "oto_send"] {
        let line = metrics
            .lines()
            .find(|l| l.starts_with("dingmeet_openapi_calls_total") && l.contains(&format!("endpoint=\"{endpoint}\"")));
        assert!(line.is_some_and(|l| l.contains("purpose=\"query\"")), "{endpoint} counted under query: {line:?}");
    }
    app.finish().await;
}

#[tokio::test]
async fn an_empty_day_says_so_and_a_long_day_is_read_over_several_pages() {
    // 李四's calendar: the scenario gives him no events.
    let app = app_with(&[]).await;
    let ask = || app.message("/today").single().sender_staff_id(Some(COLLEAGUE));
    let empty = text_of(&app.ask_with(ask()).await);
    assert!(empty.contains("的日历上没有会议"), "{empty}");

    let now = app.sim.clock().now_ms();
    let union_id = union_of(&app.sim, COLLEAGUE);
    for n in 0..130 {
        app.sim
            .calendars()
            .add(&union_id, CalendarEvent::new(&format!("e{n}"), &format!("会{n:03}"), now, now + 60_000));
    }
    let long = text_of(&app.ask_with(ask()).await);
    assert!(long.contains("**会000**") && long.contains("**会129**"), "every page read: {}", long.len());
    let sim = app.finish().await;
    let reads: Vec<_> = sim.conferences().actions().into_iter().filter(|a| a.kind == ActionKind::Calendar).collect();
    assert_eq!(reads.len(), 3, "one for the empty day, two pages for the long one");
    assert_eq!(reads[2].request["nextToken"], "page-100");
}

/// Sends `text` (as `edit` makes it) and returns the reply, checking nothing else was posted.
async fn reply(app: &TestApp, message: dingtalk_sim::MessageBuilder) -> String {
    let post: WebhookPost = app.ask_with(message).await;
    text_of(&post)
}

#[tokio::test]
async fn each_documented_refusal_has_its_own_message() {
    let app = app_with(&[]).await;
    let sim = &app.sim;
    let home = sim.home_corp().to_owned();

    // First, while the sender's unionId is not known yet (it is kept once it is).
    sim.orgs().set_member_read(&home, false);
    let text = reply(&app, app.message("/meeting new")).await;
    assert!(text.contains("qyapi＿get＿member"), "the scope, escaped like every value: {text}");
    sim.orgs().set_member_read(&home, true);

    sim.orgs().set_conference_write(&home, false);
    let text = reply(&app, app.message("/meeting new")).await;
    assert!(text.contains("VideoConference.Conference.Write"), "{text}");
    sim.orgs().set_conference_write(&home, true);

    sim.orgs().set_calendar_read(&home, false);
    let text = reply(&app, app.message("/today").single()).await;
    assert!(text.contains("Calendar.Event.Read"), "{text}");
    sim.orgs().set_calendar_read(&home, true);

    let text = reply(&app, app.message("/meeting new").sender_staff_id(None)).await;
    assert!(text.contains("钉钉没有告诉我你在本组织的身份"), "an external sender: {text}");

    let text = reply(&app, app.message("/today").sender_staff_id(Some("stranger42"))).await;
    assert!(text.contains("不在本组织内"), "a sender outside the organisation: {text}");

    let text = reply(&app, app.message("/meeting new").mentioning("stranger43")).await;
    assert!(text.contains("stranger43 不在本组织内，无法邀请"), "{text}");

    sim.conferences().reject_titles_with("禁词");
    let text = reply(&app, app.message("/meeting new 禁词会议")).await;
    assert!(text.contains("钉钉不接受这个会议标题"), "{text}");

    sim.conferences().set_room_limit(Some(0));
    let text = reply(&app, app.message("/meeting new")).await;
    assert!(text.contains("水位限流"), "{text}");

    let sim = app.finish().await;
    assert!(sim.conferences().created().is_empty(), "nothing was started");
    assert_eq!(sim.records().delivered_posts().len(), 8, "each message answered once");
}

#[tokio::test]
async fn the_union_id_mapping_is_kept_across_a_restart() {
    let app = app_with(&[]).await;
    text_of(&app.ask_with(app.message("/today").single()).await);
    text_of(&app.ask("/meeting new").await);
    let (sim, dir) = app.finish_keeping_store().await;
    let lookups = |sim: &Simulator| sim.users().lookups().len();
    assert_eq!(lookups(&sim), 1, "asked once, then from memory");
    let app = spawn_app_in(sim, &[], dir, true).await;
    text_of(&app.ask_with(app.message("/today").single()).await);
    let sim = app.finish().await;
    assert_eq!(lookups(&sim), 1, "the restarted bot reads it from its store");
}

#[tokio::test]
async fn in_a_one_to_one_chat_the_meeting_is_the_senders_alone() {
    let app = app_with(&CARDS).await;
    assert_acknowledged(&app.send(app.message("开会 一对一").single()).await);
    let card = app
        .sim
        .wait_until(WAIT, |records| records.cards.cards.values().next().cloned())
        .await
        .expect("the meeting's card");
    assert_eq!((card.space_type.as_str(), card.space_id.as_str()), ("IM_ROBOT", ORGANISER), "in the 1:1 chat");
    let sim = app.finish().await;
    let created = sim.conferences().created();
    assert_eq!(created.len(), 1);
    assert!(created[0].invitees.is_empty(), "nobody invited");
    assert_eq!(created[0].title, "一对一");
}
