//! The Stream gateway's moving parts, kept in `SimState` under its lock: tickets, live connections
//! and their command channels, frames waiting for a connection or for their ack, and the
//! refusals in force. Every change that records something takes the shared `seq`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::ids;
use crate::records::stream::{ConnectionId, FrameKind, SentFrame, StreamRecords, Subscription};

/// The robot message topic.
pub const BOT_MESSAGE_TOPIC: &str = "/v1.0/im/bot/messages/get";
/// The Stream topic card button presses come on.
pub const CARD_CALLBACK_TOPIC: &str = "/v1.0/card/instances/callback";
/// The only topic an `EVENT` subscription may name.
pub const EVENT_TOPIC: &str = "*";
/// DingTalk re-pushes an unacknowledged callback after about a minute.
pub const DEFAULT_REDELIVERY: Duration = Duration::from_secs(60);
/// DingTalk closes a socket about ten seconds after its `disconnect` frame.
pub const DEFAULT_DISCONNECT_GRACE: Duration = Duration::from_secs(10);
/// A frame is redelivered at most this many times.
pub const MAX_REDELIVERIES: u32 = 5;

/// What is sent to a connection's task.
#[derive(Debug)]
pub(crate) enum Command {
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
pub(crate) struct Ticket {
    pub(crate) expires_ms: i64,
    pub(crate) subscriptions: Vec<Subscription>,
    pub(crate) ua: Option<String>,
    pub(crate) local_ip: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) tx: mpsc::UnboundedSender<Command>,
    pub(crate) connection_id: String,
    pub(crate) subscriptions: Vec<Subscription>,
    pub(crate) draining: bool,
    pub(crate) silent: bool,
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
pub(crate) struct Outgoing {
    pub(crate) kind: FrameKind,
    pub(crate) message_id: String,
    pub(crate) topic: String,
    /// Headers besides the common ones (events).
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) data: String,
    pub(crate) attempt: u32,
}

