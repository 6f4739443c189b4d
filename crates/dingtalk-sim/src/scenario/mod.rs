//! Scenarios: the simulator's world (credentials, chat, meeting codes and how each answers),
//! read from a TOML file people can edit. `scenario.toml` (at the crate's root) is compiled in as the
//! default; `codes` holds how meeting codes answer, `time` the relative times, `users` the people.
//!
//! Meeting times are written relative to the simulator clock (`start = "-15m"`, `"+2h"`,
//! `"-1d2h"`, `"now"`) so cards always look current; a number is an absolute time in ms.
//!
//! Organisations: the app's own (`app.corp_id`) owns the top-level `[[codes]]` and `[[users]]`;
//! every `[[orgs]]` entry is another organisation with its own `[[orgs.codes]]` and
//! `[[orgs.users]]`, so one meeting code can mean different meetings in different organisations
//! (what a third-party app serves). An organisation can be listed as not having installed the
//! app, or as having installed it without the conference scope (or the member scope).

mod codes;
mod time;
mod users;

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

pub use codes::{CodeAnswer, CodeScenario, ErrorAnswer, MeetingSpec, RawAnswer};
pub use time::{Moment, Offset, parse_offset};
pub use users::{EventScenario, UserScenario};

/// The scenario shipped with the crate.
pub const BUILTIN_TOML: &str = include_str!("../../scenario.toml");

/// The wire names of a conference entry, for `omit`.
pub const CONFERENCE_FIELDS: &[&str] = &[
    "conferenceId",
    "title",
    "roomCode",
    "externalLinkUrl",
    "status",
    "startTime",
    "endTime",
    "confDuration",
    "creatorId",
    "creatorNick",
    "scheduleConferenceId",
    "bizType",
];

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid scenario: {0}")]
    Invalid(String),
}

/// The whole simulated world.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub app: App,
    #[serde(default)]
    pub sessions: SessionRules,
    #[serde(default)]
    pub stream: StreamRules,
    #[serde(default)]
    pub events: EventRules,
    #[serde(default)]
    pub chat: Chat,
    #[serde(default)]
    pub codes: Vec<CodeScenario>,
    /// The people of the app's own organisation.
    #[serde(default)]
    pub users: Vec<UserScenario>,
    /// Organisations besides the app's own (third-party apps serve several).
    #[serde(default)]
    pub orgs: Vec<Org>,
}

/// An organisation other than the app's own, with its own chats and meetings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Org {
    /// `chatbotCorpId` / `senderCorpId` of its messages; `{corpId}` / `authCorpId` of its tokens.
    pub corp_id: String,
    /// A name for people (shown in logs and the playground; DingTalk's `corpName`).
    #[serde(default)]
    pub name: String,
    /// Whether it has installed (authorised) the app: if not, its token requests answer
    /// `unauthorized.client` (unified route) or `invalidAuthInfo` (classic route).
    #[serde(default = "yes")]
    pub installed: bool,
    /// Whether it granted `VideoConference.Conference.Read`: if not, lookups with its token answer
    /// `403 Forbidden.AccessDenied.AccessTokenPermissionDenied`.
    #[serde(default = "yes")]
    pub conference_read: bool,
    /// Whether it granted `qyapi_get_member`: if not, the old-style `user/get` with its token
    /// answers `60011`.
    #[serde(default = "yes")]
    pub member_read: bool,
    /// Its group chat with the robot; derived from `corp_id` when left out.
    #[serde(default)]
    pub group_conversation_id: Option<String>,
    /// Its 1:1 chat with the robot; derived from `corp_id` when left out.
    #[serde(default)]
    pub single_conversation_id: Option<String>,
    /// Its meeting codes, written like the top-level `[[codes]]`.
    #[serde(default)]
    pub codes: Vec<CodeScenario>,
    /// Its people, written like the top-level `[[users]]`.
    #[serde(default)]
    pub users: Vec<UserScenario>,
}

fn yes() -> bool {
    true
}

