//! The HTTP server: the DingTalk callback, health, readiness and metrics.

pub mod callback;
pub mod card_callback;
mod connections;
mod deadline;
pub mod event_callback;
pub mod health;
pub mod limits;
pub mod listener;
pub mod request_id;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::bot::handle::Bot;
use crate::dingtalk::callback_crypto::EventCipher;
use crate::dingtalk::sign::Verifier;
use crate::readiness::Readiness;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub bot: Arc<Bot>,
    pub verifier: Arc<Verifier>,
    pub readiness: Readiness,
    /// DingTalk's encrypted event pushes, when the event subscription's token and aes_key are set.
    pub events: Option<Arc<EventCipher>>,
}

/// The bot's routes; tests can drive it without a socket. Without `callbacks` (stream mode)
/// no robot or card callback is served; event pushes are, whenever they are configured. Every
/// response carries its request's `X-Request-Id` ([`request_id`]).
pub fn router(state: AppState, callbacks: bool) -> Router {
    let mut router = if callbacks {
        Router::new()
            .route("/dingtalk/callback", post(callback::receive))
            .route(card_callback::PATH, post(card_callback::receive))
    } else {
        Router::new()
    };
    if state.events.is_some() {
        router = router.route(event_callback::PATH, post(event_callback::receive));
    }
    router
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .layer(axum::middleware::from_fn(request_id::tag))
        .with_state(state)
}
