//! The month replay (`bench/month.sh`, `examples/month`) over a few simulated days: every
//! question answered at once, both kinds of answer, every call the simulator saw counted by the
//! bot's budget, and every start and end shown on the live cards that were out. Checks only:
//! the figures of a full month are in BENCHMARKS.md.

#[path = "../../examples/month/replay.rs"]
mod replay;

use serde_json::Value;

#[test]
fn a_few_days_of_the_month_replay_answer_everyone_and_keep_live_cards_live() {
    let _machine = crate::helpers::heavy_blocking();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let options = replay::Options { days: 3, ..replay::Options::default() };
    let mut days = Vec::new();
    let report = runtime.block_on(replay::run(&options, |line| days.push(line))).expect("the replay runs");
    let month = report.json();
    let n = |path: &str| month.pointer(path).and_then(Value::as_u64).unwrap_or_else(|| panic!("{path} in {month}"));

    assert_eq!(days.iter().filter(|l| l.starts_with("day ")).count(), 3, "{days:?}");
    assert_eq!(n("/questions"), 330, "{month}");
    assert_eq!(n("/answered_at_once"), n("/questions"), "{month}");
    assert!(n("/interactive") > 0 && n("/markdown") > 0, "{month}");
    assert_eq!(n("/calls_total"), n("/sim_requests"), "the budget counts every call DingTalk saw: {month}");
    assert!(n("/calls/query") > 0 && n("/calls/refresh") > 0 && n("/calls/reminder") > 0, "{month}");
    assert!(n("/reminders_sent") > 0 && n("/card_updates") > 0, "{month}");
    assert!(n("/starts/on_live_cards") > 0, "{month}");
    assert_eq!(n("/starts/within_60s"), n("/starts/on_live_cards"), "{month}");
    assert_eq!(n("/ends/within_60s"), n("/ends/on_live_cards"), "{month}");
}

#[test]
fn a_few_days_with_meeting_events_show_every_start_and_end_within_seconds_without_polling() {
    let _machine = crate::helpers::heavy_blocking();
    assert_eq!(replay::events::Transport::parse("stream"), Some(replay::events::Transport::Stream));
    let events = replay::events::Transport::parse("http").expect("a transport");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let options = replay::Options { days: 3, events, ..replay::Options::default() };
    let report = runtime.block_on(replay::run(&options, |_| {})).expect("the replay runs");
    let month = report.json();
    let n = |path: &str| month.pointer(path).and_then(Value::as_u64).unwrap_or_else(|| panic!("{path} in {month}"));

    assert_eq!(n("/answered_at_once"), n("/questions"), "{month}");
    assert_eq!(n("/calls_total"), n("/sim_requests"), "{month}");
    assert!(n("/pushed/emitted") > 0, "{month}");
    assert_eq!(n("/pushed/http_accepted"), n("/pushed/http_pushes"), "every push answered success: {month}");
    assert_eq!(n("/pushed/given_up"), 0, "{month}");
    assert!(n("/starts/on_live_cards") > 0 && n("/ends/on_live_cards") > 0, "{month}");
    assert_eq!(n("/starts/within_5s"), n("/starts/on_live_cards"), "{month}");
    assert_eq!(n("/ends/within_5s"), n("/ends/on_live_cards"), "{month}");
}
