//! The playground: a page that looks like a DingTalk chat, and the small JSON API behind it.
//!
//! `POST /api/send` has the simulator sign and post a robot callback to the bot, exactly as
//! DingTalk would; `GET /api/replies` long-polls what the bot then posted to the simulated
//! session webhook (or the robot OpenAPI), normalised for the page. `GET /api/sandbox` tells
//! the page (and `dingmeet send`) where everything is. The page itself is plain HTML, CSS and
//! JavaScript compiled into the binary. Only loopback `Host`s are answered.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::bot::i18n::Lang;
use crate::config::Mode;
use dingtalk_sim::records::{OpenApiSend, Records, SendKind, Tally, WebhookPost};
use dingtalk_sim::{MessageBuilder, SimState};

const INDEX_HTML: &str = include_str!("assets/index.html");
const PLAYGROUND_CSS: &str = include_str!("assets/playground.css");
const PLAYGROUND_JS: &str = include_str!("assets/playground.js");

/// The longest message the page may send, in characters.
pub const MAX_TEXT_CHARS: usize = 5000;
/// How long `GET /api/replies` waits for something new before answering with nothing.
pub const LONG_POLL: Duration = Duration::from_secs(25);
/// Names that count as an @-mention of the robot besides its own (`@MeetingBot …`).
const MENTION_ALIASES: &[&str] = &["MeetingBot"];

/// The playground's state: the simulator it drives and the bot it talks to.
#[derive(Debug)]
pub struct Playground {
    sim: Arc<SimState>,
    callback_url: String,
    lang: Lang,
    mode: Mode,
    /// Cancelled at shutdown, so long polls end at once.
    stop: CancellationToken,
}

impl Playground {
    pub fn new(sim: Arc<SimState>, callback_url: String, lang: Lang, mode: Mode, stop: CancellationToken) -> Self {
        Self { sim, callback_url, lang, mode, stop }
    }

