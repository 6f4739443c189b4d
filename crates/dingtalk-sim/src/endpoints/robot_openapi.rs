//! The robot OpenAPI, where replies go when the session webhook is gone:
//! `POST /v1.0/robot/groupMessages/send` and `POST /v1.0/robot/oToMessages/batchSend`, in the
//! new-style envelope, with the token of the organisation the conversation belongs to. Every
//! send is recorded.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::{Map, Value};

use super::answer::{self, is_json};
use super::new_style::{Refusal, authorize};
use crate::ids;
use crate::records::{OpenApiSend, SendKind};
use crate::state::SimState;

/// The largest `msgParam` the OpenAPI takes, in bytes.
pub const MAX_MSG_PARAM_BYTES: usize = 15_000;
/// The most `userIds` in one `batchSend`.
pub const MAX_USER_IDS: usize = 20;

pub(crate) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/v1.0/robot/groupMessages/send", post(group_send))
        .route("/v1.0/robot/oToMessages/batchSend", post(batch_send))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupAnswer {
    process_query_key: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BatchAnswer {
    process_query_key: String,
    invalid_staff_id_list: Vec<String>,
    flow_controlled_staff_id_list: Vec<String>,
    filtered_staff_id_list: Vec<String>,
}

/// The `msgParam` fields each `msgKey` needs (DOC-MT; the `sampleActionCard2..6` button fields
/// are not documented, so only their title and text are checked).
fn required_params(msg_key: &str) -> Option<&'static [&'static str]> {
    Some(match msg_key {
        "sampleText" => &["content"],
        "sampleMarkdown" => &["title", "text"],
        "sampleImageMsg" => &["photoURL"],
        "sampleLink" => &["text", "title", "picUrl", "messageUrl"],
        "sampleActionCard" => &["title", "text", "singleTitle", "singleURL"],
        "sampleActionCard2" | "sampleActionCard3" | "sampleActionCard4" | "sampleActionCard5" | "sampleActionCard6" => {
            &["title", "text"]
        }
        "sampleAudio" => &["mediaId", "duration"],
        "sampleFile" => &["mediaId", "fileName", "fileType"],
        "sampleVideo" => &["duration", "videoMediaId", "videoType", "picMediaId"],
        _ => return None,
    })
}

/// The checks both send endpoints share: token, JSON body, robotCode, msgKey and msgParam.
/// Returns the body's fields and the organisation of the token.
fn check_send(state: &SimState, headers: &HeaderMap, body: &[u8]) -> Result<(Map<String, Value>, String), Refusal> {
    let corp = authorize(state, headers)?;
    if !state.orgs().robot_send(&corp) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "Forbidden.AccessDenied.AccessTokenPermissionDenied",
            "no permission: qyapi_robot_sendmsg is required",
        ));
    }
    let parsed = if is_json(headers) { serde_json::from_slice::<Value>(body).ok() } else { None };
    let Some(Value::Object(fields)) = parsed else { return Err(Refusal::missing_body()) };
    let text = |name: &str| fields.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    let robot_code = text("robotCode").ok_or_else(|| Refusal::missing_field("robotCode"))?;
    if robot_code != state.scenario().app.robot_code() {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalidParameter.robotCode.auth",
            "robotCode is not a robot of this app",
        ));
    }
    let msg_key = text("msgKey").ok_or_else(|| Refusal::missing_field("msgKey"))?;
    let Some(required) = required_params(msg_key) else { return Err(Refusal::invalid_parameter("msgKey")) };
    let msg_param = text("msgParam").ok_or_else(|| Refusal::missing_field("msgParam"))?;
    if msg_param.len() > MAX_MSG_PARAM_BYTES {
        return Err(Refusal::invalid_parameter("msgParam"));
    }
    let param_ok = match serde_json::from_str::<Value>(msg_param) {
        Ok(Value::Object(param)) => required.iter().all(|f| param.get(*f).is_some_and(|v| !v.is_null())),
        _ => false,
    };
    if !param_ok {
        return Err(Refusal::invalid_parameter("msgParam"));
    }
    Ok((fields, corp))
}

/// Records a send and answers it.
fn answer(state: &SimState, kind: SendKind, body: &[u8], outcome: Result<Response, Refusal>) -> Response {
    let (response, error_code) = match outcome {
        Ok(response) => (response, None),
        Err(refusal) => {
            let code = refusal.code.clone();
            (refusal.into_response(), Some(code))
        }
    };
    state.record_openapi_send(OpenApiSend {
        seq: 0,
        kind,
        at_ms: state.clock().now_ms(),
        body: serde_json::from_slice(body).ok(),
        status: response.status().as_u16(),
        error_code,
    });
    response
}

async fn group_send(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    let outcome = check_send(&state, &headers, &body).and_then(|(fields, corp)| {
        let text = |name: &str| fields.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
        // A cool app's group message names its app instead of a conversation (the SDK's request
        // model has both optional); one of the two is needed.
        let Some(conversation) = text("openConversationId") else {
            return match text("coolAppCode") {
                Some(_) => Ok(answer::json(StatusCode::OK, &GroupAnswer { process_query_key: ids::random_base64(32) })),
                None => Err(Refusal::missing_field("openConversationId")),
            };
        };
        // A token speaks for one organisation; another's group is not a conversation it can
        // reach. (DingTalk's exact answer is undocumented; this is the robot API's bad-parameter
        // shape.)
        if state.conversation_corp(conversation).is_some_and(|owner| owner != corp) {
            return Err(Refusal::invalid_parameter("openConversationId"));
        }
        Ok(answer::json(StatusCode::OK, &GroupAnswer { process_query_key: ids::random_base64(32) }))
    });
    answer(&state, SendKind::Group, &body, outcome)
}

async fn batch_send(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    let outcome = check_send(&state, &headers, &body).and_then(|(fields, corp)| {
        let users = match fields.get("userIds").and_then(Value::as_array) {
            None => return Err(Refusal::missing_field("userIds")),
            Some(users) if users.len() > MAX_USER_IDS => {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "invalidParameter.userIds.overMax",
                    "userIds exceeds the maximum of 20",
                ));
            }
            Some(users) if users.is_empty() || !users.iter().all(|u| u.as_str().is_some_and(|s| !s.is_empty())) => {
                return Err(Refusal::invalid_parameter("userIds"));
            }
            Some(users) => users.iter().filter_map(Value::as_str).map(str::to_owned).collect::<Vec<_>>(),
        };
        // A staff id the organisation's directory lists is reached; one it does not (in an
        // organisation whose people the scenario names) is listed back as invalid.
        let known = state.users().of(&corp);
        let invalid =
            users.into_iter().filter(|id| !known.is_empty() && known.iter().all(|u| &u.staff_id != id)).collect();
        let answer = BatchAnswer {
            process_query_key: ids::random_base64(32),
            invalid_staff_id_list: invalid,
            flow_controlled_staff_id_list: Vec::new(),
            filtered_staff_id_list: Vec::new(),
        };
        Ok(answer::json(StatusCode::OK, &answer))
    });
    answer(&state, SendKind::OneToOne, &body, outcome)
}
