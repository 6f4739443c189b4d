//! Stream mode end to end: the real bot with `DINGMEET_MODE=stream` against the
//! simulator's gateway. Small backoff and ping settings keep every reconnect under a second.

use std::sync::Arc;
use std::time::Duration;

use dingmeet::config::Mode;
use dingmeet::sandbox::{Sandbox, SandboxOptions};
use dingtalk_sim::records::WebhookPost;
use dingtalk_sim::records::stream::{Closed, ConnectionRecord};
use dingtalk_sim::{MessageBuilder, Scenario, Simulator};
use dingtalk_sim::{Pushed, StreamEvent};
use serde_json::{Value, json};

use crate::helpers::spawn_bot;
use crate::helpers::{TestApp, WAIT, spawn_app_against, text_of};
use crate::redis_server::RedisServer;

/// Stream mode, reconnecting within 50–400 ms, pinging after 200 ms of silence and giving up
/// 300 ms later.
const STREAM: &[(&str, &str)] = &[
    ("DINGMEET_MODE", "stream"),
    ("DINGMEET_STREAM_BACKOFF_INITIAL_MS", "50"),
    ("DINGMEET_STREAM_BACKOFF_MAX_MS", "400"),
    ("DINGMEET_STREAM_PING_INTERVAL_MS", "200"),
    ("DINGMEET_STREAM_PONG_TIMEOUT_MS", "300"),
];

async fn simulator() -> Simulator {
    Simulator::start(Scenario::builtin().expect("the builtin scenario is valid")).await.expect("the simulator starts")
}

/// The bot in stream mode, once its first connection is open.
async fn spawn_stream_app() -> (TestApp, ConnectionRecord) {
    let app = spawn_app_against(simulator().await, STREAM).await;
    let connection = app.sim.wait_for_connections(1, WAIT).await.expect("the bot connects");
    (app, connection)
}

/// The delivered webhook post answering a pushed message.
async fn reply_to(app: &TestApp, pushed: &Pushed) -> WebhookPost {
    let session = pushed.callback.as_ref().expect("a robot message").session_id.clone();
    app.sim
        .wait_until(WAIT, |records| {
            records.webhook_posts.iter().find(|p| p.session == session && p.delivered()).cloned()
        })
        .await
        .expect("the bot replies on the session webhook")
}

/// The card for the builtin scenario's first code.
fn assert_meeting_card(post: &WebhookPost) {
    assert!(text_of(post).contains("产品周会"), "{}", text_of(post));
}

