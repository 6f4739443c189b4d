//! `POST /dingtalk/events`: DingTalk's encrypted event pushes (事件订阅, HTTP 推送), served when
//! `DINGMEET_EVENT_TOKEN` and `DINGMEET_EVENT_AES_KEY` are set. The signature is checked first,
//! then the body decrypted and its owner key compared with the app's; anything that fails gets a
//! 4xx, a log line saying why, and changes nothing. A push that opens is answered with the
//! encrypted `success` DingTalk wants (it retries after 10 s and 30 s otherwise, then keeps the
//! event on its failed-push list), once a meeting event is recorded (a 503 when it could not be,
//! so DingTalk pushes it again); `check_url` and the third-party `check_*_suite_url` are answered
//! at once, before anything else is looked at.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::callback::MAX_BODY_BYTES;
use crate::bot::meeting_events::Transport;
use crate::clock::now_ms;
use crate::dingtalk::callback_crypto::{EventCipher, OpenError};
use crate::dingtalk::event::Event;
use crate::dingtalk::meeting_event::{from_http, http_event_type, is_meeting_event};

/// The path DingTalk pushes events to (the console's 请求网址 is the public URL plus this).
pub const PATH: &str = "/dingtalk/events";

/// The verification pushes: answered `success` and nothing more.
const CHECKS: [&str; 4] = ["check_url", "check_create_suite_url", "check_update_suite_url", "check_suite_url"];

/// The query DingTalk signs: `msg_signature` (older pages: `signature`), `timestamp` (or
/// `timeStamp`) and `nonce`.
#[derive(Debug, Default, Deserialize)]
pub struct PushQuery {
    msg_signature: Option<String>,
    signature: Option<String>,
    timestamp: Option<String>,
    #[serde(rename = "timeStamp")]
    time_stamp: Option<String>,
    nonce: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PushBody {
    encrypt: String,
}

pub async fn receive(
    State(state): State<AppState>,
    query: Result<Query<PushQuery>, QueryRejection>,
    request: Request,
) -> Response {
    let Some(cipher) = state.events.clone() else {
        return refuse(StatusCode::NOT_FOUND, "not_configured", "event pushes are not configured");
    };
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let (Some(signature), Some(timestamp), Some(nonce)) =
        (query.msg_signature.or(query.signature), query.timestamp.or(query.time_stamp), query.nonce)
    else {
        tracing::warn!("event push refused: the query lacks msg_signature, timestamp or nonce");
        return refuse(StatusCode::BAD_REQUEST, "bad_query", "msg_signature, timestamp and nonce are required");
    };
    let bytes = match axum::body::to_bytes(Body::new(request.into_body()), MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            tracing::warn!("event push refused: the body could not be read or is over 64 KiB");
            return refuse(StatusCode::BAD_REQUEST, "bad_body", "the body could not be read");
        }
    };
    let Ok(body) = serde_json::from_slice::<PushBody>(&bytes) else {
        tracing::warn!("event push refused: the body is not {{\"encrypt\": \"…\"}}");
        return refuse(StatusCode::BAD_REQUEST, "bad_body", "the body must be {\"encrypt\": \"…\"}");
    };
    let text = match cipher.open(&signature, &timestamp, &nonce, &body.encrypt) {
        Ok(text) => text,
        Err(err) => return refused_open(&err),
    };
    let event_type = http_event_type(&text).unwrap_or_default();
    if CHECKS.contains(&event_type.as_str()) {
        tracing::info!(event_type, "event subscription check answered");
        return success(&cipher);
    }
    let envelope = serde_json::from_str::<serde_json::Value>(&text).ok();
    let corp = envelope.as_ref().and_then(|v| v.get("CorpId").and_then(|c| c.as_str()).map(str::to_owned));
    let kept = if is_meeting_event(&event_type) {
        let events = state.bot.meeting_events();
        events.pushed_at(envelope.as_ref().and_then(|v| v.get("EventTime")).and_then(serde_json::Value::as_i64));
        let parsed = from_http(&text).map(|(_, parsed)| parsed);
        if let Err(err) = &parsed {
            tracing::warn!(event_type, %err, "event push refused: a meeting event that cannot be read");
            events.receive(Transport::Http, &event_type, parsed.clone()).await;
            return refuse(StatusCode::BAD_REQUEST, "bad_event", "the meeting event names no conference");
        }
        events.receive(Transport::Http, &event_type, parsed).await
    } else {
        state.bot.handle_event(Event::parse(&event_type, corp, &text)).await
    };
    if kept {
        success(&cipher)
    } else {
        // DingTalk pushes it again (10 s, then 30 s) and then keeps it on the failed-push list.
        refuse(StatusCode::SERVICE_UNAVAILABLE, "not_kept", "the event could not be kept; push it again")
    }
}

/// Why a push did not open, as the answer and the log line say it.
fn refused_open(err: &OpenError) -> Response {
    match err {
        OpenError::BadSignature => {
            tracing::warn!(
                reason = %err,
                "event push refused: its msg_signature does not match DINGMEET_EVENT_TOKEN (a forged push, or the console's token differs)"
            );
            refuse(StatusCode::UNAUTHORIZED, err.kind(), "the signature does not match")
        }
        OpenError::ForeignOwner { .. } => {
            tracing::warn!(
                reason = %err,
                "event push refused: it was encrypted for another app (check DINGMEET_CLIENT_ID against the console's app)"
            );
            refuse(StatusCode::FORBIDDEN, err.kind(), "the push is for another app")
        }
        _ => {
            tracing::warn!(
                reason = %err,
                "event push refused: it does not decrypt with DINGMEET_EVENT_AES_KEY (the console's aes_key differs?)"
            );
            refuse(StatusCode::BAD_REQUEST, err.kind(), "the body does not decrypt")
        }
    }
}

/// The encrypted `success`, signed over a fresh timestamp and nonce.
fn success(cipher: &EventCipher) -> Response {
    let mut random = [0u8; 16];
    random.iter_mut().for_each(|b| *b = u8::try_from(fastrand::alphanumeric()).unwrap_or(b'a'));
    let nonce: String = std::iter::repeat_with(fastrand::alphanumeric).take(16).collect();
    Json(cipher.reply("success", &now_ms().to_string(), &nonce, random)).into_response()
}

fn refuse(status: StatusCode, error: &str, message: &str) -> Response {
    (status, Json(json!({ "error": error, "message": message }))).into_response()
}
