//! The card platform: `POST /v1.0/card/instances/createAndDeliver`, `PUT /v1.0/card/instances`
//! and `POST /v1.0/card/callbacks/register`, checked for what the official `card_1_0` models
//! mark required and answering in their shapes; and `GET /v1.0/conference/videoConferences/{id}`
//! (`confInfo`, with `activeNum`). A test makes an organisation refuse cards (no
//! `Card.Instance.Write`, an unpublished template) with [`SimState::refuse_cards`]. Every call
//! is recorded, and every delivered card is kept with the history of what it showed.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::meetings::instances;
use crate::records::cards::{CardCall, CardCallKind, CardRecords, SimCard};
use crate::scenario::CodeAnswer;
use crate::state::SimState;
use crate::tokens::authorize;
use crate::wire::{self, Refusal, json_fields};

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
        .route("/v1.0/card/instances/createAndDeliver", post(create_and_deliver))
        .route("/v1.0/card/instances", axum::routing::put(update))
        .route("/v1.0/card/callbacks/register", post(register))
        .route("/v1.0/conference/videoConferences/{conference_id}", get(conference))
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

    /// The callback body of `user_id` pressing button `action` on card `out_track_id` (the
    /// Stream SDKs' `CardCallbackMessage`), from organisation `corp`.
    pub fn card_press_body(&self, out_track_id: &str, corp: &str, user_id: &str, action: &str) -> Value {
        let card = self.card(out_track_id);
        let content = json!({"cardPrivateData": {"actionIds": [action], "params": {}}}).to_string();
        json!({
            "outTrackId": out_track_id,
            "corpId": corp,
            "userId": user_id,
            "userIdType": 1,
            "spaceType": card.as_ref().map(|c| c.space_type.clone()),
            "spaceId": card.as_ref().map(|c| c.space_id.clone()),
            "type": "actionCallback",
            "extension": "{}",
            "value": "",
            "content": content,
        })
    }

    /// `user_id` presses button `action` on card `out_track_id`: pushed over the Stream when the
    /// card was created with `callbackType` `STREAM` (`None` otherwise: DingTalk would not call back).
    pub fn press_card(&self, out_track_id: &str, user_id: &str, action: &str) -> Option<crate::gateway::Pushed> {
        let card = self.card(out_track_id)?;
        if card.callback_type.as_deref() != Some("STREAM") {
            return None;
        }
        let body = self.card_press_body(out_track_id, &card.corp_id, user_id, action);
        Some(self.push_card_data(&body.to_string()))
    }

    /// `user_id` presses button `action` on card `out_track_id`, posted to the HTTP route its
    /// `callbackRouteKey` was registered for, with the robot callbacks' `timestamp`/`sign`
    /// headers when `signed`. Returns the HTTP status; `None` when the card has no registered
    /// route (DingTalk would not call back).
    pub async fn press_card_http(&self, out_track_id: &str, user_id: &str, action: &str, signed: bool) -> Option<u16> {
        let card = self.card(out_track_id)?;
        let key = card.callback_route_key.clone()?;
        let (url, _) = self.lock().journal.records.cards.routes.get(&key).cloned()?;
        let body = self.card_press_body(out_track_id, &card.corp_id, user_id, action);
        let mut request = self.http().post(url).json(&body);
        if signed {
            let timestamp = self.clock().now_ms().to_string();
            let sign = crate::sign::sign(&timestamp, self.client_secret());
            request = request.header("timestamp", timestamp).header("sign", sign);
        }
        Some(request.send().await.map_or(0, |answer| answer.status().as_u16()))
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeliverResult {
    space_type: String,
    space_id: String,
    carrier_id: String,
    success: bool,
}

fn check_create(state: &SimState, fields: &Map<String, Value>, corp: &str) -> Result<SimCard, Refusal> {
    let template_id = text(fields, "cardTemplateId").ok_or_else(|| Refusal::missing_field("cardTemplateId"))?;
    let out_track_id = text(fields, "outTrackId").ok_or_else(|| Refusal::missing_field("outTrackId"))?;
    let params = param_map(fields.get("cardData"), true)?;
    let open_space_id = text(fields, "openSpaceId").ok_or_else(|| Refusal::missing_field("openSpaceId"))?;
    if !STANDARD_TEMPLATES.contains(&template_id) {
        return Err(CardRefusal::TemplateUnpublished.refusal());
    }
    let callback_type = text(fields, "callbackType").map(str::to_owned);
    let callback_route_key = text(fields, "callbackRouteKey").map(str::to_owned);
    match (callback_type.as_deref(), &callback_route_key) {
        (None | Some("STREAM"), _) | (Some("HTTP"), Some(_)) => {}
        (Some("HTTP"), None) => return Err(Refusal::missing_field("callbackRouteKey")),
        (Some(_), _) => return Err(Refusal::invalid_parameter("callbackType")),
    }
    let spaces: Vec<&str> = open_space_id.strip_prefix("dtv1.card//").unwrap_or_default().split(';').collect();
    let [space] = spaces.as_slice() else { return Err(Refusal::invalid_parameter("openSpaceId")) };
    let (space_type, space_id) = space.split_once('.').ok_or_else(|| Refusal::invalid_parameter("openSpaceId"))?;
    let robot_code = state.scenario().app.robot_code();
    let model_robot = |model: &str| fields.get(model).and_then(|m| m.get("robotCode")).and_then(Value::as_str);
    let mut at_user_ids = BTreeMap::new();
    match space_type {
        "IM_GROUP" => {
            let deliver = model_robot("imGroupOpenDeliverModel");
            if deliver.is_none() {
                return Err(Refusal::missing_field("imGroupOpenDeliverModel.robotCode"));
            }
            if deliver != Some(robot_code) {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "invalidParameter.robotCode.auth",
                    "robotCode is not a robot of this app",
                ));
            }
            if let Some(Value::Object(at)) = fields.get("imGroupOpenDeliverModel").and_then(|m| m.get("atUserIds")) {
                at_user_ids = at.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect();
            }
        }
        "IM_ROBOT" => {
            let model = fields.get("imRobotOpenDeliverModel");
            let kind = model.and_then(|m| m.get("spaceType")).and_then(Value::as_str);
            if kind != Some("IM_ROBOT") {
                return Err(Refusal::missing_field("imRobotOpenDeliverModel.spaceType"));
            }
        }
        _ => return Err(Refusal::new(StatusCode::BAD_REQUEST, "param.spaceIdIllegal", "spaceId is illegal")),
    }
    if space_id.is_empty() {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, "param.spaceIdIllegal", "spaceId is illegal"));
    }
    let known = state.lock().journal.records.cards.cards.contains_key(out_track_id);
    if known {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, "param.outTrackIdDuplicated", "outTrackId already used"));
    }
    Ok(SimCard {
        out_track_id: out_track_id.to_owned(),
        corp_id: corp.to_owned(),
        template_id: template_id.to_owned(),
        open_space_id: open_space_id.to_owned(),
        space_type: space_type.to_owned(),
        space_id: space_id.to_owned(),
        callback_type,
        callback_route_key,
        at_user_ids,
        history: vec![params.clone()],
        params,
        created_ms: state.clock().now_ms(),
    })
}

