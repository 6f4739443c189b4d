//! Interactive answers against the simulator's card platform: what a card is created with, the
//! markdown it falls back to, and how a live card follows its meetings on the simulator's clock.

use std::time::Duration;

use dingtalk_sim::CardRefusal;
use dingtalk_sim::records::cards::{CardCallKind, SimCard};
use dingtalk_sim::scenario::{CodeAnswer, MeetingSpec};
use dingtalk_sim::{Scenario, SimClock, Simulator};
use serde_json::json;

use crate::helpers::*;

/// A code of the tests' own, changed by each test.
const CODE: &str = "555666777";
const MINUTE: i64 = 60_000;

/// The builtin scenario on a frozen clock (at the real now, so session webhooks stay alive),
/// and the bot on that clock with interactive cards and no conference cache (each look sees the
/// meeting as the test left it).
async fn spawn_live(settings: &[(&str, &str)]) -> TestApp {
    let scenario = Scenario::builtin().expect("the builtin scenario is valid");
    let now = SimClock::real().now_ms();
    let sim = Simulator::start_with(scenario, SimClock::frozen(now)).await.expect("the simulator starts");
    let mut all = vec![("DINGMEET_CARDS", "interactive"), ("DINGMEET_CACHE_TTL_SECS", "0")];
    all.extend_from_slice(settings);
    spawn_app_in(sim, &all, data_dir(), true).await
}

fn meeting(title: &str, status: i64, start: i64, end: Option<i64>) -> MeetingSpec {
    serde_json::from_value(json!({
        "title": title,
        "status": status,
        "start": start,
        "end": end,
        "external_link_url": "https://meeting.dingtalk.com/j/555666777",
        "creator_nick": "张三",
    }))
    .expect("a meeting spec")
}

fn set_meeting(sim: &Simulator, spec: MeetingSpec) {
    sim.meetings().set_answer(CODE, CodeAnswer::Meetings(vec![spec]));
}

/// Waits until `count` cards were delivered; returns them.
async fn cards(sim: &Simulator, count: usize) -> Vec<SimCard> {
    sim.wait_until(WAIT, |records| {
        (records.cards.cards.len() >= count).then(|| records.cards.cards.values().cloned().collect())
    })
    .await
    .expect("the bot delivers the card")
}

/// Waits until the card has had `updates` updates; returns it.
async fn updated(sim: &Simulator, out_track_id: &str, updates: usize) -> SimCard {
    sim.wait_until(WAIT, |records| records.cards.cards.get(out_track_id).filter(|c| c.updates() >= updates).cloned())
        .await
        .unwrap_or_else(|err| panic!("{updates} updates of the card: {err}"))
}

/// Lets the bot's scheduler run past `until` on its clock: moves the clock, then waits until
/// the bot has looked the code up once more (each look is one lookup, the cache being off).
async fn advance_and_look(app: &TestApp, by: Duration) {
    let before = app.sim.meetings().conference_calls(CODE);
    app.sim.clock().advance(by);
    app.sim.wait_for_conference_calls(CODE, before + 1, WAIT).await.expect("the bot looks at the card again");
}

