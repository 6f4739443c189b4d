//! `/readyz` when what it checks goes wrong while the bot runs: DingTalk's token endpoint failing
//! after a first token (still ready, degraded, and no token call per probe), and the store unable
//! to write (not ready until it can again).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::IntoResponse;
use dingtalk_sim::{Scenario, SimClock, Simulator};
use serde_json::{Value, json};

use crate::helpers::{WAIT, data_dir, spawn_bot, spawn_bot_on};

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|err| panic!("JSON ({err}): {body}"))
}

const TOKEN_PATH: &str = "/v1.0/oauth2/accessToken";

/// The simulator's routes on a port of their own, its token endpoint answering 503 while
/// `failing` is set (the simulator still sees, and counts, each call). Returns the base URL.
async fn failing_front(sim: &Simulator, failing: Arc<AtomicBool>) -> String {
    let routes = dingtalk_sim::router(Arc::clone(sim.state())).layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let failing = Arc::clone(&failing);
            async move {
                let token = request.uri().path() == TOKEN_PATH;
                let response = next.run(request).await;
                if token && failing.load(Ordering::SeqCst) {
                    (StatusCode::SERVICE_UNAVAILABLE, "token service down").into_response()
                } else {
                    response
                }
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let base = format!("http://{}", listener.local_addr().expect("bound"));
    tokio::spawn(async move { axum::serve(listener, routes).await });
    base
}

#[tokio::test]
async fn a_token_endpoint_failing_after_a_first_token_degrades_without_a_call_per_probe() {
    // Tokens live one second, so the bot's own expires while the endpoint fails.
    let mut scenario = Scenario::builtin().expect("the builtin scenario");
    scenario.app.token_lifetime_secs = 1;
    let sim = Simulator::start_with(scenario, SimClock::real()).await.expect("the simulator starts");
    let failing = Arc::new(AtomicBool::new(false));
    let base = failing_front(&sim, Arc::clone(&failing)).await;
    let bot = spawn_bot(&sim, &[("DINGMEET_API_BASE", &base)]).await;

    let (status, body) = bot.get("/readyz").await;
    assert_eq!((status, &parse(&body)["checks"]["access_token"]), (200, &json!({ "ok": true })), "{body}");

    failing.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + WAIT;
    let degraded = loop {
        let (status, body) = bot.get("/readyz").await;
        let parsed = parse(&body);
        if parsed["checks"]["access_token"]["degraded"] == json!(true) {
            assert_eq!(status, 200, "a token that passed before keeps the replica ready: {body}");
            break parsed;
        }
        assert_eq!(status, 200, "{body}");
        assert!(Instant::now() < deadline, "the access token never showed degraded: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!((&degraded["ready"], &degraded["status"]), (&json!(true), &json!("degraded")), "{degraded}");
    let reason = degraded["checks"]["access_token"]["reason"].as_str().expect("a reason");
    assert!(reason.contains("passed before"), "{reason}");

    // The failure is remembered: probing again and again asks DingTalk no more.
    let calls = sim.tokens().requests();
    for _ in 0..10 {
        let (status, body) = bot.get("/readyz").await;
        assert_eq!((status, &parse(&body)["status"]), (200, &json!("degraded")), "{body}");
    }
    assert_eq!(sim.tokens().requests(), calls, "no token call per probe");
    let (_, metrics) = bot.get("/metrics").await;
    assert!(metrics.contains(r#"dingmeet_degraded{check="access_token"} 1"#), "{metrics}");
}

#[tokio::test]
async fn a_store_that_cannot_write_makes_the_replica_not_ready_until_it_can() {
    let sim = Simulator::start(Scenario::builtin().expect("the builtin scenario")).await.expect("the simulator");
    let dir = data_dir();
    let database = dir.path().join(dingmeet::state::DATABASE_FILE);
    let bot = spawn_bot_on(&sim, &[], Some(dir), None).await;
    let (status, body) = bot.get("/readyz").await;
    assert_eq!((status, &parse(&body)["checks"]["store"]), (200, &json!({ "ok": true })), "{body}");

    // Another connection holds the database's write lock: the writer's commits time out.
    let blocker = rusqlite::Connection::open(&database).expect("the store's database opens");
    blocker.execute_batch("BEGIN IMMEDIATE").expect("the write lock is taken");
    let delivery = sim.message("/lang en").post(&bot.callback_url()).await.expect("the bot answers");
    assert_eq!(delivery.status, 200, "{}", delivery.body);

    // Each write of the blocked commit waits out SQLite's busy timeout (5 s) before it fails.
    let deadline = Instant::now() + 3 * WAIT;
    loop {
        let (status, body) = bot.get("/readyz").await;
        let parsed = parse(&body);
        if parsed["checks"]["store"]["ok"] == json!(false) {
            assert_eq!((status, &parsed["ready"]), (503, &json!(false)), "{body}");
            let reason = parsed["checks"]["store"]["reason"].as_str().expect("a reason");
            assert!(reason.contains("the store cannot write"), "{reason}");
            break;
        }
        assert!(Instant::now() < deadline, "the store never failed its check: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, metrics) = bot.get("/metrics").await;
    assert!(!metrics.contains("dingmeet_store_write_errors_total 0\n"), "{metrics}");

    blocker.execute_batch("ROLLBACK").expect("the write lock is released");
    let deadline = Instant::now() + 3 * WAIT;
    loop {
        let (status, body) = bot.get("/readyz").await;
        if parse(&body)["checks"]["store"] == json!({ "ok": true }) {
            assert_eq!(status, 200, "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "the store never recovered: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn metrics_name_the_build_the_budget_limit_and_the_store_from_the_start() {
    let sim = Simulator::start(Scenario::builtin().expect("the builtin scenario")).await.expect("the simulator");
    let bot = spawn_bot(&sim, &[("DINGMEET_MONTHLY_CALL_BUDGET", "2500")]).await;
    let (_, metrics) = bot.get("/metrics").await;
    let version = env!("CARGO_PKG_VERSION");
    for line in [
        format!("dingmeet_build_info{{version=\"{version}\""),
        "dingmeet_openapi_budget_limit 2500".to_owned(),
        "dingmeet_journal_backlog 0".to_owned(),
        "dingmeet_store_write_errors_total 0".to_owned(),
        "dingmeet_stream_enabled 0".to_owned(),
        r#"dingmeet_callbacks_total{outcome="not_recorded"} 0"#.to_owned(),
        r#"dingmeet_callbacks_total{outcome="webhook_host_not_allowed"} 0"#.to_owned(),
    ] {
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
}
