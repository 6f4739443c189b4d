//! The simulator's Stream gateway on the wire, pinned to docs/dingtalk-protocol.md §5: the open call, tickets,
//! the frames it pushes and what it makes of the acks, driven by a bare WebSocket client.

use std::time::Duration;

use dingtalk_sim::StreamEvent;
use dingtalk_sim::endpoints::stream_gateway::{CONNECT_PATH, OPEN_PATH};
use dingtalk_sim::records::stream::{Closed, FrameKind};
use dingtalk_sim::state::gateway::BOT_MESSAGE_TOPIC;
use dingtalk_sim::{Scenario, SimClock, Simulator};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{WAIT, http};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn live() -> Simulator {
    Simulator::start(Scenario::builtin().expect("valid")).await.expect("starts")
}

/// The body the official SDKs send (docs/dingtalk-protocol.md §5).
fn open_body(sim: &Simulator) -> Value {
    json!({
        "clientId": sim.client_id(),
        "clientSecret": sim.client_secret(),
        "subscriptions": [
            { "type": "CALLBACK", "topic": BOT_MESSAGE_TOPIC },
            { "type": "EVENT", "topic": "*" },
        ],
        "ua": "dingtalk-sdk-go/v0.9.2",
        "localIp": "10.0.0.5",
        "extras": {},
    })
}

/// Posts `body` to the open call: status, content type, body text.
async fn open_with(sim: &Simulator, body: &Value) -> (u16, String, String) {
    let response =
        http().post(format!("{}{OPEN_PATH}", sim.base_url())).json(body).send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, content_type, response.text().await.expect("a body"))
}

/// A ticket for the scenario's app.
async fn ticket(sim: &Simulator) -> String {
    let (status, _, text) = open_with(sim, &open_body(sim)).await;
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).expect("JSON");
    body["ticket"].as_str().expect("a ticket").to_owned()
}

fn connect_url(sim: &Simulator, ticket: &str) -> String {
    format!("ws://{}{CONNECT_PATH}?ticket={ticket}", sim.addr())
}

async fn upgrade(sim: &Simulator, ticket: &str) -> Result<Ws, tungstenite::Error> {
    tokio_tungstenite::connect_async(connect_url(sim, ticket)).await.map(|(ws, _)| ws)
}

/// A fresh connection, as the bot opens one.
pub(crate) async fn connect(sim: &Simulator) -> Ws {
    let ticket = ticket(sim).await;
    upgrade(sim, &ticket).await.expect("the upgrade succeeds")
}

/// The HTTP status of a refused upgrade.
fn refused_status(result: Result<Ws, tungstenite::Error>) -> u16 {
    match result {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("an HTTP refusal expected, got {other}"),
        Ok(_) => panic!("an HTTP refusal expected, got a connection"),
    }
}

/// The next text frame (pings and pongs skipped).
async fn next_text(ws: &mut Ws) -> String {
    loop {
        let message = tokio::time::timeout(WAIT, ws.next()).await.expect("a frame in time");
        match message.expect("the socket stays open").expect("a frame") {
            Message::Text(text) => return text.as_str().to_owned(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("a text frame expected, got {other:?}"),
        }
    }
}

pub(crate) async fn next_frame(ws: &mut Ws) -> Value {
    let text = next_text(ws).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("a JSON frame ({e}): {text}"))
}

pub(crate) async fn send(ws: &mut Ws, value: &Value) {
    ws.send(Message::Text(value.to_string().into())).await.expect("sent");
}

/// The ack of docs/dingtalk-protocol.md §5.
pub(crate) fn ack(message_id: &str, data: &str) -> Value {
    json!({
        "code": 200,
        "headers": { "contentType": "application/json", "messageId": message_id },
        "message": "OK",
        "data": data,
    })
}

fn keys(value: &Value) -> Vec<&str> {
    value.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default()
}

pub(crate) fn message_id(frame: &Value) -> String {
    frame["headers"]["messageId"].as_str().expect("a messageId").to_owned()
}

