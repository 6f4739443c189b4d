//! Upstream economy, proved by counting what reached the simulator (never by timing).

use futures_util::future::join_all;

use crate::helpers::{WAIT, assert_acknowledged, spawn_app, text_of};

const BURST: usize = 200;

#[tokio::test]
async fn a_burst_of_200_queries_for_one_code_costs_one_lookup_and_one_token() {
    let app = spawn_app().await;
    // Hold DingTalk's answer so the queries pile up behind the first one.
    let hold = app.sim.meetings().hold("123456789");
    let sends = (0..BURST).map(|i| {
        let message = app
            .message("/meeting 123456789")
            .conversation_id(&format!("cidBurst{i}=="))
            .msg_id(&format!("msgBurst{i}"));
        app.send(message)
    });
    for delivery in join_all(sends).await {
        assert_acknowledged(&delivery);
    }
    app.sim.wait_for_conference_calls("123456789", 1, WAIT).await.expect("the first lookup arrives");
    hold.release();

    let posts = app.sim.wait_for_webhook_posts(BURST, WAIT).await.expect("every query is answered");
    assert_eq!(posts.len(), BURST, "exactly one reply each");
    assert!(posts.iter().all(|p| text_of(p).contains("产品周会")));
    assert_eq!(app.sim.meetings().conference_calls("123456789"), 1, "one conference call for the whole burst");
    assert!(app.sim.tokens().requests() <= 1, "at most one token fetch, saw {}", app.sim.tokens().requests());

    let metrics = reqwest::get(format!("{}/metrics", app.address)).await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains(r#"dingmeet_cache_requests_total{cache="conference",result="miss"} 1"#), "{metrics}");
    assert!(
        metrics.contains(&format!(r#"dingmeet_cache_requests_total{{cache="conference",result="hit"}} {}"#, BURST - 1)),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_repeated_query_inside_the_cache_lifetime_is_answered_from_the_cache() {
    let app = spawn_app().await;
    let first = text_of(&app.ask("/meeting 123456789").await);
    let second = text_of(&app.ask_with(app.message("/m 123456789").conversation_id("cidAnother==")).await);
    assert_eq!(first, second);
    assert_eq!(app.sim.meetings().conference_calls("123456789"), 1);
}

#[tokio::test]
async fn errors_are_not_cached() {
    let app = spawn_app().await;
    for _ in 0..2 {
        assert!(text_of(&app.ask("/meeting 500000000").await).contains("钉钉"));
    }
    assert_eq!(app.sim.meetings().conference_calls("500000000"), 2);
}

#[tokio::test]
async fn a_zero_cache_lifetime_asks_dingtalk_every_time() {
    let app = crate::helpers::spawn_app_with(&[("DINGMEET_CACHE_TTL_SECS", "0")]).await;
    app.ask("/meeting 123456789").await;
    app.ask_with(app.message("/meeting 123456789").conversation_id("cidAnother==")).await;
    assert_eq!(app.sim.meetings().conference_calls("123456789"), 2);
    assert!(app.sim.tokens().requests() <= 1, "the token is still cached");
}