#[tokio::test]
async fn a_meeting_in_progress_is_answered_with_a_card_and_no_webhook_copy() {
    let app = spawn_live(&[]).await;

    let delivery = app.send(app.message("/meeting 123456789")).await;

    assert_acknowledged(&delivery);
    let card = cards(&app.sim, 1).await.remove(0);
    assert_eq!(card.template_id, "1366a1eb-bc54-4859-ac88-517c56a9acb1.schema");
    assert_eq!(card.open_space_id, format!("dtv1.card//IM_GROUP.{}", delivery.callback.conversation_id));
    assert_eq!(card.corp_id, app.sim.home_corp());
    assert!(card.out_track_id.starts_with("dingmeet-"), "{}", card.out_track_id);
    assert!(card.markdown().contains("产品周会") && card.markdown().contains("@manager807"), "{}", card.markdown());
    assert_eq!(card.at_user_ids.keys().collect::<Vec<_>>(), ["manager807"]);
    let buttons = card.buttons();
    assert_eq!(buttons[0]["url"], "https://meeting.dingtalk.com/j/123456789", "{buttons:?}");
    let create = &app.sim.cards().records().calls_of(CardCallKind::CreateAndDeliver)[0].clone();
    let body = create.body.clone().expect("a JSON body");
    assert_eq!(body["imGroupOpenDeliverModel"]["robotCode"], app.sim.client_id());
    assert_eq!(body["userIdType"], 1);
    let sim = app.finish().await;
    assert!(
        sim.sessions().webhook_posts().is_empty(),
        "no second copy on the webhook: {:?}",
        sim.sessions().webhook_posts()
    );
    assert!(sim.records().openapi_sends.is_empty());
}

#[tokio::test]
async fn a_one_to_one_card_goes_to_the_robot_space_of_the_sender() {
    let app = spawn_live(&[]).await;

    let delivery = app.send(app.message("/meeting 123456789").single()).await;

    assert_acknowledged(&delivery);
    let card = cards(&app.sim, 1).await.remove(0);
    assert_eq!(card.open_space_id, "dtv1.card//IM_ROBOT.manager807");
    assert_eq!(card.space_type, "IM_ROBOT");
    assert!(!card.markdown().contains("@manager807"), "no mention in a 1:1 chat");
    let create = app.sim.cards().records().calls_of(CardCallKind::CreateAndDeliver)[0].clone();
    assert_eq!(create.body.expect("a body")["imRobotOpenDeliverModel"]["spaceType"], "IM_ROBOT");
    let sim = app.finish().await;
    assert!(sim.sessions().webhook_posts().is_empty());
}

#[tokio::test]
async fn a_refused_card_is_answered_in_markdown_once_and_not_tried_again_for_a_while() {
    let app = spawn_live(&[]).await;
    app.sim.cards().refuse(app.sim.home_corp(), Some(CardRefusal::NoPermission));

    let first = app.ask("/meeting 123456789").await;
    let second = app.ask("/meeting 123456789").await;

    assert!(text_of(&first).contains("产品周会") && text_of(&second).contains("产品周会"));
    let sim = app.finish().await;
    let posts = sim.sessions().webhook_posts();
    assert_eq!(posts.len(), 2, "each question answered exactly once: {posts:?}");
    let creates = sim.cards().records().calls_of(CardCallKind::CreateAndDeliver).len();
    assert_eq!(creates, 1, "the refusal is remembered: the second answer does not pay a failed call");
    assert!(sim.cards().records().cards.is_empty());
}

#[tokio::test]
async fn an_unpublished_template_falls_back_to_markdown_too() {
    let app = spawn_live(&[("DINGMEET_CARD_TEMPLATE_ID", "not-a-published-template.schema")]).await;

    let post = app.ask("/meeting 123456789").await;

    assert!(text_of(&post).contains("产品周会"));
    let sim = app.finish().await;
    let calls = sim.cards().records().calls;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].error_code.as_deref(), Some("param.templateUnpublished"));
}

#[tokio::test]
async fn the_markdown_setting_answers_in_markdown_without_calling_the_card_api() {
    let app = spawn_live(&[("DINGMEET_CARDS", "markdown")]).await;

    let post = app.ask("/meeting 123456789").await;

    assert!(text_of(&post).contains("产品周会"));
    let sim = app.finish().await;
    assert!(sim.cards().records().calls.is_empty());
}

#[tokio::test]
async fn an_answer_where_every_meeting_ended_stays_markdown() {
    let app = spawn_live(&[]).await;
    let now = app.sim.clock().now_ms();
    set_meeting(&app.sim, meeting("复盘会", 1, now - 60 * MINUTE, Some(now - 30 * MINUTE)));

    let post = app.ask(&format!("/meeting {CODE}")).await;

    assert!(text_of(&post).contains("复盘会"));
    let sim = app.finish().await;
    assert!(sim.cards().records().calls.is_empty(), "nothing on it can change: no card");
}