// --- Opening a connection -------------------------------------------------------------------------

#[tokio::test]
async fn the_open_call_answers_a_websocket_endpoint_and_a_ticket() {
    let sim = live().await;

    let (status, content_type, text) = open_with(&sim, &open_body(&sim)).await;

    assert_eq!((status, content_type.as_str()), (200, "application/json;charset=utf-8"));
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(keys(&body), ["endpoint", "ticket"], "{text}");
    assert_eq!(body["endpoint"], format!("ws://{}/connect", sim.addr()));
    let ticket = body["ticket"].as_str().expect("a string");
    assert_eq!(ticket.split('-').map(str::len).collect::<Vec<_>>(), [8, 4, 4, 4, 12], "{ticket}");
    let records = sim.stream().records();
    assert_eq!((records.open_requests, records.tickets), (1, vec![ticket.to_owned()]));
}

#[tokio::test]
async fn bad_credentials_answer_401_auth_failed() {
    let sim = live().await;
    let mut wrong_secret = open_body(&sim);
    wrong_secret["clientSecret"] = json!("wrong");
    let mut wrong_id = open_body(&sim);
    wrong_id["clientId"] = json!("dingsomeoneelse");
    let mut missing = open_body(&sim);
    missing.as_object_mut().expect("object").remove("clientSecret");

    for body in [wrong_secret, wrong_id, missing] {
        let (status, _, text) = open_with(&sim, &body).await;
        assert_eq!(status, 401, "{text}");
        assert_eq!(text, r#"{"code":"authFailed","message":"鉴权失败"}"#);
    }
    assert_eq!(sim.stream().records().tickets_issued(), 0);
}

#[tokio::test]
async fn subscriptions_must_be_listed_and_events_must_take_every_topic() {
    let sim = live().await;
    for subscriptions in [
        json!([]),
        json!([{ "type": "EVENT", "topic": "suite_ticket" }]),
        json!([{ "type": "WHATEVER", "topic": "x" }]),
        json!("CALLBACK"),
    ] {
        let mut body = open_body(&sim);
        body["subscriptions"] = subscriptions.clone();
        let (status, _, text) = open_with(&sim, &body).await;
        assert_eq!(status, 400, "{subscriptions}: {text}");
        assert!(text.contains("invalidParameter.subscriptions.invalid"), "{text}");
    }
    let form = http()
        .post(format!("{}{OPEN_PATH}", sim.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("clientId=x")
        .send()
        .await
        .expect("answers");
    assert_eq!(form.status().as_u16(), 400, "JSON only");
    assert_eq!(sim.stream().records().tickets_issued(), 0);
}

#[tokio::test]
async fn a_ticket_opens_one_connection_and_only_once() {
    let sim = live().await;
    let ticket = ticket(&sim).await;

    let first = upgrade(&sim, &ticket).await.expect("the first use connects");
    assert_eq!(refused_status(upgrade(&sim, &ticket).await), 401, "a used ticket");
    assert_eq!(refused_status(upgrade(&sim, "7724109a-0000-0000-0000-000000000000").await), 401, "an unknown one");
    assert_eq!(refused_status(upgrade(&sim, "").await), 401, "none at all");

    let records = sim.wait_for_connections(1, WAIT).await.expect("registered");
    assert_eq!(records.ticket, ticket);
    assert_eq!(records.subscriptions.len(), 2);
    assert_eq!(
        (records.ua.as_deref(), records.local_ip.as_deref()),
        (Some("dingtalk-sdk-go/v0.9.2"), Some("10.0.0.5"))
    );
    let stream = sim.stream().records();
    assert_eq!((stream.connections.len(), stream.upgrades_refused), (1, 3));
    drop(first);
}

#[tokio::test]
async fn a_ticket_expires_after_90_seconds_of_simulator_time() {
    let sim = Simulator::start_with(Scenario::builtin().expect("valid"), SimClock::frozen(1_795_674_600_000))
        .await
        .expect("starts");
    let stale = ticket(&sim).await;
    sim.clock().advance(Duration::from_secs(89));
    let fresh = ticket(&sim).await;
    sim.clock().advance(Duration::from_secs(1));

    assert_eq!(refused_status(upgrade(&sim, &stale).await), 401, "90 s old");
    upgrade(&sim, &fresh).await.expect("1 s old still connects");
}

#[tokio::test]
async fn refused_connections_answer_503_until_accepted_again() {
    let sim = live().await;
    let early = ticket(&sim).await;
    sim.stream().refuse_connections(Duration::from_secs(3600));

    let (status, _, text) = open_with(&sim, &open_body(&sim)).await;
    assert_eq!(status, 503, "{text}");
    assert_eq!(refused_status(upgrade(&sim, &early).await), 503);

    sim.stream().accept_connections();
    upgrade(&sim, &early).await.expect("the ticket was not used up by the refusal");
    let records = sim.stream().records();
    assert_eq!((records.open_requests, records.tickets_issued(), records.upgrades_refused), (2, 1, 1));
}

// --- Frames ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_pushed_message_is_a_callback_frame_with_string_headers_and_the_robot_message_as_data() {
    let sim = live().await;
    let mut ws = connect(&sim).await;
    let connection = sim.wait_for_connections(1, WAIT).await.expect("registered");

    let pushed = sim.message("/meeting 123456789").push();

    let text = next_text(&mut ws).await;
    assert!(text.starts_with(r#"{"specVersion":"1.0","type":"CALLBACK","headers":{"#), "{text}");
    let frame: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(keys(&frame), ["data", "headers", "specVersion", "type"]);
    let headers = frame["headers"].as_object().expect("headers");
    assert_eq!(
        headers.keys().map(String::as_str).collect::<Vec<_>>(),
        ["appId", "connectionId", "contentType", "messageId", "time", "topic"]
    );
    assert!(headers.values().all(Value::is_string), "all strings: {text}");
    assert_eq!(frame["headers"]["topic"], BOT_MESSAGE_TOPIC);
    assert_eq!(frame["headers"]["contentType"], "application/json");
    assert_eq!(frame["headers"]["connectionId"], connection.connection_id.as_str());
    assert_eq!(message_id(&frame), pushed.message_id);
    let time: i64 = frame["headers"]["time"].as_str().and_then(|t| t.parse().ok()).expect("ms as a string");
    assert!((time - sim.clock().now_ms()).abs() < 60_000);
    let data = frame["data"].as_str().expect("data is a string holding JSON");
    let callback = pushed.callback.expect("the built message");
    assert_eq!(data.as_bytes(), callback.body.as_slice());
    let message: Value = serde_json::from_str(data).expect("a robot message");
    assert_eq!(message["msgId"], callback.msg_id.as_str());
    assert_eq!(pushed.connection, Some(connection.id));
}

#[tokio::test]
async fn acks_are_recorded_in_order_and_settle_their_frame() {
    let sim = live().await;
    let mut ws = connect(&sim).await;
    sim.wait_for_connections(1, WAIT).await.expect("registered");

    let pushed = sim.message("help").push();
    let id = message_id(&next_frame(&mut ws).await);
    send(&mut ws, &ack(&id, r#"{"response":null}"#)).await;

    let answer = sim.wait_for_answer(&id, WAIT).await.expect("the ack is recorded");
    assert_eq!(id, pushed.message_id);
    assert!(answer.is_ack() && !answer.lost);
    assert_eq!(answer.answers, Some(FrameKind::Callback));
    assert_eq!((answer.code(), answer.message(), answer.data()), (Some(200), Some("OK"), Some(r#"{"response":null}"#)));
    let records = sim.stream().records();
    assert!(records.sent_with(&id)[0].seq < answer.seq, "numbered from the shared sequence");
}

#[tokio::test]
async fn unacknowledged_frames_are_redelivered_with_the_same_id_after_the_delay() {
    let sim = live().await;
    sim.stream().set_redelivery(Some(Duration::from_millis(100)));
    let mut ws = connect(&sim).await;
    sim.wait_for_connections(1, WAIT).await.expect("registered");

    sim.message("one").push();
    sim.message("two").push();
    let first = next_frame(&mut ws).await;
    let second = next_frame(&mut ws).await;
    send(&mut ws, &ack(&message_id(&first), "")).await;

    let again = next_frame(&mut ws).await;
    assert_eq!(message_id(&again), message_id(&second), "only the unacknowledged one comes back");
    assert_eq!(again["data"], second["data"]);
    send(&mut ws, &ack(&message_id(&again), "")).await;
    // A third, never acknowledged, comes back later than anything already due, so by then
    // any further redelivery of the first two would have shown.
    sim.message("three").push();
    let third = next_frame(&mut ws).await;
    let third_again = next_frame(&mut ws).await;
    assert_eq!(message_id(&third_again), message_id(&third));

    let records = sim.stream().records();
    assert_eq!(records.sent_with(&message_id(&first)).len(), 1);
    let attempts: Vec<u32> = records.sent_with(&message_id(&second)).iter().map(|f| f.attempt).collect();
    assert_eq!(attempts, [0, 1]);
}

#[tokio::test]
async fn lost_acks_are_recorded_but_the_frame_comes_back() {
    let sim = live().await;
    sim.stream().set_redelivery(Some(Duration::from_millis(50)));
    sim.stream().lose_acks(1);
    let mut ws = connect(&sim).await;
    sim.wait_for_connections(1, WAIT).await.expect("registered");

    sim.message("help").push();
    let id = message_id(&next_frame(&mut ws).await);
    send(&mut ws, &ack(&id, "")).await;
    let again = next_frame(&mut ws).await;
    send(&mut ws, &ack(&id, "")).await;

    assert_eq!(message_id(&again), id);
    sim.wait_until(WAIT, |r| (r.stream.answers_to(&id).len() == 2).then_some(())).await.expect("both acks");
    let lost: Vec<bool> = sim.stream().records().answers_to(&id).iter().map(|f| f.lost).collect();
    assert_eq!(lost, [true, false]);
    assert_eq!(sim.stream().redeliver(&id).map(|c| c.0), Some(1), "and a forced redelivery goes out at once");
    assert_eq!(message_id(&next_frame(&mut ws).await), id);
}

#[tokio::test]
async fn ping_is_a_system_frame_whose_answer_is_recorded_as_a_pong() {
    let sim = live().await;
    let mut ws = connect(&sim).await;
    let connection = sim.wait_for_connections(1, WAIT).await.expect("registered");

    let id = sim.stream().send_ping(connection.id).expect("sent");

    let frame = next_frame(&mut ws).await;
    assert_eq!(frame["type"], "SYSTEM");
    assert_eq!(frame["headers"]["topic"], "ping");
    assert_eq!(message_id(&frame), id);
    let data: Value = serde_json::from_str(frame["data"].as_str().expect("a string")).expect("JSON");
    assert_eq!(keys(&data), ["opaque"]);
    send(&mut ws, &ack(&id, frame["data"].as_str().unwrap_or_default())).await;
    let pong = sim.wait_for_answer(&id, WAIT).await.expect("recorded");
    assert_eq!(pong.answers, Some(FrameKind::Ping));
    assert_eq!(pong.data(), frame["data"].as_str());
}

#[tokio::test]
async fn disconnect_stops_deliveries_there_and_closes_the_socket_after_the_grace() {
    let sim = live().await;
    sim.stream().set_disconnect_grace(Duration::from_millis(200));
    let mut ws = connect(&sim).await;
    let connection = sim.wait_for_connections(1, WAIT).await.expect("registered");

    sim.stream().send_disconnect(connection.id).expect("sent");
    let frame = next_frame(&mut ws).await;
    assert_eq!((frame["type"].as_str(), frame["headers"]["topic"].as_str()), (Some("SYSTEM"), Some("disconnect")));
    assert_eq!(frame["data"], r#"{"reason":"connection is expired"}"#);
    let pushed = sim.message("help").push();
    assert_eq!(pushed.connection, None, "a disconnecting socket gets nothing more");

    let closing = tokio::time::timeout(WAIT, ws.next()).await.expect("closed in time");
    assert!(matches!(closing, Some(Ok(Message::Close(_)))), "{closing:?}");
    let closed =
        sim.wait_until(WAIT, |r| r.stream.connection(connection.id).and_then(|c| c.closed)).await.expect("recorded");
    assert_eq!(closed, Closed::AfterDisconnect);

    let mut next = connect(&sim).await;
    assert_eq!(message_id(&next_frame(&mut next).await), pushed.message_id, "the waiting push goes to the next one");
}

#[tokio::test]
async fn a_close_from_the_client_is_answered_with_a_close() {
    let sim = live().await;
    let mut ws = connect(&sim).await;
    let connection = sim.wait_for_connections(1, WAIT).await.expect("registered");

    let bye = CloseFrame { code: CloseCode::Normal, reason: "bye".into() };
    ws.send(Message::Close(Some(bye))).await.expect("sent");

    // RFC 6455 §5.5.1: the endpoint that receives a Close answers with one, echoing the code.
    let answer = tokio::time::timeout(WAIT, ws.next()).await.expect("answered in time");
    assert!(matches!(&answer, Some(Ok(Message::Close(Some(frame)))) if frame.code == CloseCode::Normal), "{answer:?}");
    let closed =
        sim.wait_until(WAIT, |r| r.stream.connection(connection.id).and_then(|c| c.closed)).await.expect("recorded");
    assert_eq!(closed, Closed::ByClient);
}

#[tokio::test]
async fn an_event_ack_without_a_status_settles_it_and_later_does_not() {
    let sim = live().await;
    let mut ws = connect(&sim).await;
    let echoed = sim.stream().push_event(StreamEvent::new("user_add_org", "dingorg1", json!({ "userId": ["u1"] })));
    let later = sim.stream().push_event(StreamEvent::new("user_add_org", "dingorg1", json!({ "userId": ["u2"] })));
    let first = next_frame(&mut ws).await;
    next_frame(&mut ws).await;

    // What the official Python SDK sends: code 200 and the event's own data, no status.
    send(&mut ws, &ack(&echoed.message_id, first["data"].as_str().expect("data"))).await;
    send(&mut ws, &ack(&later.message_id, r#"{"status":"LATER","message":"later"}"#)).await;
    sim.wait_until(WAIT, |r| (r.stream.answers_to(&later.message_id).len() == 1).then_some(())).await.expect("acked");

    assert_eq!(sim.stream().awaiting_ack(), std::slice::from_ref(&later.message_id));
}

#[tokio::test]
async fn events_are_event_frames_and_later_asks_for_them_again() {
    let sim = live().await;
    sim.stream().set_redelivery(Some(Duration::from_millis(50)));
    let mut ws = connect(&sim).await;
    sim.wait_for_connections(1, WAIT).await.expect("registered");

    let pushed = sim.stream().push_event(StreamEvent::suite_ticket("dingorg1", "ticket-1"));

    let frame = next_frame(&mut ws).await;
    assert_eq!(frame["type"], "EVENT");
    let headers = frame["headers"].as_object().expect("headers");
    assert!(headers.values().all(Value::is_string));
    for name in ["eventBornTime", "eventCorpId", "eventId", "eventType", "eventUnifiedAppId", "messageId", "topic"] {
        assert!(headers.contains_key(name), "{name} in {frame}");
    }
    assert_eq!(
        (headers["eventType"].as_str(), headers["eventCorpId"].as_str()),
        (Some("suite_ticket"), Some("dingorg1"))
    );
    assert_eq!(headers["topic"], "*");
    assert_eq!(frame["data"], r#"{"suiteTicket":"ticket-1"}"#);
    send(&mut ws, &ack(&pushed.message_id, r#"{"status":"LATER","message":"later"}"#)).await;

    let again = next_frame(&mut ws).await;
    assert_eq!(message_id(&again), pushed.message_id);
    send(&mut ws, &ack(&pushed.message_id, r#"{"status":"SUCCESS","message":"success"}"#)).await;
    let answers = sim
        .wait_until(WAIT, |r| {
            let answers = r.stream.answers_to(&pushed.message_id);
            (answers.len() == 2).then(|| answers.iter().map(|a| a.data_json()).collect::<Vec<_>>())
        })
        .await
        .expect("both answers");
    assert_eq!(answers[1], Some(json!({"status":"SUCCESS","message":"success"})));
}

#[tokio::test]
async fn each_push_goes_to_exactly_one_of_several_connections() {
    let sim = live().await;
    let mut sockets = Vec::new();
    for n in 1..=3 {
        sockets.push(connect(&sim).await);
        let record = sim.wait_for_connections(n, WAIT).await.expect("registered");
        assert_eq!(record.id.0, n as u64);
    }

    let pushed: Vec<_> = (0..60).map(|n| sim.message(format!("help {n}")).push()).collect();

    let records = sim.stream().records();
    for push in &pushed {
        assert_eq!(records.sent_with(&push.message_id).len(), 1, "{}", push.message_id);
    }
    for (index, socket) in sockets.iter_mut().enumerate() {
        let mine: Vec<&str> = pushed
            .iter()
            .filter(|p| p.connection.map(|c| c.0) == Some(index as u64 + 1))
            .map(|p| p.message_id.as_str())
            .collect();
        assert!(!mine.is_empty() && mine.len() < 60, "spread at random: connection {} got {}", index + 1, mine.len());
        for expected in mine {
            assert_eq!(message_id(&next_frame(socket).await), expected);
        }
    }
}

#[tokio::test]
async fn a_push_with_no_connection_waits_for_the_next_one() {
    let sim = live().await;

    let pushed = sim.message("help").push();
    assert_eq!(pushed.connection, None);
    let mut ws = connect(&sim).await;

    assert_eq!(message_id(&next_frame(&mut ws).await), pushed.message_id);
}

#[tokio::test]
async fn raw_frames_go_out_as_given_and_client_pings_are_counted() {
    let sim = live().await;
    let mut ws = connect(&sim).await;
    let connection = sim.wait_for_connections(1, WAIT).await.expect("registered");

    assert!(sim.stream().send_raw(connection.id, "not json"));
    assert_eq!(next_text(&mut ws).await, "not json");
    ws.send(Message::Ping(b"x".to_vec().into())).await.expect("sent");
    let pong = tokio::time::timeout(WAIT, ws.next()).await.expect("in time");
    assert!(matches!(pong, Some(Ok(Message::Pong(_)))), "{pong:?}");
    let pings =
        sim.wait_until(WAIT, |r| r.stream.connection(connection.id).map(|c| c.ws_pings).filter(|n| *n > 0)).await;
    assert_eq!(pings.expect("counted"), 1);
}

#[tokio::test]
async fn a_dropped_connection_ends_without_a_close_frame_and_a_silenced_one_takes_nothing() {
    let sim = live().await;
    let mut dropped = connect(&sim).await;
    let first = sim.wait_for_connections(1, WAIT).await.expect("registered");
    let _silenced = connect(&sim).await;
    let second = sim.wait_for_connections(2, WAIT).await.expect("registered");

    sim.stream().drop_connection(first.id);
    let end = tokio::time::timeout(WAIT, dropped.next()).await.expect("ends in time");
    assert!(!matches!(end, Some(Ok(Message::Close(_)))), "no close frame: {end:?}");
    sim.stream().silence_connection(second.id);

    let closed =
        sim.wait_until(WAIT, |r| r.stream.connection(first.id).and_then(|c| c.closed)).await.expect("recorded");
    assert_eq!(closed, Closed::Dropped);
    assert!(sim.stream().live_connections().is_empty());
    assert_eq!(sim.message("help").push().connection, None, "a silent connection takes nothing");
}
