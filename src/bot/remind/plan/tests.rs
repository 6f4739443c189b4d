//! The reminder decisions' cases: which instances, when due, and what a fresh look-up changes.

use super::*;

const MIN: i64 = 60_000;
const NOW: i64 = 1_800_000_000_000;

fn info(id: &str, status: i64, start: i64) -> ConferenceInfo {
    ConferenceInfo {
        conference_id: Some(id.to_owned()),
        title: Some(format!("meeting {id}")),
        status: Some(status),
        start_time: Some(start),
        external_link_url: Some("https://meeting.dingtalk.com/j/1".to_owned()),
        ..ConferenceInfo::default()
    }
}

fn conferences(list: Vec<ConferenceInfo>) -> Conferences {
    Conferences { total: list.len(), list }
}

fn reminder(found: &Conferences) -> Reminder {
    Reminder {
        code: "123456789".to_owned(),
        minutes: 5,
        set_by: None,
        lang: "zh".to_owned(),
        set_at_ms: NOW,
        until_ms: NOW + 30 * 86_400_000,
        next_lookup_ms: recurs(found).then_some(NOW + LOOKUP_EVERY_MS),
        instances: upcoming(found, NOW),
    }
}

#[test]
fn only_instances_not_started_and_within_seven_days_are_reminded() {
    let found = conferences(vec![
        info("later", 0, NOW + 2 * 60 * MIN),
        info("soon", 0, NOW + 10 * MIN),
        info("running", 2, NOW - 10 * MIN),
        info("over", 1, NOW - 100 * MIN),
        info("next-month", 0, NOW + 8 * 86_400_000),
        info("past-but-initialised", 0, NOW - MIN),
    ]);
    let ids: Vec<_> = upcoming(&found, NOW).into_iter().map(|i| i.id).collect();
    assert_eq!(ids, ["soon", "later"]);
}

#[test]
fn the_fresh_look_up_comes_a_minute_before_the_send() {
    let found = conferences(vec![info("a", 0, NOW + 60 * MIN)]);
    let mut r = reminder(&found);
    let fire = NOW + 55 * MIN;
    assert_eq!(r.due_ms(), fire - LEAD_MS);
    assert!(!r.wants_lookup(fire - LEAD_MS - 1));
    assert!(r.wants_lookup(fire - LEAD_MS));
    assert!(r.apply(&found, fire - LEAD_MS).is_empty());
    assert_eq!(r.instances[0].stage, Stage::Checked);
    assert_eq!(r.due_ms(), fire);
}

#[test]
fn a_cancelled_meeting_is_done_and_a_moved_one_waits_for_its_new_time() {
    let found = conferences(vec![info("a", 0, NOW + 60 * MIN), info("b", 0, NOW + 90 * MIN)]);
    let mut r = reminder(&found);
    let check = NOW + 55 * MIN - LEAD_MS;
    let fresh = conferences(vec![info("b", 0, NOW + 120 * MIN)]);
    assert_eq!(r.apply(&fresh, check), vec![("a".to_owned(), Outcome::Cancelled)]);
    let moved = r.next().expect("b is left");
    assert_eq!((moved.id.as_str(), moved.start_ms, moved.stage), ("b", NOW + 120 * MIN, Stage::Waiting));
    assert_eq!(r.due_ms(), NOW + 115 * MIN - LEAD_MS);
}

#[test]
fn a_meeting_that_started_early_is_due_at_once() {
    let found = conferences(vec![info("a", 0, NOW + 60 * MIN)]);
    let mut r = reminder(&found);
    r.apply(&conferences(vec![info("a", 2, NOW + 60 * MIN)]), NOW + 54 * MIN);
    assert!(r.instances[0].started);
}

#[test]
fn the_daily_look_up_adds_next_weeks_instance_once() {
    let week = 7 * 86_400_000;
    let found = conferences(vec![info("w1", 0, NOW + 86_400_000), info("w2", 0, NOW + 86_400_000 + week)]);
    let mut r = reminder(&found);
    assert_eq!(r.instances.len(), 1, "next week is beyond the horizon");
    let tomorrow = NOW + LOOKUP_EVERY_MS + MIN;
    r.apply(&found, tomorrow);
    r.apply(&found, tomorrow + LOOKUP_EVERY_MS);
    let ids: Vec<_> = r.instances.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["w1", "w2"]);
    assert_eq!(r.next_lookup_ms, Some(tomorrow + 2 * LOOKUP_EVERY_MS));
}

#[test]
fn a_failed_look_up_keeps_the_data_it_has() {
    let found = conferences(vec![info("a", 0, NOW + 60 * MIN)]);
    let mut r = reminder(&found);
    r.lookup_failed(NOW + 55 * MIN - LEAD_MS);
    assert_eq!(r.instances[0].stage, Stage::Checked);
    assert!(!r.instances[0].over_by(NOW + 61 * MIN));
    assert!(r.instances[0].over_by(NOW + 60 * MIN + MAX_LATE_MS));
}

#[test]
fn kept_records_read_back() {
    let found = conferences(vec![info("a", 0, NOW + 60 * MIN)]);
    let mut r = reminder(&found);
    r.instances[0].stage = Stage::Sending { since_ms: NOW };
    let json = serde_json::to_string(&r).expect("serialises");
    assert_eq!(serde_json::from_str::<Reminder>(&json).expect("reads"), r);
}