#[tokio::test]
async fn a_meeting_that_starts_and_ends_while_its_card_is_live_gets_one_update_for_each_change_and_none_after() {
    let app = spawn_live(&[]).await;
    let now = app.sim.clock().now_ms();
    let start = now + 30 * MINUTE;
    let end = now + 60 * MINUTE;
    set_meeting(&app.sim, meeting("站会", 0, start, Some(end)));

    app.send(app.message(&format!("/meeting {CODE}"))).await;
    let card = cards(&app.sim, 1).await.remove(0);
    assert!(card.markdown().contains("未开始"), "{}", card.markdown());

    // It starts: the bot looks shortly after the known start and shows it in progress.
    set_meeting(&app.sim, meeting("站会", 2, start, Some(end)));
    advance_and_look(&app, Duration::from_secs(31 * 60)).await;
    let card = updated(&app.sim, &card.out_track_id, 1).await;
    assert!(card.markdown().contains("进行中"), "{}", card.markdown());

    // It ends: the last update shows the end and takes the join button away.
    set_meeting(&app.sim, meeting("站会", 1, start, Some(end)));
    advance_and_look(&app, Duration::from_secs(30 * 60)).await;
    let card = updated(&app.sim, &card.out_track_id, 2).await;
    assert!(card.markdown().contains("已结束"), "{}", card.markdown());
    assert!(card.buttons().iter().all(|b| b.get("url").is_none()), "{:?}", card.buttons());

    // Then the card is left alone: hours later nothing is looked up or sent.
    let looks = app.sim.meetings().conference_calls(CODE);
    app.sim.clock().advance(Duration::from_secs(6 * 3600));
    let sim = app.finish().await;
    assert_eq!(sim.meetings().conference_calls(CODE), looks, "a final card is not looked at again");
    assert_eq!(sim.cards().card(&card.out_track_id).expect("the card").updates(), 2);
}

#[tokio::test]
async fn a_meeting_in_progress_shows_who_is_in_it_and_then_costs_no_update_while_nothing_changes() {
    let app = spawn_live(&[]).await;
    let now = app.sim.clock().now_ms();
    set_meeting(&app.sim, meeting("长会", 2, now - 10 * MINUTE, None));

    app.send(app.message(&format!("/meeting {CODE}"))).await;
    let card = cards(&app.sim, 1).await.remove(0);
    for _ in 0..3 {
        advance_and_look(&app, Duration::from_secs(601)).await;
    }
    let counted = |records: &dingtalk_sim::records::Records| {
        (records.cards.calls_of(CardCallKind::ConferenceDetail).len() >= 3).then_some(())
    };
    app.sim.wait_until(WAIT, counted).await.expect("the third refresh reads the count");

    let sim = app.finish().await;
    let card = sim.cards().card(&card.out_track_id).expect("the card");
    assert!(card.markdown().contains("在会人数：3"), "{}", card.markdown());
    assert_eq!(card.updates(), 1, "the first refresh adds how many are in it; then nothing changed, nothing sent");
    let details = sim.cards().records().calls_of(CardCallKind::ConferenceDetail).len();
    assert_eq!(details, 3, "the count is read at each refresh of the live card, never for the answer itself");
}

#[tokio::test]
async fn a_restarted_bot_keeps_its_live_cards_live() {
    let app = spawn_live(&[]).await;
    let now = app.sim.clock().now_ms();
    set_meeting(&app.sim, meeting("重启会", 0, now + 30 * MINUTE, None));
    app.send(app.message(&format!("/meeting {CODE}"))).await;
    let card = cards(&app.sim, 1).await.remove(0);

    let (sim, store) = app.finish_keeping_store().await;
    let settings = [("DINGMEET_CARDS", "interactive"), ("DINGMEET_CACHE_TTL_SECS", "0")];
    let app = spawn_app_in(sim, &settings, store, true).await;
    set_meeting(&app.sim, meeting("重启会", 2, now + 30 * MINUTE, None));
    advance_and_look(&app, Duration::from_secs(31 * 60)).await;

    let card = updated(&app.sim, &card.out_track_id, 1).await;
    assert!(card.markdown().contains("进行中"), "{}", card.markdown());
}

