//! What the simulator records, and what tests and the playground read back: every webhook
//! post, OpenAPI send, token request and conference lookup (numbered from one sequence with the
//! Stream gateway's frames, in [`stream`]), and counts over them.

pub mod actions;
pub mod cards;
pub mod events;
pub mod stream;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use stream::StreamRecords;

/// One `POST /robot/sendBySession`, whatever the answer was.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookPost {
    /// Order among everything recorded (webhook posts and OpenAPI sends share one sequence).
    pub seq: u64,
    pub session: String,
    /// The session's conversation, when the session was known.
    pub conversation_id: Option<String>,
    /// Simulator time of the post.
    pub at_ms: i64,
    /// The body, when it was JSON.
    pub body: Option<Value>,
    /// The body's size in bytes.
    pub bytes: usize,
    /// What the simulator answered (0 = delivered).
    pub errcode: i64,
    pub errmsg: String,
}

impl WebhookPost {
    /// True when the message was accepted (`errcode` 0).
    pub fn delivered(&self) -> bool {
        self.errcode == 0
    }

    pub fn msgtype(&self) -> Option<&str> {
        self.body.as_ref()?.get("msgtype")?.as_str()
    }

    /// The visible text: `markdown.text`, `text.content` or `actionCard.text`.
    pub fn text(&self) -> Option<&str> {
        let body = self.body.as_ref()?;
        [("markdown", "text"), ("text", "content"), ("actionCard", "text")]
            .iter()
            .find_map(|(outer, inner)| body.get(outer)?.get(inner)?.as_str())
    }

    /// `markdown.title` or `actionCard.title`: what the notification shows.
    pub fn title(&self) -> Option<&str> {
        let body = self.body.as_ref()?;
        ["markdown", "actionCard"].iter().find_map(|outer| body.get(outer)?.get("title")?.as_str())
    }

    /// `at.atUserIds`.
    pub fn at_user_ids(&self) -> Vec<String> {
        string_list(self.body.as_ref().and_then(|b| b.get("at")).and_then(|at| at.get("atUserIds")))
    }
}

/// Which robot OpenAPI endpoint was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendKind {
    /// `POST /v1.0/robot/groupMessages/send`.
    Group,
    /// `POST /v1.0/robot/oToMessages/batchSend`.
    OneToOne,
}

/// One robot OpenAPI send, whatever the answer was.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenApiSend {
    pub seq: u64,
    pub kind: SendKind,
    pub at_ms: i64,
    /// The body, when it was JSON.
    pub body: Option<Value>,
    /// The HTTP status answered (200 = accepted).
    pub status: u16,
    /// The error code answered, if any.
    pub error_code: Option<String>,
}

impl OpenApiSend {
    pub fn accepted(&self) -> bool {
        self.status == 200
    }

    fn field(&self, name: &str) -> Option<&str> {
        self.body.as_ref()?.get(name)?.as_str()
    }

    pub fn msg_key(&self) -> Option<&str> {
        self.field("msgKey")
    }

    pub fn robot_code(&self) -> Option<&str> {
        self.field("robotCode")
    }

    pub fn open_conversation_id(&self) -> Option<&str> {
        self.field("openConversationId")
    }

    pub fn user_ids(&self) -> Vec<String> {
        string_list(self.body.as_ref().and_then(|b| b.get("userIds")))
    }

    /// `msgParam` decoded (it travels as a JSON-encoded string).
    pub fn msg_param(&self) -> Option<Value> {
        serde_json::from_str(self.field("msgParam")?).ok()
    }

    /// The visible text of the message: `msgParam.text` or `msgParam.content`.
    pub fn text(&self) -> Option<String> {
        let param = self.msg_param()?;
        param.get("text").or_else(|| param.get("content"))?.as_str().map(str::to_owned)
    }
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Which token endpoint a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRoute {
    /// `POST /v1.0/oauth2/accessToken` (internal apps: the app's own organisation).
    AccessToken,
    /// `POST /v1.0/oauth2/{corpId}/token` (`client_credentials`).
    Unified,
    /// `POST /v1.0/oauth2/corpAccessToken` (suite ticket).
    Classic,
}

/// One token request, whatever the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCall {
    /// Order among everything recorded.
    pub seq: u64,
    pub route: TokenRoute,
    /// The organisation asked for: `{corpId}`, `authCorpId`, or for `accessToken` the app's own.
    pub corp_id: Option<String>,
    /// The suite ticket presented (classic route).
    pub suite_ticket: Option<String>,
    /// The token handed out.
    pub issued: Option<String>,
    /// The error code answered instead.
    pub refused: Option<String>,
}

/// One request to the conference infos endpoint: the token it presented and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub seq: u64,
    pub code: String,
    /// The `x-acs-dingtalk-access-token` header, if any.
    pub token: Option<String>,
    /// The organisation the token was issued to, when it is valid (not unknown, expired or revoked).
    pub corp_id: Option<String>,
}

/// One old-style `POST /topapi/v2/user/get`, whatever the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserLookup {
    pub seq: u64,
    /// The `userid` asked about, when the body named one.
    pub staff_id: Option<String>,
    /// The organisation of the `access_token`, when it was valid.
    pub corp_id: Option<String>,
    /// What was answered (0 = found).
    pub errcode: i64,
}

