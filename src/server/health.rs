//! Liveness, readiness and the Prometheus exposition.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;

/// The process is alive and serving.
pub async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// Ready when an access token can be had (from the cache or DingTalk).
pub async fn readyz(State(state): State<AppState>) -> Response {
    let token = state.bot.conferences.tokens().token().await;
    let (status, token_check) = match &token {
        Ok(_) => (StatusCode::OK, json!({ "ok": true })),
        Err(err) => (StatusCode::SERVICE_UNAVAILABLE, json!({ "ok": false, "error": err.to_string() })),
    };
    let ready = status == StatusCode::OK;
    (status, Json(json!({ "ready": ready, "checks": { "config": { "ok": true }, "access_token": token_check } })))
        .into_response()
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.bot.metrics.render())
        .into_response()
}
