//! `POST /dingtalk/callback`: verify, bound, parse, dedupe, acknowledge at once; the answer is
//! worked out and sent in the background.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::Instrument;

use super::AppState;
use crate::bot::handle::Admission;
use crate::dingtalk::message::CallbackBody;
use crate::dingtalk::reply::now_ms;

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

pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let request_id = fastrand::u64(..);
    let span = tracing::info_span!("callback", request_id = %format_args!("{request_id:016x}"), msg_id = tracing::field::Empty);
    receive_in_span(state, headers, body).instrument(span).await
}

async fn receive_in_span(state: AppState, headers: HeaderMap, body: Body) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(err) = state.verifier.verify_at(header("timestamp"), header("sign"), now_ms()) {
        tracing::warn!(reason = %err, "callback rejected");
        return reject(&state, StatusCode::UNAUTHORIZED, err.kind(), "the timestamp/sign headers do not verify");
    }

    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(err) if is_too_large(&err) => {
            tracing::warn!(limit = MAX_BODY_BYTES, "callback rejected: body over the size limit");
            return reject(&state, StatusCode::PAYLOAD_TOO_LARGE, "too_large", "the body is over 64 KiB");
        }
        Err(_) => {
            tracing::warn!("callback rejected: the body could not be read");
            return reject(&state, StatusCode::BAD_REQUEST, "bad_body", "the body could not be read");
        }
    };

    let message = match CallbackBody::parse(&bytes) {
        Ok(body) => body.into_inbound(),
        Err(err) => {
            tracing::warn!(%err, "callback rejected: the body is not a DingTalk robot message");
            return reject(&state, StatusCode::BAD_REQUEST, "bad_body", "the body is not a DingTalk robot message");
        }
    };
    tracing::Span::current().record("msg_id", tracing::field::display(&message.id));

    if let Some(url) = message.reply_to.session_webhook.as_deref()
        && !state.bot.replier.hosts().allows(url)
    {
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
        Admission::Accepted => {
            state.bot.metrics.callback("accepted");
            // The reply's lines go in this callback's span: it carries the request id and msgId.
            state.bot.spawn_in(message, tracing::Span::current());
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
