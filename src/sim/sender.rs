//! The callback sender: builds a robot message exactly as DingTalk does (group or 1:1, text
//! or richText, the @-mention quirks, a fresh session webhook), signs it (`timestamp` in ms and
//! `sign` = base64 HMAC-SHA256 of `timestamp + "\n" + secret`) and posts it to a callback URL,
//! or pushes it on the Stream gateway.
//! Options make it misbehave on purpose: stale or future timestamps, a wrong secret, missing
//! headers, an expired or unknown session, a foreign webhook host, a custom body.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

use super::state::{Session, SimState};
use super::stream::Pushed;
use super::wire;
use crate::dingtalk::sign::sign;

/// Group chat (`conversationType` `"2"`) or 1:1 (`"1"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chat {
    Group,
    Single,
}

/// How the person's words are carried.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    /// `msgtype: text`, `text.content`; in groups with the leading space DingTalk leaves where the
    /// @-mention of the robot was removed.
    Text,
    /// `msgtype: richText`: the words, then a picture.
    RichText,
    /// `msgtype: richText` as the HarmonyOS client sends it: the first segment repeats the
    /// @-mention (`[{"text":"@会议助手"},{"text":"/meeting …"}]`).
    HarmonyRichText,
    /// `msgtype: picture` (the words are ignored).
    Picture,
    /// Any `msgtype` with this top-level `content` (audio, video, file, unknownMsgType…).
    Other { msgtype: String, content: Value },
}

/// What the message's session webhook does when the bot posts to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionMode {
    /// Alive for the scenario's lifetime (90 minutes) from `createAt`.
    Live,
    /// Expired before the bot could use it: `sessionWebhookExpiredTime` is in the past, and a post
    /// answers `300001` (as if the reply came more than 90 minutes later).
    Expired,
    /// Claims to live, but the simulator has never heard of it: a post answers `300001`.
    Unknown,
}

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

/// Builds, signs and posts one robot message. Start from [`super::Simulator::message`].
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    state: Arc<SimState>,
    text: String,
    chat: Chat,
    format: Format,
    mention_at_end: bool,
    session: SessionMode,
    webhook_host: Option<String>,
    /// A session webhook opened elsewhere (its URL and `sessionWebhookExpiredTime`).
    webhook: Option<(String, i64)>,
    msg_id: Option<String>,
    conversation_id: Option<String>,
    corp_id: Option<String>,
    sender_staff_id: Option<Option<String>>,
    secret: Option<String>,
    skew_ms: i64,
    raw_timestamp: Option<String>,
    with_timestamp: bool,
    with_sign: bool,
    body: Option<Vec<u8>>,
    edits: Vec<fn(&mut Value)>,
}

/// The message body, keys in the order of a captured callback.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RobotMessage {
    sender_platform: String,
    conversation_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_users: Option<Vec<Value>>,
    chatbot_corp_id: String,
    chatbot_user_id: String,
    open_thread_id: String,
    msg_id: String,
    sender_nick: String,
    is_admin: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    sender_staff_id: Option<String>,
    session_webhook_expired_time: i64,
    create_at: i64,
    sender_corp_id: String,
    conversation_type: &'static str,
    sender_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_in_at_list: Option<bool>,
    session_webhook: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Value>,
    robot_code: String,
    msgtype: String,
}

impl MessageBuilder {
    /// A group text message saying `text`, from the scenario's sender.
    pub fn new(state: Arc<SimState>, text: impl Into<String>) -> Self {
        Self {
            state,
            text: text.into(),
            chat: Chat::Group,
            format: Format::Text,
            mention_at_end: false,
            session: SessionMode::Live,
            webhook_host: None,
            webhook: None,
            msg_id: None,
            conversation_id: None,
            corp_id: None,
            sender_staff_id: None,
            secret: None,
            skew_ms: 0,
            raw_timestamp: None,
            with_timestamp: true,
            with_sign: true,
            body: None,
            edits: Vec::new(),
        }
    }

    /// A group message that @-mentions the robot (the default).
    pub fn group(mut self) -> Self {
        self.chat = Chat::Group;
        self
    }

    /// A 1:1 message (no @-mention, no title, no leading space).
    pub fn single(mut self) -> Self {
        self.chat = Chat::Single;
        self
    }

    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
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

    /// The @-mention was typed at the end, so no leading space is left (`帮助@会议助手`).
    pub fn mention_at_end(mut self) -> Self {
        self.mention_at_end = true;
        self
    }

    pub fn session(mut self, mode: SessionMode) -> Self {
        self.session = mode;
        self
    }

    /// `sessionWebhook` on another host (`https://{host}/robot/sendBySession?session=…`).
    pub fn webhook_host(mut self, host: &str) -> Self {
        self.webhook_host = Some(host.to_owned());
        self
    }

