//! Liveness, readiness and the Prometheus exposition.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::dingtalk::token::AppKind;

/// The process is alive and serving.
pub async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// Ready when an access token can be had (from the cache or DingTalk) and, in stream mode, the
/// Stream socket is up. The body names each check and why it fails.
pub async fn readyz(State(state): State<AppState>) -> Response {
    // A third-party app has no token of its own, only per organisation: nothing to check here.
    let token = match state.bot.conferences.tokens().kind() {
        AppKind::Internal => state.bot.conferences.tokens().token(None).await.map(drop),
        AppKind::ThirdParty(_) => Ok(()),
    };
    let mut ready = token.is_ok();
    let mut checks = json!({
        "config": { "ok": true },
        "access_token": match &token {
            Ok(_) => json!({ "ok": true }),
            Err(err) => json!({ "ok": false, "error": err.to_string() }),
        },
    });
    if let Some(stream) = &state.stream {
        let connected = stream.connected();
        ready &= connected;
        checks["stream"] = if connected {
            json!({ "ok": true })
        } else {
            json!({ "ok": false, "error": "the Stream connection is down; reconnecting" })
        };
    }
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "ready": ready, "checks": checks }))).into_response()
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.bot.metrics.render())
        .into_response()
}