/// Waits until the bot's metrics show `count` card presses with `outcome`.
async fn presses(app: &TestApp, outcome: &str, count: usize) {
    let series = format!("dingmeet_cards_total{{action=\"press\",outcome=\"{outcome}\"}} {count}");
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    loop {
        ticks.tick().await;
        let metrics = reqwest::get(format!("{}/metrics", app.address)).await.expect("metrics");
        let text = metrics.text().await.expect("text");
        if text.contains(&series) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "no {series} in\n{text}");
    }
}

/// Stream mode, reconnecting quickly.
const STREAM: &[(&str, &str)] = &[
    ("DINGMEET_MODE", "stream"),
    ("DINGMEET_STREAM_BACKOFF_INITIAL_MS", "50"),
    ("DINGMEET_STREAM_BACKOFF_MAX_MS", "400"),
];

/// A live card over the Stream: asks about `CODE` (one meeting in progress titled `title`).
async fn stream_card(title: &str) -> (TestApp, SimCard) {
    let app = spawn_live(STREAM).await;
    app.sim.wait_for_connections(1, WAIT).await.expect("the bot connects");
    let now = app.sim.clock().now_ms();
    set_meeting(&app.sim, meeting(title, 2, now - 5 * MINUTE, None));
    app.sim.message(format!("/meeting {CODE}")).push();
    let card = cards(&app.sim, 1).await.remove(0);
    assert_eq!(card.callback_type.as_deref(), Some("STREAM"));
    assert!(card.buttons().iter().any(|b| b["id"] == "refresh"), "{:?}", card.buttons());
    (app, card)
}

#[tokio::test]
async fn refresh_over_the_stream_is_acked_at_once_and_shows_a_changed_title() {
    let (app, card) = stream_card("旧标题").await;
    let now = app.sim.clock().now_ms();
    set_meeting(&app.sim, meeting("新标题", 2, now - 5 * MINUTE, None));
    app.sim.clock().advance(Duration::from_secs(11));

    let pushed = app.sim.cards().press(&card.out_track_id, "manager807", "refresh").expect("a Stream card");

    let ack = app.sim.wait_for_answer(&pushed.message_id, WAIT).await.expect("an ack");
    let card = updated(&app.sim, &card.out_track_id, 1).await;
    assert!(card.markdown().contains("新标题"), "{}", card.markdown());
    let update = app.sim.cards().records().calls_of(CardCallKind::Update)[0].clone();
    assert!(ack.seq < update.seq, "ack #{} before the update #{}", ack.seq, update.seq);
}

#[tokio::test]
async fn refresh_of_an_answer_under_ten_seconds_old_does_not_look_up_again() {
    let (app, card) = stream_card("站会").await;
    let looks = app.sim.meetings().conference_calls(CODE);

    let pushed = app.sim.cards().press(&card.out_track_id, "manager807", "refresh").expect("a Stream card");

    app.sim.wait_for_answer(&pushed.message_id, WAIT).await.expect("an ack");
    presses(&app, "fresh_enough", 1).await;
    let sim = app.finish().await;
    assert_eq!(sim.meetings().conference_calls(CODE), looks, "the answer is fresh enough");
    assert!(sim.cards().records().calls_of(CardCallKind::Update).is_empty());
}

