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
/// can be had (from the cache or DingTalk), the Stream socket is up (in stream mode), and no
/// registered check fails. A degraded check (Redis unreachable: answers come from the local
/// store) is reported and leaves the replica ready. Each check that is not passing says why:
///
/// `{"ready": true, "status": "degraded", "checks": {"config": {"ok": true}, "access_token": {"ok": true},
///   "redis": {"ok": true, "degraded": true, "reason": "…"}}}`
pub async fn readyz(State(state): State<AppState>) -> Response {
    // A third-party app has no token of its own, only per organisation: nothing to check here.
    let token = match state.bot.conferences.tokens().kind() {
        AppKind::Internal => state.bot.conferences.tokens().token(None).await.map(drop),
        AppKind::ThirdParty(_) => Ok(()),
    };
    let token = token.map_or_else(|err| CheckState::Fail(err.to_string()), |()| CheckState::Pass);
    let mut checks = Map::new();
    checks.insert("config".to_owned(), check(&CheckState::Pass));
    checks.insert("access_token".to_owned(), check(&token));
    let mut ready = token.ready();
    let mut degraded = false;
    if let Some(stream) = &state.stream {
        let stream = if stream.connected() {
            CheckState::Pass
        } else {
            CheckState::Fail("the Stream connection is down; reconnecting".to_owned())
        };
        ready &= stream.ready();
        checks.insert("stream".to_owned(), check(&stream));
    }
    for (name, state) in state.readiness.snapshot() {
        ready &= state.ready();
        degraded |= matches!(state, CheckState::Degraded(_));
        checks.insert(name.to_owned(), check(&state));
    }
    let (status, word) = match (ready, degraded) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
        (true, true) => (StatusCode::OK, "degraded"),
        (true, false) => (StatusCode::OK, "ready"),
    };
    (status, Json(json!({ "ready": ready, "status": word, "checks": checks }))).into_response()
}

fn check(state: &CheckState) -> Value {
    match state {
        CheckState::Pass => json!({ "ok": true }),
        CheckState::Degraded(reason) => json!({ "ok": true, "degraded": true, "reason": reason }),
        CheckState::Fail(reason) => json!({ "ok": false, "reason": reason }),
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    // Degraded checks as gauges, read when scraped so they always match /readyz.
    for (name, check) in state.readiness.snapshot() {
        state.bot.metrics.degraded(name, matches!(check, CheckState::Degraded(_)));
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.bot.metrics.render())
        .into_response()
}
