//! Every simulated HTTP endpoint, one module per concern, each with its `routes()`, merged by
//! [`router`] on the one address that stands in for both `api.dingtalk.com` (new-style,
//! `new_style`: the token in a header, errors in `{"code","requestid","message"}`) and
//! `oapi.dingtalk.com` (old-style, `old_style`: `?access_token=`, HTTP 200 with
//! `{"errcode","errmsg"}`). The endpoints read and change the state through its views; the state
//! knows nothing of them.

pub(crate) mod answer;
pub mod calendar;
pub mod cards;
pub mod conference_entries;
pub mod conference_lookup;
pub mod contact_users;
pub mod event_callbacks;
pub(crate) mod new_style;
pub mod old_style;
pub mod robot_openapi;
pub mod session_webhook;
pub mod stream_gateway;
pub mod tokens;
pub mod video_conferences;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;

use crate::state::SimState;

/// Every simulated endpoint, sharing `state`. Unknown paths answer 404 in the envelope.
pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .merge(tokens::routes())
        .merge(conference_lookup::routes())
        .merge(session_webhook::routes())
        .merge(robot_openapi::routes())
        .merge(cards::routes())
        .merge(stream_gateway::routes())
        .merge(contact_users::routes())
        .merge(event_callbacks::routes())
        .merge(video_conferences::routes())
        .merge(calendar::routes())
        .fallback(|| async {
            new_style::error(
                StatusCode::NOT_FOUND,
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
            )
        })
        .with_state(state)
}
