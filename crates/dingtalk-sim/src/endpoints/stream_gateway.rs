//! The Stream gateway (docs/dingtalk-protocol.md §5): `POST /v1.0/gateway/connections/open` checks the app's
//! credentials and subscriptions and hands out `{"endpoint":"ws://127.0.0.1:PORT/connect",
//! "ticket":"…"}` (single use, 90 s of simulator time); `GET /connect?ticket=…` upgrades to the
//! WebSocket on which the simulator pushes `CALLBACK`, `EVENT` and `SYSTEM` frames and records
//! every frame the client sends back.
//!
//! Tests drive it through [`SimState::stream`]: push robot messages ([`crate::MessageBuilder::push`]) and events,
//! send `ping` and `disconnect`, drop or silence a connection, refuse (or stall) connections for
//! a while, lose acks, and redeliver unacknowledged frames after a configurable delay (DingTalk:
//! ~60 s).
//! Each pushed frame goes to one live connection subscribed to its topic, chosen at random as
//! DingTalk does; with none, it waits for the next connection. What was sent and received is in
//! [`crate::records::stream::StreamRecords`], numbered from the same `seq` as webhook posts.
//!
//! The gateway is always part of [`crate::endpoints::router`], so running the bot in stream mode against
//! the simulator (the sandbox, or by hand) needs only the simulator's `bot_env()` plus
//! `DINGMEET_MODE=stream`: `DINGMEET_API_BASE` already points at the simulator, whose open call
//! answers with its own `ws://` endpoint.
//!
//! Where DingTalk's behaviour is not documented the simulator picks something plausible and says
//! so: a refused upgrade is an HTTP error in the new-style envelope, a gateway outage is `503`.
//! An event's ack settles it with code 200 and `data.status` `SUCCESS`, and asks for it again
//! with `LATER`, as the protocol notes say (the Java and Node SDKs send one of the two); with no
//! status at all, which is what the official Python SDK's `EventHandler` sends (it echoes the
//! event's data), it is settled too: `LATER` is the only documented way to ask again, and a
//! Python-SDK app would otherwise have every event pushed again.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::answer::{self, secret_matches};
use super::new_style::{self, Refusal, json_fields};
use crate::ids::uuid;
use crate::records::stream::{Closed, Subscription};
use crate::state::SimState;
use crate::state::gateway::{Command, EVENT_TOPIC, Ticket, refusing};

/// The open-connection call.
pub const OPEN_PATH: &str = "/v1.0/gateway/connections/open";
/// Where the WebSocket is.
pub const CONNECT_PATH: &str = "/connect";
/// How long a ticket stays usable, in simulator milliseconds.
pub const TICKET_LIFETIME_MS: i64 = 90_000;
/// How long a server-side close waits for the client's answering Close.
pub const CLOSE_ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

pub(crate) fn routes() -> Router<Arc<SimState>> {
    Router::new().route(OPEN_PATH, post(open)).route(CONNECT_PATH, get(connect))
}

#[derive(Serialize)]
struct OpenAnswer {
    endpoint: String,
    ticket: String,
}

/// The answer to bad or missing credentials, as reported (docs/dingtalk-protocol.md §5).
#[derive(Serialize)]
struct AuthFailed {
    code: &'static str,
    message: &'static str,
}

fn unavailable() -> Response {
    new_style::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        "The request has failed due to a temporary failure of the server.",
    )
}

/// The subscriptions, if every entry is a `{type, topic}` the gateway knows (`EVENT` only `*`).
fn subscriptions(value: Option<&Value>) -> Option<Vec<Subscription>> {
    let list: Vec<Subscription> = serde_json::from_value(value?.clone()).ok()?;
    let valid = !list.is_empty()
        && list.iter().all(|s| match s.kind.as_str() {
            "CALLBACK" | "SYSTEM" => !s.topic.is_empty(),
            "EVENT" => s.topic == EVENT_TOPIC,
            _ => false,
        });
    valid.then_some(list)
}

async fn open(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    let refused = state.stream().with_gateway(|g, records, _| {
        records.open_requests += 1;
        refusing(g.refuse_opens_until)
    });
    if refused {
        return unavailable();
    }
    let fields = match json_fields(&headers, &body) {
        Ok(fields) => fields,
        Err(refusal) => return refusal.into_response(),
    };
    let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
    let app = &state.scenario().app;
    let id_ok = text("clientId").is_some_and(|id| id == app.client_id);
    let secret_ok = text("clientSecret").is_some_and(|secret| secret_matches(&secret, &app.client_secret));
    if !(id_ok && secret_ok) {
        return answer::json(StatusCode::UNAUTHORIZED, &AuthFailed { code: "authFailed", message: "鉴权失败" });
    }
    let Some(subscriptions) = subscriptions(fields.get("subscriptions")) else {
        return Refusal::invalid_parameter("subscriptions").into_response();
    };
    let ticket = uuid();
    let details = Ticket {
        expires_ms: state.clock().now_ms().saturating_add(TICKET_LIFETIME_MS),
        subscriptions,
        ua: text("ua"),
        local_ip: text("localIp"),
    };
    state.stream().with_gateway(|g, records, _| {
        g.tickets.insert(ticket.clone(), details);
        records.tickets.push(ticket.clone());
    });
    let endpoint = format!("{}{CONNECT_PATH}", state.base_url().replacen("http", "ws", 1));
    answer::json(StatusCode::OK, &OpenAnswer { endpoint, ticket })
}

/// Why an upgrade was refused.
enum UpgradeRefusal {
    Unavailable,
    NotAnUpgrade,
    BadTicket,
}

