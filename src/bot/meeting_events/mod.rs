//! Meeting events in: DingTalk's `meeting_status_change` and `meeting_member_status_change` (and
//! their `_target_push` variants), from Stream `EVENT` frames, HTTP pushes and the failed-push
//! list. Each is taken into its conference's record ([`ConferenceRecord`]: the events' journal,
//! duplicate check and order) before it is acknowledged; then, in the background, every live card
//! of that conference is brought up to date from the record, without a lookup. With replicas on
//! Redis the records are shared and each change is shown by one replica.

mod book;
mod catch_up;
mod record;

use std::collections::HashMap;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use self::book::Book;
pub use self::record::{ConferenceRecord, Taken};
use super::live::{LiveCards, index_key, note_events_from};
use super::record_lock::RecordLocks;
use crate::clock::SharedClock;
use crate::dingtalk::meeting_event::{MeetingEvent, ParseError};
use crate::dingtalk::openapi::OpenApi;
use crate::state::{Claim, Kept, StateStore, StoreFailure};
use crate::telemetry::Metrics;

/// How long a conference's record is kept after its last event or card (its duplicate check
/// lasts as long).
const KEEP: Duration = Duration::from_secs(24 * 3600);
/// How often this process writes down, again, that an organisation sends events.
const MARK_EVERY: Duration = Duration::from_secs(3600);
/// How often the records are looked at for work due (events wake it at once).
const TICK: Duration = Duration::from_millis(500);
/// How long a replica holds the showing of a record's change before another may take it.
const SHOW_LEASE: Duration = Duration::from_secs(60);

/// How an event came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Stream,
    Http,
    FailedList,
}

impl Transport {
    pub fn label(self) -> &'static str {
        match self {
            Self::Stream => "stream",
            Self::Http => "http",
            Self::FailedList => "failed_list",
        }
    }
}

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The meeting events: taken in, recorded, shown on live cards.
pub struct MeetingEvents {
    state: StateStore,
    book: Book,
    locks: RecordLocks,
    live: Option<Arc<LiveCards>>,
    api: OpenApi,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    wake: Notify,
    /// Organisations this process wrote down as sending events, and when.
    marked: Mutex<HashMap<String, i64>>,
    /// With HTTP pushes configured: when the failed-push list is next read (0: not planned).
    catch_up_at: AtomicI64,
    http: bool,
}

impl MeetingEvents {
    /// `live`: the cards events update (none: events are recorded only); `http`: event pushes
    /// come over HTTP too, so the failed-push list is read at start and after a lapse.
    pub fn new(
        state: &StateStore,
        live: Option<Arc<LiveCards>>,
        api: OpenApi,
        clock: SharedClock,
        metrics: Arc<Metrics>,
        http: bool,
    ) -> Self {
        Self {
            state: state.clone(),
            book: Book::new(state),
            locks: RecordLocks::new(state, ConferenceRecord::KIND),
            live,
            api,
            clock,
            metrics,
            wake: Notify::new(),
            marked: Mutex::new(HashMap::new()),
            catch_up_at: AtomicI64::new(i64::from(http)),
            http,
        }
    }

    /// Takes in the events of one push of type `event_type`: true once they are recorded (or
    /// cannot be read, which a redelivery would not change), so the push is acknowledged; false
    /// when they could not be recorded, so DingTalk pushes them again (`LATER`, a 503).
    pub async fn receive(
        &self,
        transport: Transport,
        event_type: &str,
        parsed: Result<Vec<MeetingEvent>, ParseError>,
    ) -> bool {
        let events = match parsed {
            Ok(events) => events,
            Err(err) => {
                self.metrics.meeting_events().received(event_type, transport.label(), "malformed");
                tracing::warn!(event_type, transport = transport.label(), %err, "a meeting event that cannot be read is dropped");
                return true;
            }
        };
        let now = self.clock.now_ms();
        let mut outcome = Taken::Duplicate;
        for event in &events {
            match self.take(event, now).await {
                Ok(taken) => outcome = best(outcome, taken),
                Err(err) => {
                    self.metrics.meeting_events().received(event_type, transport.label(), "not_recorded");
                    tracing::warn!(event_type, %err, "a meeting event could not be recorded; DingTalk is asked to push it again");
                    if transport == Transport::Http {
                        self.plan_catch_up(now);
                    }
                    return false;
                }
            }
        }
        if let Some(event) = events.first() {
            self.mark_org(event.corp_id.as_deref().unwrap_or_default(), now).await;
        }
        self.metrics.meeting_events().received(event_type, transport.label(), outcome.label());
        tracing::info!(
            event_type,
            transport = transport.label(),
            outcome = outcome.label(),
            conferences = events.len(),
            "meeting event received"
        );
        if outcome == Taken::Applied {
            self.wake.notify_one();
        }
        true
    }

