//! Access tokens, expiring by the simulator clock: `POST /v1.0/oauth2/accessToken` (internal
//! apps, `{"appKey","appSecret"}` → `{"accessToken","expireIn"}`), and for third-party apps the
//! unified `POST /v1.0/oauth2/{corpId}/token` (`client_credentials` → snake_case
//! `{"access_token","expires_in"}`) and the classic `POST /v1.0/oauth2/corpAccessToken` (suite
//! ticket). All take JSON only. A token belongs to the organisation it was issued for: an
//! internal app's to the app's own, a third-party app's to `{corpId}` / `authCorpId`, and only an
//! organisation that has installed the app gets one.
//!
//! Tests read and change the tokens through [`SimState::tokens`]: who asked, what was issued,
//! revoking.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::Value;

use super::answer::{self, secret_matches};
use super::new_style::{Refusal, json_fields};
use crate::ids;
use crate::records::{TokenCall, TokenRoute};
use crate::state::SimState;

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
            state.tokens().record_call(call);
            answer(token, lifetime)
        }
        Err(refusal) => {
            call.refused = Some(refusal.code.clone());
            state.tokens().record_call(call);
            if refusal.code == BAD_CREDENTIALS {
                let answer = BadCredentials {
                    requestid: ids::request_id(),
                    code: BAD_CREDENTIALS,
                    message: BAD_CREDENTIALS_TEXT,
                };
                return answer::json(refusal.status, &answer);
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
        Ok(state.tokens().issue(state.home_corp()))
    })();
    finish(&state, call, outcome, |access_token, expire_in| {
        answer::json(StatusCode::OK, &TokenAnswer { access_token, expire_in })
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
        if !state.orgs().installed(&corp_id) {
            // 401 in the official page (400 in developerpedia): the organisation has not installed the app.
            return refused(StatusCode::UNAUTHORIZED, "unauthorized.client", "应用未被授权");
        }
        Ok(state.tokens().issue(&corp_id))
    })();
    finish(&state, call, outcome, |access_token, expires_in| {
        answer::json(StatusCode::OK, &UnifiedAnswer { access_token, expires_in })
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
        if !secret_matches(field("suiteTicket"), &state.tokens().suite_ticket()) {
            return refused(StatusCode::BAD_REQUEST, "invalidSuiteTicket", "suiteTicket无效");
        }
        if !state.orgs().installed(field("authCorpId")) {
            return refused(StatusCode::BAD_REQUEST, "invalidAuthInfo", "授权关系不存在");
        }
        Ok(state.tokens().issue(field("authCorpId")))
    })();
    finish(&state, call, outcome, |access_token, expire_in| {
        answer::json(StatusCode::OK, &TokenAnswer { access_token, expire_in })
    })
}
