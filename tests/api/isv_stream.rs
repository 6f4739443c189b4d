//! Third-party apps over the Stream: the suite ticket DingTalk pushes (kept in Redis across a restart),
//! and the organisation events (`org_suite_relieve`, `org_suite_auth`, `org_suite_change`) with
//! the change each stands for in the simulated world.

use dingtalk_sim::Pushed;
use dingtalk_sim::records::TokenRoute;
use dingtalk_sim::{MessageBuilder, Scenario, Simulator};

use crate::helpers::{TestApp, WAIT, spawn_app_against, text_of};
use crate::isv::{
    CLASSIC, HOME_MEETING, NOT_INSTALLED_REPLY, OTHER_MEETING, SHARED_CODE, THIRD_PARTY, WAITING_REPLY, org,
};
use crate::redis_server::RedisServer;

const STREAM: (&str, &str) = ("DINGMEET_MODE", "stream");

/// The bot in stream mode against a fresh simulator, once connected.
async fn spawn(settings: &[(&str, &str)]) -> TestApp {
    let sim = Simulator::start(Scenario::builtin().expect("valid")).await.expect("the simulator starts");
    connected(spawn_app_against(sim, settings).await, 1).await
}

/// Waits until the gateway has seen `connections` connections in all.
async fn connected(app: TestApp, connections: usize) -> TestApp {
    app.sim.wait_for_connections(connections, WAIT).await.expect("the bot connects to the Stream gateway");
    app
}

/// Pushes `message` on the Stream and returns the text of the bot's reply.
async fn ask(app: &TestApp, message: MessageBuilder) -> String {
    let pushed = message.push();
    let session = pushed.callback.as_ref().expect("a robot message").session_id.clone();
    let post = app
        .sim
        .wait_until(WAIT, |records| {
            records.webhook_posts.iter().find(|p| p.session == session && p.delivered()).cloned()
        })
        .await
        .expect("the bot replies on the session webhook");
    text_of(&post)
}

async fn ask_from(app: &TestApp, corp: &str, code: &str) -> String {
    ask(app, app.message(&format!("/meeting {code}")).corp_id(corp)).await
}

/// The `status` of the bot's ack of an event (`SUCCESS` or `LATER`).
async fn ack_status(app: &TestApp, pushed: &Pushed) -> String {
    let ack = app.sim.wait_for_answer(&pushed.message_id, WAIT).await.expect("the event is acknowledged");
    assert_eq!(ack.code(), Some(200));
    ack.data_json().and_then(|data| data["status"].as_str().map(str::to_owned)).unwrap_or_default()
}

#[tokio::test]
async fn the_classic_route_works_from_a_ticket_pushed_over_the_stream_and_survives_a_restart_with_redis() {
    let redis = RedisServer::start();
    let url = redis.url();
    let settings = [THIRD_PARTY, CLASSIC, STREAM, ("DINGMEET_REDIS_URL", url.as_str())];
    let app = spawn(&settings).await;
    let home = app.sim.home_corp().to_owned();

    let before = ask_from(&app, &home, SHARED_CODE).await;
    assert!(before.contains(WAITING_REPLY), "no ticket yet: {before}");
    assert_eq!(app.sim.tokens().requests(), 0, "nothing to ask DingTalk with yet");

    let pushed = app.sim.isv().push_suite_ticket("pushed-ticket-1");
    assert_eq!(ack_status(&app, &pushed).await, "SUCCESS");
    let reply = ask_from(&app, &home, SHARED_CODE).await;
    assert!(reply.contains(HOME_MEETING), "{reply}");

    // Bot 1 stops. Bot 2 starts on the same Redis with no DINGMEET_SUITE_TICKET: it finds the
    // pushed ticket there, and no new push is needed.
    let sim = app.finish().await;
    let app = connected(spawn_app_against(sim, &settings).await, 2).await;
    let again = ask_from(&app, &home, SHARED_CODE).await;
    assert!(again.contains(HOME_MEETING), "{again}");

    let calls = app.sim.tokens().calls();
    assert_eq!(calls.len(), 2, "one token per bot: {calls:?}");
    for call in &calls {
        assert_eq!(call.route, TokenRoute::Classic);
        assert_eq!(call.suite_ticket.as_deref(), Some("pushed-ticket-1"));
        assert!(call.issued.is_some(), "{call:?}");
    }
    let lookup_tokens: Vec<_> = app.sim.meetings().lookups().into_iter().filter_map(|l| l.token).collect();
    let issued: Vec<_> = calls.into_iter().filter_map(|c| c.issued).collect();
    assert_eq!(lookup_tokens, issued, "each bot looked up with the token it got from the pushed ticket");
}

