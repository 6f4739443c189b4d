//! The HTTP server: the DingTalk callback, health, readiness and metrics.

pub mod callback;
pub mod card_callback;
pub mod health;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::bot::handle::Bot;
use crate::dingtalk::sign::Verifier;
use crate::readiness::Readiness;
use crate::stream::StreamStatus;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub bot: Arc<Bot>,
    pub verifier: Arc<Verifier>,
    /// Present in stream mode: whether the Stream socket is up (a readiness check).
    pub stream: Option<Arc<StreamStatus>>,
    pub readiness: Readiness,
}

/// The bot's routes; tests can drive it without a socket. Without `callbacks` (stream mode)
/// only health, readiness and metrics are served.
pub fn router(state: AppState, callbacks: bool) -> Router {
    let router = if callbacks {
        Router::new()
            .route("/dingtalk/callback", post(callback::receive))
            .route(card_callback::PATH, post(card_callback::receive))
    } else {
        Router::new()
    };
    router
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .with_state(state)
}
