//! The one client against a tiny stand-in for DingTalk on 127.0.0.1: both error styles, each
//! rate-limit answer, the single retry with a fresh token, and where the token goes.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::call_purpose::Purpose;
use super::declaration::{Auth, Declaration, Host, Verb};
use super::token::{Credentials, TokenProvider};
use super::{ApiError, Bases, Endpoint, OpenApi, http_client};
use crate::telemetry::Metrics;

const NEW_STYLE: Declaration = Declaration {
    name: "sample_new",
    verb: Verb::Get,
    host: Host::Api,
    path: "/v1.0/sample/{id}",
    permission: Some("Sample.Thing.Read"),
    purpose: Purpose::Query,
    auth: Auth::OrgToken,
};

const OLD_STYLE: Declaration =
    Declaration { name: "sample_old", verb: Verb::Post, host: Host::Oapi, path: "/topapi/sample", ..NEW_STYLE };

#[derive(Debug, Default, PartialEq, Eq, Deserialize)]
struct Answer {
    #[serde(default)]
    value: String,
}

#[derive(Serialize)]
struct NewStyle {
    #[serde(skip)]
    id: &'static str,
    limit: u32,
}

impl Endpoint for NewStyle {
    type Response = Answer;
    const DECLARATION: &'static Declaration = &NEW_STYLE;
    fn path_params(&self) -> Vec<&str> {
        vec![self.id]
    }
}

#[derive(Serialize)]
struct OldStyle {
    userid: &'static str,
}

impl Endpoint for OldStyle {
    type Response = Answer;
    const DECLARATION: &'static Declaration = &OLD_STYLE;
}

/// What the stand-in saw of one call (token requests aside).
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path_and_query: String,
    token_header: Option<String>,
    body: String,
}

/// A canned answer: status, headers, body.
type Canned = (u16, &'static [(&'static str, &'static str)], &'static str);

