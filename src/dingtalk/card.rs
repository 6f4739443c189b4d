//! The card platform: interactive cards created and delivered into a chat
//! (`POST /v1.0/card/instances/createAndDeliver`), updated in place (`PUT /v1.0/card/instances`),
//! and the HTTP route their button presses are called back on (`POST /v1.0/card/callbacks/register`).
//! Needs the app's `Card.Instance.Write` permission.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::openapi::declaration::Declaration;
use super::openapi::{ApiError, Endpoint, OpenApi, endpoints};

/// How card creation is named in the call counts (the budget tells it from the other replies).
pub const CREATE_ENDPOINT: &str = endpoints::CARD_CREATE.name;

/// Where a card is delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Space {
    /// A group chat, by its `conversationId`.
    Group(String),
    /// The robot's 1:1 chat with a person, by their staff id.
    Robot(String),
}

impl Space {
    /// The `openSpaceId` DingTalk wants.
    pub fn open_space_id(&self) -> String {
        match self {
            Self::Group(conversation) => format!("dtv1.card//IM_GROUP.{conversation}"),
            Self::Robot(staff_id) => format!("dtv1.card//IM_ROBOT.{staff_id}"),
        }
    }
}

/// How presses of a card's callback buttons come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    /// Over the Stream connection (topic `/v1.0/card/instances/callback`).
    Stream,
    /// To the HTTP route registered under this key.
    Http { route_key: String },
}

/// A card to create and deliver.
#[derive(Debug, Clone)]
pub struct NewCard<'a> {
    pub template_id: &'a str,
    pub out_track_id: &'a str,
    /// The template's parameters (values are strings, as DingTalk requires).
    pub params: &'a BTreeMap<String, String>,
    pub space: &'a Space,
    pub robot_code: &'a str,
    /// Group cards: who is @-mentioned (staff id → nick).
    pub at: &'a BTreeMap<String, String>,
    pub callback: Option<&'a Callback>,
}

/// Why a card was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    /// DingTalk refused the call (a missing permission, an unpublished template, a bad space).
    #[error("DingTalk refused the card: {0}")]
    Refused(ApiError),
    /// The call was taken but the card did not reach the chat.
    #[error("the card was not delivered: {0}")]
    NotDelivered(String),
    /// The call failed on the way (timeout, network, 5xx): whether the card arrived is unknown.
    #[error("the card call failed: {0}")]
    Failed(ApiError),
}

impl CardError {
    fn of(err: ApiError) -> Self {
        match &err {
            ApiError::BadRequest { .. }
            | ApiError::NoPermission { .. }
            | ApiError::Forbidden { .. }
            | ApiError::NotAuthorized { .. }
            | ApiError::InvalidRoomCode { .. } => Self::Refused(err),
            ApiError::Upstream { status, .. } if (400..500).contains(status) => Self::Refused(err),
            _ => Self::Failed(err),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Refused(_) => "refused",
            Self::NotDelivered(_) => "not_delivered",
            Self::Failed(_) => "failed",
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CardData<'a> {
    card_param_map: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpaceModel {
    support_forward: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupDeliver<'a> {
    robot_code: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    at_user_ids: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RobotDeliver<'a> {
    space_type: &'static str,
    robot_code: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateAndDeliver<'a> {
    card_template_id: &'a str,
    out_track_id: &'a str,
    card_data: CardData<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    callback_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    callback_route_key: Option<&'a str>,
    open_space_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    im_group_open_space_model: Option<SpaceModel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    im_group_open_deliver_model: Option<GroupDeliver<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    im_robot_open_space_model: Option<SpaceModel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    im_robot_open_deliver_model: Option<RobotDeliver<'a>>,
    user_id_type: u8,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UpdateOptions {
    update_card_data_by_key: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Update<'a> {
    out_track_id: &'a str,
    card_data: CardData<'a>,
    card_update_options: UpdateOptions,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Register<'a> {
    callback_route_key: &'a str,
    callback_url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_secret: Option<&'a str>,
    force_update: bool,
}

impl Endpoint for CreateAndDeliver<'_> {
    type Response = Delivered;
    const DECLARATION: &'static Declaration = &endpoints::CARD_CREATE;
}

impl Endpoint for Update<'_> {
    type Response = serde::de::IgnoredAny;
    const DECLARATION: &'static Declaration = &endpoints::CARD_UPDATE;
}

impl Endpoint for Register<'_> {
    type Response = serde::de::IgnoredAny;
    const DECLARATION: &'static Declaration = &endpoints::CARD_CALLBACK_REGISTER;
}

/// `createAndDeliver`'s answer (what is read of it).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Delivered {
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    result: Option<DeliveredResult>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeliveredResult {
    #[serde(default)]
    deliver_results: Vec<DeliverResult>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeliverResult {
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    error_msg: Option<String>,
}

/// A press of a card's callback button, as DingTalk sends it (over the Stream, or to the
/// registered HTTP route). Every field is optional on the wire; what is missing is refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardPress {
    #[serde(default, deserialize_with = "super::loose_json::opt_string")]
    pub out_track_id: Option<String>,
    #[serde(default, deserialize_with = "super::loose_json::opt_string")]
    pub corp_id: Option<String>,
    #[serde(default, deserialize_with = "super::loose_json::opt_string")]
    pub user_id: Option<String>,
    /// A JSON string holding `{"cardPrivateData":{"actionIds":[…],"params":{…}}}`.
    #[serde(default, deserialize_with = "super::loose_json::opt_string")]
    pub content: Option<String>,
    #[serde(default, deserialize_with = "super::loose_json::opt_string")]
    pub value: Option<String>,
}

impl CardPress {
    pub fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// The ids of the pressed buttons (`content.cardPrivateData.actionIds`), else `value`.
    pub fn action_ids(&self) -> Vec<String> {
        let content = self.content.as_deref().and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok());
        let ids = content
            .as_ref()
            .and_then(|c| c.pointer("/cardPrivateData/actionIds"))
            .and_then(serde_json::Value::as_array)
            .map(|ids| ids.iter().filter_map(|id| id.as_str().map(str::to_owned)).collect::<Vec<_>>())
            .unwrap_or_default();
        if ids.is_empty() { self.value.iter().cloned().collect() } else { ids }
    }
}

