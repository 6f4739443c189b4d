//! What the simulator's requests and answers look like on the wire: the JSON bodies DingTalk
//! takes, DingTalk's JSON content type, the new-style error envelope, and ids shaped like
//! DingTalk's (request ids, tokens, msgIds).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::Value;

/// The content type DingTalk's gateways answer with (captured: no space after `;`).
pub(crate) const JSON_CONTENT_TYPE: &str = "application/json;charset=utf-8";

/// A JSON answer with DingTalk's content type.
pub(crate) fn json(status: StatusCode, body: &impl Serialize) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    raw(status, JSON_CONTENT_TYPE, text)
}

/// Any answer, byte for byte.
pub(crate) fn raw(status: StatusCode, content_type: &str, body: String) -> Response {
    let content_type =
        HeaderValue::from_str(content_type).unwrap_or_else(|_| HeaderValue::from_static(JSON_CONTENT_TYPE));
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

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

/// True for `application/json`, with or without parameters.
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// The JSON object of a request body, or `Missingbody`: DingTalk takes JSON only (a
/// form-encoded body is "Missingbody", aliyun/alibabacloud-php-sdk#36).
pub(crate) fn json_fields(headers: &HeaderMap, body: &[u8]) -> Result<serde_json::Map<String, Value>, Refusal> {
    let parsed = if is_json(headers) { serde_json::from_slice::<Value>(body).ok() } else { None };
    match parsed {
        Some(Value::Object(fields)) => Ok(fields),
        _ => Err(Refusal::missing_body()),
    }
}

pub(crate) fn secret_matches(given: &str, expected: &str) -> bool {
    // The simulator's secret is not a real one, but compare it like one anyway.
    bool::from(subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.as_bytes()))
}

/// The `x-acs-dingtalk-access-token` header, if present and not blank.
pub(crate) fn presented_token(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-acs-dingtalk-access-token").and_then(|v| v.to_str().ok()).map(str::trim).filter(|t| !t.is_empty())
}

/// A request id like `01A08FE7-CDD1-7818-964E-AF384B54BB19`.
pub(crate) fn request_id() -> String {
    format!(
        "{:08X}-{:04X}-{:04X}-{:04X}-{:012X}",
        fastrand::u32(..),
        fastrand::u16(..),
        fastrand::u16(..),
        fastrand::u16(..),
        fastrand::u64(..) & 0xFFFF_FFFF_FFFF
    )
}

/// `len` random lower-case hex digits (access tokens, session ids).
pub(crate) fn hex(len: usize) -> String {
    (0..len).map(|_| char::from(b"0123456789abcdef"[fastrand::usize(..16)])).collect()
}

/// Standard base64 of `bytes` random bytes (`msgId`, `processQueryKey`, `cid…`).
pub(crate) fn random_base64(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| fastrand::u8(..)).collect();
    STANDARD.encode(raw)
}

/// Standard base64 of a stable hash of `seed`, for ids that must not change between runs.
pub(crate) fn stable_base64(seed: &str, bytes: usize) -> String {
    let mut out = Vec::with_capacity(bytes);
    let mut state = fnv1a(seed.as_bytes());
    while out.len() < bytes {
        state = fnv1a(&state.to_le_bytes());
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(bytes);
    STANDARD.encode(out)
}

/// Lower-case hex of a stable hash of `seed`, `len` digits (conference ids).
pub(crate) fn stable_hex(seed: &str, len: usize) -> String {
    let mut out = String::with_capacity(len + 16);
    let mut state = fnv1a(seed.as_bytes());
    while out.len() < len {
        state = fnv1a(&state.to_le_bytes());
        out.push_str(&format!("{state:016x}"));
    }
    out.truncate(len);
    out
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_dingtalks_shapes() {
        let id = request_id();
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert_eq!(hex(32).len(), 32);
        assert!(random_base64(16).ends_with("=="));
        assert_eq!(stable_hex("x", 24), stable_hex("x", 24));
        assert_ne!(stable_hex("x", 24), stable_hex("y", 24));
        assert_eq!(stable_base64("x", 16), stable_base64("x", 16));
    }

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