#[tokio::test]
async fn a_press_on_an_unknown_card_or_from_another_organisation_changes_nothing() {
    let (app, card) = stream_card("旧标题").await;
    let now = app.sim.clock().now_ms();
    set_meeting(&app.sim, meeting("新标题", 2, now - 5 * MINUTE, None));
    app.sim.clock().advance(Duration::from_secs(11));

    let unknown = app.sim.cards().press_body("dingmeet-unknown", app.sim.home_corp(), "manager807", "refresh");
    let foreign = app.sim.cards().press_body(&card.out_track_id, "ding-another-org", "intruder", "refresh");
    let pushes =
        [app.sim.stream().push_card_data(&unknown.to_string()), app.sim.stream().push_card_data(&foreign.to_string())];

    for pushed in &pushes {
        app.sim.wait_for_answer(&pushed.message_id, WAIT).await.expect("acked all the same");
    }
    presses(&app, "unknown_card", 1).await;
    presses(&app, "other_organisation", 1).await;
    let sim = app.finish().await;
    assert!(sim.cards().records().calls_of(CardCallKind::Update).is_empty());
    assert!(sim.cards().card(&card.out_track_id).expect("the card").markdown().contains("旧标题"));
}

#[tokio::test]
async fn in_http_mode_with_a_public_url_the_route_is_registered_and_signed_presses_refresh_the_card() {
    // The bot's own address, chosen before it starts, is its public URL here.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a port").port();
    let listen = format!("127.0.0.1:{port}");
    let public = format!("http://127.0.0.1:{port}");
    let app = spawn_live(&[("DINGMEET_LISTEN", &listen), ("DINGMEET_PUBLIC_URL", &public)]).await;
    let route = app
        .sim
        .wait_until(WAIT, |records| records.cards.routes.get("dingmeet").cloned())
        .await
        .expect("the route is registered at start");
    assert_eq!(route.0, format!("{public}/dingtalk/card-callback"));
    let now = app.sim.clock().now_ms();
    set_meeting(&app.sim, meeting("旧标题", 2, now - 5 * MINUTE, None));
    app.send(app.message(&format!("/meeting {CODE}"))).await;
    let card = cards(&app.sim, 1).await.remove(0);
    assert_eq!((card.callback_type.as_deref(), card.callback_route_key.as_deref()), (Some("HTTP"), Some("dingmeet")));
    set_meeting(&app.sim, meeting("新标题", 2, now - 5 * MINUTE, None));
    app.sim.clock().advance(Duration::from_secs(11));

    let unsigned = app.sim.cards().press_http(&card.out_track_id, "manager807", "refresh", false).await;
    let signed = app.sim.cards().press_http(&card.out_track_id, "manager807", "refresh", true).await;

    assert_eq!((unsigned, signed), (Some(401), Some(200)));
    let card = updated(&app.sim, &card.out_track_id, 1).await;
    assert!(card.markdown().contains("新标题"), "{}", card.markdown());
    assert_eq!(card.updates(), 1, "the unsigned press changed nothing");
}

#[tokio::test]
async fn in_http_mode_without_a_public_url_cards_have_no_refresh_button() {
    let app = spawn_live(&[]).await;

    app.send(app.message("/meeting 123456789")).await;

    let card = cards(&app.sim, 1).await.remove(0);
    assert!(card.buttons().iter().all(|b| b["id"] != "refresh"), "{:?}", card.buttons());
    assert_eq!(card.callback_type, None);
    assert!(app.sim.cards().records().routes.is_empty());
}

