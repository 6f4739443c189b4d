//! The DingTalk simulator on its own, for clients written in other languages: it serves the
//! simulated DingTalk on one loopback port and, on a second one, HTTP controls that do what the
//! Rust tests do through `SimState` (push robot messages and events down the Stream gateway, send
//! `ping`, `disconnect` and Close frames, read back acks, connections and replies, move a meeting
//! and the clock; the meeting events' controls are `dingtalk_sim::controls::events`). The SDK contract suite (`tests/sdk`) drives DingTalk's official Python SDKs
//! against it.
//!
//! ```text
//! $ cargo run -p dingtalk-sim -- [--scenario PATH]
//! simulator http://127.0.0.1:PORT      <- the two lines it prints, then it serves until killed
//! controls http://127.0.0.1:PORT
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dingtalk_sim::StreamEvent;
use dingtalk_sim::records::stream::{Closed, ConnectionId};
use dingtalk_sim::sender::Format;
use dingtalk_sim::{MessageBuilder, Scenario, SimClock, SimState, Simulator};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The longest a control waits for something to be recorded.
const MAX_WAIT: Duration = Duration::from_secs(30);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut scenario = None;
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--scenario", Some(path)) => scenario = Some(path),
            _ => return Err("usage: dingtalk-sim [--scenario PATH]".into()),
        }
    }
    let scenario = match scenario {
        Some(path) => Scenario::from_path(std::path::Path::new(&path))?,
        None => Scenario::builtin()?,
    };
    let sim = Simulator::start_with(scenario, SimClock::real()).await?;
    let controls = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    println!("simulator {}", sim.base_url());
    println!("controls http://{}", controls.local_addr()?);
    let router = routes().with_state(Arc::clone(sim.state()));
    axum::serve(controls, router).await?;
    sim.stop().await;
    Ok(())
}

fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/app", get(app))
        .route("/stream/robot-message", post(robot_message))
        .route("/stream/event", post(event))
        .route("/stream/ping", post(ping))
        .route("/stream/disconnect", post(disconnect))
        .route("/stream/close", post(close))
        .route("/stream/answers", get(answers))
        .route("/stream/sent", get(sent))
        .route("/stream/connections", get(connections))
        .route("/stream/awaiting-ack", get(awaiting_ack))
        .route("/webhook-posts", get(webhook_posts))
        .route("/openapi-sends", get(openapi_sends))
        .route("/meetings/move", post(move_meeting))
        .route("/clock", get(clock).post(advance_clock))
        .merge(dingtalk_sim::controls::events::routes())
}

fn bad(message: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message.into() }))).into_response()
}

/// The app and chat the scenario sets up.
async fn app(State(state): State<Arc<SimState>>) -> Json<Value> {
    let scenario = state.scenario();
    Json(json!({
        "clientId": state.client_id(),
        "clientSecret": state.client_secret(),
        "corpId": state.home_corp(),
        "baseUrl": state.base_url(),
        "groupConversationId": scenario.chat.group_conversation_id,
        "singleConversationId": scenario.chat.single_conversation_id,
        "senderStaffId": scenario.chat.sender_staff_id,
    }))
}

#[derive(Deserialize)]
struct RobotMessage {
    text: String,
    /// `group` (default) or `single`.
    #[serde(default)]
    chat: Option<String>,
    /// `text` (default), `richText` or `harmonyRichText`.
    #[serde(default)]
    format: Option<String>,
    /// Staff ids of other people the message @-mentions.
    #[serde(default)]
    mentioning: Vec<String>,
}

/// Pushes a robot message as a `CALLBACK` frame; answers its `messageId`, body and session.
async fn robot_message(State(state): State<Arc<SimState>>, Json(request): Json<RobotMessage>) -> Response {
    let mut builder = MessageBuilder::new(Arc::clone(&state), request.text);
    builder = match request.chat.as_deref() {
        None | Some("group") => builder.group(),
        Some("single") => builder.single(),
        Some(other) => return bad(format!("chat {other:?}: group or single")),
    };
    builder = match request.format.as_deref() {
        None | Some("text") => builder.format(Format::Text),
        Some("richText") => builder.format(Format::RichText),
        Some("harmonyRichText") => builder.format(Format::HarmonyRichText),
        Some(other) => return bad(format!("format {other:?}: text, richText or harmonyRichText")),
    };
    for staff_id in &request.mentioning {
        builder = builder.mentioning(staff_id);
    }
    let pushed = builder.push();
    let callback = pushed.callback.as_ref();
    Json(json!({
        "messageId": pushed.message_id,
        "body": callback.and_then(|c| c.json()),
        "sessionId": callback.map(|c| c.session_id.clone()),
    }))
    .into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    event_type: String,
    #[serde(default)]
    corp_id: Option<String>,
    data: Value,
}

