//! `POST /dingtalk/card-callback`: presses of interactive-card buttons in HTTP mode (the route
//! the bot registers at start when `DINGMEET_PUBLIC_URL` is set). DingTalk's envelope and
//! signature here are not documented, so the one signature that can be checked, the robot
//! callbacks' `timestamp`/`sign` headers with the app's secret, is required: anything else is
//! refused with 401 and a log line saying why. A verified press is acknowledged at once and the
//! card updated after.

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::callback::MAX_BODY_BYTES;
use crate::clock::now_ms;

/// The path presses are called back on.
pub const PATH: &str = "/dingtalk/card-callback";

pub async fn receive(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(err) = state.verifier.verify_at(header("timestamp"), header("sign"), now_ms()) {
        tracing::warn!(reason = %err, "card callback refused: its timestamp/sign headers do not verify with the app's secret");
        state.bot.metrics().card("press", "bad_signature");
        let message = "the timestamp/sign headers do not verify";
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": err.outcome().label(), "message": message })))
            .into_response();
    }
    let bytes = match axum::body::to_bytes(Body::new(body), MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            tracing::warn!("card callback refused: the body could not be read or is over 64 KiB");
            let message = "the body could not be read";
            return (StatusCode::BAD_REQUEST, Json(json!({ "error": "bad_body", "message": message }))).into_response();
        }
    };
    let bot = std::sync::Arc::clone(&state.bot);
    tokio::spawn(async move { bot.card_pressed(&bytes).await });
    Json(json!({})).into_response()
}
