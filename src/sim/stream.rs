//! The Stream gateway (protocol §5): `POST /v1.0/gateway/connections/open` checks the app's
//! credentials and subscriptions and hands out `{"endpoint":"ws://127.0.0.1:PORT/connect",
//! "ticket":"…"}` (single use, 90 s of simulator time); `GET /connect?ticket=…` upgrades to the
//! WebSocket on which the simulator pushes `CALLBACK`, `EVENT` and `SYSTEM` frames and records
//! every frame the client sends back.
//!
//! Tests drive it through [`SimState`]: push robot messages ([`super::MessageBuilder::push`]) and events,
//! send `ping` and `disconnect`, drop or silence a connection, refuse (or stall) connections for
//! a while, lose acks, and redeliver unacknowledged frames after a configurable delay (DingTalk:
//! ~60 s).
//! Each pushed frame goes to one live connection subscribed to its topic, chosen at random as
//! DingTalk does; with none, it waits for the next connection. What was sent and received is in
//! [`StreamRecords`], numbered from the same `seq` as webhook posts.
//!
//! The gateway is always part of [`super::router`], so running the bot in stream mode against
//! the simulator (the sandbox, or by hand) needs only the simulator's `bot_env()` plus
//! `DINGMEET_MODE=stream`: `DINGMEET_API_BASE` already points at the simulator, whose open call
//! answers with its own `ws://` endpoint.
//!
//! Where DingTalk's behaviour is not documented the simulator picks something plausible and says
//! so: a refused upgrade is an HTTP error in the new-style envelope, a gateway outage is `503`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::oauth::{json_fields, secret_matches};
use super::sender::Callback;
use super::state::{SimState, WaitTimeout};
use super::wire::{self, Refusal};

/// The open-connection call.
pub const OPEN_PATH: &str = "/v1.0/gateway/connections/open";
/// Where the WebSocket is.
pub const CONNECT_PATH: &str = "/connect";
/// The robot message topic.
pub const BOT_MESSAGE_TOPIC: &str = "/v1.0/im/bot/messages/get";
/// The only topic an `EVENT` subscription may name.
pub const EVENT_TOPIC: &str = "*";
/// How long a ticket stays usable, in simulator milliseconds.
pub const TICKET_LIFETIME_MS: i64 = 90_000;
/// DingTalk re-pushes an unacknowledged callback after about a minute.
pub const DEFAULT_REDELIVERY: Duration = Duration::from_secs(60);
/// DingTalk closes a socket about ten seconds after its `disconnect` frame.
pub const DEFAULT_DISCONNECT_GRACE: Duration = Duration::from_secs(10);
/// A frame is redelivered at most this many times.
pub const MAX_REDELIVERIES: u32 = 5;

/// One WebSocket connection the simulator accepted, numbered 1, 2, … in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One entry of the open call's `subscriptions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// `CALLBACK`, `EVENT` or `SYSTEM`.
    #[serde(rename = "type")]
    pub kind: String,
    pub topic: String,
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The client closed it, or it failed on the client's side.
    ByClient,
    /// The simulator sent a close frame ([`SimState::close_connection`]).
    ByServer,
    /// The simulator dropped the TCP connection without a close frame.
    Dropped,
    /// The simulator closed it, the grace period after its `disconnect` frame having passed.
    AfterDisconnect,
}

/// A connection: what it asked for and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionRecord {
    pub id: ConnectionId,
    /// The `connectionId` header of the frames sent on it.
    pub connection_id: String,
    /// The ticket it was opened with.
    pub ticket: String,
    pub subscriptions: Vec<Subscription>,
    /// The open call's `ua` and `localIp`.
    pub ua: Option<String>,
    pub local_ip: Option<String>,
    pub opened_seq: u64,
    pub closed_seq: Option<u64>,
    pub closed: Option<Closed>,
    /// A `disconnect` frame was sent: nothing more is delivered to it.
    pub draining: bool,
    /// It stopped reading and answering ([`SimState::silence_connection`]).
    pub silent: bool,
    /// WebSocket-level pings received from the client.
    pub ws_pings: usize,
}

impl ConnectionRecord {
    pub fn is_open(&self) -> bool {
        self.closed_seq.is_none()
    }
}

/// What a frame the simulator sent was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// `CALLBACK` (robot messages).
    Callback,
    /// `EVENT`.
    Event,
    /// `SYSTEM` `ping`.
    Ping,
    /// `SYSTEM` `disconnect`.
    Disconnect,
    /// Any text or binary, as given ([`SimState::send_raw`]).
    Raw,
}