/// The DingTalk app the bot runs as.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// AppKey (Client ID).
    pub client_id: String,
    /// AppSecret (Client Secret): issues tokens and signs callbacks.
    pub client_secret: String,
    /// `robotCode` in callbacks and sends; an enterprise robot's is its AppKey.
    #[serde(default)]
    pub robot_code: Option<String>,
    /// `chatbotCorpId` / `senderCorpId`.
    #[serde(default = "default_corp_id")]
    pub corp_id: String,
    /// The robot's display name, as people @-mention it.
    #[serde(default = "default_bot_name")]
    pub bot_name: String,
    /// `expireIn` of issued access tokens.
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_secs: u64,
    /// Third-party apps: the suite ticket `corpAccessToken` accepts (until a test pushes a newer).
    #[serde(default = "default_suite_ticket")]
    pub suite_ticket: String,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("robot_code", &self.robot_code)
            .field("corp_id", &self.corp_id)
            .field("bot_name", &self.bot_name)
            .field("token_lifetime_secs", &self.token_lifetime_secs)
            .field("suite_ticket", &"[redacted]")
            .finish()
    }
}

impl App {
    /// The `robotCode`: explicit, or the AppKey as for every enterprise robot.
    pub fn robot_code(&self) -> &str {
        self.robot_code.as_deref().unwrap_or(&self.client_id)
    }
}

fn default_corp_id() -> String {
    "dingc5344d64bd47d252".to_owned()
}
fn default_bot_name() -> String {
    "会议助手".to_owned()
}
fn default_token_lifetime() -> u64 {
    7200
}
fn default_suite_ticket() -> String {
    "simulated-suite-ticket".to_owned()
}

/// How session webhooks behave.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionRules {
    /// A session webhook lives this long after the message's `createAt` (DingTalk: 90 min).
    pub lifetime_secs: u64,
    /// Posts accepted per conversation in any minute (DingTalk: 20, then `130101`).
    pub posts_per_minute: usize,
    /// The largest body accepted (DingTalk: 20,000 bytes, then `460101`).
    pub max_body_bytes: usize,
}

impl Default for SessionRules {
    fn default() -> Self {
        Self { lifetime_secs: 5400, posts_per_minute: 20, max_body_bytes: 20_000 }
    }
}

/// How the Stream gateway behaves.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamRules {
    /// An unacknowledged `CALLBACK` or `EVENT` frame is pushed again this long after it was sent;
    /// 0 never. DingTalk's SDK notes say about a minute; a public log shows one after 16 s.
    pub redelivery_secs: u64,
}

impl Default for StreamRules {
    fn default() -> Self {
        Self { redelivery_secs: 60 }
    }
}

impl StreamRules {
    /// The redelivery delay, `None` for never.
    pub fn redelivery(&self) -> Option<Duration> {
        (self.redelivery_secs > 0).then(|| Duration::from_secs(self.redelivery_secs))
    }
}

/// DingTalk's meeting events (docs/dingtalk-events.md §c): whether they go out on the Stream, and
/// how they misbehave. An HTTP push URL is set at run time (`sim.events().subscribe_http`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventRules {
    /// Meeting events as Stream `EVENT` frames (the console's Stream push).
    pub stream: bool,
    /// Every event delivered twice.
    pub duplicate: bool,
    /// A conference's events delivered out of order.
    pub reorder: bool,
    /// Events never delivered.
    pub drop: bool,
}

/// Who talks to the robot, and where.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Chat {
    pub group_conversation_id: String,
    pub group_title: String,
    /// The 1:1 conversation between the sender and the robot.
    pub single_conversation_id: String,
    pub sender_staff_id: String,
    pub sender_nick: String,
    /// `Mac`, `Win`, `iOS`, `Android`…
    pub sender_platform: String,
}

impl Default for Chat {
    fn default() -> Self {
        Self {
            group_conversation_id: "cidJ8k435QAsxsxUvwst7NoMHCWTc0OaNCfYyGOsDesCH0=".to_owned(),
            group_title: "机器人测试群".to_owned(),
            single_conversation_id: "cidAYG0ZkWbCRsuVXPVT3gBfA==".to_owned(),
            sender_staff_id: "manager807".to_owned(),
            sender_nick: "张三".to_owned(),
            sender_platform: "Win".to_owned(),
        }
    }
}

impl Scenario {
    /// The scenario compiled into the crate (`scenario.toml`).
    pub fn builtin() -> Result<Self, ScenarioError> {
        Self::from_toml_str(BUILTIN_TOML)
    }

