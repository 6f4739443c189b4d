//! The simulator's shared state, in one struct every endpoint (and the Stream gateway) reads:
//! the scenario, the clock, the organisations and the tokens issued to each, live sessions, what
//! was posted, call counters and injected failures. Test-facing methods live here too (the
//! gateway's in `stream.rs`).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

use super::clock::SimClock;
use super::scenario::{CodeAnswer, CodeScenario, Scenario};
use super::stream::{Gateway, StreamRecords};
use super::wire;

/// A session webhook the simulator handed out with a robot message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The `session` query value: 32 lower-case hex digits.
    pub id: String,
    pub conversation_id: String,
    /// `"1"` 1:1, `"2"` group.
    pub conversation_type: String,
    pub created_ms: i64,
    pub expires_ms: i64,
}

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

/// Everything recorded so far, as [`SimState::wait_until`] sees it.
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
    /// The Stream gateway: connections, frames sent and frames received (numbered from the same
    /// `seq` as webhook posts, so a test can tell an ack came before a reply).
    pub stream: StreamRecords,
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

/// A wait that ran out of time; says what had been recorded.
#[derive(Debug, thiserror::Error)]
#[error("nothing matched within {timeout:?}; recorded so far: {seen}")]
pub struct WaitTimeout {
    pub timeout: Duration,
    pub seen: String,
}

/// Holds a code's answer until released (or dropped): lets a test observe what happens
/// while DingTalk is still thinking, without timing anything.
#[derive(Debug)]
pub struct Hold {
    release: watch::Sender<bool>,
}

impl Hold {
    /// Lets the held requests answer.
    pub fn release(self) {
        drop(self);
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.release.send_replace(true);
    }
}

/// How a code answers right now (the scenario's entry, changed by any injection).
#[derive(Debug, Clone)]
pub struct CodeBehaviour {
    pub answer: CodeAnswer,
    pub delay: Duration,
    pub(crate) hold: Option<watch::Receiver<bool>>,
}

impl CodeBehaviour {
    /// A code the scenario does not list: no meetings, at once.
    fn unknown() -> Self {
        Self { answer: CodeAnswer::Meetings(Vec::new()), delay: Duration::ZERO, hold: None }
    }
}

/// What a token check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    Valid,
    /// Never issued, expired by the simulator clock, or revoked.
    Invalid,
}

/// A token handed out: whose it is and until when.
#[derive(Debug, Clone)]
struct IssuedToken {
    corp_id: String,
    /// Simulator ms.
    expires_ms: i64,
}

/// An organisation's relation to the app right now.
#[derive(Debug, Clone, Copy)]
struct OrgState {
    installed: bool,
    conference_read: bool,
}

#[derive(Debug, Default)]
struct Inner {
    tokens: HashMap<String, IssuedToken>,
    /// By (organisation, code).
    codes: HashMap<(String, String), CodeBehaviour>,
    /// Every organisation the simulator knows; one it does not know has not installed the app.
    orgs: HashMap<String, OrgState>,
    /// The suite ticket the classic route accepts now.
    suite_ticket: String,
    sessions: HashMap<String, Session>,
    /// Accepted posts per conversation (simulator ms), for the per-minute limit.
    recent_posts: HashMap<String, VecDeque<i64>>,
    records: Records,
    seq: u64,
    gateway: Gateway,
}

/// The simulator's state, shared by every endpoint.
#[derive(Debug)]
pub struct SimState {
    scenario: Scenario,
    /// Which organisation each scenario conversation belongs to.
    conversation_corps: HashMap<String, String>,
    clock: SimClock,
    base_url: String,
    http: reqwest::Client,
    inner: Mutex<Inner>,
    changes: watch::Sender<u64>,
}