/// A frame the simulator sent.
#[derive(Debug, Clone, PartialEq)]
pub struct SentFrame {
    pub seq: u64,
    pub connection: ConnectionId,
    pub kind: FrameKind,
    /// `headers.messageId` (none for raw frames).
    pub message_id: Option<String>,
    /// 0 for the first delivery, then 1, 2, … for redeliveries.
    pub attempt: u32,
    /// The frame as sent.
    pub text: String,
}

impl SentFrame {
    /// The frame as JSON, when it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.text).ok()
    }
}

/// A frame the client sent (acks, pongs, anything else).
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedFrame {
    pub seq: u64,
    pub connection: ConnectionId,
    /// Simulator time it arrived.
    pub at_ms: i64,
    pub text: String,
    /// The frame as JSON, when it is JSON.
    pub json: Option<Value>,
    /// What its `headers.messageId` names: the kind of frame it answers, if the simulator sent it.
    pub answers: Option<FrameKind>,
    /// Dropped on purpose ([`SimState::lose_acks`]): recorded, but the gateway acts as if it
    /// never arrived.
    pub lost: bool,
}

impl ReceivedFrame {
    fn field(&self, name: &str) -> Option<&Value> {
        self.json.as_ref()?.get(name)
    }

    /// `code` (200 OK).
    pub fn code(&self) -> Option<i64> {
        self.field("code")?.as_i64()
    }

    /// `headers.messageId`.
    pub fn message_id(&self) -> Option<&str> {
        self.field("headers")?.get("messageId")?.as_str()
    }

    /// `message`.
    pub fn message(&self) -> Option<&str> {
        self.field("message")?.as_str()
    }

    /// `data`, a string on the wire.
    pub fn data(&self) -> Option<&str> {
        self.field("data")?.as_str()
    }

    /// `data` decoded, when it holds JSON.
    pub fn data_json(&self) -> Option<Value> {
        serde_json::from_str(self.data()?).ok()
    }

    /// An acknowledgement: code 200 and a `messageId` the gateway sent.
    pub fn is_ack(&self) -> bool {
        self.code() == Some(200) && self.answers.is_some()
    }
}

/// What the gateway saw, in order.
#[derive(Debug, Clone, Default)]
pub struct StreamRecords {
    /// Calls to the open-connection endpoint, whatever the answer.
    pub open_requests: usize,
    /// Tickets handed out, in order.
    pub tickets: Vec<String>,
    /// Upgrade requests refused (bad ticket, or refusing for a while).
    pub upgrades_refused: usize,
    /// Every connection, in the order it opened.
    pub connections: Vec<ConnectionRecord>,
    /// Every frame sent.
    pub sent: Vec<SentFrame>,
    /// Every text or binary frame received.
    pub received: Vec<ReceivedFrame>,
}

impl StreamRecords {
    pub fn tickets_issued(&self) -> usize {
        self.tickets.len()
    }

    pub fn connection(&self, id: ConnectionId) -> Option<&ConnectionRecord> {
        self.connections.iter().find(|c| c.id == id)
    }

    /// Connections still open, oldest first.
    pub fn open_connections(&self) -> Vec<&ConnectionRecord> {
        self.connections.iter().filter(|c| c.is_open()).collect()
    }

    /// Frames sent with this `messageId` (the first delivery and any redeliveries).
    pub fn sent_with(&self, message_id: &str) -> Vec<&SentFrame> {
        self.sent.iter().filter(|f| f.message_id.as_deref() == Some(message_id)).collect()
    }

    /// Frames received that name this `messageId` (acks, pongs).
    pub fn answers_to(&self, message_id: &str) -> Vec<&ReceivedFrame> {
        self.received.iter().filter(|f| f.message_id() == Some(message_id)).collect()
    }

    /// A line for failure messages.
    pub fn summary(&self) -> String {
        format!(
            "{} stream connections ({} open), {} tickets, {} frames sent, {} received",
            self.connections.len(),
            self.open_connections().len(),
            self.tickets.len(),
            self.sent.len(),
            self.received.len()
        )
    }
}

/// An `EVENT` frame to push (third-party app events such as `suite_ticket`).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    /// `eventType`, e.g. `suite_ticket`, `org_suite_auth`.
    pub event_type: String,
    /// `eventCorpId`.
    pub corp_id: String,
    /// The frame's `data` (sent as a JSON string).
    pub data: Value,
    /// `eventId`; fresh when not given.
    pub event_id: Option<String>,
}

