//! Where the robot's replies land: the session webhook (`POST /robot/sendBySession`, always
//! HTTP 200 with `{"errcode","errmsg"}`) and the robot OpenAPI (`groupMessages/send`,
//! `oToMessages/batchSend`, the new-style envelope). Every request is recorded.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::{Map, Value};

use super::oauth::{authorize, is_json};
use super::state::{OpenApiSend, SendKind, SimState, WebhookPost};
use super::wire::{self, Refusal};

/// The largest `msgParam` the OpenAPI takes, in bytes.
pub const MAX_MSG_PARAM_BYTES: usize = 15_000;
/// The most `userIds` in one `batchSend`.
pub const MAX_USER_IDS: usize = 20;

/// `errcode`s the session webhook answers.
pub mod errcode {
    pub const OK: i64 = 0;
    /// `session 不存在`: unknown or expired session.
    pub const SESSION_GONE: i64 = 300_001;
    /// `send too fast, exceed 20 times per minute`.
    pub const TOO_FAST: i64 = 130_101;
    /// `message too long, exceed 20000 bytes`.
    pub const TOO_LONG: i64 = 460_101;
    /// `缺少参数 …`: a required field is missing or has the wrong type (the custom-robot webhook's
    /// code for this; which code the session webhook uses is not documented).
    pub const MISSING_PARAMETER: i64 = 40_035;
    /// `不支持的消息类型` (the custom-robot webhook's code; UNCERTAIN for the session webhook).
    pub const UNSUPPORTED_MSGTYPE: i64 = 400_105;
}

pub(crate) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/robot/sendBySession", post(send_by_session))
        .route("/v1.0/robot/groupMessages/send", post(group_send))
        .route("/v1.0/robot/oToMessages/batchSend", post(batch_send))
}

#[derive(Serialize)]
struct WebhookAnswer<'a> {
    errcode: i64,
    errmsg: &'a str,
}

async fn send_by_session(
    State(state): State<Arc<SimState>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let session_id = query.get("session").cloned().unwrap_or_default();
    let session = state.live_session(&session_id);
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let rules = &state.scenario().sessions;
    let (errcode, errmsg) = match &session {
        None => (errcode::SESSION_GONE, "session 不存在".to_owned()),
        Some(_) if body.len() > rules.max_body_bytes => {
            (errcode::TOO_LONG, format!("message too long, exceed {} bytes", rules.max_body_bytes))
        }
        Some(session) => match validate_webhook_body(is_json(&headers), parsed.as_ref()) {
            Err(refusal) => refusal,
            Ok(()) if !state.take_post_slot(&session.conversation_id) => {
                (errcode::TOO_FAST, format!("send too fast, exceed {} times per minute", rules.posts_per_minute))
            }
            Ok(()) => (errcode::OK, "ok".to_owned()),
        },
    };
    state.record_webhook_post(WebhookPost {
        seq: 0,
        session: session_id,
        conversation_id: session.map(|s| s.conversation_id),
        at_ms: state.clock().now_ms(),
        body: parsed,
        bytes: body.len(),
        errcode,
        errmsg: errmsg.clone(),
    });
    wire::json(StatusCode::OK, &WebhookAnswer { errcode, errmsg: &errmsg })
}

fn missing(what: &str) -> (i64, String) {
    (errcode::MISSING_PARAMETER, format!("缺少参数 {what}"))
}

/// Checks a webhook body against the shapes DingTalk documents (text, markdown, actionCard,
/// link, feedCard, with an optional `at`).
pub fn validate_webhook_body(json_content_type: bool, body: Option<&Value>) -> Result<(), (i64, String)> {
    let Some(Value::Object(body)) = body.filter(|_| json_content_type) else { return Err(missing("json")) };
    let Some(msgtype) = body.get("msgtype").and_then(Value::as_str) else { return Err(missing("msgtype")) };
    let object = |name: &str| body.get(name).and_then(Value::as_object);
    let strings = |outer: &str, fields: &[&str]| -> Result<(), (i64, String)> {
        let Some(inner) = object(outer) else { return Err(missing(outer)) };
        match fields.iter().find(|f| inner.get(**f).and_then(Value::as_str).is_none_or(str::is_empty)) {
            Some(field) => Err(missing(&format!("{outer}.{field}"))),
            None => Ok(()),
        }
    };
    match msgtype {
        "text" => strings("text", &["content"])?,
        "markdown" => strings("markdown", &["title", "text"])?,
        "link" => strings("link", &["title", "text", "messageUrl"])?,
        "actionCard" => {
            strings("actionCard", &["title", "text"])?;
            let card = object("actionCard").cloned().unwrap_or_default();
            let single = strings("actionCard", &["singleTitle", "singleURL"]).is_ok();
            let buttons = card
                .get("btns")
                .and_then(Value::as_array)
                .is_some_and(|btns| !btns.is_empty() && btns.iter().all(|b| has_strings(b, &["title", "actionURL"])));
            if !single && !buttons {
                return Err(missing("actionCard.singleURL"));
            }
        }
        "feedCard" => {
            let links = object("feedCard").and_then(|f| f.get("links")).and_then(Value::as_array);
            let ok = links.is_some_and(|links| {
                !links.is_empty() && links.iter().all(|l| has_strings(l, &["title", "messageURL", "picURL"]))
            });
            if !ok {
                return Err(missing("feedCard.links"));
            }
        }
        _ => return Err((errcode::UNSUPPORTED_MSGTYPE, "不支持的消息类型".to_owned())),
    }
    if let Some(at) = body.get("at") {
        validate_at(at)?;
    }
    Ok(())
}

