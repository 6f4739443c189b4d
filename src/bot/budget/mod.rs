//! The monthly OpenAPI budget: every call counted per organisation over a rolling 30 days (kept
//! in the store), and the pacing of background work by what is left. Questions people type are
//! never refused or delayed by it: only background work (live cards, reminders) and the choice
//! of an interactive card over a free markdown reply read it.
//!
//! The policy: a fifth of the budget is kept for what people ask. Background work spends only
//! from the rest, and no faster than evenly over the window: each day it may spend a thirtieth
//! of the budget less what people's questions take in a day. As the day's share runs low its
//! intervals stretch (up to [`MAX_STRETCH`] times) and new answers are markdown (new cards take
//! only the first fifth of a day's share); once it (or the window's share) is gone background
//! work pauses until the next day (or until the window rolls on), except that live cards already out still show their
//! meetings' starts and ends until the window's share is spent.

mod events;
mod ledger;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::dingtalk::openapi::call_purpose::{CallCounter, Purpose};
use crate::state::{Kept, LocalRegistry, StateStore};
use crate::telemetry::Metrics;

use self::events::Promises;
pub use self::ledger::Ledger;

/// The window the budget counts over.
pub const WINDOW_DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;
/// The share of the budget kept for questions people type (and their replies).
const RESERVED_SHARE: f64 = 0.2;
/// How often the counts are kept (and shared with the other replicas).
pub const KEEP_EVERY: Duration = Duration::from_secs(30);
/// Background intervals stretch at most this many times before they pause.
pub const MAX_STRETCH: f64 = 16.0;

/// Of a thirtieth of the budget, what a day plans with: the looks of cards already out (made even
/// once the day's share is spent) and a busy day's questions go past it (at 0.9 the replayed
/// month of BENCHMARKS.md spent 315 to 345 calls a day, over a thirtieth).
const DAILY_HEADROOM: f64 = 0.8;
/// New interactive cards may take this much of a day's background share: each commits a few
/// looks (its meetings' starts and ends) that are made even once the day's share is spent.
const NEW_CARD_SHARE: f64 = 0.2;
/// Of the foreground calls of the last days, how many days are averaged to expect today's.
const FOREGROUND_DAYS: i64 = 7;

/// What the budget allows an organisation's background work now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// At the configured intervals.
    Full,
    /// At the configured intervals times this factor (above 1).
    Stretched(f64),
    /// Not at all until the window rolls on.
    Paused,
}

impl Pace {
    /// `interval` at this pace; `None` when paused.
    pub fn stretch(self, interval: Duration) -> Option<Duration> {
        match self {
            Self::Full => Some(interval),
            Self::Stretched(factor) => Some(interval.mul_f64(factor)),
            Self::Paused => None,
        }
    }
}

/// Counts calls and answers what background work may spend.
pub struct Budget {
    monthly: u64,
    clock: SharedClock,
    registry: Option<LocalRegistry<Ledger>>,
    /// With replicas on Redis, counts are added up there, so each replica paces by them all.
    state: StateStore,
    metrics: Arc<Metrics>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    ledgers: HashMap<String, Ledger>,
    /// Ledgers changed since they were last kept.
    dirty: HashSet<String>,
    /// Calls made here and not yet added to the counts in Redis, by organisation and day (`b`
    /// before the day: the background ones).
    unshared: HashMap<String, BTreeMap<String, u64>>,
    /// Organisations whose background work is paused (warned once per pause).
    paused: HashSet<String>,
    /// Organisations that send meeting events (their cards cost their updates, not polling).
    event_orgs: HashSet<String>,
    /// The card updates new cards of those organisations are expected to make, by organisation.
    promised: HashMap<String, Promises>,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget").field("monthly", &self.monthly).finish_non_exhaustive()
    }
}

/// Ledgers are kept due at the epoch, so one query of what is due lists them all.
fn listed() -> Option<SystemTime> {
    Some(SystemTime::UNIX_EPOCH)
}

/// A time after every ledger's (a day past the epoch): no clock is read to list them.
fn listed_by() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(86_400)
}