async fn readyz(app: &TestApp) -> (u16, Value) {
    let response = reqwest::get(format!("{}/readyz", app.address)).await.expect("the bot answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

/// Polls `/readyz` until it answers `status`, within the deadline.
async fn wait_for_readiness(app: &TestApp, status: u16) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    loop {
        ticks.tick().await;
        let (now, body) = readyz(app).await;
        if now == status {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "readyz still answers {now}, not {status}: {body}");
    }
}

#[tokio::test]
async fn a_pushed_message_gets_its_card_and_the_ack_comes_first() {
    let (app, connection) = spawn_stream_app().await;

    let pushed = app.sim.message("/meeting 123456789").push();

    let post = reply_to(&app, &pushed).await;
    assert_meeting_card(&post);
    let ack = app.sim.wait_for_answer(&pushed.message_id, WAIT).await.expect("an ack");
    assert!(ack.seq < post.seq, "ack #{} before reply #{}", ack.seq, post.seq);
    assert_eq!((pushed.connection, ack.connection), (Some(connection.id), connection.id));
    assert_eq!(
        ack.json,
        Some(json!({
            "code": 200,
            "headers": { "contentType": "application/json", "messageId": pushed.message_id },
            "message": "OK",
            "data": "{\"response\":null}",
        }))
    );
    assert_eq!(app.sim.stream().records().answers_to(&pushed.message_id).len(), 1, "one ack");
}

#[tokio::test]
async fn a_ping_frame_is_answered_with_its_id_and_data() {
    let (app, connection) = spawn_stream_app().await;

    let id = app.sim.stream().send_ping(connection.id).expect("sent");

    let pong = app.sim.wait_for_answer(&id, WAIT).await.expect("answered");
    let records = app.sim.stream().records();
    let ping = records.sent_with(&id)[0].json().expect("JSON");
    assert_eq!((pong.code(), pong.message_id()), (Some(200), Some(id.as_str())));
    assert_eq!(pong.data(), ping["data"].as_str(), "the data echoed");
    assert_eq!(pong.json.as_ref().map(|j| j["headers"]["contentType"].clone()), Some(json!("application/json")));
}

#[tokio::test]
async fn after_disconnect_the_bot_opens_a_new_connection_before_the_old_one_closes() {
    let (app, old) = spawn_stream_app().await;
    app.sim.stream().set_disconnect_grace(Duration::from_millis(1500));

    app.sim.stream().send_disconnect(old.id).expect("sent");
    let right_after = app.sim.message("/meeting 123456789").push();
    let new = app.sim.wait_for_connections(2, WAIT).await.expect("a new connection");
    let later = app.sim.message("/meeting 123456789").single().push();

    assert_meeting_card(&reply_to(&app, &right_after).await);
    assert_meeting_card(&reply_to(&app, &later).await);
    assert_ne!(new.ticket, old.ticket, "a new ticket");
    assert_eq!(app.sim.stream().records().tickets_issued(), 2);
    let old_closed = app
        .sim
        .wait_until(WAIT, |r| r.stream.connection(old.id).filter(|c| !c.is_open()).cloned())
        .await
        .expect("the old socket closes");
    assert_eq!(old_closed.closed, Some(Closed::AfterDisconnect), "kept open until the server closed it");
    assert!(new.opened_seq < old_closed.closed_seq.unwrap_or(0), "the new one opened while the old one was open");
    let sim = app.finish().await;
    assert_eq!(sim.records().delivered_posts().len(), 2, "each answered once");
}

#[tokio::test]
async fn after_the_server_drops_the_socket_the_bot_comes_back_and_answers() {
    let (app, old) = spawn_stream_app().await;

    app.sim.stream().drop_connection(old.id);
    let new = app.sim.wait_for_connections(2, WAIT).await.expect("a new connection");
    let pushed = app.sim.message("/meeting 123456789").push();

    assert_meeting_card(&reply_to(&app, &pushed).await);
    assert_eq!(pushed.connection, Some(new.id));
    assert_eq!(app.sim.stream().records().connection(old.id).and_then(|c| c.closed), Some(Closed::Dropped));
}

#[tokio::test]
async fn after_connections_are_refused_for_seconds_the_bot_comes_back_by_itself() {
    let (app, old) = spawn_stream_app().await;
    let started = tokio::time::Instant::now();
    app.sim.stream().refuse_opens(Duration::from_millis(1500));
    app.sim.stream().refuse_upgrades(Duration::from_secs(3));

    app.sim.stream().drop_connection(old.id);
    let new = app.sim.wait_for_connections(2, WAIT).await.expect("a new connection");

    assert!(started.elapsed() >= Duration::from_secs(3), "not before the refusals ended");
    let records = app.sim.stream().records();
    let refused_opens = records.open_requests - records.tickets_issued();
    assert!(refused_opens >= 2, "kept asking for a ticket: {refused_opens} refused");
    assert!(records.upgrades_refused >= 2, "kept trying the socket: {} refused", records.upgrades_refused);
    assert!(records.open_requests < 40, "backed off rather than hammering: {} open calls", records.open_requests);
    let pushed = app.sim.message("/meeting 123456789").push();
    assert_eq!(pushed.connection, Some(new.id));
    assert_meeting_card(&reply_to(&app, &pushed).await);
}

#[tokio::test]
async fn a_socket_that_stops_answering_pings_is_replaced() {
    let (app, old) = spawn_stream_app().await;
    app.sim
        .wait_until(WAIT, |r| r.stream.connection(old.id).filter(|c| c.ws_pings > 0).map(drop))
        .await
        .expect("the bot pings a quiet connection");

    app.sim.stream().silence_connection(old.id);
    let new = app.sim.wait_for_connections(2, WAIT).await.expect("a new connection");
    let pushed = app.sim.message("/meeting 123456789").push();

    assert_eq!(pushed.connection, Some(new.id));
    assert_meeting_card(&reply_to(&app, &pushed).await);
}

#[tokio::test]
async fn a_redelivered_message_gets_exactly_one_reply() {
    let (app, _) = spawn_stream_app().await;
    app.sim.stream().set_redelivery(Some(Duration::from_millis(200)));
    app.sim.stream().lose_acks(1);

    // The first ack is lost, so the gateway pushes the frame again with the same messageId.
    let pushed = app.sim.message("/meeting 123456789").push();
    let id = pushed.message_id.clone();
    app.sim
        .wait_until(WAIT, |r| (r.stream.answers_to(&id).len() == 2).then_some(()))
        .await
        .expect("both deliveries acknowledged");
    let post = reply_to(&app, &pushed).await;
    // Then DingTalk re-pushes it by hand, and as a new frame carrying the same msgId.
    app.sim.stream().redeliver(&id).expect("redelivered");
    let msg_id = pushed.callback.as_ref().map(|c| c.msg_id.clone()).unwrap_or_default();
    let same_msg = app.sim.message("/meeting 123456789").msg_id(&msg_id).push();
    app.sim
        .wait_until(WAIT, |r| {
            (r.stream.answers_to(&id).len() == 3 && r.stream.answers_to(&same_msg.message_id).len() == 1).then_some(())
        })
        .await
        .expect("every delivery acknowledged");

    let sim = app.finish().await;
    assert_eq!(sim.stream().records().sent_with(&id).len(), 3);
    let posts = sim.records().webhook_posts;
    assert_eq!(posts.len(), 1, "one reply: {posts:?}");
    assert_eq!(posts[0].seq, post.seq);
}

#[tokio::test]
async fn malformed_frames_are_survived() {
    let (app, connection) = spawn_stream_app().await;
    for text in ["not json", "[1,2]", "{}", r#"{"type":"CALLBACK"}"#, r#"{"type":"SYSTEM","headers":[]}"#, ""] {
        assert!(app.sim.stream().send_raw(connection.id, text), "{text}");
    }
    app.sim.stream().send_binary(connection.id, &[0, 159, 146, 150]);
    let garbage = app.sim.stream().push_bot_data("{\"msgtype\":");
    let not_a_message = app.sim.stream().push_bot_data("{\"hello\":\"world\"}");

    let pushed = app.sim.message("/meeting 123456789").push();

    assert_meeting_card(&reply_to(&app, &pushed).await);
    for id in [&garbage.message_id, &not_a_message.message_id] {
        let ack = app.sim.wait_for_answer(id, WAIT).await.expect("acknowledged all the same");
        assert_eq!(ack.code(), Some(200));
    }
    let sim = app.finish().await;
    assert_eq!(sim.stream().records().connections.len(), 1, "the same connection throughout");
    assert_eq!(sim.records().webhook_posts.len(), 1, "nothing answered the garbage");
}

#[tokio::test]
async fn a_burst_of_1000_messages_gets_exactly_one_reply_each() {
    let _machine = crate::helpers::heavy().await;
    let (app, _) = spawn_stream_app().await;
    let started = std::time::Instant::now();
    // The lookup is held until every frame is acknowledged: acks never wait for the work.
    let hold = app.sim.meetings().hold("123456789");

    // One conversation each: the simulator allows 20 posts a minute per conversation.
    let pushed: Vec<Pushed> = (0..1000)
        .map(|n| app.sim.message("/meeting 123456789").conversation_id(&format!("cidBurst{n:04}=")).push())
        .collect();
    app.sim
        .wait_until(WAIT, |r| (r.stream.received.iter().filter(|f| f.is_ack()).count() >= 1000).then_some(()))
        .await
        .expect("every frame acknowledged while the lookup is held");
    assert!(app.sim.sessions().webhook_posts().is_empty(), "no reply yet");
    hold.release();

    app.sim.wait_for_webhook_posts(1000, Duration::from_secs(60)).await.expect("1,000 replies");
    let elapsed = started.elapsed();
    let sim = app.finish().await;
    let records = sim.records();
    assert_eq!(records.webhook_posts.len(), 1000, "no more than one each");
    assert!(records.webhook_posts.iter().all(WebhookPost::delivered), "none throttled (130101) or refused");
    let mut sessions: Vec<&str> = records.webhook_posts.iter().map(|p| p.session.as_str()).collect();
    sessions.sort_unstable();
    sessions.dedup();
    assert_eq!(sessions.len(), 1000, "one per message");
    for push in &pushed {
        assert_eq!(records.stream.answers_to(&push.message_id).len(), 1, "one ack for {}", push.message_id);
        assert_eq!(records.stream.sent_with(&push.message_id).len(), 1, "never redelivered");
    }
    assert_eq!(sim.meetings().conference_calls("123456789"), 1, "one lookup served them all");
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
}

#[tokio::test]
async fn readiness_follows_the_stream_and_no_callback_route_is_served() {
    let sim = simulator().await;
    sim.stream().refuse_connections(Duration::from_secs(3600));
    let app = spawn_app_against(sim, STREAM).await;

    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["stream"]["ok"], json!(false), "{body}");
    let callback = app.message("help").post(&app.callback_url()).await.expect("the bot answers");
    assert_eq!(callback.status, 404, "stream mode serves no callback route");

    app.sim.stream().accept_connections();
    let body = wait_for_readiness(&app, 200).await;
    assert_eq!(body["checks"]["stream"]["ok"], json!(true), "{body}");

    app.sim.stream().refuse_connections(Duration::from_secs(3600));
    app.sim.stream().drop_connections();
    wait_for_readiness(&app, 503).await;
    app.sim.stream().accept_connections();
    wait_for_readiness(&app, 200).await;
}

