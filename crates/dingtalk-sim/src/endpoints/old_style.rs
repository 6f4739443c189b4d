//! The old-style APIs' (`oapi.dingtalk.com`) token and errors: the token in the `access_token`
//! query, checked against the tokens issued (the same tokens as the new-style APIs'), and every
//! answer HTTP 200 with `{"errcode","errmsg"}`, `errcode` 0 meaning success
//! (docs/dingtalk-protocol.md §3; the conference reference §6).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::answer;
use crate::state::SimState;

/// `errcode`s the old-style APIs answer.
pub mod errcode {
    pub const OK: i64 = 0;
    /// `不合法的access_token`: missing, never issued, expired or revoked.
    pub const INVALID_TOKEN: i64 = 40_014;
    /// `没有调用该接口的权限`: the organisation did not grant the API's permission.
    pub const NO_PERMISSION: i64 = 60_011;
    /// The gateway's own no-permission code, seen on some old-style APIs (UNCERTAIN which).
    pub const GATEWAY_NO_PERMISSION: i64 = 88;
    /// `无效的参数`: the body is not what the API takes.
    pub const INVALID_PARAMETER: i64 = 400_002;
    /// `无效的userId`: no such person in the token's organisation.
    pub const INVALID_USER_ID: i64 = 33_012;
}

/// The error envelope, keys in DingTalk's order.
#[derive(Debug, Serialize)]
struct ErrorAnswer<'a> {
    errcode: i64,
    errmsg: &'a str,
}

/// A success: `errcode` 0, `errmsg` `ok`, and the API's `result`.
#[derive(Debug, Serialize)]
struct ResultAnswer<'a, T> {
    errcode: i64,
    errmsg: &'a str,
    result: T,
}

/// An old-style refusal: its `errcode` and `errmsg`, answered with HTTP 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OldStyleError {
    pub(crate) errcode: i64,
    pub(crate) errmsg: String,
}

impl OldStyleError {
    pub(crate) fn new(errcode: i64, errmsg: &str) -> Self {
        Self { errcode, errmsg: errmsg.to_owned() }
    }

    pub(crate) fn invalid_token() -> Self {
        Self::new(errcode::INVALID_TOKEN, "不合法的access_token")
    }

    /// `60011` naming the permission to apply for.
    pub(crate) fn no_permission(permission: &str) -> Self {
        Self::new(errcode::NO_PERMISSION, &format!("没有调用该接口的权限，接口权限申请参考：{permission}"))
    }

    pub(crate) fn invalid_parameter() -> Self {
        Self::new(errcode::INVALID_PARAMETER, "无效的参数")
    }
}

impl IntoResponse for OldStyleError {
    fn into_response(self) -> Response {
        answer::json(StatusCode::OK, &ErrorAnswer { errcode: self.errcode, errmsg: &self.errmsg })
    }
}

/// `{"errcode":0,"errmsg":"ok","result":…}`.
pub(crate) fn success(result: &impl Serialize) -> Response {
    answer::json(StatusCode::OK, &ResultAnswer { errcode: errcode::OK, errmsg: "ok", result })
}

/// The organisation whose `?access_token=` a request presented: only the query counts (the
/// new-style header is not read here), and a token missing, never issued, expired or revoked
/// is refused with `40014`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenCorp(pub(crate) String);

impl FromRequestParts<Arc<SimState>> for TokenCorp {
    type Rejection = OldStyleError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<SimState>) -> Result<Self, Self::Rejection> {
        let query = Query::<HashMap<String, String>>::try_from_uri(&parts.uri).map(|Query(query)| query);
        let token = query.ok().and_then(|mut query| query.remove("access_token")).unwrap_or_default();
        let token = token.trim();
        if token.is_empty() {
            return Err(OldStyleError::invalid_token());
        }
        state.tokens().corp_of(token).map(TokenCorp).ok_or_else(OldStyleError::invalid_token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelopes_keep_dingtalks_key_order() {
        let error = ErrorAnswer { errcode: 40_014, errmsg: "不合法的access_token" };
        assert_eq!(
            serde_json::to_string(&error).expect("json"),
            r#"{"errcode":40014,"errmsg":"不合法的access_token"}"#
        );
        let ok = ResultAnswer { errcode: 0, errmsg: "ok", result: serde_json::json!({"userid": "u"}) };
        assert_eq!(serde_json::to_string(&ok).expect("json"), r#"{"errcode":0,"errmsg":"ok","result":{"userid":"u"}}"#);
    }
}
