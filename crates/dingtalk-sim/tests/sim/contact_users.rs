//! The old-style contact API on the wire: `POST /topapi/v2/user/get?access_token=` answers a
//! scenario person in `{"errcode":0,"errmsg":"ok","result":{…}}`, and every refusal is HTTP 200
//! with its `errcode`: `40014` for a token that is missing, unknown or revoked (or only in the
//! new-style header), `60011` without `qyapi_get_member`, `400002` for a body naming no one,
//! `33012` for a staff id the token's organisation does not have.

use dingtalk_sim::state::users::User;
use dingtalk_sim::{Scenario, Simulator};
use serde_json::{Value, json};

use crate::http;

async fn sim() -> Simulator {
    Simulator::start(Scenario::builtin().expect("valid")).await.expect("starts")
}

const PATH: &str = "/topapi/v2/user/get";

/// `POST /topapi/v2/user/get` with `token` in the query (when given): status and body text.
async fn user_get(sim: &Simulator, token: Option<&str>, body: &Value) -> (u16, String) {
    let url = match token {
        Some(token) => format!("{}{PATH}?access_token={token}", sim.base_url()),
        None => format!("{}{PATH}", sim.base_url()),
    };
    let response = http().post(url).json(body).send().await.expect("answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

fn errcode(text: &str) -> i64 {
    serde_json::from_str::<Value>(text).expect("json")["errcode"].as_i64().expect("an errcode")
}

#[tokio::test]
async fn a_scenario_user_is_answered_in_the_documented_shape() {
    let sim = sim().await;
    let (token, _) = sim.tokens().issue(sim.home_corp());
    let (status, text) = user_get(&sim, Some(&token), &json!({"userid": "manager4220", "language": "zh_CN"})).await;
    assert_eq!(status, 200);
    assert_eq!(
        text,
        r#"{"errcode":0,"errmsg":"ok","result":{"userid":"manager4220","unionid":"z21HjQliSzpw0YWCNxmii6u2Os62cZ62iSZ","name":"李四"}}"#
    );
    let lookups = sim.users().lookups();
    assert_eq!(lookups.len(), 1);
    assert_eq!(lookups[0].staff_id.as_deref(), Some("manager4220"));
    assert_eq!(lookups[0].corp_id.as_deref(), Some(sim.home_corp()));
    assert_eq!(lookups[0].errcode, 0);
}

#[tokio::test]
async fn a_user_without_a_union_id_gets_a_stable_one_shaped_like_dingtalks() {
    let sim = sim().await;
    let (token, _) = sim.tokens().issue(sim.home_corp());
    let (_, text) = user_get(&sim, Some(&token), &json!({"userid": "manager807"})).await;
    let answer: Value = serde_json::from_str(&text).expect("json");
    let union_id = answer["result"]["unionid"].as_str().expect("a union id").to_owned();
    assert!(union_id.ends_with("iEiE") && union_id.len() == 26, "{union_id}");
    assert_eq!(answer["result"]["name"], "张三");
    let again = sim.users().get(sim.home_corp(), "manager807").expect("known");
    assert_eq!(again.union_id, union_id, "the same every time");
}

#[tokio::test]
async fn a_staff_id_the_organisation_does_not_have_is_33012() {
    let sim = sim().await;
    let home = sim.home_corp().to_owned();
    let (token, _) = sim.tokens().issue(&home);
    let (status, text) = user_get(&sim, Some(&token), &json!({"userid": "nobody"})).await;
    assert_eq!((status, text.as_str()), (200, r#"{"errcode":33012,"errmsg":"无效的userId"}"#));
    // Another organisation's person is not this token's to see, and is its own token's.
    let (_, text) = user_get(&sim, Some(&token), &json!({"userid": "880001"})).await;
    assert_eq!(errcode(&text), 33_012);
    let other = sim.scenario().orgs.iter().find(|o| o.name == "北辰物流").expect("builtin").corp_id.clone();
    let (other_token, _) = sim.tokens().issue(&other);
    let (_, text) = user_get(&sim, Some(&other_token), &json!({"userid": "880001"})).await;
    assert_eq!(errcode(&text), 0, "{text}");
    let (_, text) = user_get(&sim, Some(&other_token), &json!({"userid": "manager4220"})).await;
    assert_eq!(errcode(&text), 33_012);
}

#[tokio::test]
async fn a_token_missing_unknown_revoked_or_in_the_header_is_40014() {
    let sim = sim().await;
    let body = json!({"userid": "manager4220"});
    let invalid = r#"{"errcode":40014,"errmsg":"不合法的access_token"}"#;
    assert_eq!(user_get(&sim, None, &body).await, (200, invalid.to_owned()));
    assert_eq!(user_get(&sim, Some("never-issued"), &body).await, (200, invalid.to_owned()));
    let (token, _) = sim.tokens().issue(sim.home_corp());
    let in_header = http()
        .post(format!("{}{PATH}", sim.base_url()))
        .header("x-acs-dingtalk-access-token", &token)
        .json(&body)
        .send()
        .await
        .expect("answers");
    assert_eq!(in_header.status().as_u16(), 200);
    assert_eq!(in_header.text().await.expect("a body"), invalid, "the old style reads only the query");
    sim.tokens().revoke_all();
    assert_eq!(user_get(&sim, Some(&token), &body).await, (200, invalid.to_owned()));
    assert!(sim.users().lookups().iter().all(|l| l.errcode == 40_014 && l.corp_id.is_none()));
}

#[tokio::test]
async fn without_qyapi_get_member_the_answer_is_60011() {
    let sim = sim().await;
    let home = sim.home_corp().to_owned();
    let (token, _) = sim.tokens().issue(&home);
    sim.orgs().set_member_read(&home, false);
    let (status, text) = user_get(&sim, Some(&token), &json!({"userid": "manager4220"})).await;
    assert_eq!(status, 200);
    assert_eq!(errcode(&text), 60_011);
    assert!(text.contains("qyapi_get_member"), "{text}");
    sim.orgs().set_member_read(&home, true);
    let (_, text) = user_get(&sim, Some(&token), &json!({"userid": "manager4220"})).await;
    assert_eq!(errcode(&text), 0);
}

#[tokio::test]
async fn a_body_naming_no_one_is_400002() {
    let sim = sim().await;
    let (token, _) = sim.tokens().issue(sim.home_corp());
    for body in [json!({}), json!({"userid": ""}), json!({"userid": 42}), json!(["manager4220"])] {
        let (status, text) = user_get(&sim, Some(&token), &body).await;
        assert_eq!((status, text.as_str()), (200, r#"{"errcode":400002,"errmsg":"无效的参数"}"#), "{body}");
    }
    let url = format!("{}{PATH}?access_token={token}", sim.base_url());
    let form = http().post(url).body("userid=manager4220").send().await.expect("answers");
    assert_eq!(errcode(&form.text().await.expect("a body")), 400_002, "JSON only");
}

#[tokio::test]
async fn a_test_can_add_people() {
    let sim = sim().await;
    let home = sim.home_corp().to_owned();
    let user = User { staff_id: "added01".to_owned(), union_id: "addedUnion01".to_owned(), name: "王五".to_owned() };
    sim.users().add(&home, user.clone());
    assert!(sim.users().of(&home).contains(&user));
    let (token, _) = sim.tokens().issue(&home);
    let (_, text) = user_get(&sim, Some(&token), &json!({"userid": "added01"})).await;
    assert_eq!(
        text,
        r#"{"errcode":0,"errmsg":"ok","result":{"userid":"added01","unionid":"addedUnion01","name":"王五"}}"#
    );
}

#[test]
fn scenario_users_are_checked() {
    let base = "[app]\nclient_id = \"id\"\nclient_secret = \"secret\"\n";
    let twice =
        format!("{base}[[users]]\nstaff_id = \"u1\"\nname = \"a\"\n[[users]]\nstaff_id = \"u1\"\nname = \"b\"\n");
    assert!(Scenario::from_toml_str(&twice).is_err(), "a staff id listed twice");
    let nameless = format!("{base}[[users]]\nstaff_id = \"u1\"\nname = \"\"\n");
    assert!(Scenario::from_toml_str(&nameless).is_err(), "a user without a name");
    let fine = format!("{base}[[users]]\nstaff_id = \"u1\"\nname = \"a\"\n");
    let scenario = Scenario::from_toml_str(&fine).expect("valid");
    assert_eq!(scenario.users[0].union_id(), scenario.users[0].union_id(), "stable");
}

#[tokio::test]
async fn an_organisation_listed_without_the_member_scope_is_refused_from_the_start() {
    let mut scenario = Scenario::builtin().expect("valid");
    scenario.orgs[0].member_read = false;
    let corp = scenario.orgs[0].corp_id.clone();
    let staff_id = scenario.orgs[0].users[0].staff_id.clone();
    let sim = Simulator::start(scenario).await.expect("starts");
    assert!(!sim.orgs().member_read(&corp));
    let (token, _) = sim.tokens().issue(&corp);
    let (_, text) = user_get(&sim, Some(&token), &json!({ "userid": staff_id })).await;
    assert_eq!(errcode(&text), 60_011);
}