async fn create_and_deliver(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    let kind = CardCallKind::CreateAndDeliver;
    let corp = match card_corp(&state, &headers) {
        Ok(corp) => corp,
        Err((corp, refusal)) => return refused(&state, kind, corp, &body, refusal),
    };
    let card = json_fields(&headers, &body).and_then(|fields| check_create(&state, &fields, &corp));
    let card = match card {
        Ok(card) => card,
        Err(refusal) => return refused(&state, kind, Some(corp), &body, refusal),
    };
    let answer = json!({
        "success": true,
        "result": {
            "outTrackId": card.out_track_id,
            "deliverResults": [DeliverResult {
                space_type: card.space_type.clone(),
                space_id: card.space_id.clone(),
                carrier_id: wire::hex(24),
                success: true,
            }],
        },
    });
    state.record_card_call(accepted(&state, kind, &corp, &body), Some(CardChange::Created(Box::new(card))));
    wire::json(StatusCode::OK, &answer)
}

async fn update(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    let kind = CardCallKind::Update;
    let corp = match card_corp(&state, &headers) {
        Ok(corp) => corp,
        Err((corp, refusal)) => return refused(&state, kind, corp, &body, refusal),
    };
    let checked = json_fields(&headers, &body).and_then(|fields| {
        let out_track_id = text(&fields, "outTrackId").ok_or_else(|| Refusal::missing_field("outTrackId"))?.to_owned();
        let params = param_map(fields.get("cardData"), false)?;
        let merge = fields
            .get("cardUpdateOptions")
            .and_then(|o| o.get("updateCardDataByKey"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let owner = state.lock().journal.records.cards.cards.get(&out_track_id).map(|card| card.corp_id.clone());
        if owner.as_deref() != Some(corp.as_str()) {
            // Another organisation's card is as unknown as one never created.
            return Err(Refusal::new(StatusCode::BAD_REQUEST, "param.cardNotExist", "card instance does not exist"));
        }
        Ok(CardChange::Updated { out_track_id, params, merge })
    });
    match checked {
        Ok(change) => {
            state.record_card_call(accepted(&state, kind, &corp, &body), Some(change));
            wire::json(StatusCode::OK, &json!({"success": true, "result": true}))
        }
        Err(refusal) => refused(&state, kind, Some(corp), &body, refusal),
    }
}

async fn register(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    let kind = CardCallKind::RegisterCallback;
    let corp = match card_corp(&state, &headers) {
        Ok(corp) => corp,
        Err((corp, refusal)) => return refused(&state, kind, corp, &body, refusal),
    };
    let checked = json_fields(&headers, &body).and_then(|fields| {
        let key = text(&fields, "callbackRouteKey").ok_or_else(|| Refusal::missing_field("callbackRouteKey"))?;
        let url = text(&fields, "callbackUrl").ok_or_else(|| Refusal::missing_field("callbackUrl"))?;
        if reqwest::Url::parse(url).is_err() {
            return Err(Refusal::invalid_parameter("callbackUrl"));
        }
        let secret = text(&fields, "apiSecret").map_or_else(|| wire::hex(32), str::to_owned);
        Ok(CardChange::Route { key: key.to_owned(), url: url.to_owned(), secret })
    });
    match checked {
        Ok(CardChange::Route { key, url, secret }) => {
            let answer = json!({"success": true, "result": {"callbackUrl": url, "apiSecret": secret}});
            state.record_card_call(accepted(&state, kind, &corp, &body), Some(CardChange::Route { key, url, secret }));
            wire::json(StatusCode::OK, &answer)
        }
        Ok(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Err(refusal) => refused(&state, kind, Some(corp), &body, refusal),
    }
}

/// `confInfo` of conference `conference_id` among the organisation's seeded meetings.
async fn conference(
    State(state): State<Arc<SimState>>,
    Path(conference_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let kind = CardCallKind::ConferenceDetail;
    let corp = match authorize(&state, &headers) {
        Ok(corp) => corp,
        Err(refusal) => return refused(&state, kind, None, &[], refusal),
    };
    let now = state.clock().now_ms();
    let found = {
        let world = state.lock();
        world.codes.find_conference(&corp, |code, answer| match answer {
            CodeAnswer::Meetings(meetings) => {
                instances(code, meetings, now).into_iter().find(|m| m.conference_id.as_deref() == Some(&conference_id))
            }
            _ => None,
        })
    };
    let Some(found) = found else {
        let refusal = Refusal::new(StatusCode::BAD_REQUEST, "conferenceNotExist", "conference does not exist");
        return refused(&state, kind, Some(corp), &[], refusal);
    };
    let active = match found.status {
        Some(2) => state.lock().cards.active.get(&conference_id).copied().unwrap_or(DEFAULT_ACTIVE_NUM),
        _ => 0,
    };
    let mut info = json!({
        "conferenceId": conference_id,
        "title": found.title,
        "status": found.status,
        "activeNum": active,
        "attendNum": active,
        "invitedNum": active,
        "creatorId": found.creator_id,
        "creatorNick": found.creator_nick,
        "startTime": found.start_time,
        "endTime": found.end_time,
        "confDuration": found.conf_duration,
        "externalLinkUrl": found.external_link_url,
        "roomCode": found.room_code,
        "scheduleConferenceId": found.schedule_conference_id,
        "bizType": found.biz_type,
        "extensionAppSettings": [],
    });
    // Absent fields are left out, as DingTalk leaves them out.
    if let Value::Object(fields) = &mut info {
        fields.retain(|_, value| !value.is_null());
    }
    let answer = json!({ "confInfo": info });
    state.record_card_call(accepted(&state, kind, &corp, &Bytes::new()), None);
    wire::json(StatusCode::OK, &answer)
}
