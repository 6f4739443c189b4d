//! When DingTalk fails: each documented error gets its own friendly reply; timeouts and
//! unreadable answers too.

use std::time::Duration;

use dingtalk_sim::scenario::{CodeAnswer, ErrorAnswer};

use crate::helpers::*;

/// The reply to `/meeting <code>`, in the default language.
async fn reply_for(app: &TestApp, code: &str) -> String {
    text_of(&app.ask(&format!("/meeting {code}")).await)
}

#[tokio::test]
async fn invalid_and_missing_room_codes_say_the_code_is_not_valid() {
    let app = spawn_app().await;

    for code in ["400000001", "400000002"] {
        let text = reply_for(&app, code).await;
        assert!(text.contains(&format!("会议号 {code} 无效")), "{code}: {text}");
    }
}

#[tokio::test]
async fn a_param_error_gets_a_friendly_reply_naming_the_code() {
    let app = spawn_app().await;

    let text = reply_for(&app, "400000003").await;

    assert!(text.contains("400000003"), "{text}");
    assert!(!text.contains("paramError"), "no raw error codes for people: {text}");
}

#[tokio::test]
async fn no_permission_tells_the_admin_which_permission_to_grant() {
    let app = spawn_app().await;

    let text = reply_for(&app, "403000000").await;

    assert!(text.contains("VideoConference.Conference.Read"), "{text}");
}

// Single-threaded, so the bot's tasks log through this thread's subscriber.
#[tokio::test(flavor = "current_thread")]
async fn a_missing_scope_named_by_dingtalk_reaches_the_answer_and_the_log_once() {
    let (logs, _guard) = crate::state::capture_logs();
    let app = spawn_app().await;
    app.sim.orgs().set_conference_read(app.sim.home_corp(), false);

    let first = reply_for(&app, "123456789").await;
    let second = reply_for(&app, "987654321").await;

    for text in [&first, &second] {
        assert!(text.contains("VideoConference.Conference.Read") && text.contains("开发者后台"), "{text}");
    }
    let lookups = app.sim.meetings().lookups();
    assert!(lookups.len() >= 2, "DingTalk refused both lookups: {lookups:?}");
    let text = logs.text();
    let lines: Vec<_> = text.lines().filter(|l| l.contains("lacks a permission DingTalk requires")).collect();
    assert_eq!(lines.len(), 1, "once per organisation and scope:\n{text}");
    assert!(lines[0].contains("scope=VideoConference.Conference.Read"), "{}", lines[0]);
    let metrics = reqwest::get(format!("{}/metrics", app.address)).await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains(r#"dingmeet_permission_missing{scope="VideoConference.Conference.Read"} 1"#), "{metrics}");
}

#[tokio::test]
async fn a_system_error_asks_to_try_again_later() {
    let app = spawn_app().await;

    let text = reply_for(&app, "500000000").await;

    assert!(text.contains("再试"), "{text}");
}

#[tokio::test]
async fn a_slow_dingtalk_times_out_into_a_friendly_reply() {
    // The seeded slow code answers after 8 s; the bot gives up after 200 ms.
    let app = spawn_app_with(&[("DINGMEET_UPSTREAM_TIMEOUT_MS", "200")]).await;

    let text = reply_for(&app, "504000000").await;

    assert!(text.contains("再试"), "{text}");
    assert!(!text.contains("跨时区同步会"), "{text}");
}

#[tokio::test]
async fn a_slow_answer_inside_the_timeout_still_makes_a_card() {
    let app = spawn_app().await;
    app.sim.meetings().set_delay("504000000", Duration::from_millis(300));

    let text = reply_for(&app, "504000000").await;

    assert!(text.contains("跨时区同步会"), "{text}");
}

#[tokio::test]
async fn an_answer_that_is_not_json_gets_a_friendly_reply() {
    let app = spawn_app().await;

    let text = reply_for(&app, "200000000").await;

    assert!(text.contains("会议号 200000000"), "{text}");
    assert!(!text.contains("<html>") && !text.contains("Bad Gateway"), "{text}");
}

#[tokio::test]
async fn each_kind_of_failure_has_its_own_reply() {
    let app = spawn_app_with(&[("DINGMEET_UPSTREAM_TIMEOUT_MS", "200")]).await;

    let mut replies = Vec::new();
    for (kind, code) in [
        ("400 invalidRoomCode", "400000001"),
        ("403 noPermission", "403000000"),
        ("500 systemError", "500000000"),
        ("timeout", "504000000"),
        ("undecodable", "200000000"),
    ] {
        replies.push((kind, reply_for(&app, code).await.replace(code, "<code>")));
    }

    for (i, (kind, text)) in replies.iter().enumerate() {
        for (other, other_text) in &replies[i + 1..] {
            assert_ne!(text, other_text, "{kind} and {other} get the same reply");
        }
    }
}

#[tokio::test]
async fn an_answer_can_be_changed_while_the_bot_runs() {
    let app = spawn_app_with(&[("DINGMEET_CACHE_TTL_SECS", "0")]).await;
    assert!(reply_for(&app, "123456789").await.contains("产品周会"));

    app.sim.meetings().set_answer(
        "123456789",
        CodeAnswer::Error(ErrorAnswer { status: 403, code: "noPermission".into(), message: None }),
    );

    assert!(reply_for(&app, "123456789").await.contains("VideoConference.Conference.Read"));
}
