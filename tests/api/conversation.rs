//! Every command in both languages through the real bot, `/share` for each meeting
//! state, `/lang` switching and persistence per conversation, and the allow-lists.

use crate::helpers::{spawn_app, spawn_app_with, text_of};

#[tokio::test]
async fn help_is_answered_in_both_languages() {
    for (lang, heading, meeting_line) in
        [("zh", "会议助手 · 帮助", "/meeting 会议号…"), ("en", "Meeting Assistant · Help", "/meeting code…")]
    {
        let app = spawn_app_with(&[("DINGMEET_LANG", lang)]).await;
        let text = text_of(&app.ask("/help").await);
        assert!(text.contains(heading), "{lang}: {text}");
        assert!(text.contains(meeting_line), "{lang}: {text}");
        assert!(text.contains("/share") && text.contains("/lang"), "{lang}: {text}");
    }
}

#[tokio::test]
async fn meeting_is_answered_in_both_languages() {
    for (lang, status) in [("zh", "进行中"), ("en", "In progress")] {
        let app = spawn_app_with(&[("DINGMEET_LANG", lang)]).await;
        let text = text_of(&app.ask("/meeting 123456789").await);
        assert!(text.contains("产品周会") && text.contains(status), "{lang}: {text}");
    }
}

#[tokio::test]
async fn share_posts_a_join_card_for_the_meeting_in_progress_without_a_mention() {
    let app = spawn_app().await;
    let post = app.ask("/share 123456789").await;
    assert_eq!(post.msgtype(), Some("actionCard"));
    let body = post.body.clone().expect("json body");
    let card = &body["actionCard"];
    assert_eq!(card["singleTitle"], "加入会议");
    assert_eq!(card["singleURL"], "https://meeting.dingtalk.com/j/123456789");
    assert_eq!(card["title"], "产品周会");
    let text = card["text"].as_str().expect("text");
    assert!(text.contains("进行中") && !text.contains('@'), "{text}");
    assert!(body.get("at").is_none(), "no @-mention on a shared card: {body}");
}

#[tokio::test]
async fn share_picks_the_next_meeting_when_none_is_running_in_english() {
    let app = spawn_app_with(&[("DINGMEET_LANG", "en")]).await;
    let post = app.ask("/share 246813579").await;
    let body = post.body.clone().expect("json body");
    assert_eq!(body["actionCard"]["singleTitle"], "Join meeting");
    assert_eq!(body["actionCard"]["title"], "技术分享会");
    assert!(body["actionCard"]["text"].as_str().unwrap_or_default().contains("Not started"));
}

#[tokio::test]
async fn share_says_plainly_when_there_is_nothing_to_join() {
    let app = spawn_app().await;
    assert!(text_of(&app.ask("/share 999000130").await).contains("都已结束"));
    assert!(text_of(&app.ask("分享 404000000").await).contains("没有找到会议号 404000000"));
    assert!(text_of(&app.ask("/s 403000000").await).contains("VideoConference.Conference.Read"));
}

#[tokio::test]
async fn lang_switches_one_conversation_and_is_remembered() {
    let app = spawn_app().await;
    let group = app.sim.scenario().chat.group_conversation_id.clone();
    let switched = text_of(&app.ask_with(app.message("/lang en").conversation_id(&group)).await);
    assert!(switched.contains("English replies"), "{switched}");
    let after = text_of(&app.ask_with(app.message("/meeting 123456789").conversation_id(&group)).await);
    assert!(after.contains("In progress"), "{after}");
    let current = text_of(&app.ask_with(app.message("/lang").conversation_id(&group)).await);
    assert!(current.contains("This conversation gets English replies"), "{current}");

    let other = text_of(&app.ask_with(app.message("/meeting 123456789").conversation_id("cidOtherGroup==")).await);
    assert!(other.contains("进行中"), "another conversation keeps the default: {other}");

    let back = text_of(&app.ask_with(app.message("语言 zh").conversation_id(&group)).await);
    assert!(back.contains("中文"), "{back}");
}

#[tokio::test]
async fn an_unknown_language_explains_the_choices() {
    let app = spawn_app().await;
    assert!(text_of(&app.ask("/lang fr").await).contains("zh"));
}

#[tokio::test]
async fn a_conversation_off_the_allow_list_gets_one_polite_refusal_and_no_data() {
    let app = spawn_app_with(&[("DINGMEET_ALLOW_CONVERSATIONS", "cidAllowed==")]).await;
    let refused = text_of(&app.ask("/meeting 123456789").await);
    assert!(refused.contains("只为指定的群和成员服务") && !refused.contains("产品周会"), "{refused}");
    assert!(app.sim.records().conference_calls.is_empty(), "no lookup for a refused message");

    let allowed = text_of(&app.ask_with(app.message("/meeting 123456789").conversation_id("cidAllowed==")).await);
    assert!(allowed.contains("产品周会"), "{allowed}");

    let metrics = reqwest::get(format!("{}/metrics", app.address)).await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains(r#"dingmeet_refused_messages_total{reason="conversation_not_allowed"} 1"#), "{metrics}");
}

#[tokio::test]
async fn a_user_off_the_allow_list_is_refused_in_english_too() {
    let app = spawn_app_with(&[("DINGMEET_ALLOW_USERS", "boss001"), ("DINGMEET_LANG", "en")]).await;
    let refused = text_of(&app.ask("/meeting 123456789").await);
    assert!(refused.contains("only serves certain groups and people"), "{refused}");
    let allowed = text_of(&app.ask_with(app.message("/meeting 123456789").sender_staff_id(Some("boss001"))).await);
    assert!(allowed.contains("产品周会"), "{allowed}");
}

#[tokio::test]
async fn every_error_reply_says_what_to_do_next_in_english() {
    let app = spawn_app_with(&[("DINGMEET_LANG", "en")]).await;
    let cases = [
        ("/meeting 400000001", "not valid"),
        ("/meeting 403000000", "VideoConference.Conference.Read"),
        ("/meeting 500000000", "try again in a minute"),
        ("/meeting abc", "Meeting codes are digits"),
        ("/meeting", "Add a meeting code"),
        ("/meting 123456789", "Did you mean /meeting?"),
    ];
    for (text, expected) in cases {
        let reply = text_of(&app.ask(text).await);
        assert!(reply.contains(expected), "{text}: {reply}");
        assert!(!reply.contains("Error") && !reply.contains("panicked"), "{text}: {reply}");
    }
}
