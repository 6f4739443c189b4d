//! `POST /dingtalk/callback`: verify, bound, parse, record (the journal, also the dedupe), then
//! acknowledge; the answer is worked out and sent in the background.

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::Instrument;

use super::AppState;
use crate::bot::handle::Admission;
use crate::dingtalk::message::{CallbackBody, InboundMessage};
use crate::dingtalk::reply::now_ms;
use crate::dingtalk::sign::SignError;

/// The largest body accepted (DingTalk's text messages are a few KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A refusal: the status DingTalk sees, a stable label, and a short public message. The
/// detailed reason goes to the log only.
fn reject(state: &AppState, status: StatusCode, kind: &'static str, message: &str) -> Response {
    state.bot.metrics.callback(kind);
    (status, Json(json!({ "error": kind, "message": message }))).into_response()
}

/// DingTalk's "nothing to post synchronously" answer; the real reply follows asynchronously.
fn acknowledge() -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], r#"{"msgtype":"empty"}"#).into_response()
}

/// A callback's id in the logs: 16 hex digits, different for every delivery.
#[derive(Debug, Clone, Copy)]
struct RequestId(u64);

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The span of a callback that was refused before its `msgId` was known.
fn refused_span(request_id: RequestId) -> tracing::Span {
    tracing::info_span!("callback", %request_id, msg_id = tracing::field::Empty)
}

pub async fn receive(State(state): State<AppState>, request: Request) -> Response {
    let request_id = RequestId(fastrand::u64(..));
    let (parts, body) = request.into_parts();
    let message = match read_message(&state, &parts.headers, body).await {
        Ok(message) => message,
        Err(refusal) => {
            refused_span(request_id).in_scope(|| refusal.log());
            return refusal.respond(&state);
        }
    };
    // Created once the msgId is known, so its fields are set once: every line this callback
    // leads to, down to the reply's, carries both.
    let span = tracing::info_span!("callback", %request_id, msg_id = %message.id);
    accept(state, message).instrument(span).await
}

/// Why a callback was refused before it became a message.
enum Refusal {
    Signature(SignError),
    TooLarge,
    Unreadable,
    NotRobotMessage(serde_json::Error),
}

impl Refusal {
    fn log(&self) {
        match self {
            Self::Signature(err) => tracing::warn!(reason = %err, "callback rejected"),
            Self::TooLarge => tracing::warn!(limit = MAX_BODY_BYTES, "callback rejected: body over the size limit"),
            Self::Unreadable => tracing::warn!("callback rejected: the body could not be read"),
            Self::NotRobotMessage(err) => {
                tracing::warn!(%err, "callback rejected: the body is not a DingTalk robot message");
            }
        }
    }

    fn respond(&self, state: &AppState) -> Response {
        match self {
            Self::Signature(err) => {
                reject(state, StatusCode::UNAUTHORIZED, err.kind(), "the timestamp/sign headers do not verify")
            }
            Self::TooLarge => reject(state, StatusCode::PAYLOAD_TOO_LARGE, "too_large", "the body is over 64 KiB"),
            Self::Unreadable => reject(state, StatusCode::BAD_REQUEST, "bad_body", "the body could not be read"),
            Self::NotRobotMessage(_) => {
                reject(state, StatusCode::BAD_REQUEST, "bad_body", "the body is not a DingTalk robot message")
            }
        }
    }
}

/// Verifies, bounds and parses the callback.
async fn read_message(state: &AppState, headers: &HeaderMap, body: Body) -> Result<InboundMessage, Refusal> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    state.verifier.verify_at(header("timestamp"), header("sign"), now_ms()).map_err(Refusal::Signature)?;
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|err| if is_too_large(&err) { Refusal::TooLarge } else { Refusal::Unreadable })?;
    CallbackBody::parse(&bytes).map(CallbackBody::into_inbound).map_err(Refusal::NotRobotMessage)
}

/// Checks where the reply would go, dedupes, and hands the message to the bot.
async fn accept(state: AppState, mut message: InboundMessage) -> Response {
    if !state.bot.replier.hosts().check(&mut message.reply_to) {
        let url = message.reply_to.session_webhook.as_deref().unwrap_or_default();
        let host = reqwest::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
        tracing::warn!(%host, "callback rejected: sessionWebhook host is not on DINGMEET_WEBHOOK_HOSTS");
        return reject(
            &state,
            StatusCode::BAD_REQUEST,
            "webhook_host_not_allowed",
            "the sessionWebhook host is not allowed",
        );
    }

    match state.bot.admit(&message).await {
        Admission::Duplicate => {
            tracing::info!("duplicate delivery acknowledged, not processed again");
            state.bot.metrics.callback("duplicate");
        }
        Admission::Accepted(ticket) => {
            state.bot.metrics.callback("accepted");
            // The reply's lines go in this callback's span: it carries the request id and msgId.
            state.bot.spawn_in(message, ticket, tracing::Span::current());
        }
        Admission::NotRecorded => {
            let message = "the message could not be recorded; send it again";
            return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": "not_recorded", "message": message })))
                .into_response();
        }
    }
    acknowledge()
}

fn is_too_large(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = current.source();
    }
    false
}
