//! Liveness, readiness and the Prometheus exposition.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AppState;
use crate::readiness::{CheckState, Readiness};
use crate::state::SqliteStore;
use crate::telemetry::Metrics;
use crate::telemetry::operations::StoreReading;

/// The process is alive and serving.
pub async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// Ready when no registered check fails (`app` registers them: the configuration loaded, an
/// access token could be had at least once, the store's writer runs and writes, the Stream socket
/// is up in stream mode, Redis when configured). A degraded check (Redis unreachable: answers
/// come from the local store; the access token failing after it once passed) is reported and
/// leaves the replica ready. Each check that is not passing says why:
///
/// `{"ready": true, "status": "degraded", "checks": {"config": {"ok": true}, "access_token": {"ok": true},
///   "store": {"ok": true}, "redis": {"ok": true, "degraded": true, "reason": "…"}}}`
pub async fn readyz(State(state): State<AppState>) -> Response {
    let report = state.readiness.report().await;
    let ready = report.values().all(CheckState::ready);
    let degraded = report.values().any(|check| matches!(check, CheckState::Degraded(_)));
    let checks: Map<String, Value> = report.iter().map(|(name, state)| ((*name).to_owned(), check(state))).collect();
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

/// Makes the store's writer a readiness check (`store`: a replica that cannot record what it
/// accepts must not get messages) and its journal backlog and write errors metrics.
pub fn watch_store(readiness: &Readiness, metrics: &Metrics, store: SqliteStore) {
    store.observe_batches(metrics.operations().journal_batch());
    let checked = store.clone();
    readiness.probe("store", move || {
        let (health, waiting) = checked.health();
        async move { health.check(waiting) }
    });
    metrics.operations().observe_store(move || {
        let (health, _) = store.health();
        StoreReading {
            backlog: health.backlog,
            oldest_received_ms: health.oldest_received_ms,
            write_errors: health.write_errors,
        }
    });
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    // Degraded checks as gauges, read when scraped so they always match /readyz.
    for (name, check) in state.readiness.snapshot() {
        state.bot.metrics().degraded(name, matches!(check, CheckState::Degraded(_)));
    }
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        state.bot.metrics().render(),
    )
        .into_response()
}