/// Pushes an `EVENT` frame; answers its `messageId`.
async fn event(State(state): State<Arc<SimState>>, Json(request): Json<Event>) -> Json<Value> {
    let corp = request.corp_id.unwrap_or_else(|| state.home_corp().to_owned());
    let pushed = state.stream().push_event(StreamEvent::new(&request.event_type, &corp, request.data));
    Json(json!({ "messageId": pushed.message_id }))
}

/// The live connection a system frame goes to: the newest.
fn newest_live(state: &SimState) -> Option<ConnectionId> {
    state.stream().live_connections().into_iter().max()
}

async fn ping(State(state): State<Arc<SimState>>) -> Response {
    match newest_live(&state).and_then(|id| state.stream().send_ping(id)) {
        Some(message_id) => Json(json!({ "messageId": message_id })).into_response(),
        None => bad("no live connection"),
    }
}

async fn disconnect(State(state): State<Arc<SimState>>) -> Response {
    match newest_live(&state).and_then(|id| state.stream().send_disconnect(id)) {
        Some(message_id) => Json(json!({ "messageId": message_id })).into_response(),
        None => bad("no live connection"),
    }
}

/// Sends a Close frame on the newest live connection.
async fn close(State(state): State<Arc<SimState>>) -> Response {
    match newest_live(&state) {
        Some(id) if state.stream().close_connection(id) => Json(json!({ "connection": id.0 })).into_response(),
        _ => bad("no live connection"),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ForMessage {
    message_id: String,
    /// Wait until this many are recorded (default 1; 0 answers at once).
    #[serde(default)]
    count: Option<usize>,
}

/// The frames the client sent naming `messageId` (acks, pongs), once `count` have arrived.
async fn answers(State(state): State<Arc<SimState>>, Query(query): Query<ForMessage>) -> Response {
    let count = query.count.unwrap_or(1);
    let found = state
        .wait_until(MAX_WAIT, |records| {
            let answers = records.stream.answers_to(&query.message_id);
            (answers.len() >= count).then(|| {
                answers.iter().map(|f| json!({ "connection": f.connection.0, "frame": f.json })).collect::<Vec<_>>()
            })
        })
        .await;
    match found {
        Ok(list) => Json(Value::from(list)).into_response(),
        Err(_) => (StatusCode::GATEWAY_TIMEOUT, Json(json!({ "error": "not answered in time" }))).into_response(),
    }
}

/// Every time the frame `messageId` was sent (first delivery and redeliveries).
async fn sent(State(state): State<Arc<SimState>>, Query(query): Query<ForMessage>) -> Response {
    let count = query.count.unwrap_or(1);
    let found = state
        .wait_until(MAX_WAIT, |records| {
            let sent = records.stream.sent_with(&query.message_id);
            (sent.len() >= count).then(|| {
                sent.iter()
                    .map(|f| json!({ "connection": f.connection.0, "attempt": f.attempt, "text": f.text }))
                    .collect::<Vec<_>>()
            })
        })
        .await;
    match found {
        Ok(list) => Json(Value::from(list)).into_response(),
        Err(_) => (StatusCode::GATEWAY_TIMEOUT, Json(json!({ "error": "not sent in time" }))).into_response(),
    }
}

/// The frames sent and not settled by an ack yet (they will be pushed again).
async fn awaiting_ack(State(state): State<Arc<SimState>>) -> Json<Value> {
    Json(json!({ "messageIds": state.stream().awaiting_ack() }))
}

#[derive(Deserialize)]
struct AtLeast {
    /// Wait until this many connections have been opened in all (default 0: answer at once).
    #[serde(default)]
    opened: Option<usize>,
    /// Wait until this many have ended in all.
    #[serde(default)]
    closed: Option<usize>,
}

fn closed_name(closed: Closed) -> &'static str {
    match closed {
        Closed::ByClient => "byClient",
        Closed::ByServer => "byServer",
        Closed::Dropped => "dropped",
        Closed::AfterDisconnect => "afterDisconnect",
    }
}

/// The connections opened so far and how each ended, once `opened` and `closed` are reached.
async fn connections(State(state): State<Arc<SimState>>, Query(query): Query<AtLeast>) -> Response {
    let (opened, closed) = (query.opened.unwrap_or(0), query.closed.unwrap_or(0));
    let found = state
        .wait_until(MAX_WAIT, |records| {
            let all = &records.stream.connections;
            let ended = all.iter().filter(|c| c.closed.is_some()).count();
            (all.len() >= opened && ended >= closed).then(|| {
                let list: Vec<Value> = all
                    .iter()
                    .map(|c| {
                        json!({
                            "id": c.id.0,
                            "ua": c.ua,
                            "subscriptions": c.subscriptions,
                            "closed": c.closed.map(closed_name),
                            "wsPings": c.ws_pings,
                        })
                    })
                    .collect();
                json!({ "tickets": records.stream.tickets_issued(), "connections": list })
            })
        })
        .await;
    match found {
        Ok(value) => Json(value).into_response(),
        Err(_) => (StatusCode::GATEWAY_TIMEOUT, Json(json!({ "error": "not reached in time" }))).into_response(),
    }
}

#[derive(Deserialize)]
struct Session {
    session: String,
}

/// The posts on a session webhook, once one has arrived.
async fn webhook_posts(State(state): State<Arc<SimState>>, Query(query): Query<Session>) -> Response {
    let found = state
        .wait_until(MAX_WAIT, |records| {
            let posts: Vec<Value> = records
                .webhook_posts
                .iter()
                .filter(|p| p.session == query.session)
                .map(|p| json!({ "body": p.body, "errcode": p.errcode, "errmsg": p.errmsg }))
                .collect();
            (!posts.is_empty()).then_some(posts)
        })
        .await;
    match found {
        Ok(list) => Json(Value::from(list)).into_response(),
        Err(_) => (StatusCode::GATEWAY_TIMEOUT, Json(json!({ "error": "no post in time" }))).into_response(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Move {
    code: String,
    conference_id: String,
    /// `cancel`, `reschedule` (with `startMs`), `start` or `end`.
    action: String,
    #[serde(default)]
    start_ms: Option<i64>,
}

/// Moves a meeting as its organiser would: the next lookup of the code answers the change.
async fn move_meeting(State(state): State<Arc<SimState>>, Json(request): Json<Move>) -> Response {
    let Move { code, conference_id, action, start_ms } = request;
    let moved = match (action.as_str(), start_ms) {
        ("cancel", _) => state.meetings().cancel_meeting(&code, &conference_id),
        ("reschedule", Some(start)) => state.meetings().reschedule_meeting(&code, &conference_id, start),
        ("reschedule", None) => return bad("reschedule needs startMs"),
        ("start", _) => state.meetings().start_meeting(&code, &conference_id),
        ("end", _) => state.meetings().end_meeting(&code, &conference_id),
        _ => return bad("action is cancel, reschedule, start or end"),
    };
    if !moved {
        return bad(format!("code {code} has no meeting with conferenceId {conference_id} in the scenario"));
    }
    Json(json!({ "moved": true })).into_response()
}

/// The simulator's clock (ms).
async fn clock(State(state): State<Arc<SimState>>) -> Json<Value> {
    Json(json!({ "nowMs": state.clock().now_ms() }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Advance {
    secs: u64,
}

/// Moves the simulator's clock ahead.
async fn advance_clock(State(state): State<Arc<SimState>>, Json(request): Json<Advance>) -> Json<Value> {
    state.clock().advance(Duration::from_secs(request.secs));
    Json(json!({ "nowMs": state.clock().now_ms() }))
}

/// Every robot OpenAPI send so far.
async fn openapi_sends(State(state): State<Arc<SimState>>) -> Json<Value> {
    let sends: Vec<Value> = state
        .records()
        .openapi_sends
        .iter()
        .map(|s| json!({ "body": s.body, "status": s.status, "errorCode": s.error_code }))
        .collect();
    Json(Value::from(sends))
}