/// The builtin scenario on a frozen clock and two replicas with interactive cards on the Redis
/// at `url`; the clock's start.
async fn two_replicas_on(url: &str) -> (Simulator, TestBot, TestBot, i64) {
    let scenario = Scenario::builtin().expect("the builtin scenario is valid");
    let now = SimClock::real().now_ms();
    let sim = Simulator::start_with(scenario, SimClock::frozen(now)).await.expect("the simulator starts");
    let settings = [("DINGMEET_CARDS", "interactive"), ("DINGMEET_CACHE_TTL_SECS", "0"), ("DINGMEET_REDIS_URL", url)];
    let a = spawn_bot_on(&sim, &settings, None, Some(sim_time(&sim))).await;
    let b = spawn_bot_on(&sim, &settings, None, Some(sim_time(&sim))).await;
    (sim, a, b, now)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_redis_refresh_a_card_once_and_either_keeps_it_live() {
    let redis = crate::redis_server::RedisServer::start();
    let (sim, a, b, now) = two_replicas_on(&redis.url()).await;
    let (start, end) = (now + 30 * MINUTE, now + 60 * MINUTE);
    set_meeting(&sim, meeting("双副本会", 0, start, Some(end)));
    let delivery = sim.message(format!("/meeting {CODE}")).post(&a.callback_url()).await.expect("a answers");
    assert_acknowledged(&delivery);
    let card = cards(&sim, 1).await.remove(0);

    // It starts: both replicas find the card due; one looks and updates it.
    set_meeting(&sim, meeting("双副本会", 2, start, Some(end)));
    let before = sim.meetings().conference_calls(CODE);
    sim.clock().advance(Duration::from_secs(31 * 60));
    let card = updated(&sim, &card.out_track_id, 1).await;
    assert!(card.markdown().contains("进行中"), "{}", card.markdown());
    a.finish().await;
    assert_eq!(sim.meetings().conference_calls(CODE), before + 1, "one replica looked, not both");
    assert_eq!(sim.cards().card(&card.out_track_id).expect("the card").updates(), 1, "one update, not one per replica");

    // The replica that delivered it is gone: the other keeps the card live to its end.
    set_meeting(&sim, meeting("双副本会", 1, start, Some(end)));
    sim.clock().advance(Duration::from_secs(30 * 60));
    let card = updated(&sim, &card.out_track_id, 2).await;
    assert!(card.markdown().contains("已结束"), "{}", card.markdown());
    b.finish().await;
    assert_eq!(sim.cards().card(&card.out_track_id).expect("the card").updates(), 2);
}

/// Whether the card's record is in Redis, where every replica finds it.
async fn shared_in_redis(url: &str, out_track_id: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else { return false };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else { return false };
    redis::cmd("HEXISTS").arg("dingmeet:kept:live_card").arg(out_track_id).query_async(&mut conn).await.unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_card_answered_across_a_redis_outage_is_shared_once_it_is_back_and_updated_once() {
    let mut redis = crate::redis_server::RedisServer::start();
    let (port, url) = (redis.port(), redis.url());
    let (sim, a, b, now) = two_replicas_on(&url).await;
    let (start, end) = (now + 30 * MINUTE, now + 60 * MINUTE);
    set_meeting(&sim, meeting("断线会", 0, start, Some(end)));

    // Accepted while Redis answers; Redis goes away while the meeting is looked up.
    let held = sim.meetings().hold(CODE);
    let delivery = sim.message(format!("/meeting {CODE}")).post(&a.callback_url()).await.expect("a answers");
    assert_acknowledged(&delivery);
    sim.wait_until(WAIT, |r| (r.conference_calls(CODE) >= 1).then_some(())).await.expect("the lookup");
    redis.kill();
    held.release();

    // Redis is back: the held reply goes out, and its card is shared.
    let _redis = crate::redis_server::RedisServer::start_on(port);
    let card = cards(&sim, 1).await.remove(0);
    let deadline = std::time::Instant::now() + WAIT;
    while !shared_in_redis(&url, &card.out_track_id).await {
        assert!(std::time::Instant::now() < deadline, "the card was not shared once Redis was back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.finish().await;

    // The other replica keeps it live, once.
    set_meeting(&sim, meeting("断线会", 2, start, Some(end)));
    sim.clock().advance(Duration::from_secs(31 * 60));
    let card = updated(&sim, &card.out_track_id, 1).await;
    assert!(card.markdown().contains("进行中"), "{}", card.markdown());
    b.finish().await;
    assert_eq!(sim.cards().card(&card.out_track_id).expect("the card").updates(), 1, "one update, not one per replica");
}
