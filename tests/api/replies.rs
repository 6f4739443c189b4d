//! Where replies go: the session webhook while it lives; the robot OpenAPI (`sampleMarkdown`)
//! once it has expired or DingTalk answers `300001`.

use std::time::Duration;

use dingtalk_sim::records::SendKind;
use dingtalk_sim::sender::SessionMode;
use dingtalk_sim::{Scenario, SimClock, Simulator};

use crate::helpers::*;

#[tokio::test]
async fn an_expired_session_webhook_in_a_group_falls_back_to_the_group_send() {
    let app = spawn_app().await;

    let delivery = app.send(app.message("/meeting 123456789").session(SessionMode::Expired)).await;

    assert_acknowledged(&delivery);
    let sends = app.sim.wait_for_openapi_sends(1, WAIT).await.expect("an OpenAPI send");
    let send = &sends[0];
    assert_eq!(send.kind, SendKind::Group);
    assert_eq!(send.msg_key(), Some("sampleMarkdown"));
    assert_eq!(send.open_conversation_id(), Some(delivery.callback.conversation_id.as_str()));
    assert_eq!(send.robot_code(), Some(app.sim.client_id()));
    let param = send.msg_param().expect("msgParam is a JSON string");
    assert!(param["title"].as_str().is_some_and(|t| t.contains("123456789")), "{param}");
    assert!(send.text().is_some_and(|t| t.contains("产品周会") && t.contains("@manager807")), "{param}");
    let sim = app.finish().await;
    assert!(sim.sessions().webhook_posts().is_empty(), "an expired session webhook is not even tried");
}

#[tokio::test]
async fn an_expired_session_webhook_in_a_one_to_one_chat_falls_back_to_the_batch_send() {
    let app = spawn_app().await;

    let delivery = app.send(app.message("/meeting 123456789").single().session(SessionMode::Expired)).await;

    assert_acknowledged(&delivery);
    let sends = app.sim.wait_for_openapi_sends(1, WAIT).await.expect("an OpenAPI send");
    let send = &sends[0];
    assert_eq!(send.kind, SendKind::OneToOne);
    assert_eq!(send.msg_key(), Some("sampleMarkdown"));
    assert_eq!(send.user_ids(), ["manager807"]);
    assert_eq!(send.robot_code(), Some(app.sim.client_id()));
    assert!(send.text().is_some_and(|t| t.contains("产品周会") && !t.contains("@manager807")));
}

#[tokio::test]
async fn a_session_dingtalk_no_longer_knows_answers_300001_and_the_reply_goes_through_the_openapi() {
    let app = spawn_app().await;

    let delivery = app.send(app.message("/meeting 123456789").session(SessionMode::Unknown)).await;

    assert_acknowledged(&delivery);
    let sends = app.sim.wait_for_openapi_sends(1, WAIT).await.expect("an OpenAPI send");
    assert_eq!(sends[0].kind, SendKind::Group);
    let sim = app.finish().await;
    let posts = sim.sessions().webhook_posts();
    assert_eq!(posts.len(), 1, "the webhook was tried first");
    assert_eq!((posts[0].errcode, posts[0].errmsg.as_str()), (300_001, "session 不存在"));
}

#[tokio::test]
async fn a_session_that_expired_by_dingtalks_clock_falls_back_too() {
    let app = spawn_app().await;
    let held = app.sim.meetings().hold("123456789");

    let delivery = app.send(app.message("/meeting 123456789")).await;
    assert_acknowledged(&delivery);
    app.sim.wait_for_conference_calls("123456789", 1, WAIT).await.expect("the lookup started");
    // The lookup took so long that DingTalk ended the session meanwhile.
    app.sim.sessions().expire_all();
    held.release();

    let sends = app.sim.wait_for_openapi_sends(1, WAIT).await.expect("an OpenAPI send");
    assert!(sends[0].text().is_some_and(|t| t.contains("产品周会")));
}

#[tokio::test]
async fn a_session_webhook_expires_by_the_bots_clock_not_the_wall_clock() {
    let scenario = Scenario::builtin().expect("the builtin scenario is valid");
    let sim = Simulator::start_with(scenario, SimClock::real()).await.expect("the simulator starts");
    let app = spawn_app_in(sim, &[], data_dir(), true).await;
    let held = app.sim.meetings().hold("123456789");

    let delivery = app.send(app.message("/meeting 123456789")).await;
    assert_acknowledged(&delivery);
    app.sim.wait_for_conference_calls("123456789", 1, WAIT).await.expect("the lookup started");
    // The bot's clock (the simulator's) runs past the session's 90 minutes during the lookup;
    // by the wall clock the session would still be alive.
    app.sim.clock().advance(Duration::from_secs(2 * 60 * 60));
    held.release();

    let sends = app.sim.wait_for_openapi_sends(1, WAIT).await.expect("an OpenAPI send");
    assert_eq!(sends[0].kind, SendKind::Group);
    let sim = app.finish().await;
    assert!(sim.sessions().webhook_posts().is_empty(), "a session expired by the bot's clock is not even tried");
}