/// Everything recorded so far, as [`crate::SimState::wait_until`] sees it.
#[derive(Debug, Default, Clone)]
pub struct Records {
    pub webhook_posts: Vec<WebhookPost>,
    pub openapi_sends: Vec<OpenApiSend>,
    /// Requests to the conference infos endpoint, per room code (every page, every outcome, every
    /// organisation).
    pub conference_calls: HashMap<String, usize>,
    /// The conference requests that got past the token check or were refused for it, in order.
    pub lookups: Vec<Lookup>,
    /// Requests to any token endpoint, successful or not.
    pub token_requests: usize,
    /// Tokens handed out.
    pub tokens_issued: usize,
    /// Every token request, in order.
    pub token_calls: Vec<TokenCall>,
    /// Every old-style user lookup, in order.
    pub user_lookups: Vec<UserLookup>,
    /// The Stream gateway: connections, frames sent and frames received (numbered from the same
    /// `seq` as webhook posts, so a test can tell an ack came before a reply).
    pub stream: StreamRecords,
    /// The card endpoints' calls and the cards they delivered.
    pub cards: cards::CardRecords,
    /// The meeting events made, and their HTTP pushes.
    pub events: events::EventRecords,
    /// Video conferences created and closed, calendars read, in order.
    pub actions: Vec<actions::MeetingAction>,
}

impl Records {
    /// Webhook posts that were delivered (`errcode` 0).
    pub fn delivered_posts(&self) -> Vec<&WebhookPost> {
        self.webhook_posts.iter().filter(|p| p.delivered()).collect()
    }

    /// OpenAPI sends that were accepted.
    pub fn accepted_sends(&self) -> Vec<&OpenApiSend> {
        self.openapi_sends.iter().filter(|s| s.accepted()).collect()
    }

    /// Accepted proactive sends into one conversation: a group's `openConversationId`, or a
    /// 1:1 chat's person (staff id).
    pub fn sends_to(&self, conversation_or_user: &str) -> Vec<&OpenApiSend> {
        self.openapi_sends
            .iter()
            .filter(|s| s.accepted())
            .filter(|s| {
                s.open_conversation_id() == Some(conversation_or_user)
                    || s.user_ids().iter().any(|user| user == conversation_or_user)
            })
            .collect()
    }

    /// Requests for `code` so far.
    pub fn conference_calls(&self, code: &str) -> usize {
        self.conference_calls.get(code).copied().unwrap_or(0)
    }

    /// The lookups of `code` so far, in order.
    pub fn lookups_of(&self, code: &str) -> Vec<&Lookup> {
        self.lookups.iter().filter(|l| l.code == code).collect()
    }

    /// The token requests for organisation `corp` so far, in order.
    pub fn token_calls_for(&self, corp: &str) -> Vec<&TokenCall> {
        self.token_calls.iter().filter(|c| c.corp_id.as_deref() == Some(corp)).collect()
    }

    /// Counts over the records; with `mention_prefix`, also the delivered posts that @-mention a
    /// staff id starting with it, and how many distinct ids those are.
    pub fn tally(&self, mention_prefix: Option<&str>) -> Tally {
        let records = self;
        let mut tally = Tally {
            webhook_posts: records.webhook_posts.len(),
            openapi_sends: records.openapi_sends.len(),
            conference_calls: records.conference_calls.values().sum(),
            token_requests: records.token_requests,
            tokens_issued: records.tokens_issued,
            ..Tally::default()
        };
        let mut seen = HashSet::new();
        let mut sample = None;
        let mut mentioned =
            mention_prefix.map(|prefix| Mentioned { prefix: prefix.to_owned(), ..Mentioned::default() });
        for post in &records.webhook_posts {
            if !post.delivered() {
                *tally.refused.entry(post.errcode).or_default() += 1;
                continue;
            }
            tally.delivered += 1;
            let Some(counts) = mentioned.as_mut() else { continue };
            let first = post.body.as_ref().and_then(|b| b.get("at")?.get("atUserIds")?.get(0)?.as_str());
            if let Some(id) = first.filter(|id| id.starts_with(&counts.prefix)) {
                counts.delivered += 1;
                seen.insert(id);
                sample = post.body.as_ref();
            }
        }
        if let Some(counts) = mentioned.as_mut() {
            counts.distinct = seen.len();
            counts.sample = sample.cloned();
        }
        tally.mentioned = mentioned;
        tally
    }
}

/// Counts over everything recorded, for a load run: computed under the lock without copying
/// the records (`GET /api/stats` of the sandbox).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tally {
    /// Session-webhook posts, answered or refused.
    pub webhook_posts: usize,
    /// Of those, delivered (`errcode` 0).
    pub delivered: usize,
    /// Refused posts by `errcode`.
    pub refused: BTreeMap<i64, usize>,
    /// Robot OpenAPI sends, accepted or refused.
    pub openapi_sends: usize,
    /// Requests to the conference infos endpoint, every code.
    pub conference_calls: usize,
    /// Requests to `POST /v1.0/oauth2/accessToken`.
    pub token_requests: usize,
    pub tokens_issued: usize,
    /// With a mention prefix: the delivered posts that @-mention a staff id starting with it,
    /// and how many distinct staff ids they mention (equal when no reply arrived twice).
    pub mentioned: Option<Mentioned>,
}

/// Delivered posts @-mentioning staff ids with a given prefix.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Mentioned {
    pub prefix: String,
    pub delivered: usize,
    pub distinct: usize,
    /// The body of the last of them, as posted.
    pub sample: Option<Value>,
}
