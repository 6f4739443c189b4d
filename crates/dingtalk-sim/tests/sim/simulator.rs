//! The simulator's own wire format, pinned to docs/dingtalk-protocol.md: field names, JSON types,
//! error envelopes, status codes, and the robot messages its callback sender builds.

use std::time::Duration;

use dingtalk_sim::sign::sign;
use dingtalk_sim::{Scenario, SimClock, Simulator};
use serde_json::{Value, json};

use crate::http;

/// A simulator on a frozen clock (2026-11-26 14:30 Shanghai), for tests that move time.
async fn frozen() -> Simulator {
    let scenario = Scenario::builtin().expect("valid");
    Simulator::start_with(scenario, SimClock::frozen(1_795_674_600_000)).await.expect("starts")
}

async fn live() -> Simulator {
    Simulator::start(Scenario::builtin().expect("valid")).await.expect("starts")
}

/// Status, content type and body text of an answer.
async fn read(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, content_type, response.text().await.expect("a body"))
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("JSON expected ({e}): {text}"))
}

fn keys(value: &Value) -> Vec<&str> {
    value.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default()
}

/// Asserts the new-style envelope: exactly `code`, `requestid`, `message`, all strings.
fn assert_envelope(text: &str, code: &str, message: &str) {
    let body = parse(text);
    let mut found = keys(&body);
    found.sort_unstable();
    assert_eq!(found, ["code", "message", "requestid"], "{text}");
    assert_eq!(body["code"], code, "{text}");
    assert_eq!(body["message"], message, "{text}");
    let requestid = body["requestid"].as_str().expect("requestid is a string");
    assert_eq!(requestid.split('-').map(str::len).collect::<Vec<_>>(), [8, 4, 4, 4, 12], "{requestid}");
}

async fn token(sim: &Simulator) -> String {
    let answer = http()
        .post(format!("{}/v1.0/oauth2/accessToken", sim.base_url()))
        .json(&json!({ "appKey": sim.client_id(), "appSecret": sim.client_secret() }))
        .send()
        .await
        .expect("answers");
    let body: Value = answer.json().await.expect("json");
    body["accessToken"].as_str().expect("a token").to_owned()
}

async fn infos(sim: &Simulator, code: &str, token: Option<&str>, query: &str) -> (u16, String, String) {
    let mut request = http().get(format!("{}/v1.0/conference/roomCodes/{code}/infos{query}", sim.base_url()));
    if let Some(token) = token {
        request = request.header("x-acs-dingtalk-access-token", token);
    }
    read(request.send().await.expect("answers")).await
}

// --- Access tokens ------------------------------------------------------------------------------

#[tokio::test]
async fn the_token_endpoint_answers_access_token_and_expire_in() {
    let sim = live().await;

    let response = http()
        .post(format!("{}/v1.0/oauth2/accessToken", sim.base_url()))
        .json(&json!({ "appKey": sim.client_id(), "appSecret": sim.client_secret() }))
        .send()
        .await
        .expect("answers");

    let (status, content_type, text) = read(response).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json;charset=utf-8"));
    let body = parse(&text);
    assert_eq!(keys(&body), ["accessToken", "expireIn"], "{text}");
    assert!(body["accessToken"].as_str().is_some_and(|t| t.len() == 32), "{text}");
    assert_eq!(body["expireIn"], json!(7200), "a number, not a string");
    assert_eq!((sim.tokens().requests(), sim.tokens().issued_count()), (1, 1));
}

