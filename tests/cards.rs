//! The card gallery: a snapshot of every card the bot sends, in both languages.
//! Read them together in `tests/snapshots/`; `cargo insta review` after a deliberate change.

use std::sync::Arc;

use dingmeet::bot::commands;
use dingmeet::bot::i18n::{EN, Text, ZH};
use dingmeet::bot::remind::{
    self,
    plan::{Conversation, Instance, Reminder, Stage},
};
use dingmeet::bot::render::{self, CodeResult};
use dingmeet::bot::room_code::RoomCode;
use dingmeet::dingtalk::conference::{ConferenceInfo, Conferences};
use dingmeet::dingtalk::openapi::ApiError;
use dingmeet::dingtalk::reply::OutgoingMessage;
use dingmeet::lang::Lang;

const TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;
/// 2026-11-26 14:30 in Shanghai.
const NOW: i64 = 1_795_674_600_000;
const MINUTE: i64 = 60_000;

fn code(text: &str) -> RoomCode {
    RoomCode::parse(text).expect("valid code")
}

fn meeting(title: &str, status: i64, start: i64) -> ConferenceInfo {
    ConferenceInfo {
        conference_id: Some(format!("conf-{title}")),
        title: Some(title.to_owned()),
        room_code: Some("123456789".to_owned()),
        external_link_url: Some("https://meeting.dingtalk.com/j/AbCdEf".to_owned()),
        status: Some(status),
        start_time: Some(start),
        creator_nick: Some("张三".to_owned()),
        biz_type: Some("3".to_owned()),
        ..ConferenceInfo::default()
    }
}

fn ended(title: &str, start: i64, minutes: i64) -> ConferenceInfo {
    ConferenceInfo {
        end_time: Some(start + minutes * MINUTE),
        conf_duration: Some(minutes * MINUTE),
        ..meeting(title, 1, start)
    }
}

fn found(list: Vec<ConferenceInfo>) -> Result<Arc<Conferences>, ApiError> {
    let total = list.len();
    Ok(Arc::new(Conferences { list, total }))
}

/// The card as DingTalk receives it: title line, then the markdown text.
fn shown(message: &OutgoingMessage) -> String {
    match message {
        OutgoingMessage::Markdown { title, text, at_user_ids } => {
            format!("title: {title}\nat: {at_user_ids:?}\n---\n{text}")
        }
        OutgoingMessage::ActionCard { title, text, button_title, button_url } => {
            format!("title: {title}\nbutton: {button_title} -> {button_url}\n---\n{text}")
        }
    }
}

fn both(name: &str, card: impl Fn(&Text) -> OutgoingMessage) {
    for (lang, t) in [(Lang::Zh, &ZH), (Lang::En, &EN)] {
        insta::assert_snapshot!(format!("{name}_{}", lang.code()), shown(&card(t)));
    }
}

fn typical() -> Vec<ConferenceInfo> {
    vec![
        ended("上周周会", NOW - 7 * 24 * 60 * MINUTE, 45),
        meeting("产品评审", 0, NOW + 120 * MINUTE),
        ConferenceInfo { biz_type: Some("0".into()), ..meeting("每日站会", 2, NOW - 15 * MINUTE) },
        ended("昨天的周会", NOW - 24 * 60 * MINUTE, 65),
        ConferenceInfo {
            biz_type: Some("audio_conf".into()),
            creator_nick: None,
            ..meeting("Audio sync", 0, NOW + 30 * MINUTE)
        },
    ]
}

#[test]
fn a_code_with_meetings_in_every_state() {
    both("typical_group", |t| {
        render::meeting_card(t, TZ, &[(code("123456789"), found(typical()))], 0, Some("manager807"))
    });
}

#[test]
fn a_one_to_one_reply_has_no_mention() {
    both("typical_single", |t| render::meeting_card(t, TZ, &[(code("123456789"), found(typical()))], 0, None));
}

#[test]
fn a_code_without_meetings() {
    both("empty", |t| render::meeting_card(t, TZ, &[(code("987654321"), found(vec![]))], 0, None));
}

#[test]
fn many_instances_are_capped_with_a_closing_count() {
    let list: Vec<_> =
        (0..25).map(|i| ended(&format!("例会 {i}"), NOW - i64::from(i) * 7 * 24 * 60 * MINUTE, 30)).collect();
    let results = [(code("111222333"), Ok(Arc::new(Conferences { list, total: 130 })))];
    both("many", |t| render::meeting_card(t, TZ, &results, 0, None));
}

