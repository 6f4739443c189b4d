//! Inbound robot messages: the wire shape DingTalk posts (HTTP body or Stream `data`) and the
//! domain [`InboundMessage`] the bot works with.

use serde::{Deserialize, Serialize};

use super::loose_json;
use super::webhook::{HostNotAllowed, SessionWebhook, UncheckedWebhook, WebhookHosts};

/// A robot callback body as DingTalk sends it, the fields the bot uses. Every field but the four
/// that identify the message is optional, and the others are skipped without being copied
/// (`createAt`, `conversationTitle`, `senderId`, `chatbotUserId`, `isInAtList`, `atUsers`, …).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackBody {
    pub msgtype: String,
    pub msg_id: String,
    pub conversation_id: String,
    #[serde(deserialize_with = "loose_json::string")]
    pub conversation_type: String,
    #[serde(default)]
    pub text: Option<TextContent>,
    #[serde(default)]
    pub content: Option<serde_json::Value>,
    #[serde(default)]
    pub sender_nick: Option<String>,
    #[serde(default)]
    pub sender_staff_id: Option<String>,
    #[serde(default)]
    pub sender_corp_id: Option<String>,
    #[serde(default)]
    pub chatbot_corp_id: Option<String>,
    #[serde(default)]
    pub robot_code: Option<String>,
    #[serde(default)]
    pub session_webhook: Option<String>,
    #[serde(default, deserialize_with = "loose_json::opt_i64")]
    pub session_webhook_expired_time: Option<i64>,
    /// Who the message @-mentions (the robot among them, without a staff id).
    #[serde(default)]
    pub at_users: Option<Vec<AtUser>>,
}

/// One @-mentioned member of `atUsers`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AtUser {
    #[serde(default)]
    pub staff_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TextContent {
    #[serde(default)]
    pub content: String,
}

/// Whether a message came from a group or a 1:1 chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConversationKind {
    Single,
    Group,
}

/// What the person sent, reduced to what the bot can read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// Text from a `text` message, or the joined text segments of a `richText` one.
    Text(String),
    /// Any other message type (picture, audio, file, …), by its `msgtype`.
    Unsupported(String),
}

/// Where a reply can go: the short-lived session webhook, or the OpenAPI with these ids.
///
/// `W` is the session webhook's state: [`UncheckedWebhook`] as a transport delivers it,
/// [`SessionWebhook`] once [`InboundMessage::check_webhook`] found its host allowed. Only the
/// checked kind can be replied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyTarget<W = SessionWebhook> {
    pub session_webhook: Option<W>,
    pub conversation_id: String,
    pub kind: ConversationKind,
    pub robot_code: Option<String>,
    pub sender_staff_id: Option<String>,
    /// The organisation the robot lives in (`chatbotCorpId`, else `senderCorpId`): whose token
    /// a third-party app uses.
    pub corp_id: Option<String>,
}

/// A message as the bot sees it, whichever way it arrived; `W` as in [`ReplyTarget`]. The
/// journal keeps it as JSON (written checked, read back unchecked).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message<W = SessionWebhook> {
    pub id: String,
    /// When the message arrived (its body was parsed): the `replied` log line's latency. A
    /// journaled message finished after a restart counts from when it was read back.
    #[serde(skip, default = "std::time::Instant::now")]
    pub received: std::time::Instant,
    pub body: Body,
    pub sender_nick: Option<String>,
    pub reply_to: ReplyTarget<W>,
    /// The staff ids of the members the message @-mentions (from `atUsers`, never its text:
    /// DingTalk drops other people's mentions from a text's `content`), the robot not among them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentioned: Vec<String>,
}

/// A message as a transport hands it to the bot: its session webhook not checked yet.
pub type InboundMessage = Message<UncheckedWebhook>;

impl InboundMessage {
    /// The message with its session webhook checked against `hosts` (a message without one
    /// passes: its reply goes through the OpenAPI).
    pub fn check_webhook(self, hosts: &WebhookHosts) -> Result<Message, HostNotAllowed> {
        let Self { id, received, body, sender_nick, reply_to, mentioned } = self;
        let ReplyTarget { session_webhook, conversation_id, kind, robot_code, sender_staff_id, corp_id } = reply_to;
        let session_webhook = session_webhook.map(|webhook| hosts.check(webhook)).transpose()?;
        let reply_to = ReplyTarget { session_webhook, conversation_id, kind, robot_code, sender_staff_id, corp_id };
        Ok(Message { id, received, body, sender_nick, reply_to, mentioned })
    }
}

