//! The callback endpoint end to end: answered messages, duplicates, the fast ack and secret
//! rotation. The refusals decided before the bot runs (signature, timestamp, size, body, the
//! session-webhook allow-list) are tested without a socket, in `router`.

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
async fn a_timestamp_within_the_hour_is_accepted() {
    let app = spawn_app().await;

    let reply = app.ask_with(app.message("/meeting 123456789").skew_ms(-59 * 60_000)).await;

    assert!(text_of(&reply).contains("产品周会"));
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
    let held = app.sim.meetings().hold("123456789");

    let delivery = app.send(app.message("/meeting 123456789")).await;

    // The ack is back while the lookup it started is still waiting for DingTalk.
    assert_acknowledged(&delivery);
    app.sim.wait_for_conference_calls("123456789", 1, WAIT).await.expect("the lookup started");
    assert!(app.sim.sessions().webhook_posts().is_empty(), "no reply can exist before DingTalk answers");
    held.release();
    let reply = app.reply_to(&delivery).await;
    assert!(text_of(&reply).contains("产品周会"));
}

#[tokio::test]
async fn a_second_secret_in_callback_secrets_also_verifies() {
    let app = spawn_app_with(&[("DINGMEET_CALLBACK_SECRETS", "previous-app-secret, another-one")]).await;

    let reply = app.ask_with(app.message("/meeting 123456789").secret("previous-app-secret")).await;
    assert!(text_of(&reply).contains("产品周会"));
}
