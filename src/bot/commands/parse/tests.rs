//! The grammar's cases: every alias, every spelling of a code, every mistake and its answer.

use proptest::prelude::*;

use super::*;

fn codes(list: &[&str]) -> Command {
    Command::Meeting { codes: list.iter().map(|c| RoomCode::parse(c).expect("a code")).collect(), skipped: 0 }
}

#[test]
fn every_alias_of_meeting_parses() {
    for alias in CommandKind::Meeting.spec().aliases {
        assert_eq!(parse(&format!("{alias} 123456789")), Ok(codes(&["123456789"])), "{alias}");
    }
}

#[test]
fn help_and_empty_messages_ask_for_help() {
    for text in ["/help", "help", "HELP", "帮助", "", "   ", "@会议助手", " @会议助手 "] {
        assert_eq!(parse(text), Ok(Command::Help), "{text:?}");
    }
}

#[test]
fn the_leading_space_dingtalk_leaves_is_trimmed() {
    assert_eq!(parse(" /meeting 123456789"), Ok(codes(&["123456789"])));
    assert_eq!(parse(" 查询会议 123456789"), Ok(codes(&["123456789"])));
}

#[test]
fn mentions_at_either_end_or_glued_are_dropped() {
    assert_eq!(parse("@会议助手 /meeting 123456789"), Ok(codes(&["123456789"])));
    assert_eq!(parse("@会议助手 @会议助手 /m 123456789 @张三"), Ok(codes(&["123456789"])));
    assert_eq!(parse("帮助@机器人"), Ok(Command::Help));
}

#[test]
fn a_bare_code_is_a_query() {
    assert_eq!(parse("123456789"), Ok(codes(&["123456789"])));
    assert_eq!(parse("123-456-789"), Ok(codes(&["123456789"])));
    assert_eq!(parse("123456789, 987654321"), Ok(codes(&["123456789", "987654321"])));
}

#[test]
fn spaces_dashes_and_full_width_forms_are_normalised() {
    assert_eq!(parse("/meeting 123 456 789"), Ok(codes(&["123456789"])));
    assert_eq!(parse("/meeting 123-456-789"), Ok(codes(&["123456789"])));
    assert_eq!(parse("／meeting　１２３４５６７８９"), Ok(codes(&["123456789"])));
    assert_eq!(parse("会议 １２３－４５６－７８９"), Ok(codes(&["123456789"])));
}

#[test]
fn a_chinese_alias_glued_to_its_code_works() {
    assert_eq!(parse("会议123456789"), Ok(codes(&["123456789"])));
    assert_eq!(parse("查询会议123456789"), Ok(codes(&["123456789"])));
}

#[test]
fn several_codes_are_answered_up_to_the_limit() {
    assert_eq!(parse("/m 111111111 222222222"), Ok(codes(&["111111111", "222222222"])));
    assert_eq!(parse("/m 111111111，222222222"), Ok(codes(&["111111111", "222222222"])));
    let many = parse("/m 100000001 100000002 100000003 100000004 100000005 100000006 100000007");
    let Ok(Command::Meeting { codes, skipped }) = many else { panic!("parses: {many:?}") };
    assert_eq!((codes.len(), skipped), (5, 2));
}

#[test]
fn repeated_codes_are_asked_once() {
    assert_eq!(parse("/m 123456789 123-456-789"), Ok(codes(&["123456789"])));
}

#[test]
fn non_digits_get_a_bad_code_error() {
    assert_eq!(parse("/meeting abc"), Err(ParseError::BadCode { input: "abc".into() }));
    assert!(matches!(parse("/meeting 12345x789"), Err(ParseError::BadCode { .. })));
    assert!(matches!(parse(&format!("/m {}", "9".repeat(40))), Err(ParseError::BadCode { .. })));
}

#[test]
fn a_command_without_its_code_says_so() {
    assert_eq!(parse("/meeting"), Err(ParseError::MissingArgument { command: CommandKind::Meeting }));
    assert_eq!(parse("会议 @张三"), Err(ParseError::MissingArgument { command: CommandKind::Meeting }));
}

