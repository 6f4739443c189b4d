//! What the simulator recorded of the meeting events it emitted: every event as it was made
//! (before any switch dropped, doubled or delayed it), every HTTP push attempt with what the
//! receiver answered, and every `check_url`.

use serde_json::Value;

/// A meeting event as DingTalk made it.
#[derive(Debug, Clone, PartialEq)]
pub struct MeetingEvent {
    /// `eventId`: the same on every delivery of this event.
    pub event_id: String,
    /// `meeting_status_change` or `meeting_member_status_change`.
    pub event_type: String,
    /// `eventCorpId` (`CorpId` over HTTP).
    pub corp_id: String,
    pub conference_id: String,
    /// `eventBornTime` (`EventTime` over HTTP), simulator ms.
    pub born_ms: i64,
    pub status_seq_num: u64,
    /// `conference_created`, `conference_closed`, `user_join`, `user_leave`.
    pub change_scene: String,
    /// The business `data` (a Stream frame's `data`, the rest of an HTTP push's flat body).
    pub data: Value,
}

/// How one HTTP push attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The answer was the encrypted `success`.
    Accepted,
    /// The URL could not be reached (or the scenario made it so).
    Unreachable,
    /// An answer, but not a valid encrypted `success`: why.
    Refused(String),
}

/// One HTTP push attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPush {
    pub seq: u64,
    pub event_id: String,
    pub event_type: String,
    /// 0 the first push, 1 the retry after 10 s, 2 the one after 30 s more.
    pub attempt: u32,
    /// When it was made, simulator ms.
    pub at_ms: i64,
    /// The HTTP status of the answer, if any came.
    pub status: Option<u16>,
    pub outcome: PushOutcome,
}

/// One `check_url` push and its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckUrl {
    pub seq: u64,
    pub status: Option<u16>,
    pub outcome: PushOutcome,
    /// How long the answer took, in real milliseconds (DingTalk gives 1.5 s at most).
    pub took_ms: u64,
}

/// The meeting events' records.
#[derive(Debug, Clone, Default)]
pub struct EventRecords {
    /// Every event made, in the order made.
    pub emitted: Vec<MeetingEvent>,
    /// Every HTTP push attempt, in order.
    pub http_pushes: Vec<HttpPush>,
    pub check_urls: Vec<CheckUrl>,
    /// The `eventId`s given up on after the retries (listed for `get_call_back_failed_result`).
    pub given_up: Vec<String>,
    /// Answered calls to `get_call_back_failed_result` (what the bot's budget counts of them).
    pub failed_list_calls: usize,
}

impl EventRecords {
    /// The attempts at pushing `event_id`.
    pub fn pushes_of(&self, event_id: &str) -> Vec<&HttpPush> {
        self.http_pushes.iter().filter(|p| p.event_id == event_id).collect()
    }
}