impl StreamEvent {
    pub fn new(event_type: &str, corp_id: &str, data: Value) -> Self {
        Self { event_type: event_type.to_owned(), corp_id: corp_id.to_owned(), data, event_id: None }
    }

    /// `suite_ticket` with `data` `{"suiteTicket": ticket}` (what the SDKs pass through).
    pub fn suite_ticket(corp_id: &str, ticket: &str) -> Self {
        Self::new("suite_ticket", corp_id, serde_json::json!({ "suiteTicket": ticket }))
    }
}

/// A frame handed to the gateway.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// Its `headers.messageId`.
    pub message_id: String,
    /// The connection it went to; `None` when none was open (it goes to the next one).
    pub connection: Option<ConnectionId>,
    /// The robot message it carries, for pushes of built messages.
    pub callback: Option<Callback>,
}

// --- The gateway's state -------------------------------------------------------------------------

/// What is sent to a connection's task.
#[derive(Debug)]
enum Command {
    Text(String),
    Binary(Vec<u8>),
    /// A close frame, then the end.
    Close,
    /// The end, without a close frame.
    Drop,
    /// Stop reading and writing until dropped.
    Silence,
    /// Close after this long (the grace after `disconnect`).
    CloseAfter(Duration),
}

#[derive(Debug, Clone)]
struct Ticket {
    expires_ms: i64,
    subscriptions: Vec<Subscription>,
    ua: Option<String>,
    local_ip: Option<String>,
}

#[derive(Debug)]
struct Conn {
    tx: mpsc::UnboundedSender<Command>,
    connection_id: String,
    subscriptions: Vec<Subscription>,
    draining: bool,
    silent: bool,
}

impl Conn {
    /// Whether a pushed frame of this kind and topic may go here.
    fn accepts(&self, kind: FrameKind, topic: &str) -> bool {
        if self.draining || self.silent {
            return false;
        }
        let subscribed = |kind: &str, topic: &str| {
            self.subscriptions.iter().any(|s| s.kind.eq_ignore_ascii_case(kind) && s.topic == topic)
        };
        match kind {
            FrameKind::Callback => subscribed("CALLBACK", topic),
            FrameKind::Event => subscribed("EVENT", EVENT_TOPIC),
            FrameKind::Ping | FrameKind::Disconnect | FrameKind::Raw => true,
        }
    }
}

/// A frame before it is addressed to a connection.
#[derive(Debug, Clone)]
struct Outgoing {
    kind: FrameKind,
    message_id: String,
    topic: String,
    /// Headers besides the common ones (events).
    headers: Vec<(String, String)>,
    data: String,
    attempt: u32,
}

#[derive(Debug)]
struct Unacked {
    frame: Outgoing,
    due: Instant,
}

/// The wire shape of a pushed frame, keys in the captured order (headers sorted, as captured).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FrameOut<'a> {
    spec_version: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    headers: BTreeMap<&'a str, &'a str>,
    data: &'a str,
}

/// Shared facts every frame needs.
struct Context {
    now_ms: i64,
    app_id: String,
}

/// The gateway's moving parts, kept in [`SimState`] under its lock.
#[derive(Debug)]
pub(crate) struct Gateway {
    tickets: HashMap<String, Ticket>,
    conns: BTreeMap<ConnectionId, Conn>,
    next_id: u64,
    counter: u64,
    refuse_opens_until: Option<Instant>,
    refuse_upgrades_until: Option<Instant>,
    stall_upgrades_until: Option<Instant>,
    redelivery: Option<Duration>,
    disconnect_grace: Duration,
    lose_acks: usize,
    /// Frames waiting for a connection.
    pending: VecDeque<Outgoing>,
    /// Frames sent and not yet acknowledged, by `messageId`.
    unacked: HashMap<String, Unacked>,
    /// The newest version of every frame sent, by `messageId`.
    frames: HashMap<String, Outgoing>,
    /// Wakes the connection tasks when a redelivery is scheduled.
    wake: watch::Sender<u64>,
}

impl Default for Gateway {
    fn default() -> Self {
        Self {
            tickets: HashMap::new(),
            conns: BTreeMap::new(),
            next_id: 0,
            counter: 0,
            refuse_opens_until: None,
            refuse_upgrades_until: None,
            stall_upgrades_until: None,
            redelivery: Some(DEFAULT_REDELIVERY),
            disconnect_grace: DEFAULT_DISCONNECT_GRACE,
            lose_acks: 0,
            pending: VecDeque::new(),
            unacked: HashMap::new(),
            frames: HashMap::new(),
            wake: watch::channel(0).0,
        }
    }
}

