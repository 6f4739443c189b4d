//! Access tokens, expiring by the simulator clock: `POST /v1.0/oauth2/accessToken` (internal
//! apps, `{"appKey","appSecret"}` → `{"accessToken","expireIn"}`), and for third-party apps the
//! unified `POST /v1.0/oauth2/{corpId}/token` (`client_credentials` → snake_case
//! `{"access_token","expires_in"}`) and the classic `POST /v1.0/oauth2/corpAccessToken` (suite
//! ticket). All take JSON only.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::Value;

use super::state::{SimState, TokenCheck};
use super::wire::{self, Refusal};

pub(crate) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/v1.0/oauth2/accessToken", post(access_token))
        .route("/v1.0/oauth2/corpAccessToken", post(corp_access_token))
        .route("/v1.0/oauth2/{corp_id}/token", post(unified_token))
}

#[derive(Serialize)]
struct UnifiedAnswer {
    access_token: String,
    expires_in: u64,
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

/// The JSON object of a request body, or `Missingbody`: DingTalk takes JSON only (a
/// form-encoded body is "Missingbody", aliyun/alibabacloud-php-sdk#36).
fn json_fields(headers: &HeaderMap, body: &[u8]) -> Result<serde_json::Map<String, Value>, Refusal> {
    let parsed = if is_json(headers) { serde_json::from_slice::<Value>(body).ok() } else { None };
    match parsed {
        Some(Value::Object(fields)) => Ok(fields),
        _ => Err(Refusal::missing_body()),
    }
}

fn secret_matches(given: &str, expected: &str) -> bool {
    // The simulator's secret is not a real one, but compare it like one anyway.
    bool::from(subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.as_bytes()))
}

async fn access_token(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    state.count_token_request();
    let fields = match json_fields(&headers, &body) {
        Ok(fields) => fields,
        Err(refusal) => return refusal.into_response(),
    };
    let text = |name: &str| fields.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    let Some(app_key) = text("appKey") else { return Refusal::missing_field("appKey").into_response() };
    let Some(app_secret) = text("appSecret") else { return Refusal::missing_field("appSecret").into_response() };

    let app = &state.scenario().app;
    if app_key != app.client_id || !secret_matches(app_secret, &app.client_secret) {
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

/// The unified token route: `{"client_id","client_secret","grant_type":"client_credentials"}`.
async fn unified_token(
    State(state): State<Arc<SimState>>,
    Path(corp_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.count_token_request();
    let fields = match json_fields(&headers, &body) {
        Ok(fields) => fields,
        Err(refusal) => return refusal.into_response(),
    };
    let text = |name: &str| fields.get(name).and_then(Value::as_str).unwrap_or_default();
    let app = &state.scenario().app;
    if text("grant_type") != "client_credentials" {
        return wire::error(StatusCode::BAD_REQUEST, "unsupported.grant.type", "不支持的grant_type");
    }
    if text("client_id") != app.client_id || !secret_matches(text("client_secret"), &app.client_secret) {
        return wire::error(StatusCode::BAD_REQUEST, "invalid.client", "无效的client_id或client_secret");
    }
    if !app.authorises(&corp_id) {
        // 401 in the official page (400 in developerpedia): the organisation has not installed the app.
        return wire::error(StatusCode::UNAUTHORIZED, "unauthorized.client", "应用未被授权");
    }
    let (access_token, expires_in) = state.issue_token();
    wire::json(StatusCode::OK, &UnifiedAnswer { access_token, expires_in })
}

/// The classic third-party route: `{"suiteKey","suiteSecret","authCorpId","suiteTicket"}`.
async fn corp_access_token(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    state.count_token_request();
    let fields = match json_fields(&headers, &body) {
        Ok(fields) => fields,
        Err(refusal) => return refusal.into_response(),
    };
    let text = |name: &str| fields.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    for field in ["suiteKey", "suiteSecret", "authCorpId", "suiteTicket"] {
        if text(field).is_none() {
            return Refusal::missing_field(field).into_response();
        }
    }
    let field = |name: &str| text(name).unwrap_or_default();
    let app = &state.scenario().app;
    if field("suiteKey") != app.client_id || !secret_matches(field("suiteSecret"), &app.client_secret) {
        return wire::error(StatusCode::BAD_REQUEST, "invalidSuiteKey", "suitekey不合法");
    }
    if !secret_matches(field("suiteTicket"), &app.suite_ticket) {
        return wire::error(StatusCode::BAD_REQUEST, "invalidSuiteTicket", "suiteTicket无效");
    }
    if !app.authorises(field("authCorpId")) {
        return wire::error(StatusCode::BAD_REQUEST, "invalidAuthInfo", "授权关系不存在");
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
