//! Session webhooks, where the robot's replies land first: `POST /robot/sendBySession`, always
//! HTTP 200 with `{"errcode","errmsg"}`; a session lives 90 minutes and takes 20 posts a minute.
//! Every post is recorded. (The robot OpenAPI, for when a session is gone, is `robot_openapi.rs`.)

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::Value;

use super::answer::{self, is_json};
use crate::records::WebhookPost;
use crate::state::SimState;
use crate::state::sessions::PostFailure;

/// The `errcode` recorded for a post that failed on the way (no DingTalk answer was sent).
pub const FAILED_ON_THE_WAY: i64 = -1;

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
    Router::new().route("/robot/sendBySession", post(send_by_session))
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
    let session = state.sessions().live(&session_id);
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let rules = &state.scenario().sessions;
    let failing = state.sessions().failing_now();
    let (errcode, errmsg) = match (&session, failing) {
        (_, Some(PostFailure::Status(status))) => (FAILED_ON_THE_WAY, format!("HTTP {status} (failing on command)")),
        (None, None) => (errcode::SESSION_GONE, "session 不存在".to_owned()),
        (Some(_), None) if body.len() > rules.max_body_bytes => {
            (errcode::TOO_LONG, format!("message too long, exceed {} bytes", rules.max_body_bytes))
        }
        (Some(session), None) => match validate_webhook_body(is_json(&headers), parsed.as_ref()) {
            Err(refusal) => refusal,
            Ok(()) if !state.sessions().take_post_slot(&session.conversation_id) => {
                (errcode::TOO_FAST, format!("send too fast, exceed {} times per minute", rules.posts_per_minute))
            }
            Ok(()) => (errcode::OK, "ok".to_owned()),
        },
    };
    state.sessions().record_post(WebhookPost {
        seq: 0,
        session: session_id,
        conversation_id: session.map(|s| s.conversation_id),
        at_ms: state.clock().now_ms(),
        body: parsed,
        bytes: body.len(),
        errcode,
        errmsg: errmsg.clone(),
    });
    if let Some(PostFailure::Status(status)) = failing {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, [(axum::http::header::CONTENT_TYPE, "text/html")], "<html><body>error</body></html>")
            .into_response();
    }
    answer::json(StatusCode::OK, &WebhookAnswer { errcode, errmsg: &errmsg })
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
            // A null entry (an SDK passing a sender without a staff id) mentions no one; nothing
            // documents it as an error, so it is not one.
            let ok = value.as_array().is_some_and(|items| items.iter().all(|v| v.is_string() || v.is_null()));
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
    fn a_null_in_at_user_ids_mentions_no_one_and_is_accepted() {
        let at = json!({"atUserIds": [null], "isAtAll": false});
        assert_eq!(check(json!({"msgtype": "markdown", "markdown": {"title": "t", "text": "x"}, "at": at})), Ok(()));
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
        assert_eq!(
            check(json!({"msgtype": "text", "text": {"content": "x"}, "at": {"atUserIds": [1]}})),
            Err(missing("at.atUserIds"))
        );
        assert_eq!(validate_webhook_body(false, Some(&json!({"msgtype": "text"}))), Err(missing("json")));
        assert_eq!(validate_webhook_body(true, None), Err(missing("json")));
    }
}