impl Message {
    /// A 1:1 text message typed locally (the `query` command), with nowhere to reply.
    pub fn local(text: String) -> Self {
        Self {
            id: "local".to_owned(),
            received: std::time::Instant::now(),
            body: Body::Text(text),
            sender_nick: None,
            reply_to: ReplyTarget {
                session_webhook: None,
                conversation_id: "local".to_owned(),
                kind: ConversationKind::Single,
                robot_code: None,
                sender_staff_id: None,
                corp_id: None,
            },
            mentioned: Vec::new(),
        }
    }
}

/// `@Name` and nothing else (a mention segment of a richText message).
fn is_bare_mention(text: &str) -> bool {
    let text = text.trim();
    text.starts_with('@') && !text.chars().any(char::is_whitespace)
}

impl CallbackBody {
    /// Parses a callback body. `Err` carries serde's description of what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The readable text of the message, or the kind of message it is.
    pub fn body(&self) -> Body {
        match self.msgtype.as_str() {
            "text" => Body::Text(self.text.as_ref().map(|t| t.content.clone()).unwrap_or_default()),
            "richText" => Body::Text(self.rich_text()),
            other => Body::Unsupported(other.to_owned()),
        }
    }

    /// Joins the `text` segments of `content.richText`; pictures are skipped, and so are leading
    /// segments that are only an @-mention: the HarmonyOS and Mac clients repeat `@机器人` as a
    /// segment of its own, glued to the command after it (`[{"text":"@机器人"},{"text":"/server"}]`).
    fn rich_text(&self) -> String {
        let segments = self.content.as_ref().and_then(|c| c.get("richText")).and_then(|r| r.as_array());
        segments
            .into_iter()
            .flatten()
            .filter_map(|segment| segment.get("text").and_then(|t| t.as_str()))
            .skip_while(|text| is_bare_mention(text))
            .collect()
    }

    pub fn into_inbound(self) -> InboundMessage {
        let body = self.body();
        let kind = if self.conversation_type == "1" { ConversationKind::Single } else { ConversationKind::Group };
        let non_empty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
        let mut mentioned: Vec<String> = Vec::new();
        for staff in self.at_users.into_iter().flatten().filter_map(|user| non_empty(user.staff_id)) {
            if !mentioned.contains(&staff) && Some(&staff) != self.sender_staff_id.as_ref() {
                mentioned.push(staff);
            }
        }
        InboundMessage {
            id: self.msg_id,
            received: std::time::Instant::now(),
            body,
            sender_nick: self.sender_nick,
            reply_to: ReplyTarget {
                session_webhook: non_empty(self.session_webhook)
                    .map(|url| UncheckedWebhook { url, expires_ms: self.session_webhook_expired_time }),
                conversation_id: self.conversation_id,
                kind,
                robot_code: non_empty(self.robot_code),
                sender_staff_id: non_empty(self.sender_staff_id),
                corp_id: non_empty(self.chatbot_corp_id).or(non_empty(self.sender_corp_id)),
            },
            mentioned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUP_SAMPLE: &str = r#"{
      "senderPlatform": "Win",
      "conversationId": "cidJ8k435QAsxsxUvwst7NoMHCWTc0OaNCfYyGOsDesCH0=",
      "atUsers": [{"dingtalkId": "$:LWCP_v1:$Ye+/QnqHtPJ6FGksGAAsQyD+nsGwOaAd"}],
      "chatbotCorpId": "dingc5344d64bd47d252",
      "chatbotUserId": "$:LWCP_v1:$Ye+/QnqHtPJ6FGksGAAsQyD+nsGwOaAd",
      "openThreadId": "cidJ8k435QAsxsxUvwst7NoMHCWTc0OaNCfYyGOsDesCH0=",
      "msgId": "msgMxpQ+qegFQ4MpgOyu0UFrQ==",
      "senderNick": "张三",
      "isAdmin": true,
      "senderStaffId": "manager807",
      "sessionWebhookExpiredTime": 1769857097744,
      "createAt": 1769851697611,
      "senderCorpId": "dingc5344d64bd47d252",
      "conversationType": "2",
      "senderId": "$:LWCP_v1:$gzXDEXQDiM8piyLH4HRRcg==",
      "conversationTitle": "机器人测试群",
      "isInAtList": true,
      "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=3dc9981636af125faaf72220d6242ff7",
      "text": {"content": " 查询会议 123456789"},
      "robotCode": "dingf0apw4ibx5u5ktba",
      "msgtype": "text"
    }"#;

    /// docs/dingtalk-protocol.md §1.5.
    #[test]
    fn the_reference_group_sample_parses() {
        let msg = CallbackBody::parse(GROUP_SAMPLE.as_bytes()).expect("sample parses").into_inbound();
        assert_eq!(msg.id, "msgMxpQ+qegFQ4MpgOyu0UFrQ==");
        assert_eq!(msg.body, Body::Text(" 查询会议 123456789".into()));
        assert_eq!(msg.reply_to.kind, ConversationKind::Group);
        assert_eq!(msg.reply_to.sender_staff_id.as_deref(), Some("manager807"));
        assert_eq!(msg.reply_to.session_webhook.as_ref().and_then(|w| w.expires_ms), Some(1769857097744));
        assert_eq!(msg.reply_to.corp_id.as_deref(), Some("dingc5344d64bd47d252"));
    }

    #[test]
    fn rich_text_segments_are_joined_and_pictures_skipped() {
        let body = r#"{"msgtype":"richText","msgId":"m","conversationId":"c","conversationType":"2",
            "content":{"richText":[{"text":"@机器人 /meeting"},{"downloadCode":"x","type":"picture"},{"text":" 123456789"}]}}"#;
        let msg = CallbackBody::parse(body.as_bytes()).expect("parses");
        assert_eq!(msg.body(), Body::Text("@机器人 /meeting 123456789".into()));
    }

