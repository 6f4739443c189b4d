//! DingTalk's meeting events driving live cards, over both transports, the real bot against the
//! simulator on its clock: a start, people joining and leaving, and an end shown on the card with
//! no lookup; repeats and reordering; forged and malformed pushes; `check_url`; the failed-push
//! list after a restart; two replicas on a real Redis; the pace of member updates; and polling
//! kept as the fallback.

use std::time::{Duration, Instant};

use dingmeet::dingtalk::callback_crypto::EventCipher;
use dingtalk_sim::records::cards::{CardCallKind, SimCard};
use dingtalk_sim::records::events::PushOutcome;
use dingtalk_sim::scenario::{CodeAnswer, MeetingSpec};
use dingtalk_sim::state::meeting_events::HttpSubscription;
use dingtalk_sim::{Scenario, SimClock, Simulator};
use serde_json::json;

use crate::helpers::*;
use crate::redis_server::RedisServer;

const CODE: &str = "555666778";
const CONF: &str = "conf-events-1";
const TOKEN: &str = "events-token-42";
const AES_KEY: &str = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7";
const MINUTE: i64 = 60_000;
/// The settings of a bot taking HTTP pushes.
const HTTP_PUSH: [(&str, &str); 2] = [("DINGMEET_EVENT_TOKEN", TOKEN), ("DINGMEET_EVENT_AES_KEY", AES_KEY)];

#[derive(Debug, Clone, Copy)]
enum Via {
    Stream,
    Http,
}

fn meeting(status: i64, start: i64) -> MeetingSpec {
    meeting_of(CONF, status, start)
}

fn meeting_of(conference_id: &str, status: i64, start: i64) -> MeetingSpec {
    serde_json::from_value(json!({
        "conference_id": conference_id,
        "title": "事件周会",
        "status": status,
        "start": start,
        "end": start + 60 * MINUTE,
        "external_link_url": "https://meeting.dingtalk.com/j/555666778",
        "creator_nick": "张三",
    }))
    .expect("a meeting spec")
}

/// The builtin scenario on a frozen clock, a meeting behind [`CODE`] starting in 30 minutes.
async fn simulator() -> Simulator {
    let scenario = Scenario::builtin().expect("the builtin scenario is valid");
    let now = SimClock::real().now_ms();
    let sim = Simulator::start_with(scenario, SimClock::frozen(now)).await.expect("the simulator starts");
    sim.meetings().set_answer(CODE, CodeAnswer::Meetings(vec![meeting(0, now + 30 * MINUTE)]));
    sim
}

/// The settings of a bot with live cards on the simulator's clock, taking events `via`.
fn settings<'a>(via: Via, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![("DINGMEET_CARDS", "interactive"), ("DINGMEET_CACHE_TTL_SECS", "0")];
    match via {
        Via::Stream => all.push(("DINGMEET_MODE", "both")),
        Via::Http => all.extend(HTTP_PUSH),
    }
    all.extend_from_slice(extra);
    all
}

/// Points the simulator's events at the bot at `address`.
async fn subscribe(sim: &Simulator, via: Via, address: &str, connections: usize) {
    match via {
        Via::Stream => {
            sim.events().set_stream(true);
            sim.wait_for_connections(connections, WAIT).await.expect("the bot connects");
        }
        Via::Http => sim
            .events()
            .subscribe_http(&HttpSubscription::new(&format!("{address}/dingtalk/events"), TOKEN, AES_KEY))
            .expect("a valid subscription"),
    }
}

async fn spawn_events(via: Via, extra: &[(&'static str, &'static str)]) -> TestApp {
    let app = spawn_app_in(simulator().await, &settings(via, extra), data_dir(), true).await;
    subscribe(&app.sim, via, &app.address, 1).await;
    app
}

/// Asks about [`CODE`] and returns the live card delivered.
async fn card_of_the_meeting(app: &TestApp) -> SimCard {
    assert_acknowledged(&app.send(app.message(&format!("/meeting {CODE}"))).await);
    app.sim
        .wait_until(WAIT, |records| records.cards.cards.values().next().cloned())
        .await
        .expect("the bot delivers a live card")
}

