//! What the Stream gateway records: connections, frames sent and frames received.

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    /// The simulator sent a close frame ([`crate::state::stream::StreamView::close_connection`]).
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
    /// It stopped reading and answering ([`crate::state::stream::StreamView::silence_connection`]).
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
    /// Any text or binary, as given ([`crate::state::stream::StreamView::send_raw`]).
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
    /// Dropped on purpose ([`crate::state::stream::StreamView::lose_acks`]): recorded, but the gateway acts as if it
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

    /// An event ack's `data.status` (`SUCCESS`, `LATER`), when it has one.
    pub fn ack_status(&self) -> Option<String> {
        self.data_json()?.get("status")?.as_str().map(str::to_owned)
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
