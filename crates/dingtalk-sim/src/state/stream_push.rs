//! What is pushed to whichever connection takes it: robot messages (`CALLBACK` on the bot
//! topic), events (`EVENT`, topic `*`), and redeliveries of frames whose ack did not come.

use serde_json::Value;

use super::gateway::{BOT_MESSAGE_TOPIC, CARD_CALLBACK_TOPIC, EVENT_TOPIC, Outgoing};
use super::stream::StreamView;
use crate::ids;
use crate::records::stream::{ConnectionId, FrameKind};
use crate::robot_callback::Callback;

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

impl StreamView<'_> {
    fn push(
        &self,
        kind: FrameKind,
        topic: &str,
        headers: Vec<(String, String)>,
        data: String,
    ) -> (String, Option<ConnectionId>) {
        let ctx = self.context();
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

    /// Pushes a `CALLBACK` frame on the card callback topic (a button press) with `data`.
    pub fn push_card_data(&self, data: &str) -> Pushed {
        let (message_id, connection) = self.push(FrameKind::Callback, CARD_CALLBACK_TOPIC, Vec::new(), data.to_owned());
        Pushed { message_id, connection, callback: None }
    }

    /// Pushes an `EVENT` frame (topic `*`, with the `event*` headers).
    pub fn push_event(&self, event: StreamEvent) -> Pushed {
        self.push_event_born(event, self.state.clock().now_ms())
    }

    /// Pushes an `EVENT` frame whose `eventBornTime` is `born_ms` (an event made earlier).
    pub fn push_event_born(&self, event: StreamEvent, born_ms: i64) -> Pushed {
        let now = born_ms;
        let app_id = self.context().app_id;
        let headers = vec![
            ("eventBornTime".to_owned(), now.to_string()),
            ("eventCorpId".to_owned(), event.corp_id),
            ("eventId".to_owned(), event.event_id.unwrap_or_else(|| ids::hex(32))),
            ("eventType".to_owned(), event.event_type),
            ("eventUnifiedAppId".to_owned(), app_id),
        ];
        let (message_id, connection) = self.push(FrameKind::Event, EVENT_TOPIC, headers, event.data.to_string());
        Pushed { message_id, connection, callback: None }
    }

    /// Sends a frame again now, as DingTalk does when it believes the ack was lost; returns
    /// where it went.
    pub fn redeliver(&self, message_id: &str) -> Option<ConnectionId> {
        let ctx = self.context();
        self.with_gateway(|g, records, seq| {
            let mut frame = g.frames.get(message_id)?.clone();
            frame.attempt += 1;
            g.unacked.remove(message_id);
            g.deliver(records, seq, &ctx, frame, None)
        })
    }
}
