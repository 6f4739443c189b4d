//! Scenarios: the simulator's world (credentials, chat, meeting codes and how each answers),
//! read from a TOML file people can edit. `sim/scenario.toml` is compiled in as the default.
//!
//! Meeting times are written relative to the simulator clock (`start = "-15m"`, `"+2h"`,
//! `"-1d2h"`, `"now"`) so cards always look current; a number is an absolute time in ms.
//!
//! Organisations: the app's own (`app.corp_id`) owns the top-level `[[codes]]`; every
//! `[[orgs]]` entry is another organisation with its own `[[orgs.codes]]`, so one meeting code can
//! mean different meetings in different organisations (what a third-party app serves). An
//! organisation can be listed as not having installed the app, or as having installed it without
//! the conference scope.

use std::path::Path;

use serde::Deserialize;

/// The scenario shipped with the crate.
pub const BUILTIN_TOML: &str = include_str!("../../sim/scenario.toml");

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
    pub chat: Chat,
    #[serde(default)]
    pub codes: Vec<CodeScenario>,
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
    /// Its group chat with the robot; derived from `corp_id` when left out.
    #[serde(default)]
    pub group_conversation_id: Option<String>,
    /// Its 1:1 chat with the robot; derived from `corp_id` when left out.
    #[serde(default)]
    pub single_conversation_id: Option<String>,
    /// Its meeting codes, written like the top-level `[[codes]]`.
    #[serde(default)]
    pub codes: Vec<CodeScenario>,
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

/// One meeting code and how the conference API answers for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "CodeEntry")]
pub struct CodeScenario {
    pub code: String,
    /// A line for people: what this code demonstrates (shown by the playground).
    pub about: String,
    /// How long the answer takes (for timeouts); 0 answers at once.
    pub delay_ms: u64,
    pub answer: CodeAnswer,
}