#[tokio::test]
async fn suite_ticket_events_are_acknowledged_with_a_status() {
    let (app, _) = spawn_stream_app().await;

    let good = app.sim.stream().push_event(StreamEvent::suite_ticket("dingorg1", "pushed-ticket"));
    let empty = app.sim.stream().push_event(StreamEvent::new("suite_ticket", "dingorg1", json!({})));
    let other =
        app.sim.stream().push_event(StreamEvent::new("org_suite_auth", "dingorg2", json!({"authCorpInfo": {}})));

    let status = |id: String| {
        let sim = &app.sim;
        async move {
            let ack = sim.wait_for_answer(&id, WAIT).await.expect("acknowledged");
            (ack.code(), ack.data_json().and_then(|d| d["status"].as_str().map(str::to_owned)))
        }
    };
    assert_eq!(status(good.message_id).await, (Some(200), Some("SUCCESS".to_owned())));
    assert_eq!(status(empty.message_id).await, (Some(200), Some("LATER".to_owned())), "no ticket: ask again");
    assert_eq!(status(other.message_id).await, (Some(200), Some("SUCCESS".to_owned())));
}

#[tokio::test]
async fn the_bot_opens_its_connection_as_protocol_5_says() {
    let (_app, connection) = spawn_stream_app().await;

    let topics: Vec<(&str, &str)> =
        connection.subscriptions.iter().map(|s| (s.kind.as_str(), s.topic.as_str())).collect();
    assert_eq!(
        topics,
        [("CALLBACK", "/v1.0/im/bot/messages/get"), ("CALLBACK", "/v1.0/card/instances/callback"), ("EVENT", "*")]
    );
    assert!(connection.ua.as_deref().is_some_and(|ua| ua.starts_with("dingmeet/")), "{:?}", connection.ua);
}

