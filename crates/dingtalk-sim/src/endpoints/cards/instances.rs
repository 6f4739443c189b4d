//! The card calls: create and deliver, update, and callback route registration, checked as the
//! `card_1_0` models require.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{STANDARD_TEMPLATES, accepted, card_corp, param_map, refusal_answer, refused, text};
use crate::endpoints::answer;
use crate::endpoints::new_style::{Refusal, json_fields};
use crate::ids;
use crate::records::cards::{CardCallKind, SimCard};
use crate::state::SimState;
use crate::state::cards::{CardChange, CardRefusal};

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
        return Err(refusal_answer(CardRefusal::TemplateUnpublished));
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
    if state.cards().owner(out_track_id).is_some() {
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

pub(super) async fn create_and_deliver(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
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
                carrier_id: ids::hex(24),
                success: true,
            }],
        },
    });
    state.cards().record_call(accepted(&state, kind, &corp, &body), Some(CardChange::Created(Box::new(card))));
    answer::json(StatusCode::OK, &answer)
}

pub(super) async fn update(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
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
        let owner = state.cards().owner(&out_track_id);
        if owner.as_deref() != Some(corp.as_str()) {
            // Another organisation's card is as unknown as one never created.
            return Err(Refusal::new(StatusCode::BAD_REQUEST, "param.cardNotExist", "card instance does not exist"));
        }
        Ok(CardChange::Updated { out_track_id, params, merge })
    });
    match checked {
        Ok(change) => {
            state.cards().record_call(accepted(&state, kind, &corp, &body), Some(change));
            answer::json(StatusCode::OK, &json!({"success": true, "result": true}))
        }
        Err(refusal) => refused(&state, kind, Some(corp), &body, refusal),
    }
}

pub(super) async fn register(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
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
        let secret = text(&fields, "apiSecret").map_or_else(|| ids::hex(32), str::to_owned);
        Ok(CardChange::Route { key: key.to_owned(), url: url.to_owned(), secret })
    });
    match checked {
        Ok(CardChange::Route { key, url, secret }) => {
            let answer = json!({"success": true, "result": {"callbackUrl": url, "apiSecret": secret}});
            state
                .cards()
                .record_call(accepted(&state, kind, &corp, &body), Some(CardChange::Route { key, url, secret }));
            answer::json(StatusCode::OK, &answer)
        }
        Ok(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Err(refusal) => refused(&state, kind, Some(corp), &body, refusal),
    }
}