fn has_strings(value: &Value, fields: &[&str]) -> bool {
    fields.iter().all(|f| value.get(*f).and_then(Value::as_str).is_some())
}

fn validate_at(at: &Value) -> Result<(), (i64, String)> {
    let Some(at) = at.as_object() else { return Err(missing("at")) };
    for list in ["atUserIds", "atMobiles"] {
        if let Some(value) = at.get(list) {
            let ok = value.as_array().is_some_and(|items| items.iter().all(Value::is_string));
            if !ok {
                return Err(missing(&format!("at.{list}")));
            }
        }
    }
    if at.get("isAtAll").is_some_and(|v| !v.is_boolean()) {
        return Err(missing("at.isAtAll"));
    }
    Ok(())
}

// --- The robot OpenAPI ---------------------------------------------------------------------------

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
        let conversation = fields.get("openConversationId").and_then(Value::as_str).filter(|s| !s.is_empty());
        let Some(conversation) = conversation else { return Err(Refusal::missing_field("openConversationId")) };
        // A token speaks for one organisation; another's group is not a conversation it can
        // reach. (DingTalk's exact answer is undocumented; this is the robot API's bad-parameter
        // shape.)
        if state.conversation_corp(conversation).is_some_and(|owner| owner != corp) {
            return Err(Refusal::invalid_parameter("openConversationId"));
        }
        Ok(wire::json(StatusCode::OK, &GroupAnswer { process_query_key: wire::random_base64(32) }))
    });
    answer(&state, SendKind::Group, &body, outcome)
}

async fn batch_send(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    let outcome = check_send(&state, &headers, &body).and_then(|(fields, _)| {
        match fields.get("userIds").and_then(Value::as_array) {
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
            Some(_) => {}
        }
        let answer = BatchAnswer {
            process_query_key: wire::random_base64(32),
            invalid_staff_id_list: Vec::new(),
            flow_controlled_staff_id_list: Vec::new(),
        };
        Ok(wire::json(StatusCode::OK, &answer))
    });
    answer(&state, SendKind::OneToOne, &body, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(body: Value) -> Result<(), (i64, String)> {
        validate_webhook_body(true, Some(&body))
    }

    #[test]
    fn the_documented_shapes_are_accepted() {
        let at = json!({"atUserIds": ["u1"], "atMobiles": [], "isAtAll": false});
        assert_eq!(check(json!({"msgtype": "text", "text": {"content": "hi"}, "at": at})), Ok(()));
        assert_eq!(check(json!({"msgtype": "markdown", "markdown": {"title": "t", "text": "x"}, "at": at})), Ok(()));
        assert_eq!(
            check(
                json!({"msgtype": "actionCard", "actionCard": {"title": "t", "text": "x", "singleTitle": "s", "singleURL": "https://a", "btnOrientation": "0"}})
            ),
            Ok(())
        );
        assert_eq!(
            check(
                json!({"msgtype": "actionCard", "actionCard": {"title": "t", "text": "x", "btns": [{"title": "a", "actionURL": "https://a"}]}})
            ),
            Ok(())
        );
    }

    #[test]
    fn malformed_bodies_get_an_errcode_naming_what_is_missing() {
        assert_eq!(check(json!({"msgtype": "markdown", "markdown": {"title": "t"}})), Err(missing("markdown.text")));
        assert_eq!(check(json!({"markdown": {}})), Err(missing("msgtype")));
        assert_eq!(check(json!({"msgtype": "text", "text": {"content": ""}})), Err(missing("text.content")));
        assert_eq!(
            check(json!({"msgtype": "actionCard", "actionCard": {"title": "t", "text": "x"}})).map_err(|e| e.0),
            Err(40_035)
        );
        assert_eq!(check(json!({"msgtype": "video"})).map_err(|e| e.0), Err(errcode::UNSUPPORTED_MSGTYPE));
        assert_eq!(
            check(json!({"msgtype": "text", "text": {"content": "x"}, "at": {"atUserIds": "u1"}})),
            Err(missing("at.atUserIds"))
        );
        assert_eq!(validate_webhook_body(false, Some(&json!({"msgtype": "text"}))), Err(missing("json")));
        assert_eq!(validate_webhook_body(true, None), Err(missing("json")));
    }
}