async fn connect(
    State(state): State<Arc<SimState>>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let stall = state.stream().read_gateway(|g, _| g.stall_upgrades_until.filter(|until| Instant::now() < *until));
    if let Some(until) = stall {
        tokio::time::sleep_until(until).await;
        state.stream().with_gateway(|_, records, _| records.upgrades_refused += 1);
        return unavailable();
    }
    let now = state.clock().now_ms();
    let ticket = query.get("ticket").cloned().unwrap_or_default();
    // Refusals first, then the upgrade headers, and only then is the ticket used up.
    let outcome = state.stream().with_gateway(|g, records, _| {
        let refusal = if refusing(g.refuse_upgrades_until) {
            UpgradeRefusal::Unavailable
        } else if upgrade.is_err() {
            UpgradeRefusal::NotAnUpgrade
        } else {
            match g.tickets.remove(&ticket) {
                Some(details) if now < details.expires_ms => return Ok(details),
                _ => UpgradeRefusal::BadTicket,
            }
        };
        records.upgrades_refused += 1;
        Err(refusal)
    });
    let (details, upgrade) = match (outcome, upgrade) {
        (Ok(details), Ok(upgrade)) => (details, upgrade),
        (Err(UpgradeRefusal::Unavailable), _) => return unavailable(),
        (Err(UpgradeRefusal::BadTicket), _) => {
            return new_style::error(StatusCode::UNAUTHORIZED, "invalidTicket", "ticket 无效或已过期");
        }
        (_, Err(rejection)) => return rejection.into_response(),
        (Err(UpgradeRefusal::NotAnUpgrade), Ok(_)) => return StatusCode::BAD_REQUEST.into_response(),
    };
    upgrade.on_upgrade(move |socket| run_connection(state, ticket, details, socket))
}

/// One connection: writes what the tests send, records what the client sends, closes when told,
/// and redelivers overdue frames (to whichever connection is picked).
async fn run_connection(state: Arc<SimState>, ticket: String, details: Ticket, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (id, mut wake) = state.stream().register_connection(ticket, details, tx);
    let mut close_at: Option<Instant> = None;
    let how = loop {
        wake.borrow_and_update();
        let due = state.stream().read_gateway(|g, _| g.next_due());
        tokio::select! {
            command = rx.recv() => match command {
                None | Some(Command::Drop) => break Closed::Dropped,
                Some(Command::Text(text)) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break Closed::ByClient;
                    }
                }
                Some(Command::Binary(bytes)) => {
                    if socket.send(Message::Binary(bytes.into())).await.is_err() {
                        break Closed::ByClient;
                    }
                }
                Some(Command::Close) => {
                    close(&mut socket).await;
                    break Closed::ByServer;
                }
                Some(Command::Silence) => break silent(&mut rx).await,
                Some(Command::CloseAfter(grace)) => close_at = Some(Instant::now() + grace),
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) => break Closed::ByClient,
                Some(Ok(Message::Close(_))) => {
                    // The answering Close (RFC 6455 §5.5.1): the library has queued the echo of
                    // the client's code and sends it on the next read, which then ends the
                    // connection. Without it a client waits out its close timeout and takes the
                    // failed-connection path (the Python SDK then sleeps 10 s to reconnect).
                    let _ = socket.recv().await;
                    break Closed::ByClient;
                }
                Some(Ok(Message::Text(text))) => state.stream().record_received(id, text.as_str().to_owned()),
                Some(Ok(Message::Binary(bytes))) => state.stream().record_received(id, String::from_utf8_lossy(&bytes).into_owned()),
                // axum answers pings by itself; the count shows the client checks liveness.
                Some(Ok(Message::Ping(_))) => state.stream().count_ws_ping(id),
                Some(Ok(Message::Pong(_))) => {}
            },
            () = sleep_until(close_at) => {
                close(&mut socket).await;
                break Closed::AfterDisconnect;
            }
            () = sleep_until(due) => state.stream().redeliver_due(),
            _ = wake.changed() => {}
        }
    };
    state.stream().unregister_connection(id, how);
}

/// Closes from the server's side: a Close frame, then the client's answering Close (what it
/// sends in the meantime is dropped), for at most [`CLOSE_ANSWER_WAIT`], before the TCP
/// connection ends, as RFC 6455 §7.1.1 has the server end it last.
async fn close(socket: &mut WebSocket) {
    if socket.send(Message::Close(None)).await.is_err() {
        return;
    }
    let answered = async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_ANSWER_WAIT, answered).await;
}

/// A silenced connection: reads nothing, writes nothing, until dropped or closed.
async fn silent(rx: &mut mpsc::UnboundedReceiver<Command>) -> Closed {
    loop {
        match rx.recv().await {
            None | Some(Command::Drop) => return Closed::Dropped,
            Some(Command::Close) => return Closed::ByServer,
            Some(_) => {}
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::gateway::BOT_MESSAGE_TOPIC;

    #[test]
    fn subscriptions_must_name_known_types_and_event_only_star() {
        let ok = serde_json::json!([{"type":"CALLBACK","topic":BOT_MESSAGE_TOPIC},{"type":"EVENT","topic":"*"}]);
        assert_eq!(subscriptions(Some(&ok)).map(|s| s.len()), Some(2));
        for bad in [
            serde_json::json!([]),
            serde_json::json!([{"type":"EVENT","topic":"suite_ticket"}]),
            serde_json::json!([{"type":"OTHER","topic":"x"}]),
            serde_json::json!([{"type":"CALLBACK"}]),
            serde_json::json!("CALLBACK"),
        ] {
            assert_eq!(subscriptions(Some(&bad)), None, "{bad}");
        }
        assert_eq!(subscriptions(None), None);
    }
}
