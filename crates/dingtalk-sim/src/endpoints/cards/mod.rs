//! The card platform: `POST /v1.0/card/instances/createAndDeliver`, `PUT /v1.0/card/instances`
//! and `POST /v1.0/card/callbacks/register`, checked for what the official `card_1_0` models
//! mark required and answering in their shapes; and `GET /v1.0/conference/videoConferences/{id}`
//! (`confInfo`, with `activeNum`). A test makes an organisation refuse cards (no
//! `Card.Instance.Write`, an unpublished template) with [`crate::state::cards::CardsView::refuse`].
//! Every call is recorded, and every delivered card is kept with the history of what it showed.
//!
//! `instances`: the card calls; `conference_detail`: the video conference's detail. (Button
//! presses, which DingTalk calls back, are the state's: `state/card_presses.rs`.)

mod conference_detail;
mod instances;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value};

use super::new_style::{Refusal, authorize};
use crate::records::cards::{CardCall, CardCallKind};
use crate::state::SimState;
use crate::state::cards::CardRefusal;

/// The standard templates every app may use (the Python Stream SDK's): markdown, and markdown
/// with buttons.
pub const STANDARD_TEMPLATES: [&str; 2] =
    ["589420e2-c1e2-46ef-a5ed-b8728e654da9.schema", "1366a1eb-bc54-4859-ac88-517c56a9acb1.schema"];
/// The longest `cardParamMap` key, in bytes.
pub const MAX_PARAM_KEY_BYTES: usize = 100;

/// How the card API answers a refusal of an organisation.
fn refusal_answer(refusal: CardRefusal) -> Refusal {
    match refusal {
        CardRefusal::NoPermission => Refusal::new(
            StatusCode::FORBIDDEN,
            "Forbidden.AccessDenied.AccessTokenPermissionDenied",
            "没有调用该接口的权限，接口权限申请参考：Card.Instance.Write",
        ),
        CardRefusal::TemplateUnpublished => {
            Refusal::new(StatusCode::BAD_REQUEST, "param.templateUnpublished", "card template is not published")
        }
    }
}

pub(crate) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/v1.0/card/instances/createAndDeliver", post(instances::create_and_deliver))
        .route("/v1.0/card/instances", axum::routing::put(instances::update))
        .route("/v1.0/card/callbacks/register", post(instances::register))
        .route("/v1.0/conference/videoConferences/{conference_id}", get(conference_detail::detail))
}

fn text<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    fields.get(name).and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

/// `cardData.cardParamMap`: an object of strings (DingTalk takes strings only).
fn param_map(card_data: Option<&Value>, required: bool) -> Result<BTreeMap<String, String>, Refusal> {
    let Some(card_data) = card_data else {
        return if required { Err(Refusal::missing_field("cardData")) } else { Ok(BTreeMap::new()) };
    };
    let Some(map) = card_data.get("cardParamMap") else { return Ok(BTreeMap::new()) };
    let Value::Object(map) = map else { return Err(Refusal::invalid_parameter("cardData.cardParamMap")) };
    map.iter()
        .map(|(key, value)| match value {
            Value::String(value) if key.len() <= MAX_PARAM_KEY_BYTES => Ok((key.clone(), value.clone())),
            _ => Err(Refusal::invalid_parameter("cardData.cardParamMap")),
        })
        .collect()
}

fn accepted(state: &SimState, kind: CardCallKind, corp: &str, body: &Bytes) -> CardCall {
    CardCall {
        seq: 0,
        kind,
        at_ms: state.clock().now_ms(),
        corp_id: Some(corp.to_owned()),
        body: serde_json::from_slice(body).ok(),
        status: 200,
        error_code: None,
    }
}

/// Records a refused call and answers it.
fn refused(state: &SimState, kind: CardCallKind, corp: Option<String>, body: &[u8], refusal: Refusal) -> Response {
    let call = CardCall {
        seq: 0,
        kind,
        at_ms: state.clock().now_ms(),
        corp_id: corp,
        body: serde_json::from_slice(body).ok(),
        status: refusal.status.as_u16(),
        error_code: Some(refusal.code.clone()),
    };
    state.cards().record_call(call, None);
    refusal.into_response()
}

/// The token's organisation, and its refusal of cards if it has one.
fn card_corp(state: &SimState, headers: &HeaderMap) -> Result<String, (Option<String>, Refusal)> {
    let corp = authorize(state, headers).map_err(|refusal| (None, refusal))?;
    match state.cards().refusal(&corp) {
        Some(refusal) => Err((Some(corp), refusal_answer(refusal))),
        None => Ok(corp),
    }
}
