//! [`StreamView`], the Stream gateway seen through the shared state: what tests send on a
//! connection, refuse, drop and read back, and the hooks the connection tasks call. (What is
//! pushed to any connection is in `stream_push.rs`; the gateway's data in `gateway.rs`.)

use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::gateway::{Command, Conn, Context, Gateway, Outgoing, Ticket, next_seq};
use super::{SimState, World};
use crate::ids::{self, uuid, uuid_from};
use crate::records::stream::{
    Closed, ConnectionId, ConnectionRecord, FrameKind, ReceivedFrame, SentFrame, StreamRecords,
};

/// The Stream gateway, seen through the shared state.
#[derive(Debug, Clone, Copy)]
pub struct StreamView<'a> {
    pub(super) state: &'a SimState,
}

impl<'a> StreamView<'a> {
    pub(super) fn new(state: &'a SimState) -> Self {
        Self { state }
    }

    /// Runs `f` on the gateway's state and its records under the one lock, so what it records is
    /// numbered from the shared sequence; then wakes every waiter.
    pub(crate) fn with_gateway<T>(&self, f: impl FnOnce(&mut Gateway, &mut StreamRecords, &mut u64) -> T) -> T {
        self.state.update(|world| {
            let World { gateway, journal, .. } = world;
            f(gateway, &mut journal.records.stream, &mut journal.seq)
        })
    }

    /// Reads the gateway's state and records under the lock, waking no one.
    pub(crate) fn read_gateway<T>(&self, f: impl FnOnce(&Gateway, &StreamRecords) -> T) -> T {
        let world = self.state.lock();
        f(&world.gateway, &world.journal.records.stream)
    }

    pub(super) fn context(&self) -> Context {
        let seed = format!("appId/{}", self.state.client_id());
        Context { now_ms: self.state.clock().now_ms(), app_id: uuid_from(&ids::stable_hex(&seed, 32)) }
    }

    /// Redeliver unacknowledged `CALLBACK` and `EVENT` frames after `delay` (`None`: never).
    /// Defaults to [`super::gateway::DEFAULT_REDELIVERY`].
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

    fn system(&self, to: ConnectionId, kind: FrameKind, topic: &str, data: String) -> Option<String> {
        let ctx = self.context();
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
    /// is closed after the grace period ([`StreamView::set_disconnect_grace`]).
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

    /// A copy of what the gateway recorded.
    pub fn records(&self) -> StreamRecords {
        self.read_gateway(|_, records| records.clone())
    }

    /// The `messageId`s of frames sent and not yet settled by an ack (they will be redelivered),
    /// sorted.
    pub fn awaiting_ack(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.read_gateway(|g, _| g.unacked.keys().cloned().collect());
        ids.sort();
        ids
    }

    /// Connections open now that take pushed frames (not draining, not silent).
    pub fn live_connections(&self) -> Vec<ConnectionId> {
        self.read_gateway(|g, _| g.conns.iter().filter(|(_, c)| !c.draining && !c.silent).map(|(id, _)| *id).collect())
    }

    /// Ends every connection (the simulator is stopping).
    pub(crate) fn close_all(&self) {
        self.drop_connections();
    }

    // --- Called by the connection tasks ----------------------------------------------------------

    pub(crate) fn register_connection(
        &self,
        ticket: String,
        details: Ticket,
        tx: mpsc::UnboundedSender<Command>,
    ) -> (ConnectionId, watch::Receiver<u64>) {
        let ctx = self.context();
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

    pub(crate) fn unregister_connection(&self, id: ConnectionId, how: Closed) {
        self.with_gateway(|g, records, seq| {
            g.conns.remove(&id);
            if let Some(record) = records.connections.iter_mut().find(|c| c.id == id) {
                record.closed_seq = Some(next_seq(seq));
                record.closed = Some(how);
            }
        });
    }

    pub(crate) fn count_ws_ping(&self, id: ConnectionId) {
        self.with_gateway(|_, records, _| {
            if let Some(record) = records.connections.iter_mut().find(|c| c.id == id) {
                record.ws_pings += 1;
            }
        });
    }

    /// Records a frame from the client; an ack with code 200 settles its frame (an event's unless
    /// its status is other than `SUCCESS`, such as `LATER`).
    pub(crate) fn record_received(&self, id: ConnectionId, text: String) {
        let at_ms = self.state.clock().now_ms();
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
                Some(FrameKind::Event) => code == Some(200) && event_ack_settles(json.as_ref()),
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

    /// Redelivers the events whose ack is overdue by the simulator's clock; changes (and wakes)
    /// nothing when none is.
    pub(crate) fn redeliver_due_by_clock(&self) {
        let now_ms = self.state.clock().now_ms();
        if self.read_gateway(|g, _| g.due_by_clock(now_ms)) {
            self.redeliver_due();
        }
    }

    pub(crate) fn redeliver_due(&self) {
        let ctx = self.context();
        self.with_gateway(|g, records, seq| g.redeliver_due(records, seq, &ctx));
    }
}

/// Whether an event's ack (code 200, its `messageId`) settles it: its `data` must be a JSON
/// string holding an object whose `status` is `SUCCESS`; `LATER` (or any other status) asks for
/// the event again (protocol §5). An object with no `status` at all is the official Python
/// SDK's ack (it echoes the event's data): settled too, as `LATER` is the only documented way
/// to ask again. `data` missing, not a string, or not a JSON object settles nothing.
fn event_ack_settles(frame: Option<&Value>) -> bool {
    let Some(data) = frame.and_then(|f| f.get("data")?.as_str()) else { return false };
    let Ok(Value::Object(data)) = serde_json::from_str::<Value>(data) else { return false };
    match data.get("status") {
        None => true,
        Some(status) => status.as_str() == Some("SUCCESS"),
    }
}

#[cfg(test)]
mod ack_tests {
    use serde_json::json;

    use super::event_ack_settles;

    #[test]
    fn only_a_json_string_saying_success_or_no_status_settles_an_event() {
        let ack = |data: serde_json::Value| json!({"code": 200, "headers": {"messageId": "m"}, "data": data});
        assert!(event_ack_settles(Some(&ack(json!(r#"{"status":"SUCCESS","message":"success"}"#)))));
        assert!(
            event_ack_settles(Some(&ack(json!(r#"{"changeScene":"conference_created"}"#)))),
            "the Python SDK's echo"
        );
        for refused in [
            json!(r#"{"status":"LATER","message":"later"}"#),
            json!(r#"{"status":"success"}"#),
            json!(r#"{"status":1}"#),
            json!({"status": "SUCCESS"}),
            json!("SUCCESS"),
            json!("[]"),
            json!(null),
        ] {
            assert!(!event_ack_settles(Some(&ack(refused.clone()))), "{refused}");
        }
        assert!(!event_ack_settles(Some(&json!({"code": 200}))), "no data");
        assert!(!event_ack_settles(None), "not JSON");
    }
}
