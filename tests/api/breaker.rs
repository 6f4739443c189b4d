//! The circuit breaker in front of the conference API: once DingTalk has failed enough lookups
//! in a row, the next ones cost no call and say so at once; after the cool-down one trial
//! lookup brings the bot back. Proven by counting the simulator's calls, never by timing.

use std::time::Duration;

use dingtalk_sim::scenario::{CodeAnswer, ErrorAnswer};
use tokio::time::Instant;

use crate::helpers::*;

/// The Chinese "paused" reply's words (`upstream_paused`).
const PAUSED: &str = "暂停查询";

fn system_error() -> CodeAnswer {
    CodeAnswer::Error(ErrorAnswer { status: 500, code: "systemError".into(), message: None })
}

async fn reply_for(app: &TestApp, code: &str) -> String {
    text_of(&app.ask(&format!("/meeting {code}")).await)
}

async fn metrics(app: &TestApp) -> String {
    reqwest::get(format!("{}/metrics", app.address)).await.expect("metrics").text().await.expect("a body")
}

#[tokio::test]
async fn after_an_outage_lookups_cost_no_call_and_say_dingtalk_is_not_answering() {
    // A cool-down far longer than the test: no trial can be let through.
    let app = spawn_app_with(&[("DINGMEET_CIRCUIT_FAILURES", "3"), ("DINGMEET_CIRCUIT_COOLDOWN_MS", "600000")]).await;
    app.sim.meetings().set_answer("123456789", system_error());

    for _ in 0..3 {
        let text = reply_for(&app, "123456789").await;
        assert!(text.contains("钉钉那边出错了") && !text.contains(PAUSED), "DingTalk's own error first: {text}");
    }
    assert_eq!(app.sim.meetings().conference_calls("123456789"), 3);

    // Open: the same code, another code, and the same code once DingTalk is healthy again, all
    // answered without a single call.
    let calls_before = app.sim.records().conference_calls;
    let same = reply_for(&app, "123456789").await;
    let other = reply_for(&app, "987654321").await;
    app.sim.meetings().set_answer("123456789", CodeAnswer::Meetings(Vec::new()));
    let healed = reply_for(&app, "123456789").await;
    for text in [&same, &other, &healed] {
        assert!(text.contains(PAUSED) && text.contains("秒后再试"), "{text}");
    }
    assert_eq!(app.sim.records().conference_calls, calls_before, "no conference call while open");

    app.ask_with(app.message("/lang en").conversation_id("cidEnglish==")).await;
    let english = text_of(&app.ask_with(app.message("/meeting 123456789").conversation_id("cidEnglish==")).await);
    assert!(english.contains("DingTalk is not answering right now") && english.contains("try again in"), "{english}");
    assert_eq!(app.sim.records().conference_calls, calls_before, "still no call");

    let text = metrics(&app).await;
    assert!(text.contains("dingmeet_upstream_circuit_open 1"), "{text}");
    assert!(text.contains("dingmeet_upstream_short_circuited_total 4"), "{text}");
}

#[tokio::test]
async fn after_the_cool_down_one_trial_lookup_brings_the_bot_back() {
    // A tiny cool-down, so recovery comes within the test; the rate limit is off because the
    // poll below may ask several times in one conversation.
    let app = spawn_app_with(&[
        ("DINGMEET_CIRCUIT_FAILURES", "2"),
        ("DINGMEET_CIRCUIT_COOLDOWN_MS", "300"),
        ("DINGMEET_RATE_LIMIT_PER_MINUTE", "0"),
    ])
    .await;
    app.sim.meetings().set_answer("555000555", system_error());
    for _ in 0..2 {
        assert!(!reply_for(&app, "555000555").await.contains(PAUSED));
    }
    app.sim.meetings().set_answer("555000555", CodeAnswer::Meetings(Vec::new()));

    // Poll (with a deadline) until the reply is DingTalk's answer rather than the pause.
    let deadline = Instant::now() + WAIT;
    let recovered = loop {
        let text = reply_for(&app, "555000555").await;
        if !text.contains(PAUSED) {
            break text;
        }
        assert!(Instant::now() < deadline, "the bot did not recover: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    assert!(recovered.contains("没有找到会议号 555000555"), "{recovered}");
    assert_eq!(app.sim.meetings().conference_calls("555000555"), 3, "two failures, then exactly one trial");
    // Closed again: another code is looked up at once.
    assert!(reply_for(&app, "123456789").await.contains("产品周会"));
    assert_eq!(app.sim.meetings().conference_calls("123456789"), 1);
    let text = metrics(&app).await;
    assert!(text.contains("dingmeet_upstream_circuit_open 0"), "{text}");
}

#[tokio::test]
async fn refusals_such_as_an_invalid_code_never_open_it() {
    let app = spawn_app_with(&[("DINGMEET_CIRCUIT_FAILURES", "2"), ("DINGMEET_CACHE_TTL_SECS", "0")]).await;

    for _ in 0..4 {
        let text = reply_for(&app, "400000001").await;
        assert!(text.contains("会议号 400000001 无效"), "{text}");
    }

    assert_eq!(app.sim.meetings().conference_calls("400000001"), 4, "every lookup went to DingTalk");
    assert!(metrics(&app).await.contains("dingmeet_upstream_circuit_open 0"));
}