impl SimState {
    /// State for `scenario`, reading `clock`, reachable at `base_url` (`http://127.0.0.1:port`).
    pub fn new(scenario: Scenario, clock: SimClock, base_url: &str) -> Self {
        let home = scenario.app.corp_id.clone();
        let behaviour = |entry: &CodeScenario| CodeBehaviour {
            answer: entry.answer.clone(),
            delay: Duration::from_millis(entry.delay_ms),
            hold: None,
        };
        let mut codes: HashMap<(String, String), CodeBehaviour> =
            scenario.codes.iter().map(|entry| ((home.clone(), entry.code.clone()), behaviour(entry))).collect();
        let mut orgs = HashMap::from([(home.clone(), OrgState { installed: true, conference_read: true })]);
        let mut conversation_corps = HashMap::new();
        for corp in std::iter::once(home.as_str()).chain(scenario.orgs.iter().map(|o| o.corp_id.as_str())) {
            let chat = scenario.chat_for(Some(corp));
            conversation_corps.insert(chat.group_conversation_id, corp.to_owned());
            conversation_corps.insert(chat.single_conversation_id, corp.to_owned());
        }
        for org in &scenario.orgs {
            orgs.insert(
                org.corp_id.clone(),
                OrgState { installed: org.installed, conference_read: org.conference_read },
            );
            codes.extend(org.codes.iter().map(|entry| ((org.corp_id.clone(), entry.code.clone()), behaviour(entry))));
        }
        let suite_ticket = scenario.app.suite_ticket.clone();
        Self {
            scenario,
            conversation_corps,
            clock,
            base_url: base_url.trim_end_matches('/').to_owned(),
            http: crate::dingtalk::api::http_client(Duration::from_secs(30)),
            inner: Mutex::new(Inner { codes, orgs, suite_ticket, ..Inner::default() }),
            changes: watch::channel(0).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock; if something did, the data is still usable.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// `http://127.0.0.1:port`: the api.dingtalk.com and oapi.dingtalk.com stand-in.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The HTTP client the callback sender posts with.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The app's AppKey (Client ID).
    pub fn client_id(&self) -> &str {
        &self.scenario.app.client_id
    }

    /// The app's AppSecret: it signs callbacks and gets tokens.
    pub fn client_secret(&self) -> &str {
        &self.scenario.app.client_secret
    }

    /// The bot's settings for talking to this simulator, as `DINGMEET_*` variables.
    pub fn bot_env(&self) -> Vec<(String, String)> {
        let host = reqwest::Url::parse(&self.base_url)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_else(|| "127.0.0.1".to_owned());
        [
            ("DINGMEET_CLIENT_ID", self.client_id().to_owned()),
            ("DINGMEET_CLIENT_SECRET", self.client_secret().to_owned()),
            ("DINGMEET_API_BASE", self.base_url.clone()),
            ("DINGMEET_WEBHOOK_HOSTS", host),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    // --- Organisations ------------------------------------------------------------------------

    /// The app's own organisation (`app.corp_id`): its messages are the default ones, its
    /// meetings the top-level `[[codes]]`, and an internal app's token is its.
    pub fn home_corp(&self) -> &str {
        &self.scenario.app.corp_id
    }

    /// Whether organisation `corp` has installed the app now.
    pub fn org_installed(&self, corp: &str) -> bool {
        self.lock().orgs.get(corp).is_some_and(|org| org.installed)
    }

    /// Whether organisation `corp` granted the conference scope now.
    pub fn org_conference_read(&self, corp: &str) -> bool {
        self.lock().orgs.get(corp).is_some_and(|org| org.conference_read)
    }

    /// Organisation `corp` installs (authorises) the app: its token requests succeed from now on.
    /// A corp the scenario does not list becomes an organisation with no meetings.
    pub fn install_org(&self, corp: &str) {
        let mut inner = self.lock();
        let org = inner.orgs.entry(corp.to_owned()).or_insert(OrgState { installed: true, conference_read: true });
        org.installed = true;
    }

    /// Organisation `corp` removes the app: its token requests are refused from now on, and every
    /// token it was issued stops working (`InvalidAuthentication`) at once.
    pub fn uninstall_org(&self, corp: &str) {
        let mut inner = self.lock();
        if let Some(org) = inner.orgs.get_mut(corp) {
            org.installed = false;
        }
        inner.tokens.retain(|_, issued| issued.corp_id != corp);
    }

    /// Organisation `corp` grants (or withdraws) `VideoConference.Conference.Read`.
    pub fn set_conference_read(&self, corp: &str, granted: bool) {
        if let Some(org) = self.lock().orgs.get_mut(corp) {
            org.conference_read = granted;
        }
    }

    /// The organisation a scenario conversation belongs to.
    pub fn conversation_corp(&self, conversation_id: &str) -> Option<&str> {
        self.conversation_corps.get(conversation_id).map(String::as_str)
    }

    // --- Access tokens ------------------------------------------------------------------------

    /// The suite ticket the classic `corpAccessToken` route accepts now.
    pub fn suite_ticket(&self) -> String {
        self.lock().suite_ticket.clone()
    }

    /// Makes `ticket` the only suite ticket the classic route accepts (the previous one is stale).
    pub fn set_suite_ticket(&self, ticket: &str) {
        ticket.clone_into(&mut self.lock().suite_ticket);
    }

    /// Issues a token for organisation `corp`, valid for the scenario's lifetime; returns it and
    /// `expireIn`.
    pub fn issue_token(&self, corp: &str) -> (String, u64) {
        let lifetime = self.scenario.app.token_lifetime_secs;
        let token = wire::hex(32);
        let expires_ms =
            self.clock.now_ms().saturating_add(i64::try_from(lifetime.saturating_mul(1000)).unwrap_or(i64::MAX));
        let mut inner = self.lock();
        inner.tokens.insert(token.clone(), IssuedToken { corp_id: corp.to_owned(), expires_ms });
        inner.records.tokens_issued += 1;
        drop(inner);
        self.changed();
        (token, lifetime)
    }

    /// Records a token request and its answer.
    pub(crate) fn record_token_call(&self, mut call: TokenCall) {
        {
            let mut inner = self.lock();
            inner.seq += 1;
            call.seq = inner.seq;
            inner.records.token_requests += 1;
            inner.records.token_calls.push(call);
        }
        self.changed();
    }

    pub fn check_token(&self, token: &str) -> TokenCheck {
        if self.token_corp(token).is_some() { TokenCheck::Valid } else { TokenCheck::Invalid }
    }

    /// The organisation a valid token was issued to; `None` for a token never issued, expired by
    /// the simulator clock, or revoked.
    pub fn token_corp(&self, token: &str) -> Option<String> {
        let now = self.clock.now_ms();
        self.lock().tokens.get(token).filter(|issued| now < issued.expires_ms).map(|issued| issued.corp_id.clone())
    }

    /// Makes every issued token invalid: the next call with one answers `InvalidAuthentication`.
    pub fn revoke_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// Requests to any token endpoint, successful or not.
    pub fn token_requests(&self) -> usize {
        self.lock().records.token_requests
    }

    /// Every token request so far, in order.
    pub fn token_calls(&self) -> Vec<TokenCall> {
        self.lock().records.token_calls.clone()
    }

    /// Tokens handed out.
    pub fn tokens_issued(&self) -> usize {
        self.lock().records.tokens_issued
    }

    /// The text of every token handed out and not revoked (to prove none reaches a log).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.lock().tokens.keys().cloned().collect()
    }

    // --- Meeting codes ------------------------------------------------------------------------
    // Without `_in`, these are about the app's own organisation.

    /// How `code` answers now in the app's own organisation, if the scenario (or an injection)
    /// knows it.
    pub fn code_behaviour(&self, code: &str) -> Option<CodeBehaviour> {
        self.code_behaviour_in(self.home_corp(), code)
    }

    /// How `code` answers now in organisation `corp`.
    pub fn code_behaviour_in(&self, corp: &str, code: &str) -> Option<CodeBehaviour> {
        self.lock().codes.get(&(corp.to_owned(), code.to_owned())).cloned()
    }

    fn with_code<T>(&self, corp: &str, code: &str, f: impl FnOnce(&mut CodeBehaviour) -> T) -> T {
        let mut inner = self.lock();
        f(inner.codes.entry((corp.to_owned(), code.to_owned())).or_insert_with(CodeBehaviour::unknown))
    }

    /// Changes (or adds) the answer for `code`.
    pub fn set_answer(&self, code: &str, answer: CodeAnswer) {
        self.set_answer_in(&self.scenario.app.corp_id, code, answer);
    }

    /// Changes (or adds) the answer for `code` in organisation `corp`.
    pub fn set_answer_in(&self, corp: &str, code: &str, answer: CodeAnswer) {
        self.with_code(corp, code, |entry| entry.answer = answer);
    }

    /// Makes `code` answer after `delay` (zero: at once).
    pub fn set_delay(&self, code: &str, delay: Duration) {
        self.with_code(&self.scenario.app.corp_id, code, |entry| entry.delay = delay);
    }

    /// Holds every answer for `code` until the returned guard is released or dropped.
    pub fn hold(&self, code: &str) -> Hold {
        let (release, held) = watch::channel(false);
        self.with_code(&self.scenario.app.corp_id, code, |entry| entry.hold = Some(held));
        Hold { release }
    }

    pub(crate) fn count_conference_call(&self, code: &str) {
        *self.lock().records.conference_calls.entry(code.to_owned()).or_default() += 1;
        self.changed();
    }

    pub(crate) fn record_lookup(&self, mut lookup: Lookup) {
        {
            let mut inner = self.lock();
            inner.seq += 1;
            lookup.seq = inner.seq;
            inner.records.lookups.push(lookup);
        }
        self.changed();
    }

    /// Requests to the conference infos endpoint for `code` (every page, every outcome).
    pub fn conference_calls(&self, code: &str) -> usize {
        self.lock().records.conference_calls(code)
    }

    /// Every conference lookup so far: the token presented and whose it was.
    pub fn lookups(&self) -> Vec<Lookup> {
        self.lock().records.lookups.clone()
    }

    // --- Session webhooks ---------------------------------------------------------------------

    /// Opens a session for a conversation; it expires at `expires_ms` (simulator time).
    pub fn open_session(&self, conversation_id: &str, conversation_type: &str, expires_ms: i64) -> Session {
        let session = Session {
            id: wire::hex(32),
            conversation_id: conversation_id.to_owned(),
            conversation_type: conversation_type.to_owned(),
            created_ms: self.clock.now_ms(),
            expires_ms,
        };
        self.lock().sessions.insert(session.id.clone(), session.clone());
        session
    }

    /// The session webhook URL for a session id.
    pub fn session_url(&self, session_id: &str) -> String {
        format!("{}/robot/sendBySession?session={session_id}", self.base_url)
    }

    /// The session, if it exists and has not expired by the simulator clock.
    pub fn live_session(&self, session_id: &str) -> Option<Session> {
        let now = self.clock.now_ms();
        self.lock().sessions.get(session_id).filter(|s| now < s.expires_ms).cloned()
    }

    /// Ends every session now: the next post to any answers `300001`.
    pub fn expire_sessions(&self) {
        let now = self.clock.now_ms();
        for session in self.lock().sessions.values_mut() {
            session.expires_ms = session.expires_ms.min(now);
        }
    }

    /// Takes one of the conversation's posts for the current minute, if any is left.
    pub(crate) fn take_post_slot(&self, conversation_id: &str) -> bool {
        let now = self.clock.now_ms();
        let limit = self.scenario.sessions.posts_per_minute;
        let mut inner = self.lock();
        let recent = inner.recent_posts.entry(conversation_id.to_owned()).or_default();
        while recent.front().is_some_and(|at| now.saturating_sub(*at) >= 60_000) {
            recent.pop_front();
        }
        if recent.len() >= limit {
            return false;
        }
        recent.push_back(now);
        true
    }

    // --- The Stream gateway ---------------------------------------------------------------------

    /// Runs `f` on the gateway's state and its records under the one lock, so what it records is
    /// numbered from the shared sequence; then wakes every waiter.
    pub(crate) fn with_gateway<T>(&self, f: impl FnOnce(&mut Gateway, &mut StreamRecords, &mut u64) -> T) -> T {
        let out = {
            let mut inner = self.lock();
            let Inner { gateway, records, seq, .. } = &mut *inner;
            f(gateway, &mut records.stream, seq)
        };
        self.changed();
        out
    }

    /// Reads the gateway's state and records under the lock, waking no one.
    pub(crate) fn read_gateway<T>(&self, f: impl FnOnce(&Gateway, &StreamRecords) -> T) -> T {
        let inner = self.lock();
        f(&inner.gateway, &inner.records.stream)
    }

    // --- Records ------------------------------------------------------------------------------

    pub(crate) fn record_webhook_post(&self, mut post: WebhookPost) {
        {
            let mut inner = self.lock();
            inner.seq += 1;
            post.seq = inner.seq;
            inner.records.webhook_posts.push(post);
        }
        self.changed();
    }

    pub(crate) fn record_openapi_send(&self, mut send: OpenApiSend) {
        {
            let mut inner = self.lock();
            inner.seq += 1;
            send.seq = inner.seq;
            inner.records.openapi_sends.push(send);
        }
        self.changed();
    }

    /// A copy of everything recorded.
    pub fn records(&self) -> Records {
        self.lock().records.clone()
    }

    /// Counts over the records; with `mention_prefix`, also the delivered posts that @-mention a
    /// staff id starting with it, and how many distinct ids those are.
    pub fn tally(&self, mention_prefix: Option<&str>) -> Tally {
        let inner = self.lock();
        let records = &inner.records;
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

    /// Every session-webhook post so far, answered or refused.
    pub fn webhook_posts(&self) -> Vec<WebhookPost> {
        self.lock().records.webhook_posts.clone()
    }

    /// Every robot OpenAPI send so far, accepted or refused.
    pub fn openapi_sends(&self) -> Vec<OpenApiSend> {
        self.lock().records.openapi_sends.clone()
    }

    /// Waits until `check` finds something in the records, or `timeout` passes. `check` runs
    /// at once and again after every change, so nothing is missed and nothing sleeps.
    pub async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Records) -> Option<T>,
    ) -> Result<T, WaitTimeout> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changes = self.changes.subscribe();
        loop {
            changes.borrow_and_update();
            if let Some(found) = check(&self.lock().records) {
                return Ok(found);
            }
            // The sender lives as long as `self`, so `changed` fails only after a deadline.
            if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
                let records = self.records();
                let seen = format!(
                    "{} webhook posts ({} delivered), {} OpenAPI sends ({} accepted), {}",
                    records.webhook_posts.len(),
                    records.delivered_posts().len(),
                    records.openapi_sends.len(),
                    records.accepted_sends().len(),
                    records.stream.summary()
                );
                return Err(WaitTimeout { timeout, seen });
            }
        }
    }

    /// Waits for at least `count` delivered webhook posts; returns every delivered post.
    pub async fn wait_for_webhook_posts(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<WebhookPost>, WaitTimeout> {
        self.wait_until(timeout, |records| {
            let delivered: Vec<WebhookPost> = records.delivered_posts().into_iter().cloned().collect();
            (delivered.len() >= count).then_some(delivered)
        })
        .await
    }

    /// Waits for at least `count` accepted OpenAPI sends; returns every accepted send.
    pub async fn wait_for_openapi_sends(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<OpenApiSend>, WaitTimeout> {
        self.wait_until(timeout, |records| {
            let accepted: Vec<OpenApiSend> = records.accepted_sends().into_iter().cloned().collect();
            (accepted.len() >= count).then_some(accepted)
        })
        .await
    }

    /// Waits until `code` has been asked about at least `count` times.
    pub async fn wait_for_conference_calls(
        &self,
        code: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<(), WaitTimeout> {
        self.wait_until(timeout, |records| (records.conference_calls(code) >= count).then_some(())).await
    }
}
