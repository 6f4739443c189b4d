//! The connection table's cases: timeouts by phase, shedding the quietest, and the books kept.

use prometheus_client::registry::Registry;

use super::*;

fn connections(max: usize) -> Arc<Connections> {
    Arc::new(Connections::new(max, ConnectionMetrics::register(&mut Registry::default())))
}

fn limits() -> HttpLimits {
    HttpLimits {
        header_timeout: Duration::from_secs(5),
        body_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        max_connections: 4,
    }
}

/// Moves a tracker's times back by `ms`, as if that much time had passed.
fn age(tracker: &Tracker, ms: u64) -> Tracker {
    let back = |v: &AtomicU64| v.load(Ordering::Relaxed).saturating_sub(ms);
    let aged = Tracker::new(tracker.id, tracker.clock);
    let aged = Tracker { accepted: tracker.accepted.saturating_sub(ms), ..aged };
    aged.bytes_read.store(tracker.bytes_read.load(Ordering::Relaxed), Ordering::Relaxed);
    aged.last_read.store(back(&tracker.last_read), Ordering::Relaxed);
    aged.head_started.store(back(&tracker.head_started), Ordering::Relaxed);
    aged.last_done.store(back(&tracker.last_done), Ordering::Relaxed);
    aged
}

#[test]
fn a_new_connection_owes_its_headers_then_waits_idle_between_requests() {
    let clock = Clock(Instant::now());
    let tracker = Arc::new(Tracker::new(1, clock));
    let (deadline, timeout) = tracker.watch(&limits()).expect("watched");
    assert_eq!(timeout, Timeout::Header);
    assert!(deadline <= Instant::now() + Duration::from_secs(5));
    tracker.read(40);
    assert_eq!(tracker.watch(&limits()).map(|w| w.1), Some(Timeout::Header));
    let request = tracker.begin_request(true);
    assert!(tracker.watch(&limits()).is_none(), "a request being served is not timed here");
    drop(request);
    let (deadline, timeout) = tracker.watch(&limits()).expect("watched");
    assert_eq!(timeout, Timeout::Idle);
    assert!(deadline > Instant::now() + Duration::from_secs(55));
    tracker.read(10);
    assert_eq!(tracker.watch(&limits()).map(|w| w.1), Some(Timeout::Header), "the next request has begun");
}

#[test]
fn the_body_state_follows_the_request() {
    let tracker = Arc::new(Tracker::new(1, Clock(Instant::now())));
    let request = tracker.begin_request(false);
    assert!(tracker.body_unfinished());
    tracker.body_complete();
    assert!(!tracker.body_unfinished() && !tracker.body_too_late());
    drop(request);
    let _request = tracker.begin_request(false);
    tracker.body_timed_out();
    assert!(tracker.body_too_late() && !tracker.body_unfinished());
}

#[test]
fn the_silent_and_the_sparing_are_shed_first_and_requests_never() {
    let clock = Clock(Instant::now().checked_sub(Duration::from_secs(60)).expect("a minute since boot"));
    let fresh = Tracker::new(1, clock);
    let slow = Tracker::new(2, clock);
    slow.read(60);
    let slow = age(&slow, 4_000);
    let talker = Tracker::new(3, clock);
    talker.read(8 * 1024);
    let talker = age(&talker, 4_000);
    let busy = Arc::new(age(&Tracker::new(4, clock), 30_000));
    let _request = busy.begin_request(true);
    let now = clock.now();
    let score = |t: &Tracker| t.shed_score(now);
    assert!(score(&fresh) < Some(10), "{:?}", score(&fresh));
    assert!(score(&slow) > score(&talker), "{:?} {:?}", score(&slow), score(&talker));
    assert!(score(&talker) > score(&fresh));
    assert_eq!(score(&busy), None);
}

#[test]
fn at_the_cap_a_new_connection_gets_in_and_the_quietest_is_marked() {
    let connections = connections(2);
    let first = connections.admit();
    first.tracker().read(10);
    let second = connections.admit();
    second.tracker().read(5000);
    let third = connections.admit();
    assert_eq!(connections.open(), 3, "the shed one stays until its task closes it");
    assert_eq!(
        [first.tracker().is_shed(), second.tracker().is_shed(), third.tracker().is_shed()]
            .iter()
            .filter(|s| **s)
            .count(),
        1
    );
    let shed = if first.tracker().is_shed() { first } else { second };
    drop(shed);
    assert_eq!(connections.open(), 2);
    let _fourth = connections.admit();
    assert_eq!(connections.open(), 3);
}
