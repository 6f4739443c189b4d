//! Access tokens, expiring by the simulator clock: `POST /v1.0/oauth2/accessToken` (internal
//! apps, `{"appKey","appSecret"}` → `{"accessToken","expireIn"}`), and for third-party apps the
//! unified `POST /v1.0/oauth2/{corpId}/token` (`client_credentials` → snake_case
//! `{"access_token","expires_in"}`) and the classic `POST /v1.0/oauth2/corpAccessToken` (suite
//! ticket). All take JSON only. A token belongs to the organisation it was issued for: an
//! internal app's to the app's own, a third-party app's to `{corpId}` / `authCorpId`, and only an
//! organisation that has installed the app gets one.
//!
//! Tests read and change the tokens through [`SimState`]: who asked, what was issued, revoking.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::Value;

use crate::records::{TokenCall, TokenRoute};
use crate::state::SimState;
use crate::wire::{self, Refusal, json_fields, presented_token, secret_matches};

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

/// The new-style APIs' token check: only the `x-acs-dingtalk-access-token` header counts
/// (a `?access_token=` query or `Authorization: Bearer` is "missing", as DingTalk answers).
/// Returns the organisation the token was issued to: a token speaks for that organisation only.
pub(crate) fn authorize(state: &SimState, headers: &HeaderMap) -> Result<String, Refusal> {
    let token = presented_token(headers).ok_or_else(Refusal::missing_token)?;
    state.token_corp(token).ok_or_else(Refusal::invalid_token)
}

/// What a token check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    Valid,
    /// Never issued, expired by the simulator clock, or revoked.
    Invalid,
}

impl SimState {
    /// The suite ticket the classic `corpAccessToken` route accepts now.
    pub fn suite_ticket(&self) -> String {
        self.lock().tokens.suite_ticket().to_owned()
    }

    /// Makes `ticket` the only suite ticket the classic route accepts (the previous one is stale).
    pub fn set_suite_ticket(&self, ticket: &str) {
        self.lock().tokens.set_suite_ticket(ticket);
    }

    /// Issues a token for organisation `corp`, valid for the scenario's lifetime; returns it and
    /// `expireIn`.
    pub fn issue_token(&self, corp: &str) -> (String, u64) {
        let lifetime = self.scenario().app.token_lifetime_secs;
        let token = wire::hex(32);
        let expires_ms =
            self.clock().now_ms().saturating_add(i64::try_from(lifetime.saturating_mul(1000)).unwrap_or(i64::MAX));
        self.update(|world| {
            world.tokens.insert(token.clone(), corp, expires_ms);
            world.journal.records.tokens_issued += 1;
        });
        (token, lifetime)
    }

    /// Records a token request and its answer.
    fn record_token_call(&self, mut call: TokenCall) {
        self.update(|world| {
            call.seq = world.journal.next_seq();
            world.journal.records.token_requests += 1;
            world.journal.records.token_calls.push(call);
        });
    }

    pub fn check_token(&self, token: &str) -> TokenCheck {
        if self.token_corp(token).is_some() { TokenCheck::Valid } else { TokenCheck::Invalid }
    }

    /// The organisation a valid token was issued to; `None` for a token never issued, expired by
    /// the simulator clock, or revoked.
    pub fn token_corp(&self, token: &str) -> Option<String> {
        let now = self.clock().now_ms();
        self.lock().tokens.corp_of(token, now)
    }

    /// Makes every issued token invalid: the next call with one answers `InvalidAuthentication`.
    pub fn revoke_tokens(&self) {
        self.lock().tokens.revoke_all();
    }

    /// Requests to any token endpoint, successful or not.
    pub fn token_requests(&self) -> usize {
        self.lock().journal.records.token_requests
    }

    /// Every token request so far, in order.
    pub fn token_calls(&self) -> Vec<TokenCall> {
        self.lock().journal.records.token_calls.clone()
    }

    /// Tokens handed out.
    pub fn tokens_issued(&self) -> usize {
        self.lock().journal.records.tokens_issued
    }

    /// The text of every token handed out and not revoked (to prove none reaches a log).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.lock().tokens.texts()
    }
}
