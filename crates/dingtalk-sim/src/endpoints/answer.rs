//! Answers and request bodies as DingTalk's gateways have them: its JSON content type, answers
//! byte for byte, and JSON-only request bodies.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
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

/// True for `application/json`, with or without parameters.
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// The JSON object of a request body sent as JSON; `None` for any other body.
pub(crate) fn json_object(headers: &HeaderMap, body: &[u8]) -> Option<serde_json::Map<String, Value>> {
    let parsed = if is_json(headers) { serde_json::from_slice::<Value>(body).ok() } else { None };
    match parsed {
        Some(Value::Object(fields)) => Some(fields),
        _ => None,
    }
}

pub(crate) fn secret_matches(given: &str, expected: &str) -> bool {
    // The simulator's secret is not a real one, but compare it like one anyway.
    bool::from(subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.as_bytes()))
}