#[test]
fn hostile_titles_stay_text() {
    let hostile = vec![ConferenceInfo {
        creator_nick: Some("<font color=red>admin</font>".into()),
        external_link_url: Some("https://meeting.dingtalk.com/j/x) [phish](https://evil.example".into()),
        ..meeting("**urgent** [click](https://evil.example)\n# pwned <b>x</b> `code` _i_ | ~s~", 2, NOW)
    }];
    both("hostile", |t| {
        render::meeting_card(t, TZ, &[(code("123456789"), found(hostile.clone()))], 0, Some("manager807"))
    });
}

#[test]
fn every_lookup_error_has_its_own_answer() {
    let errors = [
        ApiError::InvalidRoomCode { code: "invalidRoomCode".into() },
        ApiError::NoPermission { code: "noPermission".into(), scopes: vec!["VideoConference.Conference.Read".into()] },
        ApiError::Upstream { code: "systemError".into(), status: 500 },
        ApiError::Timeout,
        ApiError::Decode("expected value at line 1 column 1".into()),
        ApiError::Network("connection refused".into()),
        ApiError::Throttled { code: "Forbidden.AccessDenied.QpsLimitForApi".into(), retry_after_ms: Some(1000) },
        ApiError::NotAuthorized { code: "unauthorized.client".into() },
        ApiError::BadCredentials { code: "invalidClientIdOrSecret".into() },
        ApiError::SuiteTicket { code: "invalidSuiteTicket".into() },
        ApiError::NoOrganisation,
        ApiError::CircuitOpen { retry_in_secs: 30 },
    ];
    for err in errors {
        let name = format!("error_{}", err.kind());
        both(&name, |t| render::meeting_card(t, TZ, &[(code("123456789"), Err(err.clone()))], 0, None));
    }
}

#[test]
fn several_codes_in_one_reply() {
    let results = [
        (code("123456789"), found(typical()[2..3].to_vec())),
        (code("987654321"), found(vec![])),
        (code("555666777"), Err(ApiError::InvalidRoomCode { code: "invalidRoomCode".into() })),
    ];
    both("several_codes", |t| render::meeting_card(t, TZ, &results, 2, Some("manager807")));
}

#[test]
fn help() {
    both("help", |t| commands::help_card(t, None, None));
}

#[test]
fn notices() {
    both("notice", |t| render::notice_card(t, &[t.missing_code.to_owned()], Some("manager807")));
}

#[test]
fn the_worst_case_card_stays_under_dingtalks_limits() {
    let title = "标题很长".repeat(100);
    let url = format!("https://meeting.dingtalk.com/j/{}", "x".repeat(900));
    let list: Vec<_> = (0..100)
        .map(|i| ConferenceInfo {
            external_link_url: Some(url.clone()),
            creator_nick: Some("名".repeat(100)),
            ..meeting(&format!("{title}{i}"), 2, NOW + i)
        })
        .collect();
    let results: Vec<CodeResult> = (0..5).map(|i| (code(&format!("10000000{i}")), found(list.clone()))).collect();
    for t in [&ZH, &EN] {
        let card = render::meeting_card(t, TZ, &results, 0, Some("manager807"));
        let body = card.webhook_body().to_string();
        let (_, param) = card.msg_key_and_param();
        assert!(body.len() < 20_000, "webhook body {} bytes", body.len());
        assert!(param.len() < 15_000, "msgParam {} bytes", param.len());
        assert!(body.contains("100000004"), "every code keeps its section");
    }
}

fn share(t: &Text, list: Vec<ConferenceInfo>) -> OutgoingMessage {
    render::share_card(t, TZ, &code("123456789"), &found(list))
}

#[test]
fn share_picks_the_meeting_in_progress() {
    both("share_in_progress", |t| share(t, typical()));
}

#[test]
fn share_picks_the_next_meeting_when_none_is_running() {
    let list: Vec<_> = typical().into_iter().filter(|m| m.status != Some(2)).collect();
    both("share_next", |t| share(t, list.clone()));
}

#[test]
fn share_says_when_everything_has_ended() {
    both("share_all_ended", |t| share(t, vec![ended("周会", NOW - 60 * MINUTE, 30)]));
}

#[test]
fn share_says_when_there_is_no_meeting() {
    both("share_none", |t| share(t, vec![]));
}

#[test]
fn share_says_when_the_meeting_has_no_link() {
    both("share_no_link", |t| share(t, vec![ConferenceInfo { external_link_url: None, ..meeting("周会", 2, NOW) }]));
}

