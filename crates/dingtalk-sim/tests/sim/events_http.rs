//! Meeting events as encrypted HTTP pushes (docs/dingtalk-events.md §b): a receiver on 127.0.0.1
//! that answers the encrypted `success` (with the simulator's own crypto) gets the flat body;
//! one that answers wrong gets the retries at 10 s and 30 s on the simulator's clock, and then
//! the event is on the failed-push list, which each call clears; `check_url` is checked.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use dingtalk_sim::Simulator;
use dingtalk_sim::callback_crypto::CallbackCrypto;
use dingtalk_sim::endpoints::event_callbacks::FAILED_RESULT_PATH;
use dingtalk_sim::records::events::PushOutcome;
use dingtalk_sim::state::meeting_events::HttpSubscription;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::events::{CODE, CONFERENCE, sim};
use crate::{WAIT, http};

const TOKEN: &str = "event-token";
const AES_KEY: &str = "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answers {
    Success,
    ServerError,
    PlainSuccess,
}

struct Receiver {
    crypto: CallbackCrypto,
    answers: Answers,
    bodies: Mutex<Vec<Value>>,
}

#[derive(Deserialize)]
struct Signed {
    msg_signature: String,
    timestamp: String,
    nonce: String,
}

#[derive(Deserialize)]
struct Encrypted {
    encrypt: String,
}

async fn receive(State(rx): State<Arc<Receiver>>, Query(q): Query<Signed>, Json(body): Json<Encrypted>) -> Response {
    let Ok(text) = rx.crypto.open(&q.msg_signature, &q.timestamp, &q.nonce, &body.encrypt) else {
        return axum::http::StatusCode::BAD_REQUEST.into_response();
    };
    rx.bodies.lock().expect("lock").push(serde_json::from_str(&text).expect("a JSON plaintext"));
    match rx.answers {
        Answers::Success => Json(rx.crypto.seal("success", &q.timestamp, &q.nonce)).into_response(),
        Answers::ServerError => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Answers::PlainSuccess => "success".into_response(),
    }
}

