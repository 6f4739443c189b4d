//! The callback sender: builds a robot message exactly as DingTalk does (group or 1:1, text
//! or richText, the @-mention quirks, a fresh session webhook), signs it (`timestamp` in ms and
//! `sign` = base64 HMAC-SHA256 of `timestamp + "\n" + secret`) and posts it to a callback URL,
//! or pushes it on the Stream gateway.
//! Options make it misbehave on purpose: stale or future timestamps, a wrong secret, missing
//! headers, an expired or unknown session, a foreign webhook host, a custom body.

mod build;
mod draft;

use std::sync::Arc;

use serde_json::Value;

pub use crate::robot_callback::Callback;
use crate::state::SimState;
use crate::state::stream_push::Pushed;
use draft::Draft;
pub use draft::{Chat, Format, SessionMode};

/// What the callback URL answered.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub status: u16,
    pub body: String,
    pub callback: Callback,
}

impl Delivery {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// Builds, signs and posts one robot message. Start from [`crate::Simulator::message`].
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    state: Arc<SimState>,
    draft: Draft,
}

impl MessageBuilder {
    /// Opens the session and builds the signed callback.
    pub fn build(self) -> Callback {
        self.draft.build(&self.state)
    }

    /// A group text message saying `text`, from the scenario's sender.
    pub fn new(state: Arc<SimState>, text: impl Into<String>) -> Self {
        Self { state, draft: Draft::new(text.into()) }
    }

    /// A group message that @-mentions the robot (the default).
    pub fn group(mut self) -> Self {
        self.draft.chat = Chat::Group;
        self
    }

    /// A 1:1 message (no @-mention, no title, no leading space).
    pub fn single(mut self) -> Self {
        self.draft.chat = Chat::Single;
        self
    }

    pub fn format(mut self, format: Format) -> Self {
        self.draft.format = format;
        self
    }

    /// `richText`: the words, then a picture.
    pub fn rich_text(self) -> Self {
        self.format(Format::RichText)
    }

    /// `richText` as the HarmonyOS client sends it (first segment `@会议助手`).
    pub fn harmony_os(self) -> Self {
        self.format(Format::HarmonyRichText)
    }

    /// A picture instead of words.
    pub fn picture(self) -> Self {
        self.format(Format::Picture)
    }

    /// Also @-mentions the person with this staff id (in a group): DingTalk lists them in
    /// `atUsers` with their `staffId` and `unionId`, before the robot. The text is as given, so
    /// write their `@Nick` into it where they were mentioned.
    pub fn mentioning(mut self, staff_id: &str) -> Self {
        self.draft.mentioned.push(staff_id.to_owned());
        self
    }

    /// The @-mention was typed at the end, so no leading space is left (`帮助@会议助手`).
    pub fn mention_at_end(mut self) -> Self {
        self.draft.mention_at_end = true;
        self
    }

    pub fn session(mut self, mode: SessionMode) -> Self {
        self.draft.session = mode;
        self
    }

    /// `sessionWebhook` on another host (`https://{host}/robot/sendBySession?session=…`).
    pub fn webhook_host(mut self, host: &str) -> Self {
        self.draft.webhook_host = Some(host.to_owned());
        self
    }

    /// This exact `sessionWebhook`, expiring at `expires_ms`, instead of a session opened here:
    /// for a session another simulator handed out, or any URL at all.
    pub fn session_webhook(mut self, url: &str, expires_ms: i64) -> Self {
        self.draft.webhook = Some((url.to_owned(), expires_ms));
        self
    }

    /// A fixed `msgId` (to send the same message twice).
    pub fn msg_id(mut self, id: &str) -> Self {
        self.draft.msg_id = Some(id.to_owned());
        self
    }

    pub fn conversation_id(mut self, id: &str) -> Self {
        self.draft.conversation_id = Some(id.to_owned());
        self
    }

    /// `chatbotCorpId` and `senderCorpId`: the organisation the message comes from (a
    /// third-party app serves several). The message is in that organisation's own group or 1:1
    /// chat ([`crate::Scenario::chat_for`]) unless [`MessageBuilder::conversation_id`] says
    /// otherwise.
    pub fn corp_id(mut self, corp: &str) -> Self {
        self.draft.corp_id = Some(corp.to_owned());
        self
    }

    /// `senderStaffId`; `None` leaves it out (external users, the console's debug group).
    pub fn sender_staff_id(mut self, id: Option<&str>) -> Self {
        self.draft.sender_staff_id = Some(id.map(str::to_owned));
        self
    }

    /// Signs with this secret instead of the app's.
    pub fn secret(mut self, secret: &str) -> Self {
        self.draft.secret = Some(secret.to_owned());
        self
    }

    /// Moves the signed timestamp (and `createAt`) by `ms`: negative is stale, positive future.
    pub fn skew_ms(mut self, ms: i64) -> Self {
        self.draft.skew_ms = ms;
        self
    }

    /// Sends this exact `timestamp` header text (signed as is).
    pub fn raw_timestamp(mut self, text: &str) -> Self {
        self.draft.raw_timestamp = Some(text.to_owned());
        self
    }

    /// Leaves out the `timestamp` header.
    pub fn without_timestamp(mut self) -> Self {
        self.draft.with_timestamp = false;
        self
    }

    /// Leaves out the `sign` header.
    pub fn without_sign(mut self) -> Self {
        self.draft.with_sign = false;
        self
    }

    /// Posts these bytes as the body instead of a robot message (still signed).
    pub fn raw_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.draft.body = Some(body.into());
        self
    }

    /// Changes the JSON body before it is sent.
    pub fn edit(mut self, edit: fn(&mut Value)) -> Self {
        self.draft.edits.push(edit);
        self
    }

    /// Builds the message and pushes it on the Stream gateway as a `CALLBACK` frame, to one live
    /// connection (or the next one to open).
    pub fn push(self) -> Pushed {
        let state = Arc::clone(&self.state);
        let callback = self.build();
        state.stream().push_callback(callback)
    }

    /// Builds, signs and posts the message to `url` as DingTalk does.
    pub async fn post(self, url: &str) -> Result<Delivery, reqwest::Error> {
        let state = Arc::clone(&self.state);
        let callback = self.build();
        post_callback(&state, url, callback).await
    }
}

/// Posts a built callback to `url` (`Content-Type: application/json; charset=utf-8`).
pub async fn post_callback(state: &SimState, url: &str, callback: Callback) -> Result<Delivery, reqwest::Error> {
    let mut request =
        state.http().post(url).header("content-type", "application/json; charset=utf-8").body(callback.body.clone());
    for (name, value) in &callback.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let body = response.text().await?;
    Ok(Delivery { status, body, callback })
}