fn next_seq(seq: &mut u64) -> u64 {
    *seq += 1;
    *seq
}

fn refusing(until: Option<Instant>) -> bool {
    until.is_some_and(|until| Instant::now() < until)
}

/// A UUID-shaped random id (tickets, connection ids).
fn uuid() -> String {
    uuid_from(&wire::hex(32))
}

fn uuid_from(hex: &str) -> String {
    let part = |from: usize, to: usize| hex.get(from..to).unwrap_or_default();
    format!("{}-{}-{}-{}-{}", part(0, 8), part(8, 12), part(12, 16), part(16, 20), part(20, 32))
}

impl Gateway {
    /// A `messageId` shaped like DingTalk's (`bbb43a7_fc9_19ce26ebc01_2925aa2`: random, random,
    /// the time in hex, a counter).
    fn message_id(&mut self, now_ms: i64) -> String {
        self.counter += 1;
        format!("{}_{}_{:x}_{:07x}", wire::hex(7), wire::hex(3), now_ms.max(0), self.counter)
    }

    fn wake(&self) {
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// When the next redelivery is due.
    fn next_due(&self) -> Option<Instant> {
        self.unacked.values().map(|u| u.due).min()
    }

    /// Sends `frame` to `to`, or to a random connection that takes it; with none, keeps it for
    /// the next connection.
    fn deliver(
        &mut self,
        records: &mut StreamRecords,
        seq: &mut u64,
        ctx: &Context,
        frame: Outgoing,
        to: Option<ConnectionId>,
    ) -> Option<ConnectionId> {
        let mut candidates: Vec<ConnectionId> = match to {
            Some(id) => vec![id],
            None => self.conns.iter().filter(|(_, c)| c.accepts(frame.kind, &frame.topic)).map(|(id, _)| *id).collect(),
        };
        // One at random, as DingTalk picks; the next if that one has just gone.
        fastrand::shuffle(&mut candidates);
        if let Some(id) = candidates.into_iter().find(|id| self.send_to(records, seq, ctx, *id, &frame)) {
            return Some(id);
        }
        if to.is_none() && matches!(frame.kind, FrameKind::Callback | FrameKind::Event) {
            self.pending.push_back(frame);
        }
        None
    }

    /// Writes `frame` to connection `id`; false when the connection is gone.
    fn send_to(
        &mut self,
        records: &mut StreamRecords,
        seq: &mut u64,
        ctx: &Context,
        id: ConnectionId,
        frame: &Outgoing,
    ) -> bool {
        let Some(conn) = self.conns.get(&id) else { return false };
        let time = ctx.now_ms.to_string();
        let (kind, system) = match frame.kind {
            FrameKind::Callback => ("CALLBACK", false),
            FrameKind::Event => ("EVENT", false),
            FrameKind::Ping | FrameKind::Disconnect | FrameKind::Raw => ("SYSTEM", true),
        };
        let mut headers: BTreeMap<&str, &str> = BTreeMap::new();
        headers.insert("contentType", "application/json");
        headers.insert("messageId", &frame.message_id);
        headers.insert("time", &time);
        headers.insert("topic", &frame.topic);
        if !system {
            headers.insert("appId", &ctx.app_id);
            headers.insert("connectionId", &conn.connection_id);
        }
        for (name, value) in &frame.headers {
            headers.insert(name, value);
        }
        let text = serde_json::to_string(&FrameOut { spec_version: "1.0", kind, headers, data: &frame.data })
            .unwrap_or_default();
        if conn.tx.send(Command::Text(text.clone())).is_err() {
            return false;
        }
        records.sent.push(SentFrame {
            seq: next_seq(seq),
            connection: id,
            kind: frame.kind,
            message_id: Some(frame.message_id.clone()),
            attempt: frame.attempt,
            text,
        });
        self.frames.insert(frame.message_id.clone(), frame.clone());
        if let (Some(delay), FrameKind::Callback | FrameKind::Event) = (self.redelivery, frame.kind) {
            self.unacked
                .insert(frame.message_id.clone(), Unacked { frame: frame.clone(), due: Instant::now() + delay });
            self.wake();
        }
        true
    }

    /// Sends again every frame whose ack is overdue.
    fn redeliver_due(&mut self, records: &mut StreamRecords, seq: &mut u64, ctx: &Context) {
        let now = Instant::now();
        let due: Vec<String> = self.unacked.iter().filter(|(_, u)| u.due <= now).map(|(id, _)| id.clone()).collect();
        for id in due {
            let Some(unacked) = self.unacked.remove(&id) else { continue };
            if unacked.frame.attempt >= MAX_REDELIVERIES {
                continue;
            }
            let mut frame = unacked.frame;
            frame.attempt += 1;
            self.deliver(records, seq, ctx, frame, None);
        }
    }

    /// Sends the waiting frames a new connection takes.
    fn flush_pending(&mut self, records: &mut StreamRecords, seq: &mut u64, ctx: &Context, id: ConnectionId) {
        let waiting = std::mem::take(&mut self.pending);
        for frame in waiting {
            let takes = self.conns.get(&id).is_some_and(|c| c.accepts(frame.kind, &frame.topic));
            if !(takes && self.send_to(records, seq, ctx, id, &frame)) {
                self.pending.push_back(frame);
            }
        }
    }

    /// Tells connection `id` to do something; false when it is gone.
    fn command(&self, id: ConnectionId, command: Command) -> bool {
        self.conns.get(&id).is_some_and(|c| c.tx.send(command).is_ok())
    }
}

// --- Test controls -------------------------------------------------------------------------------

impl SimState {
    fn stream_context(&self) -> Context {
        let seed = format!("appId/{}", self.client_id());
        Context { now_ms: self.clock().now_ms(), app_id: uuid_from(&wire::stable_hex(&seed, 32)) }
    }

