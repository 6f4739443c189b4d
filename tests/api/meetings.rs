//! Meeting cards from the seeded codes: every status and type, pagination, empty and sparse
//! answers, several codes at once, and the reply language.

use crate::helpers::*;

/// How many meetings a card lists (its `####` headings).
fn listed(text: &str) -> usize {
    text.lines().filter(|line| line.starts_with("#### ")).count()
}

#[tokio::test]
async fn the_card_shows_every_status_and_meeting_type_with_join_links_only_for_live_meetings() {
    let app = spawn_app().await;

    let text = text_of(&app.ask("/meeting 123456789").await);

    for expected in ["会议号 123456789", "共 3 场", "产品周会", "季度规划评审", "客户电话会"] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    for expected in ["进行中", "未开始", "已结束", "即时会议", "预约会议", "语音会议", "张三", "时长"]
    {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    // In progress first, then upcoming, then ended.
    let order: Vec<usize> =
        ["产品周会", "季度规划评审", "客户电话会"].iter().map(|t| text.find(t).expect("listed")).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert_eq!(
        text.matches("](https://meeting.dingtalk.com/j/123456789)").count(),
        2,
        "no link for the ended one: {text}"
    );
}

#[tokio::test]
async fn a_code_with_130_instances_lists_ten_and_counts_the_rest_from_dingtalks_total() {
    let app = spawn_app().await;

    let text = text_of(&app.ask("/meeting 999000130").await);

    assert_eq!(listed(&text), 10, "{text}");
    assert!(text.contains("共 130 场"), "the total comes from totalCount: {text}");
    assert!(text.contains("另有 120 场未列出"), "{text}");
    assert!(text.contains("#### 1. 每日站会 第1期 · 已结束"), "the latest first: {text}");
    let sim = app.finish().await;
    assert_eq!(sim.meetings().conference_calls("999000130"), 5, "pages of 20 until at least 100 instances");
}

#[tokio::test]
async fn a_weekly_meeting_lists_the_next_one_first_and_counts_what_is_not_listed() {
    let app = spawn_app().await;

    let text = text_of(&app.ask("/meeting 246813579").await);

    assert_eq!(listed(&text), 10, "{text}");
    assert!(text.contains("共 12 场") && text.contains("另有 2 场未列出"), "{text}");
    assert!(text.find("未开始").expect("upcoming") < text.find("已结束").expect("ended"), "{text}");
}

#[tokio::test]
async fn a_code_without_meetings_says_none_was_found() {
    let app = spawn_app().await;

    let text = text_of(&app.ask("/meeting 404000000").await);

    assert!(text.contains("没有找到会议号 404000000 的会议"), "{text}");
}

#[tokio::test]
async fn entries_missing_optional_fields_still_make_a_card() {
    let app = spawn_app().await;

    let text = text_of(&app.ask("/meeting 111222333").await);

    assert!(text.contains("临时沟通") && text.contains("进行中"), "{text}");
    assert!(text.contains("（无标题）"), "an untitled meeting is named as such: {text}");
    assert!(!text.contains("时长"), "no duration for meetings that have not ended: {text}");
}

#[tokio::test]
async fn up_to_five_codes_are_answered_in_one_reply_and_the_rest_are_counted() {
    let app = spawn_app().await;

    let text = text_of(&app.ask("/m 123456789 111222333 404000000 246813579 999000130 400000001").await);

    for code in ["123456789", "111222333", "404000000", "246813579", "999000130"] {
        assert!(text.contains(&format!("### 会议号 {code}")), "{code} in {text}");
    }
    assert!(!text.contains("400000001"), "the sixth code is not looked up: {text}");
    assert!(text.contains("其余 1 个没有查询"), "{text}");
    let sim = app.finish().await;
    assert_eq!(sim.records().delivered_posts().len(), 1, "one reply for all codes");
    assert_eq!(sim.meetings().conference_calls("400000001"), 0);
}

#[tokio::test]
async fn a_bare_code_with_spaces_or_full_width_digits_is_a_query() {
    let app = spawn_app().await;

    assert!(text_of(&app.ask("123 456 789").await).contains("产品周会"));
    assert!(text_of(&app.ask("会议 １２３-４５６-７８９").await).contains("产品周会"));
}

#[tokio::test]
async fn replies_are_in_english_with_lang_en() {
    let app = spawn_app_with(&[("DINGMEET_LANG", "en")]).await;

    let reply = app.ask("/meeting 123456789").await;

    let text = text_of(&reply);
    for expected in ["Meeting code 123456789", "In progress", "Not started", "Ended", "Audio meeting", "Join"] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    assert!(reply.title().is_some_and(|t| t.starts_with("Meeting 123456789")), "{:?}", reply.title());
}
