//! The body and headers of a robot message, as DingTalk builds them: keys in the order of a
//! captured callback, the @-mention quirks of each client, a fresh session webhook, and the
//! signature.

use serde::Serialize;
use serde_json::{Value, json};

use super::draft::{Chat, Draft, Format, SessionMode};
use crate::ids;
use crate::robot_callback::Callback;
use crate::sign::sign;
use crate::state::SimState;
use crate::state::sessions::Session;

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
    sender_union_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Value>,
    robot_code: String,
    msgtype: String,
}

impl Draft {
    /// Opens the session (in `state`) and builds the signed callback.
    pub(super) fn build(&self, state: &SimState) -> Callback {
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
            None => self.open_session(state, &conversation_id, conversation_type, sent_ms, expires_ms),
        };
        let expires_ms = session.expires_ms;
        let msg_id = self.msg_id.clone().unwrap_or_else(|| format!("msg{}", ids::random_base64(16)));
        let chatbot_user_id = format!("$:LWCP_v1:${}", ids::stable_base64(&format!("bot/{}", app.client_id), 24));
        let sender_staff_id = self.sender_staff_id.clone().unwrap_or_else(|| Some(chat.sender_staff_id.clone()));
        let sender_seed = sender_staff_id.clone().unwrap_or_else(|| chat.sender_nick.clone());
        let corp = self.corp_id.clone().unwrap_or_else(|| app.corp_id.clone());
        let names: Vec<String> = self
            .mentioned
            .iter()
            .filter_map(|staff| state.users().get(&corp, staff).map(|user| format!("@{}", user.name)))
            .collect();
        let (msgtype, text, content) = self.words(&app.bot_name, group, &names);
        let corp_id = self.corp_id.clone().unwrap_or_else(|| app.corp_id.clone());

        let message = RobotMessage {
            sender_platform: match self.format {
                Format::HarmonyRichText => "HarmonyOS".to_owned(),
                _ => chat.sender_platform.clone(),
            },
            conversation_id: conversation_id.clone(),
            at_users: group.then(|| {
                let union_of = |staff: &str| {
                    state.users().get(&corp, staff).map_or_else(|| ids::union_id_for(staff), |user| user.union_id)
                };
                let people = self.mentioned.iter().map(
                    |staff| json!({ "unionId": union_of(staff), "dingtalkId": dingtalk_id(staff), "staffId": staff }),
                );
                people.chain([json!({ "dingtalkId": chatbot_user_id })]).collect()
            }),
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
            sender_id: dingtalk_id(&sender_seed),
            conversation_title: group.then(|| chat.group_title.clone()),
            is_in_at_list: group.then_some(true),
            session_webhook: session_webhook.clone(),
            sender_union_id: ids::union_id_for(&sender_seed),
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
        state: &SimState,
        conversation_id: &str,
        conversation_type: &str,
        sent_ms: i64,
        expires_ms: i64,
    ) -> (Session, String) {
        let session = match self.session {
            SessionMode::Unknown => Session {
                id: ids::hex(32),
                conversation_id: conversation_id.to_owned(),
                conversation_type: conversation_type.to_owned(),
                created_ms: sent_ms,
                expires_ms,
            },
            SessionMode::Live | SessionMode::Expired => {
                state.sessions().open(conversation_id, conversation_type, expires_ms)
            }
        };
        let session_webhook = match &self.webhook_host {
            Some(host) => format!("https://{host}/robot/sendBySession?session={}", session.id),
            None => state.sessions().url(&session.id),
        };
        (session, session_webhook)
    }

    /// `msgtype`, `text` and `content` for the chosen format.
    fn words(&self, bot_name: &str, group: bool, others: &[String]) -> (String, Option<Value>, Option<Value>) {
        // DingTalk removes the @-mention of the robot; typed first, it leaves its space behind.
        // Other people's @-mentions are dropped from a text's content too (they are in `atUsers`).
        let mut said = self.text.clone();
        if group {
            for mention in others {
                said = said.replace(mention.as_str(), "");
            }
            said = said.trim_end().to_owned();
        }
        let spoken = if group && !self.mention_at_end { format!(" {said}") } else { said.clone() };
        let picture =
            || json!({ "downloadCode": ids::random_base64(48), "pictureDownloadCode": ids::random_base64(48) });
        match &self.format {
            Format::Text => ("text".to_owned(), Some(json!({ "content": spoken })), None),
            Format::RichText => {
                let mut image = picture();
                if let Some(fields) = image.as_object_mut() {
                    fields.insert("type".to_owned(), json!("picture"));
                }
                let mut segments = Vec::new();
                if group && !self.mention_at_end {
                    segments.push(json!({ "text": format!("@{bot_name}") }));
                }
                // In richText each of the other people's @-mentions is a segment of its own.
                segments.push(json!({ "text": said }));
                segments.extend(others.iter().filter(|_| group).map(|mention| json!({ "text": mention })));
                if group && self.mention_at_end {
                    segments.push(json!({ "text": format!("@{bot_name}") }));
                }
                segments.push(image);
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
}

/// A person's `senderId` / `atUsers[].dingtalkId`, stable for the same seed.
fn dingtalk_id(seed: &str) -> String {
    format!("$:LWCP_v1:${}", ids::stable_base64(&format!("user/{seed}"), 16))
}