    /// Redeliver unacknowledged `CALLBACK` and `EVENT` frames after `delay` (`None`: never).
    /// Defaults to [`DEFAULT_REDELIVERY`].
    pub fn set_redelivery(&self, delay: Option<Duration>) {
        self.with_gateway(|g, _, _| {
            g.redelivery = delay;
            if delay.is_none() {
                g.unacked.clear();
            }
            g.wake();
        });
    }

    /// How long a connection stays open after its `disconnect` frame (default 10 s).
    pub fn set_disconnect_grace(&self, grace: Duration) {
        self.with_gateway(|g, _, _| g.disconnect_grace = grace);
    }

    /// The open-connection call answers `503` for `period`.
    pub fn refuse_opens(&self, period: Duration) {
        self.with_gateway(|g, _, _| g.refuse_opens_until = Some(Instant::now() + period));
    }

    /// WebSocket upgrades are refused (`503`, tickets untouched) for `period`.
    pub fn refuse_upgrades(&self, period: Duration) {
        self.with_gateway(|g, _, _| g.refuse_upgrades_until = Some(Instant::now() + period));
    }

    /// Both the open call and the upgrade are refused for `period`.
    pub fn refuse_connections(&self, period: Duration) {
        self.refuse_opens(period);
        self.refuse_upgrades(period);
    }

    /// For `period`, upgrade requests get no answer at all until the period ends (then `503`):
    /// a gateway that accepts the TCP connection and hangs.
    pub fn stall_upgrades(&self, period: Duration) {
        self.with_gateway(|g, _, _| g.stall_upgrades_until = Some(Instant::now() + period));
    }

    /// Ends any refusal or stall now (requests already stalled stay so).
    pub fn accept_connections(&self) {
        self.with_gateway(|g, _, _| {
            g.refuse_opens_until = None;
            g.refuse_upgrades_until = None;
            g.stall_upgrades_until = None;
        });
    }

    /// The next `count` callback acks are lost on the way: recorded, but not counted, so the
    /// frames are redelivered.
    pub fn lose_acks(&self, count: usize) {
        self.with_gateway(|g, _, _| g.lose_acks = count);
    }

    fn push(
        &self,
        kind: FrameKind,
        topic: &str,
        headers: Vec<(String, String)>,
        data: String,
    ) -> (String, Option<ConnectionId>) {
        let ctx = self.stream_context();
        self.with_gateway(|g, records, seq| {
            let message_id = g.message_id(ctx.now_ms);
            let frame =
                Outgoing { kind, message_id: message_id.clone(), topic: topic.to_owned(), headers, data, attempt: 0 };
            let connection = g.deliver(records, seq, &ctx, frame, None);
            (message_id, connection)
        })
    }

    /// Pushes a built robot message as a `CALLBACK` frame on the bot topic.
    pub fn push_callback(&self, callback: Callback) -> Pushed {
        let data = String::from_utf8_lossy(&callback.body).into_owned();
        let (message_id, connection) = self.push(FrameKind::Callback, BOT_MESSAGE_TOPIC, Vec::new(), data);
        Pushed { message_id, connection, callback: Some(callback) }
    }

