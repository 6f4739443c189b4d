//! `GET /call_back/get_call_back_failed_result?access_token=` (old style): the HTTP event pushes
//! DingTalk gave up on after its retries, for the token's organisation, at most 200 a call,
//! each call clearing what it returned (docs/dingtalk-events.md §b).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::answer;
use super::old_style::TokenCorp;
use crate::state::SimState;
use crate::state::event_push::flat_body;

pub const FAILED_RESULT_PATH: &str = "/call_back/get_call_back_failed_result";
/// The most one call returns.
pub const MAX_FAILED_PER_CALL: usize = 200;

pub(crate) fn routes() -> Router<Arc<SimState>> {
    Router::new().route(FAILED_RESULT_PATH, get(failed_result))
}

async fn failed_result(State(state): State<Arc<SimState>>, TokenCorp(corp): TokenCorp) -> Response {
    let (taken, has_more) = state.events().take_failed(&corp, MAX_FAILED_PER_CALL);
    let failed_list: Vec<Value> = taken
        .iter()
        .map(|event| {
            let mut entry = Map::new();
            entry.insert("call_back_tag".to_owned(), json!(event.event_type));
            entry.insert("corpid".to_owned(), json!(event.corp_id));
            entry.insert("event_time".to_owned(), json!(event.born_ms));
            entry.insert(event.event_type.clone(), flat_body(event));
            Value::Object(entry)
        })
        .collect();
    let body = json!({ "errcode": 0, "errmsg": "ok", "has_more": has_more, "failed_list": failed_list });
    answer::json(StatusCode::OK, &body)
}