#[test]
fn share_explains_lookup_errors() {
    both("share_error", |t| {
        render::share_card(
            t,
            TZ,
            &code("123456789"),
            &Err(ApiError::NoPermission {
                code: "noPermission".into(),
                scopes: vec!["VideoConference.Conference.Read".into()],
            }),
        )
    });
}

#[test]
fn share_has_no_mention_and_a_join_button() {
    let OutgoingMessage::ActionCard { button_url, text, .. } = share(&ZH, typical()) else {
        panic!("share is an action card")
    };
    assert_eq!(button_url, "https://meeting.dingtalk.com/j/AbCdEf");
    assert!(!text.contains('@'));
}

#[test]
fn parse_errors_explain_what_to_send() {
    use dingmeet::bot::commands::{CommandKind, ParseError};
    let cases = [
        ("unknown_with_hint", ParseError::UnknownCommand { word: "/meting".into(), suggestion: Some("/meeting") }),
        ("unknown", ParseError::UnknownCommand { word: "weather".into(), suggestion: None }),
        ("missing_code", ParseError::MissingArgument { command: CommandKind::Meeting }),
        ("bad_code", ParseError::BadCode { input: "12ab".into() }),
        ("bad_language", ParseError::BadLanguage { input: "fr".into() }),
    ];
    for (name, err) in cases {
        both(&format!("parse_{name}"), |t| commands::parse_error_card(t, &err, Some("manager807")));
    }
}

#[test]
fn language_and_access_notices() {
    both("lang_switched", |t| render::notice_card(t, &[t.lang_switched.to_owned()], None));
    both("lang_current", |t| render::notice_card(t, &[t.lang_current.to_owned()], None));
    both("not_allowed", |t| render::notice_card(t, &[t.not_allowed.to_owned()], Some("manager807")));
    both("unsupported", |t| render::notice_card(t, &[t.unsupported_message.to_owned()], None));
}

#[test]
fn the_help_card_lists_every_alias_and_every_listed_alias_parses() {
    use dingmeet::bot::commands::{COMMANDS, parse};
    for t in [&ZH, &EN] {
        let OutgoingMessage::Markdown { text, .. } = commands::help_card(t, None, None) else { panic!("markdown") };
        for spec in COMMANDS {
            for alias in spec.aliases {
                assert!(text.contains(alias), "help lacks {alias}");
                let parsed = parse(&format!("{alias} {}", spec.example)).expect("every listed alias parses");
                assert_eq!(parsed.kind(), spec.kind);
            }
        }
    }
}

fn reminder(started: bool) -> (Reminder, Instance) {
    let instance = Instance {
        id: "conf-1".into(),
        title: Some("产品周会 *每周*".into()),
        start_ms: NOW + 60 * MINUTE,
        end_ms: Some(NOW + 90 * MINUTE),
        url: Some("https://meeting.dingtalk.com/j/123456789".into()),
        started,
        stage: Stage::Checked,
    };
    let next_week = Instance { id: "conf-2".into(), start_ms: NOW + 7 * 24 * 60 * MINUTE, ..instance.clone() };
    let reminder = Reminder {
        code: "123456789".into(),
        minutes: 10,
        set_by: Some("张三".into()),
        lang: "zh".into(),
        set_at_ms: NOW,
        until_ms: NOW + 30 * 24 * 60 * MINUTE,
        next_lookup_ms: Some(NOW + 24 * 60 * MINUTE),
        instances: vec![instance.clone(), next_week],
    };
    (reminder, instance)
}

#[test]
fn reminders_their_confirmation_and_the_list() {
    let tz = chrono_tz::Asia::Shanghai;
    for lang in [Lang::Zh, Lang::En] {
        let (kept, instance) = reminder(false);
        let code = lang.code();
        insta::assert_snapshot!(format!("reminder_{code}"), shown(&remind::reminder_card(lang, tz, &kept, &instance)));
        let (_, started) = reminder(true);
        insta::assert_snapshot!(
            format!("reminder_started_{code}"),
            shown(&remind::reminder_card(lang, tz, &kept, &started))
        );
        let confirmation = remind::confirmation_card(lang, tz, &kept, 30, Some("manager807"));
        insta::assert_snapshot!(format!("remind_confirmation_{code}"), shown(&confirmation));
        let conversation = Conversation {
            target: dingmeet::dingtalk::message::Message::local(String::new()).reply_to,
            reminders: vec![kept],
            unshared: false,
        };
        insta::assert_snapshot!(
            format!("remind_list_{code}"),
            shown(&remind::list_card(lang, tz, Some(&conversation), None))
        );
    }
}
