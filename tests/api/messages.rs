//! What people send: text with DingTalk's @-mention leftovers, richText (and the HarmonyOS
//! client's repeated mention), pictures, help.

use dingtalk_sim::sender::Format;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn rich_text_is_read_by_joining_its_text_segments() {
    let app = spawn_app().await;

    let reply = app.ask_with(app.message("/meeting 123456789").rich_text()).await;

    assert!(text_of(&reply).contains("产品周会"));
}

#[tokio::test]
async fn the_harmony_os_rich_text_that_repeats_the_mention_is_understood() {
    let app = spawn_app().await;

    let card = app.ask_with(app.message("/meeting 123456789").harmony_os()).await;
    assert!(text_of(&card).contains("产品周会"));

    // The repeated `@会议助手` must not swallow the command glued to it.
    let hint = text_of(&app.ask_with(app.message("/meting 123456789").harmony_os()).await);
    assert!(hint.contains("/meeting"), "a did-you-mean hint: {hint}");
    let bad = text_of(&app.ask_with(app.message("/meeting 12345x789").harmony_os()).await);
    assert!(bad.contains("不是有效的会议号"), "the usage reply for a bad code: {bad}");
}

#[tokio::test]
async fn a_mention_typed_at_the_end_leaves_no_leading_space_and_still_works() {
    let app = spawn_app().await;

    let reply = app.ask_with(app.message("帮助").mention_at_end()).await;

    assert!(text_of(&reply).contains("帮助"), "the help card");
}

#[tokio::test]
async fn a_picture_gets_a_send_me_text_reply() {
    let app = spawn_app().await;

    let reply = app.ask_with(app.message("").picture()).await;

    let text = text_of(&reply);
    assert!(text.contains("我只能读文字消息"), "{text}");
    assert_eq!(reply.at_user_ids(), ["manager807"], "still mentions the sender in a group");
}

#[tokio::test]
async fn an_unsupported_message_kind_gets_the_same_reply() {
    let app = spawn_app().await;
    let unknown = Format::Other {
        msgtype: "unknownMsgType".into(),
        content: json!({ "unknownMsgType": "用户发送了一条消息，机器人暂不支持接收。" }),
    };

    let reply = app.ask_with(app.message("").single().format(unknown)).await;

    assert!(text_of(&reply).contains("我只能读文字消息"));
}

#[tokio::test]
async fn an_empty_mention_gets_help() {
    let app = spawn_app().await;

    let text = text_of(&app.ask("").await);

    assert!(text.contains("/meeting"), "{text}");
}

#[tokio::test]
async fn a_typo_gets_a_did_you_mean_hint() {
    let app = spawn_app().await;

    let text = text_of(&app.ask("/meting 123456789").await);

    assert!(text.contains("/meeting"), "{text}");
    assert_eq!(app.finish().await.meetings().conference_calls("123456789"), 0, "nothing is looked up");
}

#[tokio::test]
async fn a_sender_without_a_staff_id_gets_a_reply_without_a_mention() {
    let app = spawn_app().await;

    let reply = app.ask_with(app.message("/meeting 123456789").sender_staff_id(None)).await;

    assert!(reply.at_user_ids().is_empty());
    assert!(text_of(&reply).contains("产品周会"));
}