    /// Pushes a `CALLBACK` frame on the bot topic whose `data` is exactly `data`.
    pub fn push_bot_data(&self, data: &str) -> Pushed {
        let (message_id, connection) = self.push(FrameKind::Callback, BOT_MESSAGE_TOPIC, Vec::new(), data.to_owned());
        Pushed { message_id, connection, callback: None }
    }

    /// Pushes an `EVENT` frame (topic `*`, with the `event*` headers).
    pub fn push_event(&self, event: StreamEvent) -> Pushed {
        let now = self.clock().now_ms();
        let app_id = self.stream_context().app_id;
        let headers = vec![
            ("eventBornTime".to_owned(), now.to_string()),
            ("eventCorpId".to_owned(), event.corp_id),
            ("eventId".to_owned(), event.event_id.unwrap_or_else(|| wire::hex(32))),
            ("eventType".to_owned(), event.event_type),
            ("eventUnifiedAppId".to_owned(), app_id),
        ];
        let (message_id, connection) = self.push(FrameKind::Event, EVENT_TOPIC, headers, event.data.to_string());
        Pushed { message_id, connection, callback: None }
    }

    fn system(&self, to: ConnectionId, kind: FrameKind, topic: &str, data: String) -> Option<String> {
        let ctx = self.stream_context();
        self.with_gateway(|g, records, seq| {
            let message_id = g.message_id(ctx.now_ms);
            let frame = Outgoing {
                kind,
                message_id: message_id.clone(),
                topic: topic.to_owned(),
                headers: Vec::new(),
                data,
                attempt: 0,
            };
            g.send_to(records, seq, &ctx, to, &frame).then_some(message_id)
        })
    }

    /// Sends a `ping` system frame (data `{"opaque":"…"}`); returns its `messageId`, or `None`
    /// when the connection is gone.
    pub fn send_ping(&self, to: ConnectionId) -> Option<String> {
        let data = serde_json::json!({ "opaque": uuid() }).to_string();
        self.system(to, FrameKind::Ping, "ping", data)
    }

    /// Sends a `disconnect` system frame: nothing more is delivered on that connection, and it
    /// is closed after the grace period ([`SimState::set_disconnect_grace`]).
    pub fn send_disconnect(&self, to: ConnectionId) -> Option<String> {
        let data = serde_json::json!({ "reason": "connection is expired" }).to_string();
        let message_id = self.system(to, FrameKind::Disconnect, "disconnect", data)?;
        self.with_gateway(|g, records, _| {
            let grace = g.disconnect_grace;
            if let Some(conn) = g.conns.get_mut(&to) {
                conn.draining = true;
            }
            if let Some(record) = records.connections.iter_mut().find(|c| c.id == to) {
                record.draining = true;
            }
            g.command(to, Command::CloseAfter(grace));
        });
        Some(message_id)
    }

    fn send_other(&self, to: ConnectionId, command: Command, text: String) -> bool {
        self.with_gateway(|g, records, seq| {
            let sent = g.command(to, command);
            if sent {
                records.sent.push(SentFrame {
                    seq: next_seq(seq),
                    connection: to,
                    kind: FrameKind::Raw,
                    message_id: None,
                    attempt: 0,
                    text,
                });
            }
            sent
        })
    }

    /// Sends `text` as it is (malformed frames); false when the connection is gone.
    pub fn send_raw(&self, to: ConnectionId, text: &str) -> bool {
        self.send_other(to, Command::Text(text.to_owned()), text.to_owned())
    }

    /// Sends a binary frame; false when the connection is gone.
    pub fn send_binary(&self, to: ConnectionId, bytes: &[u8]) -> bool {
        self.send_other(to, Command::Binary(bytes.to_vec()), String::from_utf8_lossy(bytes).into_owned())
    }

    /// Closes a connection with a close frame.
    pub fn close_connection(&self, to: ConnectionId) -> bool {
        self.with_gateway(|g, _, _| g.command(to, Command::Close))
    }

    /// Drops a connection abruptly: no close frame, the TCP connection just ends.
    pub fn drop_connection(&self, to: ConnectionId) -> bool {
        self.with_gateway(|g, _, _| g.command(to, Command::Drop))
    }

    /// Drops every connection abruptly.
    pub fn drop_connections(&self) {
        self.with_gateway(|g, _, _| {
            for conn in g.conns.values() {
                let _ = conn.tx.send(Command::Drop);
            }
        });
    }

