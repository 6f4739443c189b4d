//! `GET /v1.0/conference/roomCodes/{roomCode}/infos?nextToken=&maxResults=`: the seeded
//! meetings, paged with `nextToken`/`hasMore`/`totalCount`, or the code's documented error.
//! The request names no organisation: the token does. A lookup sees the meetings of the
//! organisation its token was issued to, and nothing of any other (as DingTalk scopes a token to
//! one organisation); an organisation without the conference scope is refused.
//!
//! Tests change how a code answers through [`SimState`] (another answer, a delay, a hold) and
//! count the lookups.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use tokio::sync::watch;

pub use crate::state::meetings::CodeBehaviour;

use crate::records::Lookup;
use crate::scenario::{CodeAnswer, MeetingSpec};
use crate::state::SimState;
use crate::tokens::authorize;
use crate::wire::{self, presented_token};

/// Page size when `maxResults` is absent (undocumented; what other clients use).
pub const DEFAULT_PAGE_SIZE: usize = 20;
/// The largest page served; a larger `maxResults` is clamped (the real range is undocumented).
pub const MAX_PAGE_SIZE: usize = 100;

pub(crate) fn routes() -> Router<Arc<SimState>> {
    Router::new().route("/v1.0/conference/roomCodes/{room_code}/infos", get(infos))
}

/// One entry of `conferenceList`, fields in the SDK's order; absent fields are left out.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WireConference {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conference_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_link_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conf_duration: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator_nick: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_conference_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub biz_type: Option<String>,
}

/// One page of the answer, keys in the order of the reference example.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
    total_count: usize,
    conference_list: Vec<WireConference>,
}

/// Every instance behind `code`, dated against `now_ms`.
pub fn instances(code: &str, meetings: &[MeetingSpec], now_ms: i64) -> Vec<WireConference> {
    let mut out = Vec::new();
    for (index, spec) in meetings.iter().enumerate() {
        for n in 0..spec.count {
            out.push(instance(code, index, n, spec, now_ms));
        }
    }
    out
}

fn instance(code: &str, index: usize, n: u32, spec: &MeetingSpec, now_ms: i64) -> WireConference {
    let keep = |field: &str| !spec.omit.iter().any(|f| f == field);
    let shift = spec.step.0.saturating_mul(i64::from(n));
    let start = spec.start.map(|m| m.at(now_ms).saturating_add(shift));
    let end = spec.end.map(|m| m.at(now_ms).saturating_add(shift));
    let title = spec.title.as_ref().map(|t| t.replace("{n}", &(n + 1).to_string()));
    let conference_id =
        spec.conference_id.clone().unwrap_or_else(|| wire::stable_hex(&format!("{code}/{index}/{n}"), 24));
    let duration = match (start, end) {
        (Some(start), Some(end)) if end >= start => end.checked_sub(start),
        _ => None,
    };
    WireConference {
        conference_id: Some(conference_id).filter(|_| keep("conferenceId")),
        title: title.filter(|_| keep("title")),
        room_code: Some(code.to_owned()).filter(|_| keep("roomCode")),
        external_link_url: spec.external_link_url.clone().filter(|_| keep("externalLinkUrl")),
        status: spec.status.filter(|_| keep("status")),
        start_time: start.filter(|_| keep("startTime")),
        end_time: end.filter(|_| keep("endTime")),
        conf_duration: duration.filter(|_| keep("confDuration")),
        creator_id: spec.creator_id.clone().filter(|_| keep("creatorId")),
        creator_nick: spec.creator_nick.clone().filter(|_| keep("creatorNick")),
        schedule_conference_id: spec.schedule_conference_id.clone().filter(|_| keep("scheduleConferenceId")),
        biz_type: spec.biz_type.clone().filter(|_| keep("bizType")),
    }
}

fn param_error() -> Response {
    wire::error(StatusCode::BAD_REQUEST, "paramError", "paramError")
}

async fn infos(
    State(state): State<Arc<SimState>>,
    Path(room_code): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    state.count_conference_call(&room_code);
    let authorized = authorize(&state, &headers);
    state.record_lookup(Lookup {
        seq: 0,
        code: room_code.clone(),
        token: presented_token(&headers).map(str::to_owned),
        corp_id: authorized.as_ref().ok().cloned(),
    });
    let corp = match authorized {
        Ok(corp) => corp,
        Err(refused) => return refused.into_response(),
    };
    if !state.org_conference_read(&corp) {
        return wire::permission_denied("VideoConference.Conference.Read");
    }
    let code = room_code.trim();
    if code.is_empty() {
        return wire::error(StatusCode::BAD_REQUEST, "missingRoomCode", "missingRoomCode");
    }
    let page_size = match query.get("maxResults").map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => DEFAULT_PAGE_SIZE,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n >= 1 => usize::try_from(n).unwrap_or(MAX_PAGE_SIZE).min(MAX_PAGE_SIZE),
            _ => return param_error(),
        },
    };
    let offset = match query.get("nextToken").map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => 0,
        Some(text) => match text.parse::<usize>() {
            Ok(n) => n,
            Err(_) => return param_error(),
        },
    };

    let Some(behaviour) = state.code_behaviour_in(&corp, code) else {
        // A code nobody seeded: digits find nothing, anything else is not a meeting code.
        if code.chars().all(|c| c.is_ascii_digit()) {
            return page(&[], 0, page_size);
        }
        return wire::error(StatusCode::BAD_REQUEST, "invalidRoomCode", "invalidRoomCode");
    };
    if let Some(mut held) = behaviour.hold.clone() {
        // Ends when released, or when the guard is dropped (the sender goes away).
        let _ = held.wait_for(|released| *released).await;
    }
    if !behaviour.delay.is_zero() {
        tokio::time::sleep(behaviour.delay).await;
    }
    match behaviour.answer {
        CodeAnswer::Meetings(meetings) => {
            let all = instances(code, &meetings, state.clock().now_ms());
            if offset > all.len() {
                return param_error();
            }
            page(&all, offset, page_size)
        }
        CodeAnswer::Error(error) => {
            let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            wire::error(status, &error.code, error.message.as_deref().unwrap_or(&error.code))
        }
        CodeAnswer::Raw(raw) => {
            let status = StatusCode::from_u16(raw.status).unwrap_or(StatusCode::OK);
            wire::raw(status, &raw.content_type, raw.body)
        }
    }
}

