//! Stream mode wire formats: opening a gateway connection, the frames DingTalk pushes and the
//! acknowledgements it expects (docs/dingtalk-protocol.md §5). Pure apart from [`open_connection`].

use std::collections::HashMap;

use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::openapi::ApiError;
use super::openapi::endpoints::STREAM_OPEN;
use super::openapi::http::send_json;
use super::openapi::token::Credentials;

/// The robot message topic.
pub const BOT_MESSAGE_TOPIC: &str = "/v1.0/im/bot/messages/get";

/// The topic of interactive-card button presses (cards created with `callbackType` `STREAM`).
pub const CARD_CALLBACK_TOPIC: &str = "/v1.0/card/instances/callback";

/// What `POST /v1.0/gateway/connections/open` answers.
#[derive(Debug, Clone, Deserialize)]
pub struct Connection {
    pub endpoint: String,
    pub ticket: String,
}

/// The gateway answered an endpoint that is not a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad endpoint {endpoint:?}: {reason}")]
pub struct BadEndpoint {
    pub endpoint: String,
    pub reason: String,
}

impl Connection {
    /// The WebSocket URL: `{endpoint}?ticket={ticket}` (the ticket URL-encoded, as the Python SDK does).
    pub fn url(&self) -> Result<reqwest::Url, BadEndpoint> {
        let mut url = reqwest::Url::parse(&self.endpoint)
            .map_err(|e| BadEndpoint { endpoint: self.endpoint.clone(), reason: e.to_string() })?;
        url.query_pairs_mut().append_pair("ticket", &self.ticket);
        Ok(url)
    }
}

/// The body of the open-connection call: the bot topic plus every event (`*`, for ISV events).
pub fn open_request(credentials: &Credentials) -> Value {
    json!({
        "clientId": credentials.client_id,
        "clientSecret": credentials.client_secret.expose_secret(),
        "subscriptions": [
            { "type": "CALLBACK", "topic": BOT_MESSAGE_TOPIC },
            { "type": "CALLBACK", "topic": CARD_CALLBACK_TOPIC },
            { "type": "EVENT", "topic": "*" },
        ],
        "ua": concat!("dingmeet/", env!("CARGO_PKG_VERSION")),
        "localIp": "127.0.0.1",
        "extras": {},
    })
}

/// Asks the gateway for an endpoint and a single-use ticket.
pub async fn open_connection(
    http: &reqwest::Client,
    api_base: &str,
    credentials: &Credentials,
) -> Result<Connection, ApiError> {
    let request =
        http.post(STREAM_OPEN.url(api_base, &[])).header("Accept", "application/json").json(&open_request(credentials));
    send_json(request).await
}

/// A frame pushed by the gateway. Header values are strings on the wire; be liberal anyway.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Frame {
    #[serde(default)]
    pub spec_version: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub headers: HashMap<String, Value>,
    #[serde(default)]
    pub data: Option<Value>,
}

/// What a frame asks of us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameKind {
    /// A robot message; `data` is the callback body of docs/dingtalk-protocol.md §1.3.
    BotMessage,
    /// A press of an interactive card's button; `data` is the card callback body.
    CardCallback,
    /// `SYSTEM` `ping`: echo it.
    Ping,
    /// `SYSTEM` `disconnect`: the server will close this socket soon.
    Disconnect,
    /// Another `SYSTEM` topic (CONNECTED, REGISTERED, KEEPALIVE …).
    OtherSystem(String),
    /// An `EVENT` frame, by `eventType`.
    Event(String),
    /// A `CALLBACK` on a topic we did not subscribe to.
    OtherCallback(String),
}