    /// This exact `sessionWebhook`, expiring at `expires_ms`, instead of a session opened here:
    /// for a session another simulator handed out, or any URL at all.
    pub fn session_webhook(mut self, url: &str, expires_ms: i64) -> Self {
        self.webhook = Some((url.to_owned(), expires_ms));
        self
    }

    /// A fixed `msgId` (to send the same message twice).
    pub fn msg_id(mut self, id: &str) -> Self {
        self.msg_id = Some(id.to_owned());
        self
    }

    pub fn conversation_id(mut self, id: &str) -> Self {
        self.conversation_id = Some(id.to_owned());
        self
    }

    /// `chatbotCorpId` and `senderCorpId`: the organisation the message comes from (a
    /// third-party app serves several). The message is in that organisation's own group or 1:1
    /// chat ([`crate::sim::Scenario::chat_for`]) unless [`MessageBuilder::conversation_id`] says
    /// otherwise.
    pub fn corp_id(mut self, corp: &str) -> Self {
        self.corp_id = Some(corp.to_owned());
        self
    }

    /// `senderStaffId`; `None` leaves it out (external users, the console's debug group).
    pub fn sender_staff_id(mut self, id: Option<&str>) -> Self {
        self.sender_staff_id = Some(id.map(str::to_owned));
        self
    }

    /// Signs with this secret instead of the app's.
    pub fn secret(mut self, secret: &str) -> Self {
        self.secret = Some(secret.to_owned());
        self
    }

    /// Moves the signed timestamp (and `createAt`) by `ms`: negative is stale, positive future.
    pub fn skew_ms(mut self, ms: i64) -> Self {
        self.skew_ms = ms;
        self
    }

    /// Sends this exact `timestamp` header text (signed as is).
    pub fn raw_timestamp(mut self, text: &str) -> Self {
        self.raw_timestamp = Some(text.to_owned());
        self
    }

    /// Leaves out the `timestamp` header.
    pub fn without_timestamp(mut self) -> Self {
        self.with_timestamp = false;
        self
    }

    /// Leaves out the `sign` header.
    pub fn without_sign(mut self) -> Self {
        self.with_sign = false;
        self
    }

    /// Posts these bytes as the body instead of a robot message (still signed).
    pub fn raw_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Changes the JSON body before it is sent.
    pub fn edit(mut self, edit: fn(&mut Value)) -> Self {
        self.edits.push(edit);
        self
    }

