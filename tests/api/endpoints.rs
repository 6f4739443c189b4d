//! `/healthz`, `/readyz` and `/metrics`, as an orchestrator and a dashboard see them.

use dingtalk_sim::sender::post_callback;
use dingtalk_sim::{Scenario, Simulator};
use serde_json::{Value, json};

use crate::helpers::{WAIT, spawn_bot};
use crate::redis_server::RedisServer;

async fn simulator() -> Simulator {
    Simulator::start(Scenario::builtin().expect("the builtin scenario")).await.expect("the simulator starts")
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|err| panic!("JSON ({err}): {body}"))
}

#[tokio::test]
async fn healthz_says_the_process_is_alive() {
    let sim = simulator().await;
    let bot = spawn_bot(&sim, &[]).await;
    let (status, body) = bot.get("/healthz").await;
    assert_eq!((status, parse(&body)), (200, json!({ "status": "ok" })));
}

#[tokio::test]
async fn readyz_is_ready_with_each_check_named_when_dingtalk_answers() {
    let sim = simulator().await;
    let bot = spawn_bot(&sim, &[]).await;
    let (status, body) = bot.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        parse(&body),
        json!({
            "ready": true,
            "status": "ready",
            "checks": { "config": { "ok": true }, "access_token": { "ok": true }, "store": { "ok": true } }
        })
    );
}

#[tokio::test]
async fn readyz_says_why_no_access_token_can_be_had() {
    let sim = simulator().await;
    let bot = spawn_bot(&sim, &[("DINGMEET_CLIENT_SECRET", "not-the-app-secret")]).await;
    let (status, body) = bot.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    let body = parse(&body);
    assert_eq!(body["ready"], json!(false));
    assert_eq!(body["checks"]["config"], json!({ "ok": true }));
    assert_eq!(body["checks"]["access_token"]["ok"], json!(false));
    let reason = body["checks"]["access_token"]["reason"].as_str().expect("a reason");
    assert!(reason.contains("check DINGMEET_CLIENT_ID and DINGMEET_CLIENT_SECRET"), "{reason}");
    assert!(!body.to_string().contains("not-the-app-secret"), "{body}");
}