#[tokio::test]
async fn a_gateway_that_hangs_in_the_handshake_is_given_up_on_and_tried_again() {
    let settings = [STREAM, &[("DINGMEET_UPSTREAM_TIMEOUT_MS", "300")]].concat();
    let app = spawn_app_against(simulator().await, &settings).await;
    let old = app.sim.wait_for_connections(1, WAIT).await.expect("the bot connects");

    app.sim.stream().stall_upgrades(Duration::from_secs(3600));
    app.sim.stream().drop_connection(old.id);
    app.sim
        .wait_until(WAIT, |r| (r.stream.tickets_issued() >= 4).then_some(()))
        .await
        .expect("a new ticket after each handshake that timed out");
    app.sim.stream().accept_connections();
    let new = app.sim.wait_for_connections(2, WAIT).await.expect("connected once the gateway answers");

    let pushed = app.sim.message("/meeting 123456789").push();
    assert_eq!(pushed.connection, Some(new.id));
    assert_meeting_card(&reply_to(&app, &pushed).await);
}

#[tokio::test]
async fn frames_without_a_message_id_are_each_answered() {
    let (app, connection) = spawn_stream_app().await;
    let callbacks: Vec<_> = ["/meeting 123456789", "help"].map(|text| app.sim.message(text).build()).into();

    for callback in &callbacks {
        let frame = json!({
            "specVersion": "1.0",
            "type": "CALLBACK",
            "headers": { "contentType": "application/json", "messageId": "", "topic": "/v1.0/im/bot/messages/get" },
            "data": String::from_utf8_lossy(&callback.body),
        });
        assert!(app.sim.stream().send_raw(connection.id, &frame.to_string()));
    }

    let sessions: Vec<String> = callbacks.iter().map(|c| c.session_id.clone()).collect();
    app.sim
        .wait_until(WAIT, |r| {
            sessions.iter().all(|s| r.webhook_posts.iter().any(|p| &p.session == s && p.delivered())).then_some(())
        })
        .await
        .expect("both answered, not taken for one redelivered frame");
}