#[tokio::test]
async fn bad_credentials_answer_400_invalid_client_id_or_secret_as_captured() {
    let sim = live().await;

    let response = http()
        .post(format!("{}/v1.0/oauth2/accessToken", sim.base_url()))
        .json(&json!({ "appKey": sim.client_id(), "appSecret": "wrong" }))
        .send()
        .await
        .expect("answers");

    let (status, _, text) = read(response).await;
    assert_eq!(status, 400);
    assert!(text.starts_with(r#"{"requestid":""#), "the captured key order: {text}");
    assert_envelope(&text, "invalidClientIdOrSecret", "无效的clientId或者clientSecret");
    assert_eq!((sim.tokens().requests(), sim.tokens().issued_count()), (1, 0));
}

#[tokio::test]
async fn the_token_endpoint_takes_json_only() {
    let sim = live().await;
    let url = format!("{}/v1.0/oauth2/accessToken", sim.base_url());

    let form = http()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("appKey={}&appSecret={}", sim.client_id(), sim.client_secret()))
        .send()
        .await
        .expect("answers");
    let (status, _, text) = read(form).await;
    assert_eq!(status, 400);
    assert_envelope(&text, "Missingbody", "body is mandatory for this action.");

    let garbage = http().post(&url).header("content-type", "application/json").body("{").send().await.expect("answers");
    assert_eq!(garbage.status().as_u16(), 400);

    let no_secret = http().post(&url).json(&json!({ "appKey": sim.client_id() })).send().await.expect("answers");
    let (status, _, text) = read(no_secret).await;
    assert_eq!(status, 400);
    assert_envelope(&text, "MissingappSecret", "appSecret is mandatory for this action.");
}

#[tokio::test]
async fn tokens_expire_by_the_simulator_clock() {
    let sim = frozen().await;
    let token = token(&sim).await;
    assert_eq!(infos(&sim, "123456789", Some(&token), "").await.0, 200);

    sim.clock().advance(Duration::from_secs(7199));
    assert_eq!(infos(&sim, "123456789", Some(&token), "").await.0, 200);

    sim.clock().advance(Duration::from_secs(1));
    let (status, _, text) = infos(&sim, "123456789", Some(&token), "").await;
    assert_eq!(status, 400);
    assert_envelope(&text, "InvalidAuthentication", "不合法的access_token");
}

#[tokio::test]
async fn revoked_tokens_answer_invalid_authentication() {
    let sim = live().await;
    let token = token(&sim).await;

    sim.tokens().revoke_all();

    let (status, _, text) = infos(&sim, "123456789", Some(&token), "").await;
    assert_eq!(status, 400);
    assert_envelope(&text, "InvalidAuthentication", "不合法的access_token");
}

#[tokio::test]
async fn third_party_apps_get_organisation_tokens_from_the_unified_and_classic_routes() {
    let sim = live().await;
    let corp = sim.scenario().app.corp_id.clone();
    let post = |path: String, body: Value| {
        let request = http().post(format!("{}{path}", sim.base_url())).json(&body);
        async move { read(request.send().await.expect("answers")).await }
    };
    let unified = |secret: &str, grant: &str| json!({ "client_id": sim.client_id(), "client_secret": secret, "grant_type": grant });

    let (status, _, text) =
        post(format!("/v1.0/oauth2/{corp}/token"), unified(sim.client_secret(), "client_credentials")).await;
    assert_eq!(status, 200, "{text}");
    let answer = parse(&text);
    assert_eq!(keys(&answer), ["access_token", "expires_in"], "snake_case here: {text}");
    assert_eq!(answer["expires_in"], json!(7200));
    let (status, _, text) = post(format!("/v1.0/oauth2/{corp}/token"), unified("wrong", "client_credentials")).await;
    assert_eq!(status, 400);
    assert_envelope(&text, "invalid.client", "无效的client_id或client_secret");
    let (status, _, text) = post(format!("/v1.0/oauth2/{corp}/token"), unified(sim.client_secret(), "password")).await;
    assert_eq!(status, 400, "{text}");
    let (status, _, text) =
        post("/v1.0/oauth2/dingnotinstalled/token".into(), unified(sim.client_secret(), "client_credentials")).await;
    assert_eq!(status, 401);
    assert_envelope(&text, "unauthorized.client", "应用未被授权");

    let classic = |ticket: &str, corp: &str| json!({ "suiteKey": sim.client_id(), "suiteSecret": sim.client_secret(), "authCorpId": corp, "suiteTicket": ticket });
    let ticket = sim.scenario().app.suite_ticket.clone();
    let (status, _, text) = post("/v1.0/oauth2/corpAccessToken".into(), classic(&ticket, &corp)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(keys(&parse(&text)), ["accessToken", "expireIn"]);
    let (status, _, text) = post("/v1.0/oauth2/corpAccessToken".into(), classic("stale", &corp)).await;
    assert_eq!(status, 400);
    assert_envelope(&text, "invalidSuiteTicket", "suiteTicket无效");
    let (status, _, text) = post("/v1.0/oauth2/corpAccessToken".into(), classic(&ticket, "dingnotinstalled")).await;
    assert_eq!(status, 400);
    assert_envelope(&text, "invalidAuthInfo", "授权关系不存在");
    assert_eq!(sim.tokens().issued_count(), 2);
}

// --- Conference infos ---------------------------------------------------------------------------

#[tokio::test]
async fn the_conference_api_wants_the_token_in_its_header_only() {
    let sim = live().await;
    let token = token(&sim).await;

    let (status, _, text) = infos(&sim, "123456789", None, "").await;
    assert_eq!(status, 400);
    assert_envelope(&text, "AuthenticationFailed.MissingParameter", "缺少参数：x-acs-dingtalk-access-token");

    let (status, _, text) = infos(&sim, "123456789", None, &format!("?access_token={token}")).await;
    assert_eq!(status, 400, "a query token counts as missing");
    assert_envelope(&text, "AuthenticationFailed.MissingParameter", "缺少参数：x-acs-dingtalk-access-token");

    let bearer = http()
        .get(format!("{}/v1.0/conference/roomCodes/123456789/infos", sim.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("answers");
    assert_eq!(bearer.status().as_u16(), 400, "so does Authorization: Bearer");

    let (status, _, text) = infos(&sim, "123456789", Some("not-a-token"), "").await;
    assert_eq!(status, 400, "an invalid token is 400, not 401");
    assert_envelope(&text, "InvalidAuthentication", "不合法的access_token");
    assert_eq!(sim.meetings().conference_calls("123456789"), 4);
}

#[tokio::test]
async fn conference_entries_have_the_documented_names_and_types() {
    let sim = frozen().await;
    let token = token(&sim).await;

    let (status, content_type, text) = infos(&sim, "123456789", Some(&token), "?nextToken=0&maxResults=20").await;

    assert_eq!((status, content_type.as_str()), (200, "application/json;charset=utf-8"));
    assert!(text.starts_with(r#"{"hasMore":false,"totalCount":3,"conferenceList":[{"conferenceId":""#), "{text}");
    let body = parse(&text);
    assert!(body.get("nextToken").is_none(), "no cursor on the last page");
    let list = body["conferenceList"].as_array().expect("an array");
    let documented = [
        "conferenceId",
        "title",
        "roomCode",
        "externalLinkUrl",
        "status",
        "startTime",
        "endTime",
        "confDuration",
        "creatorId",
        "creatorNick",
        "scheduleConferenceId",
        "bizType",
    ];
    for entry in list {
        for key in keys(entry) {
            assert!(documented.contains(&key), "undocumented field {key}");
        }
        for key in ["conferenceId", "title", "roomCode", "externalLinkUrl", "creatorId", "creatorNick", "bizType"] {
            assert!(entry.get(key).is_none_or(Value::is_string), "{key} is a string: {entry}");
        }
        for key in ["status", "startTime", "endTime", "confDuration"] {
            assert!(entry.get(key).is_none_or(Value::is_i64), "{key} is an integer: {entry}");
        }
    }
    let statuses: Vec<i64> = list.iter().filter_map(|e| e["status"].as_i64()).collect();
    assert_eq!(statuses, [2, 0, 1]);
    let biz_types: Vec<&str> = list.iter().filter_map(|e| e["bizType"].as_str()).collect();
    assert_eq!(biz_types, ["0", "3", "audio_conf"]);
    let running = &list[0];
    assert!(running.get("endTime").is_none() && running.get("confDuration").is_none(), "{running}");
    // Relative times: "started 15 minutes ago" by the simulator clock.
    assert_eq!(running["startTime"], json!(1_795_674_600_000_i64 - 15 * 60_000));
    let ended = &list[2];
    assert_eq!(ended["confDuration"], json!(45 * 60_000), "{ended}");
}

#[tokio::test]
async fn a_long_list_is_paged_with_next_token_until_has_more_is_false() {
    let sim = live().await;
    let token = token(&sim).await;

    let mut cursor: Option<String> = None;
    let mut seen = std::collections::HashSet::new();
    let mut sizes = Vec::new();
    loop {
        let query = match &cursor {
            Some(next) => format!("?maxResults=50&nextToken={next}"),
            None => "?maxResults=50".to_owned(),
        };
        let (status, _, text) = infos(&sim, "999000130", Some(&token), &query).await;
        assert_eq!(status, 200, "{text}");
        let page = parse(&text);
        assert_eq!(page["totalCount"], json!(130));
        let list = page["conferenceList"].as_array().expect("list");
        sizes.push(list.len());
        seen.extend(list.iter().filter_map(|e| e["conferenceId"].as_str().map(str::to_owned)));
        if page["hasMore"] == json!(false) {
            break;
        }
        cursor = Some(page["nextToken"].as_str().expect("nextToken is a string").to_owned());
    }
    assert_eq!(sizes, [50, 50, 30]);
    assert_eq!(seen.len(), 130);
    assert_eq!(sim.meetings().conference_calls("999000130"), 3);

    let (_, _, text) = infos(&sim, "999000130", Some(&token), "?maxResults=1000").await;
    assert_eq!(parse(&text)["conferenceList"].as_array().map(Vec::len), Some(100), "pages are at most 100");
}

#[tokio::test]
async fn each_documented_error_has_its_status_and_envelope() {
    let sim = live().await;
    let token = token(&sim).await;

    for (code, status, error) in [
        ("400000001", 400, "invalidRoomCode"),
        ("400000002", 400, "missingRoomCode"),
        ("400000003", 400, "paramError"),
        ("403000000", 403, "noPermission"),
        ("500000000", 500, "systemError"),
    ] {
        let (got, content_type, text) = infos(&sim, code, Some(&token), "").await;
        assert_eq!(got, status, "{code}: {text}");
        assert_eq!(content_type, "application/json;charset=utf-8");
        assert_envelope(&text, error, error);
    }
}

#[tokio::test]
async fn unknown_codes_and_bad_paging_answer_as_documented() {
    let sim = live().await;
    let token = token(&sim).await;

    let (status, _, text) = infos(&sim, "777777777", Some(&token), "").await;
    assert_eq!(status, 200);
    assert_eq!(parse(&text), json!({ "hasMore": false, "totalCount": 0, "conferenceList": [] }));

    let (status, _, text) = infos(&sim, "not-a-code", Some(&token), "").await;
    assert_eq!(status, 400);
    assert_envelope(&text, "invalidRoomCode", "invalidRoomCode");

    for query in ["?maxResults=0", "?maxResults=ten", "?nextToken=abc", "?nextToken=999"] {
        let (status, _, text) = infos(&sim, "123456789", Some(&token), query).await;
        assert_eq!(status, 400, "{query}");
        assert_envelope(&text, "paramError", "paramError");
    }
}

#[tokio::test]
async fn the_garbled_code_answers_html_with_status_200() {
    let sim = live().await;
    let token = token(&sim).await;

    let (status, content_type, text) = infos(&sim, "200000000", Some(&token), "").await;

    assert_eq!((status, content_type.as_str()), (200, "text/html;charset=utf-8"));
    assert!(serde_json::from_str::<Value>(&text).is_err());
}

#[tokio::test]
async fn a_held_code_answers_once_released() {
    let sim = live().await;
    let token = token(&sim).await;
    let held = sim.meetings().hold("123456789");
    let url = format!("{}/v1.0/conference/roomCodes/123456789/infos", sim.base_url());
    let pending = tokio::spawn(http().get(url).header("x-acs-dingtalk-access-token", token).send());

    sim.wait_for_conference_calls("123456789", 1, Duration::from_secs(10)).await.expect("the call arrived");
    assert!(!pending.is_finished());
    held.release();

    let answer = pending.await.expect("task").expect("answers");
    assert_eq!(answer.status().as_u16(), 200);
}

#[tokio::test]
async fn unknown_paths_answer_404_in_the_envelope() {
    let sim = live().await;

    let (status, _, text) =
        read(http().get(format!("{}/v1.0/nothing/here", sim.base_url())).send().await.expect("answers")).await;

    assert_eq!(status, 404);
    assert_envelope(&text, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.");
}

// --- Session webhooks ---------------------------------------------------------------------------

fn markdown(text: &str) -> Value {
    json!({
        "msgtype": "markdown",
        "markdown": { "title": "t", "text": text },
        "at": { "atUserIds": ["manager807"], "atMobiles": [], "isAtAll": false },
    })
}

async fn post_webhook(url: &str, body: &Value) -> Value {
    let response = http().post(url).json(body).send().await.expect("answers");
    let (status, content_type, text) = read(response).await;
    assert_eq!(status, 200, "the session webhook always answers HTTP 200");
    assert_eq!(content_type, "application/json;charset=utf-8");
    let answer = parse(&text);
    assert_eq!(keys(&answer), ["errcode", "errmsg"], "{text}");
    answer
}

#[tokio::test]
async fn the_session_webhook_answers_errcode_0_and_records_the_post() {
    let sim = live().await;
    let callback = sim.message("hi").build();

    let answer = post_webhook(&callback.session_webhook, &markdown("hello")).await;

    assert_eq!(answer, json!({ "errcode": 0, "errmsg": "ok" }));
    let posts = sim.sessions().webhook_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].session, callback.session_id);
    assert_eq!(posts[0].conversation_id.as_deref(), Some(callback.conversation_id.as_str()));
    assert_eq!((posts[0].text(), posts[0].at_user_ids()), (Some("hello"), vec!["manager807".to_owned()]));
}

#[tokio::test]
async fn an_unknown_or_expired_session_answers_300001() {
    let sim = frozen().await;
    let url = sim.sessions().url("0123456789abcdef0123456789abcdef");

    assert_eq!(post_webhook(&url, &markdown("x")).await, json!({ "errcode": 300001, "errmsg": "session 不存在" }));

    let callback = sim.message("hi").build();
    sim.clock().advance(Duration::from_millis(5_400_000 - 1));
    assert_eq!(post_webhook(&callback.session_webhook, &markdown("x")).await["errcode"], json!(0));
    sim.clock().advance(Duration::from_millis(1));
    assert_eq!(post_webhook(&callback.session_webhook, &markdown("x")).await["errcode"], json!(300001));
}

#[tokio::test]
async fn more_than_20_posts_a_minute_in_a_conversation_answer_130101() {
    let sim = frozen().await;
    let callback = sim.message("hi").build();

    for n in 0..20 {
        assert_eq!(post_webhook(&callback.session_webhook, &markdown("x")).await["errcode"], json!(0), "post {n}");
    }
    let answer = post_webhook(&callback.session_webhook, &markdown("x")).await;
    assert_eq!(answer, json!({ "errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute" }));

    // Another conversation has its own budget; the first gets its back after a minute.
    let other = sim.message("hi").single().build();
    assert_eq!(post_webhook(&other.session_webhook, &markdown("x")).await["errcode"], json!(0));
    sim.clock().advance(Duration::from_secs(60));
    assert_eq!(post_webhook(&callback.session_webhook, &markdown("x")).await["errcode"], json!(0));
}

#[tokio::test]
async fn a_body_over_20000_bytes_answers_460101() {
    let sim = live().await;
    let callback = sim.message("hi").build();

    let answer = post_webhook(&callback.session_webhook, &markdown(&"长".repeat(7000))).await;

    assert_eq!(answer, json!({ "errcode": 460101, "errmsg": "message too long, exceed 20000 bytes" }));
    assert!(!sim.sessions().webhook_posts()[0].delivered());
}

#[tokio::test]
async fn malformed_webhook_bodies_answer_an_errcode_with_http_200() {
    let sim = live().await;
    let callback = sim.message("hi").build();

    let missing_text =
        post_webhook(&callback.session_webhook, &json!({"msgtype": "markdown", "markdown": {"title": "t"}})).await;
    assert_eq!(missing_text, json!({ "errcode": 40035, "errmsg": "缺少参数 markdown.text" }));
    let unknown = post_webhook(&callback.session_webhook, &json!({"msgtype": "sticker"})).await;
    assert_eq!(unknown["errcode"], json!(400105));
    let not_json = http().post(&callback.session_webhook).body("hello").send().await.expect("answers");
    assert_eq!(not_json.json::<Value>().await.expect("json")["errcode"], json!(40035));
    assert!(sim.records().delivered_posts().is_empty());
}

// --- Robot OpenAPI ------------------------------------------------------------------------------

fn group_body(sim: &Simulator, param: &Value) -> Value {
    json!({
        "msgParam": param.to_string(),
        "msgKey": "sampleMarkdown",
        "openConversationId": sim.scenario().chat.group_conversation_id,
        "robotCode": sim.client_id(),
    })
}

#[tokio::test]
async fn the_group_send_needs_a_token_and_answers_a_process_query_key() {
    let sim = live().await;
    let url = format!("{}/v1.0/robot/groupMessages/send", sim.base_url());
    let body = group_body(&sim, &json!({ "title": "t", "text": "hello" }));

    let (status, _, text) = read(http().post(&url).json(&body).send().await.expect("answers")).await;
    assert_eq!(status, 400);
    assert_envelope(&text, "AuthenticationFailed.MissingParameter", "缺少参数：x-acs-dingtalk-access-token");

    let token = token(&sim).await;
    let response = http().post(&url).header("x-acs-dingtalk-access-token", &token).json(&body).send().await;
    let (status, _, text) = read(response.expect("answers")).await;
    assert_eq!(status, 200, "{text}");
    let answer = parse(&text);
    assert_eq!(keys(&answer), ["processQueryKey"]);
    assert!(answer["processQueryKey"].is_string());

    let sends = sim.wait_for_openapi_sends(1, Duration::from_secs(10)).await.expect("recorded");
    assert_eq!((sends[0].msg_key(), sends[0].text().as_deref()), (Some("sampleMarkdown"), Some("hello")));
    assert_eq!(sim.openapi_sends().len(), 2, "the refused one is recorded too");
}

#[tokio::test]
async fn the_group_send_refuses_bad_parameters_with_their_codes() {
    let sim = live().await;
    let token = token(&sim).await;
    let url = format!("{}/v1.0/robot/groupMessages/send", sim.base_url());
    let send = |body: Value| {
        let request = http().post(&url).header("x-acs-dingtalk-access-token", &token).json(&body);
        async move { read(request.send().await.expect("answers")).await }
    };

    let long = group_body(&sim, &json!({ "title": "t", "text": "x".repeat(15_000) }));
    let (status, _, text) = send(long).await;
    assert_eq!(status, 400);
    assert_envelope(&text, "invalidParameter.msgParam.invalid", "msgParam is invalid");

    let mut wrong_key = group_body(&sim, &json!({ "title": "t", "text": "x" }));
    wrong_key["msgKey"] = json!("sampleNothing");
    assert!(send(wrong_key).await.2.contains("invalidParameter.msgKey.invalid"));

    let mut missing_text = group_body(&sim, &json!({ "title": "t" }));
    missing_text["msgKey"] = json!("sampleMarkdown");
    assert!(send(missing_text).await.2.contains("invalidParameter.msgParam.invalid"));

    let mut other_robot = group_body(&sim, &json!({ "title": "t", "text": "x" }));
    other_robot["robotCode"] = json!("dingsomeotherrobot");
    assert!(send(other_robot).await.2.contains("invalidParameter.robotCode.auth"));

    let mut no_conversation = group_body(&sim, &json!({ "title": "t", "text": "x" }));
    no_conversation.as_object_mut().expect("object").remove("openConversationId");
    assert!(send(no_conversation).await.2.contains("MissingopenConversationId"));
    assert!(sim.records().accepted_sends().is_empty());
}

#[tokio::test]
async fn a_cool_apps_group_send_names_its_app_instead_of_a_conversation() {
    let sim = live().await;
    let token = token(&sim).await;
    let url = format!("{}/v1.0/robot/groupMessages/send", sim.base_url());
    let mut body = group_body(&sim, &json!({ "title": "t", "text": "x" }));
    body.as_object_mut().expect("object").remove("openConversationId");
    body["coolAppCode"] = json!("COOLAPP-1-10208EE4A1D5F8B7C5BD000W");

    let response = http().post(&url).header("x-acs-dingtalk-access-token", &token).json(&body).send().await;
    let (status, _, text) = read(response.expect("answers")).await;

    assert_eq!(status, 200, "{text}");
    assert_eq!(keys(&parse(&text)), ["processQueryKey"]);
}

#[tokio::test]
async fn the_batch_send_answers_empty_staff_lists_and_takes_at_most_20_users() {
    let sim = live().await;
    let token = token(&sim).await;
    let url = format!("{}/v1.0/robot/oToMessages/batchSend", sim.base_url());
    let body = |users: Vec<String>| {
        json!({
            "robotCode": sim.client_id(),
            "userIds": users,
            "msgKey": "sampleMarkdown",
            "msgParam": json!({ "title": "t", "text": "hello" }).to_string(),
        })
    };

    let ok = http().post(&url).header("x-acs-dingtalk-access-token", &token).json(&body(vec!["manager807".into()]));
    let (status, _, text) = read(ok.send().await.expect("answers")).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.starts_with(r#"{"processQueryKey":""#), "{text}");
    assert!(
        text.ends_with(r#"","invalidStaffIdList":[],"flowControlledStaffIdList":[],"filteredStaffIdList":[]}"#),
        "{text}"
    );
    let answer = parse(&text);
    for list in ["invalidStaffIdList", "flowControlledStaffIdList", "filteredStaffIdList"] {
        assert_eq!(answer[list], json!([]), "{list}");
    }

    let many = (0..21).map(|n| format!("user{n}")).collect();
    let too_many = http().post(&url).header("x-acs-dingtalk-access-token", &token).json(&body(many));
    let (status, _, text) = read(too_many.send().await.expect("answers")).await;
    assert_eq!(status, 400);
    assert_envelope(&text, "invalidParameter.userIds.overMax", "userIds exceeds the maximum of 20");
}

// --- The callback sender ------------------------------------------------------------------------

#[tokio::test]
async fn the_sender_builds_a_group_message_like_dingtalks_capture() {
    let sim = live().await;

    let callback = sim.message("/meeting 123456789").build();

    let body = callback.json().expect("JSON");
    for (key, kind) in [
        ("msgtype", "string"),
        ("msgId", "string"),
        ("conversationId", "string"),
        ("conversationType", "string"),
        ("conversationTitle", "string"),
        ("senderId", "string"),
        ("senderNick", "string"),
        ("senderStaffId", "string"),
        ("senderCorpId", "string"),
        ("chatbotCorpId", "string"),
        ("chatbotUserId", "string"),
        ("robotCode", "string"),
        ("sessionWebhook", "string"),
        ("senderPlatform", "string"),
        ("openThreadId", "string"),
        ("createAt", "number"),
        ("sessionWebhookExpiredTime", "number"),
        ("isAdmin", "bool"),
        ("isInAtList", "bool"),
        ("atUsers", "array"),
        ("text", "object"),
    ] {
        let value = &body[key];
        let ok = match kind {
            "string" => value.is_string(),
            "number" => value.is_i64(),
            "bool" => value.is_boolean(),
            "array" => value.is_array(),
            _ => value.is_object(),
        };
        assert!(ok, "{key} should be a {kind}: {body}");
    }
    assert_eq!(body["msgtype"], "text");
    assert_eq!(body["conversationType"], "2");
    assert_eq!(body["text"]["content"], " /meeting 123456789", "the space the removed @-mention leaves");
    assert_eq!(body["atUsers"], json!([{ "dingtalkId": body["chatbotUserId"] }]));
    let union = body["senderUnionId"].as_str().expect("senderUnionId, as in live captures");
    assert!(union.len() == 26 && union.ends_with("iEiE") && union.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(body["openThreadId"], body["conversationId"]);
    assert_eq!(body["robotCode"], sim.client_id());
    let create_at = body["createAt"].as_i64().expect("ms");
    assert_eq!(body["sessionWebhookExpiredTime"].as_i64(), Some(create_at + 5_400_000));
    let msg_id = body["msgId"].as_str().expect("msgId");
    assert!(msg_id.starts_with("msg") && msg_id.ends_with("=="), "{msg_id}");
    let cid = body["conversationId"].as_str().expect("cid");
    assert!(cid.starts_with("cid") && cid.ends_with('='), "{cid}");
    let webhook = reqwest::Url::parse(body["sessionWebhook"].as_str().expect("url")).expect("a URL");
    assert_eq!((webhook.host_str(), webhook.path()), (Some("127.0.0.1"), "/robot/sendBySession"));
    let session = webhook.query_pairs().find(|(k, _)| k == "session").map(|(_, v)| v.into_owned()).expect("session");
    assert!(session.len() == 32 && session.bytes().all(|b| b.is_ascii_hexdigit()), "{session}");
    assert!(sim.sessions().live(&session).is_some(), "the session is open");

    // Signed as DingTalk signs: the timestamp header text, a newline, the app secret.
    let header = |name: &str| callback.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let timestamp = header("timestamp").expect("a timestamp header");
    assert_eq!(timestamp, create_at.to_string());
    assert_eq!(header("sign"), Some(sign(&timestamp, sim.client_secret())));
}

#[tokio::test]
async fn a_one_to_one_message_has_no_group_fields_and_no_leading_space() {
    let sim = live().await;

    let body = sim.message("/meeting 123456789").single().build().json().expect("JSON");

    assert_eq!(body["conversationType"], "1");
    assert_eq!(body["text"]["content"], "/meeting 123456789");
    for absent in ["conversationTitle", "isInAtList", "atUsers"] {
        assert!(body.get(absent).is_none(), "{absent} in {body}");
    }
    assert_eq!(body["conversationId"].as_str(), Some(sim.scenario().chat.single_conversation_id.as_str()));
}

#[tokio::test]
async fn other_people_mentioned_are_listed_in_at_users_with_their_ids_before_the_robot() {
    let sim = live().await;

    let body = sim.message("/meeting 123456789 @李四").mentioning("manager4220").build().json().expect("JSON");

    let at_users = body["atUsers"].as_array().expect("atUsers");
    assert_eq!(at_users.len(), 2);
    assert_eq!(at_users[0]["staffId"], "manager4220");
    assert_eq!(at_users[0]["unionId"], "z21HjQliSzpw0YWCNxmii6u2Os62cZ62iSZ", "the scenario's unionId of 李四");
    assert!(at_users[0]["dingtalkId"].as_str().is_some_and(|d| d.starts_with("$:LWCP_v1:$")));
    assert_eq!(at_users[1], json!({ "dingtalkId": body["chatbotUserId"] }));
    assert_eq!(
        body["text"]["content"], " /meeting 123456789",
        "their mention is dropped from the text, as DingTalk does"
    );
    let rich =
        sim.message("/meeting new 评审 @李四").mentioning("manager4220").rich_text().build().json().expect("JSON");
    let segments = rich["content"]["richText"].as_array().expect("segments");
    assert!(segments.iter().any(|s| s["text"] == "@李四"), "their own segment in richText: {segments:?}");
    assert!(segments.iter().any(|s| s["text"] == "/meeting new 评审"), "{segments:?}");
}

#[tokio::test]
async fn rich_text_puts_the_words_in_content_segments() {
    let sim = live().await;

    let plain = sim.message("/meeting 123456789").rich_text().build().json().expect("JSON");
    assert_eq!(plain["msgtype"], "richText");
    assert!(plain.get("text").is_none());
    // The robot's @-segment first, as the Mac client keeps it, and no leading space after it.
    assert_eq!(plain["content"]["richText"][0], json!({ "text": "@会议助手" }));
    assert_eq!(plain["content"]["richText"][1], json!({ "text": "/meeting 123456789" }));
    assert_eq!(plain["content"]["richText"][2]["type"], "picture");
    let single = sim.message("/meeting 123456789").single().rich_text().build().json().expect("JSON");
    assert_eq!(single["content"]["richText"][0], json!({ "text": "/meeting 123456789" }));

    let harmony = sim.message("/meeting 123456789").harmony_os().build().json().expect("JSON");
    assert_eq!(harmony["content"]["richText"], json!([{ "text": "@会议助手" }, { "text": "/meeting 123456789" }]));

    let picture = sim.message("").picture().build().json().expect("JSON");
    assert_eq!(picture["msgtype"], "picture");
    assert!(picture["content"]["downloadCode"].is_string() && picture["content"]["pictureDownloadCode"].is_string());
}

#[tokio::test]
async fn sender_options_break_the_message_on_purpose() {
    let sim = frozen().await;
    let now = sim.clock().now_ms();

    let stale = sim.message("x").skew_ms(-7_200_000).build();
    assert_eq!(stale.timestamp_ms, now - 7_200_000);
    let wrong = sim.message("x").secret("other").build();
    let sign_of =
        |c: &dingtalk_sim::sender::Callback| c.headers.iter().find(|(k, _)| k == "sign").map(|(_, v)| v.clone());
    assert_eq!(sign_of(&wrong), Some(sign(&wrong.timestamp_ms.to_string(), "other")));
    assert_eq!(sim.message("x").without_sign().without_timestamp().build().headers, []);

    let expired = sim.message("x").session(dingtalk_sim::sender::SessionMode::Expired).build();
    assert!(expired.json().expect("JSON")["sessionWebhookExpiredTime"].as_i64() < Some(now));
    assert!(sim.sessions().live(&expired.session_id).is_none());
    let unknown = sim.message("x").session(dingtalk_sim::sender::SessionMode::Unknown).build();
    assert!(sim.sessions().live(&unknown.session_id).is_none());
    let foreign = sim.message("x").webhook_host("evil.example").build();
    assert!(foreign.session_webhook.starts_with("https://evil.example/robot/sendBySession?session="));
    let fixed = sim.message("x").msg_id("msgFixed==").build();
    assert_eq!(fixed.msg_id, "msgFixed==");
    assert_eq!(sim.message("x").raw_body("raw").build().body, b"raw");
}

#[tokio::test]
async fn the_sender_posts_json_with_the_signature_headers() {
    use axum::extract::State;
    use axum::http::HeaderMap;
    use tokio::sync::mpsc;

    let sim = live().await;
    let (seen, mut heard) = mpsc::unbounded_channel::<(HeaderMap, Vec<u8>)>();
    let receiver = axum::Router::new()
        .route(
            "/callback",
            axum::routing::post(
                |State(seen): State<mpsc::UnboundedSender<(HeaderMap, Vec<u8>)>>,
                 headers: HeaderMap,
                 body: axum::body::Bytes| async move {
                    let _ = seen.send((headers, body.to_vec()));
                    axum::Json(json!({ "msgtype": "empty" }))
                },
            ),
        )
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}/callback", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let delivery = sim.message("/meeting 123456789").post(&url).await.expect("posted");

    assert_eq!((delivery.status, delivery.json()), (200, Some(json!({ "msgtype": "empty" }))));
    let (headers, body) = heard.recv().await.expect("the receiver heard it");
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(header("content-type"), "application/json; charset=utf-8");
    assert_eq!(header("sign"), sign(&header("timestamp"), sim.client_secret()));
    assert_eq!(body, delivery.callback.body);
}