impl Budget {
    /// A budget of `monthly` calls per organisation; counts are kept in `registry` when there is one.
    pub fn new(monthly: u64, clock: SharedClock, state: &StateStore, metrics: Arc<Metrics>) -> Self {
        Self {
            monthly,
            clock,
            registry: state.local_registry(),
            state: state.clone(),
            metrics,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Counts only ever grow by whole steps: a panic elsewhere cannot leave one half-written.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the counts kept before a restart.
    pub async fn load(&self) {
        let Some(registry) = &self.registry else { return };
        match registry.due(listed_by()).await {
            Ok(kept) => {
                let mut inner = self.lock();
                for (org, ledger) in kept {
                    inner.ledgers.entry(org).or_insert(ledger);
                }
            }
            Err(err) => tracing::warn!(%err, "the budget's counts could not be read; counting from zero"),
        }
    }

    /// Keeps the counts that changed since the last call (the scheduler calls it; so does the
    /// drain). With Redis, this replica's new calls are added to every replica's counts first,
    /// and the sums read back.
    pub async fn persist(&self) {
        self.share().await;
        let Some(registry) = &self.registry else { return };
        let changed: Vec<(String, Ledger)> = {
            let mut inner = self.lock();
            let dirty = std::mem::take(&mut inner.dirty);
            dirty.into_iter().filter_map(|org| inner.ledgers.get(&org).cloned().map(|l| (org, l))).collect()
        };
        for (org, ledger) in changed {
            if let Err(err) = registry.put(&org, listed(), &ledger).await {
                tracing::warn!(%err, "the budget's counts could not be kept; they are kept again with the next change");
                self.lock().dirty.insert(org);
            }
        }
    }

    async fn share(&self) {
        if !self.state.shares() {
            return;
        }
        // Every organisation this replica knows is read back, so it sees the others' calls too.
        let unshared = {
            let mut inner = self.lock();
            let mut unshared = std::mem::take(&mut inner.unshared);
            for org in inner.ledgers.keys() {
                unshared.entry(org.clone()).or_default();
            }
            unshared
        };
        let ttl = Duration::from_millis(u64::try_from((WINDOW_DAYS + 1) * DAY_MS).unwrap_or(u64::MAX));
        for (org, days) in unshared {
            let deltas: Vec<(String, i64)> =
                days.iter().map(|(day, calls)| (day.clone(), i64::try_from(*calls).unwrap_or(i64::MAX))).collect();
            match self.state.shared_counts().add(&format!("{}:{org}", Ledger::KIND), &deltas, ttl).await {
                Some(counts) => {
                    let today = self.clock.now_ms().div_euclid(DAY_MS);
                    let mut inner = self.lock();
                    // Calls counted here since the deltas were taken are added again next time.
                    let pending = inner.unshared.get(&org).cloned().unwrap_or_default();
                    let mut ledger = Ledger::default();
                    for (key, calls) in
                        counts.into_iter().filter_map(|(k, c)| Some((k, u64::try_from(c).ok()?))).chain(pending)
                    {
                        let (map, day) = match key.strip_prefix('b') {
                            Some(day) => (&mut ledger.background, day),
                            None => (&mut ledger.days, key.as_str()),
                        };
                        if let Ok(day) = day.parse::<i64>()
                            && day > today - WINDOW_DAYS
                        {
                            *map.entry(day).or_default() += calls;
                        }
                    }
                    inner.ledgers.insert(org.clone(), ledger);
                    inner.dirty.insert(org);
                }
                None => {
                    // Redis did not answer: added with the next share.
                    let mut inner = self.lock();
                    let pending = inner.unshared.entry(org).or_default();
                    for (day, calls) in days {
                        *pending.entry(day).or_default() += calls;
                    }
                }
            }
        }
    }

    /// Until `stop`, keeps the counts (and with Redis shares them) every [`KEEP_EVERY`].
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut ticker = tokio::time::interval(KEEP_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            self.persist().await;
        }
    }

    /// Calls `org` made in the last 30 days.
    pub fn used(&self, org: &str) -> u64 {
        let now = self.clock.now_ms();
        self.lock().ledgers.get(org).map_or(0, |ledger| ledger.used(now))
    }

    /// Calls `org` has left in the window.
    pub fn left(&self, org: &str) -> u64 {
        self.monthly.saturating_sub(self.used(org))
    }

    /// The most all calls of `org` may come to before its background work pauses: the budget
    /// less what is kept for people's questions (less with meeting events: see `events.rs`).
    fn background_allowance(&self, org: &str) -> f64 {
        let kept = if self.sends_events(org) { events::RESERVED_SHARE } else { RESERVED_SHARE };
        self.monthly as f64 * (1.0 - kept)
    }

    /// The day's background share of `org` in calls, and the background calls it made today: a
    /// thirtieth of the budget less the foreground a day takes (at least the reserved fifth).
    fn day_allowance(&self, org: &str) -> (f64, f64) {
        let now = self.clock.now_ms();
        let headroom = if self.sends_events(org) { events::DAILY_HEADROOM } else { DAILY_HEADROOM };
        let (background, foreground) = self.lock().ledgers.get(org).map_or((0, 0.0), |ledger| ledger.today(now));
        let daily = self.monthly as f64 * headroom / WINDOW_DAYS as f64;
        (daily - foreground.max(daily * RESERVED_SHARE), background as f64)
    }

    /// What is left of the day's background share of `org` (1 = all of it).
    fn share_left_today(&self, org: &str) -> f64 {
        let (allowance, background) = self.day_allowance(org);
        if allowance > 0.0 { (allowance - background) / allowance } else { 0.0 }
    }

    /// How background work of `org` may go now. Warns once when it pauses.
    pub fn pace(&self, org: &str) -> Pace {
        let allowance = self.background_allowance(org);
        let used = self.used(org) as f64;
        // The window's share only pauses, once spent: the day's share paces (stretching by the
        // window as well would stop new cards for the second half of every month).
        let share_left = if used >= allowance { 0.0 } else { self.share_left_today(org) };
        let pace = if share_left <= 0.0 {
            Pace::Paused
        } else if share_left >= 0.5 {
            Pace::Full
        } else {
            Pace::Stretched((0.5 / share_left).min(MAX_STRETCH))
        };
        let paused = pace == Pace::Paused;
        let newly = {
            let mut inner = self.lock();
            if paused {
                inner.paused.insert(org.to_owned())
            } else {
                inner.paused.remove(org);
                false
            }
        };
        if newly {
            tracing::warn!(
                corp = org,
                used = used as u64,
                budget = self.monthly,
                "background work (live card updates, reminders) paused for the month's OpenAPI budget \
                 (DINGMEET_MONTHLY_CALL_BUDGET); questions are still answered, in markdown"
            );
        }
        self.metrics.budget(org, self.left(org), paused);
        pace
    }

    /// Whether background work of `org` may spend a call now.
    pub fn may_spend_background(&self, org: &str) -> bool {
        self.pace(org) != Pace::Paused
    }

    /// Whether a new answer of `org` may be an interactive card (a call, and the background
    /// updates that follow) rather than a free markdown reply: only at full pace, so the cards
    /// already out keep what is left for their updates.
    pub fn may_create_card(&self, org: &str) -> bool {
        self.pace(org) == Pace::Full && self.share_left_today(org) >= 1.0 - NEW_CARD_SHARE
    }

    /// Whether the window's background share of `org` is spent (not only the day's): then even
    /// the looks at a known start or end wait.
    pub fn window_spent(&self, org: &str) -> bool {
        self.used(org) as f64 >= self.background_allowance(org)
    }
}

impl CallCounter for Budget {
    fn record_call(&self, org: &str, endpoint: &'static str, purpose: Purpose) {
        let now = self.clock.now_ms();
        // A new card is chosen, not asked for, and commits the looks that follow: background.
        let background = purpose.background() || endpoint == crate::dingtalk::card::CREATE_ENDPOINT;
        {
            let mut inner = self.lock();
            inner.ledgers.entry(org.to_owned()).or_default().add(now, background);
            inner.dirty.insert(org.to_owned());
            if self.state.shares() {
                let day = now.div_euclid(DAY_MS);
                let unshared = inner.unshared.entry(org.to_owned()).or_default();
                *unshared.entry(day.to_string()).or_default() += 1;
                if background {
                    *unshared.entry(format!("b{day}")).or_default() += 1;
                }
            }
        }
        self.metrics.api_call(org, endpoint, purpose.label());
    }
}

#[cfg(test)]
mod tests;