    /// The connection stops reading and writing (a dead peer behind a live TCP connection): no
    /// pongs, no acks, nothing more delivered. It ends only when dropped or the simulator stops.
    pub fn silence_connection(&self, to: ConnectionId) -> bool {
        self.with_gateway(|g, records, _| {
            if let Some(conn) = g.conns.get_mut(&to) {
                conn.silent = true;
            }
            if let Some(record) = records.connections.iter_mut().find(|c| c.id == to) {
                record.silent = true;
            }
            g.command(to, Command::Silence)
        })
    }

    /// Sends a frame again now, as DingTalk does when it believes the ack was lost; returns
    /// where it went.
    pub fn redeliver(&self, message_id: &str) -> Option<ConnectionId> {
        let ctx = self.stream_context();
        self.with_gateway(|g, records, seq| {
            let mut frame = g.frames.get(message_id)?.clone();
            frame.attempt += 1;
            g.unacked.remove(message_id);
            g.deliver(records, seq, &ctx, frame, None)
        })
    }

    /// A copy of what the gateway recorded.
    pub fn stream_records(&self) -> StreamRecords {
        self.read_gateway(|_, records| records.clone())
    }

    /// Connections open now that take pushed frames (not draining, not silent).
    pub fn live_connections(&self) -> Vec<ConnectionId> {
        self.read_gateway(|g, _| g.conns.iter().filter(|(_, c)| !c.draining && !c.silent).map(|(id, _)| *id).collect())
    }

    /// Waits until `count` connections have been opened in all; returns the `count`th.
    pub async fn wait_for_connections(&self, count: usize, timeout: Duration) -> Result<ConnectionRecord, WaitTimeout> {
        self.wait_until(timeout, |records| {
            count.checked_sub(1).and_then(|i| records.stream.connections.get(i)).cloned()
        })
        .await
    }

    /// Waits for the first frame from the client naming `message_id` (an ack or a pong).
    pub async fn wait_for_answer(&self, message_id: &str, timeout: Duration) -> Result<ReceivedFrame, WaitTimeout> {
        self.wait_until(timeout, |records| records.stream.answers_to(message_id).first().map(|f| (*f).clone())).await
    }

    /// Ends every connection (the simulator is stopping).
    pub(crate) fn close_stream(&self) {
        self.drop_connections();
    }

    // --- Called by the connection tasks ----------------------------------------------------------

    fn register_connection(
        &self,
        ticket: String,
        details: Ticket,
        tx: mpsc::UnboundedSender<Command>,
    ) -> (ConnectionId, watch::Receiver<u64>) {
        let ctx = self.stream_context();
        self.with_gateway(|g, records, seq| {
            g.next_id += 1;
            let id = ConnectionId(g.next_id);
            let connection_id = uuid();
            records.connections.push(ConnectionRecord {
                id,
                connection_id: connection_id.clone(),
                ticket,
                subscriptions: details.subscriptions.clone(),
                ua: details.ua,
                local_ip: details.local_ip,
                opened_seq: next_seq(seq),
                closed_seq: None,
                closed: None,
                draining: false,
                silent: false,
                ws_pings: 0,
            });
            let conn = Conn { tx, connection_id, subscriptions: details.subscriptions, draining: false, silent: false };
            g.conns.insert(id, conn);
            g.flush_pending(records, seq, &ctx, id);
            (id, g.wake.subscribe())
        })
    }

    fn unregister_connection(&self, id: ConnectionId, how: Closed) {
        self.with_gateway(|g, records, seq| {
            g.conns.remove(&id);
            if let Some(record) = records.connections.iter_mut().find(|c| c.id == id) {
                record.closed_seq = Some(next_seq(seq));
                record.closed = Some(how);
            }
        });
    }

    fn count_ws_ping(&self, id: ConnectionId) {
        self.with_gateway(|_, records, _| {
            if let Some(record) = records.connections.iter_mut().find(|c| c.id == id) {
                record.ws_pings += 1;
            }
        });
    }