#[derive(Default)]
struct Script {
    answers: Mutex<VecDeque<Canned>>,
    seen: Mutex<Vec<Seen>>,
    tokens_issued: Mutex<u32>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn answer(State(script): State<Arc<Script>>, request: Request) -> Response {
    let method = request.method().to_string();
    let path_and_query = request.uri().path_and_query().map(ToString::to_string).unwrap_or_default();
    let token_header =
        request.headers().get(super::client::TOKEN_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let bytes = axum::body::to_bytes(request.into_body(), 1 << 16).await.unwrap_or_default();
    if path_and_query.starts_with("/v1.0/oauth2/accessToken") {
        let mut issued = lock(&script.tokens_issued);
        *issued += 1;
        return axum::Json(serde_json::json!({"accessToken": format!("tok-{issued}"), "expireIn": 7200}))
            .into_response();
    }
    let body = String::from_utf8_lossy(&bytes).into_owned();
    lock(&script.seen).push(Seen { method, path_and_query, token_header, body });
    let (status, headers, body) = lock(&script.answers).pop_front().unwrap_or((200, &[], r#"{"value":"ok"}"#));
    let mut response = (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body.to_owned()).into_response();
    for (name, value) in headers {
        if let Ok(value) = axum::http::HeaderValue::from_str(value) {
            response.headers_mut().insert(*name, value);
        }
    }
    response
}

struct Stand {
    script: Arc<Script>,
    api: OpenApi,
    metrics: Arc<Metrics>,
}

impl Stand {
    async fn start(answers: &[Canned]) -> Self {
        let script = Arc::new(Script::default());
        lock(&script.answers).extend(answers.iter().copied());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let router = axum::Router::new().fallback(answer).with_state(Arc::clone(&script));
        tokio::spawn(async move { axum::serve(listener, router).await });
        let metrics = Arc::new(Metrics::new());
        let http = http_client(Duration::from_secs(5));
        let credentials = Credentials { client_id: "app".into(), client_secret: SecretString::from("secret") };
        let tokens = TokenProvider::new(http.clone(), &base, credentials, Arc::clone(&metrics));
        let bases = Bases { api: &base, oapi: &format!("{base}/") };
        let api = OpenApi::new(http, bases, tokens, Arc::clone(&metrics), Duration::from_secs(5));
        Self { script, api, metrics }
    }

    fn seen(&self) -> Vec<Seen> {
        lock(&self.script.seen).clone()
    }

    async fn new_style(&self) -> Result<Answer, ApiError> {
        self.api.call(Some("corp"), &NewStyle { id: "a/b", limit: 5 }).await
    }
}

#[tokio::test]
async fn a_new_style_call_carries_the_token_header_and_its_fields_in_the_query() {
    let stand = Stand::start(&[]).await;
    assert_eq!(stand.new_style().await, Ok(Answer { value: "ok".into() }));
    let seen = stand.seen();
    assert_eq!((seen[0].method.as_str(), seen[0].path_and_query.as_str()), ("GET", "/v1.0/sample/a%2Fb?limit=5"));
    assert_eq!(seen[0].token_header.as_deref(), Some("tok-1"));
    assert!(stand.metrics.render().contains(r#"endpoint="sample_new",outcome="ok""#));
}

#[tokio::test]
async fn a_new_style_permission_error_names_its_scope_and_is_reported_once() {
    const DENIED: &str = r#"{"code":"Forbidden.AccessDenied.AccessTokenPermissionDenied","requestid":"r",
        "message":"没有调用该接口的权限","accessdenieddetail":{"requiredScopes":["Contact.User.Read"]}}"#;
    let stand = Stand::start(&[(403, &[], DENIED), (403, &[], DENIED), (403, &[], r#"{"code":"noPermission"}"#)]).await;
    for _ in 0..2 {
        let err = stand.new_style().await.expect_err("refused");
        assert_eq!(
            err,
            ApiError::NoPermission {
                code: "Forbidden.AccessDenied.AccessTokenPermissionDenied".into(),
                scopes: vec!["Contact.User.Read".into()]
            }
        );
    }
    let metrics = stand.metrics.render();
    assert!(metrics.contains(r#"dingmeet_permission_missing{scope="Contact.User.Read"} 1"#), "{metrics}");
    let unnamed = stand.new_style().await.expect_err("refused");
    assert_eq!(
        unnamed,
        ApiError::NoPermission { code: "noPermission".into(), scopes: vec!["Sample.Thing.Read".into()] },
        "the declared permission fills in"
    );
    assert_eq!(stand.seen().len(), 3, "no retries");
}

#[tokio::test]
async fn an_old_style_call_puts_the_token_in_the_query_and_reads_errcode() {
    let stand = Stand::start(&[
        (200, &[], r#"{"errcode":"0","errmsg":"ok","value":"found"}"#),
        (200, &[], r#"{"errcode":33012,"errmsg":"无效的userId"}"#),
    ])
    .await;
    let call = || stand.api.call(Some("corp"), &OldStyle { userid: "u1" });
    assert_eq!(call().await, Ok(Answer { value: "found".into() }));
    assert_eq!(call().await, Err(ApiError::BadRequest { code: "33012".into() }));
    let seen = stand.seen();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path_and_query.as_str()),
        ("POST", "/topapi/sample?access_token=tok-1")
    );
    assert_eq!((seen[0].token_header.as_deref(), seen[0].body.as_str()), (None, r#"{"userid":"u1"}"#));
}

#[tokio::test]
async fn an_old_style_130101_is_throttled_with_its_long_wait_and_not_retried() {
    let stand = Stand::start(&[(200, &[], r#"{"errcode":130101,"errmsg":"send too fast"}"#)]).await;
    let err = stand.api.call(Some("corp"), &OldStyle { userid: "u1" }).await.expect_err("throttled");
    assert_eq!(err, ApiError::Throttled { code: "130101".into(), retry_after_ms: Some(600_000) });
    assert_eq!(stand.seen().len(), 1);
}

#[tokio::test]
async fn a_per_second_limit_is_waited_out_once() {
    let qps = r#"{"code":"Forbidden.AccessDenied.QpsLimitForAppkeyAndApi","message":"m","requestid":"r"}"#;
    let stand = Stand::start(&[(403, &[], qps)]).await;
    assert_eq!(stand.new_style().await, Ok(Answer { value: "ok".into() }));
    assert_eq!(stand.seen().len(), 2, "one retry after the advised second");
    let stand = Stand::start(&[(403, &[], qps), (403, &[], qps)]).await;
    let err = stand.new_style().await.expect_err("still throttled");
    assert_eq!(err.kind(), "throttled");
    assert_eq!(stand.seen().len(), 2, "only one retry");
}

#[tokio::test]
async fn a_429_is_retried_after_a_short_retry_after_and_carries_a_long_one() {
    let stand = Stand::start(&[(429, &[("retry-after", "0")], "")]).await;
    assert_eq!(stand.new_style().await, Ok(Answer { value: "ok".into() }));
    assert_eq!(stand.seen().len(), 2);
    let stand = Stand::start(&[(429, &[("retry-after", "120")], "")]).await;
    let err = stand.new_style().await.expect_err("throttled");
    assert_eq!(err, ApiError::Throttled { code: "http_429".into(), retry_after_ms: Some(120_000) });
    assert_eq!(stand.seen().len(), 1, "a long wait is the caller's");
}

#[tokio::test]
async fn a_refused_token_is_replaced_and_the_call_tried_exactly_once_more() {
    let invalid = r#"{"code":"InvalidAuthentication","message":"不合法的access_token","requestid":"r"}"#;
    let stand = Stand::start(&[(400, &[], invalid)]).await;
    assert_eq!(stand.new_style().await, Ok(Answer { value: "ok".into() }));
    let tokens: Vec<_> = stand.seen().into_iter().map(|s| s.token_header).collect();
    assert_eq!(tokens, [Some("tok-1".to_owned()), Some("tok-2".to_owned())]);
    let stand = Stand::start(&[(400, &[], invalid), (400, &[], invalid), (400, &[], invalid)]).await;
    assert_eq!(stand.new_style().await.expect_err("refused").kind(), "invalid_token");
    assert_eq!(stand.seen().len(), 2, "one retry, not more");
}
