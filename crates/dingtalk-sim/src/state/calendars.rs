//! People's primary calendars: events by unionId, a recurring one as its first instance, a step
//! and a count; and [`CalendarsView`], how tests fill them. `instances` is the one place events
//! meet a window: expanded into their instances (`eventsview`), or, as the plain `events` list
//! answers, with a recurring event's later instances left out.

use std::collections::BTreeMap;

use super::SimState;
use crate::scenario::{EventScenario, Scenario};

/// One event on a calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarEvent {
    pub id: String,
    pub summary: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub all_day: bool,
    /// `"confirmed"`, `"tentative"` or `"cancelled"`.
    pub status: String,
    /// A recurring event: `(how far apart in ms, how many instances)`.
    pub recurrence: Option<(i64, u32)>,
    /// The DingTalk meeting it carries: `(conferenceId, link, code)`.
    pub meeting: Option<(String, String, Option<String>)>,
    /// The organiser's unionId and name.
    pub organiser: Option<(String, String)>,
}

impl CalendarEvent {
    /// A confirmed event from `start_ms` to `end_ms`.
    pub fn new(id: &str, summary: &str, start_ms: i64, end_ms: i64) -> Self {
        Self {
            id: id.to_owned(),
            summary: summary.to_owned(),
            start_ms,
            end_ms,
            all_day: false,
            status: "confirmed".to_owned(),
            recurrence: None,
            meeting: None,
            organiser: None,
        }
    }

    /// Recurs every `step_ms`, `count` instances in all.
    #[must_use]
    pub fn every(mut self, step_ms: i64, count: u32) -> Self {
        self.recurrence = Some((step_ms, count));
        self
    }

    /// Carries the DingTalk meeting `conference_id` at `url` (code `room_code`, if any).
    #[must_use]
    pub fn with_meeting(mut self, conference_id: &str, url: &str, room_code: Option<&str>) -> Self {
        self.meeting = Some((conference_id.to_owned(), url.to_owned(), room_code.map(str::to_owned)));
        self
    }

    /// An all-day event.
    #[must_use]
    pub fn all_day(mut self) -> Self {
        self.all_day = true;
        self
    }
}

/// One instance as a list answers it: the event, its instance's times, and whether it is one
/// instance of a series (and so has its own id and `seriesMasterId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub event: CalendarEvent,
    pub start_ms: i64,
    pub end_ms: i64,
    pub of_series: bool,
}

/// Every calendar, by (organisation, unionId).
#[derive(Debug, Default)]
pub(crate) struct Calendars {
    events: BTreeMap<(String, String), Vec<CalendarEvent>>,
}

impl Calendars {
    /// The scenario's `[[users.events]]`, their relative times fixed at `now_ms`.
    pub(crate) fn new(scenario: &Scenario, now_ms: i64) -> Self {
        let home = std::iter::once((&scenario.app.corp_id, &scenario.users));
        let others = scenario.orgs.iter().map(|org| (&org.corp_id, &org.users));
        let mut events: BTreeMap<(String, String), Vec<CalendarEvent>> = BTreeMap::new();
        for (corp, users) in home.chain(others) {
            for user in users {
                let calendar = events.entry((corp.clone(), user.union_id())).or_default();
                calendar.extend(user.events.iter().map(|spec| event_of(spec, now_ms)));
            }
        }
        Self { events }
    }
}

fn event_of(spec: &EventScenario, now_ms: i64) -> CalendarEvent {
    let start = spec.start.at(now_ms);
    let mut event = CalendarEvent::new(&spec.id, &spec.summary, start, start.saturating_add(spec.minutes * 60_000));
    event.all_day = spec.all_day;
    if let Some(step) = spec.every {
        event = event.every(step.0, spec.count);
    }
    if let Some(url) = &spec.meeting_url {
        event = event.with_meeting(&format!("conf-{}", spec.id), url, spec.meeting_code.as_deref());
    }
    event
}

/// The calendars, seen through the shared state.
#[derive(Debug, Clone, Copy)]
pub struct CalendarsView<'a> {
    state: &'a SimState,
}

impl<'a> CalendarsView<'a> {
    pub(super) fn new(state: &'a SimState) -> Self {
        Self { state }
    }

    /// Puts `event` on the primary calendar of `union_id` in the app's own organisation.
    pub fn add(&self, union_id: &str, event: CalendarEvent) {
        self.add_in(self.state.home_corp(), union_id, event);
    }

    /// Puts `event` on the primary calendar of `union_id` in organisation `corp`.
    pub fn add_in(&self, corp: &str, union_id: &str, event: CalendarEvent) {
        self.state.update(|world| {
            world.calendars.events.entry((corp.to_owned(), union_id.to_owned())).or_default().push(event);
        });
    }

    /// The instances of `union_id`'s events in `corp` that end at or after `min_ms` and start
    /// before `max_ms`, earliest first; `expand`: every instance of a recurring event, else only
    /// its first.
    pub fn instances(&self, corp: &str, union_id: &str, min_ms: i64, max_ms: i64, expand: bool) -> Vec<Instance> {
        let world = self.state.lock();
        let Some(events) = world.calendars.events.get(&(corp.to_owned(), union_id.to_owned())) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for event in events {
            let (step, count) = event.recurrence.unwrap_or((0, 1));
            let count = if expand { count.max(1) } else { 1 };
            for n in 0..count {
                let shift = step.saturating_mul(i64::from(n));
                let (start, end) = (event.start_ms.saturating_add(shift), event.end_ms.saturating_add(shift));
                if end >= min_ms && start < max_ms {
                    let of_series = expand && event.recurrence.is_some();
                    out.push(Instance { event: event.clone(), start_ms: start, end_ms: end, of_series });
                }
            }
        }
        out.sort_by_key(|instance| instance.start_ms);
        out
    }
}