fn page(all: &[WireConference], offset: usize, size: usize) -> Response {
    let end = offset.saturating_add(size).min(all.len());
    let has_more = end < all.len();
    let answer = Page {
        has_more,
        next_token: has_more.then(|| end.to_string()),
        total_count: all.len(),
        conference_list: all.get(offset..end).unwrap_or_default().to_vec(),
    };
    wire::json(StatusCode::OK, &answer)
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

// Without `_in`, these are about the app's own organisation.
impl SimState {
    /// How `code` answers now in the app's own organisation, if the scenario (or an injection)
    /// knows it.
    pub fn code_behaviour(&self, code: &str) -> Option<CodeBehaviour> {
        self.code_behaviour_in(self.home_corp(), code)
    }

    /// How `code` answers now in organisation `corp`.
    pub fn code_behaviour_in(&self, corp: &str, code: &str) -> Option<CodeBehaviour> {
        self.lock().codes.get(corp, code).cloned()
    }

    /// Changes (or adds) the answer for `code`.
    pub fn set_answer(&self, code: &str, answer: CodeAnswer) {
        self.set_answer_in(self.home_corp(), code, answer);
    }

    /// Changes (or adds) the answer for `code` in organisation `corp`.
    pub fn set_answer_in(&self, corp: &str, code: &str, answer: CodeAnswer) {
        self.lock().codes.entry(corp, code).answer = answer;
    }

    /// Makes `code` answer after `delay` (zero: at once).
    pub fn set_delay(&self, code: &str, delay: Duration) {
        self.lock().codes.entry(self.home_corp(), code).delay = delay;
    }

    /// Holds every answer for `code` until the returned guard is released or dropped.
    pub fn hold(&self, code: &str) -> Hold {
        let (release, held) = watch::channel(false);
        self.lock().codes.entry(self.home_corp(), code).hold = Some(held);
        Hold { release }
    }

    fn count_conference_call(&self, code: &str) {
        self.update(|world| *world.journal.records.conference_calls.entry(code.to_owned()).or_default() += 1);
    }

    fn record_lookup(&self, mut lookup: Lookup) {
        self.update(|world| {
            lookup.seq = world.journal.next_seq();
            world.journal.records.lookups.push(lookup);
        });
    }

    /// Requests to the conference infos endpoint for `code` (every page, every outcome).
    pub fn conference_calls(&self, code: &str) -> usize {
        self.lock().journal.records.conference_calls(code)
    }

    /// Every conference lookup so far: the token presented and whose it was.
    pub fn lookups(&self) -> Vec<Lookup> {
        self.lock().journal.records.lookups.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    /// The builtin scenario's instances for `code`, at a fixed moment.
    fn builtin_instances(code: &str) -> Vec<WireConference> {
        let scenario = Scenario::builtin().expect("valid");
        let CodeAnswer::Meetings(meetings) = &scenario.code(code).expect("seeded").answer else { panic!("meetings") };
        instances(code, meetings, 1_700_000_000_000)
    }

    #[test]
    fn a_running_meeting_has_no_end_time_or_duration() {
        let all = builtin_instances("123456789");
        let running = all.iter().find(|m| m.status == Some(2)).expect("a running meeting");
        assert!(running.end_time.is_none() && running.conf_duration.is_none());
        let ended = all.iter().find(|m| m.status == Some(1)).expect("an ended meeting");
        assert_eq!(ended.conf_duration, Some(ended.end_time.expect("end") - ended.start_time.expect("start")));
        assert!(all.iter().all(|m| m.room_code.as_deref() == Some("123456789")));
    }

    #[test]
    fn a_series_counts_its_instances_and_steps_back_in_time() {
        let all = builtin_instances("999000130");
        assert_eq!(all.len(), 130);
        assert_eq!(all[0].title.as_deref(), Some("每日站会 第1期"));
        assert_eq!(all[129].title.as_deref(), Some("每日站会 第130期"));
        assert_eq!(all[0].start_time.expect("start") - all[1].start_time.expect("start"), 86_400_000);
        let ids: std::collections::HashSet<_> = all.iter().map(|m| m.conference_id.clone()).collect();
        assert_eq!(ids.len(), 130);
    }

    #[test]
    fn omitted_fields_are_absent_from_the_json() {
        let all = builtin_instances("111222333");
        let json = serde_json::to_value(&all[1]).expect("json");
        assert!(json.get("conferenceId").is_none() && json.get("title").is_none(), "{json}");
        assert_eq!(json["status"], 0);
    }
}