    /// Records a frame from the client; an ack settles its frame (an event's only with
    /// `SUCCESS`).
    fn record_received(&self, id: ConnectionId, text: String) {
        let at_ms = self.clock().now_ms();
        self.with_gateway(|g, records, seq| {
            let json: Option<Value> = serde_json::from_str(&text).ok();
            let message_id =
                json.as_ref().and_then(|j| j.get("headers")?.get("messageId")?.as_str().map(str::to_owned));
            let answers = message_id.as_deref().and_then(|m| g.frames.get(m)).map(|f| f.kind);
            let code = json.as_ref().and_then(|j| j.get("code")?.as_i64());
            let lost = answers == Some(FrameKind::Callback) && g.lose_acks > 0;
            if lost {
                g.lose_acks -= 1;
            }
            let settled = match answers {
                Some(FrameKind::Callback) => code == Some(200),
                Some(FrameKind::Event) => {
                    let data = json.as_ref().and_then(|j| j.get("data")?.as_str());
                    let status = data
                        .and_then(|d| serde_json::from_str::<Value>(d).ok())
                        .and_then(|d| d.get("status")?.as_str().map(str::to_owned));
                    code == Some(200) && status.as_deref() == Some("SUCCESS")
                }
                _ => false,
            };
            if settled
                && !lost
                && let Some(message_id) = &message_id
            {
                g.unacked.remove(message_id);
            }
            records.received.push(ReceivedFrame {
                seq: next_seq(seq),
                connection: id,
                at_ms,
                text,
                json,
                answers,
                lost,
            });
        });
    }

    fn redeliver_due(&self) {
        let ctx = self.stream_context();
        self.with_gateway(|g, records, seq| g.redeliver_due(records, seq, &ctx));
    }
}

// --- Endpoints -----------------------------------------------------------------------------------

pub(crate) fn routes() -> Router<Arc<SimState>> {
    Router::new().route(OPEN_PATH, post(open)).route(CONNECT_PATH, get(connect))
}

#[derive(Serialize)]
struct OpenAnswer {
    endpoint: String,
    ticket: String,
}

/// The answer to bad or missing credentials, as reported (dingtalk-isv.md §7).
#[derive(Serialize)]
struct AuthFailed {
    code: &'static str,
    message: &'static str,
}

fn unavailable() -> Response {
    wire::error(
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
    let refused = state.with_gateway(|g, records, _| {
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
        return wire::json(StatusCode::UNAUTHORIZED, &AuthFailed { code: "authFailed", message: "鉴权失败" });
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
    state.with_gateway(|g, records, _| {
        g.tickets.insert(ticket.clone(), details);
        records.tickets.push(ticket.clone());
    });
    let endpoint = format!("{}{CONNECT_PATH}", state.base_url().replacen("http", "ws", 1));
    wire::json(StatusCode::OK, &OpenAnswer { endpoint, ticket })
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
    let stall = state.read_gateway(|g, _| g.stall_upgrades_until.filter(|until| Instant::now() < *until));
    if let Some(until) = stall {
        tokio::time::sleep_until(until).await;
        state.with_gateway(|_, records, _| records.upgrades_refused += 1);
        return unavailable();
    }
    let now = state.clock().now_ms();
    let ticket = query.get("ticket").cloned().unwrap_or_default();
    // Refusals first, then the upgrade headers, and only then is the ticket used up.
    let outcome = state.with_gateway(|g, records, _| {
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
            return wire::error(StatusCode::UNAUTHORIZED, "invalidTicket", "ticket 无效或已过期");
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
    let (id, mut wake) = state.register_connection(ticket, details, tx);
    let mut close_at: Option<Instant> = None;
    let how = loop {
        wake.borrow_and_update();
        let due = state.read_gateway(|g, _| g.next_due());
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
                    let _ = socket.send(Message::Close(None)).await;
                    break Closed::ByServer;
                }
                Some(Command::Silence) => break silent(&mut rx).await,
                Some(Command::CloseAfter(grace)) => close_at = Some(Instant::now() + grace),
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break Closed::ByClient,
                Some(Ok(Message::Text(text))) => state.record_received(id, text.as_str().to_owned()),
                Some(Ok(Message::Binary(bytes))) => state.record_received(id, String::from_utf8_lossy(&bytes).into_owned()),
                // axum answers pings by itself; the count shows the client checks liveness.
                Some(Ok(Message::Ping(_))) => state.count_ws_ping(id),
                Some(Ok(Message::Pong(_))) => {}
            },
            () = sleep_until(close_at) => {
                let _ = socket.send(Message::Close(None)).await;
                break Closed::AfterDisconnect;
            }
            () = sleep_until(due) => state.redeliver_due(),
            _ = wake.changed() => {}
        }
    };
    state.unregister_connection(id, how);
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

    #[test]
    fn message_ids_look_like_dingtalks() {
        let mut gateway = Gateway::default();
        let id = gateway.message_id(1_774_098_949_543);
        let parts: Vec<&str> = id.split('_').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [7, 3, 11, 7], "{id}");
        assert_eq!(parts[2], "19d1089a5a7");
        assert_ne!(gateway.message_id(0), gateway.message_id(0));
    }

    #[test]
    fn uuids_have_five_groups() {
        assert_eq!(uuid().split('-').map(str::len).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
    }

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