    /// Takes one conference's event into its record, one writer at a time.
    async fn take(&self, event: &MeetingEvent, now: i64) -> Result<Taken, StoreFailure> {
        let key = index_key(event.corp_id.as_deref(), &event.conference_id);
        let held = self.locks.hold(&key).await;
        let taken = async {
            let kept = self.book.get(&key).await?;
            let mut record =
                kept.unwrap_or_else(|| ConferenceRecord::new(event.corp_id.as_deref(), &event.conference_id));
            let gap = record.gap_before(event);
            let taken = record.take(event, now);
            if taken == Taken::Duplicate {
                return Ok(taken);
            }
            if gap {
                // An event before this one did not come: DingTalk may have given up pushing it.
                self.plan_catch_up(now);
            }
            if taken == Taken::Applied {
                record.due_ms = now;
            } else if !record.pending {
                record.due_ms = now.saturating_add(ms(KEEP));
            }
            self.book.put(&key, &record).await?;
            Ok(taken)
        }
        .await;
        held.release().await;
        taken
    }

    /// Writes down that organisation `org` sends events (its cards then follow them rather
    /// than being polled), at most once an hour per process.
    async fn mark_org(&self, org: &str, now: i64) {
        let fresh = {
            let mut marked = self.marked.lock().unwrap_or_else(PoisonError::into_inner);
            match marked.get(org) {
                Some(at) if now.saturating_sub(*at) < ms(MARK_EVERY) => false,
                _ => {
                    marked.insert(org.to_owned(), now);
                    true
                }
            }
        };
        if fresh {
            note_events_from(&self.state, org, now).await;
        }
    }

    /// Brings the cards of every record due up to date; returns how many records were looked at.
    /// With replicas on Redis each change is claimed, so one replica shows it.
    pub async fn show_due(&self) -> usize {
        let now = self.clock.now_ms();
        let due = match self.book.due(now).await {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(%err, "the meeting event records could not be read; trying again shortly");
                return 0;
            }
        };
        let mut looked = 0;
        for (key, record) in due {
            let claim = format!("{}:{key}:{}:{}", ConferenceRecord::KIND, record.due_ms, record.version);
            if self.state.claims().claim(&claim, SHOW_LEASE).await != Claim::Mine {
                continue;
            }
            let later = match (&self.live, record.pending) {
                (Some(live), true) => {
                    live.show_news(record.corp.as_deref(), &record.conference_id, &record.news()).await
                }
                _ => None,
            };
            self.settle(&key, &record, later, now).await;
            self.state.claims().finish(&claim, SHOW_LEASE).await;
            looked += 1;
        }
        looked
    }

    /// After `shown` was brought to the cards: the record waits for `later` (a paced count), or
    /// is kept idle until forgotten; unless a newer event came meanwhile, which is then due.
    async fn settle(&self, key: &str, shown: &ConferenceRecord, later: Option<i64>, now: i64) {
        let held = self.locks.hold(key).await;
        let settled = async {
            let Some(mut record) = self.book.get(key).await? else { return Ok(()) };
            if record.version != shown.version {
                return Ok(());
            }
            if !record.pending && record.due_ms <= now {
                return self.book.remove(key).await;
            }
            record.pending = later.is_some();
            record.due_ms = later.unwrap_or_else(|| now.saturating_add(ms(KEEP)));
            self.book.put(key, &record).await
        }
        .await;
        if let Err(err) = settled {
            tracing::warn!(%err, key, "a meeting event record could not be kept; its cards are brought up to date again");
        }
        held.release().await;
    }

    /// Until `stop`: shows what is due (at once when an event comes), and reads the failed-push
    /// list when it is planned (at start, with HTTP pushes configured).
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut ticker = tokio::time::interval(TICK.min(self.clock.poll()).max(Duration::from_millis(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if self.catch_up_due() {
                self.catch_up().await;
            }
            self.show_due().await;
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.wake.notified() => {}
                _ = ticker.tick() => {}
            }
        }
    }
}

/// Of the conferences one push named, what the push as a whole came to.
fn best(a: Taken, b: Taken) -> Taken {
    let rank = |t: Taken| match t {
        Taken::Duplicate => 0,
        Taken::Stale => 1,
        Taken::Applied => 2,
    };
    if rank(b) > rank(a) { b } else { a }
}