#[test]
fn a_typo_gets_a_did_you_mean() {
    assert_eq!(
        parse("/meting 123456789"),
        Err(ParseError::UnknownCommand { word: "/meting".into(), suggestion: Some("/meeting") })
    );
    assert_eq!(parse("/hlep"), Err(ParseError::UnknownCommand { word: "/hlep".into(), suggestion: Some("/help") }));
}

#[test]
fn an_unrelated_word_gets_no_suggestion() {
    assert_eq!(parse("weather today"), Err(ParseError::UnknownCommand { word: "weather".into(), suggestion: None }));
}

#[test]
fn commands_are_case_insensitive() {
    assert_eq!(parse("/MEETING 123456789"), Ok(codes(&["123456789"])));
}

#[test]
fn every_alias_of_every_command_parses_to_that_command() {
    for spec in COMMANDS {
        for alias in spec.aliases {
            let text = format!("{alias} {}", spec.example);
            let parsed = parse(text.trim()).unwrap_or_else(|err| panic!("{text:?} fails: {err:?}"));
            assert_eq!(parsed.kind(), spec.kind, "{text:?}");
        }
    }
}

#[test]
fn share_takes_one_code() {
    assert_eq!(parse("/share 123 456 789"), Ok(Command::Share(RoomCode::parse("123456789").expect("a code"))));
    assert_eq!(parse("分享 123456789"), Ok(Command::Share(RoomCode::parse("123456789").expect("a code"))));
    assert_eq!(parse("分享会议123456789"), Ok(Command::Share(RoomCode::parse("123456789").expect("a code"))));
    assert_eq!(parse("/s"), Err(ParseError::MissingArgument { command: CommandKind::Share }));
    assert!(matches!(parse("/share abc"), Err(ParseError::BadCode { .. })));
}

#[test]
fn lang_switches_or_shows_the_language() {
    assert_eq!(parse("/lang en"), Ok(Command::Lang(Some(Lang::En))));
    assert_eq!(parse("语言 中文"), Ok(Command::Lang(Some(Lang::Zh))));
    assert_eq!(parse("/lang"), Ok(Command::Lang(None)));
    assert_eq!(parse("/lang fr"), Err(ParseError::BadLanguage { input: "fr".into() }));
}

#[test]
fn every_alias_in_the_table_is_unique() {
    let mut all: Vec<_> = COMMANDS.iter().flat_map(|s| s.aliases.iter()).collect();
    let before = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), before);
}

#[test]
fn every_command_kind_has_its_entry_and_its_metrics_label() {
    let kinds = [
        CommandKind::Meeting,
        CommandKind::Share,
        CommandKind::Lang,
        CommandKind::Remind,
        CommandKind::NewMeeting,
        CommandKind::EndMeeting,
        CommandKind::Today,
        CommandKind::Help,
    ];
    let labels: Vec<_> = kinds.iter().map(|kind| (kind.spec().kind == *kind).then(|| kind.label())).collect();
    let expected = ["meeting", "share", "lang", "remind", "meeting_new", "meeting_end", "today", "help"];
    assert_eq!(labels, expected.map(Some));
    assert_eq!(COMMANDS.len(), kinds.len());
}

// `/remind`
fn set(code: &str, minutes: u32) -> Result<Command, ParseError> {
    Ok(Command::Remind(RemindRequest::Set { code: RoomCode::parse(code).expect("a code"), minutes }))
}

#[test]
fn a_code_alone_reminds_five_minutes_before() {
    assert_eq!(parse("/remind 123456789"), set("123456789", 5));
    assert_eq!(parse("提醒 123 456 789"), set("123456789", 5));
    assert_eq!(parse("提醒123456789"), set("123456789", 5));
    assert_eq!(parse("@会议助手 /r 123-456-789"), set("123456789", 5));
}

