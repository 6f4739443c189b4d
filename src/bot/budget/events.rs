//! The budget of an organisation that sends meeting events: its live cards are not polled, so a
//! new card costs its creation and the updates its meetings' starts and ends will make, and
//! those are known when it is created. Each new card promises them; a card is made only while
//! the day's background share holds what is already spent, what earlier cards promised and this
//! card's cost (the updates of later days are reserved in their own day's share). Counts of
//! people in a meeting come last (only while half the day's share is free); a start or an end
//! is shown until the budget's hard ceiling. The promises are this replica's (each replica reserves for the cards it made; the calls themselves are shared).

use std::collections::BTreeMap;

use super::{Budget, DAY_MS};

/// With events, the share of a day the budget plans with (with polling, looks of cards already
/// out went past the plan; with events what cards will cost is promised up front).
pub(super) const DAILY_HEADROOM: f64 = 0.96;
/// With events, what background work leaves of the window for people's questions: the daily
/// pacing already keeps each day's questions their part.
pub(super) const RESERVED_SHARE: f64 = 0.05;
/// Starts and ends are shown until this share of the budget is left (the hard ceiling: the
/// questions of the days until the window rolls on are never refused).
const CEILING_KEPT: f64 = 0.02;
/// New cards with what they promise may take this much of a day's background share (the rest
/// is for reminders and counts).
const CARD_SHARE: f64 = 0.85;
/// A count of people is shown only while this much of the day's share is neither spent nor promised.
const COUNT_SHARE: f64 = 0.5;

/// The card updates promised, by when they are expected (ms) and how many then. Pure.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Promises(BTreeMap<i64, u64>);

impl Promises {
    pub(super) fn add(&mut self, at: &[i64]) {
        for at in at {
            *self.0.entry(*at).or_default() += 1;
        }
    }

    /// The updates still to come after `now` (those due by then are made, or never will be):
    /// those due by `by`, and those after.
    pub(super) fn pending(&mut self, now: i64, by: i64) -> (u64, u64) {
        self.0 = self.0.split_off(&now.saturating_add(1));
        let (mut before, mut after) = (0, 0);
        for (at, updates) in &self.0 {
            if *at <= by { before += updates } else { after += updates }
        }
        (before, after)
    }
}

/// Whether a share of `allowance` holds what is `spent`, what is `promised` and `cost` more.
pub(super) fn admits(allowance: f64, spent: f64, promised: f64, cost: f64, share: f64) -> bool {
    spent + promised + cost <= allowance * share
}

impl Budget {
    /// Notes that organisation `org` sends meeting events: its cards are paced by their updates.
    pub fn note_events(&self, org: &str) {
        let mut inner = self.lock();
        if !inner.event_orgs.contains(org) {
            inner.event_orgs.insert(org.to_owned());
        }
    }

    pub(super) fn sends_events(&self, org: &str) -> bool {
        self.lock().event_orgs.contains(org)
    }

    /// The last moment of the budget's day (the ledger's) of `now`.
    fn day_end(now: i64) -> i64 {
        (now.div_euclid(DAY_MS) + 1) * DAY_MS - 1
    }

    /// The updates promised for the rest of today, and for later days.
    fn promised(&self, org: &str) -> (f64, f64) {
        let now = self.clock.now_ms();
        let (today, later) =
            self.lock().promised.get_mut(org).map_or((0, 0), |promises| promises.pending(now, Self::day_end(now)));
        (today as f64, later as f64)
    }

    /// Whether a new card of `org` (which sends events) may be made, its meetings changing at
    /// `changes` (ms) within its life: each change an update, reserved in the share of its day
    /// (later days' by today's share, as tomorrow's is not known yet).
    pub fn may_create_event_card(&self, org: &str, changes: &[i64]) -> bool {
        if self.window_spent(org) {
            return false;
        }
        let (allowance, spent) = self.day_allowance(org);
        let (today, later) = self.promised(org);
        let end = Self::day_end(self.clock.now_ms());
        let changes_today = changes.iter().filter(|at| **at <= end).count() as f64;
        let changes_later = changes.len() as f64 - changes_today;
        admits(allowance, spent, today, 1.0 + changes_today, CARD_SHARE)
            && admits(allowance, 0.0, later, changes_later, CARD_SHARE)
    }

    /// Reserves the updates a new card of `org` will make at `changes`.
    pub fn promise(&self, org: &str, changes: &[i64]) {
        self.lock().promised.entry(org.to_owned()).or_default().add(changes);
    }

    /// Whether a card of `org` may be updated only for how many are in a meeting: the first thing
    /// the budget drops.
    pub fn may_show_count(&self, org: &str) -> bool {
        if self.window_spent(org) {
            return false;
        }
        let (allowance, spent) = self.day_allowance(org);
        admits(allowance, spent, self.promised(org).0, 1.0, COUNT_SHARE)
    }

    /// Whether a card of `org` may be updated for a meeting's start or end: until the ceiling.
    pub fn may_show_status(&self, org: &str) -> bool {
        (self.used(org) + 1) as f64 <= self.monthly as f64 * (1.0 - CEILING_KEPT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promises_count_until_their_time_passes() {
        let mut promises = Promises::default();
        promises.add(&[10, 20, 20, 30]);
        assert_eq!(promises.pending(0, 100), (4, 0));
        assert_eq!(promises.pending(0, 20), (3, 1), "split by the end of the day");
        assert_eq!(promises.pending(10, 100), (3, 0), "the update due at 10 is made (or not) by then");
        assert_eq!(promises.pending(25, 100), (1, 0));
        assert_eq!(promises.pending(30, 100), (0, 0));
        promises.add(&[]);
        assert_eq!(promises.pending(31, 100), (0, 0));
    }

    #[test]
    fn a_card_is_admitted_only_with_what_it_and_the_cards_before_promise() {
        // A day's share of 100 calls, cards up to 80 of it.
        assert!(admits(100.0, 50.0, 27.0, 3.0, 0.8));
        assert!(!admits(100.0, 50.0, 28.0, 3.0, 0.8), "the cards before promised too much");
        assert!(!admits(100.0, 0.0, 0.0, 81.0, 0.8));
        assert!(!admits(0.0, 0.0, 0.0, 1.0, 0.8), "no share, no card");
        // Counts come last: only while half the share is free.
        assert!(admits(100.0, 30.0, 19.0, 1.0, 0.5));
        assert!(!admits(100.0, 30.0, 20.0, 1.0, 0.5));
    }
}
