//! Access tokens: fetched once and reused, refreshed once when DingTalk refuses them (revoked,
//! or expired by DingTalk's clock), and per organisation for third-party apps.

use std::time::Duration;

use dingtalk_sim::{Scenario, SimClock, Simulator};

use crate::helpers::*;

/// The reply to `/meeting <code>`, in the default language.
async fn reply_for(app: &TestApp, code: &str) -> String {
    text_of(&app.ask(&format!("/meeting {code}")).await)
}

#[tokio::test]
async fn a_refused_access_token_is_refreshed_and_the_call_retried_once() {
    let app = spawn_app().await;
    assert!(reply_for(&app, "123456789").await.contains("产品周会"));
    assert_eq!(app.sim.tokens().issued_count(), 1);

    app.sim.tokens().revoke_all();

    let text = reply_for(&app, "111222333").await;
    assert!(text.contains("临时沟通"), "{text}");
    let sim = app.finish().await;
    assert_eq!(sim.tokens().issued_count(), 2, "one new token after InvalidAuthentication");
    assert_eq!(sim.meetings().conference_calls("111222333"), 2, "the refused call and its one retry");
}

#[tokio::test]
async fn a_token_that_expired_by_dingtalks_clock_is_refreshed_too() {
    let mut scenario = Scenario::builtin().expect("valid");
    scenario.app.token_lifetime_secs = 600;
    let sim = Simulator::start_with(scenario, SimClock::real()).await.expect("the simulator starts");
    let app = spawn_app_against(sim, &[]).await;
    assert!(reply_for(&app, "123456789").await.contains("产品周会"));

    // DingTalk's clock passes the token's ten minutes; the bot still holds it (it keeps it 9).
    app.sim.clock().advance(Duration::from_secs(601));

    let text = reply_for(&app, "111222333").await;
    assert!(text.contains("临时沟通"), "{text}");
    assert_eq!(app.sim.tokens().issued_count(), 2);
}

#[tokio::test]
async fn wrong_app_credentials_get_a_misconfiguration_reply() {
    let app = spawn_app_with(&[("DINGMEET_CLIENT_ID", "dingsomeoneelse")]).await;

    let text = reply_for(&app, "123456789").await;

    assert!(text.contains("配置"), "{text}");
    assert_eq!(app.sim.tokens().issued_count(), 0);
}

#[tokio::test]
async fn a_third_party_app_gets_its_organisations_token_from_the_unified_route() {
    let app = spawn_app_with(&[("DINGMEET_APP_TYPE", "third_party")]).await;

    assert!(reply_for(&app, "123456789").await.contains("产品周会"));

    let stranger = text_of(&app.ask_with(app.message("/meeting 123456789").corp_id("dingnotinstalled")).await);
    assert!(stranger.contains("安装") || stranger.contains("授权"), "not authorised there: {stranger}");
}

#[tokio::test]
async fn a_third_party_app_on_the_classic_route_needs_the_current_suite_ticket() {
    let ticket = Scenario::builtin().expect("valid").app.suite_ticket;
    let settings = [
        ("DINGMEET_APP_TYPE", "third_party"),
        ("DINGMEET_CORP_TOKEN_ROUTE", "classic"),
        ("DINGMEET_SUITE_TICKET", ticket.as_str()),
    ];
    let app = spawn_app_with(&settings).await;
    assert!(reply_for(&app, "123456789").await.contains("产品周会"));

    let stale = spawn_app_with(&[
        ("DINGMEET_APP_TYPE", "third_party"),
        ("DINGMEET_CORP_TOKEN_ROUTE", "classic"),
        ("DINGMEET_SUITE_TICKET", "an-old-ticket"),
    ])
    .await;
    let text = reply_for(&stale, "123456789").await;
    assert!(!text.contains("产品周会"), "{text}");
    assert_eq!(stale.sim.tokens().issued_count(), 0);
}