impl Frame {
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// A header as text, whatever its JSON type.
    pub fn header(&self, name: &str) -> Option<String> {
        match self.headers.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    pub fn message_id(&self) -> Option<String> {
        self.header("messageId")
    }

    /// `data` as text: normally a string holding JSON; an object is re-encoded.
    pub fn data_text(&self) -> String {
        match &self.data {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    }

    pub fn classify(&self) -> FrameKind {
        let topic = self.header("topic").unwrap_or_default();
        match self.kind.to_ascii_uppercase().as_str() {
            "SYSTEM" => match topic.as_str() {
                "ping" => FrameKind::Ping,
                "disconnect" => FrameKind::Disconnect,
                _ => FrameKind::OtherSystem(topic),
            },
            "EVENT" => FrameKind::Event(self.header("eventType").unwrap_or_default()),
            _ if topic == BOT_MESSAGE_TOPIC => FrameKind::BotMessage,
            _ if topic == CARD_CALLBACK_TOPIC => FrameKind::CardCallback,
            _ => FrameKind::OtherCallback(topic),
        }
    }
}

/// The acknowledgement frame the client sends back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub code: u16,
    pub headers: AckHeaders,
    pub message: String,
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AckHeaders {
    pub content_type: String,
    pub message_id: String,
}

impl Ack {
    fn new(code: u16, message_id: String, message: &str, data: String) -> Self {
        Self {
            code,
            headers: AckHeaders { content_type: "application/json".to_owned(), message_id },
            message: message.to_owned(),
            data,
        }
    }

    /// A robot message received; the reply goes through the session webhook, not the socket.
    pub fn callback(message_id: String) -> Self {
        Self::new(200, message_id, "OK", json!({ "response": null }).to_string())
    }

    /// The answer to `ping`: same id, the request's data echoed.
    pub fn pong(frame: &Frame) -> Self {
        Self::new(200, frame.message_id().unwrap_or_default(), "OK", frame.data_text())
    }

    /// An event handled (`SUCCESS`) or to be redelivered later (`LATER`).
    pub fn event(message_id: String, success: bool) -> Self {
        let (status, message) = if success { ("SUCCESS", "success") } else { ("LATER", "later") };
        Self::new(200, message_id, "OK", json!({ "status": status, "message": message }).to_string())
    }

    /// A frame we could not handle.
    pub fn error(message_id: String, message: &str) -> Self {
        Self::new(500, message_id, message, String::new())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn no_text_makes_frame_handling_panic(text in "\\PC{0,300}") {
            if let Ok(frame) = Frame::parse(&text) {
                let _ = (frame.classify(), frame.data_text(), Ack::pong(&frame).to_json());
            }
        }

        #[test]
        fn frames_of_any_shape_are_classified_and_acked(
            kind in "(SYSTEM|EVENT|CALLBACK|system|[A-Z]{0,6})",
            topic in prop_oneof![Just("ping".to_owned()), Just(BOT_MESSAGE_TOPIC.to_owned()), "\\PC{0,12}"],
            id in prop_oneof![Just(Value::Null), any::<i64>().prop_map(Value::from), "\\PC{0,12}".prop_map(Value::from)],
            data in prop_oneof![Just(Value::Null), "\\PC{0,40}".prop_map(Value::from), Just(json!({"a": [1, {}]}))],
        ) {
            let text = json!({"type": kind, "headers": {"topic": topic, "messageId": id}, "data": data}).to_string();
            let frame = Frame::parse(&text).expect("a frame with a type parses");
            let _ = frame.classify();
            let ack: Value = serde_json::from_str(&Ack::pong(&frame).to_json()).expect("the ack is JSON");
            prop_assert!(ack["headers"]["messageId"].is_string());
            prop_assert!(ack["data"].is_string());
        }
    }

    const CALLBACK_FRAME: &str = r#"{"specVersion":"1.0","type":"CALLBACK","headers":{"appId":"a","connectionId":"c","contentType":"application/json","messageId":"212ca9d7_974_1898c159aa6_1783b","time":"1690000000000","topic":"/v1.0/im/bot/messages/get"},"data":"{\"msgtype\":\"text\",\"msgId\":\"m1\",\"conversationId\":\"cid\",\"conversationType\":\"1\",\"text\":{\"content\":\"help\"}}"}"#;

    #[test]
    fn a_bot_message_frame_is_recognised_and_acked_with_its_id() {
        let frame = Frame::parse(CALLBACK_FRAME).expect("parses");
        assert_eq!(frame.classify(), FrameKind::BotMessage);
        let ack: Value = serde_json::from_str(&Ack::callback(frame.message_id().expect("id")).to_json()).expect("json");
        assert_eq!(
            ack,
            json!({"code":200,"headers":{"contentType":"application/json","messageId":"212ca9d7_974_1898c159aa6_1783b"},"message":"OK","data":"{\"response\":null}"})
        );
        assert!(frame.data_text().contains("\"msgId\":\"m1\""));
    }

    #[test]
    fn ping_is_echoed_with_its_data() {
        let frame = Frame::parse(r#"{"specVersion":"1.0","type":"SYSTEM","headers":{"topic":"ping","messageId":"p1","contentType":"application/json"},"data":"{\"opaque\":\"xyz\"}"}"#).expect("parses");
        assert_eq!(frame.classify(), FrameKind::Ping);
        let pong = Ack::pong(&frame);
        assert_eq!(
            (pong.code, pong.headers.message_id.as_str(), pong.data.as_str()),
            (200, "p1", "{\"opaque\":\"xyz\"}")
        );
    }

    #[test]
    fn system_and_event_frames_are_classified() {
        let disconnect = Frame::parse(r#"{"type":"SYSTEM","headers":{"topic":"disconnect","messageId":"d"},"data":"{\"reason\":\"connection is expired\"}"}"#).expect("parses");
        assert_eq!(disconnect.classify(), FrameKind::Disconnect);
        let event = Frame::parse(
            r#"{"type":"EVENT","headers":{"topic":"*","eventType":"suite_ticket","messageId":"e"},"data":"{}"}"#,
        )
        .expect("parses");
        assert_eq!(event.classify(), FrameKind::Event("suite_ticket".into()));
        let odd = Frame::parse(r#"{"type":"SYSTEM","headers":{"topic":"KEEPALIVE","messageId":5}}"#).expect("parses");
        assert_eq!(
            (odd.classify(), odd.message_id().as_deref()),
            (FrameKind::OtherSystem("KEEPALIVE".into()), Some("5"))
        );
    }

    #[test]
    fn the_open_request_subscribes_to_the_bot_topic() {
        let credentials = Credentials { client_id: "dingid".into(), client_secret: "s".to_owned().into() };
        let body = open_request(&credentials);
        assert_eq!(body["clientId"], "dingid");
        assert_eq!(body["subscriptions"][0], json!({"type":"CALLBACK","topic":"/v1.0/im/bot/messages/get"}));
    }

    #[test]
    fn the_ticket_is_url_encoded() {
        let connection = Connection {
            endpoint: "wss://wss-open-connection.dingtalk.com:443/connect".into(),
            ticket: "a+b/c=".into(),
        };
        assert_eq!(
            connection.url().expect("url").as_str(),
            "wss://wss-open-connection.dingtalk.com/connect?ticket=a%2Bb%2Fc%3D"
        );
    }
}
