//! The HTTP server: the DingTalk callback, health, readiness and metrics.

pub mod callback;
pub mod card_callback;
mod connections;
mod deadline;
pub mod health;
pub mod limits;
pub mod listener;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::bot::handle::Bot;
use crate::dingtalk::sign::Verifier;
use crate::readiness::Readiness;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub bot: Arc<Bot>,
    pub verifier: Arc<Verifier>,
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
