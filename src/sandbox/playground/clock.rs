//! `/api/clock`: how fast the simulated clock runs, and a jump ahead.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{Playground, error};
use crate::sandbox::clock::Speed;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClockAnswer {
    now_ms: i64,
    speed: u32,
}

impl ClockAnswer {
    fn of(speed: &Speed) -> Self {
        Self { now_ms: speed.now_ms(), speed: speed.speed() }
    }
}

/// `POST /api/clock`: `{"speed": n}` (1 to a week a minute) and/or `{"advanceSecs": s}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ClockRequest {
    speed: Option<u32>,
    advance_secs: Option<u64>,
}

pub(super) async fn show(State(playground): State<Arc<Playground>>) -> Json<ClockAnswer> {
    Json(ClockAnswer::of(playground.speed()))
}

pub(super) async fn change(
    State(playground): State<Arc<Playground>>,
    request: Result<Json<ClockRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match request {
        Ok(request) => request,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, &rejection.body_text()),
    };
    let speed = playground.speed();
    if let Some(value) = request.speed
        && let Err(problem) = speed.set_speed(value)
    {
        return error(StatusCode::BAD_REQUEST, &problem);
    }
    if let Some(secs) = request.advance_secs {
        speed.advance(Duration::from_secs(secs));
    }
    Json(ClockAnswer::of(speed)).into_response()
}