#[derive(Debug)]
pub(crate) struct Unacked {
    pub(crate) frame: Outgoing,
    pub(crate) due: Instant,
    /// An event is also due when the simulator's clock passes this (ms), so a test that moves
    /// the clock sees DingTalk push it again.
    pub(crate) due_ms: Option<i64>,
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
pub(crate) struct Context {
    pub(crate) now_ms: i64,
    pub(crate) app_id: String,
}

/// The gateway's moving parts, kept in [`crate::SimState`] under its lock.
#[derive(Debug)]
pub(crate) struct Gateway {
    pub(crate) tickets: HashMap<String, Ticket>,
    pub(crate) conns: BTreeMap<ConnectionId, Conn>,
    pub(crate) next_id: u64,
    pub(crate) counter: u64,
    pub(crate) refuse_opens_until: Option<Instant>,
    pub(crate) refuse_upgrades_until: Option<Instant>,
    pub(crate) stall_upgrades_until: Option<Instant>,
    pub(crate) redelivery: Option<Duration>,
    pub(crate) disconnect_grace: Duration,
    pub(crate) lose_acks: usize,
    /// Frames waiting for a connection.
    pub(crate) pending: VecDeque<Outgoing>,
    /// Frames sent and not yet acknowledged, by `messageId`.
    pub(crate) unacked: HashMap<String, Unacked>,
    /// The newest version of every frame sent, by `messageId`.
    pub(crate) frames: HashMap<String, Outgoing>,
    /// Wakes the connection tasks when a redelivery is scheduled.
    pub(crate) wake: watch::Sender<u64>,
}

impl Gateway {
    /// A gateway that redelivers unacknowledged frames after `delay` (`None`: never).
    pub(crate) fn with_redelivery(delay: Option<Duration>) -> Self {
        Self { redelivery: delay, ..Self::default() }
    }
}

impl Default for Gateway {
    fn default() -> Self {
        Self {
            tickets: HashMap::new(),
            conns: BTreeMap::new(),
            next_id: 0,
            // Captured counters are 5 to 7 hex digits long.
            counter: fastrand::u64(0x1_0000..0x1000_0000),
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

pub(crate) fn next_seq(seq: &mut u64) -> u64 {
    *seq += 1;
    *seq
}

pub(crate) fn refusing(until: Option<Instant>) -> bool {
    until.is_some_and(|until| Instant::now() < until)
}

impl Gateway {
    /// A `messageId` shaped like DingTalk's: random, random, the time in hex, a counter, the
    /// first and last parts of varying width as captured (`bbb43a7_fc9_19ce26ebc01_2925aa2`,
    /// `212ca9d7_974_1898c159aa6_1783b`), so a client that assumes fixed widths fails here.
    pub(crate) fn message_id(&mut self, now_ms: i64) -> String {
        self.counter += 1;
        format!("{}_{}_{:x}_{:x}", ids::hex(fastrand::usize(7..=8)), ids::hex(3), now_ms.max(0), self.counter)
    }

    pub(crate) fn wake(&self) {
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Whether an event is due by the simulator's clock (`now_ms`).
    pub(crate) fn due_by_clock(&self, now_ms: i64) -> bool {
        self.unacked.values().any(|u| u.due_ms.is_some_and(|at| at <= now_ms))
    }

    /// When the next redelivery is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.unacked.values().map(|u| u.due).min()
    }

    /// Sends `frame` to `to`, or to a random connection that takes it; with none, keeps it for
    /// the next connection.
    pub(crate) fn deliver(
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
    pub(crate) fn send_to(
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
            let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
            let due_ms = (frame.kind == FrameKind::Event).then(|| ctx.now_ms.saturating_add(delay_ms));
            let unacked = Unacked { frame: frame.clone(), due: Instant::now() + delay, due_ms };
            self.unacked.insert(frame.message_id.clone(), unacked);
            self.wake();
        }
        true
    }

    /// Sends again every frame whose ack is overdue.
    pub(crate) fn redeliver_due(&mut self, records: &mut StreamRecords, seq: &mut u64, ctx: &Context) {
        let now = Instant::now();
        let due: Vec<String> = self
            .unacked
            .iter()
            .filter(|(_, u)| u.due <= now || u.due_ms.is_some_and(|at| at <= ctx.now_ms))
            .map(|(id, _)| id.clone())
            .collect();
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
    pub(crate) fn flush_pending(
        &mut self,
        records: &mut StreamRecords,
        seq: &mut u64,
        ctx: &Context,
        id: ConnectionId,
    ) {
        let waiting = std::mem::take(&mut self.pending);
        for frame in waiting {
            let takes = self.conns.get(&id).is_some_and(|c| c.accepts(frame.kind, &frame.topic));
            if !(takes && self.send_to(records, seq, ctx, id, &frame)) {
                self.pending.push_back(frame);
            }
        }
    }

    /// Tells connection `id` to do something; false when it is gone.
    pub(crate) fn command(&self, id: ConnectionId, command: Command) -> bool {
        self.conns.get(&id).is_some_and(|c| c.tx.send(command).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_look_like_dingtalks_and_vary_in_width() {
        let mut widths = std::collections::BTreeSet::new();
        for _ in 0..64 {
            let mut gateway = Gateway::default();
            let id = gateway.message_id(1_774_098_949_543);
            let parts: Vec<&str> = id.split('_').collect();
            assert_eq!(parts.len(), 4, "{id}");
            assert!(parts.iter().all(|p| p.chars().all(|c| c.is_ascii_hexdigit())), "{id}");
            assert!((7..=8).contains(&parts[0].len()) && parts[1].len() == 3, "{id}");
            assert_eq!(parts[2], "19d1089a5a7");
            assert!((5..=7).contains(&parts[3].len()), "{id}");
            widths.insert((parts[0].len(), parts[3].len()));
            assert_ne!(gateway.message_id(0), gateway.message_id(0));
        }
        assert!(widths.len() > 1, "the widths vary: {widths:?}");
    }
}
