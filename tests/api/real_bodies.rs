//! Robot callback bodies DingTalk really sent, copied from public repositories into
//! `tests/fixtures/real_callbacks.json` (each entry names its source): posted signed to the bot,
//! each is accepted and answered. Only the session webhook is repointed, at a live simulated
//! session, because the captured one is DingTalk's and long expired.

use serde_json::Value;

use crate::helpers::{TestApp, WAIT, assert_acknowledged, spawn_app, text_of};

const FIXTURES: &str = include_str!("../fixtures/real_callbacks.json");

/// The captured body called `name`.
fn fixture(name: &str) -> Value {
    let fixtures: Value = serde_json::from_str(FIXTURES).expect("the fixture file is JSON");
    let entry = fixtures["fixtures"]
        .as_array()
        .and_then(|all| all.iter().find(|f| f["name"] == name))
        .unwrap_or_else(|| panic!("no fixture {name}"));
    assert!(entry["source"].as_str().is_some_and(|s| s.starts_with("https://")), "{name} cites its source");
    entry["body"].clone()
}

/// Posts the captured body `name` (signed now) and returns the bot's reply text.
async fn post_captured(app: &TestApp, name: &str) -> String {
    let mut body = fixture(name);
    let conversation = body["conversationId"].as_str().expect("a conversationId").to_owned();
    let kind = body["conversationType"].as_str().expect("a conversationType").to_owned();
    let expires = app.sim.clock().now_ms() + 5_400_000;
    let session = app.sim.sessions().open(&conversation, &kind, expires);
    body["sessionWebhook"] = Value::from(app.sim.sessions().url(&session.id));
    body["sessionWebhookExpiredTime"] = Value::from(expires);
    let bytes = serde_json::to_vec(&body).expect("the body serialises");

    let delivery = app.send(app.message("").raw_body(bytes)).await;

    assert_acknowledged(&delivery);
    let reply = app
        .sim
        .wait_until(WAIT, |records| {
            records.webhook_posts.iter().find(|p| p.session == session.id && p.delivered()).cloned()
        })
        .await
        .unwrap_or_else(|_| panic!("{name}: the bot replies on the session webhook"));
    text_of(&reply)
}

#[tokio::test]
async fn a_captured_1on1_hello_from_the_mac_client_is_answered() {
    let app = spawn_app().await;
    let reply = post_captured(&app, "stream_sdk_rust_text_1on1").await;
    assert!(!reply.is_empty());
}

#[tokio::test]
async fn a_captured_rich_text_with_a_picture_is_answered_about_its_text() {
    let app = spawn_app().await;
    let reply = post_captured(&app, "stream_sdk_rust_rich_text_picture_1on1").await;
    assert!(!reply.is_empty());
}

#[tokio::test]
async fn a_captured_stream_frames_data_posted_over_http_is_answered() {
    let app = spawn_app().await;
    let reply = post_captured(&app, "stream_sdk_rust_frame_data_1on1").await;
    assert!(!reply.is_empty());
}

#[tokio::test]
async fn the_protocol_pages_group_message_with_a_misspelled_create_at_is_answered() {
    let app = spawn_app().await;
    let reply = post_captured(&app, "developerpedia_stream_group_text").await;
    assert!(!reply.is_empty());
}

#[tokio::test]
async fn the_message_types_pages_masked_text_sample_is_answered() {
    let app = spawn_app().await;
    let reply = post_captured(&app, "developerpedia_text_1on1").await;
    assert!(!reply.is_empty());
}

#[tokio::test]
async fn the_message_types_pages_rich_text_sample_is_answered() {
    let app = spawn_app().await;
    let reply = post_captured(&app, "developerpedia_rich_text_1on1").await;
    assert!(!reply.is_empty());
}