/// Waits until the card's markdown satisfies `shows`; returns it.
async fn card_showing(sim: &Simulator, out_track_id: &str, shows: impl Fn(&str) -> bool) -> SimCard {
    sim.wait_until(WAIT, |records| records.cards.cards.get(out_track_id).filter(|c| shows(c.markdown())).cloned())
        .await
        .unwrap_or_else(|err| panic!("the card never showed it: {err}: {:?}", sim.cards().card(out_track_id)))
}

fn detail_calls(sim: &Simulator) -> usize {
    sim.cards().records().calls_of(CardCallKind::ConferenceDetail).len()
}

/// The bot's `dingmeet_meeting_events_total` for `outcome` (every type and transport).
async fn events_counted(address: &str, outcome: &str) -> u64 {
    let text = reqwest::get(format!("{address}/metrics")).await.expect("metrics").text().await.expect("a body");
    let label = format!("outcome=\"{outcome}\"");
    text.lines()
        .filter(|line| line.starts_with("dingmeet_meeting_events_total{") && line.contains(&label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Waits until the bot at `address` counted at least `count` events with `outcome`.
async fn wait_for_events(address: &str, outcome: &str, count: u64) {
    let deadline = Instant::now() + WAIT;
    while events_counted(address, outcome).await < count {
        assert!(Instant::now() < deadline, "{count} events {outcome}: {}", events_counted(address, outcome).await);
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The whole life of a meeting, told by events: the card follows with no lookup at all.
async fn events_drive_the_card(via: Via) {
    let app = spawn_events(via, &[("DINGMEET_CARD_MEMBER_UPDATE_SECS", "0")]).await;
    let card = card_of_the_meeting(&app).await;
    let id = card.out_track_id.clone();
    assert!(card.markdown().contains("未开始"), "{}", card.markdown());
    let looks = app.sim.meetings().conference_calls(CODE);
    let details = detail_calls(&app.sim);

    let started = Instant::now();
    assert!(app.sim.meetings().start_meeting(CODE, CONF));
    let card = card_showing(&app.sim, &id, |md| md.contains("进行中")).await;
    assert!(started.elapsed() < Duration::from_secs(2), "shown {:?} after the event", started.elapsed());
    assert!(card.markdown().contains("在会人数：0"), "{}", card.markdown());

    assert!(app.sim.events().join(CODE, CONF, 3));
    card_showing(&app.sim, &id, |md| md.contains("在会人数：3")).await;
    assert!(app.sim.events().leave(CODE, CONF, 1));
    card_showing(&app.sim, &id, |md| md.contains("在会人数：2")).await;

    // The meeting's known start passes: the events keep the card, nothing is looked up.
    app.sim.clock().advance(Duration::from_secs(40 * 60));
    assert!(app.sim.meetings().end_meeting(CODE, CONF));
    let card = card_showing(&app.sim, &id, |md| md.contains("已结束")).await;
    let markdown = card.markdown();
    assert!(markdown.contains("时长：40 分钟") && markdown.contains("参会人数：3"), "{markdown}");
    assert!(card.buttons().iter().all(|b| b.get("url").is_none()), "no Join link: {:?}", card.buttons());
    let updates = card.updates();

    // Then the card is left alone.
    app.sim.clock().advance(Duration::from_secs(6 * 3600));
    let sim = app.finish().await;
    assert_eq!(sim.meetings().conference_calls(CODE), looks, "no lookup of the code");
    assert_eq!(detail_calls(&sim), details, "no lookup of the conference");
    assert_eq!(sim.cards().card(&id).expect("the card").updates(), updates, "left alone once ended");
}

#[tokio::test]
async fn a_start_people_and_an_end_on_the_stream_update_the_card_without_a_lookup() {
    events_drive_the_card(Via::Stream).await;
}

#[tokio::test]
async fn a_start_people_and_an_end_pushed_over_http_update_the_card_without_a_lookup() {
    events_drive_the_card(Via::Http).await;
}

/// Every event twice, and a conference's events out of order: each applied once, and the end
/// never undone by the join that arrives after it.
async fn repeats_and_reordering(via: Via) {
    let app = spawn_events(via, &[("DINGMEET_CARD_MEMBER_UPDATE_SECS", "0")]).await;
    let id = card_of_the_meeting(&app).await.out_track_id;
    app.sim.events().set_duplicate(true);
    assert!(app.sim.meetings().start_meeting(CODE, CONF));
    card_showing(&app.sim, &id, |md| md.contains("进行中")).await;
    wait_for_events(&app.address, "duplicate", 1).await;

    app.sim.events().set_reorder(true);
    assert!(app.sim.events().join(CODE, CONF, 1), "held back");
    assert!(app.sim.meetings().end_meeting(CODE, CONF), "delivered before the join it follows");
    let card = card_showing(&app.sim, &id, |md| md.contains("已结束")).await;
    wait_for_events(&app.address, "stale", 1).await;
    app.sim.events().set_reorder(false);
    let sim = app.finish().await;
    let last = sim.cards().card(&id).expect("the card");
    assert!(last.markdown().contains("已结束"), "the older join did not reopen it: {}", last.markdown());
    assert_eq!(last.updates(), card.updates(), "nothing after the end");
    assert_eq!(last.updates(), 2, "the start and the end, each once: {:?}", last.markdown());
}

#[tokio::test]
async fn repeated_and_reordered_stream_events_are_applied_once_and_in_order() {
    repeats_and_reordering(Via::Stream).await;
}

#[tokio::test]
async fn repeated_and_reordered_http_pushes_are_applied_once_and_in_order() {
    repeats_and_reordering(Via::Http).await;
}

/// Posts `message` to the bot's events route, encrypted by `cipher`, its signature `tamper`ed.
async fn push(address: &str, cipher: &EventCipher, message: &str, tamper: impl Fn(&mut String)) -> u16 {
    let encrypt = cipher.encrypt(message, *b"0123456789abcdef");
    let (timestamp, nonce) = ("1700000000000", "nonce123");
    let mut signature = cipher.signature(timestamp, nonce, &encrypt);
    tamper(&mut signature);
    reqwest::Client::new()
        .post(format!("{address}/dingtalk/events"))
        .query(&[("msg_signature", signature.as_str()), ("timestamp", timestamp), ("nonce", nonce)])
        .json(&json!({ "encrypt": encrypt }))
        .send()
        .await
        .expect("the bot answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn forged_foreign_and_malformed_pushes_are_refused_and_change_nothing() {
    let app = spawn_events(Via::Http, &[]).await;
    let id = card_of_the_meeting(&app).await.out_track_id;
    let cipher =
        |owner: &str| EventCipher::new(TOKEN.to_owned().into(), &AES_KEY.to_owned().into(), owner).expect("a key");
    let closed = json!({"EventType": "meeting_status_change", "CorpId": app.sim.home_corp(), "eventId": "forged-1",
        "openConfModel": {"conferenceId": CONF, "attendNum": 9, "confDuration": 5}, "statusSeqNum": 99,
        "changeScene": "conference_closed"})
    .to_string();
    let ours = cipher(app.sim.client_id());
    assert_eq!(push(&app.address, &ours, &closed, |s| s.replace_range(0..2, "00")).await, 401, "forged");
    assert_eq!(push(&app.address, &cipher("dingAnotherApp"), &closed, |_| {}).await, 403, "for another app");
    let nameless =
        json!({"EventType": "meeting_status_change", "eventId": "bad-1", "changeScene": "conference_closed"});
    assert_eq!(push(&app.address, &ours, &nameless.to_string(), |_| {}).await, 400, "names no conference");
    wait_for_events(&app.address, "malformed", 1).await;

    // The same conference's real events still apply: the refused ones recorded nothing.
    assert!(app.sim.meetings().start_meeting(CODE, CONF));
    card_showing(&app.sim, &id, |md| md.contains("进行中")).await;
    let sim = app.finish().await;
    assert_eq!(sim.cards().card(&id).expect("the card").updates(), 1, "only the real start changed it");
}

#[tokio::test]
async fn the_consoles_check_url_is_answered_with_the_encrypted_success_within_a_second() {
    let app = spawn_events(Via::Http, &[]).await;
    let check = app.sim.events().check_url().await.expect("an HTTP subscription");
    assert_eq!(check.outcome, PushOutcome::Accepted, "{check:?}");
    assert!(check.took_ms < 1000, "{check:?}");
}

#[tokio::test]
async fn pushes_missed_while_the_bot_was_down_are_read_from_the_failed_list_after_a_restart() {
    let app = spawn_events(Via::Http, &[]).await;
    let id = card_of_the_meeting(&app).await.out_track_id;
    let looks = app.sim.meetings().conference_calls(CODE);
    app.sim.events().set_http_unreachable(true);
    assert!(app.sim.meetings().start_meeting(CODE, CONF));
    let (sim, store) = app.finish_keeping_store().await;
    // DingTalk pushes it again after 10 s and 30 s, then lists it as failed.
    for (made, wait) in [(1, 10), (2, 30)] {
        sim.wait_until(WAIT, |records| (records.events.http_pushes.len() >= made).then_some(())).await.expect("pushed");
        sim.clock().advance(Duration::from_secs(wait));
    }
    sim.wait_until(WAIT, |records| (!records.events.given_up.is_empty()).then_some(())).await.expect("given up");
    sim.events().set_http_unreachable(false);

    let app = spawn_app_in(sim, &settings(Via::Http, &[]), store, true).await;
    let card = card_showing(&app.sim, &id, |md| md.contains("进行中")).await;
    assert_eq!(card.updates(), 1);
    assert!(app.sim.events().failed_pushes().is_empty(), "the bot took the list");
    wait_for_events(&app.address, "applied", 1).await;
    let sim = app.finish().await;
    assert_eq!(sim.meetings().conference_calls(CODE), looks, "no lookup: the missed event told it");
}

#[tokio::test]
async fn two_replicas_on_redis_apply_each_event_once() {
    let redis = RedisServer::start();
    let url = redis.url();
    let sim = simulator().await;
    let extra = [("DINGMEET_REDIS_URL", url.as_str()), ("DINGMEET_CARD_MEMBER_UPDATE_SECS", "0")];
    let all = settings(Via::Stream, &extra);
    let first = spawn_bot_on(&sim, &all, None, Some(sim_time(&sim))).await;
    let second = spawn_bot_on(&sim, &all, None, Some(sim_time(&sim))).await;
    subscribe(&sim, Via::Stream, &first.address, 2).await;
    sim.events().set_duplicate(true);
    let delivery = sim.message(format!("/meeting {CODE}")).post(&first.callback_url()).await.expect("answers");
    assert_acknowledged(&delivery);
    let id = sim.wait_until(WAIT, |records| records.cards.cards.keys().next().cloned()).await.expect("a live card");

    assert!(sim.meetings().start_meeting(CODE, CONF));
    card_showing(&sim, &id, |md| md.contains("进行中")).await;
    assert!(sim.events().join(CODE, CONF, 1));
    card_showing(&sim, &id, |md| md.contains("在会人数：1")).await;
    assert!(sim.meetings().end_meeting(CODE, CONF));
    card_showing(&sim, &id, |md| md.contains("已结束")).await;
    let mut applied = 0;
    let deadline = Instant::now() + WAIT;
    while applied < 3 {
        applied = events_counted(&first.address, "applied").await + events_counted(&second.address, "applied").await;
        assert!(Instant::now() < deadline, "three events applied, once each: {applied}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.finish().await;
    second.finish().await;
    assert_eq!(applied, 3, "each event applied by one replica only");
    assert_eq!(sim.cards().card(&id).expect("the card").updates(), 3, "one update for each change");
}

#[tokio::test]
async fn people_joining_update_a_card_at_most_once_a_minute_and_the_last_count_lands() {
    let app = spawn_events(Via::Stream, &[]).await;
    let id = card_of_the_meeting(&app).await.out_track_id;
    assert!(app.sim.meetings().start_meeting(CODE, CONF));
    card_showing(&app.sim, &id, |md| md.contains("进行中")).await;
    // The start showed the count of its moment and began the count's pause: a join just after it waits.
    assert!(app.sim.events().join(CODE, CONF, 1));
    wait_for_events(&app.address, "applied", 2).await;
    assert_eq!(app.sim.cards().card(&id).expect("the card").updates(), 1, "paced by the start's update");
    app.sim.clock().advance(Duration::from_secs(60));
    card_showing(&app.sim, &id, |md| md.contains("在会人数：1")).await;

    // An all-hands arrives: 30 more within the minute make no update until it is over.
    assert!(app.sim.events().join(CODE, CONF, 30));
    wait_for_events(&app.address, "applied", 32).await;
    assert_eq!(app.sim.cards().card(&id).expect("the card").updates(), 2, "paced");
    app.sim.clock().advance(Duration::from_secs(60));
    let card = card_showing(&app.sim, &id, |md| md.contains("在会人数：31")).await;
    assert_eq!(card.updates(), 3, "the last count in one update");
}

/// The bot's `dingmeet_cards_total` for card updates with `outcome`.
async fn updates_counted(address: &str, outcome: &str) -> u64 {
    let text = reqwest::get(format!("{address}/metrics")).await.expect("metrics").text().await.expect("a body");
    let label = format!("outcome=\"{outcome}\"");
    text.lines()
        .filter(|line| line.starts_with("dingmeet_cards_total{") && line.contains("action=\"update\""))
        .filter(|line| line.contains(&label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn with_the_days_budget_tight_counts_are_dropped_and_the_start_and_end_still_show() {
    // 200 calls a month: a day's share of about 6, most of it spent by the question, the card and its start.
    let app = spawn_events(Via::Stream, &[("DINGMEET_MONTHLY_CALL_BUDGET", "200")]).await;
    let id = card_of_the_meeting(&app).await.out_track_id;
    assert!(app.sim.meetings().start_meeting(CODE, CONF));
    card_showing(&app.sim, &id, |md| md.contains("进行中")).await;
    assert!(app.sim.events().join(CODE, CONF, 5));
    wait_for_events(&app.address, "applied", 2).await;
    app.sim.clock().advance(Duration::from_secs(60));
    let deadline = Instant::now() + WAIT;
    while updates_counted(&app.address, "count_budget").await == 0 {
        assert!(Instant::now() < deadline, "the count was never dropped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.sim.cards().card(&id).expect("the card").updates(), 1, "no update for the count alone");
    assert!(app.sim.meetings().end_meeting(CODE, CONF));
    let card = card_showing(&app.sim, &id, |md| md.contains("已结束")).await;
    assert!(card.markdown().contains("参会人数：5"), "the end carries who took part: {}", card.markdown());
    assert_eq!(card.updates(), 2, "the start and the end");
}

#[tokio::test]
async fn an_event_for_a_conference_on_no_card_costs_nothing() {
    let app = spawn_events(Via::Stream, &[]).await;
    let calls = app.sim.records().tally(None).conference_calls;
    assert!(app.sim.meetings().start_meeting(CODE, CONF), "no one asked about it");
    wait_for_events(&app.address, "applied", 1).await;
    let sim = app.finish().await;
    assert!(sim.cards().records().calls.is_empty(), "no card call");
    assert_eq!(sim.records().tally(None).conference_calls, calls, "no lookup");
}

#[tokio::test]
async fn once_events_come_a_card_is_not_polled_but_looked_at_once_after_a_start_with_no_event() {
    let app = spawn_events(Via::Stream, &[]).await;
    // Events have come from the organisation (a meeting on no card).
    let now = app.sim.clock().now_ms();
    app.sim.meetings().set_answer("555666779", CodeAnswer::Meetings(vec![meeting_of("conf-other", 0, now)]));
    assert!(app.sim.meetings().start_meeting("555666779", "conf-other"));
    wait_for_events(&app.address, "applied", 1).await;

    let id = card_of_the_meeting(&app).await.out_track_id;
    let looks = app.sim.meetings().conference_calls(CODE);
    // The start passes with no event (DingTalk lost it): one safety look shows it began.
    app.sim.events().set_drop(true);
    assert!(app.sim.meetings().start_meeting(CODE, CONF));
    app.sim.clock().advance(Duration::from_secs(33 * 60));
    card_showing(&app.sim, &id, |md| md.contains("进行中")).await;
    assert_eq!(app.sim.meetings().conference_calls(CODE), looks + 1, "one safety look");
    // While it runs, no periodic look; its end comes as an event again.
    app.sim.clock().advance(Duration::from_secs(30 * 60));
    app.sim.events().set_drop(false);
    assert!(app.sim.meetings().end_meeting(CODE, CONF));
    card_showing(&app.sim, &id, |md| md.contains("已结束")).await;
    let sim = app.finish().await;
    assert_eq!(sim.meetings().conference_calls(CODE), looks + 1, "not polled while events come");
}

/// Pushes `body` (a decrypted HTTP push) to the bot as DingTalk would; the HTTP status.
async fn push_as_dingtalk(app: &TestApp, body: &serde_json::Value) -> u16 {
    let cipher = EventCipher::new(TOKEN.to_owned().into(), &AES_KEY.to_owned().into(), app.sim.client_id())
        .expect("a valid aes_key");
    push(&app.address, &cipher, &body.to_string(), |_| {}).await
}

#[tokio::test]
async fn an_event_pushed_again_after_a_restart_is_known_and_changes_nothing() {
    let app = spawn_events(Via::Http, &[]).await;
    let id = card_of_the_meeting(&app).await.out_track_id;
    assert!(app.sim.meetings().start_meeting(CODE, CONF));
    card_showing(&app.sim, &id, |md| md.contains("进行中")).await;
    let (sim, store) = app.finish_keeping_store().await;

    let app = spawn_app_in(sim, &settings(Via::Http, &[]), store, true).await;
    let created = app.sim.events().records().emitted[0].clone();
    assert_eq!(push_as_dingtalk(&app, &dingtalk_sim::state::event_push::flat_body(&created)).await, 200);
    wait_for_events(&app.address, "duplicate", 1).await;
    let sim = app.finish().await;
    assert_eq!(sim.cards().card(&id).expect("the card").updates(), 1, "the repeat changed nothing");
}

#[tokio::test]
async fn a_target_push_variant_is_applied_as_the_event_it_varies() {
    let app = spawn_events(Via::Http, &[]).await;
    let id = card_of_the_meeting(&app).await.out_track_id;
    let created = json!({"EventType": "meeting_status_change_target_push", "CorpId": app.sim.home_corp(),
        "eventId": "targeted-1", "EventTime": app.sim.clock().now_ms(),
        "openConfModel": {"conferenceId": CONF, "roomCode": "555 666 778", "bizType": 0, "activeNum": 4},
        "statusSeqNum": 1, "changeScene": "conference_created"});
    assert_eq!(push_as_dingtalk(&app, &created).await, 200);
    card_showing(&app.sim, &id, |md| md.contains("进行中") && md.contains("在会人数：4")).await;
}

#[tokio::test]
async fn events_given_up_while_the_route_was_unreachable_are_read_once_a_later_one_shows_the_gap() {
    let app = spawn_events(Via::Http, &[("DINGMEET_CARD_MEMBER_UPDATE_SECS", "0")]).await;
    let id = card_of_the_meeting(&app).await.out_track_id;
    assert!(app.sim.meetings().start_meeting(CODE, CONF));
    card_showing(&app.sim, &id, |md| md.contains("进行中")).await;
    let pushed = app.sim.records().events.http_pushes.len();

    // The route is down for longer than DingTalk's retries: the join is given up on.
    app.sim.events().set_http_unreachable(true);
    assert!(app.sim.events().join(CODE, CONF, 1));
    for (made, wait) in [(pushed + 1, 10), (pushed + 2, 30)] {
        app.sim
            .wait_until(WAIT, |records| (records.events.http_pushes.len() >= made).then_some(()))
            .await
            .expect("pushed");
        app.sim.clock().advance(Duration::from_secs(wait));
    }
    app.sim.wait_until(WAIT, |records| (!records.events.given_up.is_empty()).then_some(())).await.expect("given up");
    app.sim.events().set_http_unreachable(false);

    // The next join skips a number: the bot reads the failed list a few minutes later.
    assert!(app.sim.events().join(CODE, CONF, 1));
    card_showing(&app.sim, &id, |md| md.contains("在会人数：1")).await;
    app.sim.clock().advance(Duration::from_secs(5 * 60));
    card_showing(&app.sim, &id, |md| md.contains("在会人数：2")).await;
    assert!(app.sim.events().failed_pushes().is_empty(), "the bot took the list");
}
