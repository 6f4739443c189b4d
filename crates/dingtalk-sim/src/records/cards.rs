//! What the card endpoints recorded: every call (create, update, callback registration,
//! conference detail) whatever its answer, and each delivered card as it stands now with the
//! history of its parameters.

use std::collections::BTreeMap;

use serde_json::Value;

/// Which card endpoint was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardCallKind {
    /// `POST /v1.0/card/instances/createAndDeliver`.
    CreateAndDeliver,
    /// `PUT /v1.0/card/instances`.
    Update,
    /// `POST /v1.0/card/callbacks/register`.
    RegisterCallback,
    /// `GET /v1.0/conference/videoConferences/{conferenceId}`.
    ConferenceDetail,
}

/// One call of a card endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct CardCall {
    pub seq: u64,
    pub kind: CardCallKind,
    pub at_ms: i64,
    /// The organisation of the token, when it was valid.
    pub corp_id: Option<String>,
    pub body: Option<Value>,
    /// The HTTP status answered (200 = accepted).
    pub status: u16,
    pub error_code: Option<String>,
}

impl CardCall {
    pub fn accepted(&self) -> bool {
        self.status == 200
    }
}

/// A delivered card, as it stands now.
#[derive(Debug, Clone, PartialEq)]
pub struct SimCard {
    pub out_track_id: String,
    pub corp_id: String,
    pub template_id: String,
    /// `openSpaceId` as sent.
    pub open_space_id: String,
    /// `IM_GROUP` or `IM_ROBOT`.
    pub space_type: String,
    /// The conversation id (group) or staff id (1:1).
    pub space_id: String,
    /// `STREAM`, `HTTP` or absent.
    pub callback_type: Option<String>,
    pub callback_route_key: Option<String>,
    /// `imGroupOpenDeliverModel.atUserIds` (staff id → nick).
    pub at_user_ids: BTreeMap<String, String>,
    /// The card's parameters now.
    pub params: BTreeMap<String, String>,
    /// Every parameter set it has shown, the created one first.
    pub history: Vec<BTreeMap<String, String>>,
    pub created_ms: i64,
}

impl SimCard {
    /// How many updates it has had.
    pub fn updates(&self) -> usize {
        self.history.len().saturating_sub(1)
    }

    /// Its `markdown` parameter now.
    pub fn markdown(&self) -> &str {
        self.params.get("markdown").map_or("", String::as_str)
    }

    /// Its buttons (`sys_full_json_obj.msgButtons`), parsed.
    pub fn buttons(&self) -> Vec<Value> {
        self.params
            .get("sys_full_json_obj")
            .and_then(|json| serde_json::from_str::<Value>(json).ok())
            .and_then(|obj| obj.get("msgButtons").and_then(Value::as_array).cloned())
            .unwrap_or_default()
    }
}

/// Everything the card endpoints recorded.
#[derive(Debug, Clone, Default)]
pub struct CardRecords {
    pub calls: Vec<CardCall>,
    /// Delivered cards by `outTrackId`.
    pub cards: BTreeMap<String, SimCard>,
    /// Registered HTTP callback routes: key → (URL, apiSecret).
    pub routes: BTreeMap<String, (String, String)>,
}

impl CardRecords {
    pub fn calls_of(&self, kind: CardCallKind) -> Vec<&CardCall> {
        self.calls.iter().filter(|call| call.kind == kind).collect()
    }

    /// Every accepted update.
    pub fn updates(&self) -> usize {
        self.calls.iter().filter(|call| call.kind == CardCallKind::Update && call.accepted()).count()
    }
}
