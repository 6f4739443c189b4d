//! One deployment serving many organisations as a third-party app. Each organisation's
//! messages are answered with its own meetings through its own token (the simulator records which
//! token, and whose, every lookup presented); organisations that have not installed the app, lack
//! the scope, or removed it get told so; the classic route waits for a suite ticket.

use dingtalk_sim::Scenario;
use dingtalk_sim::records::TokenRoute;
use serde_json::Value;

use crate::helpers::*;

pub(crate) const THIRD_PARTY: (&str, &str) = ("DINGMEET_APP_TYPE", "third_party");
pub(crate) const CLASSIC: (&str, &str) = ("DINGMEET_CORP_TOKEN_ROUTE", "classic");

/// The same code in both organisations: the app's own and 北辰物流 mean different meetings by it.
pub(crate) const SHARED_CODE: &str = "123456789";
pub(crate) const HOME_MEETING: &str = "产品周会";
pub(crate) const OTHER_MEETING: &str = "北辰物流 仓储晨会";

pub(crate) const NOT_INSTALLED_REPLY: &str = "本组织还没有安装或授权这个应用";
pub(crate) const WAITING_REPLY: &str = "等待钉钉推送本应用的授权信息";

/// The corp id of the builtin scenario's organisation called `name`.
pub(crate) fn org(name: &str) -> String {
    let scenario = Scenario::builtin().expect("the builtin scenario");
    scenario.orgs.iter().find(|o| o.name == name).unwrap_or_else(|| panic!("no organisation {name}")).corp_id.clone()
}

/// Installed, with its own meetings (one under [`SHARED_CODE`]).
fn beichen() -> String {
    org("北辰物流")
}

/// Installed without `VideoConference.Conference.Read`.
fn nanshan() -> String {
    org("南山设计")
}

/// Has not installed the app.
fn xihu() -> String {
    org("西湖茶社")
}

/// `/meeting <code>` from organisation `corp`, and the text of the reply.
async fn ask_from(app: &TestApp, corp: &str, code: &str) -> String {
    text_of(&app.ask_with(app.message(&format!("/meeting {code}")).corp_id(corp)).await)
}

#[tokio::test]
async fn two_organisations_asking_about_one_code_in_the_same_minute_each_get_their_own_meetings_through_their_own_token()
 {
    let app = spawn_app_with(&[THIRD_PARTY]).await;
    let (home, other) = (app.sim.home_corp().to_owned(), beichen());

    let (home_reply, other_reply) =
        tokio::join!(ask_from(&app, &home, SHARED_CODE), ask_from(&app, &other, SHARED_CODE));

    assert!(home_reply.contains(HOME_MEETING) && !home_reply.contains(OTHER_MEETING), "{home_reply}");
    assert!(other_reply.contains(OTHER_MEETING) && !other_reply.contains(HOME_MEETING), "{other_reply}");
    let records = app.sim.records();
    let lookups = records.lookups_of(SHARED_CODE);
    assert_eq!(lookups.len(), 2, "one lookup per organisation: {lookups:?}");
    let token_seen_for = |corp: &str| -> String {
        let lookup = lookups.iter().find(|l| l.corp_id.as_deref() == Some(corp));
        lookup.and_then(|l| l.token.clone()).unwrap_or_else(|| panic!("no lookup with {corp}'s token: {lookups:?}"))
    };
    let (home_token, other_token) = (token_seen_for(&home), token_seen_for(&other));
    assert_ne!(home_token, other_token);
    for (corp, token) in [(&home, &home_token), (&other, &other_token)] {
        let calls = records.token_calls_for(corp);
        assert_eq!(calls.len(), 1, "one token request for {corp}: {calls:?}");
        assert_eq!(calls[0].route, TokenRoute::Unified);
        assert_eq!(calls[0].issued.as_ref(), Some(token), "the lookup used the token issued for {corp}");
    }

    // Again within the cache's lifetime: answered from the cache, still each its own.
    let other_again = text_of(&app.ask_with(app.message("/m 123456789").corp_id(&other).msg_id("again-1")).await);
    let home_again = text_of(&app.ask_with(app.message("/m 123456789").corp_id(&home).msg_id("again-2")).await);
    assert!(other_again.contains(OTHER_MEETING) && !other_again.contains(HOME_MEETING), "{other_again}");
    assert!(home_again.contains(HOME_MEETING) && !home_again.contains(OTHER_MEETING), "{home_again}");
    assert_eq!(app.sim.records().lookups_of(SHARED_CODE).len(), 2, "no new lookups");
    assert_eq!(app.sim.tokens().requests(), 2, "no new tokens");
}

#[tokio::test]
async fn a_meeting_only_one_organisation_has_is_not_found_from_another() {
    let app = spawn_app_with(&[THIRD_PARTY]).await;

    let theirs = ask_from(&app, &beichen(), "555666777").await;
    let ours = ask_from(&app, app.sim.home_corp(), "555666777").await;

    assert!(theirs.contains("北辰物流 月度复盘"), "{theirs}");
    assert!(ours.contains("没有找到会议号 555666777"), "{ours}");
}

