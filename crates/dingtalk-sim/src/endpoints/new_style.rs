//! The new-style APIs' (`api.dingtalk.com`) token and errors: the token only in the
//! `x-acs-dingtalk-access-token` header, and refusals in the `{"code","requestid","message"}`
//! envelope with an HTTP error status.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use super::answer::{json, json_object};
use crate::ids::request_id;
use crate::state::SimState;

/// The new-style error envelope, in the key order of live captures
/// (`{"code":"InvalidAuthentication","requestid":"…","message":"不合法的access_token"}`).
#[derive(Debug, Serialize)]
pub(crate) struct Envelope<'a> {
    pub(crate) code: &'a str,
    pub(crate) requestid: String,
    pub(crate) message: &'a str,
    /// On a missing permission: `{"requiredScopes":[…]}`, as DingTalk names the scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) accessdenieddetail: Option<AccessDenied<'a>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct AccessDenied<'a> {
    #[serde(rename = "requiredScopes")]
    pub(crate) required_scopes: [&'a str; 1],
}

/// `403 Forbidden.AccessDenied.AccessTokenPermissionDenied` for a call that needs `scope`, with
/// the scope in `accessdenieddetail` as live captures carry it.
pub(crate) fn permission_denied(scope: &str) -> Response {
    let message = format!("没有调用该接口的权限，接口权限申请参考：{scope}");
    let envelope = Envelope {
        code: "Forbidden.AccessDenied.AccessTokenPermissionDenied",
        requestid: request_id(),
        message: &message,
        accessdenieddetail: Some(AccessDenied { required_scopes: [scope] }),
    };
    json(StatusCode::FORBIDDEN, &envelope)
}

/// A refusal in the new-style envelope: status, code and message (the request id is fresh).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) code: String,
    pub(crate) message: String,
}

impl Refusal {
    pub(crate) fn new(status: StatusCode, code: &str, message: &str) -> Self {
        Self { status, code: code.to_owned(), message: message.to_owned() }
    }

    /// `400 AuthenticationFailed.MissingParameter`: no `x-acs-dingtalk-access-token` header
    /// (also what a token in `?access_token=` or `Authorization: Bearer` gets).
    pub(crate) fn missing_token() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "AuthenticationFailed.MissingParameter",
            "缺少参数：x-acs-dingtalk-access-token",
        )
    }

    /// `400 InvalidAuthentication`: an unknown, expired or revoked token (400, not 401).
    pub(crate) fn invalid_token() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidAuthentication", "不合法的access_token")
    }

    /// The gateway's answer to a body it cannot use (captured for a form-encoded token request:
    /// `[Missingbody] body is mandatory for this action.`).
    pub(crate) fn missing_body() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Missingbody", "body is mandatory for this action.")
    }

    /// The gateway's answer to a missing required field, in the same pattern as `Missingbody`.
    pub(crate) fn missing_field(field: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            &format!("Missing{field}"),
            &format!("{field} is mandatory for this action."),
        )
    }

    /// `400 invalidParameter.<field>.invalid`, as the robot OpenAPI names bad fields.
    pub(crate) fn invalid_parameter(field: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, &format!("invalidParameter.{field}.invalid"), &format!("{field} is invalid"))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let envelope =
            Envelope { code: &self.code, requestid: request_id(), message: &self.message, accessdenieddetail: None };
        json(self.status, &envelope)
    }
}

/// An error answer in the envelope, with a fresh request id.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    Refusal::new(status, code, message).into_response()
}

/// The JSON object of a request body, or `Missingbody`: DingTalk takes JSON only (a
/// form-encoded body is "Missingbody", aliyun/alibabacloud-php-sdk#36).
pub(crate) fn json_fields(headers: &HeaderMap, body: &[u8]) -> Result<serde_json::Map<String, Value>, Refusal> {
    json_object(headers, body).ok_or_else(Refusal::missing_body)
}

/// The `x-acs-dingtalk-access-token` header, if present and not blank.
pub(crate) fn presented_token(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-acs-dingtalk-access-token").and_then(|v| v.to_str().ok()).map(str::trim).filter(|t| !t.is_empty())
}

/// The new-style APIs' token check: only the `x-acs-dingtalk-access-token` header counts
/// (a `?access_token=` query or `Authorization: Bearer` is "missing", as DingTalk answers).
/// Returns the organisation the token was issued to: a token speaks for that organisation only.
pub(crate) fn authorize(state: &SimState, headers: &HeaderMap) -> Result<String, Refusal> {
    let token = presented_token(headers).ok_or_else(Refusal::missing_token)?;
    state.tokens().corp_of(token).ok_or_else(Refusal::invalid_token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_keeps_the_captured_key_order() {
        let text = serde_json::to_string(&Envelope {
            code: "c",
            requestid: "r".into(),
            message: "m",
            accessdenieddetail: None,
        })
        .expect("json");
        assert_eq!(text, r#"{"code":"c","requestid":"r","message":"m"}"#);
    }
}
