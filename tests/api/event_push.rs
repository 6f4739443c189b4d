//! `POST /dingtalk/events`: DingTalk's encrypted event pushes, on the real bot on 127.0.0.1.
//! What DingTalk would send is made with the same algorithm, checked against the reference's
//! test vectors in `src/dingtalk/callback_crypto.rs`: the check pushes answered with the
//! encrypted `success`, and every forged, foreign or garbled push refused with a 4xx and a log
//! line saying why.

use dingmeet::dingtalk::callback_crypto::EventCipher;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const TOKEN: &str = "event-token-123";
const AES_KEY: &str = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7";
const PATH: &str = "/dingtalk/events";

async fn app() -> TestApp {
    spawn_app_with(&[("DINGMEET_EVENT_TOKEN", TOKEN), ("DINGMEET_EVENT_AES_KEY", AES_KEY)]).await
}

/// DingTalk's side of the subscription, for the app `owner`.
fn dingtalk(owner: &str) -> EventCipher {
    EventCipher::new(TOKEN.to_owned().into(), &AES_KEY.to_owned().into(), owner).expect("a valid aes_key")
}

/// Posts `message` encrypted for `owner`, signed with `token` (the query names as DingTalk's
/// current pages spell them).
async fn push(app: &TestApp, cipher: &EventCipher, message: &str, tamper: impl Fn(&mut String)) -> reqwest::Response {
    let encrypt = cipher.encrypt(message, *b"0123456789abcdef");
    let (timestamp, nonce) = ("1700000000000", "nonce123");
    let mut signature = cipher.signature(timestamp, nonce, &encrypt);
    tamper(&mut signature);
    reqwest::Client::new()
        .post(format!("{}{PATH}", app.address))
        .query(&[("msg_signature", signature.as_str()), ("timestamp", timestamp), ("nonce", nonce)])
        .json(&json!({ "encrypt": encrypt }))
        .send()
        .await
        .expect("the bot answers")
}

/// Checks the answer is DingTalk's encrypted `success`: the four string fields, signed, for us.
async fn assert_success(answer: reqwest::Response, cipher: &EventCipher) {
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.expect("JSON");
    let object = body.as_object().expect("an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["encrypt", "msg_signature", "nonce", "timeStamp"], "{body}");
    let field = |k: &str| object[k].as_str().expect("strings only").to_owned();
    let opened = cipher.open(&field("msg_signature"), &field("timeStamp"), &field("nonce"), &field("encrypt"));
    assert_eq!(opened.as_deref(), Ok("success"), "{body}");
}

#[tokio::test]
async fn check_url_and_the_suite_checks_are_answered_with_the_encrypted_success() {
    let app = app().await;
    let cipher = dingtalk(app.sim.client_id());
    for check in ["check_url", "check_create_suite_url", "check_update_suite_url"] {
        let started = std::time::Instant::now();
        let answer = push(&app, &cipher, &json!({ "EventType": check }).to_string(), |_| {}).await;
        assert_success(answer, &cipher).await;
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "{check} answered within a second");
    }
}

#[tokio::test]
async fn an_event_that_opens_is_acknowledged_with_success() {
    let app = app().await;
    let cipher = dingtalk(app.sim.client_id());
    let event = json!({"EventType": "meeting_status_change", "CorpId": app.sim.home_corp(), "eventId": "ev-1",
        "openConfModel": {"conferenceId": "conf-1", "activeNum": 2}, "statusSeqNum": 1, "changeScene": "conference_created"});
    assert_success(push(&app, &cipher, &event.to_string(), |_| {}).await, &cipher).await;
}

#[tokio::test]
async fn forged_foreign_and_garbled_pushes_are_refused_with_a_reason() {
    let (logs, _guard) = crate::state::capture_logs();
    let app = app().await;
    let ours = dingtalk(app.sim.client_id());
    let check = json!({ "EventType": "check_url" }).to_string();

    let forged = push(&app, &ours, &check, |signature| signature.replace_range(0..2, "00")).await;
    assert_eq!(forged.status(), 401);
    assert_eq!(forged.json::<Value>().await.expect("JSON")["error"], "bad_signature");

    let foreign = push(&app, &dingtalk("dingAnotherApp"), &check, |_| {}).await;
    assert_eq!(foreign.status(), 403);
    assert_eq!(foreign.json::<Value>().await.expect("JSON")["error"], "foreign_owner");

    let client = reqwest::Client::new();
    let url = format!("{}{PATH}", app.address);
    let garbled = "bm90IGNpcGhlcnRleHQ=";
    let signature = ours.signature("1", "n", garbled);
    let answer = client
        .post(&url)
        .query(&[("msg_signature", signature.as_str()), ("timestamp", "1"), ("nonce", "n")])
        .json(&json!({ "encrypt": garbled }))
        .send()
        .await
        .expect("answers");
    assert_eq!(answer.status(), 400);
    assert_eq!(answer.json::<Value>().await.expect("JSON")["error"], "undecryptable");

    let no_query = client.post(&url).json(&json!({ "encrypt": garbled })).send().await.expect("answers");
    assert_eq!(no_query.status(), 400);
    let not_json = client
        .post(&url)
        .query(&[("msg_signature", "x"), ("timestamp", "1"), ("nonce", "n")])
        .body("not json")
        .send()
        .await
        .expect("answers");
    assert_eq!(not_json.status(), 400);

    let text = logs.text();
    for reason in
        ["does not match DINGMEET_EVENT_TOKEN", "encrypted for another app", "does not decrypt", "lacks msg_signature"]
    {
        assert!(text.contains(reason), "a log line says {reason:?}: {text}");
    }
    assert!(!text.contains(TOKEN) && !text.contains(AES_KEY), "no secret in the logs");
}

#[tokio::test]
async fn without_the_settings_there_is_no_events_route() {
    let app = spawn_app().await;
    let answer =
        reqwest::Client::new().post(format!("{}{PATH}", app.address)).body("{}").send().await.expect("answers");
    assert_eq!(answer.status(), 404);
}
