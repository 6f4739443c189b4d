//! `GET /api/replies`: what the bot posted to the simulated session webhook or robot OpenAPI,
//! and the interactive cards it delivered or updated, normalised for the page, long-polled. An
//! updated card comes again under its update's number, as it stands now, for the page to
//! redraw in place.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use dingtalk_sim::records::cards::{CardCallKind, SimCard};
use dingtalk_sim::records::{OpenApiSend, Records, SendKind, WebhookPost};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Chat, LONG_POLL, Playground};

/// A message the bot posted, as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reply {
    pub seq: u64,
    /// `webhook` (the session webhook), `openapi` (the robot send API) or `card` (an
    /// interactive card, created or updated).
    pub via: String,
    pub chat: Option<Chat>,
    pub conversation_id: Option<String>,
    /// The session webhook it was posted to.
    pub session: Option<String>,
    /// Accepted by (simulated) DingTalk.
    pub delivered: bool,
    /// Why it was refused: `300001 session 不存在`, `400 invalidParameter.msgParam.invalid`…
    pub error: Option<String>,
    /// `markdown`, `actionCard`, `text`, `link`… (the OpenAPI's `msgKey` mapped to these).
    pub msgtype: String,
    pub title: Option<String>,
    /// Markdown for `markdown` and `actionCard`; plain text otherwise.
    pub text: String,
    pub buttons: Vec<Button>,
    /// `btnOrientation` `"1"`: buttons side by side.
    pub buttons_horizontal: bool,
    pub at_user_ids: Vec<String>,
    pub at_all: bool,
    /// What was posted, as JSON (a card's parameters as they stand).
    pub body: Option<Value>,
    /// For `via` `card`: which card it is, so the page redraws it in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<CardShown>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub title: String,
    pub url: String,
}

/// An interactive card as the page draws it: its `outTrackId`, how often it was updated, and
/// its buttons that call the bot back (Refresh) rather than open a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardShown {
    pub out_track_id: String,
    pub updates: usize,
    pub actions: Vec<CardAction>,
}

/// A card button that calls back: its id (`refresh`) and label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardAction {
    pub id: String,
    pub title: String,
}

/// The shape of a message body, shared by the webhook (`{msgtype, markdown:{…}}`) and the
/// OpenAPI (`msgKey` + `msgParam`).
#[derive(Default)]
struct Shown {
    msgtype: String,
    title: Option<String>,
    text: String,
    buttons: Vec<Button>,
    horizontal: bool,
}

fn str_of<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn owned(value: &Value, key: &str) -> String {
    str_of(value, key).unwrap_or_default().to_owned()
}

/// Reads a webhook body (`msgtype` and its object).
fn shown_from_webhook(body: &Value) -> Shown {
    let msgtype = owned(body, "msgtype");
    let inner = body.get(&msgtype).cloned().unwrap_or(Value::Null);
    let mut shown = Shown { msgtype: msgtype.clone(), ..Shown::default() };
    match msgtype.as_str() {
        "text" => shown.text = owned(&inner, "content"),
        "markdown" => {
            shown.title = str_of(&inner, "title").map(str::to_owned);
            shown.text = owned(&inner, "text");
        }
        "actionCard" => {
            shown.title = str_of(&inner, "title").map(str::to_owned);
            shown.text = owned(&inner, "text");
            shown.horizontal = str_of(&inner, "btnOrientation") == Some("1");
            if let (Some(title), Some(url)) = (str_of(&inner, "singleTitle"), str_of(&inner, "singleURL")) {
                shown.buttons.push(Button { title: title.to_owned(), url: url.to_owned() });
            }
            for button in inner.get("btns").and_then(Value::as_array).into_iter().flatten() {
                if let (Some(title), Some(url)) = (str_of(button, "title"), str_of(button, "actionURL")) {
                    shown.buttons.push(Button { title: title.to_owned(), url: url.to_owned() });
                }
            }
        }
        "link" => {
            shown.title = str_of(&inner, "title").map(str::to_owned);
            shown.text = owned(&inner, "text");
            if let Some(url) = str_of(&inner, "messageUrl") {
                shown.buttons.push(Button { title: shown.title.clone().unwrap_or_default(), url: url.to_owned() });
            }
        }
        _ => {}
    }
    shown
}

/// Reads an OpenAPI send (`msgKey` and the JSON-encoded `msgParam`).
fn shown_from_openapi(send: &OpenApiSend) -> Shown {
    let param = send.msg_param().unwrap_or(Value::Null);
    let key = send.msg_key().unwrap_or_default();
    let mut shown = Shown { msgtype: key.to_owned(), ..Shown::default() };
    match key {
        "sampleText" => {
            shown.msgtype = "text".to_owned();
            shown.text = owned(&param, "content");
        }
        "sampleMarkdown" => {
            shown.msgtype = "markdown".to_owned();
            shown.title = str_of(&param, "title").map(str::to_owned);
            shown.text = owned(&param, "text");
        }
        "sampleActionCard" => {
            shown.msgtype = "actionCard".to_owned();
            shown.title = str_of(&param, "title").map(str::to_owned);
            shown.text = owned(&param, "text");
            if let (Some(title), Some(url)) = (str_of(&param, "singleTitle"), str_of(&param, "singleURL")) {
                shown.buttons.push(Button { title: title.to_owned(), url: url.to_owned() });
            }
        }
        "sampleLink" => {
            shown.msgtype = "link".to_owned();
            shown.title = str_of(&param, "title").map(str::to_owned);
            shown.text = owned(&param, "text");
            if let Some(url) = str_of(&param, "messageUrl") {
                shown.buttons.push(Button { title: shown.title.clone().unwrap_or_default(), url: url.to_owned() });
            }
        }
        _ => {}
    }
    shown
}

