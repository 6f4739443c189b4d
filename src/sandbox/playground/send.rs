//! `POST /api/send` and `POST /api/sessions`: what the page sends, signed and posted by the simulator
//! as DingTalk would, with the robot's @-mention read as DingTalk reads it.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dingtalk_sim::MessageBuilder;
use serde::{Deserialize, Serialize};

use super::{Chat, MAX_TEXT_CHARS, Playground, error};

#[derive(Debug, Deserialize)]
pub(super) struct SendRequest {
    text: String,
    #[serde(default = "group")]
    chat: Chat,
}

fn group() -> Chat {
    Chat::Group
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SendAnswer {
    /// The bot's HTTP answer to the callback.
    status: u16,
    body: String,
    msg_id: String,
    session: String,
    conversation_id: String,
    /// A note for the person, e.g. that a group message needs an @-mention.
    hint: Option<&'static str>,
    /// In stream mode: the frame's `messageId` (the message went down the WebSocket, not HTTP).
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_message_id: Option<String>,
}

/// The words DingTalk delivers for a group message, and where the @-mention was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spoken {
    pub words: String,
    /// The robot was @-mentioned.
    pub mentioned: bool,
    /// The mention came last (`帮助@会议助手`), so DingTalk leaves no leading space.
    pub at_end: bool,
}

/// Takes the @-mentions of other members (`@李四`) out of a group message's words, as DingTalk
/// does (they arrive in `atUsers` instead): the words left, and whom they mentioned, by staff id.
fn other_mentions(words: &str, members: &[dingtalk_sim::state::users::User]) -> (String, Vec<String>) {
    let mut left = words.to_owned();
    let mut mentioned = Vec::new();
    for member in members.iter().filter(|m| !m.name.is_empty()) {
        let mention = format!("@{}", member.name);
        if left.contains(&mention) {
            left = left.replace(&mention, "");
            mentioned.push(member.staff_id.clone());
        }
    }
    (left.split_whitespace().collect::<Vec<_>>().join(" "), mentioned)
}

/// Removes the robot's @-mention from a group message, as DingTalk does before delivering it.
pub fn split_mention(text: &str, names: &[String]) -> Spoken {
    let trimmed = text.trim();
    for name in names.iter().filter(|n| !n.is_empty()) {
        let mention = format!("@{name}");
        if let Some(rest) = strip_prefix_ignore_case(trimmed, &mention)
            && (rest.is_empty() || rest.starts_with(char::is_whitespace))
        {
            return Spoken { words: rest.trim_start().to_owned(), mentioned: true, at_end: false };
        }
        if let Some(rest) = strip_suffix_ignore_case(trimmed, &mention) {
            return Spoken { words: rest.trim_end().to_owned(), mentioned: true, at_end: true };
        }
        if let Some(at) = find_ignore_case(trimmed, &format!("{mention} "))
            && let (Some(before), Some(after)) = (trimmed.get(..at), trimmed.get(at + mention.len() + 1..))
        {
            return Spoken { words: format!("{before}{after}"), mentioned: true, at_end: false };
        }
    }
    Spoken { words: trimmed.to_owned(), mentioned: false, at_end: false }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) { text.get(prefix.len()..) } else { None }
}

fn strip_suffix_ignore_case<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let start = text.len().checked_sub(suffix.len())?;
    let tail = text.get(start..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &text[..start])
}

fn find_ignore_case(text: &str, needle: &str) -> Option<usize> {
    let lowered = text.to_ascii_lowercase();
    lowered.find(&needle.to_ascii_lowercase())
}

