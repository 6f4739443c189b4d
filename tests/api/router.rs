//! The socket-free tier: everything the callback decides before the bot does any work (a bad
//! signature, a stale timestamp, an oversized or unreadable body, a foreign session webhook),
//! driven through `server::router()` with `tower::ServiceExt::oneshot`, as axum's
//! `examples/testing` does. No simulator, no port: `DINGMEET_API_BASE` points at a closed port,
//! and the metrics prove nothing was started (no accepted message, no token fetch, no call).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use dingmeet::app;
use dingmeet::clock::now_ms;
use dingmeet::config::Settings;
use dingmeet::dingtalk::sign::sign;
use dingmeet::readiness::Readiness;
use dingmeet::server::{self, AppState};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::helpers::CALLBACK_PATH;

const SECRET: &str = "router-tier-app-secret";

/// A bot's router and its state, built from `extra` `DINGMEET_*` settings.
fn router_with(extra: &[(&str, &str)]) -> (axum::Router, AppState) {
    let mut vars = vec![
        ("DINGMEET_CLIENT_ID", "dingroutertier"),
        ("DINGMEET_CLIENT_SECRET", SECRET),
        // Nothing listens there: a call that should not happen fails, and is counted.
        ("DINGMEET_API_BASE", "http://127.0.0.1:9"),
    ];
    vars.extend_from_slice(extra);
    let vars = vars.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned()));
    let settings = Settings::load_from(None, vars).expect("the test settings load");
    let components = app::build(&settings).expect("the bot builds");
    let state = AppState {
        bot: components.bot,
        verifier: components.verifier,
        readiness: Readiness::new(),
        events: components.events,
    };
    (server::router(state.clone(), true), state)
}

/// A group text message, as DingTalk posts it.
fn robot_message(webhook_host: &str) -> String {
    json!({
        "msgtype": "text",
        "msgId": format!("msgRouterTier{}==", fastrand::u64(..)),
        "conversationId": "cidRouterTier==",
        "conversationType": "2",
        "senderStaffId": "manager807",
        "sessionWebhook": format!("https://{webhook_host}/robot/sendBySession?session=0123456789abcdef"),
        "sessionWebhookExpiredTime": now_ms() + 5_400_000,
        "text": { "content": " /meeting 123456789" },
    })
    .to_string()
}

/// A callback request; `timestamp` and `sign` are left out when `None`.
fn callback(timestamp: Option<&str>, signature: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut request = Request::post(CALLBACK_PATH).header("content-type", "application/json");
    if let Some(timestamp) = timestamp {
        request = request.header("timestamp", timestamp);
    }
    if let Some(signature) = signature {
        request = request.header("sign", signature);
    }
    request.body(body.into()).expect("a request")
}

/// `body` signed with `secret`, `skew_ms` off the clock.
fn signed(secret: &str, skew_ms: i64, body: impl Into<Body>) -> Request<Body> {
    let timestamp = (now_ms() + skew_ms).to_string();
    callback(Some(&timestamp), Some(&sign(&timestamp, secret)), body)
}