/// A card's buttons (`sys_full_json_obj.msgButtons`): links to open, and callbacks.
fn card_buttons(card: &SimCard) -> (Vec<Button>, Vec<CardAction>) {
    let (mut links, mut actions) = (Vec::new(), Vec::new());
    for button in card.buttons() {
        let title = owned(&button, "text");
        if let Some(url) = str_of(&button, "url") {
            links.push(Button { title, url: url.to_owned() });
        } else if button.get("request").and_then(Value::as_bool) == Some(true) {
            actions.push(CardAction { id: owned(&button, "id"), title });
        }
    }
    (links, actions)
}

impl Playground {
    fn reply_from_card(&self, seq: u64, card: &SimCard) -> Reply {
        let (buttons, actions) = card_buttons(card);
        let conversation_id = match card.space_type.as_str() {
            "IM_GROUP" => Some(card.space_id.clone()),
            _ => {
                let chat = &self.sim.scenario().chat;
                (card.space_id == chat.sender_staff_id).then(|| chat.single_conversation_id.clone())
            }
        };
        Reply {
            seq,
            via: "card".to_owned(),
            chat: conversation_id.as_deref().and_then(|c| self.chat_of(c)),
            conversation_id,
            session: None,
            delivered: true,
            error: None,
            msgtype: "interactive".to_owned(),
            title: None,
            text: card.markdown().to_owned(),
            buttons,
            buttons_horizontal: true,
            at_user_ids: card.at_user_ids.keys().cloned().collect(),
            at_all: false,
            body: serde_json::to_value(&card.params).ok(),
            card: Some(CardShown { out_track_id: card.out_track_id.clone(), updates: card.updates(), actions }),
        }
    }

    /// Cards created or updated after `after`, each once, under its newest call's number.
    fn cards_after(&self, records: &Records, after: u64) -> Vec<Reply> {
        let mut newest: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
        let calls = records.cards.calls.iter().filter(|call| {
            call.seq > after
                && call.accepted()
                && matches!(call.kind, CardCallKind::CreateAndDeliver | CardCallKind::Update)
        });
        for call in calls {
            if let Some(id) = call.body.as_ref().and_then(|body| str_of(body, "outTrackId")) {
                newest.insert(id, call.seq);
            }
        }
        newest
            .into_iter()
            .filter_map(|(id, seq)| records.cards.cards.get(id).map(|card| self.reply_from_card(seq, card)))
            .collect()
    }

    fn reply_from_post(&self, post: &WebhookPost) -> Reply {
        let shown = post.body.as_ref().map(shown_from_webhook).unwrap_or_default();
        let at = post.body.as_ref().and_then(|b| b.get("at"));
        Reply {
            seq: post.seq,
            via: "webhook".to_owned(),
            chat: post.conversation_id.as_deref().and_then(|c| self.chat_of(c)),
            conversation_id: post.conversation_id.clone(),
            session: Some(post.session.clone()),
            delivered: post.delivered(),
            error: (!post.delivered()).then(|| format!("{} {}", post.errcode, post.errmsg)),
            msgtype: shown.msgtype,
            title: shown.title,
            text: shown.text,
            buttons: shown.buttons,
            buttons_horizontal: shown.horizontal,
            at_user_ids: post.at_user_ids(),
            at_all: at.and_then(|a| a.get("isAtAll")).and_then(Value::as_bool).unwrap_or(false),
            body: post.body.clone(),
            card: None,
        }
    }

    fn reply_from_send(&self, send: &OpenApiSend) -> Reply {
        let shown = shown_from_openapi(send);
        let conversation_id = match send.kind {
            SendKind::Group => send.open_conversation_id().map(str::to_owned),
            SendKind::OneToOne => {
                let chat = &self.sim.scenario().chat;
                send.user_ids().contains(&chat.sender_staff_id).then(|| chat.single_conversation_id.clone())
            }
        };
        Reply {
            seq: send.seq,
            via: "openapi".to_owned(),
            chat: conversation_id.as_deref().and_then(|c| self.chat_of(c)),
            conversation_id,
            session: None,
            delivered: send.accepted(),
            error: send.error_code.as_ref().map(|code| format!("{} {code}", send.status)),
            msgtype: shown.msgtype,
            title: shown.title,
            text: shown.text,
            buttons: shown.buttons,
            buttons_horizontal: shown.horizontal,
            at_user_ids: Vec::new(),
            at_all: false,
            body: send.body.clone(),
            card: None,
        }
    }