#[test]
fn minutes_follow_the_code() {
    assert_eq!(parse("/remind 123456789 10"), set("123456789", 10));
    assert_eq!(parse("/remind 123 456 789 15"), set("123456789", 15));
    assert_eq!(parse("提醒 123456789 30分钟"), set("123456789", 30));
    assert_eq!(parse("/remind 123456789 1440"), set("123456789", 1440));
    assert_eq!(parse("/remind 1234 10m"), set("1234", 10));
}

#[test]
fn minutes_outside_a_day_are_refused() {
    assert_eq!(parse("/remind 123456789 0"), Err(ParseError::BadMinutes { input: "0".into() }));
    assert_eq!(parse("/remind 123456789 1441"), Err(ParseError::BadMinutes { input: "1441".into() }));
    assert!(matches!(parse("/remind abc"), Err(ParseError::BadCode { .. })));
}

#[test]
fn alone_it_lists_and_with_off_it_cancels() {
    assert_eq!(parse("/remind"), Ok(Command::Remind(RemindRequest::List)));
    assert_eq!(parse("提醒"), Ok(Command::Remind(RemindRequest::List)));
    assert_eq!(parse("/remind off"), Ok(Command::Remind(RemindRequest::Off(None))));
    assert_eq!(parse("提醒 取消"), Ok(Command::Remind(RemindRequest::Off(None))));
    assert_eq!(
        parse("/remind OFF 123 456 789"),
        Ok(Command::Remind(RemindRequest::Off(Some(RoomCode::parse("123456789").expect("a code")))))
    );
    assert!(matches!(parse("/remind off x"), Err(ParseError::BadCode { .. })));
}

#[test]
fn a_typo_of_remind_gets_a_did_you_mean() {
    assert_eq!(
        parse("/remnd 123456789"),
        Err(ParseError::UnknownCommand { word: "/remnd".into(), suggestion: Some("/remind") })
    );
}

proptest! {
    #[test]
    fn parsing_never_panics(text in "\\PC{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn parsing_any_unicode_never_panics(text in any::<String>()) {
        let _ = parse(&text);
    }

    #[test]
    fn a_parsed_code_is_always_ascii_digits(text in "[0-9０-９ \\-－]{1,40}") {
        if let Ok(Command::Meeting { codes, .. }) = parse(&text) {
            prop_assert!(codes.iter().all(|c| !c.as_str().is_empty() && c.as_str().bytes().all(|b| b.is_ascii_digit())));
        }
    }

    #[test]
    fn any_nine_digit_code_round_trips_with_any_meeting_alias(code in "[0-9]{9}", alias in 0usize..5) {
        let spelled = CommandKind::Meeting.spec().aliases[alias];
        prop_assert_eq!(parse(&format!(" {spelled} {code}")), Ok(Command::Meeting { codes: vec![RoomCode::parse(&code).expect("a code")], skipped: 0 }));
    }
}

#[test]
fn new_end_and_today_read_their_words() {
    let new = |title: Option<&str>| Ok(Command::NewMeeting { title: title.map(str::to_owned) });
    assert_eq!(parse("/meeting new"), new(None));
    assert_eq!(parse("/meeting new 产品 周会 @李四"), new(Some("产品 周会")));
    assert_eq!(parse("开会"), new(None));
    assert_eq!(parse("/new Standup"), new(Some("Standup")));
    assert_eq!(parse(&format!("/new {}", "x".repeat(80))), new(Some(&"x".repeat(50))));
    assert_eq!(parse("/meeting end"), Ok(Command::EndMeeting(None)));
    assert_eq!(
        parse("/meeting end 123 456 789"),
        Ok(Command::EndMeeting(Some(RoomCode::parse("123456789").expect("a code"))))
    );
    assert!(matches!(parse("/end abc"), Err(ParseError::BadCode { .. })));
    assert_eq!(parse("/today"), Ok(Command::Today));
    assert_eq!(parse("今天"), Ok(Command::Today));
    assert_eq!(parse("/meetings"), Ok(Command::Today));
    assert_eq!(parse("/meeting 123456789"), Ok(codes(&["123456789"])));
}