    pub fn callback_url(&self) -> &str {
        &self.callback_url
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    fn mention_names(&self) -> Vec<String> {
        let mut names = vec![self.sim.scenario().app.bot_name.clone()];
        names.extend(MENTION_ALIASES.iter().map(|n| (*n).to_owned()));
        names
    }

    /// Which playground chat a conversation is.
    fn chat_of(&self, conversation_id: &str) -> Option<Chat> {
        let chat = &self.sim.scenario().chat;
        if conversation_id == chat.group_conversation_id {
            Some(Chat::Group)
        } else if conversation_id == chat.single_conversation_id {
            Some(Chat::Single)
        } else {
            None
        }
    }

    fn conversation_of(&self, chat: Chat) -> &str {
        let scenario = &self.sim.scenario().chat;
        match chat {
            Chat::Group => &scenario.group_conversation_id,
            Chat::Single => &scenario.single_conversation_id,
        }
    }
}

/// The page and its API.
pub fn router(playground: Arc<Playground>) -> Router {
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/assets/playground.css", get(|| async { asset("text/css; charset=utf-8", PLAYGROUND_CSS) }))
        .route("/assets/playground.js", get(|| async { asset("text/javascript; charset=utf-8", PLAYGROUND_JS) }))
        .route("/api/sandbox", get(info))
        .route("/api/send", post(send))
        .route("/api/sessions", post(open_session))
        .route("/api/replies", get(replies))
        .route("/api/stats", get(stats))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such page") })
        .layer(middleware::from_fn(loopback_only))
        .with_state(playground)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// Answers only requests addressed to a loopback name (no DNS rebinding), and sets a strict
/// content security policy on everything: the page runs only its own script.
async fn loopback_only(request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    if !is_loopback_host(host) {
        return error(StatusCode::FORBIDDEN, "the playground answers only on 127.0.0.1 or localhost");
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// `127.0.0.1:8600`, `localhost`, `[::1]:8600`…
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    matches!(name.to_ascii_lowercase().as_str(), "127.0.0.1" | "localhost" | "::1")
}

// --- What the page needs to know ------------------------------------------------------------

/// A playground conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Chat {
    Group,
    Single,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Info {
    bot_name: String,
    mention_names: Vec<String>,
    lang: &'static str,
    mode: &'static str,
    callback_url: String,
    simulator_url: String,
    client_id: String,
    /// The simulated app's secret, from the scenario file (not a real credential): what
    /// `dingmeet send` signs with against the sandbox.
    client_secret: String,
    group_title: String,
    group_conversation_id: String,
    single_conversation_id: String,
    sender_nick: String,
    sender_staff_id: String,
    codes: Vec<CodeInfo>,
    /// The newest record: replies after it are new.
    latest: u64,
}

#[derive(Serialize)]
struct CodeInfo {
    code: String,
    about: String,
}

async fn info(State(pg): State<Arc<Playground>>) -> Json<Info> {
    let scenario = pg.sim.scenario();
    let codes = scenario
        .codes
        .iter()
        .map(|entry| CodeInfo {
            code: entry.code.clone(),
            about: if entry.about.is_empty() { super::describe(&entry.answer) } else { entry.about.clone() },
        })
        .collect();
    Json(Info {
        bot_name: scenario.app.bot_name.clone(),
        mention_names: pg.mention_names(),
        lang: pg.lang.code(),
        mode: match pg.mode {
            Mode::Http => "http",
            Mode::Stream => "stream",
            Mode::Both => "both",
        },
        callback_url: pg.callback_url.clone(),
        simulator_url: pg.sim.base_url().to_owned(),
        client_id: scenario.app.client_id.clone(),
        client_secret: scenario.app.client_secret.clone(),
        group_title: scenario.chat.group_title.clone(),
        group_conversation_id: scenario.chat.group_conversation_id.clone(),
        single_conversation_id: scenario.chat.single_conversation_id.clone(),
        sender_nick: scenario.chat.sender_nick.clone(),
        sender_staff_id: scenario.chat.sender_staff_id.clone(),
        codes,
        latest: latest_seq(&pg.sim.records()),
    })
}

fn latest_seq(records: &Records) -> u64 {
    let posts = records.webhook_posts.iter().map(|p| p.seq);
    let sends = records.openapi_sends.iter().map(|s| s.seq);
    posts.chain(sends).max().unwrap_or(0)
}

// --- Sending ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct SendRequest {
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

async fn send(State(pg): State<Arc<Playground>>, request: Result<Json<SendRequest>, JsonRejection>) -> Response {
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
            let mut message = MessageBuilder::new(Arc::clone(&pg.sim), spoken.words).group();
            if spoken.at_end {
                message = message.mention_at_end();
            }
            let hint = (!spoken.mentioned).then_some("no_mention");
            (message, hint)
        }
        // In a 1:1 chat nothing is removed: the text arrives as typed.
        Chat::Single => (MessageBuilder::new(Arc::clone(&pg.sim), request.text.trim()).single(), None),
    };
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
struct SessionRequest {
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
async fn open_session(
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
    let session = pg.sim.open_session(&conversation_id, conversation_type, expires_ms);
    Json(SessionAnswer {
        session_webhook: pg.sim.session_url(&session.id),
        session: session.id,
        expires_ms,
        conversation_id,
    })
    .into_response()
}

// --- Counts -----------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct StatsQuery {
    /// Also count delivered replies that @-mention staff ids starting with this (the load
    /// benchmark gives each message its own sender).
    mentions: Option<String>,
}

/// What the simulator has seen, counted: posts by outcome, OpenAPI sends, conference calls and
/// token requests (`bench/load.sh` reads it).
async fn stats(State(pg): State<Arc<Playground>>, Query(query): Query<StatsQuery>) -> Json<Tally> {
    Json(pg.sim.tally(query.mentions.as_deref().filter(|p| !p.is_empty())))
}

// --- Replies ---------------------------------------------------------------------------------

/// A message the bot posted, as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reply {
    pub seq: u64,
    /// `webhook` (the session webhook) or `openapi` (the robot send API).
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
    /// What was posted, as JSON.
    pub body: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub title: String,
    pub url: String,
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

impl Playground {
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
        }
    }

    /// Replies after `after` that `filter` wants, oldest first.
    fn replies_after(&self, records: &Records, after: u64, filter: &ReplyFilter) -> Vec<Reply> {
        let posts = records.webhook_posts.iter().filter(|p| p.seq > after).map(|p| self.reply_from_post(p));
        let sends = records.openapi_sends.iter().filter(|s| s.seq > after).map(|s| self.reply_from_send(s));
        let mut replies: Vec<Reply> = posts.chain(sends).filter(|r| filter.wants(r)).collect();
        replies.sort_by_key(|r| r.seq);
        replies
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RepliesQuery {
    #[serde(default)]
    after: u64,
    /// Only posts to this session webhook (and OpenAPI sends to `conversation`).
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
        let same_conversation =
            reply.via == "openapi" && self.conversation.is_some() && reply.conversation_id == self.conversation;
        same_session || same_conversation
    }
}

#[derive(Debug, Serialize)]
struct RepliesAnswer {
    replies: Vec<Reply>,
    /// Ask again with `after` = this.
    latest: u64,
}

async fn replies(State(pg): State<Arc<Playground>>, Query(query): Query<RepliesQuery>) -> Json<RepliesAnswer> {
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

    #[test]
    fn only_loopback_hosts_are_answered() {
        for host in ["127.0.0.1:8600", "localhost:8600", "LOCALHOST", "[::1]:8600", "127.0.0.1"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["", "evil.example", "evil.example:8600", "127.0.0.1.evil.example:80", "[::2]:1"] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

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
}