/// The status and JSON body the router answers `request` with.
async fn answer(router: axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router.oneshot(request).await.expect("the router answers");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("a body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Refused with `status` and a JSON error labelled `error`, and nothing started.
fn assert_refused(state: &AppState, (status, body): (StatusCode, Value), expected: StatusCode, error: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "a public message in {body}");
    assert_nothing_started(state);
}

/// No message was accepted, and nothing was asked of DingTalk.
fn assert_nothing_started(state: &AppState) {
    let metrics = state.bot.metrics().render();
    assert!(metrics.contains(r#"dingmeet_callbacks_total{outcome="accepted"} 0"#), "{metrics}");
    assert!(!counted(&metrics, "dingmeet_token_fetches_total{"), "a token fetch: {metrics}");
    assert!(!counted(&metrics, "dingmeet_upstream_requests_total{"), "an upstream call: {metrics}");
    assert!(!counted(&metrics, "dingmeet_replies_total{"), "a reply: {metrics}");
}

/// Whether a series starting with `series` is above 0 (the ones alerts watch exist at 0).
fn counted(metrics: &str, series: &str) -> bool {
    metrics.lines().any(|line| line.starts_with(series) && !line.ends_with(" 0"))
}

#[tokio::test]
async fn a_wrong_signature_is_refused_with_401_and_nothing_is_sent() {
    let (router, state) = router_with(&[]);

    let response = answer(router, signed("not-the-app-secret", 0, robot_message("oapi.dingtalk.com"))).await;

    assert_refused(&state, response, StatusCode::UNAUTHORIZED, "bad_signature");
}

#[tokio::test]
async fn a_timestamp_more_than_an_hour_old_is_refused_with_401() {
    let (router, state) = router_with(&[]);

    let response = answer(router, signed(SECRET, -(3_600_000 + 60_000), robot_message("oapi.dingtalk.com"))).await;

    assert_refused(&state, response, StatusCode::UNAUTHORIZED, "stale");
}

#[tokio::test]
async fn a_timestamp_more_than_an_hour_ahead_is_refused_with_401() {
    let (router, state) = router_with(&[]);

    let response = answer(router, signed(SECRET, 3_600_000 + 60_000, robot_message("oapi.dingtalk.com"))).await;

    assert_refused(&state, response, StatusCode::UNAUTHORIZED, "stale");
}

#[tokio::test]
async fn a_narrower_sign_window_is_honoured() {
    let (router, state) = router_with(&[("DINGMEET_SIGN_WINDOW_SECS", "300")]);

    let response = answer(router, signed(SECRET, -301_000, robot_message("oapi.dingtalk.com"))).await;

    assert_refused(&state, response, StatusCode::UNAUTHORIZED, "stale");
}

#[tokio::test]
async fn missing_or_malformed_signature_headers_are_refused_with_401() {
    let (router, state) = router_with(&[]);
    let timestamp = now_ms().to_string();
    let signature = sign(&timestamp, SECRET);

    let cases = [
        ("no timestamp", callback(None, Some(&signature), robot_message("oapi.dingtalk.com"))),
        ("no sign", callback(Some(&timestamp), None, robot_message("oapi.dingtalk.com"))),
        ("neither", callback(None, None, robot_message("oapi.dingtalk.com"))),
        ("not milliseconds", callback(Some("yesterday"), Some(&sign("yesterday", SECRET)), robot_message("x"))),
    ];
    for (case, request) in cases {
        let (status, body) = answer(router.clone(), request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {body}");
        assert_eq!(body["error"], "bad_headers", "{case}: a JSON error body");
    }
    assert_nothing_started(&state);
}

#[tokio::test]
async fn a_signed_body_that_is_not_json_is_refused_with_400() {
    let (router, state) = router_with(&[]);

    let response = answer(router, signed(SECRET, 0, "msgtype=text&content=hi")).await;

    assert_refused(&state, response, StatusCode::BAD_REQUEST, "bad_body");
}

#[tokio::test]
async fn a_json_body_that_is_not_a_robot_message_is_refused_with_400() {
    let (router, state) = router_with(&[]);

    let response = answer(router, signed(SECRET, 0, r#"{"hello":"world"}"#)).await;

    assert_refused(&state, response, StatusCode::BAD_REQUEST, "bad_body");
}

#[tokio::test]
async fn a_body_over_64_kib_is_refused_with_413() {
    let (router, state) = router_with(&[]);
    let padding = "x".repeat(64 * 1024);
    let body = format!(r#"{{"msgtype":"text","text":{{"content":"{padding}"}}}}"#);

    let response = answer(router, signed(SECRET, 0, body)).await;

    assert_refused(&state, response, StatusCode::PAYLOAD_TOO_LARGE, "too_large");
}

#[tokio::test]
async fn a_session_webhook_on_a_host_off_the_allow_list_is_refused_with_400_and_nothing_is_sent() {
    let (router, state) = router_with(&[]);

    let response = answer(router, signed(SECRET, 0, robot_message("evil.example"))).await;

    assert_refused(&state, response, StatusCode::BAD_REQUEST, "webhook_host_not_allowed");
    let metrics = state.bot.metrics().render();
    assert!(metrics.contains(r#"dingmeet_callbacks_total{outcome="webhook_host_not_allowed"} 1"#), "{metrics}");
}

#[tokio::test]
async fn a_stranger_s_secret_is_refused_while_a_rotated_one_is_configured() {
    let (router, state) = router_with(&[("DINGMEET_CALLBACK_SECRETS", "previous-app-secret, another-one")]);

    let response = answer(router, signed("a-secret-nobody-configured", 0, robot_message("oapi.dingtalk.com"))).await;

    assert_refused(&state, response, StatusCode::UNAUTHORIZED, "bad_signature");
}

#[tokio::test]
async fn every_answer_echoes_the_callers_request_id_or_one_made_for_it() {
    let (router, _state) = router_with(&[]);
    let request_id = |response: &axum::response::Response| {
        let value = response.headers().get("x-request-id").expect("an X-Request-Id");
        value.to_str().expect("ASCII").to_owned()
    };
    let mut request = signed("not-the-app-secret", 0, robot_message("oapi.dingtalk.com"));
    request.headers_mut().insert("x-request-id", "lb-7f3a-0001".parse().expect("a header value"));
    let response = router.clone().oneshot(request).await.expect("the router answers");
    assert_eq!((response.status(), request_id(&response).as_str()), (StatusCode::UNAUTHORIZED, "lb-7f3a-0001"));

    let healthz = || Request::get("/healthz").body(Body::empty()).expect("a request");
    let first = request_id(&router.clone().oneshot(healthz()).await.expect("the router answers"));
    let second = request_id(&router.clone().oneshot(healthz()).await.expect("the router answers"));
    assert_eq!(first.len(), 16, "{first}");
    assert!(first.bytes().all(|b| b.is_ascii_hexdigit()) && first != second, "{first} {second}");
}
