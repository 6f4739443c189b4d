//! Liveness, readiness and the Prometheus exposition.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AppState;
use crate::dingtalk::token::AppKind;
use crate::readiness::CheckState;

/// The process is alive and serving.
pub async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// Ready when the configuration loaded (it did, or the process would not run), an access token
/// can be had (from the cache or DingTalk), the Stream socket is up (in stream mode), and every
/// registered check passes (Redis, when configured). Each failing check says why:
///
/// `{"ready": false, "checks": {"config": {"ok": true}, "access_token": {"ok": false, "reason": "…"}, "redis": …}}`
pub async fn readyz(State(state): State<AppState>) -> Response {
    // A third-party app has no token of its own, only per organisation: nothing to check here.
    let token = match state.bot.tokens().kind() {
        AppKind::Internal => state.bot.tokens().token(None).await.map(drop),
        AppKind::ThirdParty(_) => Ok(()),
    };
    let token = token.map_err(|err| err.to_string());
    let mut checks = Map::new();
    checks.insert("config".to_owned(), check(&Ok(())));
    checks.insert("access_token".to_owned(), check(&token));
    let mut ready = token.is_ok();
    if let Some(stream) = &state.stream {
        let connected = stream.connected();
        ready &= connected;
        let stream = if connected { Ok(()) } else { Err("the Stream connection is down; reconnecting".to_owned()) };
        checks.insert("stream".to_owned(), check(&stream));
    }
    for (name, state) in state.readiness.snapshot() {
        ready &= state.is_ok();
        checks.insert(name.to_owned(), check(&state));
    }
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
