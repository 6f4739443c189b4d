//! The budget over simulated days: the rolling window, the pacing, and counts kept across a restart.

use std::sync::atomic::{AtomicI64, Ordering};

use super::*;
use crate::state::{StateOptions, StateStore};

/// A clock a test moves by hand.
struct Manual(Arc<AtomicI64>);

impl crate::clock::Clock for Manual {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    fn poll(&self) -> Duration {
        Duration::from_millis(10)
    }
}

fn budget(monthly: u64, now: &Arc<AtomicI64>, state: &StateStore) -> Budget {
    Budget::new(monthly, Arc::new(Manual(Arc::clone(now))), state, Arc::new(Metrics::new()))
}

#[test]
fn calls_count_over_a_rolling_thirty_days() {
    let now = Arc::new(AtomicI64::new(100 * DAY_MS));
    let budget = budget(100, &now, &StateStore::memory(Duration::from_secs(60)));
    for _ in 0..10 {
        budget.record_call("corp", "conference_infos", Purpose::Query);
    }
    assert_eq!(budget.left("corp"), 90);
    assert_eq!(budget.left("other"), 100, "each organisation has its own budget");
    now.store(129 * DAY_MS, Ordering::Relaxed);
    assert_eq!(budget.used("corp"), 10, "29 days later the calls still count");
    now.store(130 * DAY_MS, Ordering::Relaxed);
    assert_eq!(budget.used("corp"), 0, "30 days later they have rolled out");
}

#[test]
fn background_work_stretches_then_pauses_while_a_fifth_stays_for_questions() {
    let now = Arc::new(AtomicI64::new(DAY_MS));
    let budget = budget(3_000, &now, &StateStore::memory(Duration::from_secs(60)));
    let mut paces = Vec::new();
    // Each day as much background as a day's share allows: the window's share runs out.
    for day in 0..31 {
        now.store((1 + day) * DAY_MS, Ordering::Relaxed);
        paces.push(budget.pace("corp"));
        for _ in 0..80 {
            budget.record_call("corp", "card_update", Purpose::Refresh);
        }
    }
    assert_eq!(paces[0], Pace::Full);
    assert_eq!(paces[20], Pace::Full, "spent evenly, the window's share does not stretch anything");
    assert_eq!(budget.pace("corp"), Pace::Paused, "the fifth kept for questions is not spent in the background");
    assert!(!budget.may_create_card("corp"));
    assert!(budget.window_spent("corp"));
    assert_eq!(Pace::Stretched(2.0).stretch(Duration::from_secs(600)), Some(Duration::from_secs(1200)));
    assert_eq!(Pace::Paused.stretch(Duration::from_secs(600)), None);
}

#[test]
fn background_spends_at_most_a_thirtieth_a_day_less_what_questions_take() {
    let now = Arc::new(AtomicI64::new(10 * DAY_MS));
    let budget = budget(3_750, &now, &StateStore::memory(Duration::from_secs(60)));
    // A day's share is 100 calls (80 % of a thirtieth); yesterday people's questions took 40 of them.
    now.store(9 * DAY_MS, Ordering::Relaxed);
    for _ in 0..40 {
        budget.record_call("corp", "conference_infos", Purpose::Query);
    }
    now.store(10 * DAY_MS, Ordering::Relaxed);
    let mut paces = Vec::new();
    for _ in 0..60 {
        paces.push(budget.pace("corp"));
        budget.record_call("corp", "card_update", Purpose::Refresh);
    }
    assert_eq!(paces[0], Pace::Full);
    assert!(!budget.may_create_card("corp"), "no new card once a fifth of the day's share is spent");
    assert!(!budget.window_spent("corp"), "the looks of cards already out go on");
    assert!(matches!(paces[45], Pace::Stretched(f) if (f - 2.0).abs() < 0.01), "{:?}", paces[45]);
    assert_eq!(budget.pace("corp"), Pace::Paused, "60 background calls: the day's share is spent");
    for _ in 0..30 {
        budget.record_call("corp", "conference_infos", Purpose::Query);
    }
    assert_eq!(budget.left("corp"), 3_750 - 130, "questions are still counted, never refused");
    now.store(11 * DAY_MS, Ordering::Relaxed);
    assert_eq!(budget.pace("corp"), Pace::Full, "the next day has its own share");
    budget.record_call("corp", crate::dingtalk::card::CREATE_ENDPOINT, Purpose::Reply);
    let ledger = budget.lock().ledgers.get("corp").cloned().expect("a ledger");
    assert_eq!(ledger.today(11 * DAY_MS), (1, 35.0), "a new card counts as background; the mean of the days before");
}

#[tokio::test]
async fn counts_survive_a_restart_in_the_store() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let now = Arc::new(AtomicI64::new(crate::clock::now_ms()));
    {
        let store = StateStore::open(dir.path(), StateOptions::default()).await.expect("opens");
        let first = budget(100, &now, &store);
        first.record_call("corp", "card_create", Purpose::Reply);
        first.record_call("corp", "card_update", Purpose::Refresh);
        first.persist().await;
        store.flush().await;
    }
    let store = StateStore::open(dir.path(), StateOptions::default()).await.expect("opens again");
    let second = budget(100, &now, &store);
    second.load().await;
    assert_eq!(second.used("corp"), 2);
}

#[test]
fn with_events_a_card_costs_what_its_starts_and_ends_promise_and_counts_go_first() {
    let now = Arc::new(AtomicI64::new(10 * DAY_MS + 3_600_000));
    let budget = budget(3_000, &now, &StateStore::memory(Duration::from_secs(60)));
    budget.note_events("corp");
    // A day's share is 96 calls, a fifth of it kept for questions: 76.8, of which cards take 85 %.
    let later_today = 10 * DAY_MS + 7_200_000;
    let mut cards = 0;
    while budget.may_create_event_card("corp", &[later_today, later_today + 1]) {
        budget.record_call("corp", crate::dingtalk::card::CREATE_ENDPOINT, Purpose::Reply);
        budget.promise("corp", &[later_today, later_today + 1]);
        cards += 1;
    }
    assert_eq!(cards, 21, "each card 3 calls: its creation, its start and its end");
    assert!(!budget.may_show_count("corp"), "counts are dropped once half the share is spent or promised");
    assert!(budget.may_show_status("corp"), "starts and ends are shown");
    assert!(budget.may_create_card("polled"), "an organisation that sends no events is paced as before");
    // Promises of a later day are reserved in that day's share, not today's.
    let tomorrow = 11 * DAY_MS + 3_600_000;
    assert!(budget.may_create_event_card("other", &[tomorrow; 50]));
    budget.note_events("other");
    assert!(!budget.may_create_event_card("other", &[tomorrow; 80]), "more than a day's share");
    // Once the promised updates are due, they are spent (or not) and reserve nothing more.
    now.store(later_today + 2, Ordering::Relaxed);
    assert!(budget.may_create_event_card("corp", &[]));
    assert!(budget.may_show_count("corp"));
}
