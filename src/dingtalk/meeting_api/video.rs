//! `POST /v1.0/conference/videoConferences` (an instant meeting) and
//! `DELETE /v1.0/conference/videoConferences/{conferenceId}?unionId=` (its host ends it).

use serde::{Deserialize, Serialize};

use crate::dingtalk::loose_json;
use crate::dingtalk::openapi::declaration::Declaration;
use crate::dingtalk::openapi::{Endpoint, endpoints};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Create<'a> {
    pub(super) user_id: &'a str,
    pub(super) conf_title: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub(super) invite_user_ids: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) invite_caller: Option<bool>,
}

impl Endpoint for Create<'_> {
    type Response = NewConference;
    const DECLARATION: &'static Declaration = &endpoints::CONFERENCE_CREATE;
}

/// What DingTalk answers for a new conference (only `conferenceId` is marked required).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewConference {
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub conference_id: Option<String>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub room_code: Option<String>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub external_link_url: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Close<'a> {
    #[serde(skip)]
    pub(super) conference_id: &'a str,
    pub(super) union_id: &'a str,
}

impl Endpoint for Close<'_> {
    type Response = Closed;
    const DECLARATION: &'static Declaration = &endpoints::CONFERENCE_CLOSE;

    fn path_params(&self) -> Vec<&str> {
        vec![self.conference_id]
    }
}

/// `{"code":200,"cause":"success"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Closed {
    #[serde(default, deserialize_with = "loose_json::opt_i64")]
    pub code: Option<i64>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    pub cause: Option<String>,
}