    /// Reads a scenario file.
    pub fn from_path(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ScenarioError::Read { path: path.display().to_string(), source })?;
        Self::from_toml_str(&text).map_err(|err| match err {
            ScenarioError::Invalid(why) => ScenarioError::Invalid(format!("{}: {why}", path.display())),
            other => other,
        })
    }

    /// Parses and checks a scenario.
    pub fn from_toml_str(text: &str) -> Result<Self, ScenarioError> {
        let scenario: Self = toml::from_str(text).map_err(|e| ScenarioError::Invalid(e.to_string()))?;
        scenario.validate()?;
        Ok(scenario)
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        let invalid = |why: String| Err(ScenarioError::Invalid(why));
        if self.app.client_id.is_empty() || self.app.client_secret.is_empty() {
            return invalid("app.client_id and app.client_secret must not be empty".to_owned());
        }
        validate_codes("", &self.codes)?;
        users::validate_users("", &self.users)?;
        let mut corps = std::collections::HashSet::from([self.app.corp_id.as_str()]);
        for org in &self.orgs {
            if org.corp_id.trim().is_empty() {
                return invalid("an [[orgs]] entry has an empty corp_id".to_owned());
            }
            if !corps.insert(org.corp_id.as_str()) {
                return invalid(format!(
                    "organisation {} is listed twice (the app's own, app.corp_id, owns the top-level [[codes]])",
                    org.corp_id
                ));
            }
            validate_codes(&format!("organisation {}: ", org.corp_id), &org.codes)?;
            users::validate_users(&format!("organisation {}: ", org.corp_id), &org.users)?;
        }
        Ok(())
    }

    /// The entry for `code` of the app's own organisation, if the scenario lists it.
    pub fn code(&self, code: &str) -> Option<&CodeScenario> {
        self.codes.iter().find(|entry| entry.code == code)
    }

    /// The organisation `corp`, if listed under `[[orgs]]` (the app's own is not).
    pub fn org(&self, corp: &str) -> Option<&Org> {
        self.orgs.iter().find(|org| org.corp_id == corp)
    }

    /// The chat of organisation `corp`'s messages: the scenario's `[chat]`, with the
    /// organisation's own conversations for an `[[orgs]]` entry or a corp the scenario does not
    /// know (so two organisations never share a conversation).
    pub fn chat_for(&self, corp: Option<&str>) -> Chat {
        let mut chat = self.chat.clone();
        let Some(corp) = corp.filter(|c| *c != self.app.corp_id) else { return chat };
        let org = self.org(corp);
        chat.group_conversation_id = org
            .and_then(|o| o.group_conversation_id.clone())
            .unwrap_or_else(|| format!("cid{}", crate::ids::stable_base64(&format!("group/{corp}"), 32)));
        chat.single_conversation_id = org
            .and_then(|o| o.single_conversation_id.clone())
            .unwrap_or_else(|| format!("cid{}", crate::ids::stable_base64(&format!("single/{corp}"), 16)));
        if let Some(org) = org.filter(|o| !o.name.is_empty()) {
            chat.group_title = format!("{} · {}", org.name, chat.group_title);
        }
        chat
    }
}

/// Checks one organisation's codes: each listed once, sane counts and `omit` names.
fn validate_codes(whose: &str, codes: &[CodeScenario]) -> Result<(), ScenarioError> {
    let invalid = |why: String| Err(ScenarioError::Invalid(format!("{whose}{why}")));
    let mut seen = std::collections::HashSet::new();
    for entry in codes {
        if !seen.insert(entry.code.as_str()) {
            return invalid(format!("code {} is listed twice", entry.code));
        }
        if let CodeAnswer::Meetings(meetings) = &entry.answer {
            for meeting in meetings {
                if meeting.count == 0 || meeting.count > 10_000 {
                    return invalid(format!("code {}: count must be 1..=10000", entry.code));
                }
                if let Some(field) = meeting.omit.iter().find(|f| !CONFERENCE_FIELDS.contains(&f.as_str())) {
                    return invalid(format!("code {}: omit names an unknown field {field:?}", entry.code));
                }
            }
        }
    }
    Ok(())
}
