//! The callback endpoint: signatures, timestamps, sizes, bodies, duplicates, the fast ack,
//! secret rotation and the session-webhook allow-list.

use crate::helpers::*;

#[tokio::test]
async fn a_signed_group_message_gets_a_card_on_the_session_webhook_that_mentions_the_sender() {
    let app = spawn_app().await;

    let delivery = app.send(app.message("/meeting 123456789")).await;

    assert_acknowledged(&delivery);
    let reply = app.reply_to(&delivery).await;
    assert_eq!(reply.msgtype(), Some("markdown"));
    assert_eq!(reply.at_user_ids(), ["manager807"], "at.atUserIds names the sender");
    let text = text_of(&reply);
    assert!(text.trim_end().ends_with("@manager807"), "the @staffId is in the text: {text}");
    assert!(text.contains("产品周会"), "{text}");
    assert!(reply.title().is_some_and(|t| t.contains("123456789")), "{:?}", reply.title());
}

#[tokio::test]
async fn a_one_to_one_message_gets_a_card_without_any_mention() {
    let app = spawn_app().await;

    let reply = app.ask_with(app.message("/meeting 123456789").single()).await;

    assert!(reply.at_user_ids().is_empty(), "{:?}", reply.body);
    let text = text_of(&reply);
    assert!(!text.contains("@manager807"), "{text}");
    assert!(text.contains("产品周会"), "{text}");
}

#[tokio::test]
async fn a_wrong_signature_is_refused_with_401_and_nothing_is_sent() {
    let app = spawn_app().await;

    let delivery = app.send(app.message("/meeting 123456789").secret("not-the-app-secret")).await;

    assert_refused(&delivery, 401);
    assert_nothing_sent(&app.finish().await);
}

#[tokio::test]
async fn a_timestamp_more_than_an_hour_old_is_refused_with_401() {
    let app = spawn_app().await;

    let delivery = app.send(app.message("/meeting 123456789").skew_ms(-(3_600_000 + 60_000))).await;

    assert_refused(&delivery, 401);
    assert_nothing_sent(&app.finish().await);
}

#[tokio::test]
async fn a_timestamp_more_than_an_hour_ahead_is_refused_with_401() {
    let app = spawn_app().await;

    let delivery = app.send(app.message("/meeting 123456789").skew_ms(3_600_000 + 60_000)).await;

    assert_refused(&delivery, 401);
    assert_nothing_sent(&app.finish().await);
}

#[tokio::test]
async fn a_timestamp_within_the_hour_is_accepted() {
    let app = spawn_app().await;

    let reply = app.ask_with(app.message("/meeting 123456789").skew_ms(-59 * 60_000)).await;

    assert!(text_of(&reply).contains("产品周会"));
}

#[tokio::test]
async fn a_narrower_sign_window_is_honoured() {
    let app = spawn_app_with(&[("DINGMEET_SIGN_WINDOW_SECS", "300")]).await;

    let delivery = app.send(app.message("/meeting 123456789").skew_ms(-301_000)).await;

    assert_refused(&delivery, 401);
    assert_nothing_sent(&app.finish().await);
}

#[tokio::test]
async fn missing_or_malformed_signature_headers_are_refused_with_401() {
    let app = spawn_app().await;

    let cases = [
        ("no timestamp", app.message("/meeting 123456789").without_timestamp()),
        ("no sign", app.message("/meeting 123456789").without_sign()),
        ("neither", app.message("/meeting 123456789").without_timestamp().without_sign()),
        ("not milliseconds", app.message("/meeting 123456789").raw_timestamp("yesterday")),
    ];
    for (case, message) in cases {
        let delivery = app.send(message).await;
        assert_eq!(delivery.status, 401, "{case}: {}", delivery.body);
        assert!(delivery.json().is_some(), "{case}: a JSON error body");
    }
    assert_nothing_sent(&app.finish().await);
}

#[tokio::test]
async fn a_signed_body_that_is_not_json_is_refused_with_400() {
    let app = spawn_app().await;

    let delivery = app.send(app.message("").raw_body("msgtype=text&content=hi")).await;

    assert_refused(&delivery, 400);
    assert_nothing_sent(&app.finish().await);
}

#[tokio::test]
async fn a_json_body_that_is_not_a_robot_message_is_refused_with_400() {
    let app = spawn_app().await;

    let delivery = app.send(app.message("").raw_body(r#"{"hello":"world"}"#)).await;

    assert_refused(&delivery, 400);
    assert_nothing_sent(&app.finish().await);
}

#[tokio::test]
async fn a_body_over_64_kib_is_refused_with_413() {
    let app = spawn_app().await;
    let padding = "x".repeat(64 * 1024);
    let body = format!(r#"{{"msgtype":"text","text":{{"content":"{padding}"}}}}"#);

    let delivery = app.send(app.message("").raw_body(body)).await;

    assert_refused(&delivery, 413);
    assert_nothing_sent(&app.finish().await);
}

#[tokio::test]
async fn the_same_msg_id_delivered_twice_gets_one_reply() {
    let app = spawn_app().await;

    let first = app.send(app.message("/meeting 123456789").msg_id("msgRedelivered+AAAAAAAAAA==")).await;
    let again = app.send(app.message("/meeting 123456789").msg_id("msgRedelivered+AAAAAAAAAA==")).await;

    assert_acknowledged(&first);
    assert_acknowledged(&again);
    let sim = app.finish().await;
    let records = sim.records();
    assert_eq!(records.delivered_posts().len(), 1, "{:?}", records.webhook_posts);
    assert_eq!(records.webhook_posts[0].session, first.callback.session_id);
    assert!(records.openapi_sends.is_empty());
}

#[tokio::test]
async fn the_ack_arrives_before_the_reply_even_while_dingtalk_is_still_answering() {
    let app = spawn_app().await;
    let held = app.sim.hold("123456789");

    let delivery = app.send(app.message("/meeting 123456789")).await;

    // The ack is back while the lookup it started is still waiting for DingTalk.
    assert_acknowledged(&delivery);
    app.sim.wait_for_conference_calls("123456789", 1, WAIT).await.expect("the lookup started");
    assert!(app.sim.webhook_posts().is_empty(), "no reply can exist before DingTalk answers");
    held.release();
    let reply = app.reply_to(&delivery).await;
    assert!(text_of(&reply).contains("产品周会"));
}

#[tokio::test]
async fn a_second_secret_in_callback_secrets_also_verifies() {
    let app = spawn_app_with(&[("DINGMEET_CALLBACK_SECRETS", "previous-app-secret, another-one")]).await;

    let reply = app.ask_with(app.message("/meeting 123456789").secret("previous-app-secret")).await;
    assert!(text_of(&reply).contains("产品周会"));

    let stranger = app.send(app.message("/meeting 123456789").secret("a-secret-nobody-configured")).await;
    assert_refused(&stranger, 401);
}

#[tokio::test]
async fn a_session_webhook_on_a_host_off_the_allow_list_is_refused_with_400_and_nothing_is_sent() {
    let app = spawn_app().await;

    let delivery = app.send(app.message("/meeting 123456789").webhook_host("evil.example")).await;

    assert_refused(&delivery, 400);
    let sim = app.finish().await;
    assert_nothing_sent(&sim);
    assert_eq!(sim.token_requests(), 0);
}