#[tokio::test]
async fn the_openapi_fallback_refreshes_a_refused_token_once() {
    let app = spawn_app().await;
    assert!(text_of(&app.ask("/meeting 123456789").await).contains("产品周会"));
    let held = app.sim.meetings().hold("111222333");

    let delivery = app.send(app.message("/meeting 111222333").session(SessionMode::Expired)).await;
    assert_acknowledged(&delivery);
    app.sim.wait_for_conference_calls("111222333", 1, WAIT).await.expect("the lookup started");
    // The token dies after the lookup used it and before the send does.
    app.sim.tokens().revoke_all();
    held.release();

    let sends = app.sim.wait_for_openapi_sends(1, WAIT).await.expect("an OpenAPI send");
    assert!(sends[0].text().is_some_and(|t| t.contains("临时沟通")));
    let sim = app.finish().await;
    let refused: Vec<_> = sim.openapi_sends().into_iter().filter(|s| !s.accepted()).collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].error_code.as_deref(), Some("InvalidAuthentication"));
}

#[tokio::test]
async fn a_throttled_session_webhook_130101_hands_the_reply_to_the_openapi() {
    // Allowed above DingTalk's 20 a minute, as when another sender shares the conversation.
    let app = spawn_app_with(&[("DINGMEET_RATE_LIMIT_PER_MINUTE", "40")]).await;
    for i in 0..20 {
        app.ask_with(app.message("/meeting 123456789").msg_id(&format!("msgQuota{i}"))).await;
    }

    let delivery = app.send(app.message("/meeting 123456789").msg_id("msgQuota20")).await;

    assert_acknowledged(&delivery);
    let sends = app.sim.wait_for_openapi_sends(1, WAIT).await.expect("an OpenAPI send");
    assert_eq!(sends[0].kind, SendKind::Group);
    assert_eq!(sends[0].open_conversation_id(), Some(delivery.callback.conversation_id.as_str()));
    assert!(sends[0].text().is_some_and(|t| t.contains("产品周会")));
    let metrics = reqwest::get(format!("{}/metrics", app.address)).await.expect("metrics").text().await.expect("text");
    assert!(
        metrics.contains(r#"dingmeet_replies_total{channel="session_webhook",outcome="throttled"} 1"#),
        "{metrics}"
    );
    let sim = app.finish().await;
    let refused: Vec<_> = sim.sessions().webhook_posts().into_iter().filter(|p| !p.delivered()).collect();
    assert_eq!(refused.len(), 1, "only the 21st post was refused");
    assert_eq!(refused[0].errcode, 130_101);
}

/// The session webhook answering 500 for a moment: the reply is posted again and lands there,
/// once; nothing goes through the OpenAPI.
#[tokio::test]
async fn a_webhook_failing_for_a_moment_is_posted_again_and_answers_once() {
    use dingtalk_sim::state::sessions::PostFailure;
    let app = spawn_app().await;
    let until = app.sim.clock().now_ms() + 600;
    app.sim.sessions().fail_posts_until(until, PostFailure::Status(500));

    let delivery = app.send(app.message("/meeting 123456789")).await;

    assert_acknowledged(&delivery);
    let delivered = app
        .sim
        .wait_until(WAIT, |records| {
            let delivered = records.delivered_posts();
            (!delivered.is_empty()).then_some(delivered.len())
        })
        .await
        .expect("the reply lands on the webhook after the outage");
    assert_eq!(delivered, 1);
    let metrics = reqwest::get(format!("{}/metrics", app.address)).await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains(r#"dingmeet_replies_total{channel="session_webhook",outcome="retried"} 1"#), "{metrics}");
    let sim = app.finish().await;
    let posts = sim.sessions().webhook_posts();
    assert!(posts.iter().any(|p| p.errcode == -1), "at least one post failed on the way: {posts:?}");
    assert_eq!(posts.iter().filter(|p| p.delivered()).count(), 1, "answered once");
    assert!(sim.openapi_sends().is_empty(), "no OpenAPI send");
}

/// The session webhook failing for 30 s: after their retries the replies of the window go
/// through the robot OpenAPI, each exactly once, and the webhook never delivers one too.
#[tokio::test]
async fn a_webhook_failing_for_thirty_seconds_hands_the_reply_to_the_openapi_once() {
    use dingtalk_sim::state::sessions::PostFailure;
    let app = spawn_app().await;
    let until = app.sim.clock().now_ms() + 30_000;
    app.sim.sessions().fail_posts_until(until, PostFailure::Status(502));

    for i in 0..3 {
        let delivery = app.send(app.message("/meeting 123456789").msg_id(&format!("msgOutage{i}"))).await;
        assert_acknowledged(&delivery);
    }

    let sends = app.sim.wait_for_openapi_sends(3, Duration::from_secs(20)).await.expect("three OpenAPI sends");
    assert!(sends.iter().all(|send| send.kind == SendKind::Group));
    assert!(sends.iter().all(|send| send.text().is_some_and(|t| t.contains("产品周会"))));
    let metrics = reqwest::get(format!("{}/metrics", app.address)).await.expect("metrics").text().await.expect("text");
    assert!(
        metrics.contains(r#"dingmeet_replies_total{channel="session_webhook",outcome="failed_over"} 3"#),
        "{metrics}"
    );
    let sim = app.finish().await;
    let posts = sim.sessions().webhook_posts();
    assert!(posts.len() > 3, "each webhook was tried more than once: {posts:?}");
    assert!(posts.iter().all(|p| !p.delivered()), "the webhook delivered nothing");
    assert_eq!(sim.openapi_sends().len(), 3, "every message of the window answered once, through the OpenAPI");
}