#[tokio::test]
async fn a_newer_ticket_replaces_the_stored_one_and_an_empty_push_is_asked_for_again() {
    let app = spawn(&[THIRD_PARTY, CLASSIC, STREAM, ("DINGMEET_SUITE_TICKET", "seeded-but-stale")]).await;
    let home = app.sim.home_corp().to_owned();

    let first = app.sim.isv().push_suite_ticket("ticket-1");
    assert_eq!(ack_status(&app, &first).await, "SUCCESS");
    let second = app.sim.isv().push_suite_ticket("ticket-2");
    assert_eq!(ack_status(&app, &second).await, "SUCCESS");
    let empty =
        app.sim.stream().push_event(dingtalk_sim::StreamEvent::new("suite_ticket", &home, serde_json::json!({})));
    assert_eq!(ack_status(&app, &empty).await, "LATER", "no ticket in it: push it again");

    assert!(ask_from(&app, &home, SHARED_CODE).await.contains(HOME_MEETING));
    let presented: Vec<_> = app.sim.tokens().calls().into_iter().filter_map(|c| c.suite_ticket).collect();
    assert_eq!(presented, ["ticket-2"], "the newest pushed ticket first; the stale seed was never needed");
}

#[tokio::test]
async fn after_org_suite_relieve_the_removed_organisations_token_is_never_presented_again() {
    let app = spawn(&[THIRD_PARTY, STREAM]).await;
    let (home, corp) = (app.sim.home_corp().to_owned(), org("北辰物流"));
    assert!(ask_from(&app, &corp, SHARED_CODE).await.contains(OTHER_MEETING));
    let old_token = app.sim.meetings().lookups()[0].token.clone().expect("a token was presented");

    let relieved = app.sim.isv().relieve_org(&corp);
    assert_eq!(ack_status(&app, &relieved).await, "SUCCESS");
    let before = app.sim.records();

    // The same code as before: neither the cached meetings nor the old token are used.
    let reply = ask_from(&app, &corp, SHARED_CODE).await;

    assert!(reply.contains(NOT_INSTALLED_REPLY), "{reply}");
    let after = app.sim.records();
    let new_calls = &after.token_calls[before.token_calls.len()..];
    assert_eq!(new_calls.len(), 1, "a new token request: {new_calls:?}");
    assert_eq!(new_calls[0].corp_id.as_deref(), Some(corp.as_str()));
    assert_eq!(new_calls[0].refused.as_deref(), Some("unauthorized.client"), "which DingTalk refuses");
    assert_eq!(after.lookups.len(), before.lookups.len(), "no lookup: the old token was not presented");
    assert!(ask_from(&app, &home, SHARED_CODE).await.contains(HOME_MEETING), "other organisations are untouched");

    // It installs the app again: a new token, never the old one.
    let authorised = app.sim.isv().authorise_org(&corp);
    assert_eq!(ack_status(&app, &authorised).await, "SUCCESS");
    assert!(ask_from(&app, &corp, SHARED_CODE).await.contains(OTHER_MEETING));
    let presented: Vec<_> =
        app.sim.meetings().lookups().into_iter().filter(|l| l.token.as_ref() == Some(&old_token)).collect();
    assert_eq!(presented.len(), 1, "the old token only ever before the removal: {presented:?}");
}

#[tokio::test]
async fn org_suite_change_drops_the_organisations_token_so_the_next_message_starts_afresh() {
    let app = spawn(&[THIRD_PARTY, STREAM]).await;
    let corp = org("南山设计");
    let denied = ask_from(&app, &corp, SHARED_CODE).await;
    assert!(denied.contains("VideoConference.Conference.Read"), "{denied}");

    let changed = app.sim.isv().change_org_scope(&corp, true);
    assert_eq!(ack_status(&app, &changed).await, "SUCCESS");
    let granted = ask_from(&app, &corp, SHARED_CODE).await;

    assert!(granted.contains("没有找到会议号 123456789"), "it has no meetings under that code: {granted}");
    let calls = app.sim.records().token_calls_for(&corp).len();
    assert_eq!(calls, 2, "a fresh token after the change");
}

#[tokio::test]
async fn when_dingtalk_refuses_the_pushed_ticket_the_seed_is_tried_next() {
    let seed = Scenario::builtin().expect("valid").app.suite_ticket;
    let app = spawn(&[THIRD_PARTY, CLASSIC, STREAM, ("DINGMEET_SUITE_TICKET", &seed)]).await;
    let home = app.sim.home_corp().to_owned();
    // A ticket the bot keeps but DingTalk does not take (pushed without changing the simulator's).
    let bogus =
        app.sim.stream().push_event(dingtalk_sim::StreamEvent::suite_ticket(&home, "not-a-ticket-dingtalk-takes"));
    assert_eq!(ack_status(&app, &bogus).await, "SUCCESS");

    let reply = ask_from(&app, &home, SHARED_CODE).await;

    assert!(reply.contains(HOME_MEETING), "{reply}");
    let tried: Vec<_> = app.sim.tokens().calls().into_iter().map(|c| (c.suite_ticket, c.refused)).collect();
    assert_eq!(
        tried,
        [(Some("not-a-ticket-dingtalk-takes".to_owned()), Some("invalidSuiteTicket".to_owned())), (Some(seed), None)],
        "the pushed ticket first, then the seed"
    );
}