    /// Replies after `after` that `filter` wants, oldest first.
    fn replies_after(&self, records: &Records, after: u64, filter: &ReplyFilter) -> Vec<Reply> {
        let posts = records.webhook_posts.iter().filter(|p| p.seq > after).map(|p| self.reply_from_post(p));
        let sends = records.openapi_sends.iter().filter(|s| s.seq > after).map(|s| self.reply_from_send(s));
        let cards = self.cards_after(records, after);
        let mut replies: Vec<Reply> = posts.chain(sends).chain(cards).filter(|r| filter.wants(r)).collect();
        replies.sort_by_key(|r| r.seq);
        replies
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RepliesQuery {
    #[serde(default)]
    after: u64,
    /// Only posts to this session webhook (and OpenAPI sends and cards to `conversation`).
    #[serde(default)]
    session: Option<String>,
    #[serde(default)]
    conversation: Option<String>,
    /// Seconds to wait for something new (at most [`LONG_POLL`]; 0 answers at once).
    #[serde(default)]
    wait: Option<u64>,
}

struct ReplyFilter {
    session: Option<String>,
    conversation: Option<String>,
}

impl ReplyFilter {
    fn wants(&self, reply: &Reply) -> bool {
        if self.session.is_none() && self.conversation.is_none() {
            return reply.chat.is_some();
        }
        let same_session = self.session.is_some() && reply.session == self.session;
        let same_conversation = matches!(reply.via.as_str(), "openapi" | "card")
            && self.conversation.is_some()
            && reply.conversation_id == self.conversation;
        same_session || same_conversation
    }
}

#[derive(Debug, Serialize)]
pub(super) struct RepliesAnswer {
    replies: Vec<Reply>,
    /// Ask again with `after` = this.
    latest: u64,
}

pub(super) async fn replies(
    State(pg): State<Arc<Playground>>,
    Query(query): Query<RepliesQuery>,
) -> Json<RepliesAnswer> {
    let filter = ReplyFilter { session: query.session, conversation: query.conversation };
    let wait = query.wait.map_or(LONG_POLL, |secs| Duration::from_secs(secs).min(LONG_POLL));
    let after = query.after;
    let found = tokio::select! {
        found = pg.sim.wait_until(wait, |records| {
            let replies = pg.replies_after(records, after, &filter);
            (!replies.is_empty()).then_some(replies)
        }) => found.unwrap_or_default(),
        () = pg.stop.cancelled() => Vec::new(),
    };
    let latest = found.iter().map(|r| r.seq).max().unwrap_or(after);
    Json(RepliesAnswer { replies: found, latest })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn webhook_bodies_are_read_for_the_page() {
        let card = json!({"msgtype": "actionCard", "actionCard": {"title": "t", "text": "### x",
            "singleTitle": "加入会议", "singleURL": "https://m.example/j/1", "btnOrientation": "0"}});
        let shown = shown_from_webhook(&card);
        assert_eq!((shown.msgtype.as_str(), shown.text.as_str()), ("actionCard", "### x"));
        assert_eq!(shown.buttons, [Button { title: "加入会议".into(), url: "https://m.example/j/1".into() }]);
        let text = shown_from_webhook(&json!({"msgtype": "text", "text": {"content": "hi"}}));
        assert_eq!((text.msgtype.as_str(), text.text.as_str()), ("text", "hi"));
        let odd = shown_from_webhook(&json!({"msgtype": 5}));
        assert_eq!((odd.msgtype.as_str(), odd.text.as_str()), ("", ""));
    }

    #[test]
    fn a_cards_buttons_are_links_to_open_and_callbacks_to_press() {
        let buttons = json!({"msgButtons": [
            {"text": "加入会议", "color": "blue", "id": "join-0", "url": "https://m.example/j/1", "iosUrl": "https://m.example/j/1"},
            {"text": "刷新", "color": "gray", "id": "refresh", "request": true},
            {"text": "odd", "id": "neither"},
        ]});
        let params = std::collections::BTreeMap::from([
            ("markdown".to_owned(), "### x".to_owned()),
            ("sys_full_json_obj".to_owned(), buttons.to_string()),
        ]);
        let card = SimCard {
            out_track_id: "t".into(),
            corp_id: "c".into(),
            template_id: "x.schema".into(),
            open_space_id: "dtv1.card//IM_GROUP.cid".into(),
            space_type: "IM_GROUP".into(),
            space_id: "cid".into(),
            callback_type: Some("STREAM".into()),
            callback_route_key: None,
            at_user_ids: std::collections::BTreeMap::new(),
            history: vec![params.clone()],
            params,
            created_ms: 0,
        };
        let (links, actions) = card_buttons(&card);
        assert_eq!(links, [Button { title: "加入会议".into(), url: "https://m.example/j/1".into() }]);
        assert_eq!(actions, [CardAction { id: "refresh".into(), title: "刷新".into() }]);
        let bare = SimCard { params: std::collections::BTreeMap::new(), ..card };
        assert_eq!(card_buttons(&bare), (Vec::new(), Vec::new()), "a card without buttons has none");
    }
}
