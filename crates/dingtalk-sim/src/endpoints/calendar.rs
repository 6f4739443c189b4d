//! `GET /v1.0/calendar/users/{unionId}/calendars/{calendarId}/events` and `…/eventsview`: a
//! person's events in `[timeMin, timeMax)` (RFC 3339), the view with recurring events expanded
//! into their instances and the plain list with only a series' first, `maxResults` (≤ 100,
//! default 100) at a time with `nextToken` until it is absent. `calendarId` is always `primary`;
//! a bad time, a span over a year or `maxResults` over 100 answer `400 invalidParameter`;
//! without `Calendar.Event.Read`, `403` naming it. Every call is recorded.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, TimeZone};
use serde_json::{Value, json};

use super::new_style::{Refusal, authorize};
use super::video_conferences::{Denied, finish};
use crate::records::actions::ActionKind;
use crate::state::SimState;
use crate::state::calendars::Instance;

/// The permission the calendar needs.
pub const CALENDAR_READ_PERMISSION: &str = "Calendar.Event.Read";
/// The most events on a page, and the default.
pub const MAX_RESULTS: usize = 100;
const YEAR_MS: i64 = 366 * 86_400_000;
/// The zone events are written in.
const ZONE: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

pub(crate) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/v1.0/calendar/users/{union_id}/calendars/{calendar_id}/events", get(events))
        .route("/v1.0/calendar/users/{union_id}/calendars/{calendar_id}/eventsview", get(events_view))
}

async fn events(
    State(state): State<Arc<SimState>>,
    Path((union_id, calendar_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    list(&state, &union_id, &calendar_id, &query, &headers, false)
}

async fn events_view(
    State(state): State<Arc<SimState>>,
    Path((union_id, calendar_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    list(&state, &union_id, &calendar_id, &query, &headers, true)
}

fn invalid(what: &str) -> Refusal {
    Refusal::new(StatusCode::BAD_REQUEST, "invalidParameter", &format!("invalid parameter: {what}"))
}

fn time(query: &HashMap<String, String>, name: &str) -> Result<Option<i64>, Refusal> {
    query
        .get(name)
        .map(|text| {
            DateTime::parse_from_rfc3339(text.trim()).map(|at| at.timestamp_millis()).map_err(|_| invalid(name))
        })
        .transpose()
}

fn list(
    state: &SimState,
    union_id: &str,
    calendar_id: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    expand: bool,
) -> Response {
    let mut request = json!({ "unionId": union_id, "calendarId": calendar_id, "view": expand });
    if let Some(fields) = request.as_object_mut() {
        fields.extend(query.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))));
    }
    let corp = authorize(state, headers).ok();
    let outcome = (|| -> Result<Value, Denied> {
        let corp = authorize(state, headers)?;
        if !state.orgs().calendar_read(&corp) {
            return Err(Denied::Permission(CALENDAR_READ_PERMISSION));
        }
        if calendar_id != "primary" {
            return Err(invalid("calendarId").into());
        }
        if state.users().of(&corp).iter().all(|user| user.union_id != union_id) {
            return Err(invalid("unionId").into());
        }
        let min = time(query, "timeMin")?.unwrap_or(i64::MIN);
        let max = time(query, "timeMax")?.unwrap_or(i64::MAX);
        if min > max || (min != i64::MIN && max != i64::MAX && max - min > YEAR_MS) {
            return Err(invalid("timeMax").into());
        }
        let page_size = match query.get("maxResults").map(|n| n.parse::<usize>()) {
            None => MAX_RESULTS,
            Some(Ok(n @ 1..=MAX_RESULTS)) => n,
            Some(_) => return Err(invalid("maxResults").into()),
        };
        let offset = match query.get("nextToken").filter(|t| !t.is_empty()) {
            None => 0,
            Some(token) => {
                token.strip_prefix("page-").and_then(|n| n.parse::<usize>().ok()).ok_or_else(|| invalid("nextToken"))?
            }
        };
        let instances = state.calendars().instances(&corp, union_id, min, max, expand);
        let page: Vec<Value> = instances.iter().skip(offset).take(page_size).map(|i| event_json(i, expand)).collect();
        let mut answer = json!({ "events": page });
        if offset + page_size < instances.len() {
            answer["nextToken"] = json!(format!("page-{}", offset + page_size));
        }
        if !expand {
            answer["syncToken"] = json!(format!("sync-{}", state.clock().now_ms()));
        }
        Ok(answer)
    })();
    finish(state, ActionKind::Calendar, corp, request, outcome)
}

fn moment(ms: i64, all_day: bool) -> Value {
    let at = ZONE.timestamp_millis_opt(ms).single().unwrap_or_else(|| ZONE.timestamp_millis_opt(0).unwrap());
    if all_day {
        json!({ "date": at.format("%Y-%m-%d").to_string() })
    } else {
        json!({ "dateTime": at.to_rfc3339(), "timeZone": ZONE.name() })
    }
}

/// One event as a list answers it; the plain list (`expand` false) carries a series' recurrence
/// and the event's reminders, as its model has them.
fn event_json(instance: &Instance, expand: bool) -> Value {
    let event = &instance.event;
    let id = if instance.of_series { format!("{}_{}", event.id, instance.start_ms) } else { event.id.clone() };
    let mut out = json!({
        "id": id,
        "summary": event.summary,
        "status": event.status,
        "isAllDay": event.all_day,
        "start": moment(instance.start_ms, event.all_day),
        "end": moment(instance.end_ms, event.all_day),
        "createTime": "2026-01-01T00:00:00Z",
        "updateTime": "2026-01-01T00:00:00Z",
        "attendees": [],
        "categories": [],
        "meetingRooms": [],
    });
    if instance.of_series {
        out["seriesMasterId"] = json!(event.id);
    }
    if !expand {
        out["reminders"] = json!([]);
        if let Some((step, count)) = event.recurrence {
            let pattern = if step % 86_400_000 == 0 {
                json!({ "type": "daily", "interval": step / 86_400_000 })
            } else {
                json!({ "type": "daily", "interval": 1 })
            };
            out["recurrence"] =
                json!({ "pattern": pattern, "range": { "type": "numbered", "numberOfOccurrences": count } });
        }
    }
    if let Some((union_id, name)) = &event.organiser {
        out["organizer"] = json!({ "id": union_id, "displayName": name, "responseStatus": "accepted", "self": false });
        out["attendees"] = json!([{ "id": union_id, "displayName": name, "responseStatus": "accepted", "self": false, "isOptional": false }]);
    }
    if let Some((conference_id, url, code)) = &event.meeting {
        let extra = code.as_ref().map_or_else(|| json!({}), |code| json!({ "roomCode": code }));
        out["onlineMeetingInfo"] =
            json!({ "type": "dingtalk", "conferenceId": conference_id, "url": url, "extraInfo": extra });
    }
    out
}
