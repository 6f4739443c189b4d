//! `GET /v1.0/conference/roomCodes/{roomCode}/infos?nextToken=&maxResults=`: the seeded
//! meetings, paged with `nextToken`/`hasMore`/`totalCount`, or the code's documented error.
//! The request names no organisation: the token does. A lookup sees the meetings of the
//! organisation its token was issued to, and nothing of any other (as DingTalk scopes a token to
//! one organisation); an organisation without the conference scope is refused.
//!
//! Tests change how a code answers through [`SimState::meetings`] (another answer, a delay, a
//! hold) and count the lookups.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use super::answer;
use super::conference_entries::{WireConference, instances};
use super::new_style::{self, authorize, presented_token};
use crate::records::Lookup;
use crate::scenario::CodeAnswer;
use crate::state::SimState;

/// Page size when `maxResults` is absent (undocumented; what other clients use).
pub const DEFAULT_PAGE_SIZE: usize = 20;
/// The largest page served; a larger `maxResults` is clamped (the real range is undocumented).
pub const MAX_PAGE_SIZE: usize = 100;

pub(crate) fn routes() -> Router<Arc<SimState>> {
    Router::new().route("/v1.0/conference/roomCodes/{room_code}/infos", get(infos))
}

/// One page of the answer, keys in the order of the reference example.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
    total_count: usize,
    conference_list: Vec<WireConference>,
}

fn param_error() -> Response {
    new_style::error(StatusCode::BAD_REQUEST, "paramError", "paramError")
}

async fn infos(
    State(state): State<Arc<SimState>>,
    Path(room_code): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    state.meetings().count_call(&room_code);
    let authorized = authorize(&state, &headers);
    state.meetings().record_lookup(Lookup {
        seq: 0,
        code: room_code.clone(),
        token: presented_token(&headers).map(str::to_owned),
        corp_id: authorized.as_ref().ok().cloned(),
    });
    let corp = match authorized {
        Ok(corp) => corp,
        Err(refused) => return refused.into_response(),
    };
    if !state.orgs().conference_read(&corp) {
        return new_style::permission_denied("VideoConference.Conference.Read");
    }
    let code = room_code.trim();
    if code.is_empty() {
        return new_style::error(StatusCode::BAD_REQUEST, "missingRoomCode", "missingRoomCode");
    }
    let page_size = match query.get("maxResults").map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => DEFAULT_PAGE_SIZE,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n >= 1 => usize::try_from(n).unwrap_or(MAX_PAGE_SIZE).min(MAX_PAGE_SIZE),
            _ => return param_error(),
        },
    };
    let offset = match query.get("nextToken").map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => 0,
        Some(text) => match text.parse::<usize>() {
            Ok(n) => n,
            Err(_) => return param_error(),
        },
    };

    let Some(behaviour) = state.meetings().code_behaviour_in(&corp, code) else {
        // A code nobody seeded: digits find nothing, anything else is not a meeting code.
        if code.chars().all(|c| c.is_ascii_digit()) {
            return page(&[], 0, page_size);
        }
        return new_style::error(StatusCode::BAD_REQUEST, "invalidRoomCode", "invalidRoomCode");
    };
    if let Some(mut held) = behaviour.hold.clone() {
        // Ends when released, or when the guard is dropped (the sender goes away).
        let _ = held.wait_for(|released| *released).await;
    }
    if !behaviour.delay.is_zero() {
        tokio::time::sleep(behaviour.delay).await;
    }
    match behaviour.answer {
        CodeAnswer::Meetings(meetings) => {
            let all = instances(code, &meetings, state.clock().now_ms());
            if offset > all.len() {
                return param_error();
            }
            page(&all, offset, page_size)
        }
        CodeAnswer::Error(error) => {
            let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            new_style::error(status, &error.code, error.message.as_deref().unwrap_or(&error.code))
        }
        CodeAnswer::Raw(raw) => {
            let status = StatusCode::from_u16(raw.status).unwrap_or(StatusCode::OK);
            answer::raw(status, &raw.content_type, raw.body)
        }
    }
}

fn page(all: &[WireConference], offset: usize, size: usize) -> Response {
    let end = offset.saturating_add(size).min(all.len());
    let has_more = end < all.len();
    let answer = Page {
        has_more,
        next_token: has_more.then(|| end.to_string()),
        total_count: all.len(),
        conference_list: all.get(offset..end).unwrap_or_default().to_vec(),
    };
    answer::json(StatusCode::OK, &answer)
}
