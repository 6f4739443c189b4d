//! What a robot message is to be: the options a `MessageBuilder` collects, as plain
//! data, and the choices they name (chat, format, what the session webhook does).

use serde_json::Value;

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
    /// `msgtype: richText`: in groups the robot's @-mention as a segment of its own (as a live
    /// Mac-client capture has it, the words after it without a leading space), the words, then a
    /// picture.
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

/// The options of one robot message; `build.rs` turns them into a signed callback.
#[derive(Debug, Clone)]
pub(super) struct Draft {
    pub(super) text: String,
    pub(super) chat: Chat,
    pub(super) format: Format,
    pub(super) mention_at_end: bool,
    pub(super) session: SessionMode,
    pub(super) webhook_host: Option<String>,
    /// A session webhook opened elsewhere (its URL and `sessionWebhookExpiredTime`).
    pub(super) webhook: Option<(String, i64)>,
    pub(super) msg_id: Option<String>,
    pub(super) conversation_id: Option<String>,
    pub(super) corp_id: Option<String>,
    pub(super) sender_staff_id: Option<Option<String>>,
    pub(super) secret: Option<String>,
    pub(super) skew_ms: i64,
    pub(super) raw_timestamp: Option<String>,
    pub(super) with_timestamp: bool,
    pub(super) with_sign: bool,
    pub(super) body: Option<Vec<u8>>,
    pub(super) edits: Vec<fn(&mut Value)>,
    /// Other people the message @-mentions, by staff id (listed in `atUsers` before the robot).
    pub(super) mentioned: Vec<String>,
}

impl Draft {
    /// A group text message saying `text`, from the scenario's sender, signed, live.
    pub(super) fn new(text: String) -> Self {
        Self {
            text,
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
            mentioned: Vec::new(),
        }
    }
}
