//! Controls for the meeting events (`crate::state::meeting_events`):
//! - `POST /events/members` `{"code","conferenceId","action":"join"|"leave","count"}`;
//! - `POST /events/delivery` `{"stream":bool,"http":{"url","token","aesKey","ownerKey"?}|null}`
//!   (fields left out stay as they are);
//! - `POST /events/switches` `{"duplicate","reorder","drop","httpUnreachable"}` (each optional);
//! - `POST /events/check-url`: pushes `check_url` and answers the verdict;
//! - `GET /events`: the events made, the HTTP push attempts and the ids given up on.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::records::events::PushOutcome;
use crate::state::SimState;
use crate::state::meeting_events::{EventSwitches, HttpSubscription};

pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/events", get(events))
        .route("/events/members", post(members))
        .route("/events/delivery", post(delivery))
        .route("/events/switches", post(switches))
        .route("/events/check-url", post(check_url))
}

fn bad(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Members {
    code: String,
    conference_id: String,
    action: String,
    #[serde(default = "one")]
    count: usize,
}

fn one() -> usize {
    1
}

async fn members(State(state): State<Arc<SimState>>, Json(request): Json<Members>) -> Response {
    let Members { code, conference_id, action, count } = request;
    let done = match action.as_str() {
        "join" => state.events().join(&code, &conference_id, count),
        "leave" => state.events().leave(&code, &conference_id, count),
        _ => return bad("action is join or leave"),
    };
    if !done {
        return bad("no such meeting among those the controls can move");
    }
    Json(json!({ "activeNum": state.events().active_num(&conference_id) })).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Http {
    url: String,
    token: String,
    aes_key: String,
    #[serde(default)]
    owner_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Delivery {
    #[serde(default)]
    stream: Option<bool>,
    /// Absent: unchanged; `null`: no HTTP pushes.
    #[serde(default, with = "serde_with_null")]
    http: Option<Option<Http>>,
}

/// Tells a field left out (`None`) from one given as `null` (`Some(None)`).
mod serde_with_null {
    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

async fn delivery(State(state): State<Arc<SimState>>, Json(request): Json<Delivery>) -> Response {
    if let Some(stream) = request.stream {
        state.events().set_stream(stream);
    }
    match request.http {
        None => {}
        Some(None) => state.events().unsubscribe_http(),
        Some(Some(http)) => {
            let subscription =
                HttpSubscription { url: http.url, token: http.token, aes_key: http.aes_key, owner_key: http.owner_key };
            if let Err(err) = state.events().subscribe_http(&subscription) {
                return bad(&err.to_string());
            }
        }
    }
    Json(json!({ "ok": true })).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Switches {
    duplicate: Option<bool>,
    reorder: Option<bool>,
    drop: Option<bool>,
    http_unreachable: Option<bool>,
}

async fn switches(State(state): State<Arc<SimState>>, Json(request): Json<Switches>) -> Json<Value> {
    let now = state.events().switches();
    let next = EventSwitches {
        duplicate: request.duplicate.unwrap_or(now.duplicate),
        reorder: request.reorder.unwrap_or(now.reorder),
        drop: request.drop.unwrap_or(now.drop),
        http_unreachable: request.http_unreachable.unwrap_or(now.http_unreachable),
    };
    state.events().set_switches(next);
    Json(json!({
        "duplicate": next.duplicate, "reorder": next.reorder, "drop": next.drop,
        "httpUnreachable": next.http_unreachable,
    }))
}

fn outcome(outcome: &PushOutcome) -> Value {
    match outcome {
        PushOutcome::Accepted => json!("accepted"),
        PushOutcome::Unreachable => json!("unreachable"),
        PushOutcome::Refused(why) => json!({ "refused": why }),
    }
}

async fn check_url(State(state): State<Arc<SimState>>) -> Response {
    match state.events().check_url().await {
        Some(check) => {
            Json(json!({ "status": check.status, "outcome": outcome(&check.outcome), "tookMs": check.took_ms }))
                .into_response()
        }
        None => bad("no HTTP subscription"),
    }
}

async fn events(State(state): State<Arc<SimState>>) -> Json<Value> {
    let records = state.events().records();
    let emitted: Vec<Value> = records
        .emitted
        .iter()
        .map(|e| json!({ "eventId": e.event_id, "eventType": e.event_type, "corpId": e.corp_id, "data": e.data }))
        .collect();
    let pushes: Vec<Value> = records
        .http_pushes
        .iter()
        .map(|p| {
            json!({ "eventId": p.event_id, "attempt": p.attempt, "atMs": p.at_ms, "status": p.status,
                    "outcome": outcome(&p.outcome) })
        })
        .collect();
    Json(json!({ "emitted": emitted, "httpPushes": pushes, "givenUp": records.given_up }))
}
