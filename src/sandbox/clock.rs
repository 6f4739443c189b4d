//! The sandbox's time: the bot's background work reads the simulator's clock, and the
//! playground can run that clock fast (a week of reminders in a minute) or jump it ahead.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dingtalk_sim::SimClock;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::playground::{Playground, error};
use crate::clock::Clock;

/// The simulator's clock as the bot's clock.
#[derive(Debug, Clone)]
pub struct SimTime(pub SimClock);

impl Clock for SimTime {
    fn now_ms(&self) -> i64 {
        self.0.now_ms()
    }

    fn poll(&self) -> Duration {
        // The clock can jump or run fast: look often.
        Duration::from_millis(50)
    }
}

/// The fastest the playground runs the clock: a week a minute.
pub const MAX_SPEED: u32 = 7 * 24 * 60;
/// How often a fast clock is pushed ahead.
const STEP: Duration = Duration::from_millis(100);

/// How fast the simulated clock runs (1: real time), and the task that runs it.
#[derive(Debug)]
pub struct Speed {
    clock: SimClock,
    speed: AtomicU32,
}

impl Speed {
    /// Starts at real speed; runs until `stop`.
    pub fn start(clock: SimClock, stop: CancellationToken) -> Arc<Self> {
        let speed = Arc::new(Self { clock, speed: AtomicU32::new(1) });
        let runner = Arc::clone(&speed);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(STEP);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = ticker.tick() => {}
                }
                let extra = runner.speed.load(Ordering::Relaxed).saturating_sub(1);
                if extra > 0 {
                    runner.clock.advance(STEP * extra);
                }
            }
        });
        speed
    }

    fn answer(&self) -> ClockAnswer {
        ClockAnswer { now_ms: self.clock.now_ms(), speed: self.speed.load(Ordering::Relaxed) }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClockAnswer {
    now_ms: i64,
    speed: u32,
}

/// `POST /api/clock`: `{"speed": n}` (1 to a week a minute) and/or `{"advanceSecs": s}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ClockRequest {
    speed: Option<u32>,
    advance_secs: Option<u64>,
}

pub(super) async fn show(State(playground): State<Arc<Playground>>) -> Json<ClockAnswer> {
    Json(playground.speed().answer())
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
    if let Some(value) = request.speed {
        if !(1..=MAX_SPEED).contains(&value) {
            let problem = format!("speed is from 1 (real time) to {MAX_SPEED} (a week a minute)");
            return error(StatusCode::BAD_REQUEST, &problem);
        }
        speed.speed.store(value, Ordering::Relaxed);
    }
    if let Some(secs) = request.advance_secs {
        speed.clock.advance(Duration::from_secs(secs.min(31 * 86_400)));
    }
    Json(speed.answer()).into_response()
}