#[tokio::test]
async fn an_organisation_that_has_not_installed_the_app_is_told_so_on_either_route() {
    let ticket = Scenario::builtin().expect("valid").app.suite_ticket;
    for (route, refusal) in [("unified", "unauthorized.client"), ("classic", "invalidAuthInfo")] {
        let app =
            spawn_app_with(&[THIRD_PARTY, ("DINGMEET_CORP_TOKEN_ROUTE", route), ("DINGMEET_SUITE_TICKET", &ticket)])
                .await;
        let stranger = xihu();

        let reply = ask_from(&app, &stranger, SHARED_CODE).await;

        assert!(reply.contains(NOT_INSTALLED_REPLY), "{route}: {reply}");
        let records = app.sim.records();
        let calls = records.token_calls_for(&stranger);
        assert_eq!(calls.len(), 1, "{route}: {calls:?}");
        assert_eq!(calls[0].refused.as_deref(), Some(refusal), "{route}");
        assert!(records.lookups.is_empty(), "{route}: no lookup without a token: {:?}", records.lookups);
    }
}

#[tokio::test]
async fn an_organisation_that_did_not_grant_the_conference_scope_gets_the_permission_reply() {
    let app = spawn_app_with(&[THIRD_PARTY]).await;
    let corp = nanshan();

    let reply = ask_from(&app, &corp, SHARED_CODE).await;

    assert!(reply.contains("VideoConference.Conference.Read") && reply.contains("本组织的管理员"), "{reply}");
    let lookups = app.sim.records().lookups_of(SHARED_CODE).into_iter().cloned().collect::<Vec<_>>();
    assert_eq!(lookups.len(), 1);
    assert_eq!(lookups[0].corp_id.as_deref(), Some(corp.as_str()), "asked with that organisation's own token");
}

fn without_corp_ids(body: &mut Value) {
    if let Some(fields) = body.as_object_mut() {
        fields.remove("chatbotCorpId");
        fields.remove("senderCorpId");
    }
}

#[tokio::test]
async fn a_message_that_names_no_organisation_gets_a_clear_reply_and_costs_no_token() {
    let app = spawn_app_with(&[THIRD_PARTY]).await;

    let reply = text_of(&app.ask_with(app.message("/meeting 123456789").edit(without_corp_ids)).await);

    assert!(reply.contains("没有注明来自哪个组织"), "{reply}");
    assert_eq!(app.sim.tokens().requests(), 0);
    assert!(app.sim.records().lookups.is_empty());
}

#[tokio::test]
async fn http_callbacks_of_a_third_party_app_are_verified_with_its_suite_secret() {
    let app = spawn_app_with(&[THIRD_PARTY]).await;

    // The simulator signs with the app's Client Secret, which for a third-party app is its
    // SuiteSecret (what DINGMEET_CLIENT_SECRET holds).
    let reply = ask_from(&app, &beichen(), SHARED_CODE).await;
    assert!(reply.contains(OTHER_MEETING), "{reply}");

    let forged = app.send(app.message("/meeting 123456789").corp_id(&beichen()).secret("not-the-suite-secret")).await;
    assert_refused(&forged, 401);
    let sim = app.finish().await;
    assert_eq!(sim.meetings().conference_calls(SHARED_CODE), 1, "nothing more was looked up");
    assert_eq!(sim.sessions().webhook_posts().len(), 1, "nothing more was posted");
}

#[tokio::test]
async fn an_organisation_removed_without_the_bot_hearing_of_it_gets_the_not_installed_reply() {
    // In HTTP mode no organisation event reaches the bot: it learns from DingTalk refusing the
    // old token, then refusing a new one.
    let app = spawn_app_with(&[THIRD_PARTY]).await;
    let corp = beichen();
    assert!(ask_from(&app, &corp, "555666777").await.contains("月度复盘"));
    let old_token = app.sim.records().lookups[0].token.clone().expect("a token was presented");

    app.sim.orgs().uninstall(&corp);
    let reply = ask_from(&app, &corp, SHARED_CODE).await;
    let later = ask_from(&app, &corp, "246813579").await;

    assert!(reply.contains(NOT_INSTALLED_REPLY), "{reply}");
    assert!(later.contains(NOT_INSTALLED_REPLY), "{later}");
    let records = app.sim.records();
    let with_old: Vec<_> = records.lookups.iter().filter(|l| l.token.as_ref() == Some(&old_token)).collect();
    assert_eq!(with_old.len(), 2, "used once, refused once, never again: {with_old:?}");
    assert_eq!(with_old[1].corp_id, None, "DingTalk refused it");
    let refused: Vec<_> = records.token_calls_for(&corp).into_iter().filter(|c| c.refused.is_some()).collect();
    assert_eq!(refused.len(), 2, "a new token was asked for each time: {refused:?}");
    assert!(refused.iter().all(|c| c.refused.as_deref() == Some("unauthorized.client")));
}

#[tokio::test]
async fn without_a_suite_ticket_the_classic_route_says_it_is_waiting_for_dingtalk() {
    let app = spawn_app_with(&[THIRD_PARTY, CLASSIC]).await;

    let reply = ask_from(&app, app.sim.home_corp(), SHARED_CODE).await;

    assert!(reply.contains(WAITING_REPLY), "{reply}");
    assert_eq!(app.sim.tokens().requests(), 0, "nothing to ask DingTalk with");
}

#[tokio::test]
async fn a_stale_suite_ticket_gets_the_waiting_reply_too() {
    let app = spawn_app_with(&[THIRD_PARTY, CLASSIC, ("DINGMEET_SUITE_TICKET", "an-old-ticket")]).await;

    let reply = ask_from(&app, app.sim.home_corp(), SHARED_CODE).await;

    assert!(reply.contains(WAITING_REPLY), "{reply}");
    let calls = app.sim.tokens().calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].suite_ticket.as_deref(), Some("an-old-ticket"));
    assert_eq!(calls[0].refused.as_deref(), Some("invalidSuiteTicket"));
}
