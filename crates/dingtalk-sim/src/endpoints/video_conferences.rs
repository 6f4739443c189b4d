//! `POST /v1.0/conference/videoConferences` (an instant meeting, `userId` its organiser's
//! unionId) and `DELETE /v1.0/conference/videoConferences/{conferenceId}?unionId=` (its host
//! ends it), in the new-style envelope with DingTalk's documented answers: `403` naming
//! `VideoConference.Conference.Write`, `400 unknownUserError` for someone outside the
//! organisation, `400 paramsTitleError`, `404 waterLimitError` past the room limit, and
//! `400 resourceClose` for a meeting that already ended. Every call is recorded.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use serde::Serialize;
use serde_json::{Value, json};

use super::answer;
use super::new_style::{Refusal, authorize, json_fields, permission_denied};
use crate::records::actions::{ActionKind, MeetingAction};
use crate::state::SimState;
use crate::state::video_conferences::{CloseRefusal, CreateRefusal};

/// The permission creating and closing need.
pub const CONFERENCE_WRITE_PERMISSION: &str = "VideoConference.Conference.Write";

pub(crate) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/v1.0/conference/videoConferences", post(create))
        .route("/v1.0/conference/videoConferences/{conference_id}", delete(close))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    conference_id: String,
    conference_password: String,
    host_password: String,
    external_link_url: String,
    phone_numbers: Vec<String>,
    room_code: String,
}

/// A refusal, or the permission missing (its own envelope).
pub(crate) enum Denied {
    Refusal(Refusal),
    Permission(&'static str),
}

impl From<Refusal> for Denied {
    fn from(refusal: Refusal) -> Self {
        Self::Refusal(refusal)
    }
}

/// Answers `outcome` (a success's body) and records the call.
pub(crate) fn finish(
    state: &SimState,
    kind: ActionKind,
    corp: Option<String>,
    request: Value,
    outcome: Result<Value, Denied>,
) -> Response {
    let (response, error_code, answer) = match outcome {
        Ok(body) => (answer::json(StatusCode::OK, &body), None, Some(body)),
        Err(Denied::Refusal(refusal)) => {
            let code = refusal.code.clone();
            (refusal.into_response(), Some(code), None)
        }
        Err(Denied::Permission(scope)) => {
            (permission_denied(scope), Some("Forbidden.AccessDenied.AccessTokenPermissionDenied".to_owned()), None)
        }
    };
    let status = response.status().as_u16();
    state.conferences().record(MeetingAction { seq: 0, kind, corp_id: corp, request, status, error_code, answer });
    response
}

async fn create(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let corp = authorize(&state, &headers).ok();
    let outcome = (|| -> Result<Value, Denied> {
        let corp = authorize(&state, &headers)?;
        if !state.orgs().conference_write(&corp) {
            return Err(Denied::Permission(CONFERENCE_WRITE_PERMISSION));
        }
        let fields = json_fields(&headers, &body)?;
        let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
        let organiser = text("userId").filter(|s| !s.is_empty()).ok_or_else(|| Refusal::missing_field("userId"))?;
        let title = text("confTitle").ok_or_else(|| Refusal::missing_field("confTitle"))?;
        let invitees: Vec<String> = match fields.get("inviteUserIds") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(ids)) => ids.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Some(_) => return Err(paramss_error().into()),
        };
        let invite_caller = fields.get("inviteCaller").and_then(Value::as_bool).unwrap_or(true);
        let created =
            state.conferences().create(&corp, &organiser, &title, invitees, invite_caller).map_err(|refusal| {
                match refusal {
                    CreateRefusal::UnknownUser => {
                        Refusal::new(StatusCode::BAD_REQUEST, "unknownUserError", "unknown user")
                    }
                    CreateRefusal::Title(why) => {
                        Refusal::new(StatusCode::BAD_REQUEST, "paramsTitleError", &format!("error:{why}"))
                    }
                    CreateRefusal::RoomLimit => Refusal::new(StatusCode::NOT_FOUND, "waterLimitError", "人数水位限流"),
                }
            })?;
        let answer = Created {
            conference_id: created.conference_id,
            conference_password: crate::ids::digits(10),
            host_password: crate::ids::digits(10),
            external_link_url: created.link,
            phone_numbers: vec!["0571-26883112".to_owned()],
            room_code: created.room_code,
        };
        Ok(serde_json::to_value(answer).unwrap_or(Value::Null))
    })();
    finish(&state, ActionKind::Create, corp, request, outcome)
}

fn paramss_error() -> Refusal {
    Refusal::new(StatusCode::BAD_REQUEST, "paramsError", "params error")
}

async fn close(
    State(state): State<Arc<SimState>>,
    Path(conference_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let request = json!({ "conferenceId": conference_id, "unionId": query.get("unionId") });
    let corp = authorize(&state, &headers).ok();
    let outcome = (|| -> Result<Value, Denied> {
        let corp = authorize(&state, &headers)?;
        if !state.orgs().conference_write(&corp) {
            return Err(Denied::Permission(CONFERENCE_WRITE_PERMISSION));
        }
        let union_id =
            query.get("unionId").filter(|s| !s.is_empty()).ok_or_else(|| Refusal::missing_field("unionId"))?;
        state.conferences().close(&corp, &conference_id, union_id).map_err(|refusal| match refusal {
            CloseRefusal::NotFound => paramss_error(),
            CloseRefusal::NotHost => Refusal::new(StatusCode::NOT_FOUND, "permissionError", "无权操作该会议"),
            CloseRefusal::Ended => Refusal::new(StatusCode::BAD_REQUEST, "resourceClose", "The meeting has ended"),
        })?;
        Ok(json!({ "code": 200, "cause": "success" }))
    })();
    finish(&state, ActionKind::Close, corp, request, outcome)
}
