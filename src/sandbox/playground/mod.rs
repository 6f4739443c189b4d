//! The playground: a page that looks like a DingTalk chat, and the small JSON API behind it.
//!
//! `POST /api/send` has the simulator sign and post a robot callback to the bot, exactly as
//! DingTalk would; `GET /api/replies` long-polls what the bot then posted to the simulated
//! session webhook (or the robot OpenAPI) and the interactive cards it delivered and updated,
//! normalised for the page; `POST /api/press` presses a card's button and `/api/meetings` moves
//! a booked meeting and has people join and leave it, as DingTalk's meeting events (`cards.rs`). `GET /api/sandbox` tells
//! the page (and `dingmeet send`) where everything is. The page itself is plain HTML, CSS and
//! JavaScript compiled into the binary. Only loopback `Host`s are answered. This file is the
//! router, the page's assets and `/api/sandbox`; `send.rs` is what the page sends, `replies.rs`
//! what the bot posted.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::clock::Speed;
use crate::config::Mode;
use crate::lang::Lang;
use dingtalk_sim::SimState;
use dingtalk_sim::records::{Records, Tally};

mod cards;
mod clock;
mod replies;
mod send;

use replies::replies;
pub use replies::{Button, CardAction, CardShown, Reply};
pub use send::{Spoken, split_mention};
use send::{open_session, send};

const INDEX_HTML: &str = include_str!("../assets/index.html");
const PLAYGROUND_CSS: &str = include_str!("../assets/playground.css");
const PLAYGROUND_JS: &str = include_str!("../assets/playground.js");

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
    speed: Arc<Speed>,
}

impl Playground {
    pub fn new(sim: Arc<SimState>, callback_url: String, lang: Lang, mode: Mode, stop: CancellationToken) -> Self {
        let speed = Speed::start(sim.clock().clone(), stop.clone());
        Self { sim, callback_url, lang, mode, stop, speed }
    }

    /// How fast the simulated clock runs.
    pub fn speed(&self) -> &Speed {
        &self.speed
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
        .route("/api/clock", get(clock::show).post(clock::change))
        .route("/api/press", post(cards::press))
        .route("/api/meetings", get(cards::meetings).post(cards::move_meeting))
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

pub(super) fn error(status: StatusCode, message: &str) -> Response {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_are_answered() {
        for host in ["127.0.0.1:8600", "localhost:8600", "LOCALHOST", "[::1]:8600", "127.0.0.1"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["", "evil.example", "evil.example:8600", "127.0.0.1.evil.example:80", "[::2]:1"] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