#[tokio::test]
async fn in_both_modes_callbacks_and_the_stream_are_served_together() {
    let settings = [STREAM, &[("DINGMEET_MODE", "both")]].concat();
    let app = spawn_app_against(simulator().await, &settings).await;
    app.sim.wait_for_connections(1, WAIT).await.expect("the bot connects");

    let pushed = app.sim.message("/meeting 123456789").push();
    let posted = app.ask("/meeting 123456789").await;

    assert_meeting_card(&reply_to(&app, &pushed).await);
    assert_meeting_card(&posted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_sharing_redis_answer_each_message_once_whichever_socket_it_lands_on() {
    let redis = RedisServer::start();
    let sim = simulator().await;
    let url = redis.url();
    let settings = [STREAM, &[("DINGMEET_REDIS_URL", url.as_str())]].concat();
    let replicas = [spawn_bot(&sim, &settings).await, spawn_bot(&sim, &settings).await];
    sim.wait_for_connections(2, WAIT).await.expect("both replicas connect");

    let pushed: Vec<Pushed> = (0..200)
        .map(|n| sim.message("/meeting 123456789").conversation_id(&format!("cidReplica{n:03}=")).push())
        .collect();
    sim.wait_for_webhook_posts(200, WAIT).await.expect("every message answered");
    // DingTalk pushes each again, to whichever replica it picks this time.
    for push in &pushed {
        sim.stream().redeliver(&push.message_id).expect("redelivered");
    }
    sim.wait_until(WAIT, |r| (r.stream.received.iter().filter(|f| f.is_ack()).count() >= 400).then_some(()))
        .await
        .expect("every delivery acknowledged");
    for replica in replicas {
        replica.finish().await;
    }

    let records = sim.records();
    assert_eq!(records.webhook_posts.len(), 200, "one reply per message, not per delivery or replica");
    let mut sessions: Vec<&str> = records.webhook_posts.iter().map(|p| p.session.as_str()).collect();
    sessions.sort_unstable();
    sessions.dedup();
    assert_eq!(sessions.len(), 200);
    let first: Vec<_> = pushed.iter().filter_map(|p| p.connection).collect();
    assert!(first.iter().any(|c| c.0 == 1) && first.iter().any(|c| c.0 == 2), "spread over both replicas");
    let moved = pushed
        .iter()
        .filter(|p| {
            let sent = records.stream.sent_with(&p.message_id);
            sent.len() == 2 && sent[0].connection != sent[1].connection
        })
        .count();
    assert!(moved > 0, "some redeliveries landed on the other replica");
}

#[tokio::test]
async fn the_sandbox_in_stream_mode_takes_messages_from_the_simulated_gateway() {
    // Markdown answers, so the reply is the session webhook post (interactive cards in the
    // sandbox are the sandbox tests').
    let cards = dingmeet::config::CardsMode::Markdown;
    let options = SandboxOptions { port: Some(0), mode: Mode::Stream, cards, ..SandboxOptions::default() };
    let sandbox = Sandbox::start(options).await.expect("the sandbox starts");
    let sim = Arc::clone(sandbox.simulator().state());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(sandbox.run_until(async {
        let _ = stopped.await;
    }));

    sim.wait_for_connections(1, WAIT).await.expect("the sandbox's bot connects");
    let pushed = MessageBuilder::new(Arc::clone(&sim), "/meeting 123456789").push();
    let session = pushed.callback.as_ref().map(|c| c.session_id.clone()).unwrap_or_default();
    let post = sim
        .wait_until(WAIT, |r| r.webhook_posts.iter().find(|p| p.session == session && p.delivered()).cloned())
        .await
        .expect("answered on the session webhook");

    assert_meeting_card(&post);
    let _ = stop.send(());
    let stopped = tokio::time::timeout(WAIT, running).await.expect("the sandbox stops in time");
    stopped.expect("the sandbox task ends").expect("the sandbox stops cleanly");
}
