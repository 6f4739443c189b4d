//! Access tokens, expiring by the simulator clock: `POST /v1.0/oauth2/accessToken` (internal
//! apps, `{"appKey","appSecret"}` → `{"accessToken","expireIn"}`), and for third-party apps the
//! unified `POST /v1.0/oauth2/{corpId}/token` (`client_credentials` → snake_case
//! `{"access_token","expires_in"}`) and the classic `POST /v1.0/oauth2/corpAccessToken` (suite
//! ticket). All take JSON only. A token belongs to the organisation it was issued for: an
//! internal app's to the app's own, a third-party app's to `{corpId}` / `authCorpId`, and only an
//! organisation that has installed the app gets one.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::Value;

use super::state::{SimState, TokenCall, TokenRoute};
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

/// A token request's outcome: the token and its lifetime, or why it is refused.
type Outcome = Result<(String, u64), Refusal>;

fn refused(status: StatusCode, code: &str, message: &str) -> Outcome {
    Err(Refusal::new(status, code, message))
}

/// Records the request and answers it: `answer` shapes a success.
fn finish(
    state: &SimState,
    mut call: TokenCall,
    outcome: Outcome,
    answer: impl FnOnce(String, u64) -> Response,
) -> Response {
    match outcome {
        Ok((token, lifetime)) => {
            call.issued = Some(token.clone());
            state.record_token_call(call);
            answer(token, lifetime)
        }
        Err(refusal) => {
            call.refused = Some(refusal.code.clone());
            state.record_token_call(call);
            if refusal.code == BAD_CREDENTIALS {
                let answer = BadCredentials {
                    requestid: wire::request_id(),
                    code: BAD_CREDENTIALS,
                    message: BAD_CREDENTIALS_TEXT,
                };
                return wire::json(refusal.status, &answer);
            }
            refusal.into_response()
        }
    }
}

const BAD_CREDENTIALS: &str = "invalidClientIdOrSecret";
const BAD_CREDENTIALS_TEXT: &str = "无效的clientId或者clientSecret";

fn new_call(route: TokenRoute, corp_id: Option<String>) -> TokenCall {
    TokenCall { seq: 0, route, corp_id, suite_ticket: None, issued: None, refused: None }
}

/// An internal app's token: the app's own organisation.
async fn access_token(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    let call = new_call(TokenRoute::AccessToken, Some(state.home_corp().to_owned()));
    let outcome = (|| {
        let fields = json_fields(&headers, &body)?;
        let text = |name: &str| fields.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
        let app_key = text("appKey").ok_or_else(|| Refusal::missing_field("appKey"))?;
        let app_secret = text("appSecret").ok_or_else(|| Refusal::missing_field("appSecret"))?;
        let app = &state.scenario().app;
        if app_key != app.client_id || !secret_matches(app_secret, &app.client_secret) {
            return refused(StatusCode::BAD_REQUEST, BAD_CREDENTIALS, BAD_CREDENTIALS_TEXT);
        }
        Ok(state.issue_token(state.home_corp()))
    })();
    finish(&state, call, outcome, |access_token, expire_in| {
        wire::json(StatusCode::OK, &TokenAnswer { access_token, expire_in })
    })
}

/// The unified token route: `{"client_id","client_secret","grant_type":"client_credentials"}`.
async fn unified_token(
    State(state): State<Arc<SimState>>,
    Path(corp_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = new_call(TokenRoute::Unified, Some(corp_id.clone()));
    let outcome = (|| {
        let fields = json_fields(&headers, &body)?;
        let text = |name: &str| fields.get(name).and_then(Value::as_str).unwrap_or_default();
        let app = &state.scenario().app;
        if text("grant_type") != "client_credentials" {
            return refused(StatusCode::BAD_REQUEST, "unsupported.grant.type", "不支持的grant_type");
        }
        if text("client_id") != app.client_id || !secret_matches(text("client_secret"), &app.client_secret) {
            return refused(StatusCode::BAD_REQUEST, "invalid.client", "无效的client_id或client_secret");
        }
        if !state.org_installed(&corp_id) {
            // 401 in the official page (400 in developerpedia): the organisation has not installed the app.
            return refused(StatusCode::UNAUTHORIZED, "unauthorized.client", "应用未被授权");
        }
        Ok(state.issue_token(&corp_id))
    })();
    finish(&state, call, outcome, |access_token, expires_in| {
        wire::json(StatusCode::OK, &UnifiedAnswer { access_token, expires_in })
    })
}

/// The classic third-party route: `{"suiteKey","suiteSecret","authCorpId","suiteTicket"}`.
async fn corp_access_token(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = json_fields(&headers, &body);
    let text =
        |name: &str| fields.as_ref().ok().and_then(|f| f.get(name)).and_then(Value::as_str).filter(|s| !s.is_empty());
    let mut call = new_call(TokenRoute::Classic, text("authCorpId").map(str::to_owned));
    call.suite_ticket = text("suiteTicket").map(str::to_owned);
    let outcome = (|| {
        if let Err(refusal) = &fields {
            return Err(refusal.clone());
        }
        for field in ["suiteKey", "suiteSecret", "authCorpId", "suiteTicket"] {
            if text(field).is_none() {
                return Err(Refusal::missing_field(field));
            }
        }
        let field = |name: &str| text(name).unwrap_or_default();
        let app = &state.scenario().app;
        if field("suiteKey") != app.client_id || !secret_matches(field("suiteSecret"), &app.client_secret) {
            return refused(StatusCode::BAD_REQUEST, "invalidSuiteKey", "suitekey不合法");
        }
        if !secret_matches(field("suiteTicket"), &state.suite_ticket()) {
            return refused(StatusCode::BAD_REQUEST, "invalidSuiteTicket", "suiteTicket无效");
        }
        if !state.org_installed(field("authCorpId")) {
            return refused(StatusCode::BAD_REQUEST, "invalidAuthInfo", "授权关系不存在");
        }
        Ok(state.issue_token(field("authCorpId")))
    })();
    finish(&state, call, outcome, |access_token, expire_in| {
        wire::json(StatusCode::OK, &TokenAnswer { access_token, expire_in })
    })
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
    state.token_corp(token).ok_or_else(Refusal::invalid_token)
}