#[tokio::test]
async fn readyz_reports_redis_as_degraded_while_it_is_down_and_messages_wait_for_it() {
    let sim = simulator().await;
    let port = RedisServer::unused_port();
    let url = format!("redis://:redis-pass-9d1@127.0.0.1:{port}/0");
    let bot = spawn_bot(&sim, &[("DINGMEET_REDIS_URL", &url)]).await;

    // Still ready: an outage of what every replica shares must not take all of them out of the
    // Service at once (and what does not need the shared duplicate check is still answered).
    let (status, body) = bot.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    let parsed = parse(&body);
    assert_eq!((&parsed["ready"], &parsed["status"]), (&json!(true), &json!("degraded")), "{body}");
    assert_eq!(parsed["checks"]["access_token"], json!({ "ok": true }));
    assert_eq!(
        (&parsed["checks"]["redis"]["ok"], &parsed["checks"]["redis"]["degraded"]),
        (&json!(true), &json!(true))
    );
    let reason = parsed["checks"]["redis"]["reason"].as_str().expect("a reason");
    assert!(reason.contains(&format!("Redis at 127.0.0.1:{port}/0 unavailable")), "{reason}");
    assert!(reason.contains("messages are refused until it answers"), "{reason}");
    assert!(!body.contains("redis-pass-9d1"), "{body}");

    // Another replica may be answering it: not acknowledged, so DingTalk sends it again.
    let message = sim.message("/help").build();
    let delivery = post_callback(&sim, &bot.callback_url(), message.clone()).await.expect("the bot answers");
    assert_eq!(delivery.status, 503, "{}", delivery.body);
    assert!(delivery.body.contains(r#""error":"redis_unreachable""#), "{}", delivery.body);

    let (_, metrics) = bot.get("/metrics").await;
    assert!(metrics.contains("dingmeet_degraded{check=\"redis\"} 1"), "{metrics}");
    assert!(metrics.contains(r#"dingmeet_callbacks_total{outcome="redis_unreachable"} 1"#), "{metrics}");

    let _redis = RedisServer::start_on_with_password(port, "redis-pass-9d1");
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (status, body) = bot.get("/readyz").await;
        if parse(&body)["checks"]["redis"] == json!({ "ok": true }) {
            assert_eq!((status, &parse(&body)["status"]), (200, &json!("ready")), "{body}");
            let (_, metrics) = bot.get("/metrics").await;
            assert!(metrics.contains("dingmeet_degraded{check=\"redis\"} 0"), "{metrics}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "Redis never passed after it came up: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // DingTalk's redelivery, once Redis answers: taken and answered once.
    let delivery = post_callback(&sim, &bot.callback_url(), message).await.expect("the bot answers");
    assert_eq!(delivery.status, 200, "{}", delivery.body);
    sim.wait_for_webhook_posts(1, WAIT).await.expect("the redelivery is answered");
    assert_eq!(sim.records().delivered_posts().len(), 1);
}

#[tokio::test]
async fn metrics_cover_callbacks_commands_upstream_tokens_replies_cache_and_stream() {
    let sim = simulator().await;
    let bot = spawn_bot(&sim, &[]).await;
    let url = bot.callback_url();
    let post = |message: dingtalk_sim::MessageBuilder| {
        let url = url.clone();
        async move { message.post(&url).await.expect("the bot answers").status }
    };

    assert_eq!(post(sim.message("/meeting 123456789")).await, 200);
    sim.wait_for_webhook_posts(1, WAIT).await.expect("the meeting card");
    assert_eq!(post(sim.message("/help").msg_id("msg-help-1")).await, 200);
    sim.wait_for_webhook_posts(2, WAIT).await.expect("the help card");
    assert_eq!(post(sim.message("/help").msg_id("msg-help-1")).await, 200, "a redelivery is acknowledged");
    assert_eq!(post(sim.message("/help").secret("wrong-secret")).await, 401);
    assert_eq!(post(sim.message("/help").skew_ms(-2 * 3_600_000)).await, 401);
    assert_eq!(post(sim.message("/help").without_sign()).await, 401);
    assert_eq!(post(sim.message("/help").raw_body(b"{\"not\":\"a message\"}".to_vec())).await, 400);
    assert_eq!(post(sim.message("/help").raw_body(vec![b' '; 70_000])).await, 413);

    let response = reqwest::get(format!("{}/metrics", bot.address)).await.expect("metrics");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"].to_str().expect("ascii").to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let text = response.text().await.expect("a body");
    for line in [
        r#"dingmeet_callbacks_total{outcome="accepted"} 2"#,
        r#"dingmeet_callbacks_total{outcome="duplicate"} 1"#,
        r#"dingmeet_callbacks_total{outcome="bad_signature"} 1"#,
        r#"dingmeet_callbacks_total{outcome="stale"} 1"#,
        r#"dingmeet_callbacks_total{outcome="bad_headers"} 1"#,
        r#"dingmeet_callbacks_total{outcome="bad_body"} 1"#,
        r#"dingmeet_callbacks_total{outcome="too_large"} 1"#,
        r#"dingmeet_commands_total{kind="meeting"} 1"#,
        r#"dingmeet_commands_total{kind="help"} 1"#,
        r#"dingmeet_upstream_requests_total{endpoint="conference_infos",outcome="ok"} 1"#,
        r#"dingmeet_upstream_requests_total{endpoint="session_webhook",outcome="ok"} 2"#,
        r#"dingmeet_upstream_request_duration_seconds_count{endpoint="conference_infos"} 1"#,
        r#"dingmeet_token_fetches_total{outcome="ok"} 1"#,
        r#"dingmeet_replies_total{channel="session_webhook",outcome="ok"} 2"#,
        r#"dingmeet_cache_requests_total{cache="conference",result="miss"} 1"#,
        r#"dingmeet_refused_messages_total{reason="rate_limited"} 0"#,
        "dingmeet_stream_reconnects_total 0",
        "dingmeet_in_flight_messages 0",
        "# EOF",
    ] {
        assert!(text.lines().any(|l| l == line), "no line {line:?} in:\n{text}");
    }
    assert!(text.contains(r#"dingmeet_upstream_request_duration_seconds_bucket{le="#), "{text}");
}