/// Creates, delivers and updates interactive cards.
#[derive(Clone)]
pub struct CardClient {
    api: OpenApi,
}

impl CardClient {
    pub fn new(api: OpenApi) -> Self {
        Self { api }
    }

    /// Creates `card` and delivers it to its space; an answer that says the delivery failed is
    /// an error too.
    pub async fn create_and_deliver(&self, corp: Option<&str>, card: &NewCard<'_>) -> Result<(), CardError> {
        let group = matches!(card.space, Space::Group(_));
        let (callback_type, callback_route_key) = match card.callback {
            Some(Callback::Stream) => (Some("STREAM"), None),
            Some(Callback::Http { route_key }) => (Some("HTTP"), Some(route_key.as_str())),
            None => (None, None),
        };
        let body = CreateAndDeliver {
            card_template_id: card.template_id,
            out_track_id: card.out_track_id,
            card_data: CardData { card_param_map: card.params },
            callback_type,
            callback_route_key,
            open_space_id: card.space.open_space_id(),
            im_group_open_space_model: group.then_some(SpaceModel { support_forward: true }),
            im_group_open_deliver_model: group
                .then_some(GroupDeliver { robot_code: card.robot_code, at_user_ids: card.at }),
            im_robot_open_space_model: (!group).then_some(SpaceModel { support_forward: true }),
            im_robot_open_deliver_model: (!group)
                .then_some(RobotDeliver { space_type: "IM_ROBOT", robot_code: card.robot_code }),
            user_id_type: 1,
        };
        let answer = self.api.call(corp, &body).await.map_err(CardError::of)?;
        let failed = answer.result.iter().flat_map(|r| &r.deliver_results).find(|r| r.success == Some(false));
        if let Some(failed) = failed {
            return Err(CardError::NotDelivered(failed.error_msg.clone().unwrap_or_else(|| "no reason given".into())));
        }
        if answer.success == Some(false) {
            return Err(CardError::NotDelivered("DingTalk answered success: false".into()));
        }
        Ok(())
    }

    /// Replaces the card's parameters named in `params` (others are kept).
    pub async fn update(
        &self,
        corp: Option<&str>,
        out_track_id: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<(), ApiError> {
        let body = Update {
            out_track_id,
            card_data: CardData { card_param_map: params },
            card_update_options: UpdateOptions { update_card_data_by_key: true },
        };
        self.api.call(corp, &body).await.map(drop)
    }

    /// Registers `callback_url` as where presses of cards created with `route_key` are sent.
    pub async fn register_callback(
        &self,
        corp: Option<&str>,
        route_key: &str,
        callback_url: &str,
        api_secret: Option<&str>,
    ) -> Result<(), ApiError> {
        let body = Register { callback_route_key: route_key, callback_url, api_secret, force_update: true };
        self.api.call(corp, &body).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_press_names_its_actions_in_a_json_string() {
        let body = br#"{"outTrackId":"t1","corpId":"c","userId":"u","type":"actionCallback",
            "content":"{\"cardPrivateData\":{\"actionIds\":[\"refresh\"],\"params\":{}}}"}"#;
        let press = CardPress::parse(body).expect("parses");
        assert_eq!(press.out_track_id.as_deref(), Some("t1"));
        assert_eq!(press.action_ids(), ["refresh"]);
        assert!(CardPress::parse(b"{}").expect("parses").action_ids().is_empty());
    }

    #[test]
    fn open_space_ids_have_dingtalks_two_forms() {
        assert_eq!(Space::Group("cidX==".into()).open_space_id(), "dtv1.card//IM_GROUP.cidX==");
        assert_eq!(Space::Robot("staff1".into()).open_space_id(), "dtv1.card//IM_ROBOT.staff1");
    }

    #[test]
    fn client_errors_are_refusals_and_the_rest_failures() {
        let refused = ApiError::from_status(403, br#"{"code":"Forbidden.AccessDenied.AccessTokenPermissionDenied"}"#);
        assert_eq!(CardError::of(refused).kind(), "refused");
        let unpublished = ApiError::from_status(400, br#"{"code":"param.templateUnpublished"}"#);
        assert_eq!(CardError::of(unpublished).kind(), "refused");
        assert_eq!(CardError::of(ApiError::from_status(404, b"")).kind(), "refused");
        assert_eq!(CardError::of(ApiError::Timeout).kind(), "failed");
        assert_eq!(CardError::of(ApiError::from_status(503, b"")).kind(), "failed");
    }
}