/// A receiver answering as told, and the simulator subscribed to it.
async fn receiver(sim: &Simulator, answers: Answers) -> Arc<Receiver> {
    let crypto = CallbackCrypto::new(TOKEN, AES_KEY, sim.client_id()).expect("key");
    let rx = Arc::new(Receiver { crypto, answers, bodies: Mutex::new(Vec::new()) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}/dingtalk/events", listener.local_addr().expect("addr"));
    let app = Router::new().route("/dingtalk/events", post(receive)).with_state(Arc::clone(&rx));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serves") });
    sim.events().subscribe_http(&HttpSubscription::new(&url, TOKEN, AES_KEY)).expect("subscribed");
    rx
}

async fn wait_for_attempts(sim: &Simulator, count: usize) -> Vec<dingtalk_sim::records::events::HttpPush> {
    sim.wait_until(WAIT, |r| (r.events.http_pushes.len() >= count).then(|| r.events.http_pushes.clone()))
        .await
        .expect("the pushes")
}

async fn failed_list(sim: &Simulator) -> Value {
    let (token, _) = sim.tokens().issue(sim.home_corp());
    let url = format!("{}{FAILED_RESULT_PATH}?access_token={token}", sim.base_url());
    let text = http().get(url).send().await.expect("answers").text().await.expect("a body");
    serde_json::from_str(&text).expect("JSON")
}

#[tokio::test]
async fn a_receiver_answering_success_gets_the_flat_body_once() {
    let sim = sim().await;
    let rx = receiver(&sim, Answers::Success).await;

    sim.meetings().start_meeting(CODE, CONFERENCE);

    let pushes = wait_for_attempts(&sim, 1).await;
    assert_eq!((pushes[0].attempt, &pushes[0].outcome, pushes[0].status), (0, &PushOutcome::Accepted, Some(200)));
    let body = rx.bodies.lock().expect("lock")[0].clone();
    assert_eq!(body["EventType"], "meeting_status_change");
    assert_eq!(body["CorpId"].as_str(), Some(sim.home_corp()));
    assert_eq!(body["EventTime"], 1_800_000_000_000_i64);
    assert!(body["BizId"].is_string() && body["eventId"].is_string());
    assert_eq!((body["changeScene"].as_str(), body["statusSeqNum"].as_u64()), (Some("conference_created"), Some(1)));
    assert_eq!(body["openConfModel"]["conferenceId"], CONFERENCE);
    sim.clock().advance(Duration::from_secs(60));
    sim.events().push_due().await;
    assert_eq!(sim.events().records().http_pushes.len(), 1, "settled: no retry");
    assert_eq!(failed_list(&sim).await["failed_list"], json!([]));
}

#[tokio::test]
async fn check_url_is_pushed_and_its_answer_checked() {
    let sim = sim().await;
    let good = receiver(&sim, Answers::Success).await;
    let check = sim.events().check_url().await.expect("subscribed");
    assert_eq!(check.outcome, PushOutcome::Accepted);
    assert!(check.took_ms < 1_500, "{check:?}");
    assert_eq!(good.bodies.lock().expect("lock")[0], json!({"EventType": "check_url"}));

    let _plain = receiver(&sim, Answers::PlainSuccess).await;
    let check = sim.events().check_url().await.expect("subscribed");
    assert!(matches!(check.outcome, PushOutcome::Refused(_)), "a bare success is not the encrypted one: {check:?}");
}

#[tokio::test]
async fn a_failing_receiver_gets_retries_at_10_and_30_s_then_the_event_is_listed_as_failed() {
    let sim = sim().await;
    let rx = receiver(&sim, Answers::ServerError).await;
    sim.meetings().start_meeting(CODE, CONFERENCE);
    let pushes = wait_for_attempts(&sim, 1).await;
    assert_eq!((pushes[0].status, &pushes[0].outcome), (Some(500), &PushOutcome::Refused("HTTP 500".to_owned())));

    sim.clock().advance(Duration::from_secs(9));
    sim.events().push_due().await;
    assert_eq!(sim.events().records().http_pushes.len(), 1, "not before 10 s");
    sim.clock().advance(Duration::from_secs(1));
    let pushes = wait_for_attempts(&sim, 2).await;
    assert_eq!((pushes[1].attempt, pushes[1].at_ms - pushes[0].at_ms), (1, 10_000));
    sim.clock().advance(Duration::from_secs(29));
    sim.events().push_due().await;
    assert_eq!(sim.events().records().http_pushes.len(), 2, "not before 30 s more");
    sim.clock().advance(Duration::from_secs(1));
    let pushes = wait_for_attempts(&sim, 3).await;
    assert_eq!((pushes[2].attempt, pushes[2].at_ms - pushes[1].at_ms), (2, 30_000));
    sim.wait_until(WAIT, |r| (!r.events.given_up.is_empty()).then_some(())).await.expect("given up");
    assert_eq!(rx.bodies.lock().expect("lock").len(), 3, "the same event each time");

    let answer = failed_list(&sim).await;
    assert_eq!((answer["errcode"].as_i64(), answer["has_more"].as_bool()), (Some(0), Some(false)));
    let entry = &answer["failed_list"][0];
    assert_eq!(entry["call_back_tag"], "meeting_status_change");
    assert_eq!(entry["corpid"].as_str(), Some(sim.home_corp()));
    assert_eq!(entry["event_time"], 1_800_000_000_000_i64);
    assert_eq!(entry["meeting_status_change"]["changeScene"], "conference_created");
    assert_eq!(entry["meeting_status_change"]["eventId"], pushes[0].event_id.as_str());
    assert_eq!(failed_list(&sim).await["failed_list"], json!([]), "each call clears what it returned");
}

#[tokio::test]
async fn an_unreachable_url_is_retried_and_listed_and_the_list_pages_by_200() {
    let sim = sim().await;
    sim.events().subscribe_http(&HttpSubscription::new("http://127.0.0.1:9/x", TOKEN, AES_KEY)).expect("subscribed");
    sim.events().set_http_unreachable(true);
    sim.events().join(CODE, CONFERENCE, 201);
    wait_for_attempts(&sim, 201).await;
    sim.clock().advance(Duration::from_secs(10));
    wait_for_attempts(&sim, 402).await;
    sim.clock().advance(Duration::from_secs(30));
    wait_for_attempts(&sim, 603).await;
    sim.wait_until(WAIT, |r| (r.events.given_up.len() == 201).then_some(())).await.expect("given up");
    assert_eq!(sim.events().failed_pushes().len(), 201);
    assert_eq!(sim.events().queued_pushes(), 0);
    let pushes = sim.events().records().http_pushes;
    assert!(pushes.iter().all(|p| p.outcome == PushOutcome::Unreachable && p.status.is_none()));
    let first = failed_list(&sim).await;
    assert_eq!((first["failed_list"].as_array().map(Vec::len), first["has_more"].as_bool()), (Some(200), Some(true)));
    let second = failed_list(&sim).await;
    assert_eq!((second["failed_list"].as_array().map(Vec::len), second["has_more"].as_bool()), (Some(1), Some(false)));
}