/// What the conference API answers for a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeAnswer {
    /// `200` with these meetings (none: an empty `conferenceList`), paged.
    Meetings(Vec<MeetingSpec>),
    /// An error in the new-style envelope `{"code","requestid","message"}`.
    Error(ErrorAnswer),
    /// Any status and body, e.g. something that is not JSON.
    Raw(RawAnswer),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorAnswer {
    pub status: u16,
    pub code: String,
    /// Defaults to the code, as the conference API's error table shows.
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAnswer {
    pub status: u16,
    #[serde(default = "default_raw_content_type")]
    pub content_type: String,
    pub body: String,
}

fn default_raw_content_type() -> String {
    "text/html;charset=utf-8".to_owned()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeEntry {
    code: String,
    #[serde(default)]
    about: String,
    #[serde(default)]
    delay_ms: u64,
    #[serde(default)]
    error: Option<ErrorAnswer>,
    #[serde(default)]
    raw: Option<RawAnswer>,
    #[serde(default)]
    meetings: Vec<MeetingSpec>,
}

impl TryFrom<CodeEntry> for CodeScenario {
    type Error = String;

    fn try_from(entry: CodeEntry) -> Result<Self, Self::Error> {
        if entry.code.trim().is_empty() {
            return Err("a code is empty".to_owned());
        }
        let answer = match (entry.error, entry.raw, entry.meetings.is_empty()) {
            (None, None, _) => CodeAnswer::Meetings(entry.meetings),
            (Some(error), None, true) => CodeAnswer::Error(error),
            (None, Some(raw), true) => CodeAnswer::Raw(raw),
            _ => return Err(format!("code {}: give meetings, error or raw, not several", entry.code)),
        };
        Ok(Self { code: entry.code, about: entry.about, delay_ms: entry.delay_ms, answer })
    }
}

/// A meeting (or, with `count`, a series of them) as written in the scenario. Fields left out
/// are absent from the answer, as DingTalk leaves them out; `conferenceId` and `roomCode` are
/// filled in and `confDuration` is `end - start`, unless named in `omit`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingSpec {
    #[serde(default)]
    pub conference_id: Option<String>,
    /// `{n}` is replaced by the instance number (1, 2, …) when `count` > 1.
    #[serde(default)]
    pub title: Option<String>,
    /// 0 initialised (not started), 1 ended, 2 started.
    #[serde(default)]
    pub status: Option<i64>,
    #[serde(default)]
    pub start: Option<Moment>,
    #[serde(default)]
    pub end: Option<Moment>,
    #[serde(default)]
    pub external_link_url: Option<String>,
    #[serde(default)]
    pub creator_id: Option<String>,
    #[serde(default)]
    pub creator_nick: Option<String>,
    #[serde(default)]
    pub schedule_conference_id: Option<String>,
    /// `"0"` instant, `"3"` booked, `"audio_conf"` audio.
    #[serde(default)]
    pub biz_type: Option<String>,
    /// Wire fields to leave out even when they could be filled in.
    #[serde(default)]
    pub omit: Vec<String>,
    /// How many instances this entry stands for (a recurring meeting).
    #[serde(default = "one")]
    pub count: u32,
    /// How far apart the instances are (default one day earlier each).
    #[serde(default = "one_day_earlier")]
    pub step: Offset,
}

fn one() -> u32 {
    1
}
fn one_day_earlier() -> Offset {
    Offset(-86_400_000)
}

/// A point in time: relative to the simulator clock (rounded down to the minute), or absolute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawMoment")]
pub enum Moment {
    Relative(i64),
    Absolute(i64),
}

impl Moment {
    /// The instant in ms, given the simulator's now.
    pub fn at(self, now_ms: i64) -> i64 {
        match self {
            Self::Relative(offset) => now_ms.div_euclid(60_000).saturating_mul(60_000).saturating_add(offset),
            Self::Absolute(ms) => ms,
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawMoment {
    Millis(i64),
    Text(String),
}

impl TryFrom<RawMoment> for Moment {
    type Error = String;

    fn try_from(raw: RawMoment) -> Result<Self, Self::Error> {
        match raw {
            RawMoment::Millis(ms) => Ok(Self::Absolute(ms)),
            RawMoment::Text(text) if text.trim() == "now" => Ok(Self::Relative(0)),
            RawMoment::Text(text) => parse_offset(&text).map(Self::Relative),
        }
    }
}

/// A signed span of time such as `-1d`, `+2h30m`, `90s`, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Offset(pub i64);

impl TryFrom<String> for Offset {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        parse_offset(&text).map(Self)
    }
}

/// Parses `[+|-]` followed by one or more `<number><d|h|m|s>`, into ms.
pub fn parse_offset(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a time offset like \"-15m\", \"+2h\" or \"-1d2h\"");
    let trimmed = text.trim();
    let (negative, rest) = match (trimmed.strip_prefix('-'), trimmed.strip_prefix('+')) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => (false, trimmed),
    };
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: i64 = 0;
    let mut number = String::new();
    for c in rest.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit_ms: i64 = match c {
            'd' => 86_400_000,
            'h' => 3_600_000,
            'm' => 60_000,
            's' => 1_000,
            _ => return Err(bad()),
        };
        let value: i64 = number.parse().map_err(|_| bad())?;
        total = value.checked_mul(unit_ms).and_then(|ms| total.checked_add(ms)).ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() {
        return Err(bad());
    }
    Ok(if negative { -total } else { total })
}

impl Scenario {
    /// The scenario compiled into the crate (`sim/scenario.toml`).
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
            .unwrap_or_else(|| format!("cid{}", super::wire::stable_base64(&format!("group/{corp}"), 32)));
        chat.single_conversation_id = org
            .and_then(|o| o.single_conversation_id.clone())
            .unwrap_or_else(|| format!("cid{}", super::wire::stable_base64(&format!("single/{corp}"), 16)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn reading_any_offset_or_scenario_never_panics(text in "\\PC{0,60}") {
            let _ = parse_offset(&text);
            let _ = Scenario::from_toml_str(&text);
        }

        #[test]
        fn offsets_round_trip_through_minutes(minutes in -1_000_000i64..1_000_000) {
            let text = if minutes < 0 { format!("-{}m", -minutes) } else { format!("+{minutes}m") };
            prop_assert_eq!(parse_offset(&text), Ok(minutes * 60_000));
        }
    }

    #[test]
    fn offsets_read_like_people_write_them() {
        assert_eq!(parse_offset("-15m"), Ok(-900_000));
        assert_eq!(parse_offset("+2h"), Ok(7_200_000));
        assert_eq!(parse_offset("2h"), Ok(7_200_000));
        assert_eq!(parse_offset("-1d2h30m"), Ok(-(86_400_000 + 7_200_000 + 1_800_000)));
        assert_eq!(parse_offset("90s"), Ok(90_000));
        for bad in ["", "-", "15", "m", "1x", "1h30", "--1h", "99999999999999999999d"] {
            assert!(parse_offset(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn relative_moments_are_whole_minutes_from_now() {
        let now = 1_700_000_123_456;
        let minute = 1_700_000_100_000;
        assert_eq!(Moment::Relative(-900_000).at(now), minute - 900_000);
        assert_eq!(Moment::Absolute(5).at(now), 5);
    }

    #[test]
    fn the_builtin_scenario_loads() {
        let scenario = Scenario::builtin().expect("the shipped scenario is valid");
        assert!(!scenario.codes.is_empty());
        assert_eq!(scenario.sessions.lifetime_secs, 5400);
    }

    #[test]
    fn a_code_can_have_meetings_or_an_error_but_not_both() {
        let text = r#"
            [app]
            client_id = "id"
            client_secret = "s"
            [[codes]]
            code = "1"
            error = { status = 400, code = "invalidRoomCode" }
            [[codes.meetings]]
            title = "x"
        "#;
        assert!(Scenario::from_toml_str(text).is_err());
    }

    #[test]
    fn unknown_keys_and_unknown_omitted_fields_are_reported() {
        let base = "[app]\nclient_id = \"id\"\nclient_secret = \"s\"\n";
        assert!(Scenario::from_toml_str(&format!("{base}[[codes]]\ncode = \"1\"\ntypo = 1\n")).is_err());
        let omit = format!("{base}[[codes]]\ncode = \"1\"\n[[codes.meetings]]\nomit = [\"endtime\"]\n");
        assert!(Scenario::from_toml_str(&omit).is_err());
        let twice = format!("{base}[[codes]]\ncode = \"1\"\n[[codes]]\ncode = \"1\"\n");
        assert!(Scenario::from_toml_str(&twice).is_err());
    }

    #[test]
    fn a_scenario_file_loads_from_a_path_and_names_itself_in_errors() {
        let dir = std::env::temp_dir().join(format!("dingmeet-scenario-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let good = dir.join("good.toml");
        std::fs::write(&good, BUILTIN_TOML).expect("write");
        assert_eq!(
            Scenario::from_path(&good).expect("loads").codes.len(),
            Scenario::builtin().expect("valid").codes.len()
        );
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "[app]\nclient_id = \"x\"\nclient_secret = \"\"\n").expect("write");
        let err = Scenario::from_path(&bad).expect_err("an empty secret is refused").to_string();
        assert!(err.contains("bad.toml"), "{err}");
        assert!(Scenario::from_path(&dir.join("missing.toml")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn organisations_have_their_own_codes_and_chats() {
        let scenario = Scenario::builtin().expect("valid");
        let home = scenario.app.corp_id.clone();
        let other = scenario.orgs.iter().find(|o| !o.codes.is_empty()).expect("an organisation with meetings");
        assert!(other.codes.iter().any(|c| scenario.code(&c.code).is_some()), "a code both organisations use");
        assert_eq!(scenario.chat_for(Some(&home)).group_conversation_id, scenario.chat.group_conversation_id);
        assert_eq!(scenario.chat_for(None).group_conversation_id, scenario.chat.group_conversation_id);
        let theirs = scenario.chat_for(Some(&other.corp_id));
        let strangers = scenario.chat_for(Some("dingsomeoneelse"));
        assert_ne!(theirs.group_conversation_id, scenario.chat.group_conversation_id);
        assert_ne!(theirs.single_conversation_id, strangers.single_conversation_id);
        assert!(theirs.group_conversation_id.starts_with("cid") && theirs.group_conversation_id.ends_with('='));
        assert!(scenario.orgs.iter().any(|o| !o.installed) && scenario.orgs.iter().any(|o| !o.conference_read));
    }

    #[test]
    fn an_organisation_is_listed_once_and_its_codes_once() {
        let base = "[app]\nclient_id = \"id\"\nclient_secret = \"s\"\ncorp_id = \"dinghome\"\n";
        let org = |corp: &str| format!("[[orgs]]\ncorp_id = \"{corp}\"\n");
        assert!(Scenario::from_toml_str(&format!("{base}{}", org("dinga"))).is_ok());
        assert!(Scenario::from_toml_str(&format!("{base}{}{}", org("dinga"), org("dinga"))).is_err());
        let home = Scenario::from_toml_str(&format!("{base}{}", org("dinghome"))).expect_err("the home corp");
        assert!(home.to_string().contains("dinghome"), "{home}");
        let twice = format!("{base}{}[[orgs.codes]]\ncode = \"1\"\n[[orgs.codes]]\ncode = \"1\"\n", org("dinga"));
        let err = Scenario::from_toml_str(&twice).expect_err("a code twice in one organisation").to_string();
        assert!(err.contains("organisation dinga"), "{err}");
        let same_code_elsewhere =
            format!("{base}[[codes]]\ncode = \"1\"\n{}[[orgs.codes]]\ncode = \"1\"\n", org("dinga"));
        assert!(Scenario::from_toml_str(&same_code_elsewhere).is_ok());
        assert!(Scenario::from_toml_str(&format!("{base}[[orgs]]\ncorp_id = \"\"\n")).is_err());
    }

    #[test]
    fn debug_output_hides_the_app_secret() {
        let scenario = Scenario::builtin().expect("valid");
        assert!(!format!("{scenario:?}").contains(&scenario.app.client_secret));
    }
}
