//! The simulator's organisations on the wire: a token speaks for the organisation it was issued to
//! and sees only that organisation's meetings; an organisation that removed the app loses its
//! tokens; one without the conference scope is refused; a newer suite ticket makes the old stale.

use dingtalk_sim::records::TokenRoute;
use dingtalk_sim::{Scenario, Simulator};
use serde_json::{Value, json};

use crate::http;

async fn sim() -> Simulator {
    Simulator::start(Scenario::builtin().expect("valid")).await.expect("starts")
}

fn corp_named(sim: &Simulator, name: &str) -> String {
    sim.scenario().orgs.iter().find(|o| o.name == name).expect("a builtin organisation").corp_id.clone()
}

/// `POST path` with a JSON body: status and JSON answer.
async fn post(sim: &Simulator, path: &str, body: &Value, token: Option<&str>) -> (u16, Value) {
    let mut request = http().post(format!("{}{path}", sim.base_url())).json(body);
    if let Some(token) = token {
        request = request.header("x-acs-dingtalk-access-token", token);
    }
    let response = request.send().await.expect("answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The unified route for `corp`: status and answer.
async fn unified(sim: &Simulator, corp: &str) -> (u16, Value) {
    let body = json!({ "client_id": sim.client_id(), "client_secret": sim.client_secret(), "grant_type": "client_credentials" });
    post(sim, &format!("/v1.0/oauth2/{corp}/token"), &body, None).await
}

/// The classic route for `corp` with `ticket`: status and answer.
async fn classic(sim: &Simulator, corp: &str, ticket: &str) -> (u16, Value) {
    let body = json!({ "suiteKey": sim.client_id(), "suiteSecret": sim.client_secret(), "authCorpId": corp, "suiteTicket": ticket });
    post(sim, "/v1.0/oauth2/corpAccessToken", &body, None).await
}

async fn token_for(sim: &Simulator, corp: &str) -> String {
    let (status, answer) = unified(sim, corp).await;
    assert_eq!(status, 200, "{answer}");
    answer["access_token"].as_str().expect("a token").to_owned()
}

/// The conference lookup of `code` with `token`: status and answer.
async fn infos(sim: &Simulator, code: &str, token: &str) -> (u16, Value) {
    let response = http()
        .get(format!("{}/v1.0/conference/roomCodes/{code}/infos", sim.base_url()))
        .header("x-acs-dingtalk-access-token", token)
        .send()
        .await
        .expect("answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn titles(answer: &Value) -> Vec<String> {
    let list = answer["conferenceList"].as_array().cloned().unwrap_or_default();
    list.iter().filter_map(|c| c["title"].as_str().map(str::to_owned)).collect()
}

#[tokio::test]
async fn a_token_sees_only_the_meetings_of_the_organisation_it_was_issued_to() {
    let sim = sim().await;
    let (home, other) = (sim.home_corp().to_owned(), corp_named(&sim, "北辰物流"));
    let (home_token, other_token) = (token_for(&sim, &home).await, token_for(&sim, &other).await);

    let (_, ours) = infos(&sim, "123456789", &home_token).await;
    let (_, theirs) = infos(&sim, "123456789", &other_token).await;
    let (status, only_theirs) = infos(&sim, "555666777", &home_token).await;

    assert!(titles(&ours).contains(&"产品周会".to_owned()), "{ours}");
    assert_eq!(titles(&theirs), ["北辰物流 仓储晨会"], "{theirs}");
    assert_eq!(
        (status, only_theirs["totalCount"].as_u64()),
        (200, Some(0)),
        "another organisation's code finds nothing"
    );
    let lookups = sim.meetings().lookups();
    let seen: Vec<_> = lookups.iter().map(|l| (l.token.clone().unwrap_or_default(), l.corp_id.clone())).collect();
    assert_eq!(
        seen,
        [(home_token.clone(), Some(home.clone())), (other_token, Some(other.clone())), (home_token, Some(home))],
        "every lookup is recorded with the token and whose it is"
    );
    assert!(sim.tokens().calls().iter().all(|c| c.route == TokenRoute::Unified && c.issued.is_some()));
}

#[tokio::test]
async fn an_organisation_that_removes_the_app_loses_its_tokens_and_gets_no_new_ones() {
    let sim = sim().await;
    let (home, other) = (sim.home_corp().to_owned(), corp_named(&sim, "北辰物流"));
    let (home_token, other_token) = (token_for(&sim, &home).await, token_for(&sim, &other).await);
    let ticket = sim.tokens().suite_ticket();

    sim.orgs().uninstall(&other);

    let (status, answer) = infos(&sim, "123456789", &other_token).await;
    assert_eq!((status, answer["code"].as_str()), (400, Some("InvalidAuthentication")), "{answer}");
    let (status, answer) = unified(&sim, &other).await;
    assert_eq!((status, answer["code"].as_str()), (401, Some("unauthorized.client")), "{answer}");
    let (status, answer) = classic(&sim, &other, &ticket).await;
    assert_eq!((status, answer["code"].as_str()), (400, Some("invalidAuthInfo")), "{answer}");
    assert_eq!(infos(&sim, "123456789", &home_token).await.0, 200, "the other organisations are untouched");
    assert!(!sim.orgs().installed(&other));

    sim.orgs().install(&other);
    let fresh = token_for(&sim, &other).await;
    assert_eq!(titles(&infos(&sim, "123456789", &fresh).await.1), ["北辰物流 仓储晨会"]);
    let refused: Vec<_> = sim.tokens().calls().into_iter().filter_map(|c| c.refused).collect();
    assert_eq!(refused, ["unauthorized.client", "invalidAuthInfo"]);
}

#[tokio::test]
async fn an_organisation_that_has_not_installed_the_app_gets_no_token() {
    let sim = sim().await;
    let stranger = corp_named(&sim, "西湖茶社");
    let (status, answer) = unified(&sim, &stranger).await;
    assert_eq!((status, answer["code"].as_str()), (401, Some("unauthorized.client")), "{answer}");
    let (status, answer) = classic(&sim, &stranger, &sim.tokens().suite_ticket()).await;
    assert_eq!((status, answer["code"].as_str()), (400, Some("invalidAuthInfo")), "{answer}");
    let (status, _) = unified(&sim, "dingneverheardof").await;
    assert_eq!(status, 401, "nor does a corp the scenario does not know");
    assert_eq!(sim.tokens().issued_count(), 0);
}

#[tokio::test]
async fn an_organisation_without_the_conference_scope_is_refused_with_403() {
    let sim = sim().await;
    let corp = corp_named(&sim, "南山设计");
    let token = token_for(&sim, &corp).await;

    let (status, answer) = infos(&sim, "123456789", &token).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["code"], "Forbidden.AccessDenied.AccessTokenPermissionDenied");

    sim.orgs().set_conference_read(&corp, true);
    assert_eq!(infos(&sim, "123456789", &token).await.0, 200);
}

#[tokio::test]
async fn a_newer_suite_ticket_makes_the_old_one_stale() {
    let sim = sim().await;
    let (home, old) = (sim.home_corp().to_owned(), sim.tokens().suite_ticket());

    sim.tokens().set_suite_ticket("ticket-2");

    let (status, answer) = classic(&sim, &home, &old).await;
    assert_eq!((status, answer["code"].as_str()), (400, Some("invalidSuiteTicket")), "{answer}");
    let (status, answer) = classic(&sim, &home, "ticket-2").await;
    assert_eq!(status, 200, "{answer}");
    let presented: Vec<_> = sim.tokens().calls().into_iter().map(|c| (c.route, c.suite_ticket)).collect();
    assert_eq!(presented, [(TokenRoute::Classic, Some(old)), (TokenRoute::Classic, Some("ticket-2".to_owned()))]);
}

#[tokio::test]
async fn a_message_from_another_organisation_comes_from_its_own_chat_and_only_its_token_can_reply_there() {
    let sim = sim().await;
    let (home, other) = (sim.home_corp().to_owned(), corp_named(&sim, "北辰物流"));

    let callback = sim.message("/meeting 123456789").corp_id(&other).build();
    let body = callback.json().expect("JSON");
    assert_eq!((body["chatbotCorpId"].as_str(), body["senderCorpId"].as_str()), (Some(&*other), Some(&*other)));
    let conversation = body["conversationId"].as_str().expect("a conversation").to_owned();
    assert_ne!(conversation, sim.scenario().chat.group_conversation_id);
    assert_eq!(sim.conversation_corp(&conversation), Some(other.as_str()));

    let send = |token: String| {
        let body = json!({
            "msgKey": "sampleText",
            "msgParam": json!({ "content": "hi" }).to_string(),
            "openConversationId": conversation,
            "robotCode": sim.scenario().app.robot_code(),
        });
        let sim = &sim;
        async move { post(sim, "/v1.0/robot/groupMessages/send", &body, Some(&token)).await }
    };
    let (status, answer) = send(token_for(&sim, &home).await).await;
    assert_eq!((status, answer["code"].as_str()), (400, Some("invalidParameter.openConversationId.invalid")));
    let (status, answer) = send(token_for(&sim, &other).await).await;
    assert_eq!(status, 200, "{answer}");
}
