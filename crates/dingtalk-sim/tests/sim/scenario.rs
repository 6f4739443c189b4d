//! Scenarios as people write them: relative times, codes answering with meetings, an error or a
//! raw body, organisations, and every mistake reported with where it is.

use std::time::Duration;

use dingtalk_sim::Scenario;
use dingtalk_sim::scenario::{BUILTIN_TOML, Moment, parse_offset};
use proptest::prelude::*;

proptest! {
    #[test]
    fn reading_any_offset_or_scenario_never_panics(text in "\\PC{0,60}") {
        let _ = parse_offset(&text);
        let _ = Scenario::from_toml_str(&text);
    }

    #[test]
    fn offsets_round_trip_through_minutes(minutes in -1_000_000i64..1_000_000) {
        let text = if minutes < 0 { format!("-{}m", -minutes) } else { format!("+{minutes}m") };
        prop_assert_eq!(parse_offset(&text), Ok(minutes * 60_000));
    }
}

#[test]
fn offsets_read_like_people_write_them() {
    assert_eq!(parse_offset("-15m"), Ok(-900_000));
    assert_eq!(parse_offset("+2h"), Ok(7_200_000));
    assert_eq!(parse_offset("2h"), Ok(7_200_000));
    assert_eq!(parse_offset("-1d2h30m"), Ok(-(86_400_000 + 7_200_000 + 1_800_000)));
    assert_eq!(parse_offset("90s"), Ok(90_000));
    for bad in ["", "-", "15", "m", "1x", "1h30", "--1h", "99999999999999999999d"] {
        assert!(parse_offset(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn relative_moments_are_whole_minutes_from_now() {
    let now = 1_700_000_123_456;
    let minute = 1_700_000_100_000;
    assert_eq!(Moment::Relative(-900_000).at(now), minute - 900_000);
    assert_eq!(Moment::Absolute(5).at(now), 5);
}

#[test]
fn the_builtin_scenario_loads() {
    let scenario = Scenario::builtin().expect("the shipped scenario is valid");
    assert!(!scenario.codes.is_empty());
    assert_eq!(scenario.sessions.lifetime_secs, 5400);
    assert_eq!(scenario.stream.redelivery(), Some(Duration::from_secs(60)));
}

#[test]
fn the_redelivery_delay_is_a_stream_setting_and_zero_turns_it_off() {
    let with = |stream: &str| {
        let text = format!("[app]\nclient_id = \"a\"\nclient_secret = \"s\"\n{stream}");
        Scenario::from_toml_str(&text).expect("parses").stream.redelivery()
    };
    assert_eq!(with("[stream]\nredelivery_secs = 16"), Some(Duration::from_secs(16)));
    assert_eq!(with("[stream]\nredelivery_secs = 0"), None);
    assert_eq!(with(""), Some(Duration::from_secs(60)));
}

#[test]
fn a_code_can_have_meetings_or_an_error_but_not_both() {
    let text = r#"
        [app]
        client_id = "id"
        client_secret = "s"
        [[codes]]
        code = "1"
        error = { status = 400, code = "invalidRoomCode" }
        [[codes.meetings]]
        title = "x"
    "#;
    assert!(Scenario::from_toml_str(text).is_err());
}

#[test]
fn unknown_keys_and_unknown_omitted_fields_are_reported() {
    let base = "[app]\nclient_id = \"id\"\nclient_secret = \"s\"\n";
    assert!(Scenario::from_toml_str(&format!("{base}[[codes]]\ncode = \"1\"\ntypo = 1\n")).is_err());
    let omit = format!("{base}[[codes]]\ncode = \"1\"\n[[codes.meetings]]\nomit = [\"endtime\"]\n");
    assert!(Scenario::from_toml_str(&omit).is_err());
    let twice = format!("{base}[[codes]]\ncode = \"1\"\n[[codes]]\ncode = \"1\"\n");
    assert!(Scenario::from_toml_str(&twice).is_err());
}

#[test]
fn a_scenario_file_loads_from_a_path_and_names_itself_in_errors() {
    let dir = std::env::temp_dir().join(format!("dingmeet-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let good = dir.join("good.toml");
    std::fs::write(&good, BUILTIN_TOML).expect("write");
    assert_eq!(Scenario::from_path(&good).expect("loads").codes.len(), Scenario::builtin().expect("valid").codes.len());
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[app]\nclient_id = \"x\"\nclient_secret = \"\"\n").expect("write");
    let err = Scenario::from_path(&bad).expect_err("an empty secret is refused").to_string();
    assert!(err.contains("bad.toml"), "{err}");
    assert!(Scenario::from_path(&dir.join("missing.toml")).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn organisations_have_their_own_codes_and_chats() {
    let scenario = Scenario::builtin().expect("valid");
    let home = scenario.app.corp_id.clone();
    let other = scenario.orgs.iter().find(|o| !o.codes.is_empty()).expect("an organisation with meetings");
    assert!(other.codes.iter().any(|c| scenario.code(&c.code).is_some()), "a code both organisations use");
    assert_eq!(scenario.chat_for(Some(&home)).group_conversation_id, scenario.chat.group_conversation_id);
    assert_eq!(scenario.chat_for(None).group_conversation_id, scenario.chat.group_conversation_id);
    let theirs = scenario.chat_for(Some(&other.corp_id));
    let strangers = scenario.chat_for(Some("dingsomeoneelse"));
    assert_ne!(theirs.group_conversation_id, scenario.chat.group_conversation_id);
    assert_ne!(theirs.single_conversation_id, strangers.single_conversation_id);
    assert!(theirs.group_conversation_id.starts_with("cid") && theirs.group_conversation_id.ends_with('='));
    assert!(scenario.orgs.iter().any(|o| !o.installed) && scenario.orgs.iter().any(|o| !o.conference_read));
}

#[test]
fn an_organisation_is_listed_once_and_its_codes_once() {
    let base = "[app]\nclient_id = \"id\"\nclient_secret = \"s\"\ncorp_id = \"dinghome\"\n";
    let org = |corp: &str| format!("[[orgs]]\ncorp_id = \"{corp}\"\n");
    assert!(Scenario::from_toml_str(&format!("{base}{}", org("dinga"))).is_ok());
    assert!(Scenario::from_toml_str(&format!("{base}{}{}", org("dinga"), org("dinga"))).is_err());
    let home = Scenario::from_toml_str(&format!("{base}{}", org("dinghome"))).expect_err("the home corp");
    assert!(home.to_string().contains("dinghome"), "{home}");
    let twice = format!("{base}{}[[orgs.codes]]\ncode = \"1\"\n[[orgs.codes]]\ncode = \"1\"\n", org("dinga"));
    let err = Scenario::from_toml_str(&twice).expect_err("a code twice in one organisation").to_string();
    assert!(err.contains("organisation dinga"), "{err}");
    let same_code_elsewhere = format!("{base}[[codes]]\ncode = \"1\"\n{}[[orgs.codes]]\ncode = \"1\"\n", org("dinga"));
    assert!(Scenario::from_toml_str(&same_code_elsewhere).is_ok());
    assert!(Scenario::from_toml_str(&format!("{base}[[orgs]]\ncorp_id = \"\"\n")).is_err());
}

#[test]
fn debug_output_hides_the_app_secret() {
    let scenario = Scenario::builtin().expect("valid");
    assert!(!format!("{scenario:?}").contains(&scenario.app.client_secret));
}