pub(super) async fn send(
    State(pg): State<Arc<Playground>>,
    request: Result<Json<SendRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match request {
        Ok(request) => request,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, &rejection.body_text()),
    };
    if request.text.trim().is_empty() {
        return error(StatusCode::BAD_REQUEST, "type a message first");
    }
    if request.text.chars().count() > MAX_TEXT_CHARS {
        return error(StatusCode::BAD_REQUEST, "that message is too long for the playground");
    }
    let (message, hint) = match request.chat {
        Chat::Group => {
            let spoken = split_mention(&request.text, &pg.mention_names());
            let members = pg.sim.users().of(pg.sim.home_corp());
            let (words, others) = other_mentions(&spoken.words, &members);
            let mut message = MessageBuilder::new(Arc::clone(&pg.sim), words).group();
            for staff_id in &others {
                message = message.mentioning(staff_id);
            }
            if spoken.at_end {
                message = message.mention_at_end();
            }
            let hint = (!spoken.mentioned).then_some("no_mention");
            (message, hint)
        }
        // In a 1:1 chat nothing is removed: the text arrives as typed.
        Chat::Single => (MessageBuilder::new(Arc::clone(&pg.sim), request.text.trim()).single(), None),
    };
    // Signed with the wall clock the bot checks signatures against, however far the
    // simulated clock was run ahead.
    let message = message.skew_ms(crate::clock::now_ms().saturating_sub(pg.sim.clock().now_ms()));
    if !pg.mode.http() {
        // Stream mode: DingTalk pushes the message down the bot's WebSocket instead.
        let pushed = message.push();
        let Some(callback) = pushed.callback else {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "the simulator pushed no robot message");
        };
        return Json(SendAnswer {
            status: 200,
            body: String::new(),
            msg_id: callback.msg_id,
            session: callback.session_id,
            conversation_id: callback.conversation_id,
            hint,
            stream_message_id: Some(pushed.message_id),
        })
        .into_response();
    }
    match message.post(&pg.callback_url).await {
        Ok(delivery) => Json(SendAnswer {
            status: delivery.status,
            body: delivery.body,
            msg_id: delivery.callback.msg_id,
            session: delivery.callback.session_id,
            conversation_id: delivery.callback.conversation_id,
            hint,
            stream_message_id: None,
        })
        .into_response(),
        Err(err) => error(StatusCode::BAD_GATEWAY, &format!("the bot did not answer the callback: {err}")),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SessionRequest {
    #[serde(default = "group")]
    chat: Chat,
    #[serde(default)]
    conversation_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionAnswer {
    session: String,
    session_webhook: String,
    expires_ms: i64,
    conversation_id: String,
}

/// Opens a live session webhook in the simulator, for a callback signed elsewhere
/// (`dingmeet send` against the sandbox).
pub(super) async fn open_session(
    State(pg): State<Arc<Playground>>,
    request: Result<Json<SessionRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match request {
        Ok(request) => request,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, &rejection.body_text()),
    };
    let conversation_id = request
        .conversation_id
        .filter(|id| !id.trim().is_empty())
        .unwrap_or_else(|| pg.conversation_of(request.chat).to_owned());
    let conversation_type = match request.chat {
        Chat::Group => "2",
        Chat::Single => "1",
    };
    let lifetime_ms = i64::try_from(pg.sim.scenario().sessions.lifetime_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let expires_ms = pg.sim.clock().now_ms().saturating_add(lifetime_ms);
    let session = pg.sim.sessions().open(&conversation_id, conversation_type, expires_ms);
    Json(SessionAnswer {
        session_webhook: pg.sim.sessions().url(&session.id),
        session: session.id,
        expires_ms,
        conversation_id,
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["会议助手".to_owned(), "MeetingBot".to_owned()]
    }

    #[test]
    fn the_robots_mention_is_removed_as_dingtalk_removes_it() {
        let spoken = |text: &str| split_mention(text, &names());
        assert_eq!(
            spoken("@会议助手 /meeting 123456789"),
            Spoken { words: "/meeting 123456789".into(), mentioned: true, at_end: false }
        );
        assert_eq!(spoken("@meetingbot /m 1").words, "/m 1");
        assert_eq!(spoken("帮助@会议助手"), Spoken { words: "帮助".into(), mentioned: true, at_end: true });
        assert_eq!(spoken("请 @会议助手 查询 123").words, "请 查询 123");
        assert_eq!(spoken("@会议助手"), Spoken { words: String::new(), mentioned: true, at_end: false });
        assert_eq!(spoken("/meeting 1"), Spoken { words: "/meeting 1".into(), mentioned: false, at_end: false });
        // Another person's mention stays, as in DingTalk.
        assert!(!spoken("@张三 你好").mentioned);
        assert_eq!(spoken("@会议助手x 1").words, "@会议助手x 1");
    }

    proptest::proptest! {
        #[test]
        fn splitting_a_mention_never_panics_and_never_adds_text(text in "\\PC{0,40}", name in "\\PC{0,6}") {
            let spoken = split_mention(&text, &[name, "MeetingBot".to_owned()]);
            proptest::prop_assert!(spoken.words.len() <= text.len());
        }

        #[test]
        fn a_mention_anywhere_is_found_and_removed(before in "\\PC{0,12}", after in "\\PC{0,12}") {
            for text in [format!("{before}@会议助手 {after}"), format!("{before}@会议助手")] {
                let spoken = split_mention(&text, &names());
                proptest::prop_assert!(spoken.mentioned, "{text:?}");
                proptest::prop_assert!(spoken.words.len() < text.len(), "{text:?}");
            }
        }
    }
}
