//! `POST /v1.0/oauth2/accessToken`: JSON `{"appKey","appSecret"}` in, `{"accessToken","expireIn"}`
//! out; tokens expire by the simulator clock.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::Value;

use super::state::{SimState, TokenCheck};
use super::wire::{self, Refusal};

pub(crate) fn routes() -> Router<Arc<SimState>> {
    Router::new().route("/v1.0/oauth2/accessToken", post(access_token))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenAnswer {
    access_token: String,
    expire_in: u64,
}

/// The bad-credentials envelope, in the key order of the live capture
/// (`{"requestid":"01A08FE7-…","code":"invalidClientIdOrSecret","message":"…"}`).
#[derive(Serialize)]
struct BadCredentials {
    requestid: String,
    code: &'static str,
    message: &'static str,
}

/// True for `application/json`, with or without parameters.
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

async fn access_token(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    state.count_token_request();
    // DingTalk takes JSON only: a form-encoded body is "Missingbody" (aliyun/alibabacloud-php-sdk#36).
    let parsed = if is_json(&headers) { serde_json::from_slice::<Value>(&body).ok() } else { None };
    let Some(Value::Object(fields)) = parsed else { return Refusal::missing_body().into_response() };
    let text = |name: &str| fields.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    let Some(app_key) = text("appKey") else { return Refusal::missing_field("appKey").into_response() };
    let Some(app_secret) = text("appSecret") else { return Refusal::missing_field("appSecret").into_response() };

    let app = &state.scenario().app;
    // The simulator's secret is not a real one, but compare it like one anyway.
    let secret_ok = bool::from(subtle::ConstantTimeEq::ct_eq(app_secret.as_bytes(), app.client_secret.as_bytes()));
    if app_key != app.client_id || !secret_ok {
        let answer = BadCredentials {
            requestid: wire::request_id(),
            code: "invalidClientIdOrSecret",
            message: "无效的clientId或者clientSecret",
        };
        return wire::json(StatusCode::BAD_REQUEST, &answer);
    }
    let (access_token, expire_in) = state.issue_token();
    wire::json(StatusCode::OK, &TokenAnswer { access_token, expire_in })
}

/// The new-style APIs' token check: only the `x-acs-dingtalk-access-token` header counts
/// (a `?access_token=` query or `Authorization: Bearer` is "missing", as DingTalk answers).
pub(crate) fn authorize(state: &SimState, headers: &HeaderMap) -> Result<(), Refusal> {
    let token = headers.get("x-acs-dingtalk-access-token").and_then(|v| v.to_str().ok()).map(str::trim);
    match token {
        None | Some("") => Err(Refusal::missing_token()),
        Some(token) => match state.check_token(token) {
            TokenCheck::Valid => Ok(()),
            TokenCheck::Invalid => Err(Refusal::invalid_token()),
        },
    }
}
