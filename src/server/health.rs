//! Liveness, readiness and the Prometheus exposition.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AppState;
use crate::readiness::CheckState;

/// The process is alive and serving.
pub async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// Ready when every registered check passes (`app` registers them: the configuration loaded,
/// an access token can be had, the Stream socket is up in stream mode, Redis when configured).
/// Each failing check says why:
///
/// `{"ready": false, "checks": {"config": {"ok": true}, "access_token": {"ok": false, "reason": "…"}, "redis": …}}`
pub async fn readyz(State(state): State<AppState>) -> Response {
    let report = state.readiness.report().await;
    let ready = report.values().all(Result::is_ok);
    let checks: Map<String, Value> = report.iter().map(|(name, state)| ((*name).to_owned(), check(state))).collect();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "ready": ready, "checks": checks }))).into_response()
}

fn check(state: &CheckState) -> Value {
    match state {
        Ok(()) => json!({ "ok": true }),
        Err(reason) => json!({ "ok": false, "reason": reason }),
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        state.bot.metrics().render(),
    )
        .into_response()
}