    #[test]
    fn the_harmony_os_mention_segment_does_not_swallow_the_command() {
        let body = r#"{"msgtype":"richText","msgId":"m","conversationId":"c","conversationType":"2",
            "content":{"richText":[{"text":"@机器人"},{"text":"/meting 123456789"}]}}"#;
        let msg = CallbackBody::parse(body.as_bytes()).expect("parses");
        assert_eq!(msg.body(), Body::Text("/meting 123456789".into()));
    }

    #[test]
    fn the_mac_clients_mention_segments_leave_the_words_and_later_mentions() {
        // The segments of a live Mac-client capture (2026): the robot first, another person later.
        let body = r#"{"msgtype":"richText","msgId":"m","conversationId":"c","conversationType":"2",
            "content":{"richText":[{"text":"@小白"},{"text":"给"},{"text":"@释心"},{"text":"发个消息“"},
            {"text":"你12好"},{"text":"”"}]}}"#;
        let msg = CallbackBody::parse(body.as_bytes()).expect("parses");
        assert_eq!(msg.body(), Body::Text("给@释心发个消息“你12好”".into()));
    }

    #[test]
    fn numbers_and_strings_are_both_accepted_where_captures_disagree() {
        let body = r#"{"msgtype":"text","msgId":"m","conversationId":"c","conversationType":1,
            "createAt":"1769851697611","sessionWebhookExpiredTime":"1769857097744","text":{"content":"hi"},
            "sessionWebhook":"https://oapi.dingtalk.com/robot/sendBySession?session=s"}"#;
        let msg = CallbackBody::parse(body.as_bytes()).expect("parses").into_inbound();
        assert_eq!(msg.reply_to.kind, ConversationKind::Single);
        assert_eq!(msg.reply_to.session_webhook.as_ref().and_then(|w| w.expires_ms), Some(1769857097744));
    }

    #[test]
    fn other_message_types_are_unsupported_by_name() {
        let body = r#"{"msgtype":"picture","msgId":"m","conversationId":"c","conversationType":"1","content":{"downloadCode":"x"}}"#;
        assert_eq!(CallbackBody::parse(body.as_bytes()).expect("parses").body(), Body::Unsupported("picture".into()));
    }

    #[test]
    fn a_body_without_msg_id_is_refused() {
        assert!(CallbackBody::parse(br#"{"msgtype":"text","conversationId":"c","conversationType":"1"}"#).is_err());
    }

    #[test]
    fn corp_id_falls_back_to_the_sender_corp() {
        let body = r#"{"msgtype":"text","msgId":"m","conversationId":"c","conversationType":"1","senderCorpId":"dingA","chatbotCorpId":""}"#;
        let msg = CallbackBody::parse(body.as_bytes()).expect("parses").into_inbound();
        assert_eq!(msg.reply_to.corp_id.as_deref(), Some("dingA"));
    }
}
