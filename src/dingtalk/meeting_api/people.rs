//! `POST /topapi/v2/user/get` (old style): a staff id's unionId and name.

use serde::{Deserialize, Serialize};

use crate::dingtalk::loose_json;
use crate::dingtalk::openapi::declaration::Declaration;
use crate::dingtalk::openapi::{Endpoint, endpoints};

#[derive(Debug, Serialize)]
pub(super) struct UserGet<'a> {
    pub(super) userid: &'a str,
    pub(super) language: &'static str,
}

impl Endpoint for UserGet<'_> {
    type Response = UserAnswer;
    const DECLARATION: &'static Declaration = &endpoints::USER_GET;
}

#[derive(Debug, Deserialize)]
pub(super) struct UserAnswer {
    #[serde(default)]
    pub(super) result: Option<UserResult>,
}

/// `result`, lower-case keys as DingTalk spells them.
#[derive(Debug, Deserialize)]
pub(super) struct UserResult {
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    unionid: Option<String>,
    #[serde(default, deserialize_with = "loose_json::opt_string")]
    name: Option<String>,
}

/// A person as the contact API names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub union_id: String,
    pub name: Option<String>,
}

impl Person {
    pub(super) fn from_result(result: UserResult) -> Option<Self> {
        let union_id = result.unionid.filter(|id| !id.trim().is_empty())?;
        Some(Self { union_id, name: result.name.filter(|n| !n.trim().is_empty()) })
    }
}
