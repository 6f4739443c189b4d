//! The traffic metrics' exposition: names, labels, and the series that exist from the start.

use super::*;

#[test]
fn counters_appear_in_the_exposition_with_their_labels() {
    let metrics = Metrics::new();
    metrics.callback(Outcome::Accepted);
    metrics.upstream("conference", "ok", Duration::from_millis(12));
    let text = metrics.render();
    assert!(text.contains(r#"dingmeet_callbacks_total{outcome="accepted"} 1"#), "{text}");
    assert!(text.contains(r#"dingmeet_upstream_requests_total{endpoint="conference",outcome="ok"} 1"#), "{text}");
    assert!(text.contains("dingmeet_upstream_request_duration_seconds_bucket"), "{text}");
}

#[test]
fn kept_series_are_the_familys_own() {
    let metrics = Metrics::new();
    assert!(!metrics.render().contains("commands_total{kind=\"meeting\"}"), "not before its first use");
    for _ in 0..2 {
        metrics.callback(Outcome::Accepted);
        metrics.command("meeting");
        metrics.cache("conference", true);
        metrics.upstream("session_webhook", "ok", Duration::from_millis(3));
        metrics.reply("session_webhook", "ok");
    }
    metrics.command("help");
    let text = metrics.render();
    for line in [
        r#"dingmeet_callbacks_total{outcome="accepted"} 2"#,
        r#"dingmeet_commands_total{kind="meeting"} 2"#,
        r#"dingmeet_commands_total{kind="help"} 1"#,
        r#"dingmeet_cache_requests_total{cache="conference",result="hit"} 2"#,
        r#"dingmeet_upstream_requests_total{endpoint="session_webhook",outcome="ok"} 2"#,
        r#"dingmeet_upstream_request_duration_seconds_count{endpoint="session_webhook"} 2"#,
        r#"dingmeet_replies_total{channel="session_webhook",outcome="ok"} 2"#,
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
}

#[test]
fn alerting_series_exist_before_anything_happens() {
    let text = Metrics::new().render();
    assert!(text.contains(r#"dingmeet_callbacks_total{outcome="bad_signature"} 0"#), "{text}");
    assert!(text.contains(r#"dingmeet_refused_messages_total{reason="rate_limited"} 0"#), "{text}");
    assert!(text.contains(r#"dingmeet_callbacks_total{outcome="not_recorded"} 0"#), "{text}");
    assert!(text.contains(r#"dingmeet_callbacks_total{outcome="webhook_host_not_allowed"} 0"#), "{text}");
    assert!(text.contains(r#"dingmeet_reminders_total{outcome="missed"} 0"#), "{text}");
    assert!(text.contains(r#"dingmeet_token_fetches_total{outcome="ok"} 0"#), "{text}");
    assert!(text.contains("dingmeet_upstream_circuit_open 0"), "{text}");
    assert!(text.contains("dingmeet_upstream_short_circuited_total 0"), "{text}");
    assert!(text.contains(r#"dingmeet_degraded{check="access_token"} 0"#), "{text}");
    assert!(text.contains(r#"dingmeet_degraded{check="redis"} 0"#), "{text}");
}