    /// Opens the session and builds the signed callback.
    pub fn build(self) -> Callback {
        let state = &self.state;
        let scenario = state.scenario();
        let app = &scenario.app;
        let chat = &scenario.chat_for(self.corp_id.as_deref());
        let now = state.clock().now_ms();
        let sent_ms = now.saturating_add(self.skew_ms);
        let group = self.chat == Chat::Group;
        let conversation_id = self.conversation_id.clone().unwrap_or_else(|| {
            if group { chat.group_conversation_id.clone() } else { chat.single_conversation_id.clone() }
        });
        let lifetime_ms = i64::try_from(scenario.sessions.lifetime_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let expires_ms = match self.session {
            SessionMode::Live | SessionMode::Unknown => sent_ms.saturating_add(lifetime_ms),
            SessionMode::Expired => now.saturating_sub(60_000),
        };
        let conversation_type = if group { "2" } else { "1" };
        let (session, session_webhook) = match &self.webhook {
            Some((url, expires_ms)) => {
                let id = reqwest::Url::parse(url)
                    .ok()
                    .and_then(|u| u.query_pairs().find(|(k, _)| k == "session").map(|(_, v)| v.into_owned()))
                    .unwrap_or_default();
                let session = Session {
                    id,
                    conversation_id: conversation_id.clone(),
                    conversation_type: conversation_type.to_owned(),
                    created_ms: sent_ms,
                    expires_ms: *expires_ms,
                };
                (session, url.clone())
            }
            None => self.open_session(&conversation_id, conversation_type, sent_ms, expires_ms),
        };
        let expires_ms = session.expires_ms;
        let msg_id = self.msg_id.clone().unwrap_or_else(|| format!("msg{}", wire::random_base64(16)));
        let chatbot_user_id = format!("$:LWCP_v1:${}", wire::stable_base64(&format!("bot/{}", app.client_id), 24));
        let sender_staff_id = self.sender_staff_id.clone().unwrap_or_else(|| Some(chat.sender_staff_id.clone()));
        let sender_seed = sender_staff_id.clone().unwrap_or_else(|| chat.sender_nick.clone());
        let (msgtype, text, content) = self.words(&app.bot_name, group);
        let corp_id = self.corp_id.clone().unwrap_or_else(|| app.corp_id.clone());

        let message = RobotMessage {
            sender_platform: match self.format {
                Format::HarmonyRichText => "HarmonyOS".to_owned(),
                _ => chat.sender_platform.clone(),
            },
            conversation_id: conversation_id.clone(),
            at_users: group.then(|| vec![json!({ "dingtalkId": chatbot_user_id })]),
            chatbot_corp_id: corp_id.clone(),
            chatbot_user_id: chatbot_user_id.clone(),
            open_thread_id: conversation_id.clone(),
            msg_id: msg_id.clone(),
            sender_nick: chat.sender_nick.clone(),
            is_admin: true,
            sender_staff_id,
            session_webhook_expired_time: expires_ms,
            create_at: sent_ms,
            sender_corp_id: corp_id,
            conversation_type,
            sender_id: format!("$:LWCP_v1:${}", wire::stable_base64(&format!("user/{sender_seed}"), 16)),
            conversation_title: group.then(|| chat.group_title.clone()),
            is_in_at_list: group.then_some(true),
            session_webhook: session_webhook.clone(),
            text,
            content,
            robot_code: app.robot_code().to_owned(),
            msgtype,
        };
        let body = match &self.body {
            Some(raw) => raw.clone(),
            None if self.edits.is_empty() => serde_json::to_vec(&message).unwrap_or_default(),
            None => {
                let mut value = serde_json::to_value(&message).unwrap_or(Value::Null);
                for edit in &self.edits {
                    edit(&mut value);
                }
                serde_json::to_vec(&value).unwrap_or_default()
            }
        };

        let timestamp = self.raw_timestamp.clone().unwrap_or_else(|| sent_ms.to_string());
        let secret = self.secret.as_deref().unwrap_or(&app.client_secret);
        let mut headers = Vec::new();
        if self.with_timestamp {
            headers.push(("timestamp".to_owned(), timestamp.clone()));
        }
        if self.with_sign {
            headers.push(("sign".to_owned(), sign(&timestamp, secret)));
        }
        Callback {
            headers,
            body,
            msg_id,
            conversation_id,
            session_id: session.id,
            session_webhook,
            timestamp_ms: sent_ms,
        }
    }

    /// Opens (or, for [`SessionMode::Unknown`], only invents) the message's session, and its URL.
    fn open_session(
        &self,
        conversation_id: &str,
        conversation_type: &str,
        sent_ms: i64,
        expires_ms: i64,
    ) -> (Session, String) {
        let state = &self.state;
        let session = match self.session {
            SessionMode::Unknown => Session {
                id: wire::hex(32),
                conversation_id: conversation_id.to_owned(),
                conversation_type: conversation_type.to_owned(),
                created_ms: sent_ms,
                expires_ms,
            },
            SessionMode::Live | SessionMode::Expired => {
                state.open_session(conversation_id, conversation_type, expires_ms)
            }
        };
        let session_webhook = match &self.webhook_host {
            Some(host) => format!("https://{host}/robot/sendBySession?session={}", session.id),
            None => state.session_url(&session.id),
        };
        (session, session_webhook)
    }

    /// `msgtype`, `text` and `content` for the chosen format.
    fn words(&self, bot_name: &str, group: bool) -> (String, Option<Value>, Option<Value>) {
        // DingTalk removes the @-mention of the robot; typed first, it leaves its space behind.
        let spoken = if group && !self.mention_at_end { format!(" {}", self.text) } else { self.text.clone() };
        let picture =
            || json!({ "downloadCode": wire::random_base64(48), "pictureDownloadCode": wire::random_base64(48) });
        match &self.format {
            Format::Text => ("text".to_owned(), Some(json!({ "content": spoken })), None),
            Format::RichText => {
                let mut image = picture();
                if let Some(fields) = image.as_object_mut() {
                    fields.insert("type".to_owned(), json!("picture"));
                }
                let segments = json!([{ "text": spoken }, image]);
                ("richText".to_owned(), None, Some(json!({ "richText": segments })))
            }
            Format::HarmonyRichText => {
                let mut segments = Vec::new();
                if group {
                    segments.push(json!({ "text": format!("@{bot_name}") }));
                }
                segments.push(json!({ "text": self.text }));
                ("richText".to_owned(), None, Some(json!({ "richText": segments })))
            }
            Format::Picture => ("picture".to_owned(), None, Some(picture())),
            Format::Other { msgtype, content } => (msgtype.clone(), None, Some(content.clone())),
        }
    }

    /// Builds the message and pushes it on the Stream gateway as a `CALLBACK` frame, to one live
    /// connection (or the next one to open).
    pub fn push(self) -> Pushed {
        let state = Arc::clone(&self.state);
        let callback = self.build();
        state.push_callback(callback)
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
