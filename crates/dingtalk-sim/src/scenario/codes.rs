//! How a scenario's meeting codes answer: meetings (paged by the conference endpoint), a
//! documented error, or any raw status and body.

use serde::Deserialize;

use super::time::{Moment, Offset};

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
