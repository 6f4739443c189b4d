//! A robot callback as built by the sender: its signature headers, its body, and what it
//! refers to (message, conversation, session).

use serde_json::Value;

/// A callback ready to post: its headers and body, and what it refers to.
#[derive(Debug, Clone)]
pub struct Callback {
    /// `timestamp` and `sign` (either may be left out on purpose).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub msg_id: String,
    pub conversation_id: String,
    /// The session the message's `sessionWebhook` names.
    pub session_id: String,
    pub session_webhook: String,
    /// The signed timestamp (ms), as sent.
    pub timestamp_ms: i64,
}

impl Callback {
    /// The body as JSON, when it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}
