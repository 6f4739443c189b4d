//! `GET /v1.0/calendar/users/{unionId}/calendars/primary/eventsview`: a person's events in a
//! window, recurring ones expanded into their instances (the plain `events` list leaves future
//! instances out), a page at a time.

use serde::{Deserialize, Serialize};

use crate::dingtalk::loose_json;
use crate::dingtalk::openapi::declaration::Declaration;
use crate::dingtalk::openapi::{Endpoint, endpoints};

/// Events asked per page (DingTalk's most).
pub(super) const PAGE_SIZE: u32 = 100;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListView<'a> {
    #[serde(skip)]
    pub(super) union_id: &'a str,
    pub(super) time_min: &'a str,
    pub(super) time_max: &'a str,
    pub(super) max_results: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) next_token: Option<&'a str>,
}

impl Endpoint for ListView<'_> {
    type Response = EventsPage;
    const DECLARATION: &'static Declaration = &endpoints::CALENDAR_EVENTS;

    fn path_params(&self) -> Vec<&str> {
        vec![self.union_id]
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EventsPage {
    #[serde(default)]
    pub(super) events: Option<Vec<CalendarEvent>>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub(super) next_token: Option<String>,
}

/// One event, every field optional as DingTalk documents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CalendarEvent {
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub summary: Option<String>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "loose_json::opt_bool")]
    pub is_all_day: Option<bool>,
    #[serde(default)]
    pub start: Option<EventTime>,
    #[serde(default)]
    pub end: Option<EventTime>,
    #[serde(default)]
    pub online_meeting_info: Option<OnlineMeeting>,
}

/// `date` for an all-day event, else `dateTime` (RFC 3339) and `timeZone`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventTime {
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub date: Option<String>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub date_time: Option<String>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub time_zone: Option<String>,
}

/// The DingTalk meeting an event carries: its link, and (undocumented keys of `extraInfo`)
/// perhaps its code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnlineMeeting {
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub conference_id: Option<String>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub url: Option<String>,
    #[serde(default)]
    pub extra_info: Option<serde_json::Map<String, serde_json::Value>>,
}

impl OnlineMeeting {
    /// The meeting code, when `extraInfo` names one (`roomCode`).
    pub fn room_code(&self) -> Option<String> {
        let value = self.extra_info.as_ref()?.get("roomCode")?;
        let code = match value {
            serde_json::Value::String(text) => text.clone(),
            serde_json::Value::Number(number) => number.to_string(),
            _ => return None,
        };
        Some(code).filter(|code| !code.trim().is_empty())
    }
}
