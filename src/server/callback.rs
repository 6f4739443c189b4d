//! `POST /dingtalk/callback`: verify, bound and parse; then the bot's one intake
//! ([`crate::bot::handle::Bot::receive`]) decides, and the answer is acknowledged at once.

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::Instrument;

use super::AppState;
use super::request_id::RequestId;
use crate::bot::handle::Admission;
use crate::clock::now_ms;
use crate::dingtalk::message::{CallbackBody, InboundMessage};
use crate::dingtalk::sign::SignError;
use crate::telemetry::Outcome;

/// The largest body accepted (DingTalk's text messages are a few KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A refusal: the status DingTalk sees, a stable label, and a short public message. The
/// detailed reason goes to the log only.
fn reject(status: StatusCode, outcome: Outcome, message: &str) -> Response {
    (status, Json(json!({ "error": outcome.label(), "message": message }))).into_response()
}

/// DingTalk's "nothing to post synchronously" answer; the real reply follows asynchronously.
fn acknowledge() -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], r#"{"msgtype":"empty"}"#).into_response()
}

/// The span of a callback that was refused before its `msgId` was known.
fn refused_span(request_id: &RequestId) -> tracing::Span {
    tracing::info_span!("callback", %request_id, msg_id = tracing::field::Empty)
}

pub async fn receive(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // Set by the router's middleware; a router without it still gets one id per delivery.
    let request_id = parts.extensions.get::<RequestId>().cloned().unwrap_or_default();
    let message = match read_message(&state, &parts.headers, body).await {
        Ok(message) => message,
        Err(refusal) => {
            refused_span(&request_id).in_scope(|| refusal.log());
            state.bot.metrics().callback(refusal.outcome());
            return refusal.respond();
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

    fn outcome(&self) -> Outcome {
        match self {
            Self::Signature(err) => err.outcome(),
            Self::TooLarge => Outcome::TooLarge,
            Self::Unreadable | Self::NotRobotMessage(_) => Outcome::BadBody,
        }
    }

    fn respond(&self) -> Response {
        let outcome = self.outcome();
        match self {
            Self::Signature(_) => reject(StatusCode::UNAUTHORIZED, outcome, "the timestamp/sign headers do not verify"),
            Self::TooLarge => reject(StatusCode::PAYLOAD_TOO_LARGE, outcome, "the body is over 64 KiB"),
            Self::Unreadable => reject(StatusCode::BAD_REQUEST, outcome, "the body could not be read"),
            Self::NotRobotMessage(_) => {
                reject(StatusCode::BAD_REQUEST, outcome, "the body is not a DingTalk robot message")
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

/// Hands the message to the bot, which records it before this acknowledges it; acknowledges
/// unless the bot refused it or could not record it.
async fn accept(state: AppState, message: InboundMessage) -> Response {
    match state.bot.receive(message).await {
        Admission::Refused(_) => {
            reject(StatusCode::BAD_REQUEST, Outcome::WebhookHostNotAllowed, "the sessionWebhook host is not allowed")
        }
        Admission::NotRecorded => reject(
            StatusCode::SERVICE_UNAVAILABLE,
            Outcome::NotRecorded,
            "the message could not be recorded; send it again",
        ),
        Admission::RedisUnreachable => reject(
            StatusCode::SERVICE_UNAVAILABLE,
            Outcome::RedisUnreachable,
            "the shared duplicate check (Redis) does not answer; send it again",
        ),
        Admission::Accepted | Admission::Duplicate => acknowledge(),
    }
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
