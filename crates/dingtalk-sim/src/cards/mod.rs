//! The card platform: `POST /v1.0/card/instances/createAndDeliver`, `PUT /v1.0/card/instances`
//! and `POST /v1.0/card/callbacks/register`, checked for what the official `card_1_0` models
//! mark required and answering in their shapes; and `GET /v1.0/conference/videoConferences/{id}`
//! (`confInfo`, with `activeNum`). A test makes an organisation refuse cards (no
//! `Card.Instance.Write`, an unpublished template) with [`SimState::refuse_cards`]. Every call
//! is recorded, and every delivered card is kept with the history of what it showed.
//!
//! `instances`: the card calls; `press`: button presses called back; `conference`: the
//! video conference's detail.

mod conference;
mod instances;
mod press;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value};

use crate::records::cards::{CardCall, CardCallKind, CardRecords, SimCard};
use crate::state::SimState;
use crate::tokens::authorize;
use crate::wire::Refusal;

/// The standard templates every app may use (the Python Stream SDK's): markdown, and markdown
/// with buttons.
pub const STANDARD_TEMPLATES: [&str; 2] =
    ["589420e2-c1e2-46ef-a5ed-b8728e654da9.schema", "1366a1eb-bc54-4859-ac88-517c56a9acb1.schema"];
/// The longest `cardParamMap` key, in bytes.
pub const MAX_PARAM_KEY_BYTES: usize = 100;
/// The most people in a meeting in progress, unless a test sets it ([`SimState::set_active_num`]).
pub const DEFAULT_ACTIVE_NUM: i64 = 3;

/// The Stream topic card button presses come on.
pub const CARD_CALLBACK_TOPIC: &str = "/v1.0/card/instances/callback";

/// How the card API refuses an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardRefusal {
    /// The app lacks `Card.Instance.Write` (403).
    NoPermission,
    /// The template is not published (400 `param.templateUnpublished`).
    TemplateUnpublished,
}

impl CardRefusal {
    fn refusal(self) -> Refusal {
        match self {
            Self::NoPermission => Refusal::new(
                StatusCode::FORBIDDEN,
                "Forbidden.AccessDenied.AccessTokenPermissionDenied",
                "没有调用该接口的权限，接口权限申请参考：Card.Instance.Write",
            ),
            Self::TemplateUnpublished => {
                Refusal::new(StatusCode::BAD_REQUEST, "param.templateUnpublished", "card template is not published")
            }
        }
    }
}

/// What the card API does now, beyond the scenario.
#[derive(Debug, Default)]
pub(crate) struct CardBehaviour {
    /// Organisation → how it is refused.
    refusals: BTreeMap<String, CardRefusal>,
    /// Conference id → `activeNum`.
    active: BTreeMap<String, i64>,
}

pub(crate) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/v1.0/card/instances/createAndDeliver", post(instances::create_and_deliver))
        .route("/v1.0/card/instances", axum::routing::put(instances::update))
        .route("/v1.0/card/callbacks/register", post(instances::register))
        .route("/v1.0/conference/videoConferences/{conference_id}", get(conference::detail))
}

impl SimState {
    /// Makes organisation `corp`'s card calls fail with `refusal` (`None`: answer again).
    pub fn refuse_cards(&self, corp: &str, refusal: Option<CardRefusal>) {
        self.update(|world| match refusal {
            Some(refusal) => world.cards.refusals.insert(corp.to_owned(), refusal),
            None => world.cards.refusals.remove(corp),
        });
    }

    /// Sets how many people are in conference `conference_id` now.
    pub fn set_active_num(&self, conference_id: &str, active: i64) {
        self.update(|world| world.cards.active.insert(conference_id.to_owned(), active));
    }

    /// The card records.
    pub fn card_records(&self) -> CardRecords {
        self.lock().journal.records.cards.clone()
    }

    /// The card delivered as `out_track_id`, as it stands now.
    pub fn card(&self, out_track_id: &str) -> Option<SimCard> {
        self.lock().journal.records.cards.cards.get(out_track_id).cloned()
    }

    fn record_card_call(&self, call: CardCall, card: Option<CardChange>) {
        self.update(|world| {
            let seq = world.journal.next_seq();
            let records = &mut world.journal.records.cards;
            records.calls.push(CardCall { seq, ..call });
            match card {
                Some(CardChange::Created(card)) => {
                    records.cards.insert(card.out_track_id.clone(), *card);
                }
                Some(CardChange::Updated { out_track_id, params, merge }) => {
                    if let Some(card) = records.cards.get_mut(&out_track_id) {
                        if merge {
                            card.params.extend(params);
                        } else {
                            card.params = params;
                        }
                        card.history.push(card.params.clone());
                    }
                }
                Some(CardChange::Route { key, url, secret }) => {
                    records.routes.insert(key, (url, secret));
                }
                None => {}
            }
        });
    }
}

enum CardChange {
    Created(Box<SimCard>),
    Updated { out_track_id: String, params: BTreeMap<String, String>, merge: bool },
    Route { key: String, url: String, secret: String },
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
    state.record_card_call(call, None);
    refusal.into_response()
}

/// The token's organisation, and its refusal of cards if it has one.
fn card_corp(state: &SimState, headers: &HeaderMap) -> Result<String, (Option<String>, Refusal)> {
    let corp = authorize(state, headers).map_err(|refusal| (None, refusal))?;
    let refusal = state.lock().cards.refusals.get(&corp).copied();
    match refusal {
        Some(refusal) => Err((Some(corp), refusal.refusal())),
        None => Ok(corp),
    }
}
